//! `amocrm`: the panel's handler when the panel runs it, the admin's commands otherwise.

fn main() {
    std::process::exit(billmgr_amocrm::cli::main());
}
