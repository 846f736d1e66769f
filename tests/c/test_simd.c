/* ctest: v128 values through the C API (SIMD).
 *  - a C call passes v128 arguments and reads v128 results (`of.v128`, 16 little-endian bytes);
 *  - a host function takes and returns v128 values beside scalars, called from wasm;
 *  - v128 globals: an exported mutable one read and written from C and from wasm, and a
 *    host-created one imported by the module;
 *  - a table of functions with a v128 signature, called with call_indirect.
 * Runs on an on-demand and a pooling engine. */
#include <stdint.h>

#include "testutil.h"

static const char *const WAT =
    "(module\n"
    "  (import \"host\" \"mix\" (func $mix (param v128 i32 v128) (result v128 f64)))\n"
    "  (import \"host\" \"base\" (global $base v128))\n"
    "  (global $acc (export \"acc\") (mut v128) (v128.const i32x4 1 2 3 4))\n"
    "  (type $vv (func (param v128) (result v128)))\n"
    "  (table 2 funcref)\n"
    "  (elem (i32.const 0) $double $negate)\n"
    "  (func $double (type $vv) (i32x4.add (local.get 0) (local.get 0)))\n"
    "  (func $negate (type $vv) (i32x4.neg (local.get 0)))\n"
    "  (func (export \"add\") (param v128 v128) (result v128) (i32x4.add (local.get 0) (local.get 1)))\n"
    "  (func (export \"through_host\") (param v128) (result v128 f64)\n"
    "    (call $mix (local.get 0) (i32.const 10) (global.get $base)))\n"
    "  (func (export \"accumulate\") (param v128)\n"
    "    (global.set $acc (i32x4.add (global.get $acc) (local.get 0))))\n"
    "  (func (export \"indirect\") (param v128 i32) (result v128)\n"
    "    (call_indirect (type $vv) (local.get 0) (local.get 1))))\n";

static wasmpool_val_t v128_i32x4(int32_t a, int32_t b, int32_t c, int32_t d) {
  wasmpool_val_t v;
  memset(&v, 0, sizeof v);
  v.kind = WASMPOOL_V128;
  int32_t lanes[4] = {a, b, c, d};
  for (int i = 0; i < 4; i++) {
    uint32_t x = (uint32_t)lanes[i];
    for (int j = 0; j < 4; j++) v.of.v128[i * 4 + j] = (uint8_t)(x >> (8 * j));
  }
  return v;
}

static int32_t lane_i32(const wasmpool_val_t *v, int i) {
  uint32_t x = 0;
  for (int j = 0; j < 4; j++) x |= (uint32_t)v->of.v128[i * 4 + j] << (8 * j);
  return (int32_t)x;
}

static int is_i32x4(const wasmpool_val_t *v, int32_t a, int32_t b, int32_t c, int32_t d) {
  return v->kind == WASMPOOL_V128 && lane_i32(v, 0) == a && lane_i32(v, 1) == b && lane_i32(v, 2) == c &&
         lane_i32(v, 3) == d;
}

static int host_calls = 0;

/* mix(a, k, b) = (a + b + k lane by lane, sum of a's lanes as f64). */
static wasmpool_trap_t *host_mix(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t nargs,
                                 wasmpool_val_t *results, size_t nresults) {
  (void)env; (void)caller;
  host_calls++;
  CHECK(nargs == 3 && nresults == 2);
  CHECK(args[0].kind == WASMPOOL_V128 && args[1].kind == WASMPOOL_I32 && args[2].kind == WASMPOOL_V128);
  CHECK(results[0].kind == WASMPOOL_V128 && results[1].kind == WASMPOOL_F64);
  /* Results arrive zeroed. */
  for (int i = 0; i < 16; i++) CHECK(results[0].of.v128[i] == 0);
  double sum = 0;
  int32_t out[4];
  for (int i = 0; i < 4; i++) {
    out[i] = lane_i32(&args[0], i) + lane_i32(&args[2], i) + args[1].of.i32;
    sum += lane_i32(&args[0], i);
  }
  results[0] = v128_i32x4(out[0], out[1], out[2], out[3]);
  results[1].of.f64 = sum;
  return NULL;
}

static void run(wasmpool_engine_t *engine) {
  host_calls = 0;
  wasmpool_module_t *module = compile_wat(engine, WAT);
  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_linker_t *linker = wasmpool_linker_new(engine);

  const wasmpool_valkind_t params[3] = {WASMPOOL_V128, WASMPOOL_I32, WASMPOOL_V128};
  const wasmpool_valkind_t results_kinds[2] = {WASMPOOL_V128, WASMPOOL_F64};
  OK(wasmpool_linker_define_func(linker, "host", "mix", params, 3, results_kinds, 2, host_mix, NULL, NULL));
  wasmpool_globaltype_t base_ty = {WASMPOOL_V128, false};
  wasmpool_val_t base_init = v128_i32x4(100, 200, 300, 400);
  wasmpool_global_t *base = NULL;
  OK(wasmpool_global_new(store, &base_ty, &base_init, &base));
  wasmpool_val_t got;
  wasmpool_global_get(base, &got);
  CHECK(is_i32x4(&got, 100, 200, 300, 400));
  OK(wasmpool_linker_define_global(linker, "host", "base", base));

  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_instance_new(store, module, linker, &instance, &trap));
  CHECK(trap == NULL);

  /* A plain call with v128 arguments and result. */
  wasmpool_val_t args[2] = {v128_i32x4(1, -2, 0x7fffffff, 5), v128_i32x4(10, 20, 1, -5)};
  wasmpool_val_t res[2];
  call_ok(store, get_func(instance, "add"), args, 2, res, 1);
  CHECK(is_i32x4(&res[0], 11, 18, INT32_MIN, 0));

  /* Through a host function: wasm passes v128 and i32 to C and gets v128 and f64 back. */
  wasmpool_val_t x = v128_i32x4(1, 2, 3, 4);
  call_ok(store, get_func(instance, "through_host"), &x, 1, res, 2);
  CHECK(host_calls == 1);
  CHECK(is_i32x4(&res[0], 111, 212, 313, 414));
  CHECK(res[1].kind == WASMPOOL_F64 && res[1].of.f64 == 10.0);

  /* A mutable v128 global, from wasm and from C. */
  wasmpool_global_t *acc = NULL;
  OK(wasmpool_instance_get_global(instance, "acc", &acc));
  CHECK(wasmpool_global_kind(acc) == WASMPOOL_V128);
  wasmpool_global_get(acc, &got);
  CHECK(is_i32x4(&got, 1, 2, 3, 4));
  wasmpool_val_t step = v128_i32x4(10, 10, 10, -10);
  call_ok(store, get_func(instance, "accumulate"), &step, 1, NULL, 0);
  wasmpool_global_get(acc, &got);
  CHECK(is_i32x4(&got, 11, 12, 13, -6));
  wasmpool_val_t set = v128_i32x4(-1, 0, 1, 2);
  OK(wasmpool_global_set(acc, &set));
  call_ok(store, get_func(instance, "accumulate"), &step, 1, NULL, 0);
  wasmpool_global_get(acc, &got);
  CHECK(is_i32x4(&got, 9, 10, 11, -8));
  /* A value of another kind is refused and changes nothing. */
  wasmpool_val_t wrong = val_i32(3);
  EXPECT_ERROR(wasmpool_global_set(acc, &wrong), WASMPOOL_ERROR_INVALID_ARGUMENT, NULL);
  wasmpool_global_get(acc, &got);
  CHECK(is_i32x4(&got, 9, 10, 11, -8));

  /* A table of functions with a v128 signature. */
  wasmpool_val_t ind[2] = {v128_i32x4(3, -4, 5, 0), val_i32(0)};
  call_ok(store, get_func(instance, "indirect"), ind, 2, res, 1);
  CHECK(is_i32x4(&res[0], 6, -8, 10, 0));
  ind[1] = val_i32(1);
  call_ok(store, get_func(instance, "indirect"), ind, 2, res, 1);
  CHECK(is_i32x4(&res[0], -3, 4, -5, 0));

  wasmpool_linker_delete(linker);
  wasmpool_store_delete(store);
  wasmpool_module_delete(module);
}

int main(void) {
  wasmpool_engine_t *engine = on_demand_engine();
  run(engine);
  wasmpool_engine_delete(engine);
  engine = pooling_engine(4, 1 << 20, 1);
  run(engine);
  wasmpool_engine_delete(engine);
  return finish("test_simd");
}
