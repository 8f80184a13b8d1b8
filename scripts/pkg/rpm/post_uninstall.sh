# billmgr-amocrm %postun ($1: 0 erase, 1 upgrade). On erase rpm has taken the package's files
# (a modified amocrm.conf is kept as amocrm.conf.rpmsave); presets.custom, the tokens, the
# logs and the tables stay: scripts/uninstall.sh --purge removes them. The panel is told
# (XML cache cleared, restarted). On upgrade the new package's %post does that.
MGR_ROOT=/usr/local/mgr5
if [ "$1" = 0 ]; then
  if [ -d "$MGR_ROOT/var/.xmlcache" ]; then
    find "$MGR_ROOT/var/.xmlcache" -mindepth 1 -delete || true
  fi
  if [ -x "$MGR_ROOT/sbin/mgrctl" ]; then
    "$MGR_ROOT/sbin/mgrctl" -m billmgr exit >/dev/null 2>&1 || true
  fi
fi
exit 0
