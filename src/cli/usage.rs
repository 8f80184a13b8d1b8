//! What the `amocrm` command takes, as `--help` and a wrong command print it.

pub const USAGE: &str = "\
amocrm — keeps amoCRM in step with BILLmanager

Run by the panel as an XML handler (PARAM_func set, the document on stdin), or:
  amocrm task                       drain the queue to amoCRM, then exit (one worker at a time);
                                    first the sweep, when [sync] reconcile says one is due
  amocrm sync --all | --account N | --profile N | --item N [--dry-run]
                                    queue entities and send them now; --dry-run prints what
                                    would be sent and sends nothing
  amocrm sync --changed [--dry-run] the sweep: queue what differs from what was last sent to
                                    amoCRM or was never sent, then send it; --dry-run prints
                                    what would be queued and why, and queues nothing
  amocrm auth CODE                  exchange a one-time authorization code for tokens
  amocrm status [--json]            connection, token expiry, queue, failures, last run
  amocrm check                      validate amocrm.conf and the presets (file:line)
  amocrm links [account|profile|item]
                                    the link tables: panel id → amoCRM id, last sync
  amocrm init                       create the module's tables in the panel database (idempotent)
  amocrm drop-tables --yes          drop the module's tables: links, queue, create marks, posts (uninstall --purge)
  amocrm sample-panel [--generate CLIENTS,PAYERS,SERVICES]
                                    create a panel database with sample data, for the demo
                                    and for trying a configuration (refuses a database that
                                    already holds panel tables)

MGR_ROOT (default /usr/local/mgr5) roots every path: etc/amocrm/amocrm.conf, var/*.log.";

/// Bad usage: the text on stderr, exit code 2.
pub fn usage() -> i32 {
    eprintln!("{USAGE}");
    2
}
