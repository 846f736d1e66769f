/* wasmpool-compile: turns a WebAssembly module (.wasm, or .wat text) into a precompiled
 * file that wasmpool_module_deserialize_file loads without compiling.
 *
 *   wasmpool-compile [options] input.wasm -o output.cwasm
 *
 * The file only loads into engines of the same libwasmpool build configured like the one
 * used here for everything that changes generated code, on a machine with the same CPU
 * features; pass the same settings as your host's engine:
 *   --fuel                      wasmpool_config_set_consume_fuel(config, true)
 *   --epochs                    wasmpool_config_set_epoch_interruption(config, true)
 *   --memory-reservation BYTES  wasmpool_config_set_memory_reservation
 *   --memory-guard-size BYTES   wasmpool_config_set_memory_guard_size
 *   --no-multi-memory           wasmpool_config_set_wasm_multi_memory(config, false)
 * The allocation strategy does not matter: pooling and on-demand engines share files.
 *
 * A C program rather than a Rust binary of the crate: it links the same libwasmpool the
 * host links (files carry the library's build id, so that is the library that must write
 * them), it is built and installed by CMake with the library, and it shows the C API.
 *
 * The output is written to a temporary file beside it and renamed into place, so a host
 * that has the old file mapped keeps its old contents (a loaded file must never change
 * under a live module). Exit status: 0 on success, 1 on an error, 2 on bad usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wasmpool.h"

static int usage(void) {
  fprintf(stderr,
          "usage: wasmpool-compile [--fuel] [--epochs] [--memory-reservation BYTES]\n"
          "                        [--memory-guard-size BYTES] [--no-multi-memory]\n"
          "                        input.wasm|input.wat -o output.cwasm\n");
  return 2;
}

static int report(wasmpool_error_t *err, const char *what) {
  fprintf(stderr, "wasmpool-compile: %s: %s\n", what, wasmpool_error_message(err));
  wasmpool_error_delete(err);
  return 1;
}

/* Reads a whole file into a malloc'ed buffer; NULL (with a message) on failure. */
static uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "wasmpool-compile: cannot open %s: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  size_t got;
  while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *bigger = realloc(buf, cap *= 2);
      if (bigger == NULL) free(buf);
      buf = bigger;
    }
  }
  int failed = ferror(f);
  fclose(f);
  if (buf == NULL || failed) {
    fprintf(stderr, "wasmpool-compile: cannot read %s\n", path);
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

static int parse_bytes(const char *s, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno != 0 || end == s || *end != '\0') return 0;
  *out = v;
  return 1;
}

int main(int argc, char **argv) {
  const char *input = NULL, *output = NULL;
  wasmpool_config_t *config = wasmpool_config_new();
  for (int i = 1; i < argc; i++) {
    uint64_t bytes = 0;
    if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
      output = argv[++i];
    } else if (strcmp(argv[i], "--fuel") == 0) {
      wasmpool_config_set_consume_fuel(config, true);
    } else if (strcmp(argv[i], "--epochs") == 0) {
      wasmpool_config_set_epoch_interruption(config, true);
    } else if (strcmp(argv[i], "--no-multi-memory") == 0) {
      wasmpool_config_set_wasm_multi_memory(config, false);
    } else if (strcmp(argv[i], "--memory-reservation") == 0 && i + 1 < argc && parse_bytes(argv[i + 1], &bytes)) {
      wasmpool_config_set_memory_reservation(config, bytes);
      i++;
    } else if (strcmp(argv[i], "--memory-guard-size") == 0 && i + 1 < argc && parse_bytes(argv[i + 1], &bytes)) {
      wasmpool_config_set_memory_guard_size(config, bytes);
      i++;
    } else if (argv[i][0] != '-' && input == NULL) {
      input = argv[i];
    } else {
      wasmpool_config_delete(config);
      return usage();
    }
  }
  if (input == NULL || output == NULL) {
    wasmpool_config_delete(config);
    return usage();
  }

  wasmpool_engine_t *engine = NULL;
  wasmpool_error_t *err = wasmpool_engine_new(config, &engine);
  wasmpool_config_delete(config);
  if (err) return report(err, "creating the engine");

  size_t len = 0;
  uint8_t *source = read_all(input, &len);
  if (source == NULL) return 1;
  uint8_t *wasm = source, *text_wasm = NULL;
  size_t wasm_len = len, text_len = 0;
  if (len < 4 || memcmp(source, "\0asm", 4) != 0) {
    /* Not a binary: WebAssembly text. */
    err = wasmpool_wat2wasm((const char *)source, len, &text_wasm, &text_len);
    if (err) return report(err, input);
    wasm = text_wasm;
    wasm_len = text_len;
  }
  wasmpool_module_t *module = NULL;
  err = wasmpool_module_new(engine, wasm, wasm_len, &module);
  free(source);
  wasmpool_bytes_delete(text_wasm, text_len);
  if (err) return report(err, input);

  uint8_t *file = NULL;
  size_t file_len = 0;
  err = wasmpool_module_serialize(module, &file, &file_len);
  wasmpool_module_delete(module);
  if (err) return report(err, "serializing");

  size_t tmp_len = strlen(output) + 32;
  char *tmp = malloc(tmp_len);
  if (tmp == NULL) return 1;
  snprintf(tmp, tmp_len, "%s.tmp.%ld", output, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  int ok = f != NULL && fwrite(file, 1, file_len, f) == file_len;
  if (f != NULL && fclose(f) != 0) ok = 0;
  if (ok && rename(tmp, output) != 0) ok = 0;
  if (!ok) {
    fprintf(stderr, "wasmpool-compile: cannot write %s: %s\n", output, strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  wasmpool_bytes_delete(file, file_len);
  wasmpool_engine_delete(engine);
  return ok ? 0 : 1;
}
