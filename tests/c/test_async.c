/* ctest: resumable calls through the C API (header section "async").
 *  1. A call suspended at its epoch deadline resumes to the right result, polled on this
 *     thread and on another one.
 *  2. 10,000 calls suspended at once on a pool of 10,000 stacks, then all resumed.
 *  3. Stack overflow on a fiber traps, and the stack goes back to the pool.
 *  4. A trap after suspending and resuming.
 *  5. Deleting an unfinished future frees everything: pool metrics back to zero.
 *  6. With zeroing on, no byte a call wrote on its stack survives it (read from the host).
 *  7. A full stack pool is POOL_EXHAUSTED naming total_stacks; a busy store refuses calls.
 *  8. A fuel yield interval suspends the call every N units. */
#include <pthread.h>
#include <stdint.h>

#include "testutil.h"

static const char *const WAT =
    "(module (import \"host\" \"scribble\" (func $s))\n"
    "  (func (export \"sum\") (param $n i64) (result i64) (local $acc i64)\n"
    "    (block $done (loop $top\n"
    "      (br_if $done (i64.eqz (local.get $n)))\n"
    "      (local.set $acc (i64.add (local.get $acc) (local.get $n)))\n"
    "      (local.set $n (i64.sub (local.get $n) (i64.const 1)))\n"
    "      (br $top)))\n"
    "    (local.get $acc))\n"
    "  (func $deep (export \"deep\") (param i32) (result i32)\n"
    "    (i32.add (call $deep (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))\n"
    "  (func (export \"trap_after\") (param $n i64)\n"
    "    (block $done (loop $top\n"
    "      (br_if $done (i64.eqz (local.get $n)))\n"
    "      (local.set $n (i64.sub (local.get $n) (i64.const 1)))\n"
    "      (br $top)))\n"
    "    unreachable)\n"
    "  (func (export \"scribble\") call $s))\n";

/* Where the host function's buffer was: on the calling fiber's stack. */
static volatile uintptr_t scribbled_at;

static wasmpool_trap_t *scribble(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                 wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)caller; (void)args; (void)nargs; (void)results; (void)nresults;
  volatile unsigned char buffer[4096];
  for (size_t i = 0; i < sizeof buffer; i++) buffer[i] = 0xab;
  scribbled_at = (uintptr_t)buffer;
  return NULL;
}

typedef struct {
  wasmpool_engine_t *engine;
  wasmpool_module_t *module;
  wasmpool_linker_t *linker;
} env_t;

static env_t make_env(uint32_t stacks, size_t stack_size, bool zeroing, size_t keep, bool fuel) {
  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_async_support(config, true);
  wasmpool_config_set_async_stack_size(config, stack_size);
  wasmpool_config_set_max_wasm_stack(config, stack_size / 2);
  wasmpool_config_set_epoch_interruption(config, !fuel);
  wasmpool_config_set_consume_fuel(config, fuel);
  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, stacks);
  wasmpool_pool_config_set_max_core_instance_size(pool, 4096);
  wasmpool_pool_config_set_total_memories(pool, 1);
  wasmpool_pool_config_set_total_tables(pool, 1);
  wasmpool_pool_config_set_max_memory_size(pool, 1 << 16);
  wasmpool_pool_config_set_total_stacks(pool, stacks);
  wasmpool_pool_config_set_async_stack_zeroing(pool, zeroing);
  wasmpool_pool_config_set_async_stack_keep_resident(pool, keep);
  env_t e;
  OK(wasmpool_engine_new_with_pooling(config, pool, &e.engine));
  wasmpool_config_delete(config);
  wasmpool_pool_config_delete(pool);
  e.module = compile_wat(e.engine, WAT);
  e.linker = wasmpool_linker_new(e.engine);
  OK(wasmpool_linker_define_func(e.linker, "host", "scribble", NULL, 0, NULL, 0, scribble, NULL, NULL));
  return e;
}

static void drop_env(env_t e) {
  wasmpool_linker_delete(e.linker);
  wasmpool_module_delete(e.module);
  wasmpool_engine_delete(e.engine);
}

/* A store whose every epoch check finds the deadline passed, so calls yield at each loop. */
static wasmpool_store_t *yielding_store(env_t *e, wasmpool_instance_t **instance) {
  wasmpool_store_t *store = wasmpool_store_new(e->engine, NULL, NULL);
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_instance_new(store, e->module, e->linker, instance, &trap));
  CHECK(trap == NULL);
  wasmpool_store_set_epoch_deadline(store, 0);
  wasmpool_store_epoch_deadline_async_yield_and_update(store, 0);
  return store;
}

static void *poll_ten(void *future) {
  for (int i = 0; i < 10; i++) CHECK(!wasmpool_call_future_poll(future));
  return NULL;
}

static void resumes(void) {
  env_t e = make_env(4, 256 << 10, false, 0, false);
  wasmpool_instance_t *instance;
  wasmpool_store_t *store = yielding_store(&e, &instance);
  wasmpool_func_t *sum = get_func(instance, "sum");
  wasmpool_val_t arg = val_i64(1000), result;
  wasmpool_trap_t *trap;
  wasmpool_error_t *err;
  wasmpool_call_future_t *f = wasmpool_func_call_async(store, sum, &arg, 1, &result, 1, &trap, &err);
  CHECK(!wasmpool_call_future_poll(f));
  CHECK(pool_metrics(e.engine).stacks == 1);
  /* A busy store refuses other calls until the future is done. */
  EXPECT_ERROR(wasmpool_func_call(store, sum, &arg, 1, &result, 1, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, "busy");
  pthread_t t;
  CHECK(pthread_create(&t, NULL, poll_ten, f) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(drive_future(f) >= 900);
  CHECK(trap == NULL && err == NULL);
  CHECK(result.kind == WASMPOOL_I64 && result.of.i64 == 500500);
  wasmpool_call_future_delete(f);
  CHECK(pool_metrics(e.engine).stacks == 0);
  arg = val_i64(10);
  call_ok(store, sum, &arg, 1, &result, 1);
  CHECK(result.of.i64 == 55);
  wasmpool_store_delete(store);
  drop_env(e);
}

static void ten_thousand(void) {
  enum { N = 10000 };
  env_t e = make_env(N, 64 << 10, false, 0, false);
  static wasmpool_store_t *stores[N];
  static wasmpool_call_future_t *futures[N];
  static wasmpool_val_t args[N], results[N];
  static wasmpool_trap_t *traps[N];
  static wasmpool_error_t *errs[N];
  for (int i = 0; i < N; i++) {
    wasmpool_instance_t *instance;
    stores[i] = yielding_store(&e, &instance);
    args[i] = val_i64(i % 7 + 3);
    futures[i] = wasmpool_func_call_async(stores[i], get_func(instance, "sum"), &args[i], 1, &results[i], 1,
                                          &traps[i], &errs[i]);
    CHECK(!wasmpool_call_future_poll(futures[i]));
  }
  CHECK(pool_metrics(e.engine).stacks == N);
  int right = 0;
  for (int i = 0; i < N; i++) {
    drive_future(futures[i]);
    long n = i % 7 + 3;
    right += traps[i] == NULL && errs[i] == NULL && results[i].of.i64 == n * (n + 1) / 2;
    wasmpool_call_future_delete(futures[i]);
    wasmpool_store_delete(stores[i]);
  }
  CHECK(right == N);
  wasmpool_pool_metrics_t m = pool_metrics(e.engine);
  CHECK(m.stacks == 0 && m.core_instances == 0 && m.unused_warm_stacks == N);
  drop_env(e);
}

static void traps_on_a_fiber(void) {
  env_t e = make_env(2, 256 << 10, false, 0, false);
  wasmpool_instance_t *instance;
  wasmpool_store_t *store = yielding_store(&e, &instance);
  wasmpool_val_t arg = val_i32(0), result;
  wasmpool_trap_t *trap;
  wasmpool_error_t *err;
  wasmpool_call_future_t *f =
      wasmpool_func_call_async(store, get_func(instance, "deep"), &arg, 1, &result, 1, &trap, &err);
  drive_future(f);
  CHECK(err == NULL && trap != NULL);
  if (trap != NULL) {
    CHECK(wasmpool_trap_code(trap) == WASMPOOL_TRAP_STACK_OVERFLOW);
    wasmpool_trap_delete(trap);
  }
  wasmpool_call_future_delete(f);
  CHECK(pool_metrics(e.engine).stacks == 0);

  arg = val_i64(50);
  f = wasmpool_func_call_async(store, get_func(instance, "trap_after"), &arg, 1, NULL, 0, &trap, &err);
  CHECK(drive_future(f) >= 50);
  CHECK(err == NULL && trap != NULL);
  if (trap != NULL) {
    CHECK(wasmpool_trap_code(trap) == WASMPOOL_TRAP_UNREACHABLE);
    wasmpool_trap_delete(trap);
  }
  wasmpool_call_future_delete(f);
  CHECK(pool_metrics(e.engine).stacks == 0);
  wasmpool_store_delete(store);
  drop_env(e);
}

static void abandoned(void) {
  env_t e = make_env(2, 256 << 10, false, 0, false);
  wasmpool_instance_t *instance;
  wasmpool_store_t *store = yielding_store(&e, &instance);
  wasmpool_val_t arg = val_i64((int64_t)1 << 40), result = val_i64(-1);
  wasmpool_trap_t *trap;
  wasmpool_error_t *err;
  wasmpool_call_future_t *f =
      wasmpool_func_call_async(store, get_func(instance, "sum"), &arg, 1, &result, 1, &trap, &err);
  for (int i = 0; i < 5; i++) CHECK(!wasmpool_call_future_poll(f));
  CHECK(pool_metrics(e.engine).stacks == 1);
  wasmpool_call_future_delete(f);
  CHECK(trap == NULL && err == NULL && result.of.i64 == -1);
  wasmpool_store_delete(store);
  wasmpool_pool_metrics_t m = pool_metrics(e.engine);
  CHECK(m.stacks == 0 && m.core_instances == 0 && m.memories == 0 && m.tables == 0);
  drop_env(e);
}

static void zeroing(void) {
  const size_t keeps[3] = {0, 64 << 10, 1 << 20};
  for (int k = 0; k < 4; k++) {
    bool zero = k < 3;
    env_t e = make_env(2, 256 << 10, zero, zero ? keeps[k] : 0, false);
    wasmpool_instance_t *instance;
    wasmpool_store_t *store = yielding_store(&e, &instance);
    for (int round = 0; round < 2; round++) {
      wasmpool_trap_t *trap;
      wasmpool_error_t *err;
      wasmpool_call_future_t *f =
          wasmpool_func_call_async(store, get_func(instance, "scribble"), NULL, 0, NULL, 0, &trap, &err);
      drive_future(f);
      CHECK(trap == NULL && err == NULL);
      wasmpool_call_future_delete(f);
      /* The stack slot stays mapped while the engine lives. */
      const volatile unsigned char *bytes = (const volatile unsigned char *)scribbled_at;
      size_t marked = 0;
      for (size_t i = 0; i < 4096; i++) marked += bytes[i] == 0xab;
      if (zero) {
        CHECK(marked == 0);
      } else {
        CHECK(marked > 2048); /* without zeroing most of it stays */
      }
    }
    wasmpool_pool_metrics_t m = pool_metrics(e.engine);
    CHECK(m.unused_warm_stacks == 1);
    if (zero) CHECK(m.unused_stack_bytes_resident <= keeps[k]);
    wasmpool_store_delete(store);
    drop_env(e);
  }
}

static void exhausted_and_fuel(void) {
  env_t e = make_env(2, 256 << 10, false, 0, false);
  wasmpool_instance_t *instances[3];
  wasmpool_store_t *stores[2];
  wasmpool_call_future_t *futures[2];
  wasmpool_val_t arg = val_i64(1000), results[3];
  wasmpool_trap_t *traps[3];
  wasmpool_error_t *errs[3];
  for (int i = 0; i < 2; i++) {
    stores[i] = yielding_store(&e, &instances[i]);
    futures[i] = wasmpool_func_call_async(stores[i], get_func(instances[i], "sum"), &arg, 1, &results[i], 1,
                                          &traps[i], &errs[i]);
    CHECK(!wasmpool_call_future_poll(futures[i]));
  }
  /* Both stacks are held: a call in a third store finds none (the instance slots are
   * full too, but a host function called asynchronously needs only a stack). */
  wasmpool_store_t *third = wasmpool_store_new(e.engine, NULL, NULL);
  wasmpool_trap_t *trap = NULL;
  wasmpool_error_t *err = NULL;
  wasmpool_func_t *host;
  OK(wasmpool_func_new(third, NULL, 0, NULL, 0, scribble, NULL, NULL, &host));
  wasmpool_call_future_t *f = wasmpool_func_call_async(third, host, NULL, 0, NULL, 0, &trap, &err);
  CHECK(wasmpool_call_future_poll(f));
  CHECK(trap == NULL);
  EXPECT_ERROR(err, WASMPOOL_ERROR_POOL_EXHAUSTED, "total_stacks");
  wasmpool_call_future_delete(f);
  wasmpool_store_delete(third);
  for (int i = 0; i < 2; i++) {
    wasmpool_call_future_delete(futures[i]);
    wasmpool_store_delete(stores[i]);
  }
  CHECK(pool_metrics(e.engine).stacks == 0);
  drop_env(e);

  /* Fuel: one suspension per 1000 units. */
  e = make_env(2, 256 << 10, false, 0, true);
  wasmpool_store_t *store = wasmpool_store_new(e.engine, NULL, NULL);
  OK(wasmpool_instance_new(store, e.module, e.linker, &instances[0], &trap));
  OK(wasmpool_store_set_fuel(store, 1000000));
  OK(wasmpool_store_fuel_async_yield_interval(store, 1000));
  arg = val_i64(10000);
  f = wasmpool_func_call_async(store, get_func(instances[0], "sum"), &arg, 1, &results[0], 1, &trap, &err);
  long pending = drive_future(f);
  CHECK(trap == NULL && err == NULL && results[0].of.i64 == 50005000);
  uint64_t left = 0;
  OK(wasmpool_store_get_fuel(store, &left));
  long used = (long)(1000000 - left);
  CHECK(pending >= used / 1000 - 1 && pending <= used / 1000 + 1);
  wasmpool_call_future_delete(f);
  wasmpool_store_delete(store);
  drop_env(e);
}

int main(void) {
  resumes();
  ten_thousand();
  traps_on_a_fiber();
  abandoned();
  zeroing();
  exhausted_and_fuel();
  return finish("test_async");
}
