/* ctest: a program written only against the C API contract (tests/c/capi-contract.h,
 * a copy of ../shared/capi-contract.h): it calls every function the contract
 * declares, with the contract's types, and checks the documented behaviour. It
 * includes our generated header, so it also proves the header serves such
 * programs (the CMake build compiles it with -Wall -Wextra -Werror). */
#include "testutil.h"

static const char *const WAT =
    "(module\n"
    "  (import \"host\" \"add\" (func $add (param i32 i32) (result i32)))\n"
    "  (import \"host\" \"peek\" (func $peek (param i32) (result i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (global (export \"counter\") (mut i64) (i64.const 7))\n"
    "  (data (i32.const 16) \"hello\")\n"
    "  (func (export \"sum\") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))\n"
    "  (func (export \"peek\") (param i32) (result i32) (call $peek (local.get 0)))\n"
    "  (func (export \"mix\") (param i64 f32 f64) (result f64)\n"
    "    (f64.add (f64.add (f64.convert_i64_s (local.get 0)) (f64.promote_f32 (local.get 1))) (local.get 2)))\n"
    "  (func (export \"loop\") (loop (br 0)))\n"
    "  (func (export \"crash\") unreachable))\n";

static int finalized = 0;
static void finalize(void *env) { (void)env; finalized++; }

static wasmpool_trap_t *host_add(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                 wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)caller;
  if (nargs != 2 || nresults != 1) return wasmpool_trap_new("bad arity");
  results[0].kind = WASMPOOL_I32;
  results[0].of.i32 = args[0].of.i32 + args[1].of.i32;
  return NULL;
}

/* Reads the byte at args[0] from the caller's memory; traps past the end. */
static wasmpool_trap_t *host_peek(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                  wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)nargs; (void)nresults;
  wasmpool_memory_t *memory = NULL;
  wasmpool_error_t *err = wasmpool_caller_get_memory(caller, "memory", &memory);
  if (err != NULL) {
    wasmpool_error_delete(err);
    return wasmpool_trap_new("no memory");
  }
  uint32_t at = (uint32_t)args[0].of.i32;
  if (at >= wasmpool_memory_data_size(memory)) return wasmpool_trap_new("peek out of range");
  results[0].kind = WASMPOOL_I32;
  results[0].of.i32 = wasmpool_memory_data(memory)[at];
  return NULL;
}

static void run(wasmpool_engine_t *engine, int pooled) {
  uint8_t *wasm = NULL;
  size_t wasm_len = 0;
  OK(wasmpool_wat2wasm(WAT, strlen(WAT), &wasm, &wasm_len));
  wasmpool_module_t *module = NULL;
  OK(wasmpool_module_new(engine, wasm, wasm_len, &module));
  wasmpool_bytes_delete(wasm, wasm_len);

  wasmpool_linker_t *linker = wasmpool_linker_new(engine);
  CHECK(linker != NULL);
  const wasmpool_valkind_t ii[2] = {WASMPOOL_I32, WASMPOOL_I32};
  const wasmpool_valkind_t i[1] = {WASMPOOL_I32};
  OK(wasmpool_linker_define_func(linker, "host", "add", ii, 2, i, 1, host_add, NULL, finalize));
  OK(wasmpool_linker_define_func(linker, "host", "peek", i, 1, i, 1, host_peek, NULL, NULL));
  wasmpool_instance_pre_t *pre = NULL;
  OK(wasmpool_linker_instantiate_pre(linker, module, &pre));

  int data = 5;
  for (int round = 0; round < 3; round++) {
    wasmpool_store_t *store = wasmpool_store_new(engine, &data, NULL);
    CHECK(store != NULL);
    CHECK(wasmpool_store_data(store) == &data);
    wasmpool_instance_t *instance = NULL;
    wasmpool_trap_t *trap = NULL;
    if (round == 0) {
      OK(wasmpool_instance_new(store, module, linker, &instance, &trap));
    } else {
      OK(wasmpool_instance_pre_instantiate(pre, store, &instance, &trap));
    }
    CHECK(trap == NULL && instance != NULL);

    wasmpool_func_t *sum = NULL, *peek = NULL, *mix = NULL, *crash = NULL;
    OK(wasmpool_instance_get_func(instance, "sum", &sum));
    OK(wasmpool_instance_get_func(instance, "peek", &peek));
    OK(wasmpool_instance_get_func(instance, "mix", &mix));
    OK(wasmpool_instance_get_func(instance, "crash", &crash));

    wasmpool_val_t args[3], results[1];
    args[0].kind = WASMPOOL_I32; args[0].of.i32 = 40;
    args[1].kind = WASMPOOL_I32; args[1].of.i32 = 2;
    OK(wasmpool_func_call(store, sum, args, 2, results, 1, &trap));
    CHECK(trap == NULL && results[0].kind == WASMPOOL_I32 && results[0].of.i32 == 42);

    args[0].of.i32 = 16;
    OK(wasmpool_func_call(store, peek, args, 1, results, 1, &trap));
    CHECK(trap == NULL && results[0].of.i32 == 'h');

    args[0].kind = WASMPOOL_I64; args[0].of.i64 = 1;
    args[1].kind = WASMPOOL_F32; args[1].of.f32 = 0.5f;
    args[2].kind = WASMPOOL_F64; args[2].of.f64 = 0.25;
    OK(wasmpool_func_call(store, mix, args, 3, results, 1, &trap));
    CHECK(trap == NULL && results[0].kind == WASMPOOL_F64 && results[0].of.f64 == 1.75);

    /* Wrong arity and kinds are errors, and nothing runs. */
    wasmpool_error_t *err = wasmpool_func_call(store, mix, args, 2, results, 1, &trap);
    CHECK(err != NULL && wasmpool_error_kind(err) == WASMPOOL_ERROR_INVALID_ARGUMENT);
    wasmpool_error_delete(err);
    args[0].kind = WASMPOOL_I32;
    err = wasmpool_func_call(store, mix, args, 3, results, 1, &trap);
    CHECK(err != NULL && wasmpool_error_kind(err) == WASMPOOL_ERROR_INVALID_ARGUMENT);
    wasmpool_error_delete(err);

    /* A trap in wasm, and one raised by the host. */
    OK(wasmpool_func_call(store, crash, NULL, 0, NULL, 0, &trap));
    CHECK(trap != NULL && wasmpool_trap_code(trap) == WASMPOOL_TRAP_UNREACHABLE);
    CHECK(strlen(wasmpool_trap_message(trap)) > 0);
    wasmpool_trap_delete(trap);
    args[0].kind = WASMPOOL_I32; args[0].of.i32 = 1 << 20;
    OK(wasmpool_func_call(store, peek, args, 1, results, 1, &trap));
    CHECK(trap != NULL && wasmpool_trap_code(trap) == WASMPOOL_TRAP_HOST);
    /* The host's message, then the wasm frame that called the host. */
    CHECK(trap != NULL && strncmp(wasmpool_trap_message(trap), "peek out of range\nwasm backtrace:\n", 34) == 0);
    wasmpool_trap_delete(trap);

    /* Memory: pristine in each store, writable, growable. */
    wasmpool_memory_t *memory = NULL;
    OK(wasmpool_instance_get_memory(instance, "memory", &memory));
    CHECK(wasmpool_memory_data_size(memory) == 65536);
    CHECK(memcmp(wasmpool_memory_data(memory) + 16, "hello", 5) == 0);
    CHECK(wasmpool_memory_data(memory)[100] == 0);
    wasmpool_memory_data(memory)[100] = 1;
    uint64_t prev = 0;
    OK(wasmpool_memory_grow(memory, 1, &prev));
    CHECK(prev == 1 && wasmpool_memory_data_size(memory) == 2 * 65536);

    /* Globals: pristine, then set. */
    wasmpool_global_t *counter = NULL;
    OK(wasmpool_instance_get_global(instance, "counter", &counter));
    wasmpool_val_t value;
    wasmpool_global_get(counter, &value);
    CHECK(value.kind == WASMPOOL_I64 && value.of.i64 == 7);
    value.of.i64 = 99;
    OK(wasmpool_global_set(counter, &value));
    wasmpool_global_get(counter, &value);
    CHECK(value.of.i64 == 99);

    /* Fuel and epochs are off in this engine: fuel calls are UNSUPPORTED. */
    err = wasmpool_store_set_fuel(store, 100);
    CHECK(err != NULL && wasmpool_error_kind(err) == WASMPOOL_ERROR_UNSUPPORTED);
    wasmpool_error_delete(err);
    uint64_t fuel = 0;
    err = wasmpool_store_get_fuel(store, &fuel);
    CHECK(err != NULL && wasmpool_error_kind(err) == WASMPOOL_ERROR_UNSUPPORTED);
    wasmpool_error_delete(err);
    wasmpool_store_set_epoch_deadline(store, 1);
    wasmpool_engine_increment_epoch(engine);

    wasmpool_store_delete(store);
  }

  wasmpool_pool_metrics_t metrics;
  memset(&metrics, 0xff, sizeof metrics);
  bool have = wasmpool_engine_pool_metrics(engine, &metrics);
  CHECK(have == (pooled != 0));
  if (pooled) {
    CHECK(metrics.core_instances == 0 && metrics.memories == 0 && metrics.tables == 0);
    CHECK(metrics.unused_warm_memories <= 10);
    CHECK(metrics.unused_warm_tables <= 10);
    CHECK(metrics.unused_memory_bytes_resident < (uint64_t)1 << 40);
    CHECK(metrics.unused_table_bytes_resident < (uint64_t)1 << 40);
  }

  CHECK(finalized == 0);
  wasmpool_instance_pre_delete(pre);
  wasmpool_linker_delete(linker);
  CHECK(finalized == 1); /* the stores using `add` are gone, then its last owners */
  finalized = 0;
  wasmpool_module_delete(module);
}

static void fuel_and_epochs(void) {
  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_consume_fuel(config, true);
  wasmpool_config_set_epoch_interruption(config, true);
  wasmpool_engine_t *engine = NULL;
  OK(wasmpool_engine_new(config, &engine));
  wasmpool_config_delete(config);

  uint8_t *wasm = NULL;
  size_t len = 0;
  OK(wasmpool_wat2wasm(WAT, strlen(WAT), &wasm, &len));
  wasmpool_module_t *module = NULL;
  OK(wasmpool_module_new(engine, wasm, len, &module));
  wasmpool_bytes_delete(wasm, len);
  wasmpool_linker_t *linker = wasmpool_linker_new(engine);
  const wasmpool_valkind_t ii[2] = {WASMPOOL_I32, WASMPOOL_I32};
  OK(wasmpool_linker_define_func(linker, "host", "add", ii, 2, ii, 1, host_add, NULL, NULL));
  OK(wasmpool_linker_define_func(linker, "host", "peek", ii, 1, ii, 1, host_peek, NULL, NULL));

  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_store_set_fuel(store, 1000000));
  uint64_t fuel = 0;
  OK(wasmpool_store_get_fuel(store, &fuel));
  CHECK(fuel == 1000000);
  OK(wasmpool_instance_new(store, module, linker, &instance, &trap));
  wasmpool_func_t *loop = NULL;
  OK(wasmpool_instance_get_func(instance, "loop", &loop));

  OK(wasmpool_func_call(store, loop, NULL, 0, NULL, 0, &trap));
  CHECK(trap != NULL && wasmpool_trap_code(trap) == WASMPOOL_TRAP_OUT_OF_FUEL);
  wasmpool_trap_delete(trap);

  OK(wasmpool_store_set_fuel(store, UINT64_MAX / 2));
  wasmpool_store_set_epoch_deadline(store, 0);
  OK(wasmpool_func_call(store, loop, NULL, 0, NULL, 0, &trap));
  CHECK(trap != NULL && wasmpool_trap_code(trap) == WASMPOOL_TRAP_INTERRUPT);
  wasmpool_trap_delete(trap);

  wasmpool_store_delete(store);
  wasmpool_linker_delete(linker);
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
}

int main(void) {
  /* Configuration objects: every setter of the contract. */
  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_memory_reservation(config, (uint64_t)4 << 30);
  wasmpool_config_set_memory_guard_size(config, 32 << 20);
  wasmpool_config_set_memory_init_cow(config, true);
  wasmpool_config_set_max_wasm_stack(config, 512 << 10);
  wasmpool_config_set_consume_fuel(config, false);
  wasmpool_config_set_epoch_interruption(config, false);

  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, 10);
  wasmpool_pool_config_set_total_memories(pool, 10);
  wasmpool_pool_config_set_total_tables(pool, 10);
  wasmpool_pool_config_set_max_core_instance_size(pool, 1 << 20);
  wasmpool_pool_config_set_max_memories_per_module(pool, 1);
  wasmpool_pool_config_set_max_tables_per_module(pool, 1);
  wasmpool_pool_config_set_max_memory_size(pool, 1 << 20);
  wasmpool_pool_config_set_table_elements(pool, 1000);
  wasmpool_pool_config_set_max_unused_warm_slots(pool, 10);
  wasmpool_pool_config_set_decommit_batch_size(pool, 1);
  wasmpool_pool_config_set_linear_memory_keep_resident(pool, 65536);
  wasmpool_pool_config_set_table_keep_resident(pool, 4096);
  wasmpool_pool_config_set_memory_protection_keys(pool, WASMPOOL_MPK_DISABLE);
  wasmpool_pool_config_set_max_memory_protection_keys(pool, 16);

  wasmpool_engine_t *on_demand = NULL, *pooled = NULL;
  OK(wasmpool_engine_new(config, &on_demand));
  OK(wasmpool_engine_new_with_pooling(config, pool, &pooled));
  wasmpool_config_delete(config);
  wasmpool_pool_config_delete(pool);

  run(on_demand, 0);
  run(pooled, 1);
  fuel_and_epochs();

  /* Errors: kind and message; NULL is safe everywhere. */
  wasmpool_module_t *module = NULL;
  const uint8_t garbage[4] = {1, 2, 3, 4};
  wasmpool_error_t *err = wasmpool_module_new(pooled, garbage, sizeof garbage, &module);
  CHECK(err != NULL && wasmpool_error_kind(err) == WASMPOOL_ERROR_INVALID_MODULE);
  CHECK(strlen(wasmpool_error_message(err)) > 0);
  wasmpool_error_delete(err);
  wasmpool_trap_t *trap = wasmpool_trap_new("made by hand");
  CHECK(wasmpool_trap_code(trap) == WASMPOOL_TRAP_HOST);
  CHECK(strcmp(wasmpool_trap_message(trap), "made by hand") == 0);
  wasmpool_trap_delete(trap);

  wasmpool_error_delete(NULL);
  wasmpool_config_delete(NULL);
  wasmpool_pool_config_delete(NULL);
  wasmpool_engine_delete(NULL);
  wasmpool_module_delete(NULL);
  wasmpool_linker_delete(NULL);
  wasmpool_instance_pre_delete(NULL);
  wasmpool_store_delete(NULL);
  wasmpool_trap_delete(NULL);
  wasmpool_bytes_delete(NULL, 0);

  wasmpool_engine_delete(on_demand);
  wasmpool_engine_delete(pooled);
  if (failures) {
    fprintf(stderr, "test_contract: %d check(s) failed\n", failures);
    return 1;
  }
  printf("test_contract: every contract function behaves as documented\n");
  return 0;
}
