/* ctest: every trap code WebAssembly can raise through this runtime, reported through
 * the C API with its code and a message, on an on-demand and a pooling engine; after
 * each trap the instance, the store and the pool keep working (the trapping instance
 * answers another call, new instances come from the pool, nothing leaks a slot).
 *
 * WASMPOOL_TRAP_HEAP_MISALIGNED is the one code not raised: only atomic accesses trap on
 * misalignment, and the threads proposal (atomics) is not supported. */
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"

static const char *const WAT =
    "(module\n"
    "  (import \"host\" \"fail\" (func $fail))\n"
    "  (type $i (func (result i32)))\n"
    "  (type $v (func))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (table 3 funcref)\n"
    "  (elem (i32.const 0) $ok $v)\n"
    "  (func $ok (export \"ok\") (result i32) i32.const 1)\n"
    "  (func $v)\n"
    "  (func $rec (export \"stack_overflow\") (call $rec))\n"
    "  (func (export \"memory_oob\") (result i32) (i32.load (i32.const 70000)))\n"
    "  (func (export \"table_oob\") (result i32) (call_indirect (type $i) (i32.const 10)))\n"
    "  (func (export \"call_null\") (result i32) (call_indirect (type $i) (i32.const 2)))\n"
    "  (func (export \"bad_signature\") (result i32) (call_indirect (type $i) (i32.const 1)))\n"
    "  (func (export \"int_overflow\") (result i32) (i32.div_s (i32.const 0x80000000) (i32.const -1)))\n"
    "  (func (export \"div_zero\") (result i32) (i32.div_u (i32.const 1) (i32.const 0)))\n"
    "  (func (export \"bad_conversion\") (result i32) (i32.trunc_f32_s (f32.const nan)))\n"
    "  (func (export \"unreachable\") unreachable)\n"
    "  (func (export \"spin\") (loop (br 0)))\n"
    "  (func (export \"host\") (call $fail)))\n";

static wasmpool_trap_t *host_fail(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                  wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)caller; (void)args; (void)nargs; (void)results; (void)nresults;
  return wasmpool_trap_new("the host says no");
}

struct expectation {
  const char *export_name;
  int nresults;
  wasmpool_trap_code_t code;
  const char *message; /* a substring of the trap's message */
};

static const struct expectation EXPECT[] = {
    {"stack_overflow", 0, WASMPOOL_TRAP_STACK_OVERFLOW, "stack"},
    {"memory_oob", 1, WASMPOOL_TRAP_MEMORY_OUT_OF_BOUNDS, "out of bounds memory"},
    {"table_oob", 1, WASMPOOL_TRAP_TABLE_OUT_OF_BOUNDS, "table"},
    {"call_null", 1, WASMPOOL_TRAP_INDIRECT_CALL_TO_NULL, "uninitialized element"},
    {"bad_signature", 1, WASMPOOL_TRAP_BAD_SIGNATURE, "indirect call type mismatch"},
    {"int_overflow", 1, WASMPOOL_TRAP_INTEGER_OVERFLOW, "integer overflow"},
    {"div_zero", 1, WASMPOOL_TRAP_INTEGER_DIVISION_BY_ZERO, "divide by zero"},
    {"bad_conversion", 1, WASMPOOL_TRAP_BAD_CONVERSION_TO_INTEGER, "invalid conversion"},
    {"unreachable", 0, WASMPOOL_TRAP_UNREACHABLE, "unreachable"},
    {"host", 0, WASMPOOL_TRAP_HOST, "the host says no"},
};
#define NEXPECT (sizeof EXPECT / sizeof EXPECT[0])

struct ticker {
  wasmpool_engine_t *engine;
  volatile int stop;
};

static void *tick(void *arg) {
  struct ticker *t = arg;
  while (!t->stop) {
    usleep(2000);
    wasmpool_engine_increment_epoch(t->engine);
  }
  return NULL;
}

static int codes_seen[13];

static void check_trap(wasmpool_trap_t *trap, wasmpool_trap_code_t code, const char *needle, const char *what) {
  if (trap == NULL) {
    fprintf(stderr, "%s: no trap\n", what);
    failures++;
    return;
  }
  const char *message = wasmpool_trap_message(trap);
  if (wasmpool_trap_code(trap) != code || strstr(message, needle) == NULL) {
    fprintf(stderr, "%s: trap %d \"%s\", want %d with \"%s\"\n", what, wasmpool_trap_code(trap), message, code, needle);
    failures++;
  }
  codes_seen[code]++;
  wasmpool_trap_delete(trap);
}

/* A store; with fuel enabled it starts with 0 fuel, so give it plenty. */
static wasmpool_store_t *new_store(wasmpool_engine_t *engine, int with_fuel) {
  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  if (with_fuel) OK(wasmpool_store_set_fuel(store, UINT64_MAX / 4));
  return store;
}

static void run(wasmpool_engine_t *engine, int with_fuel_and_epochs) {
  wasmpool_module_t *module = compile_wat(engine, WAT);
  wasmpool_linker_t *linker = wasmpool_linker_new(engine);
  OK(wasmpool_linker_define_func(linker, "host", "fail", NULL, 0, NULL, 0, host_fail, NULL, NULL));
  wasmpool_store_t *store = new_store(engine, with_fuel_and_epochs);
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_instance_new(store, module, linker, &instance, &trap));
  wasmpool_func_t *ok = get_func(instance, "ok");

  for (size_t i = 0; i < NEXPECT; i++) {
    wasmpool_val_t result;
    OK(wasmpool_func_call(store, get_func(instance, EXPECT[i].export_name), NULL, 0, &result,
                          (size_t)EXPECT[i].nresults, &trap));
    if (EXPECT[i].code != WASMPOOL_TRAP_HOST && trap != NULL) {
      uint32_t index = 0;
      CHECK(wasmpool_trap_function_index(trap, &index));
    }
    check_trap(trap, EXPECT[i].code, EXPECT[i].message, EXPECT[i].export_name);
    /* The instance keeps working after the trap. */
    wasmpool_val_t one;
    call_ok(store, ok, NULL, 0, &one, 1);
    CHECK(one.of.i32 == 1);
  }

  if (with_fuel_and_epochs) {
    wasmpool_func_t *spin = get_func(instance, "spin");
    /* Fuel runs out. */
    OK(wasmpool_store_set_fuel(store, 10000));
    OK(wasmpool_func_call(store, spin, NULL, 0, NULL, 0, &trap));
    check_trap(trap, WASMPOOL_TRAP_OUT_OF_FUEL, "fuel", "spin with 10000 fuel");
    uint64_t left = 1;
    OK(wasmpool_store_get_fuel(store, &left));
    CHECK(left == 0);
    OK(wasmpool_store_set_fuel(store, UINT64_MAX / 4));
    /* The epoch deadline passes while another thread ticks. */
    struct ticker ticker = {engine, 0};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, tick, &ticker) == 0);
    wasmpool_store_set_epoch_deadline(store, 3);
    OK(wasmpool_func_call(store, spin, NULL, 0, NULL, 0, &trap));
    check_trap(trap, WASMPOOL_TRAP_INTERRUPT, "interrupt", "spin until the epoch deadline");
    ticker.stop = 1;
    pthread_join(thread, NULL);
    wasmpool_store_set_epoch_deadline(store, UINT64_MAX / 2);
    wasmpool_val_t one;
    call_ok(store, ok, NULL, 0, &one, 1);
  }
  wasmpool_store_delete(store);

  /* A trapping start function: a trap, no instance; the slot goes back with the store. */
  wasmpool_module_t *bad_start = compile_wat(engine, "(module (memory 1) (func $s unreachable) (start $s))");
  store = new_store(engine, with_fuel_and_epochs);
  instance = NULL;
  OK(wasmpool_instance_new(store, bad_start, NULL, &instance, &trap));
  CHECK(instance == NULL);
  check_trap(trap, WASMPOOL_TRAP_UNREACHABLE, "unreachable", "start function");
  wasmpool_store_delete(store);
  wasmpool_module_delete(bad_start);

  /* The pool is intact: many fresh instances afterwards, and nothing live at the end. */
  for (int i = 0; i < 50; i++) {
    store = new_store(engine, with_fuel_and_epochs);
    OK(wasmpool_instance_new(store, module, linker, &instance, &trap));
    CHECK(trap == NULL);
    wasmpool_val_t result;
    CHECK(call_trap(store, get_func(instance, "memory_oob"), NULL, 0, &result, 1, NULL, 0) ==
          WASMPOOL_TRAP_MEMORY_OUT_OF_BOUNDS);
    wasmpool_store_delete(store);
  }
  wasmpool_pool_metrics_t m;
  if (wasmpool_engine_pool_metrics(engine, &m)) {
    CHECK(m.core_instances == 0 && m.memories == 0 && m.tables == 0);
  }
  wasmpool_linker_delete(linker);
  wasmpool_module_delete(module);
}

int main(void) {
  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_consume_fuel(config, true);
  wasmpool_config_set_epoch_interruption(config, true);

  wasmpool_engine_t *engine = on_demand_engine();
  run(engine, 0);
  wasmpool_engine_delete(engine);

  OK(wasmpool_engine_new(config, &engine));
  run(engine, 1);
  wasmpool_engine_delete(engine);

  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, 4);
  wasmpool_pool_config_set_total_memories(pool, 4);
  wasmpool_pool_config_set_total_tables(pool, 4);
  OK(wasmpool_engine_new_with_pooling(config, pool, &engine));
  run(engine, 1);
  wasmpool_engine_delete(engine);
  wasmpool_pool_config_delete(pool);
  wasmpool_config_delete(config);

  for (int code = 0; code <= WASMPOOL_TRAP_HOST; code++) {
    if (code == WASMPOOL_TRAP_HEAP_MISALIGNED) continue;
    if (codes_seen[code] == 0) {
      fprintf(stderr, "trap code %d was never raised\n", code);
      failures++;
    }
  }
  return finish("test_traps");
}
