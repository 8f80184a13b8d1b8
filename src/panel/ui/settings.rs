//! `amocrm.settings`: the integration's keys and how syncing runs, read from amocrm.conf
//! and written back with the admin's comments kept. The secret key is never sent to the
//! browser; a new authorization code is exchanged for tokens at once and never stored.
//!
//! `amocrm.connection`: a live request to amoCRM showing the account and the token's
//! expiry, or what stops the connection and what to do about it.
//!
//! These two are the only panel functions that talk to amoCRM; the event path never does.

use std::time::Duration;

use super::page::datetime;
use super::{Ctx, FormPage, UiError, UiResult};
use crate::amo::check_account_url;
use crate::amo::{AmoClient, AmoError, ClientOptions, OAuthRefusal};
use crate::config::edit::{self, Change};
use crate::config::{AuthConfig, ConfValues};
use crate::secret::Secret;

/// One request's limit while the admin waits at the screen (the worker allows 30 s).
const TIMEOUT: Duration = Duration::from_secs(10);
/// Tries of one request: one retry after half a second covers a dropped connection, and
/// the longest wait stays near two timeouts, not the worker's six tries with backoff.
const ATTEMPTS: u32 = 2;

/// `[sync] update` and `update_leads` choices.
const UPDATE: [&str; 2] = ["fill_empty", "overwrite"];
/// `[sync] update_leads` when amocrm.conf does not say: a lead mirrors its service.
const DEFAULT_UPDATE_LEADS: &str = "overwrite";
/// `[sync] dedup` choices and what each writes.
const DEDUP: [(&str, &str); 4] = [
    ("email_phone", "email, phone"),
    ("email", "email"),
    ("phone", "phone"),
    ("none", ""),
];

const DEFAULT_BATCH: usize = 50;
const DEFAULT_RATE: f64 = 7.0;

// ---- amocrm.settings ----

pub fn form(ctx: &Ctx<'_>) -> UiResult {
    let conf = crate::config::Sources::read_conf(ctx.paths)
        .values()
        .map_err(|p| ctx.fail("settings_read", &[("error", &p.to_string())]))?;
    if ctx.req.submitted() {
        save(ctx, &conf)
    } else {
        Ok(show(ctx, &conf))
    }
}

/// The form with the conf's values; when the panel refreshes the form (`sv_field`), with
/// what the admin has typed so far.
fn show(ctx: &Ctx<'_>, conf: &ConfValues) -> String {
    let typed = ctx.param("sv_field").is_some();
    let value = |field: &str, from_conf: String| -> String {
        if typed {
            ctx.param(field).unwrap_or("").to_string()
        } else {
            from_conf
        }
    };
    let get = |key: &str| conf.get("auth", key).unwrap_or("").to_string();
    let enabled = if typed {
        is_on(ctx.param("enabled"))
    } else {
        conf.get("sync", "enabled").and_then(flag).unwrap_or(true)
    };
    let batch = conf
        .get("sync", "batch_size")
        .map_or(DEFAULT_BATCH.to_string(), str::to_string);
    let rate = conf
        .get("sync", "rate_limit")
        .map_or(format_rate(DEFAULT_RATE), str::to_string);
    let update = conf
        .get("sync", "update")
        .and_then(update_choice)
        .unwrap_or(UPDATE[0]);
    let update_leads = conf
        .get("sync", "update_leads")
        .and_then(update_choice)
        .unwrap_or(DEFAULT_UPDATE_LEADS);
    let dedup = conf
        .get("sync", "dedup")
        .map_or(Some(DEDUP[0].0), dedup_choice)
        .unwrap_or(DEDUP[0].0);
    let mut page = FormPage::new();
    page.value("url", &value("url", get("url")))
        .value("client_id", &value("client_id", get("client_id")))
        // Write-only: the browser never gets the secret back.
        .value("client_secret", "")
        .value("redirect_uri", &value("redirect_uri", get("redirect_uri")))
        .value("code", &value("code", String::new()))
        .value("enabled", if enabled { "on" } else { "off" })
        .value("batch_size", &value("batch_size", batch))
        .value("rate_limit", &value("rate_limit", rate))
        .value("update", &value("update", update.to_string()))
        .value(
            "update_leads",
            &value("update_leads", update_leads.to_string()),
        )
        .value("dedup", &value("dedup", dedup.to_string()))
        .slist("update", &choices(ctx, "update", UPDATE.iter().copied()))
        .slist(
            "update_leads",
            &choices(ctx, "update_leads", UPDATE.iter().copied()),
        )
        .slist(
            "dedup",
            &choices(ctx, "dedup", DEDUP.iter().map(|(k, _)| *k)),
        );
    page.render(ctx)
}

/// A select's choices with their labels (`update_fill_empty`, …) in the admin's language.
fn choices<'k>(
    ctx: &Ctx<'_>,
    select: &str,
    keys: impl Iterator<Item = &'k str>,
) -> Vec<(String, String)> {
    keys.map(|k| {
        (
            k.to_string(),
            ctx.text("amocrm.settings", &format!("{select}_{k}"), &[]),
        )
    })
    .collect()
}

/// What the admin submitted, every value checked.
struct Submitted {
    url: String,
    client_id: String,
    /// `None`: keep the current one.
    client_secret: Option<String>,
    redirect_uri: String,
    code: Option<String>,
    enabled: bool,
    batch_size: usize,
    /// As typed (it may be a fraction), and its value.
    rate_limit: (String, f64),
    update: &'static str,
    /// `None`: not in the form submitted (kept as it is).
    update_leads: Option<&'static str>,
    dedup: &'static str,
}

/// The `[sync]` part of what was submitted.
struct SyncValues {
    batch_size: usize,
    rate_limit: (String, f64),
    update: &'static str,
    update_leads: Option<&'static str>,
    dedup: &'static str,
}

/// The form's values being checked, and every problem found so far, each naming its
/// field and the fix.
struct Checks<'c, 'a> {
    ctx: &'c Ctx<'a>,
    problems: Vec<String>,
}

impl Checks<'_, '_> {
    fn label(&self, field: &str) -> String {
        self.ctx.text("amocrm.settings", field, &[])
    }

    /// The problem `name` of `amocrm.common` about `field`, which holds `value`.
    fn bad(&mut self, name: &str, field: &str, value: &str) {
        let label = self.label(field);
        let text = self
            .ctx
            .common(name, &[("field", &label), ("value", value)]);
        self.problems.push(text);
    }

    /// The field as submitted, as it is (empty when absent).
    fn raw(&self, field: &str) -> String {
        self.ctx.param(field).unwrap_or("").to_string()
    }

    /// A one-line text field; a required one must be there.
    fn text(&mut self, field: &str, required: bool) -> Option<String> {
        match self.ctx.param(field) {
            Some(v) if v.contains(['\n', '\r', '\0']) => {
                self.bad("settings_one_line", field, "");
                None
            }
            Some(v) => Some(v.to_string()),
            None if required => {
                self.bad("settings_required", field, "");
                None
            }
            None => None,
        }
    }
}

/// Checks every value; all problems at once.
fn read_submitted(ctx: &Ctx<'_>, conf: &ConfValues) -> Result<Submitted, UiError> {
    let mut c = Checks {
        ctx,
        problems: Vec::new(),
    };
    let url = c
        .text("url", true)
        .and_then(|u| match check_account_url(&u) {
            Ok(u) => Some(u),
            Err(_) => {
                c.bad("settings_url", "url", &u);
                None
            }
        });
    let client_id = c.text("client_id", true);
    let client_secret = c.text("client_secret", false);
    let secret_known = (conf.get("auth", "client_secret")).is_some_and(|s| !s.is_empty());
    if ctx.param("client_secret").is_none() && !secret_known {
        c.bad("settings_secret_missing", "client_secret", "");
    }
    let redirect_uri = c.text("redirect_uri", true).filter(|r| {
        let ok = (r.starts_with("https://") || r.starts_with("http://"))
            && !r.contains(char::is_whitespace);
        if !ok {
            c.bad("settings_redirect_uri", "redirect_uri", r);
        }
        ok
    });
    let code = c.text("code", false);
    let sync = read_sync(&mut c);
    match (url, client_id, redirect_uri, sync) {
        (Some(url), Some(client_id), Some(redirect_uri), Some(sync)) if c.problems.is_empty() => {
            Ok(Submitted {
                url,
                client_id,
                client_secret,
                redirect_uri,
                code,
                enabled: is_on(ctx.param("enabled")),
                batch_size: sync.batch_size,
                rate_limit: sync.rate_limit,
                update: sync.update,
                update_leads: sync.update_leads,
                dedup: sync.dedup,
            })
        }
        _ => Err(ctx.fail("settings_not_saved", &[("problems", &c.problems.join(" "))])),
    }
}

/// `[sync]`: batch size, rate limit, update modes and duplicate rules.
fn read_sync(c: &mut Checks<'_, '_>) -> Option<SyncValues> {
    let batch_size = batch(&c.raw("batch_size"));
    if batch_size.is_none() {
        c.bad("settings_batch_size", "batch_size", &c.raw("batch_size"));
    }
    let rate_limit = rate(&c.raw("rate_limit")).filter(|r| (1.0..=7.0).contains(r));
    if rate_limit.is_none() {
        c.bad("settings_rate_limit", "rate_limit", &c.raw("rate_limit"));
    }
    let update = UPDATE.iter().copied().find(|u| *u == c.raw("update"));
    if update.is_none() {
        c.bad("settings_update", "update", &c.raw("update"));
    }
    let update_leads = c.ctx.param("update_leads").map(|v| {
        let choice = update_choice(v);
        if choice.is_none() {
            c.bad("settings_update", "update_leads", v);
        }
        choice
    });
    let dedup = DEDUP.iter().map(|(k, _)| *k).find(|d| *d == c.raw("dedup"));
    if dedup.is_none() {
        c.bad("settings_dedup", "dedup", &c.raw("dedup"));
    }
    Some(SyncValues {
        batch_size: batch_size?,
        rate_limit: (c.raw("rate_limit"), rate_limit?),
        update: update?,
        update_leads: update_leads.flatten(),
        dedup: dedup?,
    })
}

/// The changes that make amocrm.conf say what was submitted, and how each is logged.
/// A key whose current value already means the same is left as written (an admin's
/// `dedup = phone, email` stays when the form shows it as "by e-mail and phone").
fn changes(s: &Submitted, conf: &ConfValues) -> (Vec<Change>, Vec<String>) {
    let mut out = Vec::new();
    let mut said = Vec::new();
    let mut set = |section: &str, key: &str, value: &str, shown: String| {
        out.push(Change::set(section, key, value));
        said.push(shown);
    };
    let auth = |k: &str| conf.get("auth", k);
    if auth("url")
        .map(check_account_url)
        .and_then(Result::ok)
        .as_deref()
        != Some(s.url.as_str())
    {
        set("auth", "url", &s.url, format!("url = {}", s.url));
    }
    if auth("client_id") != Some(s.client_id.as_str()) {
        set(
            "auth",
            "client_id",
            &s.client_id,
            format!("client_id = {}", s.client_id),
        );
    }
    if let Some(secret) = &s.client_secret
        && auth("client_secret") != Some(secret.as_str())
    {
        // Never the value, in the log or anywhere else.
        set(
            "auth",
            "client_secret",
            secret,
            "client_secret changed".to_string(),
        );
    }
    if auth("redirect_uri") != Some(s.redirect_uri.as_str()) {
        set(
            "auth",
            "redirect_uri",
            &s.redirect_uri,
            format!("redirect_uri = {}", s.redirect_uri),
        );
    }
    let sync = |k: &str| conf.get("sync", k);
    if differs(sync("enabled"), flag, s.enabled, true) {
        let v = if s.enabled { "yes" } else { "no" };
        set("sync", "enabled", v, format!("enabled = {v}"));
    }
    if differs(sync("batch_size"), batch, s.batch_size, DEFAULT_BATCH) {
        let v = s.batch_size.to_string();
        set("sync", "batch_size", &v, format!("batch_size = {v}"));
    }
    if differs(sync("rate_limit"), rate, s.rate_limit.1, DEFAULT_RATE) {
        let v = &s.rate_limit.0;
        set("sync", "rate_limit", v, format!("rate_limit = {v}"));
    }
    if differs(sync("update"), update_choice, s.update, UPDATE[0]) {
        set("sync", "update", s.update, format!("update = {}", s.update));
    }
    if let Some(v) = s.update_leads
        && differs(sync("update_leads"), update_choice, v, DEFAULT_UPDATE_LEADS)
    {
        set("sync", "update_leads", v, format!("update_leads = {v}"));
    }
    if differs(sync("dedup"), dedup_choice, s.dedup, DEDUP[0].0) {
        let v = DEDUP
            .iter()
            .find(|(k, _)| *k == s.dedup)
            .map_or("", |(_, v)| *v);
        let shown = if v.is_empty() { "\"\"" } else { v };
        set("sync", "dedup", v, format!("dedup = {shown}"));
    }
    (out, said)
}

/// Whether a setting must be written: it is there and means something else (or nothing
/// valid), or it is missing and the new value is not the default.
fn differs<T: PartialEq>(
    current: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    new: T,
    default: T,
) -> bool {
    match current {
        Some(raw) => parse(raw).is_none_or(|v| v != new),
        None => new != default,
    }
}

fn save(ctx: &Ctx<'_>, conf: &ConfValues) -> UiResult {
    let s = read_submitted(ctx, conf)?;
    let (changes, said) = changes(&s, conf);
    if !changes.is_empty() {
        edit::apply(&ctx.paths.conf(), &changes)
            .map_err(|e| ctx.fail("settings_write", &[("error", &e.to_string())]))?;
        ctx.audit(&format!("settings saved: {}", said.join(", ")));
    }
    let Some(code) = s.code.as_deref() else {
        return Ok(ctx.ok());
    };
    let secret = s
        .client_secret
        .clone()
        .or_else(|| conf.get("auth", "client_secret").map(str::to_string))
        .unwrap_or_default();
    let auth = AuthConfig {
        url: s.url.clone(),
        client_id: s.client_id.clone(),
        client_secret: Secret::new(secret),
        redirect_uri: s.redirect_uri.clone(),
        code: None,
    };
    exchange(ctx, &auth, s.rate_limit.1, &Secret::new(code))
}

/// Exchanges a new code at once (it is valid 20 minutes, once): tokens written and the
/// connection shown, or the fix for why amoCRM refused it.
fn exchange(ctx: &Ctx<'_>, auth: &AuthConfig, rate: f64, code: &Secret) -> UiResult {
    // Before anything can log it.
    crate::log::register_secret(code.expose());
    match client(ctx, auth, rate).and_then(|mut c| c.exchange_code(code)) {
        Ok(t) => {
            let until = t
                .access_expires_at
                .map_or_else(|| "an unknown time".to_string(), crate::log::timestamp);
            ctx.audit(&format!(
                "authorization code exchanged for tokens; the access token is valid until {until}"
            ));
            Ok(ctx.ok_redirect("form", "func=amocrm.connection"))
        }
        Err(e) => {
            ctx.audit(&format!("the authorization code was not accepted: {e}"));
            let reason = code_failure(ctx, auth, &e);
            Err(ctx.fail("code_failed", &[("reason", &reason)]))
        }
    }
}

/// The fix for a code amoCRM did not take.
fn code_failure(ctx: &Ctx<'_>, auth: &AuthConfig, e: &AmoError) -> String {
    match (e.oauth_refusal(), e) {
        (Some(OAuthRefusal::CodeExpired), _) => ctx.common("code_expired", &[]),
        (Some(OAuthRefusal::CodeUsed), _) => ctx.common("code_used", &[]),
        (Some(OAuthRefusal::CodeInvalid), _) => ctx.common("code_invalid", &[]),
        (Some(OAuthRefusal::ClientId), _) => {
            ctx.common("code_client_id", &[("client_id", &auth.client_id)])
        }
        (Some(OAuthRefusal::ClientSecret), _) => ctx.common("code_client_secret", &[]),
        (Some(OAuthRefusal::RedirectUri), _) => ctx.common("code_redirect", &[]),
        (_, AmoError::Unavailable(why)) => {
            ctx.common("code_unreachable", &[("url", &auth.url), ("error", why)])
        }
        (_, other) => ctx.common("code_other", &[("error", &other.to_string())]),
    }
}

fn client(ctx: &Ctx<'_>, auth: &AuthConfig, rate: f64) -> Result<AmoClient, AmoError> {
    let opts = ClientOptions {
        rate_limit: rate,
        timeout: TIMEOUT,
        ..ClientOptions::default()
    };
    let mut c = AmoClient::new(auth, opts, ctx.paths)?;
    c.set_attempts(ATTEMPTS);
    Ok(c)
}

// ---- values as amocrm.conf writes them ----

/// A checkbox as the panel sends it.
fn is_on(v: Option<&str>) -> bool {
    v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "on" | "yes" | "true" | "1"))
}

/// `[sync] enabled` as the loader reads it.
fn flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" | "1" => Some(true),
        "no" | "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn batch(v: &str) -> Option<usize> {
    v.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=250).contains(n))
}

fn rate(v: &str) -> Option<f64> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
}

fn format_rate(r: f64) -> String {
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        r.to_string()
    }
}

fn update_choice(v: &str) -> Option<&'static str> {
    UPDATE.iter().copied().find(|u| *u == v.trim())
}

/// `[sync] dedup` as the select's choice: the set of keys named, in any order; `None`
/// for a value the loader would refuse.
fn dedup_choice(v: &str) -> Option<&'static str> {
    let (mut email, mut phone) = (false, false);
    for word in v.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match word {
            "email" => email = true,
            "phone" => phone = true,
            _ => return None,
        }
    }
    Some(match (email, phone) {
        (true, true) => "email_phone",
        (true, false) => "email",
        (false, true) => "phone",
        (false, false) => "none",
    })
}

// ---- amocrm.connection ----

/// What the connection form shows.
#[derive(Default)]
struct Report {
    state: String,
    account_name: String,
    account_id: String,
    subdomain: String,
    token_expires: String,
    problem: String,
}

pub fn connection(ctx: &Ctx<'_>) -> UiResult {
    // "Close": nothing to save, and no second request to amoCRM.
    if ctx.req.submitted() {
        return Ok(ctx.ok());
    }
    let report = match crate::config::Sources::read_conf(ctx.paths).values() {
        Ok(conf) => probe(ctx, &conf),
        Err(p) => Report {
            state: ctx.common("conn_error", &[]),
            problem: ctx.common("settings_read", &[("error", &p.to_string())]),
            ..Report::default()
        },
    };
    let mut page = FormPage::new();
    page.value("state", &report.state)
        .value("account_name", &report.account_name)
        .value("account_id", &report.account_id)
        .value("subdomain", &report.subdomain)
        .value("token_expires", &report.token_expires)
        .value("problem", &report.problem);
    Ok(page.render(ctx))
}

/// One `GET /api/v4/account` with the integration amocrm.conf names; every failure ends
/// up in the report, never as an error document.
fn probe(ctx: &Ctx<'_>, conf: &ConfValues) -> Report {
    let get = |k: &str| conf.get("auth", k).map(str::trim).filter(|v| !v.is_empty());
    let url = get("url").and_then(|u| check_account_url(u).ok());
    let missing: Vec<String> = [
        ("url", url.is_none()),
        ("client_id", get("client_id").is_none()),
        ("client_secret", get("client_secret").is_none()),
        ("redirect_uri", get("redirect_uri").is_none()),
    ]
    .into_iter()
    .filter(|(_, m)| *m)
    .map(|(f, _)| ctx.text("amocrm.settings", f, &[]))
    .collect();
    let state = |name: &str| ctx.common(name, &[]);
    if !missing.is_empty() {
        return Report {
            state: state("conn_not_configured"),
            problem: ctx.common("conn_fix_settings", &[("fields", &missing.join(", "))]),
            ..Report::default()
        };
    }
    let url = url.unwrap_or_default();
    let auth = AuthConfig {
        url: url.clone(),
        client_id: get("client_id").unwrap_or_default().to_string(),
        client_secret: Secret::new(get("client_secret").unwrap_or_default()),
        redirect_uri: get("redirect_uri").unwrap_or_default().to_string(),
        // A code left in the conf is exchanged on first use, as the worker would.
        code: get("code").map(Secret::new),
    };
    let rate_limit = conf
        .get("sync", "rate_limit")
        .and_then(rate)
        .unwrap_or(DEFAULT_RATE);
    let mut client = match client(ctx, &auth, rate_limit) {
        Ok(c) => c,
        Err(e) => {
            return Report {
                state: state("conn_error"),
                problem: ctx.common("conn_fix_error", &[("error", &e.to_string())]),
                ..Report::default()
            };
        }
    };
    let expires = |c: &AmoClient| {
        c.token_status()
            .access_expires_at
            .and_then(datetime)
            .unwrap_or_default()
    };
    if !client.token_status().present && auth.code.is_none() {
        // Nothing to send a request with: say so without asking amoCRM.
        return Report {
            state: state("conn_no_tokens"),
            problem: ctx.common("conn_fix_code", &[]),
            ..Report::default()
        };
    }
    match client.account() {
        Ok(account) => {
            let text = |k: &str| match account.get(k) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            Report {
                state: state("conn_ok"),
                account_name: text("name"),
                account_id: text("id"),
                subdomain: text("subdomain"),
                token_expires: expires(&client),
                problem: String::new(),
            }
        }
        Err(e) => {
            log::warn!("{}: the connection test failed: {e}", ctx.func());
            let (state_name, problem) = connection_failure(ctx, &url, &e);
            Report {
                state: state(state_name),
                token_expires: expires(&client),
                problem,
                ..Report::default()
            }
        }
    }
}

/// The state and the fix for a failed connection test.
fn connection_failure(ctx: &Ctx<'_>, url: &str, e: &AmoError) -> (&'static str, String) {
    match e {
        AmoError::Refused {
            status, message, ..
        } => {
            let problem = match (status, e.oauth_refusal()) {
                (402, _) => ctx.common("conn_fix_payment", &[]),
                (403, _) => ctx.common("conn_fix_blocked", &[("error", message)]),
                (
                    _,
                    Some(
                        OAuthRefusal::CodeExpired
                        | OAuthRefusal::CodeUsed
                        | OAuthRefusal::CodeInvalid,
                    ),
                ) => {
                    return (
                        "conn_no_tokens",
                        ctx.common("conn_fix_code_refused", &[("error", message)]),
                    );
                }
                (
                    _,
                    Some(
                        OAuthRefusal::ClientId
                        | OAuthRefusal::ClientSecret
                        | OAuthRefusal::RedirectUri,
                    ),
                ) => ctx.common("conn_fix_keys", &[("error", message)]),
                _ => ctx.common("conn_fix_reauthorize", &[("error", message)]),
            };
            ("conn_refused", problem)
        }
        AmoError::Unavailable(why) | AmoError::MaybeApplied(why) => (
            "conn_unreachable",
            ctx.common("conn_fix_network", &[("url", url), ("error", why)]),
        ),
        AmoError::Protocol(why) => (
            "conn_unexpected",
            ctx.common("conn_fix_unexpected", &[("url", url), ("error", why)]),
        ),
        AmoError::Local(why) => (
            "conn_error",
            ctx.common("conn_fix_error", &[("error", why)]),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_reads_back_as_the_choice_it_was_written_from() {
        for (key, written) in DEDUP {
            assert_eq!(dedup_choice(written), Some(key), "{written:?}");
        }
        assert_eq!(dedup_choice("phone, email"), Some("email_phone"));
        assert_eq!(dedup_choice(" email ,email"), Some("email"));
        assert_eq!(dedup_choice("fax"), None);
    }

    #[test]
    fn a_setting_is_written_only_when_its_meaning_changes() {
        assert!(!differs(
            Some("phone, email"),
            dedup_choice,
            "email_phone",
            "email_phone"
        ));
        assert!(differs(
            Some("email"),
            dedup_choice,
            "email_phone",
            "email_phone"
        ));
        assert!(!differs(None, batch, 50, DEFAULT_BATCH));
        assert!(differs(None, batch, 60, DEFAULT_BATCH));
        assert!(differs(Some("junk"), flag, true, true));
        assert!(!differs(Some("7.0"), rate, 7.0, DEFAULT_RATE));
        assert!(!differs(Some("on"), flag, true, true));
    }

    #[test]
    fn values_as_the_loader_reads_them() {
        assert_eq!(flag("Off"), Some(false));
        assert_eq!(flag("maybe"), None);
        assert!(is_on(Some("on")) && !is_on(Some("off")) && !is_on(None));
        assert_eq!(batch("250"), Some(250));
        assert_eq!(batch("0"), None);
        assert_eq!(rate("2.5"), Some(2.5));
        assert_eq!(rate("NaN"), None);
        assert_eq!(format_rate(7.0), "7");
        assert_eq!(update_choice("overwrite"), Some("overwrite"));
        assert_eq!(update_choice("always"), None);
    }
}
