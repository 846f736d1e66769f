#!/usr/bin/env bash
# Runs every test: the cargo tests (unit, integration, spec suite), the check that
# the committed C header matches a fresh generation, then the CMake build and ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir="${WASMPOOL_BUILD_DIR:-$root/build}"

# Snapshot the header before cargo regenerates it, to compare afterwards.
snapshot=$(mktemp)
trap 'rm -f "$snapshot"' EXIT
have_header=0
if [ -f include/wasmpool.h ]; then cp include/wasmpool.h "$snapshot"; have_header=1; fi

echo "== cargo test"
cargo test --release --all-targets 2>&1

echo "== header check"
cargo build --release --lib 2>&1
if [ "$have_header" = 1 ] && ! cmp -s "$snapshot" include/wasmpool.h; then
  echo "include/wasmpool.h was stale: regenerating it from src/capi changed it:"
  diff -u "$snapshot" include/wasmpool.h || true
  exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  if ! git ls-files --error-unmatch include/wasmpool.h >/dev/null 2>&1; then
    echo "include/wasmpool.h is not committed"; exit 1
  fi
  if ! git diff --exit-code -- include/wasmpool.h; then
    echo "include/wasmpool.h differs from the committed header: commit the regenerated file"; exit 1
  fi
fi
dups=$(grep -oE '^[^/ ][^(]* \**(wasmpool_[a-z0-9_]+)\(' include/wasmpool.h | grep -oE 'wasmpool_[a-z0-9_]+\($' | sort | uniq -d)
if [ -n "$dups" ]; then
  echo "include/wasmpool.h declares these functions more than once:"; echo "$dups"; exit 1
fi
echo "header: include/wasmpool.h matches a fresh generation, each function declared once"

echo "== cmake + ctest"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" -j "$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure
