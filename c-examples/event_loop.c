/* One thread multiplexes many concurrent guest calls.
 *
 * Each guest call is a loop that runs far longer than its epoch slice. With async
 * support, every call runs on its own stack from the pool's stack slab, and its store
 * yields at the epoch deadline instead of trapping: wasmpool_call_future_poll returns
 * false, and this thread moves on to the next call. A timer thread advances the epoch
 * every millisecond, so each call gets about one tick of CPU per turn, round-robin.
 *
 * usage: event_loop [calls (1000)] [loop iterations per call (5000000)]
 * Prints the calls completed, the context switches (suspensions) per second, and the
 * pool's stack metrics before and after. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wasmpool.h>

static const char WAT[] =
    "(module\n"
    "  (func (export \"spin\") (param $n i64) (result i64) (local $acc i64)\n"
    "    (block $done (loop $top\n"
    "      (br_if $done (i64.eqz (local.get $n)))\n"
    "      (local.set $acc (i64.add (local.get $acc) (local.get $n)))\n"
    "      (local.set $n (i64.sub (local.get $n) (i64.const 1)))\n"
    "      (br $top)))\n"
    "    (local.get $acc)))\n";

static void check(wasmpool_error_t *err) {
  if (err) {
    fprintf(stderr, "error: %s\n", wasmpool_error_message(err));
    wasmpool_error_delete(err);
    exit(1);
  }
}

static atomic_bool stop;

/* Advances the epoch every millisecond until told to stop. */
static void *timer(void *engine) {
  struct timespec tick = {0, 1000000};
  while (!atomic_load(&stop)) {
    nanosleep(&tick, NULL);
    wasmpool_engine_increment_epoch(engine);
  }
  return NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void print_stacks(const char *when, const wasmpool_engine_t *engine) {
  wasmpool_pool_metrics_t m;
  if (wasmpool_engine_pool_metrics(engine, &m)) {
    printf("%s: stacks in use %llu, unused warm stacks %llu, their resident bytes %llu\n", when,
           (unsigned long long)m.stacks, (unsigned long long)m.unused_warm_stacks,
           (unsigned long long)m.unused_stack_bytes_resident);
  }
}

/* One guest call in flight. */
typedef struct {
  wasmpool_store_t *store;
  wasmpool_call_future_t *future;
  wasmpool_val_t arg, result;
  wasmpool_trap_t *trap;
  wasmpool_error_t *error;
} call_t;

int main(int argc, char **argv) {
  long calls = argc > 1 ? atol(argv[1]) : 1000;
  long iterations = argc > 2 ? atol(argv[2]) : 5000000;
  if (calls <= 0 || iterations <= 0) {
    fprintf(stderr, "usage: %s [calls] [loop iterations per call]\n", argv[0]);
    return 2;
  }

  /* A pooling engine with one instance slot and one stack per concurrent call. Each
   * stack is small (this guest needs little); zeroing keeps a returned stack clean,
   * with its top 16 KiB kept resident for the next call. */
  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_async_support(config, true);
  wasmpool_config_set_async_stack_size(config, 128 << 10);
  wasmpool_config_set_max_wasm_stack(config, 64 << 10);
  wasmpool_config_set_epoch_interruption(config, true);
  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, (uint32_t)calls);
  wasmpool_pool_config_set_max_core_instance_size(pool, 4096);
  wasmpool_pool_config_set_total_memories(pool, 1);
  wasmpool_pool_config_set_total_tables(pool, 1);
  wasmpool_pool_config_set_max_memory_size(pool, 1 << 16);
  wasmpool_pool_config_set_total_stacks(pool, (uint32_t)calls);
  wasmpool_pool_config_set_async_stack_zeroing(pool, true);
  wasmpool_pool_config_set_async_stack_keep_resident(pool, 16 << 10);
  wasmpool_engine_t *engine = NULL;
  check(wasmpool_engine_new_with_pooling(config, pool, &engine));
  wasmpool_config_delete(config);
  wasmpool_pool_config_delete(pool);

  uint8_t *wasm = NULL;
  size_t wasm_len = 0;
  check(wasmpool_wat2wasm(WAT, strlen(WAT), &wasm, &wasm_len));
  wasmpool_module_t *module = NULL;
  check(wasmpool_module_new(engine, wasm, wasm_len, &module));
  wasmpool_bytes_delete(wasm, wasm_len);
  wasmpool_linker_t *linker = wasmpool_linker_new(engine);

  /* Start every call: a store each, yielding at every epoch tick. */
  call_t *all = calloc((size_t)calls, sizeof *all);
  if (all == NULL) return 1;
  for (long i = 0; i < calls; i++) {
    call_t *c = &all[i];
    c->store = wasmpool_store_new(engine, NULL, NULL);
    wasmpool_instance_t *instance = NULL;
    wasmpool_trap_t *trap = NULL;
    check(wasmpool_instance_new(c->store, module, linker, &instance, &trap));
    if (trap) return 1;
    wasmpool_func_t *spin = NULL;
    check(wasmpool_instance_get_func(instance, "spin", &spin));
    wasmpool_store_set_epoch_deadline(c->store, 1);
    wasmpool_store_epoch_deadline_async_yield_and_update(c->store, 1);
    c->arg.kind = WASMPOOL_I64;
    c->arg.of.i64 = iterations + i % 3;
    c->future = wasmpool_func_call_async(c->store, spin, &c->arg, 1, &c->result, 1, &c->trap, &c->error);
  }

  pthread_t ticker;
  if (pthread_create(&ticker, NULL, timer, engine) != 0) return 1;
  double start = now();
  long running = calls, switches = 0, completed = 0, wrong = 0;
  int printed = 0;
  while (running > 0) {
    for (long i = 0; i < calls; i++) {
      call_t *c = &all[i];
      if (c->future == NULL) continue;
      if (!wasmpool_call_future_poll(c->future)) {
        switches++;
        continue;
      }
      if (!printed) {
        print_stacks("while running", engine);
        printed = 1;
      }
      long long n = c->arg.of.i64;
      if (c->error || c->trap || c->result.of.i64 != n * (n + 1) / 2) wrong++;
      if (c->error) wasmpool_error_delete(c->error);
      if (c->trap) wasmpool_trap_delete(c->trap);
      wasmpool_call_future_delete(c->future);
      c->future = NULL;
      wasmpool_store_delete(c->store);
      completed++;
      running--;
    }
  }
  double elapsed = now() - start;
  atomic_store(&stop, true);
  pthread_join(ticker, NULL);

  printf("calls completed: %ld of %ld (%ld wrong) in %.2f s\n", completed, calls, wrong, elapsed);
  printf("context switches: %ld (%.0f per second)\n", switches, switches / elapsed);
  print_stacks("after", engine);
  free(all);
  wasmpool_linker_delete(linker);
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
  return wrong == 0 && completed == calls ? 0 : 1;
}
