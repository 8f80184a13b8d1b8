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

# ISPsystem's own amoCRM module uses this module's names: etc/xml/billmgr_mod_amocrm.xml,
# etc/amocrm/, the amocrm_* tables and var/amocrm_*.log (its documentation lists them). Its
# package name is inferred from ISPsystem's convention, billmanager-plugin-<plugin> for a
# billmgr_mod_<plugin>.xml; no public source names this one.
OFFICIAL_PACKAGE=billmanager-plugin-amocrm

# Whether FILE is this module's description or binary: every release of both names the
# project (the description's marker line and first comment; the binary embeds the
# description and sends the name as its user agent). A symlink never is.
is_ours() {
  [ ! -L "$1" ] && [ -f "$1" ] && grep -qaF billmgr-amocrm "$1"
}

# Whether dpkg or rpm has the official package installed.
official_package_installed() {
  if command -v dpkg-query >/dev/null &&
    dpkg-query -W -f='${Status}\n' "$OFFICIAL_PACKAGE" 2>/dev/null | grep -q ' installed$'; then
    return 0
  fi
  command -v rpm >/dev/null && rpm -q "$OFFICIAL_PACKAGE" >/dev/null 2>&1
}

# The module description and binary in MGR_ROOT that are not this module's, one a line.
foreign_module_files() {
  local f
  for f in "$MGR_ROOT/etc/xml/billmgr_mod_amocrm.xml" "$MGR_ROOT/addon/amocrm"; do
    if { [ -e "$f" ] || [ -L "$f" ]; } && ! is_ours "$f"; then
      printf '%s\n' "$f"
    fi
  done
}
