# shellcheck shell=bash
# Shared by scripts/install.sh and scripts/uninstall.sh (sourced, not run).
# The package's maintainer scripts carry their own copy of the panel steps: a package
# installs on servers that do not have this repository.

step() { printf '== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }

# The panel caches the XML descriptions it has read; a changed or removed module description
# is seen only once the cache is gone. ISPsystem's pages do not name the directory; public
# BILLmanager/ISPmanager plugins and admin scripts clear $MGR_ROOT/var/.xmlcache/ before
# `mgrctl -m <panel> exit`, and so do we.
clear_xml_cache() {
  local cache="$MGR_ROOT/var/.xmlcache"
  step "clearing the panel's XML cache"
  if [ -d "$cache" ]; then
    find "$cache" -mindepth 1 -delete
    note "emptied $cache"
  else
    note "no $cache: nothing to clear"
  fi
}

# ISPsystem documents `mgrctl -m billmgr exit` as the way to restart the panel: it exits
# and is started again on the next request.
restart_panel() {
  local mgrctl="$MGR_ROOT/sbin/mgrctl"
  step "restarting the panel"
  if [ -x "$mgrctl" ]; then
    if "$mgrctl" -m billmgr exit >/dev/null 2>&1; then
      note "$mgrctl -m billmgr exit: done"
    else
      warn "$mgrctl -m billmgr exit failed; restart the panel by hand"
    fi
  else
    note "skipped: no $mgrctl (not a BILLmanager server?)"
  fi
}

# MGR_ROOT (default /usr/local/mgr5, no trailing slash, never /) and CRON_DIR, for the
# script named in $1.
panel_roots() {
  MGR_ROOT="${MGR_ROOT:-/usr/local/mgr5}"
  MGR_ROOT="${MGR_ROOT%/}"
  [ -n "$MGR_ROOT" ] || { echo "$1: MGR_ROOT must not be /" >&2; exit 2; }
  CRON_DIR="${CRON_DIR:-/etc/cron.d}"
  export MGR_ROOT
}
