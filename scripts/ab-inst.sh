#!/usr/bin/env bash
# Alternates two builds of wasmpool-bench over the five inst-* workloads and three
# strategies, ROUNDS times, printing "round workload strategy before|after median_ns".
# usage: scripts/ab-inst.sh BEFORE_BENCH AFTER_BENCH [ROUNDS] [ITERS]
set -euo pipefail
before=$1; after=$2; rounds=${3:-5}; iters=${4:-5000}
dir="$(cd "$(dirname "$0")/.." && pwd)/workloads"
for r in $(seq "$rounds"); do
  for w in inst-empty inst-data64k inst-bigimage inst-table inst-globals; do
    for s in pooling-keep-resident pooling ondemand; do
      for which in before after; do
        bin=$before; [ "$which" = after ] && bin=$after
        med=$("$bin" inst "$dir/$w.wat" --strategy "$s" --iters "$iters" | grep -oE 'median_ns=[0-9]+' | cut -d= -f2)
        echo "$r $w $s $which $med"
      done
    done
  done
done
