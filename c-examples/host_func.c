/* host_func: a module that imports a host function. The guest writes a greeting into
 * its memory and calls `env.log(ptr, len)`; the host reads the bytes from the caller's
 * exported memory and counts the calls in its store data.
 */
#include <stdio.h>
#include <string.h>

#include "wasmpool.h"

static const char *const WAT =
    "(module\n"
    "  (import \"env\" \"log\" (func $log (param i32 i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (data (i32.const 16) \"hello from the guest\")\n"
    "  (func (export \"greet\") (param $times i32)\n"
    "    (loop $again\n"
    "      (call $log (i32.const 16) (i32.const 20))\n"
    "      (br_if $again (local.tee $times (i32.sub (local.get $times) (i32.const 1)))))))\n";

struct host_state {
  int calls;
};

/* env.log(ptr, len): prints guest memory [ptr, ptr + len). */
static wasmpool_trap_t *log_callback(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args,
                                     size_t nargs, wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)nargs; (void)results; (void)nresults;
  wasmpool_memory_t *memory = NULL;
  wasmpool_error_t *err = wasmpool_caller_get_memory(caller, "memory", &memory);
  if (err) {
    wasmpool_error_delete(err);
    return wasmpool_trap_new("env.log: the caller exports no memory");
  }
  uint32_t ptr = (uint32_t)args[0].of.i32, len = (uint32_t)args[1].of.i32;
  /* Never trust the guest: check the range against the memory's size. */
  if ((uint64_t)ptr + len > wasmpool_memory_data_size(memory)) {
    return wasmpool_trap_new("env.log: range outside the guest's memory");
  }
  struct host_state *state = wasmpool_caller_data(caller);
  state->calls++;
  printf("guest says: %.*s\n", (int)len, (const char *)wasmpool_memory_data(memory) + ptr);
  return NULL;
}

static int report(wasmpool_error_t *err) {
  fprintf(stderr, "error: %s\n", wasmpool_error_message(err));
  wasmpool_error_delete(err);
  return 1;
}

int main(void) {
  wasmpool_engine_t *engine = NULL;
  wasmpool_error_t *err = wasmpool_engine_new(NULL, &engine);
  if (err) return report(err);
  uint8_t *wasm = NULL;
  size_t len = 0;
  err = wasmpool_wat2wasm(WAT, strlen(WAT), &wasm, &len);
  if (err) return report(err);
  wasmpool_module_t *module = NULL;
  err = wasmpool_module_new(engine, wasm, len, &module);
  wasmpool_bytes_delete(wasm, len);
  if (err) return report(err);

  /* List what the module needs and offers. */
  for (size_t i = 0; i < wasmpool_module_imports_len(module); i++) {
    const char *mod = NULL, *name = NULL;
    wasmpool_module_import_get(module, i, &mod, &name, NULL);
    size_t nparams = 0;
    wasmpool_functype_params(wasmpool_externtype_functype(wasmpool_module_import_type(module, i)), &nparams);
    printf("import %s.%s: a function of %zu parameters\n", mod, name, nparams);
  }

  /* The linker provides env.log to every module that imports it. */
  wasmpool_linker_t *linker = wasmpool_linker_new(engine);
  const wasmpool_valkind_t params[2] = {WASMPOOL_I32, WASMPOOL_I32};
  err = wasmpool_linker_define_func(linker, "env", "log", params, 2, NULL, 0, log_callback, NULL, NULL);
  if (err) return report(err);

  struct host_state state = {0};
  wasmpool_store_t *store = wasmpool_store_new(engine, &state, NULL);
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  err = wasmpool_instance_new(store, module, linker, &instance, &trap);
  if (err) return report(err);
  wasmpool_func_t *greet = NULL;
  err = wasmpool_instance_get_func(instance, "greet", &greet);
  if (err) return report(err);

  wasmpool_val_t times = {.kind = WASMPOOL_I32, .of.i32 = 3};
  err = wasmpool_func_call(store, greet, &times, 1, NULL, 0, &trap);
  if (err) return report(err);
  if (trap) {
    fprintf(stderr, "trap: %s\n", wasmpool_trap_message(trap));
    wasmpool_trap_delete(trap);
    return 1;
  }
  printf("the host was called %d times\n", state.calls);

  wasmpool_store_delete(store);
  wasmpool_linker_delete(linker);
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
  return state.calls == 3 ? 0 : 1;
}
