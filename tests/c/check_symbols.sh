#!/bin/sh
# ctest: the shared library exports our C API and nothing else of ours.
# Every defined dynamic symbol must start with `wasmpool_`; at least the core
# functions must be there. (Versioned symbols from libc are not "ours": `nm -D
# --defined-only` lists only what the library itself defines.)
set -eu
lib="$1"
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
bad=$(printf '%s\n' "$syms" | grep -v '^wasmpool_' | grep -v '^$' || true)
if [ -n "$bad" ]; then
  echo "symbols exported without the wasmpool_ prefix:"
  printf '%s\n' "$bad"
  exit 1
fi
for want in wasmpool_error_message wasmpool_error_kind wasmpool_error_delete \
            wasmpool_pool_config_new wasmpool_pool_config_delete \
            wasmpool_pool_config_set_total_memories wasmpool_config_new; do
  printf '%s\n' "$syms" | grep -qx "$want" || { echo "missing export: $want"; exit 1; }
done
echo "exported_symbols: $(printf '%s\n' "$syms" | wc -l) symbols, all prefixed wasmpool_"
