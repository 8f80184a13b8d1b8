#!/usr/bin/env bash
# The module's speed against its targets, each figure next to its bound or baseline as a
# ratio, from one run on this machine: the handler against `cat` (median and p95), the full
# export's throughput against rate_limit × batch_size on a sandbox enforcing 7 requests/s,
# the export of a panel where the sync conditions keep out a third of the clients, payers
# and services (requests against the fewest possible, time against requests / 7), the
# export's peak RSS at 10,000 and 100,000 entities, event → amoCRM latency, and the sweep
# (`amocrm sync --changed`) of 100,000 linked entities where nothing changed: its time
# against a plain SELECT * of the tables it reads (the panel's and the links) through the same
# driver, and its peak RSS,
# on SQLite and (with --mysql) MariaDB.
# The measuring is examples/bench.rs; this builds the release binaries and runs it.
#
# Usage: bash scripts/bench.sh [--quick] [--mysql URL]
#                              [--only handler,export,export-excluded,rss,latency,sweep]
#   --quick   smaller sizes, for a fast check (a few minutes); the figures are then not the
#             targets' own
#   --mysql   also measure the handler and the sweep on MariaDB: the server,
#             mysql://user@host:port (a database of its own is made there and dropped;
#             default: $AMOCRM_BENCH_MYSQL_URL)
#   --only    the parts to run, comma-separated (default: all); export-excluded is the
#             export with a third kept out by [conditions] (3,000 : 3,000 : 9,000 generated,
#             --quick 600 : 600 : 1,800)
# A full run takes about 11 minutes, most of it the exports held to 7 requests a second,
# and the sweep part up to ten more (the exports that link its two panels of 100,000).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --release --bins --example bench
exec target/release/examples/bench "$@"
