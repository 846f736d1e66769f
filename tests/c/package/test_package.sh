#!/bin/sh
# ctest: the installed package works for a separate project.
#  1. `cmake --install` the build tree into a temporary prefix, and check the layout
#     (real file + soname and dev symlinks, soname in the ELF header, static library,
#     headers, CMake config + version files, both .pc files);
#  2. configure, build and run a consumer with find_package(wasmpool CONFIG REQUIRED),
#     linking wasmpool::wasmpool and wasmpool::wasmpool_static;
#  3. build and run the same consumer with `pkg-config --cflags --libs wasmpool` (found at
#     run time through an rpath, then through LD_LIBRARY_PATH, as README says) and
#     `pkg-config --cflags --libs wasmpool-static`.
#  The installed libraries carry no debug info (the default WASMPOOL_DEBUG_INFO=OFF).
#
# usage: test_package.sh <cmake> <libwasmpool build dir> <consumer source dir> <c compiler>
set -eu
cmake="$1"; build="$2"; consumer="$3"; cc="$4"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
libdir=$(dirname "$(find "$prefix" -name 'libwasmpool.a' | head -n1)")
[ -n "$libdir" ] || { echo "libwasmpool.a not installed"; exit 1; }
for f in "$prefix/include/wasmpool.h" "$prefix/include/wasmpool.hh" "$libdir/libwasmpool.a" \
         "$libdir/cmake/wasmpool/wasmpoolConfig.cmake" "$libdir/cmake/wasmpool/wasmpoolConfigVersion.cmake" \
         "$libdir/pkgconfig/wasmpool.pc" "$libdir/pkgconfig/wasmpool-static.pc"; do
  [ -f "$f" ] || { echo "not installed: $f"; exit 1; }
done
real=$(ls "$libdir"/libwasmpool.so.*.*.* 2>/dev/null | head -n1)
[ -f "$real" ] && [ ! -L "$real" ] || { echo "the real shared library libwasmpool.so.X.Y.Z is missing"; exit 1; }
soname_link="$libdir/libwasmpool.so.0"
[ -L "$soname_link" ] && [ "$(readlink "$soname_link")" = "$(basename "$real")" ] ||
  { echo "libwasmpool.so.0 is not a symlink to $(basename "$real")"; exit 1; }
[ -L "$libdir/libwasmpool.so" ] && [ "$(readlink "$libdir/libwasmpool.so")" = "libwasmpool.so.0" ] ||
  { echo "libwasmpool.so is not a symlink to libwasmpool.so.0"; exit 1; }
if command -v readelf >/dev/null 2>&1; then
  readelf -d "$real" | grep -q 'SONAME.*\[libwasmpool\.so\.0\]' || { echo "wrong or missing SONAME"; readelf -d "$real" | grep SONAME; exit 1; }
fi
# Lean by default (WASMPOOL_DEBUG_INFO=OFF): no DWARF in either library, symbols kept.
if command -v readelf >/dev/null 2>&1; then
  for lib in "$real" "$libdir/libwasmpool.a"; do
    if readelf -S -W "$lib" | grep -q '\.debug_info'; then
      echo "$lib carries debug info (WASMPOOL_DEBUG_INFO=OFF strips it at install)"; exit 1
    fi
  done
  readelf -S -W "$real" | grep -q '\.symtab' || { echo "$real lost its symbol table"; exit 1; }
fi
echo "install layout ok: $(basename "$real"), soname libwasmpool.so.0, no debug info"

# find_package(wasmpool CONFIG)
"$cmake" -S "$consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; exit 1; }
"$cmake" --build "$tmp/consumer" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
"$tmp/consumer/consumer_shared"
"$tmp/consumer/consumer_static"
# The shared consumer really uses the installed library, through its soname.
if command -v ldd >/dev/null 2>&1; then
  ldd "$tmp/consumer/consumer_shared" | grep -q "libwasmpool.so.0 => $libdir" ||
    { echo "consumer_shared does not load the installed libwasmpool.so.0"; ldd "$tmp/consumer/consumer_shared"; exit 1; }
fi
echo "find_package(wasmpool CONFIG): shared and static consumers ok"

# pkg-config
if ! command -v pkg-config >/dev/null 2>&1; then
  echo "pkg-config is not installed (.ci/run installs it)"; exit 1
fi
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists wasmpool wasmpool-static
[ "$(pkg-config --modversion wasmpool)" = "$(pkg-config --modversion wasmpool-static)" ]
# The two ways README gives to find libwasmpool.so.0 at run time under a non-system prefix:
# an rpath from the .pc file's libdir, or LD_LIBRARY_PATH.
# shellcheck disable=SC2046
"$cc" -o "$tmp/pc_shared" "$consumer/consumer.c" $(pkg-config --cflags --libs wasmpool) \
  -Wl,-rpath,"$(pkg-config --variable=libdir wasmpool)"
# shellcheck disable=SC2046
"$cc" -o "$tmp/pc_shared_norpath" "$consumer/consumer.c" $(pkg-config --cflags --libs wasmpool)
# shellcheck disable=SC2046
"$cc" -o "$tmp/pc_static" "$consumer/consumer.c" $(pkg-config --cflags --libs wasmpool-static)
"$tmp/pc_shared"
LD_LIBRARY_PATH="$(pkg-config --variable=libdir wasmpool)" "$tmp/pc_shared_norpath"
"$tmp/pc_static"
echo "pkg-config wasmpool and wasmpool-static: consumers ok"
