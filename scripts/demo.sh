#!/usr/bin/env bash
# The main job: builds the library with CMake (cargo underneath) and runs the C example.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${WASMPOOL_BUILD_DIR:-$(pwd)/build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target hello
"$build_dir/hello"
