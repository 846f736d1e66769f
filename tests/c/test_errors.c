/* ctest: hostile and mistaken input never crashes and is reported precisely.
 *  1. NULL for every pointer parameter of every function, table-driven: fallible
 *     functions return WASMPOOL_ERROR_INVALID_ARGUMENT naming the parameter; deletes,
 *     setters and queries do nothing or return their documented neutral value.
 *     (check_coverage.sh fails when a function of the header is missing here.)
 *  2. Malformed wasm and bad WAT: WASMPOOL_ERROR_INVALID_MODULE.
 *  3. Link errors: WASMPOOL_ERROR_LINK naming the import.
 *  4. Wrong arity, kinds, stores and names in calls and lookups: INVALID_ARGUMENT, and
 *     nothing runs.
 *  5. Every per-module limit of the pool: WASMPOOL_ERROR_LIMIT naming the knob.
 *  6. Pool exhaustion with total_core_instances = 2: the third live instance gets
 *     WASMPOOL_ERROR_POOL_EXHAUSTED, and freeing one makes room.
 *  7. WASMPOOL_MPK_ENABLE on a host without protection keys: WASMPOOL_ERROR_UNSUPPORTED. */
#include "testutil.h"

static const char *const WAT =
    "(module\n"
    "  (memory (export \"memory\") 1 2)\n"
    "  (global (export \"g\") (mut i32) (i32.const 1))\n"
    "  (global (export \"const\") i32 (i32.const 2))\n"
    "  (table (export \"table\") 1 2 funcref)\n"
    "  (func (export \"add\") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))\n"
    "  (func (export \"side_effect\") (param i32) (i32.store (i32.const 0) (local.get 0))))\n";

/* Valid objects for the parameters that are not under test. */
static struct {
  wasmpool_config_t *config;
  wasmpool_pool_config_t *pool;
  wasmpool_engine_t *engine;
  wasmpool_module_t *module;
  wasmpool_linker_t *linker;
  wasmpool_instance_pre_t *pre;
  wasmpool_store_t *store;
  wasmpool_instance_t *instance;
  wasmpool_func_t *func;
  wasmpool_memory_t *memory;
  wasmpool_global_t *global;
  wasmpool_table_t *table;
  wasmpool_trap_t *trap_obj;
  const wasmpool_externtype_t *externtype;
  wasmpool_val_t val;
  wasmpool_val_t vals[2];
  wasmpool_memorytype_t memorytype;
  wasmpool_globaltype_t globaltype;
  wasmpool_tabletype_t tabletype;
  wasmpool_pool_metrics_t metrics;
  /* out-parameters */
  wasmpool_engine_t *engine_out;
  wasmpool_module_t *module_out;
  wasmpool_instance_pre_t *pre_out;
  wasmpool_instance_t *instance_out;
  wasmpool_func_t *func_out;
  wasmpool_memory_t *memory_out;
  wasmpool_global_t *global_out;
  wasmpool_table_t *table_out;
  wasmpool_trap_t *trap;
  uint8_t *bytes;
  size_t len;
  uint64_t u64;
  uint32_t u32;
  const char *str;
  wasmpool_externkind_t kind;
} F;

static const uint8_t EMPTY_MODULE[8] = {0, 'a', 's', 'm', 1, 0, 0, 0};
static const wasmpool_valkind_t I32[2] = {WASMPOOL_I32, WASMPOOL_I32};

static wasmpool_trap_t *noop(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                             wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)caller; (void)args; (void)nargs; (void)results; (void)nresults;
  return NULL;
}

static void noop_async(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                       wasmpool_val_t *results, size_t nresults, wasmpool_trap_t **trap_ret,
                       wasmpool_async_continuation_t *continuation_ret) {
  (void)env; (void)caller; (void)args; (void)nargs; (void)results; (void)nresults; (void)trap_ret;
  (void)continuation_ret;
}

/* Every fallible function with one NULL argument at a time: (call, parameter it names). */
#define NULL_CASES(X)                                                                                     \
  X(wasmpool_pool_config_validate(NULL), "pool")                                                          \
  X(wasmpool_engine_new(F.config, NULL), "out")                                                           \
  X(wasmpool_engine_new_with_pooling(F.config, F.pool, NULL), "out")                                      \
  X(wasmpool_module_new(NULL, EMPTY_MODULE, 8, &F.module_out), "engine")                                  \
  X(wasmpool_module_new(F.engine, NULL, 8, &F.module_out), "wasm")                                        \
  X(wasmpool_module_new(F.engine, EMPTY_MODULE, 8, NULL), "out")                                          \
  X(wasmpool_module_validate(NULL, EMPTY_MODULE, 8), "engine")                                            \
  X(wasmpool_module_validate(F.engine, NULL, 8), "wasm")                                                  \
  X(wasmpool_module_import_get(NULL, 0, &F.str, &F.str, &F.kind), "module")                               \
  X(wasmpool_module_export_get(NULL, 0, &F.str, &F.kind), "module")                                       \
  X(wasmpool_module_serialize(NULL, &F.bytes, &F.len), "module")                                          \
  X(wasmpool_module_serialize(F.module, NULL, &F.len), "out_bytes")                                       \
  X(wasmpool_module_serialize(F.module, &F.bytes, NULL), "out_len")                                       \
  X(wasmpool_module_deserialize(NULL, EMPTY_MODULE, 8, &F.module_out), "engine")                          \
  X(wasmpool_module_deserialize(F.engine, NULL, 8, &F.module_out), "bytes")                               \
  X(wasmpool_module_deserialize(F.engine, EMPTY_MODULE, 8, NULL), "out")                                  \
  X(wasmpool_module_deserialize_file(NULL, "/dev/null", &F.module_out), "engine")                         \
  X(wasmpool_module_deserialize_file(F.engine, NULL, &F.module_out), "path")                              \
  X(wasmpool_module_deserialize_file(F.engine, "/dev/null", NULL), "out")                                 \
  X(wasmpool_wat2wasm(NULL, 5, &F.bytes, &F.len), "wat")                                                  \
  X(wasmpool_wat2wasm("(module)", 8, NULL, &F.len), "out_bytes")                                          \
  X(wasmpool_wat2wasm("(module)", 8, &F.bytes, NULL), "out_len")                                          \
  X(wasmpool_store_set_fuel(NULL, 1), "store")                                                            \
  X(wasmpool_store_get_fuel(NULL, &F.u64), "store")                                                       \
  X(wasmpool_store_get_fuel(F.store, NULL), "out")                                                        \
  X(wasmpool_store_fuel_async_yield_interval(NULL, 1), "store")                                           \
  X(wasmpool_linker_define_func(NULL, "m", "n", I32, 1, I32, 1, noop, NULL, NULL), "linker")              \
  X(wasmpool_linker_define_func(F.linker, NULL, "n", I32, 1, I32, 1, noop, NULL, NULL), "module")         \
  X(wasmpool_linker_define_func(F.linker, "m", NULL, I32, 1, I32, 1, noop, NULL, NULL), "name")           \
  X(wasmpool_linker_define_func(F.linker, "m", "n", NULL, 1, I32, 1, noop, NULL, NULL), "params")         \
  X(wasmpool_linker_define_func(F.linker, "m", "n", I32, 1, NULL, 1, noop, NULL, NULL), "results")        \
  X(wasmpool_linker_define_func(F.linker, "m", "n", I32, 1, I32, 1, NULL, NULL, NULL), "callback")        \
  X(wasmpool_linker_define_async_func(NULL, "m", "n", I32, 1, I32, 1, noop_async, NULL, NULL), "linker")  \
  X(wasmpool_linker_define_async_func(F.linker, NULL, "n", I32, 1, I32, 1, noop_async, NULL, NULL), "module") \
  X(wasmpool_linker_define_async_func(F.linker, "m", NULL, I32, 1, I32, 1, noop_async, NULL, NULL), "name") \
  X(wasmpool_linker_define_async_func(F.linker, "m", "n", NULL, 1, I32, 1, noop_async, NULL, NULL), "params") \
  X(wasmpool_linker_define_async_func(F.linker, "m", "n", I32, 1, NULL, 1, noop_async, NULL, NULL), "results") \
  X(wasmpool_linker_define_async_func(F.linker, "m", "n", I32, 1, I32, 1, NULL, NULL, NULL), "callback")  \
  X(wasmpool_linker_define_func_handle(NULL, "m", "n", F.func), "linker")                                 \
  X(wasmpool_linker_define_func_handle(F.linker, NULL, "n", F.func), "module")                            \
  X(wasmpool_linker_define_func_handle(F.linker, "m", NULL, F.func), "name")                              \
  X(wasmpool_linker_define_func_handle(F.linker, "m", "n", NULL), "func")                                 \
  X(wasmpool_linker_define_memory(NULL, "m", "n", F.memory), "linker")                                    \
  X(wasmpool_linker_define_memory(F.linker, NULL, "n", F.memory), "module")                               \
  X(wasmpool_linker_define_memory(F.linker, "m", NULL, F.memory), "name")                                 \
  X(wasmpool_linker_define_memory(F.linker, "m", "n", NULL), "memory")                                    \
  X(wasmpool_linker_define_global(NULL, "m", "n", F.global), "linker")                                    \
  X(wasmpool_linker_define_global(F.linker, NULL, "n", F.global), "module")                               \
  X(wasmpool_linker_define_global(F.linker, "m", NULL, F.global), "name")                                 \
  X(wasmpool_linker_define_global(F.linker, "m", "n", NULL), "global")                                    \
  X(wasmpool_linker_define_table(NULL, "m", "n", F.table), "linker")                                      \
  X(wasmpool_linker_define_table(F.linker, NULL, "n", F.table), "module")                                 \
  X(wasmpool_linker_define_table(F.linker, "m", NULL, F.table), "name")                                   \
  X(wasmpool_linker_define_table(F.linker, "m", "n", NULL), "table")                                      \
  X(wasmpool_linker_define_instance(NULL, F.store, "m", F.instance), "linker")                            \
  X(wasmpool_linker_define_instance(F.linker, NULL, "m", F.instance), "store")                            \
  X(wasmpool_linker_define_instance(F.linker, F.store, NULL, F.instance), "module")                       \
  X(wasmpool_linker_define_instance(F.linker, F.store, "m", NULL), "instance")                            \
  X(wasmpool_linker_instantiate_pre(NULL, F.module, &F.pre_out), "linker")                                \
  X(wasmpool_linker_instantiate_pre(F.linker, NULL, &F.pre_out), "module")                                \
  X(wasmpool_linker_instantiate_pre(F.linker, F.module, NULL), "out")                                     \
  X(wasmpool_instance_pre_instantiate(NULL, F.store, &F.instance_out, &F.trap), "pre")                    \
  X(wasmpool_instance_pre_instantiate(F.pre, NULL, &F.instance_out, &F.trap), "store")                    \
  X(wasmpool_instance_pre_instantiate(F.pre, F.store, NULL, &F.trap), "out")                              \
  X(wasmpool_instance_pre_instantiate(F.pre, F.store, &F.instance_out, NULL), "trap")                     \
  X(wasmpool_instance_new(NULL, F.module, NULL, &F.instance_out, &F.trap), "store")                       \
  X(wasmpool_instance_new(F.store, NULL, NULL, &F.instance_out, &F.trap), "module")                       \
  X(wasmpool_instance_new(F.store, F.module, NULL, NULL, &F.trap), "out")                                 \
  X(wasmpool_instance_new(F.store, F.module, NULL, &F.instance_out, NULL), "trap")                        \
  X(wasmpool_instance_get_func(NULL, "add", &F.func_out), "instance")                                     \
  X(wasmpool_instance_get_func(F.instance, NULL, &F.func_out), "name")                                    \
  X(wasmpool_instance_get_func(F.instance, "add", NULL), "out")                                           \
  X(wasmpool_instance_get_memory(NULL, "memory", &F.memory_out), "instance")                              \
  X(wasmpool_instance_get_memory(F.instance, NULL, &F.memory_out), "name")                                \
  X(wasmpool_instance_get_memory(F.instance, "memory", NULL), "out")                                      \
  X(wasmpool_instance_get_global(NULL, "g", &F.global_out), "instance")                                   \
  X(wasmpool_instance_get_global(F.instance, NULL, &F.global_out), "name")                                \
  X(wasmpool_instance_get_global(F.instance, "g", NULL), "out")                                           \
  X(wasmpool_instance_get_table(NULL, "table", &F.table_out), "instance")                                 \
  X(wasmpool_instance_get_table(F.instance, NULL, &F.table_out), "name")                                  \
  X(wasmpool_instance_get_table(F.instance, "table", NULL), "out")                                        \
  X(wasmpool_func_new(NULL, I32, 1, I32, 1, noop, NULL, NULL, &F.func_out), "store")                      \
  X(wasmpool_func_new(F.store, NULL, 1, I32, 1, noop, NULL, NULL, &F.func_out), "params")                 \
  X(wasmpool_func_new(F.store, I32, 1, NULL, 1, noop, NULL, NULL, &F.func_out), "results")                \
  X(wasmpool_func_new(F.store, I32, 1, I32, 1, NULL, NULL, NULL, &F.func_out), "callback")                \
  X(wasmpool_func_new(F.store, I32, 1, I32, 1, noop, NULL, NULL, NULL), "out")                            \
  X(wasmpool_func_call(NULL, F.func, F.vals, 2, &F.val, 1, &F.trap), "store")                             \
  X(wasmpool_func_call(F.store, NULL, F.vals, 2, &F.val, 1, &F.trap), "func")                             \
  X(wasmpool_func_call(F.store, F.func, NULL, 2, &F.val, 1, &F.trap), "args")                             \
  X(wasmpool_func_call(F.store, F.func, F.vals, 2, NULL, 1, &F.trap), "results")                          \
  X(wasmpool_func_call(F.store, F.func, F.vals, 2, &F.val, 1, NULL), "trap")                              \
  X(wasmpool_caller_get_memory(NULL, "memory", &F.memory_out), "caller")                                  \
  X(wasmpool_caller_get_global(NULL, "g", &F.global_out), "caller")                                       \
  X(wasmpool_memory_grow(NULL, 1, &F.u64), "memory")                                                      \
  X(wasmpool_memory_type(NULL, &F.memorytype), "memory")                                                  \
  X(wasmpool_memory_type(F.memory, NULL), "out")                                                          \
  X(wasmpool_memory_new(NULL, &F.memorytype, &F.memory_out), "store")                                     \
  X(wasmpool_memory_new(F.store, NULL, &F.memory_out), "ty")                                              \
  X(wasmpool_memory_new(F.store, &F.memorytype, NULL), "out")                                             \
  X(wasmpool_global_set(NULL, &F.val), "global")                                                          \
  X(wasmpool_global_set(F.global, NULL), "value")                                                         \
  X(wasmpool_global_type(NULL, &F.globaltype), "global")                                                  \
  X(wasmpool_global_type(F.global, NULL), "out")                                                          \
  X(wasmpool_global_new(NULL, &F.globaltype, &F.val, &F.global_out), "store")                             \
  X(wasmpool_global_new(F.store, NULL, &F.val, &F.global_out), "ty")                                      \
  X(wasmpool_global_new(F.store, &F.globaltype, NULL, &F.global_out), "init")                             \
  X(wasmpool_global_new(F.store, &F.globaltype, &F.val, NULL), "out")                                     \
  X(wasmpool_table_get(NULL, 0, &F.val), "table")                                                         \
  X(wasmpool_table_get(F.table, 0, NULL), "out")                                                          \
  X(wasmpool_table_set(NULL, 0, &F.val), "table")                                                         \
  X(wasmpool_table_set(F.table, 0, NULL), "value")                                                        \
  X(wasmpool_table_grow(NULL, 1, &F.val, &F.u32), "table")                                                \
  X(wasmpool_table_grow(F.table, 1, NULL, &F.u32), "init")                                                \
  X(wasmpool_table_type(NULL, &F.tabletype), "table")                                                     \
  X(wasmpool_table_type(F.table, NULL), "out")                                                            \
  X(wasmpool_table_new(NULL, &F.tabletype, &F.val, &F.table_out), "store")                                \
  X(wasmpool_table_new(F.store, NULL, &F.val, &F.table_out), "ty")                                        \
  X(wasmpool_table_new(F.store, &F.tabletype, NULL, &F.table_out), "init")                                \
  X(wasmpool_table_new(F.store, &F.tabletype, &F.val, NULL), "out")

#define AS_NAME(call, param) #call,
#define AS_PARAM(call, param) param,
#define AS_CASE(call, param) \
  if (i == n++) return (call);
static const char *const null_case_names[] = {NULL_CASES(AS_NAME)};
static const char *const null_case_params[] = {NULL_CASES(AS_PARAM)};
#define NNULL_CASES (sizeof null_case_names / sizeof null_case_names[0])

static wasmpool_error_t *null_case(size_t i) {
  size_t n = 0;
  NULL_CASES(AS_CASE)
  return NULL;
}

static void setup(void) {
  memset(&F, 0, sizeof F);
  F.config = wasmpool_config_new();
  F.pool = wasmpool_pool_config_new();
  F.engine = on_demand_engine();
  F.module = compile_wat(F.engine, WAT);
  F.linker = wasmpool_linker_new(F.engine);
  OK(wasmpool_linker_instantiate_pre(F.linker, F.module, &F.pre));
  F.store = wasmpool_store_new(F.engine, NULL, NULL);
  F.instance = instantiate(F.store, F.module);
  F.func = get_func(F.instance, "add");
  OK(wasmpool_instance_get_memory(F.instance, "memory", &F.memory));
  OK(wasmpool_instance_get_global(F.instance, "g", &F.global));
  OK(wasmpool_instance_get_table(F.instance, "table", &F.table));
  F.trap_obj = wasmpool_trap_new("a trap");
  F.externtype = wasmpool_module_export_type(F.module, 0);
  F.val = val_i32(1);
  F.vals[0] = val_i32(1);
  F.vals[1] = val_i32(2);
  F.memorytype.min = 1;
  F.globaltype.content = WASMPOOL_I32;
  F.tabletype.element = WASMPOOL_FUNCREF;
}

static void nulls(void) {
  /* 1a. Fallible functions: an INVALID_ARGUMENT error naming the NULL parameter. */
  for (size_t i = 0; i < NNULL_CASES; i++) {
    wasmpool_error_t *err = null_case(i);
    if (err == NULL) {
      fprintf(stderr, "%s: succeeded with a NULL %s\n", null_case_names[i], null_case_params[i]);
      failures++;
      continue;
    }
    const char *msg = wasmpool_error_message(err);
    char quoted[64];
    snprintf(quoted, sizeof quoted, "`%s`", null_case_params[i]);
    if (wasmpool_error_kind(err) != WASMPOOL_ERROR_INVALID_ARGUMENT || strstr(msg, quoted) == NULL) {
      fprintf(stderr, "%s: kind %d \"%s\", want INVALID_ARGUMENT naming %s\n", null_case_names[i],
              wasmpool_error_kind(err), msg, quoted);
      failures++;
    }
    wasmpool_error_delete(err);
  }
  /* Nothing ran: the side-effect function was never called, the store still works. */
  wasmpool_val_t r;
  call_ok(F.store, F.func, F.vals, 2, &r, 1);
  CHECK(r.of.i32 == 3);

  /* 1b. Deletes and setters given NULL do nothing. */
  wasmpool_error_delete(NULL);
  wasmpool_config_delete(NULL);
  wasmpool_config_set_memory_reservation(NULL, 1);
  wasmpool_config_set_memory_guard_size(NULL, 1);
  wasmpool_config_set_guard_before_linear_memory(NULL, true);
  wasmpool_config_set_memory_init_cow(NULL, true);
  wasmpool_config_set_max_wasm_stack(NULL, 1);
  wasmpool_config_set_consume_fuel(NULL, true);
  wasmpool_config_set_epoch_interruption(NULL, true);
  wasmpool_config_set_parallel_compilation(NULL, true);
  wasmpool_config_set_wasm_multi_memory(NULL, true);
  wasmpool_config_set_max_function_size(NULL, 1);
  wasmpool_config_set_max_module_size(NULL, 1);
  wasmpool_config_set_max_table_elements(NULL, 1);
  wasmpool_pool_config_delete(NULL);
  wasmpool_pool_config_set_total_core_instances(NULL, 1);
  wasmpool_pool_config_set_total_memories(NULL, 1);
  wasmpool_pool_config_set_total_tables(NULL, 1);
  wasmpool_pool_config_set_max_core_instance_size(NULL, 1);
  wasmpool_pool_config_set_max_memories_per_module(NULL, 1);
  wasmpool_pool_config_set_max_tables_per_module(NULL, 1);
  wasmpool_pool_config_set_max_memory_size(NULL, 1);
  wasmpool_pool_config_set_table_elements(NULL, 1);
  wasmpool_pool_config_set_max_unused_warm_slots(NULL, 1);
  wasmpool_pool_config_set_decommit_batch_size(NULL, 1);
  wasmpool_pool_config_set_linear_memory_keep_resident(NULL, 1);
  wasmpool_pool_config_set_table_keep_resident(NULL, 1);
  wasmpool_pool_config_set_max_memory_protection_keys(NULL, 1);
  wasmpool_pool_config_set_memory_protection_keys(NULL, WASMPOOL_MPK_AUTO);
  wasmpool_engine_delete(NULL);
  wasmpool_engine_increment_epoch(NULL);
  wasmpool_engine_flush_pool(NULL);
  wasmpool_module_delete(NULL);
  wasmpool_bytes_delete(NULL, 5);
  wasmpool_trap_delete(NULL);
  wasmpool_store_delete(NULL);
  wasmpool_store_set_epoch_deadline(NULL, 1);
  wasmpool_config_set_async_support(NULL, true);
  wasmpool_config_set_async_stack_size(NULL, 1);
  wasmpool_pool_config_set_total_stacks(NULL, 1);
  wasmpool_pool_config_set_async_stack_zeroing(NULL, true);
  wasmpool_pool_config_set_async_stack_keep_resident(NULL, 1);
  wasmpool_store_epoch_deadline_async_yield_and_update(NULL, 1);
  CHECK(wasmpool_call_future_poll(NULL));
  wasmpool_call_future_delete(NULL);
  /* A resumable call with nowhere to report: no future. With a NULL store or
   * func: a future whose first poll reports INVALID_ARGUMENT naming it. */
  {
    wasmpool_trap_t *trap = NULL;
    wasmpool_error_t *err = NULL;
    wasmpool_val_t r;
    CHECK(wasmpool_func_call_async(F.store, F.func, F.vals, 2, &r, 1, NULL, &err) == NULL);
    CHECK(wasmpool_func_call_async(F.store, F.func, F.vals, 2, &r, 1, &trap, NULL) == NULL);
    const char *params[2] = {"`store`", "`func`"};
    for (int i = 0; i < 2; i++) {
      wasmpool_call_future_t *fut = wasmpool_func_call_async(i == 0 ? NULL : F.store, i == 0 ? F.func : NULL,
                                                             F.vals, 2, &r, 1, &trap, &err);
      CHECK(fut != NULL);
      CHECK(wasmpool_call_future_poll(fut));
      CHECK(trap == NULL && err != NULL);
      if (err != NULL) {
        CHECK(wasmpool_error_kind(err) == WASMPOOL_ERROR_INVALID_ARGUMENT);
        CHECK(strstr(wasmpool_error_message(err), params[i]) != NULL);
        wasmpool_error_delete(err);
        err = NULL;
      }
      wasmpool_call_future_delete(fut);
    }
    /* Without async support in the engine: an error, and the store is not left busy. */
    wasmpool_call_future_t *fut = wasmpool_func_call_async(F.store, F.func, F.vals, 2, &r, 1, &trap, &err);
    CHECK(wasmpool_call_future_poll(fut) && err != NULL && trap == NULL);
    if (err != NULL) {
      CHECK(strstr(wasmpool_error_message(err), "async_support") != NULL);
      wasmpool_error_delete(err);
    }
    wasmpool_call_future_delete(fut);
    /* Async instantiation likewise: no future without trap_ret or error_ret; a NULL
     * linker, pre, store, module or out is reported by the first poll, naming it. */
    wasmpool_instance_t *inst = NULL;
    CHECK(wasmpool_linker_instantiate_async(F.linker, F.store, F.module, &inst, NULL, &err) == NULL);
    CHECK(wasmpool_linker_instantiate_async(F.linker, F.store, F.module, &inst, &trap, NULL) == NULL);
    CHECK(wasmpool_instance_pre_instantiate_async(F.pre, F.store, &inst, NULL, &err) == NULL);
    CHECK(wasmpool_instance_pre_instantiate_async(F.pre, F.store, &inst, &trap, NULL) == NULL);
    const char *names[7] = {"`linker`", "`store`", "`module`", "`out`", "`pre`", "`store`", "`out`"};
    for (int i = 0; i < 7; i++) {
      fut = i < 4 ? wasmpool_linker_instantiate_async(i == 0 ? NULL : F.linker, i == 1 ? NULL : F.store,
                                                      i == 2 ? NULL : F.module, i == 3 ? NULL : &inst, &trap, &err)
                  : wasmpool_instance_pre_instantiate_async(i == 4 ? NULL : F.pre, i == 5 ? NULL : F.store,
                                                            i == 6 ? NULL : &inst, &trap, &err);
      CHECK(fut != NULL && wasmpool_call_future_poll(fut) && trap == NULL && inst == NULL);
      EXPECT_ERROR(err, WASMPOOL_ERROR_INVALID_ARGUMENT, names[i]);
      err = NULL;
      wasmpool_call_future_delete(fut);
    }
    /* Without async support: an error at the first poll; the store stays usable. */
    fut = wasmpool_instance_pre_instantiate_async(F.pre, F.store, &inst, &trap, &err);
    CHECK(wasmpool_call_future_poll(fut) && trap == NULL && inst == NULL);
    EXPECT_ERROR(err, WASMPOOL_ERROR_INVALID_ARGUMENT, "async_support");
    wasmpool_call_future_delete(fut);
  }
  wasmpool_store_limiter(NULL, 1, 1, 1, 1, 1);
  wasmpool_linker_delete(NULL);
  wasmpool_instance_pre_delete(NULL);
  wasmpool_global_get(NULL, &r);
  wasmpool_global_get(F.global, NULL);

  /* 1c. Queries given NULL return their documented neutral values. */
  CHECK(wasmpool_version() != NULL);
  CHECK(wasmpool_error_message(NULL) != NULL);
  CHECK(wasmpool_error_kind(NULL) == WASMPOOL_ERROR_INVALID_ARGUMENT);
  CHECK(wasmpool_engine_is_pooling(NULL) == false);
  CHECK(wasmpool_engine_pool_metrics(NULL, &F.metrics) == false);
  CHECK(wasmpool_engine_pool_metrics(F.engine, NULL) == false);
  CHECK(wasmpool_engine_pool_metrics(F.engine, &F.metrics) == false); /* not pooling */
  size_t len = 99;
  CHECK(wasmpool_functype_params(NULL, &len) == NULL && len == 0);
  len = 99;
  CHECK(wasmpool_functype_results(NULL, &len) == NULL && len == 0);
  CHECK(wasmpool_functype_params(wasmpool_func_type(F.func), NULL) != NULL);
  CHECK(wasmpool_externtype_kind(NULL) == 255);
  CHECK(wasmpool_externtype_functype(NULL) == NULL);
  CHECK(wasmpool_externtype_globaltype(NULL, &F.globaltype) == false);
  CHECK(wasmpool_externtype_globaltype(F.externtype, NULL) == false);
  CHECK(wasmpool_externtype_tabletype(NULL, &F.tabletype) == false);
  CHECK(wasmpool_externtype_tabletype(F.externtype, NULL) == false);
  CHECK(wasmpool_externtype_memorytype(NULL, &F.memorytype) == false);
  CHECK(wasmpool_externtype_memorytype(F.externtype, NULL) == false);
  CHECK(wasmpool_module_imports_len(NULL) == 0);
  CHECK(wasmpool_module_exports_len(NULL) == 0);
  CHECK(wasmpool_module_import_type(NULL, 0) == NULL);
  CHECK(wasmpool_module_export_type(NULL, 0) == NULL);
  wasmpool_trap_t *generic = wasmpool_trap_new(NULL);
  CHECK(generic != NULL && wasmpool_trap_code(generic) == WASMPOOL_TRAP_HOST);
  wasmpool_trap_delete(generic);
  CHECK(wasmpool_trap_code(NULL) == 255);
  CHECK(wasmpool_trap_message(NULL) != NULL);
  CHECK(wasmpool_trap_function_index(NULL, &F.u32) == false);
  CHECK(wasmpool_trap_function_index(F.trap_obj, NULL) == false);
  /* Diagnostics: a NULL trap has no frames, and any frame index reads as 0 / NULL. */
  CHECK(wasmpool_trap_frames_len(NULL) == 0);
  CHECK(wasmpool_trap_frame_func_index(NULL, 0) == 0);
  CHECK(wasmpool_trap_frame_func_name(NULL, 0) == NULL);
  CHECK(wasmpool_trap_frame_module_offset(NULL, 0) == 0);
  CHECK(wasmpool_trap_frame_func_name(F.trap_obj, SIZE_MAX) == NULL);
  wasmpool_config_set_profiler(NULL, WASMPOOL_PROFILER_PERFMAP);
  CHECK(wasmpool_store_new(NULL, NULL, NULL) == NULL);
  CHECK(wasmpool_store_data(NULL) == NULL);
  CHECK(wasmpool_linker_new(NULL) == NULL);
  CHECK(wasmpool_func_type(NULL) == NULL);
  CHECK(wasmpool_caller_data(NULL) == NULL);
  CHECK(wasmpool_memory_data(NULL) == NULL);
  CHECK(wasmpool_memory_data_size(NULL) == 0);
  CHECK(wasmpool_memory_size(NULL) == 0);
  CHECK(wasmpool_global_kind(NULL) == 255);
  CHECK(wasmpool_global_is_mutable(NULL) == false);
  CHECK(wasmpool_table_size(NULL) == 0);
  /* Optional out-parameters may be NULL. */
  OK(wasmpool_module_export_get(F.module, 0, NULL, NULL));
  OK(wasmpool_memory_grow(F.memory, 0, NULL));
}

static void bad_modules(void) {
  wasmpool_module_t *m = NULL;
  /* Malformed binaries. */
  const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3};
  EXPECT_ERROR(wasmpool_module_new(F.engine, garbage, sizeof garbage, &m), WASMPOOL_ERROR_INVALID_MODULE, NULL);
  EXPECT_ERROR(wasmpool_module_new(F.engine, EMPTY_MODULE, 4, &m), WASMPOOL_ERROR_INVALID_MODULE, NULL);
  EXPECT_ERROR(wasmpool_module_new(F.engine, NULL, 0, &m), WASMPOOL_ERROR_INVALID_MODULE, NULL);
  const uint8_t version2[8] = {0, 'a', 's', 'm', 2, 0, 0, 0};
  EXPECT_ERROR(wasmpool_module_new(F.engine, version2, 8, &m), WASMPOOL_ERROR_INVALID_MODULE, NULL);
  EXPECT_ERROR(wasmpool_module_validate(F.engine, garbage, sizeof garbage), WASMPOOL_ERROR_INVALID_MODULE, NULL);
  OK(wasmpool_module_validate(F.engine, EMPTY_MODULE, 8));
  CHECK(m == NULL);
  /* Every truncation of a real module is rejected, never crashes. */
  uint8_t *wasm = NULL;
  size_t wasm_len = 0;
  OK(wasmpool_wat2wasm(WAT, strlen(WAT), &wasm, &wasm_len));
  for (size_t cut = 0; cut < wasm_len; cut++) {
    wasmpool_error_t *err = wasmpool_module_new(F.engine, wasm, cut, &m);
    if (err == NULL) {
      wasmpool_module_delete(m); /* a prefix ending on a section boundary is a valid module */
      m = NULL;
    } else {
      CHECK(wasmpool_error_kind(err) == WASMPOOL_ERROR_INVALID_MODULE);
      wasmpool_error_delete(err);
    }
  }
  /* Flipped bytes: errors or valid modules, never crashes. */
  for (size_t at = 8; at < wasm_len; at++) {
    uint8_t saved = wasm[at];
    wasm[at] ^= 0x5a;
    wasmpool_error_t *err = wasmpool_module_new(F.engine, wasm, wasm_len, &m);
    if (err == NULL) {
      wasmpool_module_delete(m);
      m = NULL;
    } else {
      CHECK(wasmpool_error_kind(err) == WASMPOOL_ERROR_INVALID_MODULE);
      wasmpool_error_delete(err);
    }
    wasm[at] = saved;
  }
  wasmpool_bytes_delete(wasm, wasm_len);

  /* Bad WAT: a syntax error (with a position), and text that parses but does not validate. */
  uint8_t *bytes = NULL;
  size_t n = 0;
  const char *bad = "(module (func (result i32) i32.const))";
  EXPECT_ERROR(wasmpool_wat2wasm(bad, strlen(bad), &bytes, &n), WASMPOOL_ERROR_INVALID_MODULE, "1:");
  const char *not_wat = "\xff\xfe not text";
  EXPECT_ERROR(wasmpool_wat2wasm(not_wat, strlen(not_wat), &bytes, &n), WASMPOOL_ERROR_INVALID_MODULE, NULL);
  CHECK(bytes == NULL);
  EXPECT_ERROR(try_compile_wat(F.engine, "(module (func (result i32)))", &m), WASMPOOL_ERROR_INVALID_MODULE, NULL);
  EXPECT_ERROR(try_compile_wat(F.engine, "(module (func (i32.add (i32.const 1) (f32.const 2)) drop))", &m),
               WASMPOOL_ERROR_INVALID_MODULE, "type mismatch");
  CHECK(m == NULL);
}

static void link_errors(void) {
  wasmpool_module_t *m = compile_wat(F.engine,
                                     "(module (import \"host\" \"f\" (func (param i32) (result i32)))"
                                     " (import \"env\" \"mem\" (memory 2)))");
  wasmpool_linker_t *linker = wasmpool_linker_new(F.engine);
  wasmpool_instance_pre_t *pre = NULL;
  /* Missing imports. */
  EXPECT_ERROR(wasmpool_linker_instantiate_pre(linker, m, &pre), WASMPOOL_ERROR_LINK, "host::f");
  wasmpool_store_t *store = wasmpool_store_new(F.engine, NULL, NULL);
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  EXPECT_ERROR(wasmpool_instance_new(store, m, NULL, &instance, &trap), WASMPOOL_ERROR_LINK, NULL);
  CHECK(instance == NULL && trap == NULL);
  /* A host function of the wrong signature. */
  OK(wasmpool_linker_define_func(linker, "host", "f", I32, 2, I32, 1, noop, NULL, NULL));
  EXPECT_ERROR(wasmpool_linker_instantiate_pre(linker, m, &pre), WASMPOOL_ERROR_LINK, "host::f");
  OK(wasmpool_linker_define_func(linker, "host", "f", I32, 1, I32, 1, noop, NULL, NULL));
  /* A memory that is too small for the import. */
  wasmpool_memorytype_t small = {1, 0, false};
  wasmpool_memory_t *mem = NULL;
  OK(wasmpool_memory_new(store, &small, &mem));
  OK(wasmpool_linker_define_memory(linker, "env", "mem", mem));
  EXPECT_ERROR(wasmpool_instance_new(store, m, linker, &instance, &trap), WASMPOOL_ERROR_LINK, NULL);
  /* The right one links. */
  wasmpool_memorytype_t big = {2, 0, false};
  OK(wasmpool_memory_new(store, &big, &mem));
  OK(wasmpool_linker_define_memory(linker, "env", "mem", mem));
  OK(wasmpool_instance_new(store, m, linker, &instance, &trap));
  CHECK(instance != NULL && trap == NULL);
  /* A store object used in another store. */
  wasmpool_store_t *other = wasmpool_store_new(F.engine, NULL, NULL);
  EXPECT_ERROR(wasmpool_instance_new(other, m, linker, &instance, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, "store");
  wasmpool_store_delete(other);
  wasmpool_store_delete(store);
  wasmpool_linker_delete(linker);
  wasmpool_module_delete(m);
}

static void misuse(void) {
  wasmpool_val_t args[3] = {val_i32(1), val_i32(2), val_i32(3)}, r[2];
  wasmpool_trap_t *trap = (wasmpool_trap_t *)1; /* must be reset to NULL */
  /* Arity, result count and kinds. */
  EXPECT_ERROR(wasmpool_func_call(F.store, F.func, args, 1, r, 1, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, "arguments");
  CHECK(trap == NULL);
  EXPECT_ERROR(wasmpool_func_call(F.store, F.func, args, 3, r, 1, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, NULL);
  EXPECT_ERROR(wasmpool_func_call(F.store, F.func, args, 2, r, 2, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, "results");
  EXPECT_ERROR(wasmpool_func_call(F.store, F.func, args, 2, r, 0, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, "results");
  args[1] = val_i64(2);
  EXPECT_ERROR(wasmpool_func_call(F.store, F.func, args, 2, r, 1, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, "argument 1");
  args[1].kind = 99;
  EXPECT_ERROR(wasmpool_func_call(F.store, F.func, args, 2, r, 1, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, "99");
  /* A funcref that is not a function of this store. */
  wasmpool_func_t *side = get_func(F.instance, "side_effect");
  wasmpool_val_t bogus;
  memset(&bogus, 0, sizeof bogus);
  bogus.kind = WASMPOOL_FUNCREF;
  bogus.of.ref = &bogus;
  EXPECT_ERROR(wasmpool_table_set(F.table, 0, &bogus), WASMPOOL_ERROR_INVALID_ARGUMENT, "funcref");
  /* A function of another store. */
  wasmpool_store_t *other = wasmpool_store_new(F.engine, NULL, NULL);
  wasmpool_val_t one = val_i32(7);
  EXPECT_ERROR(wasmpool_func_call(other, side, &one, 1, NULL, 0, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, "store");
  wasmpool_instance_t *oi = instantiate(other, F.module);
  wasmpool_val_t fref;
  memset(&fref, 0, sizeof fref);
  fref.kind = WASMPOOL_FUNCREF;
  fref.of.ref = get_func(oi, "add");
  EXPECT_ERROR(wasmpool_table_set(F.table, 0, &fref), WASMPOOL_ERROR_INVALID_ARGUMENT, "funcref");
  EXPECT_ERROR(wasmpool_linker_define_instance(F.linker, other, "x", F.instance), WASMPOOL_ERROR_INVALID_ARGUMENT, "store");
  wasmpool_store_delete(other);
  /* Nothing ran: memory[0] is still 0. */
  CHECK(*(int32_t *)wasmpool_memory_data(F.memory) == 0);

  /* Unknown names and kinds of exports. */
  wasmpool_func_t *f = NULL;
  wasmpool_memory_t *m = NULL;
  EXPECT_ERROR(wasmpool_instance_get_func(F.instance, "nope", &f), WASMPOOL_ERROR_INVALID_ARGUMENT, "nope");
  EXPECT_ERROR(wasmpool_instance_get_func(F.instance, "memory", &f), WASMPOOL_ERROR_INVALID_ARGUMENT, "not a function");
  EXPECT_ERROR(wasmpool_instance_get_memory(F.instance, "add", &m), WASMPOOL_ERROR_INVALID_ARGUMENT, "not a memory");
  EXPECT_ERROR(wasmpool_instance_get_func(F.instance, "\xff\xfe", &f), WASMPOOL_ERROR_INVALID_ARGUMENT, "UTF-8");
  CHECK(f == NULL && m == NULL);
  /* Globals: immutable, wrong kind. */
  wasmpool_global_t *c = NULL;
  OK(wasmpool_instance_get_global(F.instance, "const", &c));
  wasmpool_val_t v = val_i32(5);
  EXPECT_ERROR(wasmpool_global_set(c, &v), WASMPOOL_ERROR_INVALID_ARGUMENT, "immutable");
  v = val_i64(5);
  EXPECT_ERROR(wasmpool_global_set(F.global, &v), WASMPOOL_ERROR_INVALID_ARGUMENT, NULL);
  wasmpool_global_get(F.global, &v);
  CHECK(v.kind == WASMPOOL_I32 && v.of.i32 == 1);
  /* Tables: bounds, kinds, growth past the maximum. */
  EXPECT_ERROR(wasmpool_table_get(F.table, 5, &v), WASMPOOL_ERROR_INVALID_ARGUMENT, "out of bounds");
  v = val_i32(0);
  EXPECT_ERROR(wasmpool_table_set(F.table, 0, &v), WASMPOOL_ERROR_INVALID_ARGUMENT, NULL);
  memset(&v, 0, sizeof v);
  v.kind = WASMPOOL_FUNCREF;
  EXPECT_ERROR(wasmpool_table_set(F.table, 9, &v), WASMPOOL_ERROR_INVALID_ARGUMENT, "out of bounds");
  EXPECT_ERROR(wasmpool_table_grow(F.table, 5, &v, NULL), WASMPOOL_ERROR_RESOURCE, NULL);
  v.kind = WASMPOOL_EXTERNREF;
  EXPECT_ERROR(wasmpool_table_grow(F.table, 1, &v, NULL), WASMPOOL_ERROR_INVALID_ARGUMENT, NULL);
  CHECK(wasmpool_table_size(F.table) == 1);
  /* Memory growth past the maximum. */
  uint64_t prev = 0;
  EXPECT_ERROR(wasmpool_memory_grow(F.memory, 5, &prev), WASMPOOL_ERROR_RESOURCE, NULL);
  CHECK(wasmpool_memory_size(F.memory) == 1);
  /* Index past the end of the import/export lists. */
  const char *name = NULL;
  EXPECT_ERROR(wasmpool_module_export_get(F.module, 100, &name, NULL), WASMPOOL_ERROR_INVALID_ARGUMENT, "100");
  EXPECT_ERROR(wasmpool_module_import_get(F.module, 0, &name, &name, NULL), WASMPOOL_ERROR_INVALID_ARGUMENT, NULL);
  CHECK(wasmpool_module_export_type(F.module, 100) == NULL);
  /* Bad host object types. */
  wasmpool_memorytype_t mt = {3, 2, true};
  EXPECT_ERROR(wasmpool_memory_new(F.store, &mt, &m), WASMPOOL_ERROR_INVALID_ARGUMENT, "min");
  wasmpool_tabletype_t tt = {WASMPOOL_I32, 1, 0, false};
  wasmpool_table_t *t = NULL;
  v = val_i32(0);
  EXPECT_ERROR(wasmpool_table_new(F.store, &tt, &v, &t), WASMPOOL_ERROR_INVALID_ARGUMENT, "funcref or externref");
  wasmpool_globaltype_t gt = {42, true};
  wasmpool_global_t *g = NULL;
  EXPECT_ERROR(wasmpool_global_new(F.store, &gt, &v, &g), WASMPOOL_ERROR_INVALID_ARGUMENT, "42");
  /* A module of another engine. */
  wasmpool_engine_t *e2 = on_demand_engine();
  wasmpool_store_t *s2 = wasmpool_store_new(e2, NULL, NULL);
  wasmpool_instance_t *i2 = NULL;
  EXPECT_ERROR(wasmpool_instance_new(s2, F.module, NULL, &i2, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, "engine");
  EXPECT_ERROR(wasmpool_instance_pre_instantiate(F.pre, s2, &i2, &trap), WASMPOOL_ERROR_INVALID_ARGUMENT, "engine");
  wasmpool_store_delete(s2);
  wasmpool_engine_delete(e2);
  /* Bad configurations. */
  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_max_memory_size(pool, 12345);
  wasmpool_engine_t *e = NULL;
  EXPECT_ERROR(wasmpool_engine_new_with_pooling(NULL, pool, &e), WASMPOOL_ERROR_INVALID_ARGUMENT, "max_memory_size");
  wasmpool_pool_config_set_max_memory_size(pool, 1 << 20);
  wasmpool_pool_config_set_memory_protection_keys(pool, 7);
  EXPECT_ERROR(wasmpool_engine_new_with_pooling(NULL, pool, &e), WASMPOOL_ERROR_INVALID_ARGUMENT, "memory_protection_keys");
  CHECK(e == NULL);
  wasmpool_pool_config_delete(pool);
  /* Fuel on an engine without it. */
  EXPECT_ERROR(wasmpool_store_set_fuel(F.store, 5), WASMPOOL_ERROR_UNSUPPORTED, "consume_fuel");
}

static wasmpool_engine_t *limited_engine(void (*set)(wasmpool_pool_config_t *)) {
  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, 2);
  wasmpool_pool_config_set_total_memories(pool, 4);
  wasmpool_pool_config_set_total_tables(pool, 4);
  wasmpool_pool_config_set_max_memory_size(pool, 1 << 20);
  wasmpool_pool_config_set_table_elements(pool, 100);
  if (set) set(pool);
  wasmpool_engine_t *engine = NULL;
  OK(wasmpool_engine_new_with_pooling(NULL, pool, &engine));
  wasmpool_pool_config_delete(pool);
  return engine;
}

static void tiny_instance(wasmpool_pool_config_t *p) { wasmpool_pool_config_set_max_core_instance_size(p, 256); }

static void limits(void) {
  wasmpool_engine_t *engine = limited_engine(NULL);
  wasmpool_module_t *m = NULL;
  EXPECT_ERROR(try_compile_wat(engine, "(module (memory 1) (memory 1))", &m), WASMPOOL_ERROR_LIMIT,
               "max_memories_per_module");
  EXPECT_ERROR(try_compile_wat(engine, "(module (table 1 funcref) (table 1 funcref))", &m), WASMPOOL_ERROR_LIMIT,
               "max_tables_per_module");
  EXPECT_ERROR(try_compile_wat(engine, "(module (memory 17))", &m), WASMPOOL_ERROR_LIMIT, "max_memory_size");
  EXPECT_ERROR(try_compile_wat(engine, "(module (table 101 funcref))", &m), WASMPOOL_ERROR_LIMIT, "table_elements");
  CHECK(m == NULL);
  /* At the limits, modules compile. */
  m = compile_wat(engine, "(module (memory 16) (table 100 funcref))");
  wasmpool_module_delete(m);

  /* Pool exhaustion: two live instances fill the pool; a third is refused until one
   * store is deleted. */
  m = compile_wat(engine, "(module (memory 1) (func (export \"f\") (result i32) i32.const 5))");
  wasmpool_store_t *stores[3];
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  for (int i = 0; i < 2; i++) {
    stores[i] = wasmpool_store_new(engine, NULL, NULL);
    OK(wasmpool_instance_new(stores[i], m, NULL, &instance, &trap));
  }
  stores[2] = wasmpool_store_new(engine, NULL, NULL);
  instance = NULL;
  EXPECT_ERROR(wasmpool_instance_new(stores[2], m, NULL, &instance, &trap), WASMPOOL_ERROR_POOL_EXHAUSTED, NULL);
  CHECK(instance == NULL && trap == NULL);
  /* Two instances in one store count too. */
  EXPECT_ERROR(wasmpool_instance_new(stores[0], m, NULL, &instance, &trap), WASMPOOL_ERROR_POOL_EXHAUSTED, NULL);
  wasmpool_pool_metrics_t metrics;
  CHECK(wasmpool_engine_pool_metrics(engine, &metrics) && metrics.core_instances == 2);
  wasmpool_store_delete(stores[1]);
  OK(wasmpool_instance_new(stores[2], m, NULL, &instance, &trap));
  wasmpool_val_t r;
  call_ok(stores[2], get_func(instance, "f"), NULL, 0, &r, 1);
  CHECK(r.of.i32 == 5);
  wasmpool_store_delete(stores[0]);
  wasmpool_store_delete(stores[2]);
  CHECK(wasmpool_engine_pool_metrics(engine, &metrics) && metrics.core_instances == 0);
  wasmpool_module_delete(m);
  wasmpool_engine_delete(engine);

  /* The instance slot size. */
  engine = limited_engine(tiny_instance);
  EXPECT_ERROR(try_compile_wat(engine, "(module (memory 1) (table 10 funcref) (global (mut i64) (i64.const 0))"
                                       " (global (mut i64) (i64.const 0)) (global (mut i64) (i64.const 0))"
                                       " (global (mut i64) (i64.const 0)) (global (mut i64) (i64.const 0))"
                                       " (global (mut i64) (i64.const 0)) (global (mut i64) (i64.const 0))"
                                       " (global (mut i64) (i64.const 0)) (global (mut i64) (i64.const 0))"
                                       " (global (mut i64) (i64.const 0)) (global (mut i64) (i64.const 0))"
                                       " (global (mut i64) (i64.const 0)) (global (mut i64) (i64.const 0)))",
                               &m),
               WASMPOOL_ERROR_LIMIT, "max_core_instance_size");
  wasmpool_engine_delete(engine);
}

static int host_has_pku(void) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f == NULL) return 0;
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "flags", 5) == 0 && (strstr(line, " pku ") || strstr(line, " pku\n"))) found = 1;
  }
  fclose(f);
  return found;
}

static void mpk(void) {
  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, 2);
  wasmpool_pool_config_set_total_memories(pool, 2);
  wasmpool_pool_config_set_total_tables(pool, 2);
  wasmpool_pool_config_set_memory_protection_keys(pool, WASMPOOL_MPK_ENABLE);
  wasmpool_engine_t *engine = NULL;
  wasmpool_error_t *err = wasmpool_engine_new_with_pooling(NULL, pool, &engine);
  if (host_has_pku()) {
    /* The kernel may still refuse keys; either way the answer is clean. */
    if (err != NULL) {
      CHECK(wasmpool_error_kind(err) == WASMPOOL_ERROR_UNSUPPORTED);
      wasmpool_error_delete(err);
    } else {
      wasmpool_engine_delete(engine);
    }
    printf("this host has pku: MPK_ENABLE checked for a clean answer only\n");
  } else {
    EXPECT_ERROR(err, WASMPOOL_ERROR_UNSUPPORTED, NULL);
    CHECK(engine == NULL);
    /* AUTO falls back to no keys. */
    wasmpool_pool_config_set_memory_protection_keys(pool, WASMPOOL_MPK_AUTO);
    OK(wasmpool_engine_new_with_pooling(NULL, pool, &engine));
    wasmpool_engine_delete(engine);
  }
  wasmpool_pool_config_delete(pool);
}

static void teardown(void) {
  wasmpool_trap_delete(F.trap_obj);
  wasmpool_store_delete(F.store);
  wasmpool_instance_pre_delete(F.pre);
  wasmpool_linker_delete(F.linker);
  wasmpool_module_delete(F.module);
  wasmpool_engine_delete(F.engine);
  wasmpool_pool_config_delete(F.pool);
  wasmpool_config_delete(F.config);
}

int main(void) {
  setup();
  nulls();
  bad_modules();
  link_errors();
  misuse();
  limits();
  mpk();
  teardown();
  printf("test_errors: %zu NULL cases\n", (size_t)NNULL_CASES);
  return finish("test_errors");
}
