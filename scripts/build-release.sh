#!/usr/bin/env bash
# Builds the release binary that install.sh and the packages install: linked against glibc
# 2.17 symbols, so that one file runs on every system BILLmanager 6 runs on (AlmaLinux/Rocky
# 8 and 9, Ubuntu 20.04+, Debian 11+, Astra Linux), whatever glibc the build machine has.
# A plain `cargo build --release` links against the build machine's glibc and needs it (or
# newer) at run time.
#
# The build links with zig (cargo-zigbuild): zig carries the glibc symbol lists of every
# version and links against the one named in the target, `x86_64-unknown-linux-gnu.2.17`.
# Both come from PyPI at pinned versions into a virtualenv under target/tools (once, about a
# minute); nothing outside the repository is installed. The binary is
# target/x86_64-unknown-linux-gnu/release/amocrm: its path is all that goes to standard
# output (progress goes to standard error), so that callers can take it.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/build-release.sh

Builds target/x86_64-unknown-linux-gnu/release/amocrm (needs glibc 2.17 or newer), checks
its glibc symbol versions when objdump is installed, and prints its path on standard output.
EOF
}

case "${1:-}" in
  "") ;;
  -h | --help) usage; exit 0 ;;
  *) echo "build-release.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_ZIGBUILD_VERSION=0.24.1
ZIGLANG_VERSION=0.15.2
# The oldest glibc the binary may need: RHEL/CentOS 7's. Every supported system has newer.
GLIBC_FLOOR=2.17
TRIPLE=x86_64-unknown-linux-gnu
TOOLS="$PWD/target/tools"
VENV="$TOOLS/zigbuild"
PINNED="cargo-zigbuild==$CARGO_ZIGBUILD_VERSION ziglang==$ZIGLANG_VERSION"
BINARY="$PWD/target/$TRIPLE/release/amocrm"

# Installs the pinned cargo-zigbuild and zig into $VENV unless they are there already.
# Under a lock: two builds started at once (tests in parallel) must not install twice.
install_tools() {
  mkdir -p "$TOOLS"
  exec 9>"$TOOLS/.zigbuild.lock"
  flock 9
  if [ -x "$VENV/bin/cargo-zigbuild" ] && [ "$(cat "$VENV/.pinned" 2>/dev/null)" = "$PINNED" ]; then
    echo "== $PINNED: present" >&2
  else
    echo "== installing $PINNED into $VENV (once)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    # shellcheck disable=SC2086 # two requirement specifiers
    "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINNED >&2
    echo "$PINNED" >"$VENV/.pinned"
  fi
  flock -u 9
}

# The highest GLIBC_x.y symbol version the binary asks for, or nothing (a static binary).
glibc_needed() {
  objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1
}

# Fails when the binary needs a glibc newer than the floor; skipped without objdump.
check_glibc() {
  if ! command -v objdump >/dev/null; then
    echo "== objdump (binutils) is not installed: glibc symbol versions not checked" >&2
    return
  fi
  local needed
  needed="$(glibc_needed "$BINARY")"
  if [ -n "$needed" ] && [ "$(printf '%s\n%s\n' "$needed" "$GLIBC_FLOOR" | sort -V | tail -n 1)" != "$GLIBC_FLOOR" ]; then
    echo "build-release.sh: $BINARY needs glibc $needed, more than $GLIBC_FLOOR" >&2
    exit 1
  fi
  echo "== $BINARY needs glibc ${needed:-(none: static)} (at most $GLIBC_FLOOR)" >&2
}

install_tools
# cargo-zigbuild runs zig as `python3 -m ziglang`: the virtualenv's python3 comes first.
export PATH="$VENV/bin:$PATH"
# zig's cache (the glibc stubs it builds once per version) stays under target/ too.
export ZIG_GLOBAL_CACHE_DIR="$TOOLS/zig-cache"

echo "== building the release binary for glibc $GLIBC_FLOOR (cargo zigbuild)" >&2
cargo zigbuild --release --bin amocrm --target "$TRIPLE.$GLIBC_FLOOR" >&2
check_glibc
echo "$BINARY"
