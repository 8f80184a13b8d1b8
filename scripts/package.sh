#!/usr/bin/env bash
# Builds the .deb (cargo-deb) and .rpm (cargo-generate-rpm) packages into target/packages/.
# Both install the layout scripts/install.sh does, under /usr/local/mgr5 (see Cargo.toml,
# [package.metadata.deb] and [package.metadata.generate-rpm]), with the binary
# scripts/build-release.sh makes (glibc 2.17 or newer). The two build tools are installed at
# pinned versions into target/tools, so nothing outside the repository is needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1
TOOLS="$PWD/target/tools"
OUT="$PWD/target/packages"
# The target scripts/build-release.sh builds for: the tools take the binary from
# target/$TRIPLE/release (the host's own target, named so that the glibc 2.17 build is used).
TRIPLE=x86_64-unknown-linux-gnu

# Installs a cargo subcommand at the pinned version unless that version is there already.
tool() {
  local crate="$1" version="$2"
  if [ -x "$TOOLS/bin/$crate" ] && "$TOOLS/bin/$crate" --version 2>/dev/null | grep -qF "$version"; then
    echo "== $crate $version: present"
    return
  fi
  echo "== installing $crate $version into $TOOLS (a few minutes, once)"
  cargo install --locked --quiet --root "$TOOLS" --version "=$version" "$crate"
}

BINARY="$(bash scripts/build-release.sh)"

tool cargo-deb "$CARGO_DEB_VERSION"
tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"
export PATH="$TOOLS/bin:$PATH"

mkdir -p "$OUT"
rm -f "$OUT"/*.deb "$OUT"/*.rpm

echo "== building the .deb"
cargo deb --no-build --target "$TRIPLE" --output "$OUT/"
echo "== building the .rpm"
# cargo-deb strips its copy of the binary; cargo-generate-rpm takes the file as it is, and
# its documentation asks for `strip -s` first (symbols only: release builds carry no debug info).
if command -v strip >/dev/null; then
  strip -s "$BINARY"
fi
cargo generate-rpm --target "$TRIPLE" --output "$OUT/"

echo "== packages"
for p in "$OUT"/*.deb "$OUT"/*.rpm; do
  echo "$p"
done
