//! The `amocrm` command: the panel's handler when the panel runs it (`PARAM_func` set),
//! otherwise one of the admin's commands. Exit codes: 0 done, 1 an error the message
//! explains, 2 bad usage.

mod admin;
mod status;

use crate::paths::Paths;

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

/// Runs the command given on the command line; returns the exit code.
pub fn main() -> i32 {
    let paths = Paths::from_env();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() && is_panel_call() {
        return crate::panel::run_handler(&paths);
    }
    let Some(cmd) = args.first() else {
        eprintln!("{USAGE}");
        return 2;
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "task" if rest.is_empty() => admin::task(&paths),
        "sync" => admin::sync(&paths, rest),
        "auth" if rest.len() == 1 => admin::auth(&paths, &rest[0]),
        "status" => match rest {
            [] => status::status(&paths, false),
            [j] if j == "--json" => status::status(&paths, true),
            _ => usage(),
        },
        "check" if rest.is_empty() => admin::check(&paths),
        "links" => match rest {
            [] => status::links(&paths, None),
            [k] => match crate::model::EntityKind::parse(k) {
                Some(kind) => status::links(&paths, Some(kind)),
                None => usage(),
            },
            _ => usage(),
        },
        "init" if rest.is_empty() => admin::init(&paths),
        "drop-tables" => admin::drop_tables(&paths, rest),
        "sample-panel" => admin::sample_panel(&paths, rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            0
        }
        "-V" | "--version" => {
            println!("amocrm {}", env!("CARGO_PKG_VERSION"));
            0
        }
        _ => usage(),
    }
}

/// The panel runs the binary without arguments and with its request in the environment.
/// A call missing `PARAM_func` is still the panel's: it must get its document back, not
/// the usage text.
fn is_panel_call() -> bool {
    std::env::vars_os().any(|(k, _)| {
        k == "ACTION_NAME" || k == "EVENT_TYPE" || k.as_encoded_bytes().starts_with(b"PARAM_")
    })
}

fn usage() -> i32 {
    eprintln!("{USAGE}");
    2
}
