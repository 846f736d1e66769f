/* ctest: a C program built three ways gives the same results. tests/simd/kernels.c (SIMD
 * kernels in plain C) is compiled natively into this test and, by clang, to
 * tests/simd/kernels-simd.wasm (-O3 -msimd128) and tests/simd/kernels-scalar.wasm (-O3, no SIMD);
 * the exact commands are at the top of kernels.c. Every kernel, for several seeds, must return
 * the same checksum natively and from both modules, under an on-demand engine and under one
 * with explicit bounds checks. Argument: the tests/simd directory. */
#include "testutil.h"

/* The native build of the kernels. */
#include "../simd/kernels.c"

static wasmpool_module_t *load(wasmpool_engine_t *engine, const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t len = 0;
  char *bytes = read_file(path, &len);
  wasmpool_module_t *module = NULL;
  OK(wasmpool_module_new(engine, (const uint8_t *)bytes, len, &module));
  free(bytes);
  return module;
}

static int64_t call_kernel(wasmpool_store_t *store, wasmpool_func_t *f, int32_t k, uint32_t seed) {
  wasmpool_val_t args[2] = {val_i32(k), val_i32((int32_t)seed)};
  wasmpool_val_t result;
  call_ok(store, f, args, 2, &result, 1);
  CHECK(result.kind == WASMPOOL_I64);
  return result.of.i64;
}

static void run(wasmpool_engine_t *engine, const char *dir) {
  wasmpool_module_t *simd = load(engine, dir, "kernels-simd.wasm");
  wasmpool_module_t *scalar = load(engine, dir, "kernels-scalar.wasm");
  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_instance_t *simd_instance = instantiate(store, simd);
  wasmpool_instance_t *scalar_instance = instantiate(store, scalar);
  wasmpool_func_t *simd_kernel = get_func(simd_instance, "kernel");
  wasmpool_func_t *scalar_kernel = get_func(scalar_instance, "kernel");

  wasmpool_val_t count;
  call_ok(store, get_func(simd_instance, "kernel_count"), NULL, 0, &count, 1);
  CHECK(count.of.i32 == kernel_count());
  static const uint32_t seeds[] = {1, 2463534242u, 0xdeadbeefu, 12345};
  for (int32_t k = 0; k < kernel_count(); k++) {
    for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++) {
      int64_t native = kernel(k, seeds[s]);
      int64_t with_simd = call_kernel(store, simd_kernel, k, seeds[s]);
      int64_t without = call_kernel(store, scalar_kernel, k, seeds[s]);
      if (with_simd != native || without != native) {
        fprintf(stderr, "kernel %d seed %u: native %lld, simd wasm %lld, scalar wasm %lld\n", k, seeds[s],
                (long long)native, (long long)with_simd, (long long)without);
        failures++;
      }
    }
  }
  wasmpool_store_delete(store);
  wasmpool_module_delete(simd);
  wasmpool_module_delete(scalar);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <tests/simd dir>\n", argv[0]);
    return 2;
  }
  wasmpool_engine_t *engine = on_demand_engine();
  run(engine, argv[1]);
  wasmpool_engine_delete(engine);
  /* Explicit bounds checks instead of guard pages. */
  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_memory_reservation(config, 1 << 20);
  wasmpool_config_set_memory_guard_size(config, 0);
  OK(wasmpool_engine_new(config, &engine));
  wasmpool_config_delete(config);
  run(engine, argv[1]);
  wasmpool_engine_delete(engine);
  return finish("test_simd_program");
}
