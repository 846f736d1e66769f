#!/usr/bin/env bash
# Compile cost of large function bodies (BENCHMARKS.md): generates the modules with
# `examples/compile_cost.rs` and compiles each with every given compiler in turn
# (round-robin, so all of them see the same machine load), each compile in its own
# process under /usr/bin/time. Prints one markdown table row per compile.
#
#   scripts/compile-cost.sh LABEL=COMMAND...
#
# COMMAND is run as `COMMAND FILE.wasm` (word-split), e.g.
#   "ours=target/release/examples/compile_cost compile"
#   "wasmtime=/tmp/wasmtime-bench/release/compile"
# Environment: SHAPES (default "straight nested calls"), SIZES in body bytes
# (default "1000000 3700000 7400000"), REPS (default 2), DIR for the modules
# (default /tmp/compile-cost).
set -euo pipefail
cd "$(dirname "$0")/.."
shapes=${SHAPES:-straight nested calls}
sizes=${SIZES:-1000000 3700000 7400000}
reps=${REPS:-2}
dir=${DIR:-/tmp/compile-cost}
mkdir -p "$dir"
[ $# -gt 0 ] || { echo "usage: $0 LABEL=COMMAND..." >&2; exit 2; }

cargo build --release --example compile_cost >&2
gen=target/release/examples/compile_cost
echo "| shape | body MB | compiler | wall s | CPU s | peak RSS MiB | CPU s / MB | RSS MiB / MB |"
echo "|---|---|---|---|---|---|---|---|"
for shape in $shapes; do
  for size in $sizes; do
    file="$dir/$shape-$size.wasm"
    "$gen" gen "$shape" "$size" "$file" >&2
    for _ in $(seq "$reps"); do
      for spec in "$@"; do
        label=${spec%%=*}
        # shellcheck disable=SC2086 # COMMAND is word-split on purpose
        out=$(/usr/bin/time -f 'TIME %e %U %S %M' ${spec#*=} "$file" 2>&1 >/dev/null | grep '^TIME')
        read -r _ wall user sys rss_kib <<<"$out"
        awk -v s="$shape" -v b="$size" -v l="$label" -v w="$wall" -v u="$user" -v y="$sys" \
          -v r="$rss_kib" 'BEGIN {
            mb = b / 1e6; cpu = u + y; rss = r / 1024;
            printf "| %s | %.2f | %s | %.2f | %.2f | %.0f | %.2f | %.0f |\n",
                   s, mb, l, w, cpu, rss, cpu / mb, rss / mb }'
      done
    done
  done
done
