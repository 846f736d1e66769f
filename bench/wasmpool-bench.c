/* wasmpool-bench: instantiation and execution benchmarks through the public
 * C API, the path libwasmpool's users take.
 *
 *   wasmpool-bench inst FILE.wat [--strategy ondemand|pooling|pooling-keep-resident]
 *                                [--iters N] [--batches B] [--threads T]
 *   wasmpool-bench exec FILE.wat [--arg N] [--runs R]
 *   wasmpool-bench all [WORKLOAD_DIR]
 *
 * One `inst` iteration is store_new, instantiate from an instance_pre made
 * once, call `run`, store_delete. Each thread runs one warm-up batch, then B
 * timed batches of N iterations; median and min are per iteration per
 * thread, inst_per_s is the aggregate, minor faults come from getrusage. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "wasmpool.h"

#ifndef WASMPOOL_WORKLOADS_DIR
#define WASMPOOL_WORKLOADS_DIR "workloads"
#endif

static void die_error(const char *what, wasmpool_error_t *err) {
  fprintf(stderr, "wasmpool-bench: %s: %s\n", what, wasmpool_error_message(err));
  wasmpool_error_delete(err);
  exit(1);
}

static void die_trap(const char *what, wasmpool_trap_t *trap) {
  fprintf(stderr, "wasmpool-bench: %s trapped: %s\n", what, wasmpool_trap_message(trap));
  wasmpool_trap_delete(trap);
  exit(1);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long minor_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Reads FILE.wat and compiles it. */
static wasmpool_module_t *load(wasmpool_engine_t *engine, const char *path, double *compile_ms) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "wasmpool-bench: cannot open %s: %s\n", path, strerror(errno));
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc((size_t)n);
  if (fread(text, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "wasmpool-bench: cannot read %s\n", path);
    exit(1);
  }
  fclose(f);
  uint8_t *wasm;
  size_t len;
  wasmpool_error_t *err = wasmpool_wat2wasm(text, (size_t)n, &wasm, &len);
  free(text);
  if (err) die_error(path, err);
  wasmpool_module_t *module;
  double t0 = now_ns();
  err = wasmpool_module_new(engine, wasm, len, &module);
  if (compile_ms) *compile_ms = (now_ns() - t0) / 1e6;
  wasmpool_bytes_delete(wasm, len);
  if (err) die_error("compile", err);
  return module;
}

static wasmpool_engine_t *make_engine(const char *strategy) {
  wasmpool_engine_t *engine;
  wasmpool_error_t *err;
  if (strcmp(strategy, "ondemand") == 0) {
    err = wasmpool_engine_new(NULL, &engine);
  } else {
    wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
    wasmpool_pool_config_set_total_core_instances(pool, 1000);
    wasmpool_pool_config_set_total_memories(pool, 1000);
    wasmpool_pool_config_set_total_tables(pool, 1000);
    wasmpool_pool_config_set_max_memory_size(pool, (size_t)256 << 20);
    if (strcmp(strategy, "pooling-keep-resident") == 0) {
      wasmpool_pool_config_set_linear_memory_keep_resident(pool, 1 << 20);
      wasmpool_pool_config_set_table_keep_resident(pool, 1 << 20);
    } else if (strcmp(strategy, "pooling") != 0) {
      fprintf(stderr, "wasmpool-bench: unknown strategy %s\n", strategy);
      exit(2);
    }
    wasmpool_config_t *config = wasmpool_config_new();
    wasmpool_config_set_memory_init_cow(config, true);
    err = wasmpool_engine_new_with_pooling(config, pool, &engine);
    wasmpool_config_delete(config);
    wasmpool_pool_config_delete(pool);
  }
  if (err) die_error("engine", err);
  return engine;
}

struct inst_job {
  wasmpool_engine_t *engine;
  wasmpool_instance_pre_t *pre;
  int iters, batches;
  pthread_barrier_t *start;
  double *batch_ns; /* per-iteration ns of each timed batch */
  int32_t result;
};

static int32_t one_iteration(struct inst_job *job) {
  wasmpool_store_t *store = wasmpool_store_new(job->engine, NULL, NULL);
  wasmpool_instance_t *instance;
  wasmpool_trap_t *trap = NULL;
  wasmpool_error_t *err = wasmpool_instance_pre_instantiate(job->pre, store, &instance, &trap);
  if (err) die_error("instantiate", err);
  if (trap) die_trap("instantiate", trap);
  wasmpool_func_t *run;
  err = wasmpool_instance_get_func(instance, "run", &run);
  if (err) die_error("get run", err);
  wasmpool_val_t result;
  err = wasmpool_func_call(store, run, NULL, 0, &result, 1, &trap);
  if (err) die_error("call run", err);
  if (trap) die_trap("run", trap);
  wasmpool_store_delete(store);
  return result.of.i32;
}

static void *inst_thread(void *arg) {
  struct inst_job *job = arg;
  for (int i = 0; i < job->iters; i++) job->result = one_iteration(job); /* warm-up batch */
  pthread_barrier_wait(job->start);
  for (int b = 0; b < job->batches; b++) {
    double t0 = now_ns();
    for (int i = 0; i < job->iters; i++) job->result = one_iteration(job);
    job->batch_ns[b] = (now_ns() - t0) / job->iters;
  }
  return NULL;
}

struct inst_result {
  double median_ns, min_ns, inst_per_s, minflt_per_iter;
  int32_t result;
};

static struct inst_result run_inst(const char *path, const char *strategy, int iters, int batches, int threads) {
  wasmpool_engine_t *engine = make_engine(strategy);
  wasmpool_module_t *module = load(engine, path, NULL);
  wasmpool_linker_t *linker = wasmpool_linker_new(engine);
  wasmpool_instance_pre_t *pre;
  wasmpool_error_t *err = wasmpool_linker_instantiate_pre(linker, module, &pre);
  if (err) die_error("instantiate_pre", err);

  struct inst_job jobs[64];
  pthread_t tids[64];
  pthread_barrier_t start;
  if (threads < 1 || threads > 64) threads = 1;
  pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
  double *all = calloc((size_t)(threads * batches), sizeof(double));
  for (int t = 0; t < threads; t++) {
    jobs[t] = (struct inst_job){engine, pre, iters, batches, &start, all + t * batches, 0};
    pthread_create(&tids[t], NULL, inst_thread, &jobs[t]);
  }
  pthread_barrier_wait(&start);
  long faults0 = minor_faults();
  double t0 = now_ns();
  for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  double elapsed = now_ns() - t0;
  long faults = minor_faults() - faults0;
  pthread_barrier_destroy(&start);

  struct inst_result r;
  qsort(all, (size_t)(threads * batches), sizeof(double), cmp_double);
  r.median_ns = all[(threads * batches) / 2];
  r.min_ns = all[0];
  double total = (double)threads * iters * batches;
  r.inst_per_s = total / (elapsed / 1e9);
  r.minflt_per_iter = (double)faults / total;
  r.result = jobs[0].result;
  free(all);
  wasmpool_instance_pre_delete(pre);
  wasmpool_linker_delete(linker);
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
  return r;
}

struct exec_result {
  double compile_ms, run_median_ms, run_min_ms;
  int64_t result;
};

static struct exec_result run_exec(const char *path, int32_t arg, int runs) {
  wasmpool_engine_t *engine = make_engine("ondemand");
  struct exec_result r;
  wasmpool_module_t *module = load(engine, path, &r.compile_ms);
  wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
  wasmpool_instance_t *instance;
  wasmpool_trap_t *trap = NULL;
  wasmpool_error_t *err = wasmpool_instance_new(store, module, NULL, &instance, &trap);
  if (err) die_error("instantiate", err);
  if (trap) die_trap("instantiate", trap);
  wasmpool_func_t *run;
  err = wasmpool_instance_get_func(instance, "run", &run);
  if (err) die_error("get run", err);
  double *times = calloc((size_t)runs, sizeof(double));
  for (int i = 0; i < runs; i++) {
    wasmpool_val_t a = {.kind = WASMPOOL_I32, .of.i32 = arg}, result;
    double t0 = now_ns();
    err = wasmpool_func_call(store, run, &a, 1, &result, 1, &trap);
    times[i] = (now_ns() - t0) / 1e6;
    if (err) die_error("call run", err);
    if (trap) die_trap("run", trap);
    r.result = result.of.i64;
  }
  qsort(times, (size_t)runs, sizeof(double), cmp_double);
  r.run_median_ms = times[runs / 2];
  r.run_min_ms = times[0];
  free(times);
  wasmpool_store_delete(store);
  wasmpool_module_delete(module);
  wasmpool_engine_delete(engine);
  return r;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static const char *flag(int argc, char **argv, const char *name, const char *fallback) {
  for (int i = 0; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

/* Iterations per batch so one batch takes about 50 ms. */
static int calibrate(const char *path, const char *strategy) {
  struct inst_result probe = run_inst(path, strategy, 20, 1, 1);
  double n = 50e6 / (probe.median_ns > 1 ? probe.median_ns : 1);
  if (n < 20) n = 20;
  if (n > 100000) n = 100000;
  return (int)n;
}

static int run_all(const char *dir) {
  /* The workloads with the results workloads/README.md lists for them. */
  static const struct { const char *name; int32_t expect; } inst[] = {
      {"inst-empty", 42}, {"inst-data64k", 1498565454}, {"inst-bigimage", 1956565045},
      {"inst-table", 1232}, {"inst-globals", 640310992}};
  static const char *strategies[] = {"ondemand", "pooling", "pooling-keep-resident"};
  static const struct { const char *name; int32_t arg; int64_t expect; } exec[] = {
      {"exec-fib", 30, 832040}, {"exec-sieve", 10000000, 664579},
      {"exec-matmul", 200, 4716133190983483392LL}, {"exec-crc32", 16777216, 3801779455LL},
      {"exec-interp", 6250000, 3366081239LL}, {"exec-memops", 100, -2033424281276459567LL},
      {"exec-simd", 2000, -4547881373547576642LL}};
  int wrong = 0;
  char path[4096];
  printf("| workload | strategy | threads | median ns | min ns | inst/s | minflt/iter | result |\n");
  printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (size_t w = 0; w < sizeof inst / sizeof *inst; w++) {
    snprintf(path, sizeof path, "%s/%s.wat", dir, inst[w].name);
    for (size_t s = 0; s < 3; s++) {
      int iters = calibrate(path, strategies[s]);
      for (int threads = 1; threads <= 2; threads++) {
        struct inst_result r = run_inst(path, strategies[s], iters, 7, threads);
        int ok = r.result == inst[w].expect;
        wrong += !ok;
        printf("| %s | %s | %d | %.0f | %.0f | %.0f | %.2f | %d%s |\n", inst[w].name, strategies[s], threads, r.median_ns,
               r.min_ns, r.inst_per_s, r.minflt_per_iter, r.result, ok ? "" : " (WRONG)");
        fflush(stdout);
      }
    }
  }
  printf("\n| workload | compile ms | run median ms | run min ms | result |\n");
  printf("|---|---:|---:|---:|---:|\n");
  for (size_t e = 0; e < sizeof exec / sizeof *exec; e++) {
    snprintf(path, sizeof path, "%s/%s.wat", dir, exec[e].name);
    struct exec_result r = run_exec(path, exec[e].arg, 5);
    int ok = r.result == exec[e].expect;
    wrong += !ok;
    printf("| %s | %.2f | %.2f | %.2f | %lld%s |\n", exec[e].name, r.compile_ms, r.run_median_ms, r.run_min_ms,
           (long long)r.result, ok ? "" : " (WRONG)");
    fflush(stdout);
  }
  if (wrong) fprintf(stderr, "wasmpool-bench: %d results differ from workloads/README.md\n", wrong);
  return wrong ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "all") == 0) return run_all(argc >= 3 ? argv[2] : WASMPOOL_WORKLOADS_DIR);
  if (argc >= 3 && strcmp(argv[1], "inst") == 0) {
    const char *strategy = flag(argc, argv, "--strategy", "pooling");
    int iters = atoi(flag(argc, argv, "--iters", "2000"));
    int batches = atoi(flag(argc, argv, "--batches", "5"));
    int threads = atoi(flag(argc, argv, "--threads", "1"));
    if (iters < 1 || batches < 1 || threads < 1) {
      fprintf(stderr, "wasmpool-bench: --iters, --batches and --threads must be positive\n");
      return 2;
    }
    struct inst_result r = run_inst(argv[2], strategy, iters, batches, threads);
    printf("inst %s strategy=%s threads=%d median_ns=%.0f min_ns=%.0f inst_per_s=%.0f minflt_per_iter=%.2f result=%d\n",
           base_name(argv[2]), strategy, threads, r.median_ns, r.min_ns, r.inst_per_s, r.minflt_per_iter, r.result);
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
    int32_t arg = (int32_t)atol(flag(argc, argv, "--arg", "0"));
    int runs = atoi(flag(argc, argv, "--runs", "5"));
    if (runs < 1) runs = 1;
    struct exec_result r = run_exec(argv[2], arg, runs);
    printf("exec %s compile_ms=%.2f run_median_ms=%.2f run_min_ms=%.2f result=%lld\n", base_name(argv[2]), r.compile_ms,
           r.run_median_ms, r.run_min_ms, (long long)r.result);
    return 0;
  }
  fprintf(stderr,
          "usage: wasmpool-bench inst FILE.wat [--strategy ondemand|pooling|pooling-keep-resident] [--iters N] "
          "[--batches B] [--threads T]\n"
          "       wasmpool-bench exec FILE.wat [--arg N] [--runs R]\n"
          "       wasmpool-bench all [WORKLOAD_DIR]\n");
  return 2;
}
