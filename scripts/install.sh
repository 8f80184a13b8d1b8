#!/usr/bin/env bash
# Installs the amoCRM module into a BILLmanager tree: MGR_ROOT (default /usr/local/mgr5).
# Safe to run again (an upgrade): the second run leaves the same files, contents and modes.
# The admin's amocrm.conf and presets.custom, the tokens, the logs and the database are kept.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/install.sh [--binary PATH]

  --binary PATH   the amocrm binary to install (default: target/release/amocrm of this
                  repository, built with `cargo build --release` when missing)

Environment: MGR_ROOT (default /usr/local/mgr5); CRON_DIR (default /etc/cron.d): the cron
entry is written there only if that directory exists.
EOF
}

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/pkg/common.sh
. "$REPO/scripts/pkg/common.sh"

BINARY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary)
      [ $# -ge 2 ] || { echo "install.sh: --binary needs a path" >&2; usage >&2; exit 2; }
      BINARY="$2"
      shift 2
      ;;
    --binary=*) BINARY="${1#--binary=}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

panel_roots install.sh

# Files are root's on a panel; an unprivileged run (a test root) keeps the caller's owner.
OWNER=()
if [ "$(id -u)" = 0 ]; then
  OWNER=(-o root -g root)
fi

step "installing the amoCRM module into $MGR_ROOT"

if [ -z "$BINARY" ]; then
  BINARY="$REPO/target/release/amocrm"
  if [ ! -f "$BINARY" ]; then
    step "building the release binary (cargo build --release)"
    (cd "$REPO" && cargo build --release --bin amocrm)
  fi
fi
if [ ! -f "$BINARY" ] || [ ! -x "$BINARY" ]; then
  echo "install.sh: $BINARY is not an executable file" >&2
  exit 1
fi

# The panel's own directories keep their modes; only missing ones are created.
for dir in "$MGR_ROOT/addon" "$MGR_ROOT/etc/xml" "$MGR_ROOT/var"; do
  if [ ! -d "$dir" ]; then
    install -d -m 755 "${OWNER[@]}" "$dir"
    note "created $dir"
  fi
done
# The module's settings and tokens: root only.
install -d -m 700 "${OWNER[@]}" "$MGR_ROOT/etc/amocrm"

step "binary: $MGR_ROOT/addon/amocrm (750)"
install -m 750 "${OWNER[@]}" "$BINARY" "$MGR_ROOT/addon/amocrm"

step "module description: $MGR_ROOT/etc/xml/billmgr_mod_amocrm.xml"
install -m 644 "${OWNER[@]}" "$REPO/xml/billmgr_mod_amocrm.xml" "$MGR_ROOT/etc/xml/billmgr_mod_amocrm.xml"

step "settings: $MGR_ROOT/etc/amocrm/amocrm.conf"
if [ -e "$MGR_ROOT/etc/amocrm/amocrm.conf" ]; then
  note "kept the existing amocrm.conf"
else
  install -m 600 "${OWNER[@]}" "$REPO/etc/amocrm.conf" "$MGR_ROOT/etc/amocrm/amocrm.conf"
  note "installed the sample: fill [auth] in it, then run addon/amocrm check"
fi

step "shipped presets: $MGR_ROOT/etc/amocrm/presets.default"
install -m 644 "${OWNER[@]}" "$REPO/etc/presets.default" "$MGR_ROOT/etc/amocrm/presets.default"

step "worker cron entry: $CRON_DIR/billmgr-amocrm"
if [ -d "$CRON_DIR" ]; then
  cron_tmp="$(mktemp)"
  trap 'rm -f "$cron_tmp"' EXIT
  sed "s|/usr/local/mgr5|$MGR_ROOT|g" "$REPO/scripts/pkg/billmgr-amocrm.cron" >"$cron_tmp"
  install -m 644 "${OWNER[@]}" "$cron_tmp" "$CRON_DIR/billmgr-amocrm"
  note "every 5 minutes: $MGR_ROOT/addon/amocrm task"
else
  note "skipped: no $CRON_DIR; run $MGR_ROOT/addon/amocrm task from cron every few minutes"
fi

step "creating the module's tables (amocrm init)"
if "$MGR_ROOT/addon/amocrm" init; then
  :
else
  warn "the tables were not created now (above: why); the handler creates them on the first event"
fi

clear_xml_cache
restart_panel

step "installed. Next: fill [auth] in $MGR_ROOT/etc/amocrm/amocrm.conf, then $MGR_ROOT/addon/amocrm check and status"
