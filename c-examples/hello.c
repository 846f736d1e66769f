/* hello: the smallest complete libwasmpool program. Compiles a module from WebAssembly
 * text, instantiates it in a store and calls an exported function.
 *
 *   cc hello.c $(pkg-config --cflags --libs wasmpool) -o hello && ./hello
 */
#include <stdio.h>
#include <string.h>

#include "wasmpool.h"

static const char *const WAT =
    "(module\n"
    "  (func (export \"add\") (param i32 i32) (result i32)\n"
    "    (i32.add (local.get 0) (local.get 1))))\n";

/* Prints and frees an error; returns 1 for main. */
static int report(wasmpool_error_t *err) {
  fprintf(stderr, "error: %s\n", wasmpool_error_message(err));
  wasmpool_error_delete(err);
  return 1;
}

int main(void) {
  printf("libwasmpool %s\n", wasmpool_version());

  /* An engine compiles and runs modules; NULL means the default configuration. */
  wasmpool_engine_t *engine = NULL;
  wasmpool_error_t *err = wasmpool_engine_new(NULL, &engine);
  if (err) return report(err);

  /* WebAssembly text -> binary -> compiled module. */
  uint8_t *wasm = NULL;
  size_t wasm_len = 0;
  err = wasmpool_wat2wasm(WAT, strlen(WAT), &wasm, &wasm_len);
  if (err) return report(err);
  wasmpool_module_t *module = NULL;
  err = wasmpool_module_new(engine, wasm, wasm_len, &module);
  wasmpool_bytes_delete(wasm, wasm_len);
  if (err) return report(err);

  /* A store holds instances; the instance and its exports belong to it. */
  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  err = wasmpool_instance_new(store, module, NULL, &instance, &trap);
  if (err) return report(err);

  wasmpool_func_t *add = NULL;
  err = wasmpool_instance_get_func(instance, "add", &add);
  if (err) return report(err);

  /* A call has three outcomes: an error, a trap, or results. */
  wasmpool_val_t args[2] = {{.kind = WASMPOOL_I32, .of.i32 = 40}, {.kind = WASMPOOL_I32, .of.i32 = 2}};
  wasmpool_val_t result;
  err = wasmpool_func_call(store, add, args, 2, &result, 1, &trap);
  if (err) return report(err);
  if (trap) {
    fprintf(stderr, "trap: %s\n", wasmpool_trap_message(trap));
    wasmpool_trap_delete(trap);
    return 1;
  }
  printf("add(40, 2) = %d\n", result.of.i32);

  wasmpool_store_delete(store); /* frees the instance and every handle from it */
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
  return result.of.i32 == 42 ? 0 : 1;
}
