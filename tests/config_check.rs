//! `amocrm check` as an admin runs it: every problem of amocrm.conf and the presets with
//! file:line on stderr and exit 1, or `configuration ok` and exit 0.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use support::Panel;

const CONF: &str = "etc/amocrm/amocrm.conf";
const CUSTOM: &str = "etc/amocrm/presets.custom";

/// The shipped sample with its [auth] placeholders filled in.
fn sample_conf() -> String {
    let sample = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/amocrm.conf"))
        .expect("sample");
    sample
        .replace("https://example.amocrm.ru", "http://127.0.0.1:8099")
        .replace("00000000-0000-0000-0000-000000000000", support::CLIENT_ID)
        .replace("change-me", support::CLIENT_SECRET)
}

/// A panel whose amocrm.conf is `conf`, owner-only as it should be.
fn panel_with(conf: &str) -> Panel {
    let panel = Panel::new();
    panel.write(CONF, conf);
    std::fs::set_permissions(panel.path(CONF), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    panel
}

fn check(panel: &Panel) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = panel.amocrm(&["check"]);
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The line number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in text")
        + 1
}

#[test]
fn the_shipped_sample_passes() {
    let panel = panel_with(&sample_conf());
    let (code, out, err) = check(&panel);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("configuration ok"), "{out}");
}

#[test]
fn a_broken_conf_lists_every_problem_with_file_and_line() {
    let conf = sample_conf()
        .replace("batch_size = 50", "batch_size = 500")
        .replace("update = fill_empty", "update = sometimes")
        .replace(
            "vds = item.itemtype = vds\n",
            "vds = item.itemtype = vds and (item.status = 2\n",
        )
        .replace("[tags.company]", "[tags.companies]");
    let panel = panel_with(&conf);
    let (code, out, err) = check(&panel);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(!out.contains("configuration ok"));
    let file = panel.path(CONF).display().to_string();
    for (needle, what) in [
        ("batch_size = 500", "batch_size '500'"),
        ("update = sometimes", "update 'sometimes'"),
        ("(item.status = 2", "is not closed"),
        ("[tags.companies]", "unknown section [tags.companies]"),
    ] {
        let prefix = format!("{file}:{}: ", line_of(&conf, needle));
        assert!(
            err.lines()
                .any(|l| l.starts_with(&prefix) && l.contains(what)),
            "no '{prefix}...{what}' in:\n{err}"
        );
    }
}

#[test]
fn an_unknown_value_is_reported_at_its_line_and_column() {
    let conf = sample_conf().replace(
        "vds = item.itemtype = vds\n",
        "vds = item.servertype = vds\n",
    );
    let panel = panel_with(&conf);
    let (code, _, err) = check(&panel);
    assert_eq!(code, 1, "{err}");
    let line = line_of(&conf, "item.servertype");
    let expected = format!(
        "{}:{line}: [tags.lead] vds: column 7: unknown value 'item.servertype'",
        panel.path(CONF).display()
    );
    assert!(
        err.lines().any(|l| l.starts_with(&expected)),
        "no {expected:?} in:\n{err}"
    );
}

#[test]
fn a_service_parameter_added_in_presets_custom_can_be_used_in_a_condition() {
    let conf = sample_conf().replace(
        "; item = item.itemtype in (vds, vhost, domain)",
        "item = item.ip starts_with \"203.0.113.\" or item.itemtype != vds",
    );
    let panel = panel_with(&conf);
    // Without the definition, the value is unknown.
    let (code, _, err) = check(&panel);
    assert_eq!(code, 1);
    assert!(err.contains("unknown value 'item.ip'"), "{err}");

    panel.write(
        CUSTOM,
        "# our own values\nvalue item.ip = itemparam.ip text \"IP address\"\n",
    );
    let (code, out, err) = check(&panel);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("configuration ok"));
}

#[test]
fn problems_in_presets_custom_name_that_file() {
    let panel = panel_with(&sample_conf());
    panel.write(
        CUSTOM,
        "value item.ip = itemparam.ip text\nvalue item.ip = itemparam.ip2 text\nvalidator ~~ = contains int\n",
    );
    let (code, _, err) = check(&panel);
    assert_eq!(code, 1);
    let file = panel.path(CUSTOM).display().to_string();
    assert!(
        err.contains(&format!(
            "{file}:2: value 'item.ip' is already defined on line 1"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:3: ")) && err.contains("cannot apply to int"),
        "{err}"
    );
}

#[test]
fn a_conf_others_can_read_is_a_problem() {
    let panel = panel_with(&sample_conf());
    std::fs::set_permissions(panel.path(CONF), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let (code, _, err) = check(&panel);
    assert_eq!(code, 1);
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn missing_auth_settings_are_reported() {
    let conf = sample_conf().replace("client_secret = ", "; client_secret = ");
    let panel = panel_with(&conf);
    let (code, _, err) = check(&panel);
    assert_eq!(code, 1);
    let line = line_of(&conf, "[auth]");
    assert!(
        err.contains(&format!(":{line}: [auth] client_secret is missing")),
        "{err}"
    );
    assert!(
        !err.contains(support::CLIENT_SECRET),
        "the secret never reaches the output"
    );
}

#[test]
fn responsible_users_amocrm_lacks_or_has_deactivated_are_reported() {
    let sandbox = support::Sandbox::start(&[]);
    let panel = Panel::new();
    panel.write_conf(&sandbox.url, Panel::sqlite(), "");
    let conf = panel.read(CONF)
        + "\n[responsible]\nvds = item.itemtype = vds -> former@example.com\n\
           mail = user.email ends_with \"@romashka.example\" -> Manager1@example.com\n\
           default = 999\n";
    panel.write(CONF, &conf);
    let (code, out, err) = check(&panel);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(
        err.contains(
            "[responsible] vds: amoCRM user former@example.com (id 504144) is deactivated"
        ),
        "{err}"
    );
    assert!(
        err.contains("[responsible] default: amoCRM has no user 999"),
        "{err}"
    );
    assert!(
        !err.contains("[responsible] mail"),
        "an active manager: {err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");

    // amoCRM out of reach: the users are not checked, and that is said, not counted.
    drop(sandbox);
    let (code, out, err) = check(&panel);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("responsible users not checked"), "{out}");
}
