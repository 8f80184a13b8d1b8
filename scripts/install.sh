#!/usr/bin/env bash
# Installs the amoCRM module into a BILLmanager tree: MGR_ROOT (default /usr/local/mgr5).
# Safe to run again (an upgrade): the second run leaves the same files, contents and modes.
# The admin's amocrm.conf and presets.custom, the tokens, the logs and the database are kept.
# It refuses to install over ISPsystem's own amoCRM module (the same file names) unless told
# to with --replace.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/install.sh [--binary PATH] [--replace]

  --binary PATH   the amocrm binary to install (default:
                  target/x86_64-unknown-linux-gnu/release/amocrm of this repository, built
                  with scripts/build-release.sh when missing)
  --replace       install in place of ISPsystem's own amoCRM module: its description and
                  binary are replaced, its settings moved to etc/amocrm/replaced-official/,
                  its tokens, logs and link tables kept and used

Environment: MGR_ROOT (default /usr/local/mgr5); CRON_DIR (default /etc/cron.d): the cron
entry is written there only if that directory exists.
EOF
}

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/pkg/common.sh
. "$REPO/scripts/pkg/common.sh"

BINARY=""
REPLACE=no
while [ $# -gt 0 ]; do
  case "$1" in
    --binary)
      [ $# -ge 2 ] || { echo "install.sh: --binary needs a path" >&2; usage >&2; exit 2; }
      BINARY="$2"
      shift 2
      ;;
    --binary=*) BINARY="${1#--binary=}"; shift ;;
    --replace) REPLACE=yes; shift ;;
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

# What --replace does with the other module's files: said before refusing and when done.
explain_replace() {
  cat <<'TEXT'
  replaced: etc/xml/billmgr_mod_amocrm.xml and addon/amocrm: the panel then calls this
            module only
  moved to etc/amocrm/replaced-official/, with the replaced description and binary (their
            format is not this module's): etc/amocrm/amocrm.conf, presets.default,
            presets.custom; this module's sample amocrm.conf and presets take their place
  kept:     the tokens (etc/amocrm/access_token, refresh_token), the logs
            (var/amocrm_*.log) and the tables: the link tables amocrm_account2contact,
            amocrm_profile2company and amocrm_item2lead are used as they are and gain two
            columns (synced_at, fingerprint)
TEXT
}

# Stops before anything is changed when ISPsystem's amoCRM module is here, unless --replace
# was given.
check_official_module() {
  local foreign f
  if official_package_installed; then
    {
      echo "install.sh: ISPsystem's amoCRM module is installed as the package $OFFICIAL_PACKAGE;"
      echo "it uses the same files and tables as this module. Nothing was changed. Remove the"
      echo "package first (its tables, settings and tokens stay): apt-get remove $OFFICIAL_PACKAGE"
      echo "or dnf remove $OFFICIAL_PACKAGE; then run install.sh --replace."
    } >&2
    exit 1
  fi
  foreign="$(foreign_module_files)"
  if [ -n "$foreign" ] && [ "$REPLACE" != yes ]; then
    {
      echo "install.sh: another amoCRM module (ISPsystem's own?) is installed in $MGR_ROOT:"
      while IFS= read -r f; do
        echo "  $f is not this module's"
      done <<<"$foreign"
      echo "It uses the same files and tables as this module. Nothing was changed."
      echo "install.sh --replace installs this module in its place:"
      explain_replace
    } >&2
    exit 1
  fi
}

# With --replace: moves the other module's description, binary and settings to
# etc/amocrm/replaced-official/; its tokens stay where this module reads them. Settings are
# the other module's unless this module's description is installed: after the official
# package was removed only its settings may be left.
replace_official_module() {
  local keep="$MGR_ROOT/etc/amocrm/replaced-official" f moving=()
  for f in "$MGR_ROOT/etc/xml/billmgr_mod_amocrm.xml" "$MGR_ROOT/addon/amocrm"; do
    if { [ -e "$f" ] || [ -L "$f" ]; } && ! is_ours "$f"; then
      moving+=("$f")
    fi
  done
  if ! is_ours "$MGR_ROOT/etc/xml/billmgr_mod_amocrm.xml"; then
    for f in amocrm.conf presets.default presets.custom; do
      if [ -e "$MGR_ROOT/etc/amocrm/$f" ]; then
        moving+=("$MGR_ROOT/etc/amocrm/$f")
      fi
    done
  fi
  step "installing in place of the other amoCRM module (--replace)"
  if [ ${#moving[@]} = 0 ]; then
    note "nothing of another module is here: an install or upgrade as without --replace"
    return
  fi
  explain_replace
  install -d -m 700 "${OWNER[@]}" "$MGR_ROOT/etc/amocrm" "$keep"
  for f in "${moving[@]}"; do
    mv -f "$f" "$keep/"
    note "moved $f to $keep/"
  done
}

step "installing the amoCRM module into $MGR_ROOT"
check_official_module

if [ -z "$BINARY" ]; then
  # Linked against glibc 2.17 symbols: it runs on every system the panel supports.
  BINARY="$REPO/target/x86_64-unknown-linux-gnu/release/amocrm"
  if [ ! -f "$BINARY" ]; then
    step "building the release binary (scripts/build-release.sh)"
    BINARY="$(bash "$REPO/scripts/build-release.sh")"
  fi
fi
if [ ! -f "$BINARY" ] || [ ! -x "$BINARY" ]; then
  echo "install.sh: $BINARY is not an executable file" >&2
  exit 1
fi
if [ "$REPLACE" = yes ]; then
  replace_official_module
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
  warn "the tables were not created now (above: why); the first reader of the queue (the worker, status, a panel screen) creates them"
fi

clear_xml_cache
restart_panel

step "installed. Next: fill [auth] in $MGR_ROOT/etc/amocrm/amocrm.conf, then $MGR_ROOT/addon/amocrm check and status"
