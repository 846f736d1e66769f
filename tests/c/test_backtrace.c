/* Diagnostics through the C API: trap backtraces (frames, names from the name section,
 * module offsets, the printed message) and the perf map profiler.
 *
 * The expected offsets are found by decoding the module binary here, with a small decoder
 * of the few instructions the test module uses, not by asking the library. */
#include <inttypes.h>
#include <unistd.h>

#include "testutil.h"

static const char *WAT =
    "(module $demo\n"
    "  (import \"host\" \"fail\" (func $fail))\n"
    "  (func $div (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))\n"
    "  (func $middle (param i32) (result i32) (call $div (i32.const 1) (local.get 0)))\n"
    "  (func $main (export \"main\") (param i32) (result i32)\n"
    "    (i32.add (call $middle (local.get 0)) (i32.const 1)))\n"
    "  (func $calls_host (export \"calls_host\") (call $fail))\n"
    "  (func $outer (export \"outer\") (call $calls_host))\n"
    "  (func (export \"nameless\") unreachable))\n";

/* Function indices (the import comes first). */
enum { DIV = 1, MIDDLE = 2, MAIN = 3, CALLS_HOST = 4, OUTER = 5, NAMELESS = 6 };

/* ---- a minimal decoder: where each instruction of each function body starts ---- */

static uint32_t leb_u32(const uint8_t *wasm, size_t *at) {
  uint32_t value = 0;
  for (int shift = 0;; shift += 7) {
    uint8_t byte = wasm[(*at)++];
    value |= (uint32_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return value;
  }
}

/* The offset of the `nth` (0-based) instruction with `opcode` in the body of function
 * `func` (an index past the one import), or 0 when there is none. Knows the opcodes of WAT
 * above: unreachable, end, call, local.get, i32.const, i32.add, i32.div_s. */
static size_t find_instruction(const uint8_t *wasm, size_t len, uint32_t func, uint8_t opcode, int nth) {
  size_t at = 8; /* magic and version */
  while (at < len) {
    uint8_t id = wasm[at++];
    uint32_t size = leb_u32(wasm, &at);
    size_t end = at + size;
    if (id != 10) { /* not the code section */
      at = end;
      continue;
    }
    uint32_t count = leb_u32(wasm, &at);
    for (uint32_t body = 0; body < count; body++) {
      uint32_t body_size = leb_u32(wasm, &at);
      size_t body_end = at + body_size;
      if (body + 1 != func) { /* + 1: the import */
        at = body_end;
        continue;
      }
      uint32_t groups = leb_u32(wasm, &at);
      for (uint32_t g = 0; g < groups; g++) {
        leb_u32(wasm, &at); /* count */
        at++;               /* type */
      }
      while (at < body_end) {
        size_t start = at;
        uint8_t op = wasm[at++];
        if (op == 0x10 || op == 0x20 || op == 0x41) leb_u32(wasm, &at); /* one immediate */
        if (op == opcode && nth-- == 0) return start;
      }
      return 0;
    }
    return 0;
  }
  return 0;
}

enum { OP_UNREACHABLE = 0x00, OP_CALL = 0x10, OP_I32_DIV_S = 0x6d };

static wasmpool_trap_t *host_fail(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                  wasmpool_val_t *results, size_t nresults) {
  (void)env, (void)caller, (void)args, (void)nargs, (void)results, (void)nresults;
  return wasmpool_trap_new("host says no");
}

static int streq(const char *a, const char *b) { return a != NULL && b != NULL && strcmp(a, b) == 0; }

/* Checks frame `i` of `trap`: function index, name (NULL for none) and module offset. */
static void check_frame(const wasmpool_trap_t *trap, size_t i, uint32_t func, const char *name, size_t offset) {
  uint32_t got_func = wasmpool_trap_frame_func_index(trap, i);
  const char *got_name = wasmpool_trap_frame_func_name(trap, i);
  size_t got_offset = wasmpool_trap_frame_module_offset(trap, i);
  int name_ok = name == NULL ? got_name == NULL : streq(got_name, name);
  if (got_func != func || !name_ok || got_offset != offset || offset == 0) {
    fprintf(stderr, "frame %zu: function %" PRIu32 " \"%s\" at %#zx, want %" PRIu32 " \"%s\" at %#zx\n", i, got_func,
            got_name ? got_name : "(null)", got_offset, func, name ? name : "(null)", offset);
    failures++;
  }
}

/* One backtrace line as Wasmtime prints it: "  {i:>3}: {offset:#6x} - {module}!{function}". */
static int frame_line(char *out, size_t out_len, int i, size_t offset, const char *function) {
  char hex[32];
  snprintf(hex, sizeof hex, "0x%zx", offset);
  return snprintf(out, out_len, "\n  %3d: %6s - %s", i, hex, function);
}

static void backtraces(const uint8_t *wasm, size_t len) {
  wasmpool_engine_t *engine = on_demand_engine();
  wasmpool_module_t *module = NULL;
  OK(wasmpool_module_new(engine, wasm, len, &module));
  wasmpool_linker_t *linker = wasmpool_linker_new(engine);
  OK(wasmpool_linker_define_func(linker, "host", "fail", NULL, 0, NULL, 0, host_fail, NULL, NULL));
  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_instance_new(store, module, linker, &instance, &trap));
  CHECK(trap == NULL);

  /* Three deep: main -> middle -> div, which divides by zero. */
  size_t div_s = find_instruction(wasm, len, DIV, OP_I32_DIV_S, 0);
  size_t call_div = find_instruction(wasm, len, MIDDLE, OP_CALL, 0);
  size_t call_middle = find_instruction(wasm, len, MAIN, OP_CALL, 0);
  wasmpool_val_t arg = val_i32(0), result;
  OK(wasmpool_func_call(store, get_func(instance, "main"), &arg, 1, &result, 1, &trap));
  CHECK(trap != NULL && wasmpool_trap_code(trap) == WASMPOOL_TRAP_INTEGER_DIVISION_BY_ZERO);
  CHECK(wasmpool_trap_frames_len(trap) == 3);
  check_frame(trap, 0, DIV, "div", div_s);
  check_frame(trap, 1, MIDDLE, "middle", call_div);
  check_frame(trap, 2, MAIN, "main", call_middle);
  char want[512];
  int n = snprintf(want, sizeof want, "integer divide by zero\nwasm backtrace:");
  n += frame_line(want + n, sizeof want - n, 0, div_s, "demo!div");
  n += frame_line(want + n, sizeof want - n, 1, call_div, "demo!middle");
  frame_line(want + n, sizeof want - n, 2, call_middle, "demo!main");
  if (!streq(wasmpool_trap_message(trap), want)) {
    fprintf(stderr, "message:\n%s\nwant:\n%s\n", wasmpool_trap_message(trap), want);
    failures++;
  }
  uint32_t index = 0;
  CHECK(wasmpool_trap_function_index(trap, &index) && index == DIV);
  /* Out of range: 0 and NULL, no crash. */
  CHECK(wasmpool_trap_frame_func_index(trap, 3) == 0);
  CHECK(wasmpool_trap_frame_func_name(trap, 3) == NULL);
  CHECK(wasmpool_trap_frame_module_offset(trap, (size_t)-1) == 0);
  wasmpool_trap_delete(trap);

  /* A host trap shows the wasm frames under it: outer -> calls_host -> host. */
  OK(wasmpool_func_call(store, get_func(instance, "outer"), NULL, 0, NULL, 0, &trap));
  CHECK(trap != NULL && wasmpool_trap_code(trap) == WASMPOOL_TRAP_HOST);
  CHECK(wasmpool_trap_frames_len(trap) == 2);
  check_frame(trap, 0, CALLS_HOST, "calls_host", find_instruction(wasm, len, CALLS_HOST, OP_CALL, 0));
  check_frame(trap, 1, OUTER, "outer", find_instruction(wasm, len, OUTER, OP_CALL, 0));
  const char *message = wasmpool_trap_message(trap);
  CHECK(strncmp(message, "host says no\nwasm backtrace:\n    0: ", 36) == 0);
  CHECK(strstr(message, " - demo!calls_host\n") != NULL && strstr(message, " - demo!outer") != NULL);
  CHECK(!wasmpool_trap_function_index(trap, &index));
  wasmpool_trap_delete(trap);

  /* A function without a name. */
  OK(wasmpool_func_call(store, get_func(instance, "nameless"), NULL, 0, NULL, 0, &trap));
  CHECK(wasmpool_trap_frames_len(trap) == 1);
  check_frame(trap, 0, NAMELESS, NULL, find_instruction(wasm, len, NAMELESS, OP_UNREACHABLE, 0));
  CHECK(strstr(wasmpool_trap_message(trap), " - demo!<wasm function 6>") != NULL);
  wasmpool_trap_delete(trap);

  /* A trap made by hand never crossed wasm. */
  trap = wasmpool_trap_new("made by hand");
  CHECK(wasmpool_trap_frames_len(trap) == 0);
  CHECK(wasmpool_trap_frame_func_name(trap, 0) == NULL);
  CHECK(streq(wasmpool_trap_message(trap), "made by hand"));
  wasmpool_trap_delete(trap);

  wasmpool_store_delete(store);
  wasmpool_linker_delete(linker);
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
}

/* With the perf map profiler on, compiling the module lists each function by name. */
static void perf_map(const uint8_t *wasm, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/perf-%ld.map", (long)getpid());
  remove(path);
  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_profiler(config, WASMPOOL_PROFILER_PERFMAP);
  wasmpool_engine_t *engine = NULL;
  OK(wasmpool_engine_new(config, &engine));
  wasmpool_config_delete(config);
  wasmpool_module_t *module = NULL;
  OK(wasmpool_module_new(engine, wasm, len, &module));

  static const char *const NAMES[] = {"demo!div", "demo!middle", "demo!main", "demo!calls_host", "demo!outer",
                                      "demo!wasm function 6", "wasm-trampoline[array-call] demo!main"};
  int seen[sizeof NAMES / sizeof NAMES[0]] = {0};
  FILE *map = fopen(path, "r");
  CHECK(map != NULL);
  char line[256];
  while (map != NULL && fgets(line, sizeof line, map) != NULL) {
    unsigned long long start = 0, size = 0;
    int name_at = 0;
    CHECK(sscanf(line, "%llx %llx %n", &start, &size, &name_at) == 2 && start != 0 && size != 0);
    line[strcspn(line, "\n")] = '\0';
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
      if (strcmp(line + name_at, NAMES[i]) == 0) seen[i]++;
    }
  }
  for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
    if (seen[i] != 1) {
      fprintf(stderr, "%s: \"%s\" listed %d times\n", path, NAMES[i], seen[i]);
      failures++;
    }
  }
  if (map != NULL) fclose(map);
  remove(path);
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
}

int main(void) {
  uint8_t *wasm = NULL;
  size_t len = 0;
  OK(wasmpool_wat2wasm(WAT, strlen(WAT), &wasm, &len));
  /* The decoder finds what it should (the opcode is really there). */
  size_t div_s = find_instruction(wasm, len, DIV, OP_I32_DIV_S, 0);
  CHECK(div_s != 0 && wasm[div_s] == OP_I32_DIV_S);
  CHECK(find_instruction(wasm, len, DIV, OP_CALL, 0) == 0);
  backtraces(wasm, len);
  perf_map(wasm, len);
  wasmpool_bytes_delete(wasm, len);
  return finish("test_backtrace");
}
