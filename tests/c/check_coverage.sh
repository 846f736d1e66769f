#!/bin/sh
# ctest: test_errors.c passes NULL to every function of the API. Fails when a function
# declared in include/wasmpool.h is not called there (a new function needs its NULL cases).
# usage: check_coverage.sh <wasmpool.h> <test_errors.c>
set -eu
header="$1"; test="$2"
missing=""
for f in $(grep -oE '^[^/ ][^(]* \**wasmpool_[a-z0-9_]+\(' "$header" | grep -oE 'wasmpool_[a-z0-9_]+\($' | tr -d '('); do
  grep -q "$f(" "$test" || missing="$missing $f"
done
if [ -n "$missing" ]; then
  echo "functions without NULL cases in $(basename "$test"):$missing"
  exit 1
fi
echo "every function of $(basename "$header") has NULL cases in $(basename "$test")"
