/* Store limits, bounded tables and bounded compilation through the C API:
 * wasmpool_store_limiter, wasmpool_config_set_max_function_size /
 * _max_module_size / _max_table_elements, and sizes a caller or a guest
 * chooses that once aborted the process (a table of UINT32_MAX elements). */
#include "testutil.h"

static const char *GROWER =
    "(module"
    "  (memory (export \"m\") 1)"
    "  (table (export \"t\") 1 externref)"
    "  (func (export \"grow_memory\") (param i32) (result i32) (memory.grow (local.get 0)))"
    "  (func (export \"grow_table\") (param i32) (result i32)"
    "    (table.grow (ref.null extern) (local.get 0))))";

static int32_t grow(wasmpool_store_t *store, wasmpool_instance_t *instance, const char *name, int32_t delta) {
  wasmpool_val_t arg = val_i32(delta), result;
  call_ok(store, get_func(instance, name), &arg, 1, &result, 1);
  return result.of.i32;
}

/* The store limiter bounds guest growth (-1), host growth (LIMIT) and counts. */
static void limiter_on(wasmpool_engine_t *engine) {
  wasmpool_module_t *module = compile_wat(engine, GROWER);
  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_store_limiter(store, 3 * 65536, 10, 2, -1, 2);
  wasmpool_instance_t *instance = instantiate(store, module);
  CHECK(grow(store, instance, "grow_memory", 2) == 1);
  CHECK(grow(store, instance, "grow_memory", 1) == -1);
  CHECK(grow(store, instance, "grow_table", 9) == 1);
  CHECK(grow(store, instance, "grow_table", 1) == -1);

  wasmpool_memory_t *memory = NULL;
  OK(wasmpool_instance_get_memory(instance, "m", &memory));
  uint64_t prev = 0;
  EXPECT_ERROR(wasmpool_memory_grow(memory, 1, &prev), WASMPOOL_ERROR_LIMIT, "limiter");
  CHECK(wasmpool_memory_size(memory) == 3);
  wasmpool_table_t *table = NULL;
  OK(wasmpool_instance_get_table(instance, "t", &table));
  wasmpool_val_t null_ref;
  memset(&null_ref, 0, sizeof null_ref);
  null_ref.kind = WASMPOOL_EXTERNREF;
  EXPECT_ERROR(wasmpool_table_grow(table, 1, &null_ref, NULL), WASMPOOL_ERROR_LIMIT, "limiter");

  /* A second instance fits; a host memory would be the third memory, a third
   * instance one too many. */
  instantiate(store, module);
  wasmpool_memorytype_t mt = {1, 0, false};
  wasmpool_memory_t *host_memory = NULL;
  EXPECT_ERROR(wasmpool_memory_new(store, &mt, &host_memory), WASMPOOL_ERROR_LIMIT, "memories");
  wasmpool_instance_t *third = NULL;
  wasmpool_trap_t *trap = NULL;
  EXPECT_ERROR(wasmpool_instance_new(store, module, NULL, &third, &trap), WASMPOOL_ERROR_LIMIT, "2 instances");
  CHECK(third == NULL && trap == NULL);
  wasmpool_store_delete(store);

  /* Negative values are unlimited; a new call replaces the old limits. */
  store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_store_limiter(store, 65536, -1, -1, -1, -1);
  wasmpool_store_limiter(store, -1, -1, -1, -1, -1);
  instance = instantiate(store, module);
  CHECK(grow(store, instance, "grow_memory", 1) == 1);
  wasmpool_store_delete(store);

  /* A minimum past the limit is refused before anything is allocated. */
  store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_store_limiter(store, 65535, -1, -1, -1, -1);
  EXPECT_ERROR(wasmpool_instance_new(store, module, NULL, &third, &trap), WASMPOOL_ERROR_LIMIT, "65536 bytes");
  wasmpool_store_delete(store);
  wasmpool_module_delete(module);
}

/* Tables a caller or a guest sizes never abort the process. */
static void tables_are_bounded(void) {
  wasmpool_engine_t *engine = on_demand_engine();
  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_val_t null_func;
  memset(&null_func, 0, sizeof null_func);
  null_func.kind = WASMPOOL_FUNCREF;
  wasmpool_tabletype_t huge = {WASMPOOL_FUNCREF, UINT32_MAX, 0, false};
  wasmpool_table_t *table = NULL;
  EXPECT_ERROR(wasmpool_table_new(store, &huge, &null_func, &table), WASMPOOL_ERROR_LIMIT, "max_table_elements");
  CHECK(table == NULL);
  wasmpool_tabletype_t one = {WASMPOOL_FUNCREF, 1, 0, false};
  OK(wasmpool_table_new(store, &one, &null_func, &table));
  EXPECT_ERROR(wasmpool_table_grow(table, 0x7fffffff, &null_func, NULL), WASMPOOL_ERROR_RESOURCE, NULL);
  CHECK(wasmpool_table_size(table) == 1);
  /* The guest's table.grow(ref.null func, 0x7fffffff) returns -1. */
  wasmpool_module_t *module = compile_wat(
      engine, "(module (table 1 funcref)"
              "  (func (export \"grow\") (param i32) (result i32) (table.grow (ref.null func) (local.get 0))))");
  wasmpool_instance_t *instance = instantiate(store, module);
  CHECK(grow(store, instance, "grow", 0x7fffffff) == -1);
  CHECK(grow(store, instance, "grow", 50000000) == -1);
  CHECK(grow(store, instance, "grow", 10) == 1);
  wasmpool_module_delete(module);
  wasmpool_store_delete(store);
  wasmpool_engine_delete(engine);

  /* The ceiling is a knob. */
  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_max_table_elements(config, 5);
  OK(wasmpool_engine_new(config, &engine));
  wasmpool_config_delete(config);
  wasmpool_module_t *too_big = NULL;
  EXPECT_ERROR(try_compile_wat(engine, "(module (table 6 funcref))", &too_big), WASMPOOL_ERROR_LIMIT,
               "max_table_elements");
  wasmpool_engine_delete(engine);
}

/* A module with one function of `size` body bytes (nops). */
static uint8_t *module_with_body(size_t size, size_t *len) {
  static const uint8_t head[] = {0, 'a', 's', 'm', 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0};
  uint8_t *wasm = malloc(sizeof head + 2 * 6 + size);
  size_t at = sizeof head;
  memcpy(wasm, head, sizeof head);
  size_t section = 1 + 5 + size; /* count, body size (5-byte LEB), body */
  wasm[at++] = 10;
  for (int i = 0; i < 5; i++) wasm[at++] = (uint8_t)(((section >> (7 * i)) & 0x7f) | (i < 4 ? 0x80 : 0));
  wasm[at++] = 1;
  for (int i = 0; i < 5; i++) wasm[at++] = (uint8_t)(((size >> (7 * i)) & 0x7f) | (i < 4 ? 0x80 : 0));
  wasm[at++] = 0; /* no locals */
  memset(wasm + at, 0x01, size - 2);
  at += size - 2;
  wasm[at++] = 0x0b;
  *len = at;
  return wasm;
}

static void compilation_is_bounded(void) {
  size_t len = 0;
  uint8_t *wasm = module_with_body(7654321, &len);
  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_max_function_size(config, 1 << 20);
  wasmpool_engine_t *engine = NULL;
  OK(wasmpool_engine_new(config, &engine));
  wasmpool_module_t *module = NULL;
  EXPECT_ERROR(wasmpool_module_new(engine, wasm, len, &module), WASMPOOL_ERROR_LIMIT, "max_function_size");
  CHECK(module == NULL);
  wasmpool_engine_delete(engine);
  wasmpool_config_set_max_function_size(config, 1 << 30);
  wasmpool_config_set_max_module_size(config, 4096);
  OK(wasmpool_engine_new(config, &engine));
  EXPECT_ERROR(wasmpool_module_new(engine, wasm, len, &module), WASMPOOL_ERROR_LIMIT, "max_module_size");
  free(wasm);
  /* Under the limits a module compiles as before. */
  wasm = module_with_body(1000, &len);
  OK(wasmpool_module_new(engine, wasm, len, &module));
  wasmpool_module_delete(module);
  free(wasm);
  wasmpool_engine_delete(engine);
  wasmpool_config_delete(config);
}

int main(void) {
  wasmpool_engine_t *engine = on_demand_engine();
  limiter_on(engine);
  wasmpool_engine_delete(engine);
  engine = pooling_engine(4, 16 << 20, 4);
  limiter_on(engine);
  wasmpool_engine_delete(engine);
  tables_are_bounded();
  compilation_is_bounded();
  return finish("test_limits");
}
