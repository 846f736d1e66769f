#!/usr/bin/env bash
# The main job: builds the library with CMake (cargo underneath) and runs the pool_server
# example: worker threads sharing one pooling engine serve requests, each in a fresh
# instance, and it prints instantiations per second and the pool metrics.
# Arguments are passed to pool_server: [threads] [requests per thread].
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${WASMPOOL_BUILD_DIR:-$(pwd)/build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target pool_server wasmpool-bench
"$build_dir/pool_server" "$@"
