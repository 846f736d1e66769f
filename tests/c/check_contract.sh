#!/bin/sh
# ctest: include/wasmpool.h provides the C API contract (tests/c/capi-contract.h, a copy of
# ../shared/capi-contract.h) with exactly its signatures and values.
#
# The contract's function declarations and handle typedefs are compiled after our header:
# C allows redeclaring a function or typedef only with a compatible type, so any signature
# that differs is a "conflicting types" error. Its enum values become static assertions, and
# the two structs it spells out are checked field by field. All under -Wall -Wextra -Werror.
#
# usage: check_contract.sh <c compiler> <include dir> <contract header>
set -eu
cc="$1"; include="$2"; contract="$3"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Declarations: everything but enum blocks and struct bodies (our header defines those).
awk '
  /^enum[ ]*\{/ { in_enum = 1 }
  in_enum { if ($0 ~ /\};/) in_enum = 0; next }
  /^typedef struct [a-z_]+ \{/ { in_struct = 1 }
  in_struct { if ($0 ~ /^\} [a-z_]+;/) in_struct = 0; next }
  { print }
' "$contract" > "$tmp/contract_decls.h"

# Values: NAME = N pairs.
grep -oE 'WASMPOOL_[A-Z0-9_]+ = [0-9]+' "$contract" |
  awk -F' = ' '{ printf "_Static_assert(%s == %s, \"%s must be %s\");\n", $1, $2, $1, $2 }' > "$tmp/contract_values.h"
count=$(wc -l < "$tmp/contract_values.h")
[ "$count" -ge 30 ] || { echo "expected at least 30 enum values in the contract, found $count"; exit 1; }

cat > "$tmp/check.c" <<'C'
#include "wasmpool.h"
#include "contract_decls.h"
#include "contract_values.h"
#include <stddef.h>
#include <stdint.h>

/* wasmpool_val_t: a kind, then a union `of` with the contract's members. */
_Static_assert(sizeof(((wasmpool_val_t *)0)->kind) == 1, "kind is a uint8_t");
_Static_assert(offsetof(wasmpool_val_t, kind) == 0, "kind comes first");
_Static_assert(sizeof(wasmpool_val_t) == 24, "wasmpool_val_t is 24 bytes");
_Static_assert(offsetof(wasmpool_val_t, of) == 8, "of is 8-byte aligned");
_Static_assert(sizeof(((wasmpool_val_t *)0)->of.v128) == 16, "v128 is 16 bytes");

/* wasmpool_pool_metrics_t: the contract's seven counters first, in order. */
#define FIELD(i, f) _Static_assert(offsetof(wasmpool_pool_metrics_t, f) == (i) * 8, #f)
FIELD(0, core_instances);
FIELD(1, memories);
FIELD(2, tables);
FIELD(3, unused_warm_memories);
FIELD(4, unused_warm_tables);
FIELD(5, unused_memory_bytes_resident);
FIELD(6, unused_table_bytes_resident);

int probe(wasmpool_val_t *v, wasmpool_pool_metrics_t *m);
int probe(wasmpool_val_t *v, wasmpool_pool_metrics_t *m) {
  int32_t *i32 = &v->of.i32;
  int64_t *i64 = &v->of.i64;
  float *f32 = &v->of.f32;
  double *f64 = &v->of.f64;
  uint8_t *v128 = v->of.v128;
  void **ref = &v->of.ref;
  uint64_t *c = &m->core_instances;
  return i32 != 0 && i64 != 0 && f32 != 0 && f64 != 0 && v128 != 0 && ref != 0 && c != 0;
}
C
"$cc" -std=c11 -Wall -Wextra -Werror -I"$include" -I"$tmp" -c "$tmp/check.c" -o "$tmp/check.o"
echo "contract: $(grep -c '^[a-z].*(' "$tmp/contract_decls.h") declarations and $count values match include/wasmpool.h"
