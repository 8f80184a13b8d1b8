//! The settings form (`amocrm.settings`) and the connection test (`amocrm.connection`) as
//! the panel calls them: the real binary, a real amocrm.conf with the admin's comments, and
//! the sandbox amoCRM over HTTP for the authorization code and the live account request.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use support::ui::Answer;
use support::{AUTH_CODE, CLIENT_ID, CLIENT_SECRET, Panel, REDIRECT_URI, Sandbox};

const CONF: &str = "etc/amocrm/amocrm.conf";

/// amocrm.conf as an admin keeps it: comments above and after values, a rule that does not
/// load (the form must still show the settings), and no authorization code.
fn admin_conf(url: &str) -> String {
    format!(
        "; amoCRM integration, edited by hand\n\
         # keep this header\n\
         [auth]\n\
         url = {url}            ; the account\n\
         client_id = {CLIENT_ID}   ; from Keys and scopes\n\
         client_secret = {CLIENT_SECRET}\n\
         redirect_uri = {REDIRECT_URI}\n\
         \n\
         [database]\n\
         driver = sqlite\n\
         path = var/billmgr.db\n\
         \n\
         [sync]\n\
         ; the stop switch\n\
         enabled = yes          ; on while testing\n\
         batch_size = 50        ; amoCRM recommends 50\n\
         rate_limit = 7         ; the account's limit\n\
         update = fill_empty    ; managers' values win\n\
         dedup = phone, email   ; phone first\n\
         \n\
         [tags.lead]\n\
         broken = item.nothing = (\n"
    )
}

fn panel_with(conf: &str) -> Panel {
    let panel = Panel::new();
    panel.write(CONF, conf);
    std::fs::set_permissions(panel.path(CONF), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    panel
}

/// The form as submitted unchanged, with `over` replacing or adding values.
fn submit(panel: &Panel, user: &str, over: &[(&str, &str)]) -> Answer {
    let opened = panel.call("amocrm.settings", 29, &[]);
    let mut params: Vec<(String, String)> = [
        "url",
        "client_id",
        "redirect_uri",
        "enabled",
        "batch_size",
        "rate_limit",
        "update",
        "dedup",
    ]
    .iter()
    .map(|k| (k.to_string(), opened.values[*k].clone()))
    .collect();
    params.push(("sok".into(), "ok".into()));
    for (k, v) in over {
        params.retain(|(pk, _)| pk != k);
        params.push((k.to_string(), v.to_string()));
    }
    let refs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    panel.call_as("amocrm.settings", user, 29, "en", &refs)
}

fn logs(panel: &Panel) -> String {
    panel.read("var/amocrm_action.log") + &panel.read("var/amocrm_task.log")
}

/// Comment lines and `section/key` lines in file order: what a save must keep.
fn skeleton(text: &str) -> Vec<String> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with(';') || t.starts_with('#') {
            out.push(t.to_string());
        } else if t.starts_with('[') {
            section = t.to_string();
            out.push(section.clone());
        } else if let Some((k, _)) = t.split_once('=') {
            out.push(format!("{section} {}", k.trim()));
        }
    }
    out
}

/// The line of `key` in the file.
fn line_of<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.split('=').next().is_some_and(|k| k.trim() == key))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
}

#[test]
fn open_shows_the_conf_with_choices_and_never_the_secret() {
    let panel = panel_with(&admin_conf("http://127.0.0.1:9/"));
    for lang in ["en", "ru"] {
        let a = panel.call_as("amocrm.settings", "admin", 29, lang, &[]);
        a.assert_complete("amocrm.settings");
        assert!(
            !a.raw.contains(CLIENT_SECRET),
            "the secret leaked:\n{}",
            a.raw
        );
        assert_eq!(a.values["client_secret"], "");
        assert_eq!(a.values["code"], "");
        assert_eq!(a.values["url"], "http://127.0.0.1:9/");
        assert_eq!(a.values["client_id"], CLIENT_ID);
        assert_eq!(a.values["redirect_uri"], REDIRECT_URI);
        assert_eq!(a.values["enabled"], "on");
        assert_eq!(a.values["batch_size"], "50");
        assert_eq!(a.values["rate_limit"], "7");
        assert_eq!(a.values["update"], "fill_empty");
        // `phone, email` is both, whatever the order.
        assert_eq!(a.values["dedup"], "email_phone");
        let keys = |s: &str| {
            a.slists[s]
                .iter()
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys("update"), ["fill_empty", "overwrite"]);
        assert_eq!(keys("dedup"), ["email_phone", "email", "phone", "none"]);
        assert!(a.slists["dedup"].iter().all(|(_, label)| !label.is_empty()));
    }
    let en = panel.call("amocrm.settings", 29, &[]);
    assert_eq!(en.slists["update"][1].1, "Overwrite values");
    let ru = panel.call_as("amocrm.settings", "admin", 29, "ru", &[]);
    assert_eq!(ru.slists["dedup"][3].1, "Не искать");

    // Other values read back as the loader reads them; a missing key shows its default.
    panel.write(
        CONF,
        "[auth]\nurl = https://a.amocrm.ru\n[sync]\nenabled = no\ndedup =\nrate_limit = 2.5\n",
    );
    let a = panel.call("amocrm.settings", 29, &[]);
    a.assert_complete("amocrm.settings");
    assert_eq!(
        (
            a.values["enabled"].as_str(),
            a.values["dedup"].as_str(),
            a.values["rate_limit"].as_str(),
            a.values["batch_size"].as_str(),
            a.values["client_id"].as_str()
        ),
        ("off", "none", "2.5", "50", "")
    );
    panel.write(CONF, "[sync]\ndedup = email\nupdate = overwrite\n");
    let a = panel.call("amocrm.settings", 29, &[]);
    assert_eq!(a.values["dedup"], "email");
    assert_eq!(a.values["update"], "overwrite");

    // No amocrm.conf yet: an empty form with the defaults.
    std::fs::remove_file(panel.path(CONF)).expect("rm");
    let a = panel.call("amocrm.settings", 29, &[]);
    a.assert_complete("amocrm.settings");
    assert_eq!(a.values["url"], "");
    assert_eq!(a.values["enabled"], "on");
    assert_eq!(a.values["dedup"], "email_phone");
}

#[test]
fn saving_writes_the_new_values_and_keeps_every_comment() {
    let before = admin_conf("http://127.0.0.1:9/");
    let panel = panel_with(&before);
    let new_secret = "a-brand-new-secret-7c1e";
    let a = submit(
        &panel,
        "manager",
        &[
            ("url", "https://example.amocrm.ru/"),
            ("client_id", "new-client-id"),
            ("client_secret", new_secret),
            ("enabled", "off"),
            ("batch_size", "100"),
            ("rate_limit", "5"),
            ("update", "overwrite"),
            ("dedup", "email"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let after = panel.read(CONF);
    assert_eq!(
        skeleton(&after),
        skeleton(&before),
        "order or comments changed:\n{after}"
    );
    for (key, value, comment) in [
        ("url", "https://example.amocrm.ru", "; the account"),
        ("client_id", "new-client-id", "; from Keys and scopes"),
        ("enabled", "no", "; on while testing"),
        ("batch_size", "100", "; amoCRM recommends 50"),
        ("rate_limit", "5", "; the account's limit"),
        ("update", "overwrite", "; managers' values win"),
        ("dedup", "email", "; phone first"),
    ] {
        let line = line_of(&after, key);
        assert!(
            line.starts_with(&format!("{key} = {value} ")) && line.ends_with(comment),
            "{line:?}"
        );
    }
    assert_eq!(
        line_of(&after, "client_secret"),
        format!("client_secret = {new_secret}")
    );
    assert_eq!(
        line_of(&after, "redirect_uri"),
        format!("redirect_uri = {REDIRECT_URI}")
    );
    let mode = std::fs::metadata(panel.path(CONF))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // Opened again, the form shows what was saved (and still not the secret).
    let again = panel.call("amocrm.settings", 29, &[]);
    again.assert_complete("amocrm.settings");
    for (field, value) in [
        ("url", "https://example.amocrm.ru"),
        ("client_id", "new-client-id"),
        ("client_secret", ""),
        ("enabled", "off"),
        ("batch_size", "100"),
        ("rate_limit", "5"),
        ("update", "overwrite"),
        ("dedup", "email"),
    ] {
        assert_eq!(again.values[field], value, "{field}");
    }
    assert!(!again.raw.contains(new_secret));

    // The action log names who and what changed, never the secret.
    let log = panel.read("var/amocrm_action.log");
    assert!(
        log.contains(
            "amocrm.settings: settings saved: url = https://example.amocrm.ru, \
             client_id = new-client-id, client_secret changed, enabled = no, batch_size = 100, \
             rate_limit = 5, update = overwrite, dedup = email by manager (level 29)"
        ),
        "{log}"
    );
    assert!(
        !log.contains(new_secret) && !log.contains(CLIENT_SECRET),
        "{log}"
    );

    // An empty secret keeps the current one; an unchanged form writes nothing at all.
    let a = submit(&panel, "admin", &[("batch_size", "25")]);
    assert!(a.ok.is_some(), "{}", a.raw);
    let third = panel.read(CONF);
    assert_eq!(
        line_of(&third, "client_secret"),
        format!("client_secret = {new_secret}")
    );
    assert!(line_of(&third, "batch_size").starts_with("batch_size = 25 "));
    let a = submit(&panel, "admin", &[]);
    assert!(a.ok.is_some(), "{}", a.raw);
    assert_eq!(panel.read(CONF), third);
    let log = panel.read("var/amocrm_action.log");
    assert!(
        log.contains("settings saved: batch_size = 25 by admin (level 29)"),
        "{log}"
    );
    assert_eq!(log.matches("settings saved").count(), 2, "{log}");

    // The module itself reads back what the form wrote.
    let paths = billmgr_amocrm::paths::Paths::new(panel.root());
    let conf = billmgr_amocrm::config::Sources::read_conf(&paths)
        .values()
        .expect("values");
    assert_eq!(conf.get("sync", "dedup"), Some("email"));
    assert_eq!(conf.get("auth", "client_secret"), Some(new_secret));
    let light = billmgr_amocrm::config::Sources::read_conf(&paths)
        .hook()
        .expect("light");
    assert!(!light.sync_enabled);
}

#[test]
fn dedup_none_and_values_with_comment_characters_read_back() {
    let panel = panel_with(&admin_conf("http://127.0.0.1:9"));
    let secret = "se;cr#et \"quoted\"";
    let a = submit(
        &panel,
        "admin",
        &[("dedup", "none"), ("client_secret", secret)],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let text = panel.read(CONF);
    assert!(
        line_of(&text, "dedup")
            .trim_end()
            .ends_with("; phone first")
    );
    let paths = billmgr_amocrm::paths::Paths::new(panel.root());
    let conf = billmgr_amocrm::config::Sources::read_conf(&paths)
        .values()
        .expect("values");
    assert_eq!(conf.get("sync", "dedup"), Some(""));
    assert_eq!(conf.get("auth", "client_secret"), Some(secret));
    assert_eq!(
        panel.call("amocrm.settings", 29, &[]).values["dedup"],
        "none"
    );
}

#[test]
fn lead_updates_are_their_own_choice_and_a_form_without_it_keeps_it() {
    let panel = panel_with(&admin_conf("http://127.0.0.1:9"));
    let opened = panel.call("amocrm.settings", 29, &[]);
    assert_eq!(
        opened.values["update_leads"], "overwrite",
        "a lead mirrors its service"
    );
    let keys: Vec<&str> = opened.slists["update_leads"]
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["fill_empty", "overwrite"]);
    let a = submit(&panel, "admin", &[("update_leads", "fill_empty")]);
    assert!(a.ok.is_some(), "{}", a.raw);
    let paths = billmgr_amocrm::paths::Paths::new(panel.root());
    let values = || {
        billmgr_amocrm::config::Sources::read_conf(&paths)
            .values()
            .expect("values")
    };
    assert_eq!(values().get("sync", "update_leads"), Some("fill_empty"));
    assert!(
        logs(&panel).contains("update_leads = fill_empty"),
        "{}",
        logs(&panel)
    );
    // A form that does not carry the field (an older page) leaves the setting alone.
    let a = submit(&panel, "admin", &[("batch_size", "40")]);
    assert!(a.ok.is_some(), "{}", a.raw);
    assert_eq!(values().get("sync", "update_leads"), Some("fill_empty"));
    let a = submit(&panel, "admin", &[("update_leads", "sometimes")]);
    assert!(a.error.is_some(), "{}", a.raw);
    assert_eq!(values().get("sync", "update_leads"), Some("fill_empty"));
}

/// Values submitted, and what the error must say.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn invalid_values_are_refused_by_name_and_nothing_is_written() {
    let panel = panel_with(&admin_conf("http://127.0.0.1:9"));
    let before = std::fs::read(panel.path(CONF)).expect("conf");
    let cases: &[Case] = &[
        (
            &[("url", "http://example.amocrm.ru")],
            &["\"Account address\"", "https://subdomain.amocrm.ru"],
        ),
        (&[("url", "example.amocrm.ru")], &["\"Account address\""]),
        (
            &[("batch_size", "0")],
            &["\"Entities a request\"", "from 1 to 250"],
        ),
        (
            &[("batch_size", "many")],
            &["\"Entities a request\"", "from 1 to 250"],
        ),
        (
            &[("rate_limit", "50")],
            &["\"Requests a second\"", "from 1 to 7"],
        ),
        (
            &[("rate_limit", "0.5")],
            &["\"Requests a second\"", "from 1 to 7"],
        ),
        (
            &[("update", "always")],
            &["\"Updates\"", "fill_empty or overwrite"],
        ),
        (
            &[("dedup", "fax")],
            &["\"Duplicate matching\"", "email_phone"],
        ),
        (&[("client_id", "")], &["\"Integration ID\": fill in"]),
        (
            &[("redirect_uri", "billing.example.com")],
            &["\"Redirect URI\"", "http(s)"],
        ),
        (
            &[("client_secret", "two\nlines")],
            &["\"Secret key\": the value must be one line"],
        ),
        // Every problem at once, and a valid code is not spent on a refused form.
        (
            &[
                ("batch_size", "0"),
                ("rate_limit", "50"),
                ("code", AUTH_CODE),
            ],
            &["\"Entities a request\"", "\"Requests a second\""],
        ),
    ];
    for (over, expect) in cases {
        let a = submit(&panel, "admin", over);
        let error = a
            .error
            .unwrap_or_else(|| panic!("{over:?} was accepted:\n{}", a.raw));
        assert!(error.starts_with("Nothing was saved."), "{error}");
        for e in *expect {
            assert!(error.contains(e), "{over:?}: {e:?} not in {error:?}");
        }
        assert_eq!(
            std::fs::read(panel.path(CONF)).expect("conf"),
            before,
            "{over:?}"
        );
    }
    assert!(!panel.path("etc/amocrm/access_token").exists());
    // In Russian, the field by its Russian label.
    let ru = panel.call_as(
        "amocrm.settings",
        "admin",
        29,
        "ru",
        &[
            ("sok", "ok"),
            ("url", "https://a.amocrm.ru"),
            ("client_id", "x"),
            ("redirect_uri", REDIRECT_URI),
            ("batch_size", "50"),
            ("rate_limit", "9"),
            ("update", "fill_empty"),
            ("dedup", "email"),
        ],
    );
    let error = ru.error.expect("refused");
    assert!(error.contains("«Запросов в секунду»: «9»"), "{error}");
    assert_eq!(std::fs::read(panel.path(CONF)).expect("conf"), before);
    // A conf without a secret needs one.
    panel.write(CONF, "[auth]\nurl = https://a.amocrm.ru\n");
    let a = submit(
        &panel,
        "admin",
        &[("client_id", "x"), ("redirect_uri", REDIRECT_URI)],
    );
    assert!(
        a.error
            .unwrap()
            .contains("\"Secret key\": amocrm.conf has no secret key yet")
    );
    assert_eq!(panel.read(CONF), "[auth]\nurl = https://a.amocrm.ru\n");
}

#[test]
fn a_valid_code_authorizes_and_the_connection_shows_the_account() {
    let sandbox = Sandbox::start(&[]);
    let panel = panel_with(&admin_conf(&sandbox.url));
    let before = panel.call("amocrm.connection", 29, &[]);
    before.assert_complete("amocrm.connection");
    assert_eq!(before.values["state"], "not authorized");
    assert!(
        before.values["problem"].contains("\"Authorization code\""),
        "{:?}",
        before.values
    );
    // That answer asked amoCRM nothing.
    let requests = sandbox.get_json("/_sandbox/requests");
    assert_eq!(requests.as_array().map_or(0, Vec::len), 0, "{requests}");

    let a = submit(&panel, "admin", &[("code", AUTH_CODE)]);
    assert_eq!(
        a.ok,
        Some((
            Some("form".to_string()),
            "func=amocrm.connection".to_string()
        )),
        "{}",
        a.raw
    );
    assert!(!panel.read("etc/amocrm/access_token").is_empty());
    assert!(!panel.read("etc/amocrm/refresh_token").is_empty());
    let state = sandbox.get_json("/_sandbox/state");
    assert_eq!(state["oauth"]["codes_exchanged"], 1);

    let c = panel.call("amocrm.connection", 29, &[]);
    c.assert_complete("amocrm.connection");
    assert_eq!(c.values["state"], "connected");
    assert_eq!(
        c.values["account_name"],
        state["account"]["name"].as_str().unwrap()
    );
    assert_eq!(c.values["account_id"], state["account"]["id"].to_string());
    assert_eq!(
        c.values["subdomain"],
        state["account"]["subdomain"].as_str().unwrap()
    );
    let expires = &c.values["token_expires"];
    assert!(
        expires.len() == 16 && expires.starts_with("20"),
        "token expiry {expires:?}"
    );
    assert_eq!(c.values["problem"], "");
    // "Close" saves nothing and asks amoCRM nothing.
    let n = sandbox
        .get_json("/_sandbox/requests")
        .as_array()
        .map_or(0, Vec::len);
    let closed = panel.call("amocrm.connection", 29, &[("sok", "ok")]);
    assert!(closed.ok.is_some(), "{}", closed.raw);
    assert_eq!(
        sandbox
            .get_json("/_sandbox/requests")
            .as_array()
            .map_or(0, Vec::len),
        n
    );

    // The same code again: used once already.
    let a = submit(
        &panel,
        "admin",
        &[("code", AUTH_CODE), ("batch_size", "40")],
    );
    let error = a.error.expect("a used code is refused");
    assert!(error.starts_with("The settings are saved, but"), "{error}");
    assert!(error.contains("already used"), "{error}");
    assert!(
        error.contains("Generate a new code in amoCRM (Settings → Integrations"),
        "{error}"
    );
    assert!(line_of(&panel.read(CONF), "batch_size").starts_with("batch_size = 40 "));
    // The tokens from the first code still work.
    assert_eq!(
        panel.call("amocrm.connection", 29, &[]).values["state"],
        "connected"
    );

    let conf = panel.read(CONF);
    assert!(!conf.contains(AUTH_CODE), "the code was stored:\n{conf}");
    assert!(!conf.contains("code ="), "{conf}");
    let log = logs(&panel);
    assert!(!log.contains(AUTH_CODE), "the code was logged:\n{log}");
    assert!(!log.contains(CLIENT_SECRET), "{log}");
    assert!(
        log.contains("amocrm.settings: authorization code exchanged for tokens")
            && log.contains("by admin (level 29)"),
        "{log}"
    );
    assert!(
        log.contains("the authorization code was not accepted"),
        "{log}"
    );
}

#[test]
fn refused_codes_say_what_to_fix() {
    // Codes that expire at once.
    let sandbox = Sandbox::start(&["--code-lifetime", "0"]);
    let panel = panel_with(&admin_conf(&sandbox.url));
    let a = submit(&panel, "admin", &[("code", AUTH_CODE)]);
    let error = a.error.expect("expired");
    assert!(error.contains("The settings are saved"), "{error}");
    assert!(
        error.contains("has expired") && error.contains("20 minutes"),
        "{error}"
    );
    assert!(error.contains("Generate a new code"), "{error}");

    let a = submit(&panel, "admin", &[("code", "not-a-real-code-123")]);
    assert!(a.error.unwrap().contains("does not recognise the code"));

    // Wrong keys: the secret is saved (the settings always are) and named as the fix.
    let a = submit(
        &panel,
        "admin",
        &[("code", AUTH_CODE), ("client_secret", "wrong-secret-000")],
    );
    let error = a.error.expect("wrong secret");
    assert!(error.contains("the secret key does not match"), "{error}");
    assert!(line_of(&panel.read(CONF), "client_secret").ends_with("wrong-secret-000"));
    let a = submit(
        &panel,
        "admin",
        &[
            ("code", AUTH_CODE),
            ("client_secret", CLIENT_SECRET),
            ("client_id", "someone-else"),
        ],
    );
    assert!(
        a.error
            .unwrap()
            .contains("no integration with the ID \"someone-else\"")
    );
    let a = submit(
        &panel,
        "admin",
        &[
            ("code", AUTH_CODE),
            ("client_id", CLIENT_ID),
            ("redirect_uri", "https://elsewhere.example/"),
        ],
    );
    assert!(a.error.unwrap().contains("\"Redirect URI\" does not match"));

    // Unreachable: the address and the network are the fix.
    drop(sandbox);
    let a = submit(
        &panel,
        "admin",
        &[("code", AUTH_CODE), ("redirect_uri", REDIRECT_URI)],
    );
    let error = a.error.expect("unreachable");
    assert!(
        error.contains("amoCRM did not answer at http://127.0.0.1:")
            && error.contains("\"Account address\""),
        "{error}"
    );
    assert!(!panel.path("etc/amocrm/access_token").exists());
    let log = logs(&panel);
    assert!(
        !log.contains(AUTH_CODE) && !log.contains("not-a-real-code-123"),
        "{log}"
    );
    assert!(!panel.read(CONF).contains(AUTH_CODE));
}

#[test]
fn the_connection_test_is_a_form_whatever_goes_wrong() {
    let sandbox = Sandbox::start(&[]);
    let panel = panel_with(&admin_conf(&sandbox.url));
    let a = submit(&panel, "admin", &[("code", AUTH_CODE)]);
    assert!(a.ok.is_some(), "{}", a.raw);
    let url = sandbox.url.clone();
    drop(sandbox);

    // amoCRM down: the state and the fix in the fields, quickly, exit 0 (call checks it).
    let started = Instant::now();
    let c = panel.call("amocrm.connection", 29, &[]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    c.assert_complete("amocrm.connection");
    assert_eq!(c.values["state"], "unreachable");
    assert!(
        c.values["problem"].contains(&format!("did not answer at {url}")),
        "{:?}",
        c.values
    );
    assert!(c.values["problem"].contains("\"Account address\""));
    assert_eq!(c.values["account_name"], "");
    assert!(
        !c.values["token_expires"].is_empty(),
        "the token's expiry is still known"
    );
    let ru = panel.call_as("amocrm.connection", "admin", 29, "ru", &[]);
    assert_eq!(ru.values["state"], "нет связи");

    // Revoked tokens: re-authorize.
    let sandbox = Sandbox::start(&[]);
    panel.write(CONF, &admin_conf(&sandbox.url));
    let c = panel.call("amocrm.connection", 29, &[]);
    c.assert_complete("amocrm.connection");
    assert_eq!(c.values["state"], "refused by amoCRM");
    assert!(
        c.values["problem"].contains("Authorize again"),
        "{:?}",
        c.values
    );

    // Not configured: which fields to fill in.
    panel.write(
        CONF,
        "[auth]\nurl = http://example.amocrm.ru\nclient_id = x\n",
    );
    let c = panel.call("amocrm.connection", 29, &[]);
    c.assert_complete("amocrm.connection");
    assert_eq!(c.values["state"], "not configured");
    assert!(
        c.values["problem"]
            .contains("Fill in the settings: Account address, Secret key, Redirect URI."),
        "{:?}",
        c.values
    );
    std::fs::remove_file(panel.path(CONF)).expect("rm");
    let c = panel.call("amocrm.connection", 29, &[]);
    c.assert_complete("amocrm.connection");
    assert_eq!(c.values["state"], "not configured");
}
