/* pool_server: the shape of a server that isolates every request in a fresh sandbox.
 *
 * One pooling engine and one compiled module are shared by a few worker threads. For
 * each "request" a worker takes a store, instantiates the module from the pool (a warm
 * slot of the same module when possible), copies the request into guest memory, calls
 * the handler, reads the response, and deletes the store, which resets the slot and
 * returns it to the pool. At the end it prints requests per second and the pool metrics.
 *
 *   pool_server [threads] [requests per thread]   (default 4 and 10000;
 *                                                  WASMPOOL_EXAMPLE_REQUESTS overrides)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wasmpool.h"

/* The handler: upper-cases the request bytes at 1024 into a response at 4096 and returns
 * its length; counts requests in a global (always 1 in a fresh instance). */
static const char *const WAT =
    "(module\n"
    "  (memory (export \"memory\") 1)\n"
    "  (global $served (mut i32) (i32.const 0))\n"
    "  (func (export \"handle\") (param $len i32) (result i32) (local $i i32) (local $c i32)\n"
    "    (global.set $served (i32.add (global.get $served) (i32.const 1)))\n"
    "    (block $done (loop $next\n"
    "      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))\n"
    "      (local.set $c (i32.load8_u offset=1024 (local.get $i)))\n"
    "      (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))\n"
    "        (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))\n"
    "      (i32.store8 offset=4096 (local.get $i) (local.get $c))\n"
    "      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
    "      (br $next)))\n"
    "    (i32.add (local.get $len) (i32.mul (i32.sub (global.get $served) (i32.const 1)) (i32.const 1000000)))))\n";

struct worker {
  int id;
  long requests;
  const wasmpool_engine_t *engine;
  const wasmpool_instance_pre_t *pre;
  long served;
  long failed;
};

static void *serve(void *arg) {
  struct worker *w = arg;
  char request[64], expected[64];
  for (long i = 0; i < w->requests; i++) {
    int len = snprintf(request, sizeof request, "request %ld from worker %d", i, w->id);
    for (int k = 0; k <= len; k++) expected[k] = (request[k] >= 'a' && request[k] <= 'z') ? request[k] - 32 : request[k];

    wasmpool_store_t *store = wasmpool_store_new(w->engine, NULL, NULL);
    wasmpool_instance_t *instance = NULL;
    wasmpool_trap_t *trap = NULL;
    wasmpool_func_t *handle = NULL;
    wasmpool_memory_t *memory = NULL;
    wasmpool_error_t *err = wasmpool_instance_pre_instantiate(w->pre, store, &instance, &trap);
    if (!err && !trap) err = wasmpool_instance_get_func(instance, "handle", &handle);
    if (!err && !trap) err = wasmpool_instance_get_memory(instance, "memory", &memory);
    wasmpool_val_t in = {.kind = WASMPOOL_I32, .of.i32 = len}, out = {0};
    if (!err && !trap) {
      memcpy(wasmpool_memory_data(memory) + 1024, request, (size_t)len);
      err = wasmpool_func_call(store, handle, &in, 1, &out, 1, &trap);
    }
    /* A fresh instance has served exactly one request: the result is just the length. */
    if (err || trap || out.of.i32 != len || memcmp(wasmpool_memory_data(memory) + 4096, expected, (size_t)len) != 0) {
      if (w->failed++ == 0) {
        fprintf(stderr, "worker %d, request %ld failed: %s\n", w->id, i,
                err ? wasmpool_error_message(err) : trap ? wasmpool_trap_message(trap) : "wrong response");
      }
      wasmpool_error_delete(err);
      wasmpool_trap_delete(trap);
    } else {
      w->served++;
    }
    wasmpool_store_delete(store); /* the slot is reset and goes back to the pool */
  }
  return NULL;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int report(wasmpool_error_t *err) {
  fprintf(stderr, "error: %s\n", wasmpool_error_message(err));
  wasmpool_error_delete(err);
  return 1;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 4;
  long requests = argc > 2 ? atol(argv[2]) : 10000;
  if (getenv("WASMPOOL_EXAMPLE_REQUESTS")) requests = atol(getenv("WASMPOOL_EXAMPLE_REQUESTS"));
  if (threads < 1 || threads > 64 || requests < 1) {
    fprintf(stderr, "usage: %s [threads 1-64] [requests per thread]\n", argv[0]);
    return 2;
  }

  /* A pool sized for the workers: one instance, memory and table slot each plus spares,
   * memories of at most 1 MiB, the first 64 KiB kept resident between requests. */
  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, (uint32_t)threads * 2);
  wasmpool_pool_config_set_total_memories(pool, (uint32_t)threads * 2);
  wasmpool_pool_config_set_total_tables(pool, (uint32_t)threads * 2);
  wasmpool_pool_config_set_max_memory_size(pool, 1 << 20);
  wasmpool_pool_config_set_linear_memory_keep_resident(pool, 64 << 10);
  wasmpool_pool_config_set_max_unused_warm_slots(pool, (uint32_t)threads);
  wasmpool_engine_t *engine = NULL;
  wasmpool_error_t *err = wasmpool_engine_new_with_pooling(NULL, pool, &engine);
  wasmpool_pool_config_delete(pool);
  if (err) return report(err);

  uint8_t *wasm = NULL;
  size_t len = 0;
  err = wasmpool_wat2wasm(WAT, strlen(WAT), &wasm, &len);
  if (err) return report(err);
  wasmpool_module_t *module = NULL;
  err = wasmpool_module_new(engine, wasm, len, &module);
  wasmpool_bytes_delete(wasm, len);
  if (err) return report(err);
  /* Link once; every worker instantiates from the same instance-pre. */
  wasmpool_linker_t *linker = wasmpool_linker_new(engine);
  wasmpool_instance_pre_t *pre = NULL;
  err = wasmpool_linker_instantiate_pre(linker, module, &pre);
  if (err) return report(err);

  pthread_t tids[64];
  struct worker workers[64];
  double start = now();
  for (int t = 0; t < threads; t++) {
    workers[t] = (struct worker){t, requests, engine, pre, 0, 0};
    pthread_create(&tids[t], NULL, serve, &workers[t]);
  }
  long served = 0, failed = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tids[t], NULL);
    served += workers[t].served;
    failed += workers[t].failed;
  }
  double elapsed = now() - start;

  printf("%d threads served %ld requests (%ld failed) in %.3f s: %.0f instantiations/s\n", threads, served, failed,
         elapsed, (double)served / elapsed);
  wasmpool_pool_metrics_t m;
  if (wasmpool_engine_pool_metrics(engine, &m)) {
    printf("pool: live instances %llu, memories %llu, tables %llu\n", (unsigned long long)m.core_instances,
           (unsigned long long)m.memories, (unsigned long long)m.tables);
    printf("pool: warm memories %llu, warm tables %llu, resident bytes in unused memories %llu, tables %llu\n",
           (unsigned long long)m.unused_warm_memories, (unsigned long long)m.unused_warm_tables,
           (unsigned long long)m.unused_memory_bytes_resident, (unsigned long long)m.unused_table_bytes_resident);
    printf("pool: slot resets %llu, decommits %llu, affinity hits %llu, image mappings %llu\n",
           (unsigned long long)m.resets, (unsigned long long)m.decommits, (unsigned long long)m.affinity_hits,
           (unsigned long long)m.image_mappings);
  }

  wasmpool_instance_pre_delete(pre);
  wasmpool_linker_delete(linker);
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
  return failed == 0 && served == (long)threads * requests ? 0 : 1;
}
