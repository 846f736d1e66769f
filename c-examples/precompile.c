/* precompile: compile a module once, save it, and start from the saved file afterwards.
 * Compiles a WebAssembly module to a precompiled file (wasmpool_module_serialize), loads
 * the file (wasmpool_module_deserialize_file: no compilation, the code and data are
 * mapped from the file) and runs it, timing both.
 *
 *   precompile [module.wasm|module.wat [output.cwasm]]
 *
 * Without arguments it uses a small built-in module. The module's export "run", if it
 * takes no parameters, is called and its result printed.
 *
 * Trust: a precompiled file is native code. Load only files you produced, and never
 * modify one in place while it is loaded (write a new file and rename it over the old). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wasmpool.h"

static const char *const WAT =
    "(module\n"
    "  (memory 1)\n"
    "  (data (i32.const 0) \"\\01\\02\\03\\04\\05\\06\\07\\08\")\n"
    "  (func $fib (param i32) (result i32)\n"
    "    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))\n"
    "      (then (local.get 0))\n"
    "      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))\n"
    "                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))\n"
    "  (func (export \"run\") (result i32)\n"
    "    (i32.add (call $fib (i32.const 20)) (i32.load8_u (i32.const 7)))))\n";

static int report(wasmpool_error_t *err) {
  fprintf(stderr, "error: %s\n", wasmpool_error_message(err));
  wasmpool_error_delete(err);
  return 1;
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* Reads a whole file into a malloc'ed buffer, or exits. */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc(n > 0 ? (size_t)n : 1);
  if (n < 0 || buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(1);
  }
  fclose(f);
  *len = (size_t)n;
  return buf;
}

int main(int argc, char **argv) {
  const char *input = argc > 1 ? argv[1] : NULL;
  char output[256];
  if (argc > 2) {
    snprintf(output, sizeof output, "%s", argv[2]);
  } else {
    snprintf(output, sizeof output, "/tmp/wasmpool-precompile-%ld.cwasm", (long)getpid());
  }

  wasmpool_engine_t *engine = NULL;
  wasmpool_error_t *err = wasmpool_engine_new(NULL, &engine);
  if (err) return report(err);
  /* The module: the file named on the command line (binary or text), or the built-in text. */
  size_t source_len = 0;
  char *source = input ? read_file(input, &source_len) : NULL;
  uint8_t *wasm = (uint8_t *)source, *text_wasm = NULL;
  size_t wasm_len = source_len, text_len = 0;
  if (source == NULL || source_len < 4 || memcmp(source, "\0asm", 4) != 0) {
    err = source ? wasmpool_wat2wasm(source, source_len, &text_wasm, &text_len)
                 : wasmpool_wat2wasm(WAT, strlen(WAT), &text_wasm, &text_len);
    if (err) return report(err);
    wasm = text_wasm;
    wasm_len = text_len;
  }

  /* 1. Compile and save. The file only loads into engines of this library build whose
   *    code-generation settings (memory reservation and guard, fuel, epochs) match. */
  double t0 = now_us();
  wasmpool_module_t *module = NULL;
  err = wasmpool_module_new(engine, wasm, wasm_len, &module);
  double t1 = now_us();
  free(source);
  wasmpool_bytes_delete(text_wasm, text_len);
  if (err) return report(err);
  uint8_t *bytes = NULL;
  size_t len = 0;
  err = wasmpool_module_serialize(module, &bytes, &len);
  wasmpool_module_delete(module);
  if (err) return report(err);
  FILE *f = fopen(output, "wb");
  if (f == NULL || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
    perror(output);
    return 1;
  }
  wasmpool_bytes_delete(bytes, len);

  /* 2. Load the file: no compilation. The module keeps the file mapped until it and its
   *    instances are deleted; the name may be removed at once. */
  double t2 = now_us();
  err = wasmpool_module_deserialize_file(engine, output, &module);
  double t3 = now_us();
  if (argc <= 2) unlink(output);
  if (err) return report(err);
  printf("compiled in %.0f us, wrote %zu bytes to %s, loaded in %.0f us\n", t1 - t0, len, output, t3 - t2);

  /* 3. Run it like any module. */
  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  err = wasmpool_instance_new(store, module, NULL, &instance, &trap);
  if (err) return report(err);
  if (trap) {
    fprintf(stderr, "trap: %s\n", wasmpool_trap_message(trap));
    wasmpool_trap_delete(trap);
    return 1;
  }
  wasmpool_func_t *run = NULL;
  err = wasmpool_instance_get_func(instance, "run", &run);
  if (err == NULL) {
    size_t nparams = 0, nresults = 0;
    const wasmpool_functype_t *ty = wasmpool_func_type(run);
    wasmpool_functype_params(ty, &nparams);
    const wasmpool_valkind_t *results = wasmpool_functype_results(ty, &nresults);
    wasmpool_val_t result;
    if (nparams == 0 && nresults <= 1) {
      err = wasmpool_func_call(store, run, NULL, 0, &result, nresults, &trap);
      if (err) return report(err);
      if (trap) {
        fprintf(stderr, "trap: %s\n", wasmpool_trap_message(trap));
        wasmpool_trap_delete(trap);
        return 1;
      }
      if (nresults == 1 && results[0] == WASMPOOL_I32) printf("run() = %d\n", result.of.i32);
      if (nresults == 1 && results[0] == WASMPOOL_I64) printf("run() = %lld\n", (long long)result.of.i64);
      if (input == NULL && (nresults != 1 || result.of.i32 != 6765 + 8)) {
        fprintf(stderr, "unexpected result\n");
        return 1;
      }
    }
  } else {
    wasmpool_error_delete(err);
  }
  wasmpool_store_delete(store);
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
  return 0;
}
