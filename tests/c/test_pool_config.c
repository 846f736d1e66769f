/* ctest: the pool and engine configuration API, the error API, and NULL safety.
 * Every function here must accept NULL without crashing: setters and deletes on
 * NULL do nothing, wasmpool_error_message(NULL) returns a static string. */
#include "testutil.h"

static void every_pool_setter(wasmpool_pool_config_t *pool) {
  wasmpool_pool_config_set_total_core_instances(pool, 10);
  wasmpool_pool_config_set_total_memories(pool, 10);
  wasmpool_pool_config_set_total_tables(pool, 10);
  wasmpool_pool_config_set_max_core_instance_size(pool, 1 << 16);
  wasmpool_pool_config_set_max_memories_per_module(pool, 2);
  wasmpool_pool_config_set_max_tables_per_module(pool, 2);
  wasmpool_pool_config_set_max_memory_size(pool, 1 << 20);
  wasmpool_pool_config_set_table_elements(pool, 100);
  wasmpool_pool_config_set_max_unused_warm_slots(pool, 5);
  wasmpool_pool_config_set_decommit_batch_size(pool, 4);
  wasmpool_pool_config_set_linear_memory_keep_resident(pool, 65536);
  wasmpool_pool_config_set_table_keep_resident(pool, 4096);
  wasmpool_pool_config_set_memory_protection_keys(pool, WASMPOOL_MPK_AUTO);
  wasmpool_pool_config_set_max_memory_protection_keys(pool, 4);
}

static void every_config_setter(wasmpool_config_t *config) {
  wasmpool_config_set_memory_reservation(config, 1 << 20);
  wasmpool_config_set_memory_guard_size(config, 65536);
  wasmpool_config_set_guard_before_linear_memory(config, false);
  wasmpool_config_set_memory_init_cow(config, false);
  wasmpool_config_set_max_wasm_stack(config, 1 << 16);
  wasmpool_config_set_consume_fuel(config, true);
  wasmpool_config_set_epoch_interruption(config, true);
  wasmpool_config_set_parallel_compilation(config, false);
}

int main(void) {
  /* A fresh configuration is valid. */
  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  CHECK(pool != NULL);
  CHECK(wasmpool_pool_config_validate(pool) == NULL);

  /* Every setter stores a value that validation accepts. */
  every_pool_setter(pool);
  CHECK(wasmpool_pool_config_validate(pool) == NULL);

  /* A value validation rejects comes back as an error naming the knob. */
  wasmpool_pool_config_set_max_memory_size(pool, 1000);
  wasmpool_error_t *err = wasmpool_pool_config_validate(pool);
  CHECK(err != NULL);
  CHECK(wasmpool_error_kind(err) == WASMPOOL_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(wasmpool_error_message(err), "max_memory_size") != NULL);
  wasmpool_error_delete(err);
  wasmpool_pool_config_set_max_memory_size(pool, 1 << 20);
  CHECK(wasmpool_pool_config_validate(pool) == NULL);

  /* keep-resident larger than the memory is rejected. */
  wasmpool_pool_config_set_linear_memory_keep_resident(pool, 2 << 20);
  err = wasmpool_pool_config_validate(pool);
  CHECK(err != NULL);
  CHECK(strstr(wasmpool_error_message(err), "linear_memory_keep_resident") != NULL);
  wasmpool_error_delete(err);
  wasmpool_pool_config_set_linear_memory_keep_resident(pool, 0);

  /* An unknown protection-key mode is remembered and reported. */
  wasmpool_pool_config_set_memory_protection_keys(pool, 42);
  err = wasmpool_pool_config_validate(pool);
  CHECK(err != NULL);
  CHECK(wasmpool_error_kind(err) == WASMPOOL_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(wasmpool_error_message(err), "memory_protection_keys") != NULL);
  wasmpool_error_delete(err);
  wasmpool_pool_config_delete(pool);

  /* NULL everywhere: setters and deletes are no-ops, queries answer safely. */
  every_pool_setter(NULL);
  wasmpool_pool_config_delete(NULL);
  err = wasmpool_pool_config_validate(NULL);
  CHECK(err != NULL);
  CHECK(wasmpool_error_kind(err) == WASMPOOL_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(wasmpool_error_message(err), "pool") != NULL);
  wasmpool_error_delete(err);

  const char *null_message = wasmpool_error_message(NULL);
  CHECK(null_message != NULL && strlen(null_message) > 0);
  CHECK(wasmpool_error_kind(NULL) == WASMPOOL_ERROR_INVALID_ARGUMENT);
  wasmpool_error_delete(NULL);

  /* The engine configuration, likewise. */
  wasmpool_config_t *config = wasmpool_config_new();
  CHECK(config != NULL);
  every_config_setter(config);
  wasmpool_config_delete(config);
  every_config_setter(NULL);
  wasmpool_config_delete(NULL);

  CHECK(wasmpool_version() != NULL && strlen(wasmpool_version()) > 0);

  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("test_pool_config: all checks passed\n");
  return 0;
}
