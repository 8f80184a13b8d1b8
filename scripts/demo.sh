#!/usr/bin/env bash
# The module's main job, end to end, on the embedded default: a SQLite panel with sample
# clients, payers and services, the sandbox amoCRM on 127.0.0.1, panel events sent through
# the handler exactly as BILLmanager sends them, the worker, and what landed where.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building"
cargo build --quiet --bins
BIN="$PWD/target/debug"

ROOT="$PWD/target/demo"          # the demo's MGR_ROOT: a panel's layout in miniature
rm -rf "$ROOT"
mkdir -p "$ROOT/etc/amocrm" "$ROOT/var" "$ROOT/addon"
cp "$BIN/amocrm" "$ROOT/addon/amocrm"
export MGR_ROOT="$ROOT"

echo "== starting the sandbox amoCRM"
"$BIN/amocrm-sandbox" --listen 127.0.0.1:0 \
  --client-id demo-integration --client-secret demo-secret-0123456789 \
  --redirect-uri https://billing.example.com/billmgr --code demo-authorization-code \
  >"$ROOT/var/sandbox.out" 2>"$ROOT/var/sandbox.err" &
SANDBOX_PID=$!
trap 'kill $SANDBOX_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  URL=$(head -n 1 "$ROOT/var/sandbox.out" 2>/dev/null || true)
  [ -n "$URL" ] && break
  sleep 0.05
done
[ -n "${URL:-}" ] || { echo "the sandbox did not start"; cat "$ROOT/var/sandbox.err"; exit 1; }
echo "sandbox at $URL"

echo "== configuring: etc/amocrm/amocrm.conf from the sample, pointed at the sandbox"
{
  cat <<CONF
[auth]
url = $URL
client_id = demo-integration
client_secret = demo-secret-0123456789
redirect_uri = https://billing.example.com/billmgr
code = demo-authorization-code

[database]
driver = sqlite
path = var/billmgr.db

CONF
  # The sample's rules, from its first section after [database] on.
  awk '/^\[(sync|conditions)\]/{p=1} p' etc/amocrm.conf
  # And a task for the manager of each suspended service.
  printf '\n[tasks]\nsuspended = item.status = 3 -> +1 "Услуга {item.name} приостановлена: позвонить клиенту"\n'
} >"$ROOT/etc/amocrm/amocrm.conf"
chmod 600 "$ROOT/etc/amocrm/amocrm.conf"
cp etc/presets.default "$ROOT/etc/amocrm/presets.default"
"$ROOT/addon/amocrm" check

echo "== creating the panel database with sample data"
"$ROOT/addon/amocrm" sample-panel

# One panel event: the environment BILLmanager sets and the function's document on stdin.
# The handler must hand the document back unchanged.
event() {
  local func=$1 elid=$2; shift 2
  local doc="<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<doc lang=\"ru\" func=\"$func\"><ok/><tparams><func>$func</func><elid>$elid</elid><sok>ok</sok></tparams></doc>"
  local out
  out=$(printf '%s' "$doc" | env -i PATH="$PATH" MGR_ROOT="$ROOT" EVENT_TYPE=after ACTION_NAME="$func" \
    AUTH_USER=admin AUTH_LEVEL=29 PARAM_func="$func" PARAM_elid="$elid" PARAM_sok=ok "$@" \
    "$ROOT/addon/amocrm")
  if [ "$out" != "$doc" ]; then echo "the handler changed the panel's document for $func"; exit 1; fi
  printf '  %-26s elid=%-10s -> document passed through\n' "$func" "$elid"
}

echo "== sending panel events through the handler"
event register "" PARAM_email=kuznetsova.ms@example.ru
for a in 2 3 4 6 7; do event account.edit "$a"; done
for p in 22 23 24 26; do event profile.edit "$p"; done
for i in 1001 1002 1004 1005 1006 1007 1010; do event service.postopen "$i"; done
event vhost.suspend "1003, 1009"
event service.postclose 1008
# Payments: one credited by the card module, and the partial refund of it.
event payment.setpaid 31
event payment.setpaid 35

echo "== waiting for the worker the handler started"
# The worker holds var/amocrm_task.lock while it runs; wait for it (without asking amoCRM
# anything, so the demo does not spend the worker's request budget), then run one more,
# in the foreground, for anything queued at the very end.
for _ in $(seq 1 600); do
  flock -n "$ROOT/var/amocrm_task.lock" true 2>/dev/null && break
  sleep 0.1
done
"$ROOT/addon/amocrm" task

echo
echo "== amocrm status"
"$ROOT/addon/amocrm" status || true
echo
echo "== what landed in amoCRM (the sandbox)"
"$BIN/amocrm-sandbox" show "$URL"
echo
echo "== the link tables in the panel database"
"$ROOT/addon/amocrm" links
echo
echo "logs: $ROOT/var/amocrm_task.log, $ROOT/var/amocrm_action.log"
