#!/usr/bin/env bash
# Runs every test: rustfmt and clippy, the cargo tests (unit, integration, spec suite), the
# check that the committed C header matches the one the build generated, then the CMake
# build and ctest (C tests, examples, the README's C blocks, packaging, leaks).
# First installs what the machine lacks (scripts/setup.sh).
#
# The crate is built once: `cargo test --release` builds the libraries and, through build.rs,
# regenerates include/wasmpool.h; the CMake build's `cargo build --release --lib` then finds
# them up to date (same target directory, same profile, same features: see Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir="${WASMPOOL_BUILD_DIR:-$root/build}"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

step "checking tools: cargo, rustfmt, clippy, C and C++ compilers, make, CMake $WASMPOOL_MIN_CMAKE+, pkg-config, nm"
ensure_tools cargo fmt clippy cc c++ make cmake pkg-config nm
first_build_note "about 13 minutes for the whole command"

# Snapshot the header before cargo regenerates it, to compare afterwards.
snapshot=$(mktemp)
trap 'rm -f "$snapshot"' EXIT
have_header=0
if [ -f include/wasmpool.h ]; then cp include/wasmpool.h "$snapshot"; have_header=1; fi

step "cargo fmt --check"
cargo fmt --check
echo "formatting ok"

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings 2>&1

step "cargo test --release --all-targets"
cargo test --release --all-targets 2>&1

step "header check (the build above regenerated include/wasmpool.h)"
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

step "cmake configure ($build_dir)"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release

step "cmake build (cargo finds the crate built above up to date)"
cmake --build "$build_dir" -j "$(nproc)"

step "ctest"
ctest --test-dir "$build_dir" --output-on-failure

step "every test passed"
