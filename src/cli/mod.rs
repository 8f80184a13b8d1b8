//! The `amocrm` command: the panel's handler when the panel runs it (`PARAM_func` set),
//! otherwise one of the admin's commands. Exit codes: 0 done, 1 an error the message
//! explains, 2 bad usage.

mod admin;
mod status;
mod usage;

use crate::paths::Paths;
pub use usage::USAGE;
use usage::usage;

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
