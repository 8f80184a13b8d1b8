//! A quiet panel keeps its authorization: amoCRM drops a refresh token unused for three
//! months, so `amocrm task` renews the tokens once they are a month old, with nothing to
//! send and with syncing off, and `status` says how long the authorization has left.

mod support;
mod workers;

use std::time::{Duration, SystemTime};

use serde_json::Value;
use support::{Panel, Sandbox};
use workers::{requests, text, token_requests};

/// An authorized panel with an empty queue.
fn quiet_panel(sandbox: &Sandbox, sync: &str) -> Panel {
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), sync);
    p.sample_panel();
    let out = p.amocrm(&["auth", support::AUTH_CODE]);
    assert!(out.status.success(), "auth: {}", text(&out.stderr));
    p
}

/// Makes the refresh token look `days` old, as if written then.
fn age_tokens(p: &Panel, days: u64) {
    let then = SystemTime::now() - Duration::from_secs(days * 86_400);
    let file = std::fs::File::options()
        .write(true)
        .open(p.path("etc/amocrm/refresh_token"))
        .expect("refresh token");
    file.set_modified(then).expect("set the time");
}

fn days_left(p: &Panel) -> i64 {
    let out = p.amocrm(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    status["token"]["authorization_days_left"]
        .as_i64()
        .unwrap_or_else(|| panic!("no days left in {status}"))
}

#[test]
fn a_month_old_authorization_is_renewed_with_nothing_to_send() {
    for sync in ["batch_size = 50", "enabled = no"] {
        let sandbox = Sandbox::start(&[]);
        let p = quiet_panel(&sandbox, sync);
        assert!(days_left(&p) >= 89, "{sync}: just authorized");
        let before = token_requests(&requests(&sandbox)).len();
        let refresh = p.read("etc/amocrm/refresh_token");

        age_tokens(&p, 10);
        let out = p.amocrm(&["task"]);
        assert!(out.status.success(), "{sync}: {}", text(&out.stderr));
        let after = token_requests(&requests(&sandbox)).len();
        assert_eq!(after, before, "{sync}: ten days old is left alone");
        // Ninety days from ten days ago, give or take the seconds of the test.
        assert!((79..=80).contains(&days_left(&p)), "{sync}");

        age_tokens(&p, 31);
        let out = p.amocrm(&["task"]);
        assert!(out.status.success(), "{sync}: {}", text(&out.stderr));
        assert_eq!(
            token_requests(&requests(&sandbox)).len(),
            after + 1,
            "{sync}: one renewal"
        );
        assert_ne!(
            p.read("etc/amocrm/refresh_token"),
            refresh,
            "{sync}: a new pair"
        );
        assert!(days_left(&p) >= 89, "{sync}: renewed");
        assert!(
            p.read("var/amocrm_task.log").contains("renewing it now"),
            "{sync}: the task log says so"
        );
    }
}
