/* The consumer of the installed package: compile a module, instantiate it from a
 * pool, call it. Prints "consumer ok" on success. */
#include <stdio.h>
#include <string.h>

#include <wasmpool.h>

static int fail(wasmpool_error_t *err) {
  fprintf(stderr, "error: %s\n", wasmpool_error_message(err));
  wasmpool_error_delete(err);
  return 1;
}

int main(void) {
  const char *wat = "(module (func (export \"answer\") (result i32) i32.const 42))";
  uint8_t *wasm = NULL;
  size_t len = 0;
  wasmpool_error_t *err = wasmpool_wat2wasm(wat, strlen(wat), &wasm, &len);
  if (err) return fail(err);

  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, 4);
  wasmpool_pool_config_set_total_memories(pool, 4);
  wasmpool_pool_config_set_total_tables(pool, 4);
  wasmpool_engine_t *engine = NULL;
  err = wasmpool_engine_new_with_pooling(NULL, pool, &engine);
  wasmpool_pool_config_delete(pool);
  if (err) return fail(err);

  wasmpool_module_t *module = NULL;
  err = wasmpool_module_new(engine, wasm, len, &module);
  wasmpool_bytes_delete(wasm, len);
  if (err) return fail(err);

  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  err = wasmpool_instance_new(store, module, NULL, &instance, &trap);
  if (err) return fail(err);
  wasmpool_func_t *answer = NULL;
  err = wasmpool_instance_get_func(instance, "answer", &answer);
  if (err) return fail(err);
  wasmpool_val_t result;
  err = wasmpool_func_call(store, answer, NULL, 0, &result, 1, &trap);
  if (err) return fail(err);
  int good = trap == NULL && result.kind == WASMPOOL_I32 && result.of.i32 == 42 &&
             WASMPOOL_VERSION_MAJOR == 0 && strlen(wasmpool_version()) > 0;

  wasmpool_store_delete(store);
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
  printf(good ? "consumer ok (libwasmpool %s)\n" : "consumer FAILED\n", wasmpool_version());
  return good ? 0 : 1;
}
