/* Helpers shared by the C tests: checks that count failures, and short ways to
 * compile WAT, make engines and call functions. Header-only (static functions). */
#ifndef WASMPOOL_TESTUTIL_H
#define WASMPOOL_TESTUTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmpool.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* Fails the test (and exits) when err is not NULL. */
#define OK(expr) ok_at((expr), __FILE__, __LINE__, #expr)
static inline void ok_at(wasmpool_error_t *err, const char *file, int line, const char *what) {
  if (err != NULL) {
    fprintf(stderr, "%s:%d: %s failed: %s\n", file, line, what, wasmpool_error_message(err));
    wasmpool_error_delete(err);
    exit(1);
  }
}

/* Checks that err is an error of `kind` (and frees it). With `needle`, its
 * message must contain it. */
#define EXPECT_ERROR(expr, kind, needle) expect_error_at((expr), (kind), (needle), __FILE__, __LINE__, #expr)
static inline void expect_error_at(wasmpool_error_t *err, wasmpool_error_kind_t kind, const char *needle, const char *file,
                            int line, const char *what) {
  if (err == NULL) {
    fprintf(stderr, "%s:%d: %s: expected error kind %d, got success\n", file, line, what, kind);
    failures++;
    return;
  }
  if (wasmpool_error_kind(err) != kind) {
    fprintf(stderr, "%s:%d: %s: expected error kind %d, got %d: %s\n", file, line, what, kind,
            wasmpool_error_kind(err), wasmpool_error_message(err));
    failures++;
  } else if (needle != NULL && strstr(wasmpool_error_message(err), needle) == NULL) {
    fprintf(stderr, "%s:%d: %s: message \"%s\" lacks \"%s\"\n", file, line, what, wasmpool_error_message(err), needle);
    failures++;
  }
  const char *msg = wasmpool_error_message(err);
  if (msg == NULL || msg[0] == '\0') {
    fprintf(stderr, "%s:%d: %s: empty error message\n", file, line, what);
    failures++;
  }
  wasmpool_error_delete(err);
}

/* Reads a whole file (NUL-terminated; its length to *len when len is not NULL), or exits. */
static inline char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(1);
  }
  buf[n] = '\0';
  fclose(f);
  if (len) *len = (size_t)n;
  return buf;
}

/* Compiles WAT text to a module of `engine`, or exits. */
static inline wasmpool_module_t *compile_wat(const wasmpool_engine_t *engine, const char *wat) {
  uint8_t *bytes = NULL;
  size_t len = 0;
  OK(wasmpool_wat2wasm(wat, strlen(wat), &bytes, &len));
  wasmpool_module_t *module = NULL;
  OK(wasmpool_module_new(engine, bytes, len, &module));
  wasmpool_bytes_delete(bytes, len);
  return module;
}

/* Compiles WAT text; returns the error (module creation's or translation's). */
static inline wasmpool_error_t *try_compile_wat(const wasmpool_engine_t *engine, const char *wat, wasmpool_module_t **out) {
  uint8_t *bytes = NULL;
  size_t len = 0;
  wasmpool_error_t *err = wasmpool_wat2wasm(wat, strlen(wat), &bytes, &len);
  if (err != NULL) return err;
  err = wasmpool_module_new(engine, bytes, len, out);
  wasmpool_bytes_delete(bytes, len);
  return err;
}

static inline wasmpool_engine_t *on_demand_engine(void) {
  wasmpool_engine_t *engine = NULL;
  OK(wasmpool_engine_new(NULL, &engine));
  return engine;
}

/* A pooling engine with `slots` slots of each kind and small memories, so tests
 * do not reserve terabytes of address space. */
static inline wasmpool_engine_t *pooling_engine(unsigned slots, size_t max_memory, unsigned warm) {
  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, slots);
  wasmpool_pool_config_set_total_memories(pool, slots);
  wasmpool_pool_config_set_total_tables(pool, slots);
  wasmpool_pool_config_set_max_memory_size(pool, max_memory);
  wasmpool_pool_config_set_max_unused_warm_slots(pool, warm);
  wasmpool_engine_t *engine = NULL;
  OK(wasmpool_engine_new_with_pooling(NULL, pool, &engine));
  wasmpool_pool_config_delete(pool);
  return engine;
}

static inline wasmpool_val_t val_i32(int32_t x) {
  wasmpool_val_t v;
  memset(&v, 0, sizeof v);
  v.kind = WASMPOOL_I32;
  v.of.i32 = x;
  return v;
}

static inline wasmpool_val_t val_i64(int64_t x) {
  wasmpool_val_t v;
  memset(&v, 0, sizeof v);
  v.kind = WASMPOOL_I64;
  v.of.i64 = x;
  return v;
}

/* Instantiates `module` (no imports) in `store`, or exits. */
static inline wasmpool_instance_t *instantiate(wasmpool_store_t *store, const wasmpool_module_t *module) {
  wasmpool_instance_t *instance = NULL;
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_instance_new(store, module, NULL, &instance, &trap));
  if (trap != NULL) {
    fprintf(stderr, "start function trapped: %s\n", wasmpool_trap_message(trap));
    exit(1);
  }
  return instance;
}

static inline wasmpool_func_t *get_func(wasmpool_instance_t *instance, const char *name) {
  wasmpool_func_t *func = NULL;
  OK(wasmpool_instance_get_func(instance, name, &func));
  return func;
}

/* Calls `func` expecting no trap. */
static inline void call_ok(wasmpool_store_t *store, const wasmpool_func_t *func, const wasmpool_val_t *args, size_t nargs,
                    wasmpool_val_t *results, size_t nresults) {
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_func_call(store, func, args, nargs, results, nresults, &trap));
  if (trap != NULL) {
    fprintf(stderr, "unexpected trap: %s\n", wasmpool_trap_message(trap));
    exit(1);
  }
}

/* Calls `func` expecting a trap; returns its code (frees the trap). */
static inline int call_trap(wasmpool_store_t *store, const wasmpool_func_t *func, const wasmpool_val_t *args, size_t nargs,
                     wasmpool_val_t *results, size_t nresults, char *message, size_t message_len) {
  wasmpool_trap_t *trap = NULL;
  OK(wasmpool_func_call(store, func, args, nargs, results, nresults, &trap));
  if (trap == NULL) return -1;
  int code = wasmpool_trap_code(trap);
  if (message != NULL) snprintf(message, message_len, "%s", wasmpool_trap_message(trap));
  wasmpool_trap_delete(trap);
  return code;
}

/* The engine's pool metrics (checks that it is a pooling engine). */
static inline wasmpool_pool_metrics_t pool_metrics(const wasmpool_engine_t *engine) {
  wasmpool_pool_metrics_t m;
  memset(&m, 0, sizeof m);
  CHECK(wasmpool_engine_pool_metrics(engine, &m));
  return m;
}

/* Polls a resumable call until done; returns the number of polls that suspended. */
static inline long drive_future(wasmpool_call_future_t *f) {
  long pending = 0;
  while (!wasmpool_call_future_poll(f)) pending++;
  return pending;
}

/* Iteration count: `normal`, or the smaller WASMPOOL_TEST_ITERATIONS (for runs
 * under valgrind or sanitizers). */
static inline long iterations(long normal) {
  const char *env = getenv("WASMPOOL_TEST_ITERATIONS");
  if (env != NULL && atol(env) > 0 && atol(env) < normal) return atol(env);
  return normal;
}

static inline int finish(const char *name) {
  if (failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

#endif
