/* ctest: several pthreads share one pooling engine, one module, one linker with a host
 * function and one instance-pre; each thread makes 1,000 instantiations (store_new,
 * instantiate, call, check the instance is pristine, write to it, store_delete), half
 * through the instance-pre and half through wasmpool_instance_new. An on-demand engine
 * gets the same treatment with fewer iterations. At the end no slot is live and the host
 * function's finalizer has run exactly once. */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

#define THREADS 4

static const char *const WAT =
    "(module\n"
    "  (import \"host\" \"twice\" (func $twice (param i32) (result i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (global $g (mut i32) (i32.const 0))\n"
    "  (data (i32.const 8) \"\\2a\")\n"
    "  ;; returns twice(arg) + memory[8] + memory[16] + g, then dirties memory[16] and g\n"
    "  (func (export \"run\") (param i32) (result i32)\n"
    "    (local $r i32)\n"
    "    (local.set $r (i32.add (call $twice (local.get 0))\n"
    "      (i32.add (i32.load8_u (i32.const 8)) (i32.add (i32.load8_u (i32.const 16)) (global.get $g)))))\n"
    "    (i32.store8 (i32.const 16) (i32.const 9))\n"
    "    (global.set $g (i32.const 1000))\n"
    "    (local.get $r)))\n";

static atomic_long host_calls;
static atomic_int finalized;

static wasmpool_trap_t *twice(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                              wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)caller; (void)nargs; (void)nresults;
  atomic_fetch_add(&host_calls, 1);
  results[0].of.i32 = args[0].of.i32 * 2;
  return NULL;
}

static void finalize(void *env) {
  (void)env;
  atomic_fetch_add(&finalized, 1);
}

struct shared {
  wasmpool_engine_t *engine;
  wasmpool_module_t *module;
  wasmpool_linker_t *linker;
  wasmpool_instance_pre_t *pre;
  long iterations;
};

struct worker {
  struct shared *shared;
  int id;
  long done;
  int errors;
};

static void *work(void *arg) {
  struct worker *w = arg;
  struct shared *s = w->shared;
  for (long i = 0; i < s->iterations; i++) {
    wasmpool_store_t *store = wasmpool_store_new(s->engine, w, NULL);
    wasmpool_instance_t *instance = NULL;
    wasmpool_trap_t *trap = NULL;
    wasmpool_error_t *err = (i % 2 == 0) ? wasmpool_instance_pre_instantiate(s->pre, store, &instance, &trap)
                                         : wasmpool_instance_new(store, s->module, s->linker, &instance, &trap);
    if (err != NULL || trap != NULL) {
      fprintf(stderr, "thread %d: instantiation %ld failed: %s\n", w->id, i,
              err ? wasmpool_error_message(err) : wasmpool_trap_message(trap));
      wasmpool_error_delete(err);
      wasmpool_trap_delete(trap);
      w->errors++;
      wasmpool_store_delete(store);
      continue;
    }
    wasmpool_func_t *run = NULL;
    err = wasmpool_instance_get_func(instance, "run", &run);
    wasmpool_val_t in = val_i32(w->id * 100000 + (int32_t)i), out;
    if (err == NULL) err = wasmpool_func_call(store, run, &in, 1, &out, 1, &trap);
    if (err != NULL || trap != NULL || out.of.i32 != in.of.i32 * 2 + 42) {
      fprintf(stderr, "thread %d: call %ld failed or saw a dirty instance\n", w->id, i);
      wasmpool_error_delete(err);
      wasmpool_trap_delete(trap);
      w->errors++;
    }
    CHECK(wasmpool_store_data(store) == w);
    wasmpool_store_delete(store);
    w->done++;
  }
  return NULL;
}

static void run(wasmpool_engine_t *engine, long iterations, const char *name) {
  atomic_store(&finalized, 0);
  struct shared s = {engine, compile_wat(engine, WAT), wasmpool_linker_new(engine), NULL, iterations};
  const wasmpool_valkind_t i32[1] = {WASMPOOL_I32};
  OK(wasmpool_linker_define_func(s.linker, "host", "twice", i32, 1, i32, 1, twice, NULL, finalize));
  OK(wasmpool_linker_instantiate_pre(s.linker, s.module, &s.pre));

  pthread_t threads[THREADS];
  struct worker workers[THREADS];
  for (int t = 0; t < THREADS; t++) {
    workers[t] = (struct worker){&s, t, 0, 0};
    CHECK(pthread_create(&threads[t], NULL, work, &workers[t]) == 0);
  }
  long total = 0;
  for (int t = 0; t < THREADS; t++) {
    pthread_join(threads[t], NULL);
    CHECK(workers[t].errors == 0);
    CHECK(workers[t].done == iterations);
    total += workers[t].done;
  }
  printf("%s: %d threads, %ld instantiations\n", name, THREADS, total);

  wasmpool_pool_metrics_t m;
  if (wasmpool_engine_pool_metrics(engine, &m)) {
    CHECK(m.core_instances == 0 && m.memories == 0 && m.tables == 0);
  }
  wasmpool_instance_pre_delete(s.pre);
  CHECK(atomic_load(&finalized) == 0);
  wasmpool_linker_delete(s.linker);
  CHECK(atomic_load(&finalized) == 1);
  wasmpool_module_delete(s.module);
}

int main(void) {
  wasmpool_engine_t *pooled = pooling_engine(2 * THREADS, 1 << 20, 4);
  run(pooled, iterations(2000), "pooling");
  wasmpool_engine_delete(pooled);
  wasmpool_engine_t *on_demand = on_demand_engine();
  run(on_demand, iterations(250), "on-demand");
  wasmpool_engine_delete(on_demand);
  CHECK(atomic_load(&host_calls) > 0);
  return finish("test_threads");
}
