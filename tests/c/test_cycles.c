/* ctest: instantiate/reset cycles on a pooled engine.
 *
 * 10,000 cycles (WASMPOOL_TEST_ITERATIONS lowers it, for valgrind) of: store_new,
 * instantiate, check the instance is pristine (memory bytes and size, data segment,
 * globals, table elements), call, dirty everything (memory through the host and wasm,
 * memory growth, globals through the host and wasm, table elements), store_delete.
 * The module alternates between two, so slots change hands between modules too.
 * At the end the pool metrics show no live instance, memory or table, and no more
 * warm slots than max_unused_warm_slots. */
#include "testutil.h"

#define WARM 8

static const char *const WAT_A =
    "(module\n"
    "  (memory (export \"memory\") 1 4)\n"
    "  (data (i32.const 64) \"pristine\")\n"
    "  (global $g (export \"g\") (mut i32) (i32.const 11))\n"
    "  (global $h (export \"h\") (mut i64) (i64.const -5))\n"
    "  (table $t (export \"table\") 4 funcref)\n"
    "  (elem (i32.const 1) $seven)\n"
    "  (func $seven (result i32) i32.const 7)\n"
    "  ;; Returns a checksum of the state a fresh instance must have, then dirties it.\n"
    "  (func (export \"run\") (param $x i32) (result i32) (local $sum i32) (local $i i32)\n"
    "    ;; sum of the first 4 KiB except the data segment: must be 0\n"
    "    (block $done (loop $l\n"
    "      (br_if $done (i32.ge_u (local.get $i) (i32.const 4096)))\n"
    "      (if (i32.or (i32.lt_u (local.get $i) (i32.const 64)) (i32.ge_u (local.get $i) (i32.const 72)))\n"
    "        (then (local.set $sum (i32.add (local.get $sum) (i32.load8_u (local.get $i))))))\n"
    "      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
    "      (br $l)))\n"
    "    (local.set $sum (i32.add (local.get $sum) (memory.size)))              ;; 1\n"
    "    (local.set $sum (i32.add (local.get $sum) (global.get $g)))            ;; 11\n"
    "    (local.set $sum (i32.add (local.get $sum) (i32.wrap_i64 (global.get $h)))) ;; -5\n"
    "    (local.set $sum (i32.add (local.get $sum) (call_indirect (result i32) (i32.const 1)))) ;; 7\n"
    "    (local.set $sum (i32.add (local.get $sum) (i32.load8_u (i32.const 64))))  ;; 'p' = 112\n"
    "    ;; dirty: memory, globals, table, size\n"
    "    (i32.store (i32.const 200) (local.get $x))\n"
    "    (i32.store8 (i32.const 64) (i32.const 0))\n"
    "    (global.set $g (local.get $x))\n"
    "    (global.set $h (i64.const 99))\n"
    "    (table.set $t (i32.const 1) (ref.null func))\n"
    "    (drop (memory.grow (i32.const 1)))\n"
    "    (local.get $sum)))\n";

/* A second module with another layout, so slots are reused across modules. */
static const char *const WAT_B =
    "(module\n"
    "  (memory (export \"memory\") 2)\n"
    "  (global $g (export \"g\") (mut i32) (i32.const 3))\n"
    "  (table (export \"table\") 2 funcref)\n"
    "  (func (export \"run\") (param $x i32) (result i32)\n"
    "    (local $r i32)\n"
    "    (local.set $r (i32.add (i32.add (i32.load (i32.const 200)) (i32.load8_u (i32.const 64)))\n"
    "                           (i32.add (global.get $g) (memory.size))))\n"
    "    (i32.store (i32.const 200) (local.get $x))\n"
    "    (i32.store (i32.const 70000) (local.get $x))\n"
    "    (global.set $g (local.get $x))\n"
    "    (local.get $r)))\n";

static void check_pristine_from_host(wasmpool_instance_t *instance, int which, long cycle) {
  wasmpool_memory_t *memory = NULL;
  OK(wasmpool_instance_get_memory(instance, "memory", &memory));
  const uint8_t *data = wasmpool_memory_data(memory);
  size_t size = wasmpool_memory_data_size(memory);
  CHECK(size == (which == 0 ? 65536u : 131072u));
  if (which == 0) {
    CHECK(memcmp(data + 64, "pristine", 8) == 0);
  } else {
    CHECK(data[64] == 0);
  }
  CHECK(data[300] == 0 && data[size - 1] == 0);
  wasmpool_global_t *g = NULL;
  OK(wasmpool_instance_get_global(instance, "g", &g));
  wasmpool_val_t v;
  wasmpool_global_get(g, &v);
  CHECK(v.kind == WASMPOOL_I32 && v.of.i32 == (which == 0 ? 11 : 3));
  wasmpool_table_t *table = NULL;
  OK(wasmpool_instance_get_table(instance, "table", &table));
  CHECK(wasmpool_table_size(table) == (which == 0 ? 4u : 2u));
  OK(wasmpool_table_get(table, 0, &v));
  CHECK(v.kind == WASMPOOL_FUNCREF && v.of.ref == NULL);
  if (which == 0) {
    OK(wasmpool_table_get(table, 1, &v));
    CHECK(v.kind == WASMPOOL_FUNCREF && v.of.ref != NULL);
  }
  if (failures) {
    fprintf(stderr, "first failure in cycle %ld (module %d)\n", cycle, which);
    exit(1);
  }

  /* Dirty from the host too: memory bytes and a global. */
  wasmpool_memory_data(memory)[300] = 0xAB;
  wasmpool_memory_data(memory)[size - 1] = 0xCD;
  wasmpool_val_t nv = val_i32(-1);
  OK(wasmpool_global_set(g, &nv));
}

int main(void) {
  long cycles = iterations(10000);
  wasmpool_engine_t *engine = pooling_engine(16, 4 << 16, WARM);
  CHECK(wasmpool_engine_is_pooling(engine));
  wasmpool_module_t *modules[2] = {compile_wat(engine, WAT_A), compile_wat(engine, WAT_B)};
  wasmpool_linker_t *linker = wasmpool_linker_new(engine);
  wasmpool_instance_pre_t *pres[2];
  OK(wasmpool_linker_instantiate_pre(linker, modules[0], &pres[0]));
  OK(wasmpool_linker_instantiate_pre(linker, modules[1], &pres[1]));

  for (long i = 0; i < cycles; i++) {
    /* Mostly module A; every 7th cycle module B takes a slot A used. */
    int which = (i % 7 == 6) ? 1 : 0;
    wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
    CHECK(store != NULL);
    wasmpool_instance_t *instance = NULL;
    wasmpool_trap_t *trap = NULL;
    OK(wasmpool_instance_pre_instantiate(pres[which], store, &instance, &trap));
    CHECK(trap == NULL);
    check_pristine_from_host(instance, which, i);

    wasmpool_val_t arg = val_i32((int32_t)i + 1000), result;
    /* The host dirtied byte 300, the last byte and g: run() sees its own state. */
    wasmpool_global_t *g = NULL;
    OK(wasmpool_instance_get_global(instance, "g", &g));
    wasmpool_val_t reset = val_i32(which == 0 ? 11 : 3);
    OK(wasmpool_global_set(g, &reset));
    call_ok(store, get_func(instance, "run"), &arg, 1, &result, 1);
    /* A: byte 300 (0xAB, from the host) is inside the summed first 4 KiB, then memory.size 1,
     * g 11, h -5, table[1]() 7, 'p'. B: bytes 200 and 64 are 0, g 3, memory.size 2. */
    int32_t want = which == 0 ? 0xAB + 1 + 11 - 5 + 7 + 'p' : 0 + 0 + 3 + 2;
    if (result.of.i32 != want) {
      fprintf(stderr, "cycle %ld (module %d): run() = %d, want %d: state leaked from an earlier instance\n", i, which,
              result.of.i32, want);
      return 1;
    }
    wasmpool_store_delete(store);
  }

  wasmpool_pool_metrics_t m;
  CHECK(wasmpool_engine_pool_metrics(engine, &m));
  printf("after %ld cycles: live instances %llu, memories %llu, tables %llu; warm memories %llu, warm tables %llu; "
         "resets %llu, affinity hits %llu\n",
         cycles, (unsigned long long)m.core_instances, (unsigned long long)m.memories, (unsigned long long)m.tables,
         (unsigned long long)m.unused_warm_memories, (unsigned long long)m.unused_warm_tables,
         (unsigned long long)m.resets, (unsigned long long)m.affinity_hits);
  CHECK(m.core_instances == 0);
  CHECK(m.memories == 0);
  CHECK(m.tables == 0);
  CHECK(m.unused_warm_memories <= WARM);
  CHECK(m.unused_warm_tables <= WARM);

  wasmpool_instance_pre_delete(pres[0]);
  wasmpool_instance_pre_delete(pres[1]);
  wasmpool_linker_delete(linker);
  wasmpool_module_delete(modules[0]);
  wasmpool_module_delete(modules[1]);
  wasmpool_engine_delete(engine);
  return finish("test_cycles");
}
