#!/usr/bin/env bash
# The main job: builds the library with CMake (cargo underneath) and runs the pool_server
# example: worker threads sharing one pooling engine serve requests, each in a fresh
# instance, and it prints instantiations per second and the pool metrics.
# First installs what the machine lacks (scripts/setup.sh).
# Arguments are passed to pool_server: [threads] [requests per thread].
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${WASMPOOL_BUILD_DIR:-$(pwd)/build}"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

step "checking tools: cargo, C and C++ compilers, make, CMake $WASMPOOL_MIN_CMAKE+"
ensure_tools cargo cc c++ make cmake
first_build_note "about 7 minutes"

step "cmake configure ($build_dir)"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null

step "building the library (cargo, release), pool_server and wasmpool-bench"
cmake --build "$build_dir" -j "$(nproc)" --target pool_server wasmpool-bench

step "running pool_server $*"
"$build_dir/pool_server" "$@"
