#!/usr/bin/env bash
# Removes the amoCRM module from a BILLmanager tree: MGR_ROOT (default /usr/local/mgr5).
# Keeps amocrm.conf, presets.custom, the tokens, the logs and the database tables, so that
# installing again carries on where it stopped; --purge removes those too.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/uninstall.sh [--purge [--binary PATH]]

  --purge         also remove etc/amocrm (settings, presets.custom, tokens), the module's
                  var files (var/amocrm_*, var/amocrm.db) and drop the module's tables
  --binary PATH   the amocrm binary that drops the tables when addon/amocrm is already
                  gone (default: target/x86_64-unknown-linux-gnu/release/amocrm of this
                  repository, if built)

Environment: MGR_ROOT (default /usr/local/mgr5); CRON_DIR (default /etc/cron.d).
EOF
}

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/pkg/common.sh
. "$REPO/scripts/pkg/common.sh"

PURGE=no
DROPPER=""
while [ $# -gt 0 ]; do
  case "$1" in
    --purge) PURGE=yes; shift ;;
    --binary)
      [ $# -ge 2 ] || { echo "uninstall.sh: --binary needs a path" >&2; usage >&2; exit 2; }
      DROPPER="$2"
      shift 2
      ;;
    --binary=*) DROPPER="${1#--binary=}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "uninstall.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

panel_roots uninstall.sh
BIN="$MGR_ROOT/addon/amocrm"

step "removing the amoCRM module from $MGR_ROOT"

# Another module's description or binary here (ISPsystem's amoCRM module uses the same
# names): the settings directory, the var files and the link tables are its too.
FOREIGN="$(foreign_module_files)"
if [ -n "$FOREIGN" ] && [ "$PURGE" = yes ]; then
  {
    echo "uninstall.sh: another amoCRM module (ISPsystem's own?) is installed in $MGR_ROOT:"
    while IFS= read -r f; do
      echo "  $f is not this module's"
    done <<<"$FOREIGN"
    echo "--purge would delete its settings, tokens and logs and drop the link tables it uses."
    echo "Nothing was changed."
  } >&2
  exit 1
fi

if [ "$PURGE" = yes ]; then
  cat >&2 <<'EOF'
WARNING: --purge drops the tables amocrm_account2contact, amocrm_profile2company,
amocrm_item2lead, amocrm_queue and amocrm_creating with every panel ↔ amoCRM link they
hold. On a panel that had ISPsystem's own amoCRM module the link tables may be shared with
it, and its links go too. The settings, presets.custom, the tokens and the logs are deleted as well.
EOF
  # Before the binary and the settings go: it needs both to find the database. After a plain
  # uninstall the installed binary is gone, and another build of it does the same.
  step "dropping the module's tables (amocrm drop-tables)"
  if [ -z "$DROPPER" ]; then
    # Never another module's binary under the same name.
    DROPPER="$BIN"
    if [ ! -x "$DROPPER" ] || ! is_ours "$DROPPER"; then
      DROPPER="$REPO/target/x86_64-unknown-linux-gnu/release/amocrm"
    fi
  fi
  if [ -x "$DROPPER" ]; then
    if ! "$DROPPER" drop-tables --yes; then
      warn "the tables were not dropped (above: why); drop them by hand: DROP TABLE amocrm_account2contact, amocrm_profile2company, amocrm_item2lead, amocrm_queue, amocrm_creating;"
    fi
  else
    warn "no $BIN (nor --binary) to drop the tables with; drop them by hand: DROP TABLE amocrm_account2contact, amocrm_profile2company, amocrm_item2lead, amocrm_queue, amocrm_creating;"
  fi
fi

# Removes a file if present and says so.
remove() {
  if [ -e "$1" ] || [ -L "$1" ]; then
    rm -f "$1"
    note "removed $1"
  fi
}

# Removes the module's description or binary only if it is this module's: ISPsystem's own
# amoCRM module uses the same names.
remove_ours() {
  if { [ -e "$1" ] || [ -L "$1" ]; } && ! is_ours "$1"; then
    warn "kept $1: it is not this module's (ISPsystem's amoCRM module?)"
    return
  fi
  remove "$1"
}

step "removing the binary, the module description, the shipped presets and the cron entry"
remove_ours "$BIN"
remove_ours "$MGR_ROOT/etc/xml/billmgr_mod_amocrm.xml"
if [ -n "$FOREIGN" ]; then
  warn "kept $MGR_ROOT/etc/amocrm/presets.default: the other module's"
else
  remove "$MGR_ROOT/etc/amocrm/presets.default"
fi
remove "$CRON_DIR/billmgr-amocrm"

if [ "$PURGE" = yes ]; then
  step "purging settings, tokens, logs and the module's database file"
  if [ -d "$MGR_ROOT/etc/amocrm" ]; then
    rm -rf "$MGR_ROOT/etc/amocrm"
    note "removed $MGR_ROOT/etc/amocrm"
  fi
  shopt -s nullglob
  for f in "$MGR_ROOT"/var/amocrm_* "$MGR_ROOT"/var/amocrm.db "$MGR_ROOT"/var/amocrm.db-*; do
    rm -rf "$f"
    note "removed $f"
  done
  shopt -u nullglob
else
  note "kept: $MGR_ROOT/etc/amocrm (amocrm.conf, presets.custom, tokens), the logs in $MGR_ROOT/var and the tables; --purge removes them"
fi

clear_xml_cache
restart_panel

step "removed"
