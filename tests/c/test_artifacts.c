/* ctest: precompiled modules through the C API.
 *  1. wasmpool_module_serialize, then wasmpool_module_deserialize and, from a file,
 *     wasmpool_module_deserialize_file: the loaded modules list the same exports and run
 *     with the same results (memory contents from the data segment, a global, a call),
 *     on an on-demand and on a pooling engine, each loading the other's file.
 *  2. Refusals are WASMPOOL_ERROR_INVALID_MODULE naming the cause: a .wasm binary, bytes
 *     that are not ours, every truncation, a flipped byte (checksum), other engine
 *     settings (fuel); a missing file is WASMPOOL_ERROR_INVALID_ARGUMENT.
 *  3. The serialized buffer is freed with wasmpool_bytes_delete, modules with
 *     wasmpool_module_delete, and a file-backed module outlives the deletion of its name. */
#include <unistd.h>

#include "testutil.h"

static const char *const WAT =
    "(module $artifact\n"
    "  (memory (export \"memory\") 1)\n"
    "  (data (i32.const 100) \"precompiled\")\n"
    "  (global $g (mut i32) (i32.const 41))\n"
    "  (func (export \"bump\") (result i32)\n"
    "    (global.set $g (i32.add (global.get $g) (i32.const 1)))\n"
    "    (global.get $g))\n"
    "  (func (export \"load\") (param i32) (result i32) (i32.load8_u (local.get 0))))\n";

/* Instantiates `module` in a fresh store and checks what it computes. */
static void check_runs(const wasmpool_engine_t *engine, const wasmpool_module_t *module) {
  CHECK(wasmpool_module_exports_len(module) == 3);
  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_instance_t *instance = instantiate(store, module);
  wasmpool_val_t result;
  call_ok(store, get_func(instance, "bump"), NULL, 0, &result, 1);
  CHECK(result.of.i32 == 42);
  wasmpool_val_t arg = val_i32(100);
  call_ok(store, get_func(instance, "load"), &arg, 1, &result, 1);
  CHECK(result.of.i32 == 'p');
  wasmpool_memory_t *memory = NULL;
  OK(wasmpool_instance_get_memory(instance, "memory", &memory));
  CHECK(memcmp(wasmpool_memory_data(memory) + 100, "precompiled", 11) == 0);
  wasmpool_store_delete(store);
}

static void write_file(const char *path, const uint8_t *bytes, size_t len) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f == NULL) exit(1);
  CHECK(fwrite(bytes, 1, len, f) == len);
  fclose(f);
}

int main(void) {
  wasmpool_engine_t *engines[2] = {on_demand_engine(), pooling_engine(2, 1 << 20, 1)};
  char path[64];
  snprintf(path, sizeof path, "/tmp/wasmpool-test-artifacts-%d.cwasm", (int)getpid());

  uint8_t *files[2];
  size_t lens[2];
  for (int e = 0; e < 2; e++) {
    wasmpool_module_t *compiled = compile_wat(engines[e], WAT);
    check_runs(engines[e], compiled);
    OK(wasmpool_module_serialize(compiled, &files[e], &lens[e]));
    CHECK(lens[e] > 64);
    wasmpool_module_delete(compiled);
  }
  /* One file serves both strategies: the two engines wrote the same bytes. */
  CHECK(lens[0] == lens[1] && memcmp(files[0], files[1], lens[0]) == 0);

  for (int e = 0; e < 2; e++) {
    const uint8_t *file = files[1 - e]; /* the other engine's */
    size_t len = lens[1 - e];
    wasmpool_module_t *loaded = NULL;
    OK(wasmpool_module_deserialize(engines[e], file, len, &loaded));
    check_runs(engines[e], loaded);
    wasmpool_module_delete(loaded);

    write_file(path, file, len);
    OK(wasmpool_module_deserialize_file(engines[e], path, &loaded));
    unlink(path); /* the module keeps the file mapped */
    check_runs(engines[e], loaded);
    check_runs(engines[e], loaded);
    wasmpool_module_delete(loaded);
  }

  /* Refusals. */
  wasmpool_engine_t *engine = engines[0];
  wasmpool_module_t *out = NULL;
  uint8_t *wasm = NULL;
  size_t wasm_len = 0;
  OK(wasmpool_wat2wasm(WAT, strlen(WAT), &wasm, &wasm_len));
  EXPECT_ERROR(wasmpool_module_deserialize(engine, wasm, wasm_len, &out), WASMPOOL_ERROR_INVALID_MODULE,
               "WebAssembly binary");
  wasmpool_bytes_delete(wasm, wasm_len);
  static const uint8_t junk[100] = {1, 2, 3};
  EXPECT_ERROR(wasmpool_module_deserialize(engine, junk, sizeof junk, &out), WASMPOOL_ERROR_INVALID_MODULE,
               "not a precompiled module");
  EXPECT_ERROR(wasmpool_module_deserialize(engine, NULL, 0, &out), WASMPOOL_ERROR_INVALID_MODULE, NULL);
  for (size_t n = 0; n < lens[0]; n++) {
    wasmpool_error_t *err = wasmpool_module_deserialize(engine, files[0], n, &out);
    CHECK(err != NULL && wasmpool_error_kind(err) == WASMPOOL_ERROR_INVALID_MODULE);
    wasmpool_error_delete(err);
  }
  files[0][lens[0] - 1] ^= 0x10;
  EXPECT_ERROR(wasmpool_module_deserialize(engine, files[0], lens[0], &out), WASMPOOL_ERROR_INVALID_MODULE,
               "checksum");
  write_file(path, files[0], lens[0]);
  EXPECT_ERROR(wasmpool_module_deserialize_file(engine, path, &out), WASMPOOL_ERROR_INVALID_MODULE, "checksum");
  unlink(path);
  EXPECT_ERROR(wasmpool_module_deserialize_file(engine, path, &out), WASMPOOL_ERROR_INVALID_ARGUMENT, path);

  wasmpool_config_t *config = wasmpool_config_new();
  wasmpool_config_set_consume_fuel(config, true);
  wasmpool_engine_t *fuel = NULL;
  OK(wasmpool_engine_new(config, &fuel));
  wasmpool_config_delete(config);
  EXPECT_ERROR(wasmpool_module_deserialize(fuel, files[1], lens[1], &out), WASMPOOL_ERROR_INVALID_MODULE,
               "`consume_fuel` is false in the file but true in this engine");
  wasmpool_engine_delete(fuel);

  for (int e = 0; e < 2; e++) {
    wasmpool_bytes_delete(files[e], lens[e]);
    wasmpool_engine_delete(engines[e]);
  }
  return finish("test_artifacts");
}
