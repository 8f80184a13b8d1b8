# billmgr-amocrm %post ($1: 1 install, 2 upgrade): tighten the settings directory, create the
# module's tables, and make the panel read the module description (XML cache, restart).
MGR_ROOT=/usr/local/mgr5
export MGR_ROOT
# Packages create parent directories as 755; this one holds the client secret and tokens.
chmod 700 "$MGR_ROOT/etc/amocrm"
[ -d "$MGR_ROOT/var" ] || install -d -m 755 "$MGR_ROOT/var"
if ! "$MGR_ROOT/addon/amocrm" init; then
  echo "billmgr-amocrm: the tables were not created now; the first reader of the queue (the worker, status, a panel screen) creates them" >&2
fi
# Public BILLmanager/ISPmanager plugins clear this cache before restarting the panel;
# `mgrctl -m billmgr exit` is ISPsystem's documented restart.
if [ -d "$MGR_ROOT/var/.xmlcache" ]; then
  find "$MGR_ROOT/var/.xmlcache" -mindepth 1 -delete || true
fi
if [ -x "$MGR_ROOT/sbin/mgrctl" ]; then
  "$MGR_ROOT/sbin/mgrctl" -m billmgr exit >/dev/null 2>&1 ||
    echo "billmgr-amocrm: could not restart the panel; run $MGR_ROOT/sbin/mgrctl -m billmgr exit" >&2
else
  echo "billmgr-amocrm: no $MGR_ROOT/sbin/mgrctl: panel restart skipped"
fi
exit 0
