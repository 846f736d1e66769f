/* ctest: host functions through the C API.
 *  - arguments and results of every value kind, both ways (wasm -> host -> wasm -> C);
 *  - a trap returned by a callback ends the wasm execution (code after the call does not
 *    run), is reported with its code and message, and is freed by the runtime;
 *  - a callback reads and writes the calling instance's memory and globals;
 *  - finalizers (store data, linker functions, store functions) run exactly once, when
 *    the last user is gone, and not at all when a definition fails;
 *  - results of the wrong kind, re-entering the store from a callback and deleting the
 *    store from a callback are handled without crashing.
 * Runs on an on-demand and a pooling engine. */
#include "testutil.h"

static const char *const WAT =
    "(module\n"
    "  (import \"host\" \"every\" (func $every (param i32 i64 f32 f64 funcref externref)\n"
    "                                       (result i32 i64 f32 f64 funcref externref)))\n"
    "  (import \"host\" \"fail\" (func $fail (param i32)))\n"
    "  (import \"host\" \"upper\" (func $upper (param i32 i32) (result i32)))\n"
    "  (import \"host\" \"bad\" (func $bad (result i32)))\n"
    "  (import \"host\" \"reenter\" (func $reenter))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (global $after (export \"after\") (mut i32) (i32.const 0))\n"
    "  (data (i32.const 100) \"hello, host\")\n"
    "  (elem declare func $seven)\n"
    "  (func $seven (export \"seven\") (result i32) i32.const 7)\n"
    "  (func (export \"every\") (param $e externref) (result i32 i64 f32 f64 funcref externref)\n"
    "    (call $every (i32.const -7) (i64.const 0x123456789abcdef0) (f32.const 1.5) (f64.const -2.25)\n"
    "                 (ref.func $seven) (local.get $e)))\n"
    "  (func (export \"fail\") (param i32) (call $fail (local.get 0)) (global.set $after (i32.const 1)))\n"
    "  (func (export \"upper\") (result i32) (call $upper (i32.const 100) (i32.const 11)))\n"
    "  (func (export \"bad\") (result i32) (call $bad))\n"
    "  (func (export \"reenter\") (call $reenter)))\n";

/* Finalizer counters, indexed by what they finalize. */
enum { FIN_STORE, FIN_EVERY, FIN_FAIL, FIN_STORE_FUNC, FIN_UNUSED, FIN_COUNT };
static int finalized[FIN_COUNT];
static void finalize(void *env) { finalized[*(int *)env]++; }
static int fin_ids[FIN_COUNT] = {FIN_STORE, FIN_EVERY, FIN_FAIL, FIN_STORE_FUNC, FIN_UNUSED};

static int extern_object = 42;
static int calls_every = 0;

static wasmpool_trap_t *host_every(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                   wasmpool_val_t *results, size_t nresults) {
  (void)env;
  calls_every++;
  CHECK(nargs == 6 && nresults == 6);
  CHECK(wasmpool_caller_data(caller) == &fin_ids[FIN_STORE]);
  /* Arguments arrive with their kinds and values. */
  CHECK(args[0].kind == WASMPOOL_I32 && args[0].of.i32 == -7);
  CHECK(args[1].kind == WASMPOOL_I64 && args[1].of.i64 == 0x123456789abcdef0LL);
  CHECK(args[2].kind == WASMPOOL_F32 && args[2].of.f32 == 1.5f);
  CHECK(args[3].kind == WASMPOOL_F64 && args[3].of.f64 == -2.25);
  CHECK(args[4].kind == WASMPOOL_FUNCREF && args[4].of.ref != NULL);
  CHECK(args[5].kind == WASMPOOL_EXTERNREF && args[5].of.ref == &extern_object);
  /* Results come preset with their kinds and zero values. */
  static const wasmpool_valkind_t kinds[6] = {WASMPOOL_I32, WASMPOOL_I64, WASMPOOL_F32,
                                               WASMPOOL_F64, WASMPOOL_FUNCREF, WASMPOOL_EXTERNREF};
  for (int i = 0; i < 6; i++) CHECK(results[i].kind == kinds[i]);
  CHECK(results[0].of.i32 == 0 && results[1].of.i64 == 0 && results[4].of.ref == NULL);
  results[0].of.i32 = args[0].of.i32 * 2;
  results[1].of.i64 = args[1].of.i64 + 1;
  results[2].of.f32 = args[2].of.f32 * 2;
  results[3].of.f64 = args[3].of.f64 * 2;
  results[4].of.ref = args[4].of.ref; /* the function back */
  results[5].of.ref = args[5].of.ref; /* the host object back */
  return NULL;
}

static wasmpool_trap_t *host_fail(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                  wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)caller; (void)nargs; (void)results; (void)nresults;
  if (args[0].of.i32 == 0) return NULL;
  char message[64];
  snprintf(message, sizeof message, "refused %d", args[0].of.i32);
  return wasmpool_trap_new(message);
}

/* Upper-cases guest memory [ptr, ptr+len) in place through the caller; returns the
 * number of bytes changed. Also bumps the exported global through the caller. */
static wasmpool_trap_t *host_upper(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                   wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)nargs; (void)nresults;
  wasmpool_memory_t *memory = NULL;
  wasmpool_error_t *err = wasmpool_caller_get_memory(caller, "memory", &memory);
  if (err != NULL) {
    wasmpool_error_delete(err);
    return wasmpool_trap_new("no memory export");
  }
  /* Unknown names and wrong kinds are errors, not crashes. */
  wasmpool_memory_t *none = NULL;
  EXPECT_ERROR(wasmpool_caller_get_memory(caller, "nothing", &none), WASMPOOL_ERROR_INVALID_ARGUMENT, "nothing");
  EXPECT_ERROR(wasmpool_caller_get_memory(caller, "after", &none), WASMPOOL_ERROR_INVALID_ARGUMENT, "not a memory");
  EXPECT_ERROR(wasmpool_caller_get_memory(caller, NULL, &none), WASMPOOL_ERROR_INVALID_ARGUMENT, "name");
  uint32_t ptr = (uint32_t)args[0].of.i32, len = (uint32_t)args[1].of.i32;
  if ((uint64_t)ptr + len > wasmpool_memory_data_size(memory)) return wasmpool_trap_new("out of bounds");
  uint8_t *bytes = wasmpool_memory_data(memory) + ptr;
  int changed = 0;
  for (uint32_t i = 0; i < len; i++) {
    if (bytes[i] >= 'a' && bytes[i] <= 'z') {
      bytes[i] = (uint8_t)(bytes[i] - 'a' + 'A');
      changed++;
    }
  }
  wasmpool_global_t *after = NULL;
  OK(wasmpool_caller_get_global(caller, "after", &after));
  wasmpool_val_t v;
  wasmpool_global_get(after, &v);
  v.of.i32 += 100;
  OK(wasmpool_global_set(after, &v));
  results[0].of.i32 = changed;
  return NULL;
}

/* Returns a result of the wrong kind. */
static wasmpool_trap_t *host_bad(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                 wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)caller; (void)args; (void)nargs; (void)nresults;
  results[0].kind = WASMPOOL_F64;
  results[0].of.f64 = 1.0;
  return NULL;
}

/* Tries what a callback must not do with its own store. */
static wasmpool_store_t *current_store = NULL;
static wasmpool_func_t *seven_func = NULL;
static wasmpool_trap_t *host_reenter(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                     wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)caller; (void)args; (void)nargs; (void)results; (void)nresults;
  wasmpool_val_t r;
  wasmpool_trap_t *trap = NULL;
  EXPECT_ERROR(wasmpool_func_call(current_store, seven_func, NULL, 0, &r, 1, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT,
               "busy");
  CHECK(trap == NULL);
  wasmpool_store_delete(current_store); /* ignored: the store is running */
  return NULL;
}

static wasmpool_trap_t *host_direct(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                    wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)nargs; (void)nresults;
  /* Called by the host, not by wasm: there is no calling instance. */
  wasmpool_memory_t *memory = NULL;
  EXPECT_ERROR(wasmpool_caller_get_memory(caller, "memory", &memory), WASMPOOL_ERROR_INVALID_ARGUMENT, NULL);
  results[0].of.i64 = args[0].of.i64 * 3;
  return NULL;
}

static void define_all(wasmpool_linker_t *linker) {
  const wasmpool_valkind_t every[6] = {WASMPOOL_I32, WASMPOOL_I64, WASMPOOL_F32,
                                       WASMPOOL_F64, WASMPOOL_FUNCREF, WASMPOOL_EXTERNREF};
  const wasmpool_valkind_t i32[2] = {WASMPOOL_I32, WASMPOOL_I32};
  OK(wasmpool_linker_define_func(linker, "host", "every", every, 6, every, 6, host_every, &fin_ids[FIN_EVERY], finalize));
  OK(wasmpool_linker_define_func(linker, "host", "fail", i32, 1, NULL, 0, host_fail, &fin_ids[FIN_FAIL], finalize));
  OK(wasmpool_linker_define_func(linker, "host", "upper", i32, 2, i32, 1, host_upper, NULL, NULL));
  OK(wasmpool_linker_define_func(linker, "host", "bad", NULL, 0, i32, 1, host_bad, NULL, NULL));
  OK(wasmpool_linker_define_func(linker, "host", "reenter", NULL, 0, NULL, 0, host_reenter, NULL, NULL));

  /* Failing definitions take nothing: their finalizer never runs. */
  const wasmpool_valkind_t bogus[1] = {77};
  EXPECT_ERROR(wasmpool_linker_define_func(linker, "host", "k", bogus, 1, NULL, 0, host_fail, &fin_ids[FIN_UNUSED], finalize),
               WASMPOOL_ERROR_INVALID_ARGUMENT, "77");
  EXPECT_ERROR(wasmpool_linker_define_func(linker, "host", "n", NULL, 0, NULL, 0, NULL, &fin_ids[FIN_UNUSED], finalize),
               WASMPOOL_ERROR_INVALID_ARGUMENT, "callback");
  EXPECT_ERROR(wasmpool_linker_define_func(linker, "host", "p", NULL, 3, NULL, 0, host_fail, &fin_ids[FIN_UNUSED], finalize),
               WASMPOOL_ERROR_INVALID_ARGUMENT, "params");
}

static void run(wasmpool_engine_t *engine, long rounds) {
  memset(finalized, 0, sizeof finalized);
  wasmpool_module_t *module = compile_wat(engine, WAT);
  wasmpool_linker_t *linker = wasmpool_linker_new(engine);
  define_all(linker);
  wasmpool_instance_pre_t *pre = NULL;
  OK(wasmpool_linker_instantiate_pre(linker, module, &pre));

  for (long round = 0; round < rounds; round++) {
    wasmpool_store_t *store = wasmpool_store_new(engine, &fin_ids[FIN_STORE], finalize);
    current_store = store;
    wasmpool_instance_t *instance = NULL;
    wasmpool_trap_t *trap = NULL;
    OK(wasmpool_instance_pre_instantiate(pre, store, &instance, &trap));
    seven_func = get_func(instance, "seven");

    /* Every kind, both ways. */
    wasmpool_val_t arg, results[6];
    memset(&arg, 0, sizeof arg);
    arg.kind = WASMPOOL_EXTERNREF;
    arg.of.ref = &extern_object;
    call_ok(store, get_func(instance, "every"), &arg, 1, results, 6);
    CHECK(results[0].kind == WASMPOOL_I32 && results[0].of.i32 == -14);
    CHECK(results[1].kind == WASMPOOL_I64 && results[1].of.i64 == 0x123456789abcdef1LL);
    CHECK(results[2].kind == WASMPOOL_F32 && results[2].of.f32 == 3.0f);
    CHECK(results[3].kind == WASMPOOL_F64 && results[3].of.f64 == -4.5);
    CHECK(results[4].kind == WASMPOOL_FUNCREF && results[4].of.ref == (void *)seven_func);
    CHECK(results[5].kind == WASMPOOL_EXTERNREF && results[5].of.ref == &extern_object);
    /* The funcref that went through the host is callable. */
    wasmpool_val_t seven;
    call_ok(store, (const wasmpool_func_t *)results[4].of.ref, NULL, 0, &seven, 1);
    CHECK(seven.of.i32 == 7);

    /* A trap from the callback unwinds wasm: `after` is not set. */
    wasmpool_global_t *after = NULL;
    OK(wasmpool_instance_get_global(instance, "after", &after));
    wasmpool_val_t a = val_i32(5);
    char message[128];
    CHECK(call_trap(store, get_func(instance, "fail"), &a, 1, NULL, 0, message, sizeof message) == WASMPOOL_TRAP_HOST);
    /* The callback's message, then the backtrace of the wasm that called it. */
    CHECK(strncmp(message, "refused 5\nwasm backtrace:\n", 26) == 0);
    wasmpool_val_t v;
    wasmpool_global_get(after, &v);
    CHECK(v.of.i32 == 0);
    a = val_i32(0);
    call_ok(store, get_func(instance, "fail"), &a, 1, NULL, 0);
    wasmpool_global_get(after, &v);
    CHECK(v.of.i32 == 1);

    /* Guest memory and globals through the caller. */
    wasmpool_val_t changed;
    call_ok(store, get_func(instance, "upper"), NULL, 0, &changed, 1);
    CHECK(changed.of.i32 == 9);
    wasmpool_memory_t *memory = NULL;
    OK(wasmpool_instance_get_memory(instance, "memory", &memory));
    CHECK(memcmp(wasmpool_memory_data(memory) + 100, "HELLO, HOST", 11) == 0);
    wasmpool_global_get(after, &v);
    CHECK(v.of.i32 == 101);

    /* A result of the wrong kind is a host trap naming the problem. */
    wasmpool_val_t r;
    CHECK(call_trap(store, get_func(instance, "bad"), NULL, 0, &r, 1, message, sizeof message) == WASMPOOL_TRAP_HOST);
    CHECK(strstr(message, "f64") != NULL);

    /* Re-entering and deleting the store from a callback are refused. */
    call_ok(store, get_func(instance, "reenter"), NULL, 0, NULL, 0);

    /* A host function of the store, called by the host directly. */
    const wasmpool_valkind_t i64[1] = {WASMPOOL_I64};
    wasmpool_func_t *direct = NULL;
    OK(wasmpool_func_new(store, i64, 1, i64, 1, host_direct, &fin_ids[FIN_STORE_FUNC], finalize, &direct));
    wasmpool_val_t in = val_i64(14), out;
    call_ok(store, direct, &in, 1, &out, 1);
    CHECK(out.kind == WASMPOOL_I64 && out.of.i64 == 42);
    size_t n = 0;
    const wasmpool_valkind_t *kinds = wasmpool_functype_params(wasmpool_func_type(direct), &n);
    CHECK(n == 1 && kinds[0] == WASMPOOL_I64);

    CHECK(finalized[FIN_STORE] == 0 && finalized[FIN_STORE_FUNC] == 0);
    wasmpool_store_delete(store);
    CHECK(finalized[FIN_STORE] == 1 && finalized[FIN_STORE_FUNC] == 1);
    finalized[FIN_STORE] = finalized[FIN_STORE_FUNC] = 0;
  }

  /* Linker functions are finalized when the linker, the pre and every store using them
   * are gone: here a store outlives both. */
  wasmpool_store_t *last = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_instance_pre_instantiate(pre, last, &instance, &trap));
  wasmpool_instance_pre_delete(pre);
  wasmpool_linker_delete(linker);
  CHECK(finalized[FIN_EVERY] == 0 && finalized[FIN_FAIL] == 0);
  wasmpool_val_t a = val_i32(0);
  call_ok(last, get_func(instance, "fail"), &a, 1, NULL, 0); /* still callable */
  wasmpool_store_delete(last);
  CHECK(finalized[FIN_EVERY] == 1 && finalized[FIN_FAIL] == 1);
  CHECK(finalized[FIN_UNUSED] == 0);
  CHECK(calls_every > 0);
  wasmpool_module_delete(module);
}

int main(void) {
  long rounds = iterations(50);
  wasmpool_engine_t *engine = on_demand_engine();
  run(engine, rounds);
  wasmpool_engine_delete(engine);
  engine = pooling_engine(8, 1 << 20, 4);
  run(engine, rounds);
  wasmpool_engine_delete(engine);
  return finish("test_host_funcs");
}
