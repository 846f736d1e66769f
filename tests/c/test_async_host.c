/* ctest: async host functions, async instantiation and deleting a busy store (header
 * sections "linker" and "async").
 *  1. An async host function whose continuation is done after n polls suspends the call
 *     exactly n times, then returns its result; one that finishes at once never suspends;
 *     each continuation's finalizer runs once, the function's env finalizer once.
 *  2. A trap set by the callback (the continuation is then finalized, never called) and a
 *     trap written later by the continuation.
 *  3. A continuation reaches guest memory through a handle the callback got from its
 *     caller; calls into the store from it are refused (busy).
 *  4. Called from a synchronous call, an async host function traps without running.
 *  5. Deleting an unfinished future finalizes the pending continuation, frees the stack.
 *  6. wasmpool_linker_instantiate_async / wasmpool_instance_pre_instantiate_async: a start
 *     function that yields at epoch deadlines and waits on an async host function; a
 *     start trap; a link error; a synchronous instantiation of it traps.
 *  7. Deleting a store whose call or instantiation is pending abandons it first: the
 *     continuation and the store are finalized, pool metrics return to zero, the future's
 *     next poll reports INVALID_ARGUMENT, and deleting it afterwards is safe.
 *  8. A synchronous call into another store from a host function of a resumable call
 *     never suspends the fiber under it: epoch deadlines extend, async host functions trap. */
#include "testutil.h"

static const char *const WAT =
    "(module\n"
    "  (import \"host\" \"wait\" (func $wait (param i32) (result i32)))\n"
    "  (import \"host\" \"fail\" (func $fail (param i32)))\n"
    "  (import \"host\" \"poke\" (func $poke))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (func (export \"wait\") (param i32) (result i32) (call $wait (local.get 0)))\n"
    "  (func (export \"fail\") (param i32) (call $fail (local.get 0)))\n"
    "  (func (export \"poke\") (result i32) (call $poke) (i32.load (i32.const 0))))\n";

/* Waits 3 polls on host.wait and yields at every loop turn (on a yielding store). */
static const char *const START_WAT =
    "(module\n"
    "  (import \"host\" \"wait\" (func $wait (param i32) (result i32)))\n"
    "  (global $g (export \"g\") (mut i32) (i32.const 0))\n"
    "  (func $start (local $n i32)\n"
    "    (local.set $n (i32.const 10))\n"
    "    (loop $top\n"
    "      (local.set $n (i32.sub (local.get $n) (i32.const 1)))\n"
    "      (br_if $top (local.get $n)))\n"
    "    (global.set $g (call $wait (i32.const 3))))\n"
    "  (start $start))\n";

static int env_finalized, conts_finalized, cont_polls, never_called, store_finalized;

static void count_env(void *env) { (void)env; env_finalized++; }
static void count_store(void *data) { (void)data; store_finalized++; }

/* A continuation's state: done at its (n+1)th call, when it writes 2n. */
typedef struct {
  int n, calls;
  wasmpool_val_t *results;
  wasmpool_trap_t **trap_ret;
  wasmpool_memory_t *memory;
} wait_t;

static void free_wait(void *env) {
  conts_finalized++;
  free(env);
}

static wait_t *new_wait(int n, wasmpool_val_t *results, wasmpool_trap_t **trap_ret,
                        wasmpool_async_continuation_t *k, wasmpool_func_async_continuation_callback_t cb) {
  wait_t *w = calloc(1, sizeof *w);
  w->n = n;
  w->results = results;
  w->trap_ret = trap_ret;
  k->callback = cb;
  k->env = w;
  k->finalizer = free_wait;
  return w;
}

static bool wait_ready(void *env) {
  wait_t *w = env;
  cont_polls++;
  if (++w->calls <= w->n) return false;
  w->results[0] = val_i32(2 * w->n);
  return true;
}

static void host_wait(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                      wasmpool_val_t *results, size_t nresults, wasmpool_trap_t **trap_ret,
                      wasmpool_async_continuation_t *k) {
  (void)env; (void)caller; (void)nargs; (void)nresults;
  CHECK(*trap_ret == NULL && k->callback == NULL && k->env == NULL && k->finalizer == NULL);
  int n = args[0].of.i32;
  if (n == 0) {
    results[0] = val_i32(0); /* done at once: no continuation */
    return;
  }
  new_wait(n, results, trap_ret, k, wait_ready);
}

static bool must_not_run(void *env) {
  (void)env;
  never_called++;
  return true;
}

static bool fail_later(void *env) {
  wait_t *w = env;
  if (++w->calls <= w->n) return false;
  *w->trap_ret = wasmpool_trap_new("failed later");
  return true;
}

/* fail(0): a trap at once (its continuation is finalized, never called);
 * fail(n): the continuation writes a trap after n polls. */
static void host_fail(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                      wasmpool_val_t *results, size_t nresults, wasmpool_trap_t **trap_ret,
                      wasmpool_async_continuation_t *k) {
  (void)env; (void)caller; (void)nargs; (void)results; (void)nresults;
  int n = args[0].of.i32;
  new_wait(n, NULL, trap_ret, k, n == 0 ? must_not_run : fail_later);
  if (n == 0) *trap_ret = wasmpool_trap_new("failed at once");
}

/* What poke's continuation tries on the store while the call is suspended. */
static wasmpool_store_t *poke_store;
static wasmpool_func_t *poke_func;

static bool poke_ready(void *env) {
  wait_t *w = env;
  if (w->calls++ == 0) {
    wasmpool_val_t arg = val_i32(0), result;
    wasmpool_trap_t *trap = NULL;
    EXPECT_ERROR(wasmpool_func_call(poke_store, poke_func, &arg, 1, &result, 1, &trap),
                 WASMPOOL_ERROR_INVALID_ARGUMENT, "busy");
    return false;
  }
  uint8_t *data = wasmpool_memory_data(w->memory);
  CHECK(data != NULL);
  if (data != NULL) data[0] = 42;
  return true;
}

static void host_poke(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                      wasmpool_val_t *results, size_t nresults, wasmpool_trap_t **trap_ret,
                      wasmpool_async_continuation_t *k) {
  (void)env; (void)args; (void)nargs; (void)results; (void)nresults;
  wait_t *w = new_wait(0, NULL, trap_ret, k, poke_ready);
  OK(wasmpool_caller_get_memory(caller, "memory", &w->memory));
}

static const wasmpool_valkind_t I32 = WASMPOOL_I32;

typedef struct {
  wasmpool_engine_t *engine;
  wasmpool_linker_t *linker;
  wasmpool_module_t *module, *start_module;
} env_t;

static env_t make_env(void) {
  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_async_support(config, true);
  wasmpool_config_set_async_stack_size(config, 256 << 10);
  wasmpool_config_set_max_wasm_stack(config, 128 << 10);
  wasmpool_config_set_epoch_interruption(config, true);
  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, 8);
  wasmpool_pool_config_set_total_memories(pool, 8);
  wasmpool_pool_config_set_total_tables(pool, 8);
  wasmpool_pool_config_set_max_memory_size(pool, 1 << 16);
  wasmpool_pool_config_set_total_stacks(pool, 4);
  env_t e;
  OK(wasmpool_engine_new_with_pooling(config, pool, &e.engine));
  wasmpool_config_delete(config);
  wasmpool_pool_config_delete(pool);
  e.module = compile_wat(e.engine, WAT);
  e.start_module = compile_wat(e.engine, START_WAT);
  e.linker = wasmpool_linker_new(e.engine);
  OK(wasmpool_linker_define_async_func(e.linker, "host", "wait", &I32, 1, &I32, 1, host_wait, NULL, count_env));
  OK(wasmpool_linker_define_async_func(e.linker, "host", "fail", &I32, 1, NULL, 0, host_fail, NULL, count_env));
  OK(wasmpool_linker_define_async_func(e.linker, "host", "poke", NULL, 0, NULL, 0, host_poke, NULL, count_env));
  return e;
}

static void drop_env(env_t e) {
  wasmpool_linker_delete(e.linker);
  wasmpool_module_delete(e.module);
  wasmpool_module_delete(e.start_module);
  wasmpool_engine_delete(e.engine);
}

/* Runs an async call to completion; returns its suspensions. */
static long call_async(wasmpool_store_t *store, wasmpool_func_t *func, wasmpool_val_t *args, size_t nargs,
                       wasmpool_val_t *results, size_t nresults, wasmpool_trap_t **trap) {
  wasmpool_error_t *err;
  wasmpool_call_future_t *f = wasmpool_func_call_async(store, func, args, nargs, results, nresults, trap, &err);
  long pending = drive_future(f);
  OK(err);
  wasmpool_call_future_delete(f);
  return pending;
}

/* Checks a trap's message and frees it. */
static void expect_trap(wasmpool_trap_t *trap, const char *needle) {
  CHECK(trap != NULL);
  if (trap == NULL) return;
  CHECK(strstr(wasmpool_trap_message(trap), needle) != NULL);
  wasmpool_trap_delete(trap);
}

static void host_functions(env_t *e) {
  wasmpool_store_t *store = wasmpool_store_new(e->engine, NULL, NULL);
  wasmpool_instance_t *instance;
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_instance_new(store, e->module, e->linker, &instance, &trap));
  CHECK(trap == NULL);
  wasmpool_func_t *wait = get_func(instance, "wait"), *fail = get_func(instance, "fail");

  /* 1. n polls pending, then the result; done at once: no suspension. */
  for (int n = 0; n < 4; n++) {
    int finalized = conts_finalized;
    wasmpool_val_t arg = val_i32(n), result = val_i32(-1);
    CHECK(call_async(store, wait, &arg, 1, &result, 1, &trap) == n);
    CHECK(trap == NULL && result.kind == WASMPOOL_I32 && result.of.i32 == 2 * n);
    CHECK(conts_finalized == finalized + (n > 0));
  }

  /* 2. A trap at once, a trap later. */
  int finalized = conts_finalized;
  wasmpool_val_t arg = val_i32(0);
  CHECK(call_async(store, fail, &arg, 1, NULL, 0, &trap) == 0);
  expect_trap(trap, "failed at once");
  CHECK(never_called == 0 && conts_finalized == finalized + 1);
  arg = val_i32(2);
  CHECK(call_async(store, fail, &arg, 1, NULL, 0, &trap) == 2);
  expect_trap(trap, "failed later");
  CHECK(conts_finalized == finalized + 2);

  /* 3. Memory from the continuation; the store refuses calls meanwhile. */
  poke_store = store;
  poke_func = wait;
  wasmpool_val_t result;
  CHECK(call_async(store, get_func(instance, "poke"), NULL, 0, &result, 1, &trap) == 1);
  CHECK(trap == NULL && result.of.i32 == 42);

  /* 4. A synchronous call: a host trap, the callback never runs. */
  int polls = cont_polls;
  arg = val_i32(2);
  char message[256];
  CHECK(call_trap(store, wait, &arg, 1, &result, 1, message, sizeof message) == WASMPOOL_TRAP_HOST);
  CHECK(strstr(message, "outside a resumable call") != NULL);
  CHECK(cont_polls == polls);

  /* 5. Abandoned while its continuation is pending. */
  finalized = conts_finalized;
  arg = val_i32(1000);
  result = val_i32(-1);
  wasmpool_error_t *err;
  wasmpool_call_future_t *f = wasmpool_func_call_async(store, wait, &arg, 1, &result, 1, &trap, &err);
  for (int i = 0; i < 3; i++) CHECK(!wasmpool_call_future_poll(f));
  CHECK(pool_metrics(e->engine).stacks == 1);
  wasmpool_call_future_delete(f);
  CHECK(conts_finalized == finalized + 1 && pool_metrics(e->engine).stacks == 0);
  CHECK(trap == NULL && err == NULL && result.of.i32 == -1);
  arg = val_i32(1);
  CHECK(call_async(store, wait, &arg, 1, &result, 1, &trap) == 1 && result.of.i32 == 2);
  wasmpool_store_delete(store);
}

/* A store whose every epoch check finds the deadline passed, so wasm yields at each. */
static wasmpool_store_t *yielding_store(env_t *e) {
  wasmpool_store_t *store = wasmpool_store_new(e->engine, NULL, NULL);
  wasmpool_store_set_epoch_deadline(store, 0);
  wasmpool_store_epoch_deadline_async_yield_and_update(store, 0);
  return store;
}

static void instantiation(env_t *e) {
  wasmpool_instance_pre_t *pre;
  OK(wasmpool_linker_instantiate_pre(e->linker, e->start_module, &pre));
  for (int way = 0; way < 2; way++) {
    wasmpool_store_t *store = yielding_store(e);
    wasmpool_instance_t *instance = NULL;
    wasmpool_trap_t *trap;
    wasmpool_error_t *err;
    wasmpool_call_future_t *f =
        way == 0 ? wasmpool_linker_instantiate_async(e->linker, store, e->start_module, &instance, &trap, &err)
                 : wasmpool_instance_pre_instantiate_async(pre, store, &instance, &trap, &err);
    CHECK(!wasmpool_call_future_poll(f));
    CHECK(instance == NULL && pool_metrics(e->engine).stacks == 1);
    CHECK(drive_future(f) >= 3 + 9); /* the wait's 3 polls and the loop's epoch yields */
    CHECK(trap == NULL && err == NULL && instance != NULL);
    wasmpool_call_future_delete(f);
    if (instance != NULL) {
      wasmpool_global_t *g;
      OK(wasmpool_instance_get_global(instance, "g", &g));
      wasmpool_val_t v;
      wasmpool_global_get(g, &v);
      CHECK(v.kind == WASMPOOL_I32 && v.of.i32 == 6);
    }
    wasmpool_store_delete(store);
  }
  wasmpool_instance_pre_delete(pre);

  /* Synchronously, the start function's async host function traps. */
  wasmpool_store_t *store = wasmpool_store_new(e->engine, NULL, NULL);
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_instance_new(store, e->start_module, e->linker, &instance, &trap));
  CHECK(instance == NULL);
  expect_trap(trap, "outside a resumable call");

  /* A start trap, and a link error (reported by the first poll; the store stays usable). */
  wasmpool_module_t *traps = compile_wat(e->engine, "(module (func $s unreachable) (start $s))");
  wasmpool_module_t *unlinked = compile_wat(e->engine, "(module (import \"nope\" \"f\" (func)))");
  wasmpool_error_t *err;
  wasmpool_call_future_t *f = wasmpool_linker_instantiate_async(e->linker, store, traps, &instance, &trap, &err);
  CHECK(drive_future(f) == 0 && err == NULL && instance == NULL);
  CHECK(trap != NULL && wasmpool_trap_code(trap) == WASMPOOL_TRAP_UNREACHABLE);
  wasmpool_trap_delete(trap);
  wasmpool_call_future_delete(f);
  f = wasmpool_linker_instantiate_async(e->linker, store, unlinked, &instance, &trap, &err);
  CHECK(wasmpool_call_future_poll(f) && trap == NULL && instance == NULL);
  EXPECT_ERROR(err, WASMPOOL_ERROR_LINK, "nope::f");
  wasmpool_call_future_delete(f);
  wasmpool_module_delete(traps);
  wasmpool_module_delete(unlinked);
  OK(wasmpool_instance_new(store, e->module, e->linker, &instance, &trap));
  wasmpool_store_delete(store);
}

static void store_deleted_first(env_t *e) {
  for (int what = 0; what < 2; what++) {
    int finalized = conts_finalized, stores = store_finalized;
    wasmpool_store_t *store = wasmpool_store_new(e->engine, NULL, count_store);
    wasmpool_instance_t *instance = NULL;
    wasmpool_trap_t *trap = NULL;
    wasmpool_error_t *err = NULL;
    wasmpool_val_t arg = val_i32(1000), result = val_i32(-1);
    wasmpool_call_future_t *f;
    if (what == 0) {
      OK(wasmpool_instance_new(store, e->module, e->linker, &instance, &trap));
      f = wasmpool_func_call_async(store, get_func(instance, "wait"), &arg, 1, &result, 1, &trap, &err);
    } else {
      f = wasmpool_linker_instantiate_async(e->linker, store, e->start_module, &instance, &trap, &err);
    }
    for (int i = 0; i < 2; i++) CHECK(!wasmpool_call_future_poll(f)); /* the start waits 3 */
    wasmpool_pool_metrics_t m = pool_metrics(e->engine);
    CHECK(m.stacks == 1 && m.core_instances == 1);
    wasmpool_store_delete(store); /* abandons the call first */
    m = pool_metrics(e->engine);
    CHECK(m.stacks == 0 && m.core_instances == 0 && m.memories == 0);
    CHECK(conts_finalized == finalized + 1 && store_finalized == stores + 1);
    CHECK(trap == NULL && err == NULL && result.of.i32 == -1);
    CHECK(what == 0 || instance == NULL);
    CHECK(wasmpool_call_future_poll(f));
    CHECK(trap == NULL && result.of.i32 == -1);
    EXPECT_ERROR(err, WASMPOOL_ERROR_INVALID_ARGUMENT, "store was deleted");
    CHECK(wasmpool_call_future_poll(f)); /* over: nothing more */
    wasmpool_call_future_delete(f);
  }
}

/* A sync host function of store A calling into store B, from a resumable call of A: B's
 * call is synchronous, so neither its epoch deadlines nor its async host functions may
 * suspend A's fiber under it (B is not busy and could be used meanwhile). */
static const char *const B_WAT =
    "(module\n"
    "  (import \"host\" \"wait\" (func $wait (param i32) (result i32)))\n"
    "  (func (export \"spin\") (param $n i32) (result i32)\n"
    "    (loop $top\n"
    "      (local.set $n (i32.sub (local.get $n) (i32.const 1)))\n"
    "      (br_if $top (local.get $n)))\n"
    "    (i32.const 7))\n"
    "  (func (export \"wait\") (param i32) (result i32) (call $wait (local.get 0))))\n";

static wasmpool_store_t *store_b;
static wasmpool_instance_t *instance_b;

/* into_b(0): B.spin(100) (yields at each turn if B's call could); into_b(1): B.wait(2). */
static wasmpool_trap_t *into_b(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                               wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)caller; (void)nargs; (void)nresults;
  wasmpool_val_t arg = val_i32(args[0].of.i32 == 0 ? 100 : 2);
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_func_call(store_b, get_func(instance_b, args[0].of.i32 == 0 ? "spin" : "wait"), &arg, 1, results, 1,
                        &trap));
  return trap;
}

static void nested_sync_call(env_t *e) {
  store_b = yielding_store(e);
  wasmpool_trap_t *trap = NULL;
  wasmpool_module_t *b = compile_wat(e->engine, B_WAT);
  OK(wasmpool_instance_new(store_b, b, e->linker, &instance_b, &trap));
  wasmpool_module_t *a = compile_wat(e->engine, "(module (import \"host\" \"into_b\" (func $b (param i32) (result i32)))"
                                                "  (func (export \"run\") (param i32) (result i32) (call $b (local.get 0))))");
  wasmpool_linker_t *linker = wasmpool_linker_new(e->engine);
  OK(wasmpool_linker_define_func(linker, "host", "into_b", &I32, 1, &I32, 1, into_b, NULL, NULL));
  wasmpool_store_t *store_a = wasmpool_store_new(e->engine, NULL, NULL);
  wasmpool_instance_t *instance_a;
  OK(wasmpool_instance_new(store_a, a, linker, &instance_a, &trap));
  wasmpool_func_t *run = get_func(instance_a, "run");
  int polls = cont_polls;
  wasmpool_val_t arg = val_i32(0), result = val_i32(-1);
  CHECK(call_async(store_a, run, &arg, 1, &result, 1, &trap) == 0);
  CHECK(trap == NULL && result.of.i32 == 7);
  arg = val_i32(1);
  CHECK(call_async(store_a, run, &arg, 1, &result, 1, &trap) == 0);
  expect_trap(trap, "outside a resumable call");
  CHECK(cont_polls == polls);
  wasmpool_store_delete(store_a);
  wasmpool_store_delete(store_b);
  wasmpool_linker_delete(linker);
  wasmpool_module_delete(a);
  wasmpool_module_delete(b);
}

int main(void) {
  env_t e = make_env();
  host_functions(&e);
  instantiation(&e);
  store_deleted_first(&e);
  nested_sync_call(&e);
  CHECK(never_called == 0);
  CHECK(env_finalized == 0);
  drop_env(e);
  CHECK(env_finalized == 3);
  return finish("test_async_host");
}
