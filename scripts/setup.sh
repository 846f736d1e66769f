# shellcheck shell=bash
# Sourced (not run) by scripts/demo.sh and scripts/test.sh: step banners with the elapsed
# time, and the set-up of a fresh machine. `ensure_tools TOOL...` checks each tool a
# command needs and installs what is missing:
#   - with apt-get, as root or through sudo (Debian, Ubuntu);
#   - without it, CMake from PyPI (`pip install --user cmake`, then the user scripts
#     directory, usually ~/.local/bin, goes on PATH), also when apt's CMake is older than 3.20;
# and otherwise stops with one line saying exactly what to install. The Rust toolchain is
# never installed here (it comes from rustup, not from a package registry).
#
# Tools: cargo, fmt, clippy, cc, c++, make, cmake, pkg-config, nm.

WASMPOOL_MIN_CMAKE=3.20
WASMPOOL_MIN_RUST=1.95
wasmpool_t0=$SECONDS

# Prints a banner: `== [elapsed] what`.
step() {
  local t=$((SECONDS - wasmpool_t0))
  printf '\n== [%dm%02ds] %s\n' $((t / 60)) $((t % 60)) "$*"
}

# Stops with one line.
die() {
  echo "error: $*" >&2
  exit 1
}

# True when version $1 >= version $2 (dotted numbers).
version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

cmake_ok() {
  command -v cmake >/dev/null 2>&1 || return 1
  local v
  v=$(cmake --version 2>/dev/null | head -n1 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n1)
  [ -n "$v" ] && version_ge "$v" "$WASMPOOL_MIN_CMAKE"
}

# Whether tool $1 is there, and the Debian package that provides it.
tool_ok() {
  case "$1" in
    cargo) command -v cargo >/dev/null 2>&1 ;;
    fmt) cargo fmt --version >/dev/null 2>&1 ;;
    clippy) cargo clippy --version >/dev/null 2>&1 ;;
    cc) command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || command -v clang >/dev/null 2>&1 ;;
    c++) command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1 ;;
    make) command -v make >/dev/null 2>&1 ;;
    cmake) cmake_ok ;;
    pkg-config) command -v pkg-config >/dev/null 2>&1 ;;
    nm) command -v nm >/dev/null 2>&1 ;;
    *) die "setup.sh: unknown tool $1" ;;
  esac
}
apt_package() {
  case "$1" in
    cc) echo gcc ;;
    c++) echo g++ ;;
    nm) echo binutils ;;
    *) echo "$1" ;;
  esac
}

# Runs apt-get as root, or through sudo when that needs no password; fails otherwise.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || { echo "no apt-get on this machine"; return 1; }
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null ||
      { echo "apt-get needs root, and sudo is not available without a password"; return 1; }
    sudo=(sudo -n)
  fi
  echo "installing with apt-get: $*"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have no package lists yet: update and retry once.
  "${sudo[@]}" apt-get install -y --no-install-recommends "$@" ||
    { "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y --no-install-recommends "$@"; }
}

# CMake from PyPI into the user's site; puts its scripts directory on PATH.
pip_install_cmake() {
  local py
  py=$(command -v python3 || command -v python) || return 1
  "$py" -m pip --version >/dev/null 2>&1 || return 1
  echo "installing CMake from PyPI: $py -m pip install --user cmake"
  PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$py" -m pip install --user --quiet --no-warn-script-location cmake || return 1
  local bin
  bin="$("$py" -m site --user-base)/bin"
  export PATH="$bin:$PATH"
  hash -r
  echo "CMake installed in $bin (put it on your PATH to use it outside these scripts)"
}

# Puts pip's user scripts directory on PATH when an earlier run installed CMake there.
use_pip_cmake() {
  local py bin
  py=$(command -v python3 || command -v python) || return 0
  bin="$("$py" -m site --user-base 2>/dev/null)/bin"
  if [ -x "$bin/cmake" ] && ! cmake_ok; then
    export PATH="$bin:$PATH"
    hash -r
  fi
}

# Checks the tools named, installs what is missing, or stops saying what to install.
ensure_tools() {
  [ -d "$HOME/.cargo/bin" ] && case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac
  use_pip_cmake
  if ! tool_ok cargo; then
    die "cargo is missing: install the Rust toolchain $WASMPOOL_MIN_RUST or newer (https://rustup.rs), then run this again"
  fi
  local rust
  rust=$(rustc --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n1)
  if [ -z "$rust" ] || ! version_ge "$rust" "$WASMPOOL_MIN_RUST"; then
    die "rustc ${rust:-?} is too old: install Rust $WASMPOOL_MIN_RUST or newer (rustup update stable)"
  fi
  local tool missing=() apt=()
  for tool in "$@"; do
    tool_ok "$tool" && continue
    case "$tool" in
      cargo) ;;
      fmt | clippy) die "cargo $tool is missing: rustup component add $([ "$tool" = fmt ] && echo rustfmt || echo clippy)" ;;
      *) missing+=("$tool") apt+=("$(apt_package "$tool")") ;;
    esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "missing: ${missing[*]}"
  apt_install "${apt[@]}" || true
  hash -r
  if ! cmake_ok && [[ " ${missing[*]} " == *" cmake "* ]]; then
    pip_install_cmake || true
  fi
  local still=() want=()
  for tool in "${missing[@]}"; do
    if ! tool_ok "$tool"; then
      still+=("$tool")
      want+=("$(apt_package "$tool")")
    fi
  done
  if [ ${#still[@]} -gt 0 ]; then
    local how="apt-get install ${want[*]}"
    [[ " ${still[*]} " == *" cmake "* ]] && how="$how (or CMake $WASMPOOL_MIN_CMAKE+ with: pip install --user cmake)"
    die "missing ${still[*]}: install with $how, then run this again"
  fi
  echo "installed: ${missing[*]}"
}

# Prints how long the first build takes, when the cargo target directory has no build yet.
first_build_note() {
  local target="${CARGO_TARGET_DIR:-$(pwd)/target}"
  if [ ! -e "$target/release/libwasmpool.so" ]; then
    echo "first build: the crate and its dependencies compile once, $1 on a 2-core machine; later runs reuse them"
  fi
}
