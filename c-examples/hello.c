/* hello: configure a pooling allocator through the C API and report what the
 * library thinks of the configuration. The smallest program that links
 * libwasmpool; later examples instantiate modules from the pool. */
#include <stdio.h>

#include "wasmpool.h"

int main(void) {
  printf("libwasmpool %s\n", wasmpool_version());

  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  if (pool == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  /* A pool for a server with 200 concurrent sandboxes of at most 64 MiB each,
   * keeping the first 1 MiB of every memory resident between uses. */
  wasmpool_pool_config_set_total_core_instances(pool, 200);
  wasmpool_pool_config_set_total_memories(pool, 200);
  wasmpool_pool_config_set_total_tables(pool, 200);
  wasmpool_pool_config_set_max_memory_size(pool, 64 << 20);
  wasmpool_pool_config_set_linear_memory_keep_resident(pool, 1 << 20);

  wasmpool_error_t *err = wasmpool_pool_config_validate(pool);
  if (err != NULL) {
    fprintf(stderr, "invalid pool configuration: %s\n", wasmpool_error_message(err));
    wasmpool_error_delete(err);
    wasmpool_pool_config_delete(pool);
    return 1;
  }
  printf("pool configuration is valid\n");

  /* A mistake is reported with a message naming the knob. */
  wasmpool_pool_config_set_max_memory_size(pool, 12345);
  err = wasmpool_pool_config_validate(pool);
  if (err != NULL) {
    printf("as expected, a bad value is refused: %s\n", wasmpool_error_message(err));
    wasmpool_error_delete(err);
  }
  wasmpool_pool_config_delete(pool);
  return 0;
}
