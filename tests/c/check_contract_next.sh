#!/bin/sh
# ctest: include/wasmpool.h provides the landed sections of the next contract
# (tests/c/capi-contract-next.h, a copy of ../shared/capi-contract-next.h) with exactly their
# signatures and values. Each section names one body of work; the sections given on the
# command line are the ones that have landed.
#
# As in check_contract.sh: the section's declarations are compiled after our header (a
# differing signature is a "conflicting types" error) and its enum values become static
# assertions, under -Wall -Wextra -Werror.
#
# usage: check_contract_next.sh <c compiler> <include dir> <contract header> <section>...
set -eu
cc="$1"; include="$2"; contract="$3"; shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/decls.h"; : > "$tmp/values.h"
for section in "$@"; do
  awk -v s="$section" '
    /---- section: / { on = index($0, "section: " s " ") > 0; next }
    /^#ifdef __cplusplus/ { on = 0; next }
    on' "$contract" > "$tmp/section.txt"
  [ -s "$tmp/section.txt" ] || { echo "no section \"$section\" in $contract"; exit 1; }
  grep -v '^enum' "$tmp/section.txt" >> "$tmp/decls.h" || true
  grep -oE 'WASMPOOL_[A-Z0-9_]+ = [0-9]+' "$tmp/section.txt" |
    awk -F' = ' '{ printf "_Static_assert(%s == %s, \"%s must be %s\");\n", $1, $2, $1, $2 }' >> "$tmp/values.h"
done
cat > "$tmp/check.c" <<'C'
#include "wasmpool.h"
#include "decls.h"
#include "values.h"
C
"$cc" -std=c11 -Wall -Wextra -Werror -I"$include" -I"$tmp" -c "$tmp/check.c" -o "$tmp/check.o"
echo "contract-next: sections $* ($(grep -c '(' "$tmp/decls.h") declarations, $(wc -l < "$tmp/values.h") values) match include/wasmpool.h"
