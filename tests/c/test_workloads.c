/* ctest: every benchmark workload returns its listed result through the C API, on an
 * on-demand engine and on a pooling engine.
 *
 * usage: test_workloads <workloads dir>
 * The expected results are read from the tables in <dir>/README.md: rows
 * "| `inst-x.wat` | ... | result |" (run: () -> i32) and
 * "| `exec-x.wat` | ... | arg | result |" (run: (i32) -> i64). Every *.wat file in the
 * directory must have a row, and every row a file. Instantiation workloads run three
 * times in fresh stores, so a pooled slot that was not reset shows up as a wrong result. */
#include <dirent.h>
#include <errno.h>

#include "testutil.h"

#define MAX_ROWS 64

struct row {
  char file[128];
  int exec; /* exec-*: takes an i32 argument and returns an i64 */
  long long arg;
  long long result;
  int seen;
};

static struct row rows[MAX_ROWS];
static int nrows = 0;

/* Splits a markdown table row into trimmed cells; returns how many. */
static int cells(char *line, char **out, int max) {
  int n = 0;
  char *p = strchr(line, '|');
  while (p != NULL && n < max) {
    char *start = p + 1;
    char *end = strchr(start, '|');
    if (end == NULL) break;
    *end = '\0';
    while (*start == ' ') start++;
    char *e = end;
    while (e > start && e[-1] == ' ') *--e = '\0';
    out[n++] = start;
    p = end;
  }
  return n;
}

static void parse_readme(const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/README.md", dir);
  char *text = read_file(path, NULL);
  for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    if (strncmp(line, "| `", 3) != 0) continue;
    char *c[16];
    int n = cells(line, c, 16);
    if (n < 3 || c[0][0] != '`') continue;
    char name[128];
    snprintf(name, sizeof name, "%s", c[0] + 1);
    char *tick = strchr(name, '`');
    if (tick) *tick = '\0';
    if (strstr(name, ".wat") == NULL) continue;
    struct row *r = &rows[nrows];
    memset(r, 0, sizeof *r);
    snprintf(r->file, sizeof r->file, "%s", name);
    r->exec = strncmp(name, "exec-", 5) == 0;
    r->result = strtoll(c[n - 1], NULL, 10);
    if (r->exec) r->arg = strtoll(c[n - 2], NULL, 10);
    /* The reference-figures table names workloads without ".wat": skipped above. */
    if (++nrows == MAX_ROWS) break;
  }
  free(text);
}

static struct row *find_row(const char *file) {
  for (int i = 0; i < nrows; i++)
    if (strcmp(rows[i].file, file) == 0) return &rows[i];
  return NULL;
}

static void run_workload(wasmpool_engine_t *engine, const char *strategy, const char *dir, struct row *r) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, r->file);
  size_t len = 0;
  char *wat = read_file(path, &len);
  uint8_t *wasm = NULL;
  size_t wasm_len = 0;
  OK(wasmpool_wat2wasm(wat, len, &wasm, &wasm_len));
  free(wat);
  wasmpool_module_t *module = NULL;
  OK(wasmpool_module_new(engine, wasm, wasm_len, &module));
  wasmpool_bytes_delete(wasm, wasm_len);

  int rounds = r->exec ? 1 : 3;
  for (int round = 0; round < rounds; round++) {
    wasmpool_store_t *store = wasmpool_store_new(engine, NULL, NULL);
    wasmpool_instance_t *instance = instantiate(store, module);
    wasmpool_func_t *run = get_func(instance, "run");
    wasmpool_val_t result;
    long long got;
    if (r->exec) {
      wasmpool_val_t arg = val_i32((int32_t)r->arg);
      call_ok(store, run, &arg, 1, &result, 1);
      CHECK(result.kind == WASMPOOL_I64);
      got = result.of.i64;
    } else {
      call_ok(store, run, NULL, 0, &result, 1);
      CHECK(result.kind == WASMPOOL_I32);
      got = result.of.i32;
    }
    if (got != r->result) {
      fprintf(stderr, "%s (%s, round %d): run() = %lld, want %lld\n", r->file, strategy, round, got, r->result);
      failures++;
    }
    wasmpool_store_delete(store);
  }
  printf("%-20s %-10s ok (%lld)\n", r->file, strategy, r->result);
  wasmpool_module_delete(module);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <workloads dir>\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  parse_readme(dir);
  CHECK(nrows >= 11);

  wasmpool_engine_t *on_demand = on_demand_engine();
  wasmpool_pool_config_t *pool = wasmpool_pool_config_new();
  wasmpool_pool_config_set_total_core_instances(pool, 8);
  wasmpool_pool_config_set_total_memories(pool, 8);
  wasmpool_pool_config_set_total_tables(pool, 8);
  wasmpool_pool_config_set_max_memory_size(pool, (size_t)256 << 20);
  wasmpool_pool_config_set_linear_memory_keep_resident(pool, 1 << 20);
  wasmpool_pool_config_set_table_keep_resident(pool, 1 << 20);
  wasmpool_engine_t *pooled = NULL;
  OK(wasmpool_engine_new_with_pooling(NULL, pool, &pooled));
  wasmpool_pool_config_delete(pool);

  DIR *d = opendir(dir);
  if (d == NULL) {
    fprintf(stderr, "cannot open %s: %s\n", dir, strerror(errno));
    return 1;
  }
  int files = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n < 5 || strcmp(e->d_name + n - 4, ".wat") != 0) continue;
    files++;
    struct row *r = find_row(e->d_name);
    if (r == NULL) {
      fprintf(stderr, "%s has no expected result in README.md\n", e->d_name);
      failures++;
      continue;
    }
    r->seen = 1;
    run_workload(on_demand, "on-demand", dir, r);
    run_workload(pooled, "pooling", dir, r);
  }
  closedir(d);
  for (int i = 0; i < nrows; i++) {
    if (!rows[i].seen) {
      fprintf(stderr, "README.md lists %s, which is not in %s\n", rows[i].file, dir);
      failures++;
    }
  }
  CHECK(files == nrows);

  wasmpool_pool_metrics_t m;
  CHECK(wasmpool_engine_pool_metrics(pooled, &m));
  CHECK(m.core_instances == 0 && m.memories == 0 && m.tables == 0);
  wasmpool_engine_delete(on_demand);
  wasmpool_engine_delete(pooled);
  return finish("test_workloads");
}
