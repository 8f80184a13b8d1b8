//! The sandbox amoCRM driven over real HTTP, as the module's client and the demo drive it:
//! OAuth, entities, custom fields, tags, pipelines, links, limits, faults and the control
//! endpoint, each checked against amoCRM's documented answers.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{AUTH_CODE, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, SANDBOX, Sandbox};

/// An answer: status, content type, body parsed (Null when empty).
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// One call; `Err` when the connection closed without an answer.
fn try_call(
    sb: &Sandbox,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Answer, ureq::Error> {
    let url = format!("{}{}", sb.url, path);
    let a = agent();
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut resp = match (method, body) {
        ("GET", _) => {
            let mut r = a.get(&url);
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.call()?
        }
        (m, body) => {
            let mut r = match m {
                "POST" => a.post(&url),
                "PATCH" => a.patch(&url),
                other => panic!("method {other}"),
            };
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r = r.header("Content-Type", "application/json");
            r.send(body.map(Value::to_string).unwrap_or_default())?
        }
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

fn call(
    sb: &Sandbox,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    try_call(sb, method, path, token, body).expect("the sandbox answers")
}

fn grant(sb: &Sandbox, extra: Value) -> Answer {
    let mut body = json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    call(sb, "POST", "/oauth2/access_token", None, Some(&body))
}

/// Exchanges the start code; returns (access, refresh).
fn login(sb: &Sandbox) -> (String, String) {
    let a = grant(
        sb,
        json!({"grant_type": "authorization_code", "code": AUTH_CODE}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    (
        a.body["access_token"].as_str().expect("access").to_string(),
        a.body["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_string(),
    )
}

fn unlimited() -> (Sandbox, String) {
    let sb = Sandbox::start(&["--rate", "0"]);
    let (token, _) = login(&sb);
    (sb, token)
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c}"),
        }
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn hint(a: &Answer) -> &str {
    a.body["hint"].as_str().unwrap_or("")
}

#[test]
fn help_explains_every_flag_and_bad_usage_exits_2() {
    let out = Command::new(SANDBOX).arg("--help").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--client-id",
        "--client-secret",
        "--redirect-uri",
        "--code",
        "--rate",
        "--token-lifetime",
        "--seed",
        "/_sandbox/faults",
        "/_sandbox/state",
        "/_sandbox/delete",
        "/_sandbox/merge",
        "/api/v4/events",
        "\"base\"",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
    let bad = Command::new(SANDBOX).arg("--bogus").output().expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--bogus"));
}

#[test]
fn answers_once_started_and_exits_0_on_sigterm() {
    // Start-up time is measured by scripts/bench-sandbox.sh.
    let mut sb = Sandbox::start(&[]);
    assert_eq!(call(&sb, "GET", "/_sandbox/state", None, None).status, 200);
    let pid = sb.child.id() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = support::wait_until(
        "the sandbox to stop on SIGTERM",
        Duration::from_secs(5),
        || sb.child.try_wait().expect("wait"),
    );
    assert_eq!(status.code(), Some(0));
}

#[test]
fn authorization_code_is_exchanged_once() {
    let sb = Sandbox::start(&["--rate", "0"]);
    let a = grant(
        &sb,
        json!({"grant_type": "authorization_code", "code": AUTH_CODE}),
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["expires_in"], 86400);
    let access = a.body["access_token"].as_str().expect("access token");
    let parts: Vec<&str> = access.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT-shaped");
    let claims: Value = serde_json::from_slice(&b64url_decode(parts[1])).expect("claims");
    for claim in ["iat", "nbf", "exp", "sub", "account_id", "jti"] {
        assert!(!claims[claim].is_null(), "claim {claim} in {claims}");
    }
    assert_eq!(claims["account_id"], 28805383);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        86400
    );
    assert!(
        a.body["refresh_token"]
            .as_str()
            .is_some_and(|r| r.len() > 20)
    );

    let again = grant(
        &sb,
        json!({"grant_type": "authorization_code", "code": AUTH_CODE}),
    );
    assert_eq!(again.status, 400);
    assert!(again.content_type.starts_with("application/problem+json"));
    assert_eq!(hint(&again), "Authorization code has been revoked");
    let unknown = grant(
        &sb,
        json!({"grant_type": "authorization_code", "code": "def502nonsense"}),
    );
    assert_eq!(hint(&unknown), "Cannot decrypt the authorization code");

    let wrong_id = grant(
        &sb,
        json!({"grant_type": "authorization_code", "code": AUTH_CODE, "client_id": "other"}),
    );
    assert_eq!(wrong_id.status, 401);
    assert_eq!(hint(&wrong_id), "Check the `client_id` parameter");
    let wrong_secret = grant(
        &sb,
        json!({"grant_type": "authorization_code", "code": AUTH_CODE, "client_secret": "x"}),
    );
    assert_eq!(hint(&wrong_secret), "Check the `client_secret` parameter");
    let wrong_redirect = grant(
        &sb,
        json!({"grant_type": "authorization_code", "code": AUTH_CODE, "redirect_uri": "https://evil.example"}),
    );
    assert_eq!(
        hint(&wrong_redirect),
        "Redirect URI is not associated with client"
    );

    // A new code from the control endpoint, exchanged form-encoded.
    let code = call(&sb, "POST", "/_sandbox/code", None, Some(&json!({})));
    let code = code.body["code"].as_str().expect("code").to_string();
    let form = format!(
        "client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&grant_type=authorization_code&code={code}&redirect_uri={}",
        REDIRECT_URI.replace(':', "%3A").replace('/', "%2F")
    );
    let mut resp = agent()
        .post(&format!("{}/oauth2/access_token", sb.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(form)
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value =
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    assert_eq!(body["token_type"], "Bearer");
}

#[test]
fn authorization_code_expires() {
    let sb = Sandbox::start(&["--code-lifetime", "1"]);
    sb.advance(1.2);
    let a = grant(
        &sb,
        json!({"grant_type": "authorization_code", "code": AUTH_CODE}),
    );
    assert_eq!(a.status, 400);
    assert_eq!(hint(&a), "Authorization code has expired");
}

#[test]
fn the_clock_moves_forward_and_tokens_age_with_it() {
    let sb = Sandbox::start(&["--rate", "0", "--token-lifetime", "3600"]);
    let (token, _) = login(&sb);
    let before = sb.get_json("/_sandbox/clock");
    assert_eq!(before["advanced"], 0.0);
    assert_eq!(sb.advance(3599.0), 3599.0);
    assert_eq!(
        call(&sb, "GET", "/api/v4/account", Some(&token), None).status,
        200
    );
    assert_eq!(sb.advance(1.5), 3600.5, "the moves add up");
    assert_eq!(
        call(&sb, "GET", "/api/v4/account", Some(&token), None).status,
        401
    );
    let after = sb.get_json("/_sandbox/clock");
    let moved = after["now"].as_f64().unwrap() - before["now"].as_f64().unwrap();
    assert!((3600.5..3660.0).contains(&moved), "{before} → {after}");
    // It never goes back, and says what it takes.
    for bad in [
        json!({"advance": -1}),
        json!({"advance": "soon"}),
        json!({}),
    ] {
        let (status, body) = sb.post_json("/_sandbox/clock", &bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("advance"), "{body}");
    }
    assert_eq!(sb.get_json("/_sandbox/clock")["advanced"], 3600.5);
    // A reset keeps the time: tokens issued before it stay expired.
    assert_eq!(sb.post_json("/_sandbox/reset", &json!({})).0, 200);
    assert_eq!(sb.get_json("/_sandbox/clock")["advanced"], 3600.5);
    assert_eq!(
        call(&sb, "GET", "/api/v4/account", Some(&token), None).status,
        401
    );
}

#[test]
fn refresh_tokens_rotate_and_the_old_one_is_revoked_once_the_new_pair_is_used() {
    let sb = Sandbox::start(&["--rate", "0", "--token-lifetime", "3600"]);
    let (_, r1) = login(&sb);
    let refresh = |r: &str| {
        grant(
            &sb,
            json!({"grant_type": "refresh_token", "refresh_token": r}),
        )
    };
    let second = refresh(&r1);
    assert_eq!(second.status, 200);
    assert_eq!(second.body["expires_in"], 3600);
    assert_ne!(second.body["refresh_token"], json!(r1));
    // The answer may have been lost: the old refresh token still works until the new pair is used.
    let third = refresh(&r1);
    assert_eq!(third.status, 200, "{}", third.body);
    let a3 = third.body["access_token"].as_str().expect("access");
    assert_eq!(
        call(&sb, "GET", "/api/v4/account", Some(a3), None).status,
        200
    );
    let revoked = refresh(&r1);
    assert_eq!(revoked.status, 401);
    assert_eq!(hint(&revoked), "Token has been revoked");
    assert_eq!(hint(&refresh("def50200garbage")), "Invalid refresh token");
    let r3 = third.body["refresh_token"].as_str().expect("refresh");
    assert_eq!(refresh(r3).status, 200);
}

#[test]
fn api_calls_need_a_valid_bearer_token() {
    let sb = Sandbox::start(&["--rate", "0"]);
    for token in [None, Some("not-a-token")] {
        let a = call(&sb, "GET", "/api/v4/contacts", token, None);
        assert_eq!(a.status, 401);
        assert!(a.content_type.starts_with("application/problem+json"));
        assert_eq!(a.body["title"], "Unauthorized");
        assert_eq!(a.body["type"], "https://httpstatus.es/401");
    }
    let (token, _) = login(&sb);
    let account = call(&sb, "GET", "/api/v4/account", Some(&token), None);
    assert_eq!(account.status, 200);
    assert_eq!(account.body["id"], 28805383);
    assert_eq!(account.body["subdomain"], "sandbox");
    assert_eq!(account.body["current_user_id"], 504141);
    assert_eq!(account.body["currency"], "RUB");
}

#[test]
fn contacts_are_created_read_listed_and_patched() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let created = call(
        &sb,
        "POST",
        "/api/v4/contacts",
        t,
        Some(&json!([
            {"first_name": "Иван", "last_name": "Петров", "request_id": "acc-17",
             "custom_fields_values": [
                {"field_code": "EMAIL", "values": [{"value": "ivan@example.com", "enum_code": "WORK"}]},
                {"field_code": "PHONE", "values": [{"value": "+79123456789", "enum_code": "WORK"}]},
                {"field_id": 812345, "values": [{"value": 17}]}],
             "_embedded": {"tags": [{"name": "billing"}]}},
            {"name": "Second"}
        ])),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let items = created.body["_embedded"]["contacts"]
        .as_array()
        .expect("items");
    assert_eq!(items[0]["request_id"], "acc-17");
    assert_eq!(items[1]["request_id"], "1");
    assert!(items[0]["_links"]["self"]["href"].as_str().is_some());
    assert!(created.body["_links"]["self"]["href"].as_str().is_some());
    let id = items[0]["id"].as_u64().expect("id");

    let got = call(&sb, "GET", &format!("/api/v4/contacts/{id}"), t, None);
    assert_eq!(got.status, 200);
    let c = &got.body;
    assert_eq!(c["name"], "Иван Петров");
    assert_eq!(c["first_name"], "Иван");
    assert_eq!(c["responsible_user_id"], 504141);
    assert_eq!(c["account_id"], 28805383);
    assert!(c["created_at"].as_i64().is_some() && c["updated_at"].as_i64().is_some());
    let email = c["custom_fields_values"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["field_code"] == "EMAIL")
        .expect("email");
    assert_eq!(email["values"][0]["value"], "ivan@example.com");
    assert_eq!(email["values"][0]["enum_code"], "WORK");
    assert!(email["values"][0]["enum_id"].as_u64().is_some());
    assert_eq!(c["_embedded"]["tags"][0]["name"], "billing");
    let second = call(
        &sb,
        "GET",
        &format!("/api/v4/contacts/{}", items[1]["id"]),
        t,
        None,
    );
    assert_eq!(second.body["custom_fields_values"], Value::Null);

    let list = call(&sb, "GET", "/api/v4/contacts", t, None);
    assert_eq!(list.status, 200);
    assert_eq!(list.body["_page"], 1);
    assert_eq!(
        list.body["_embedded"]["contacts"].as_array().map(Vec::len),
        Some(2)
    );

    let patched = call(
        &sb,
        "PATCH",
        "/api/v4/contacts",
        t,
        Some(&json!([{"id": id, "first_name": "Иоанн",
            "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": "+79000000000", "enum_code": "MOB"}]}]}])),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    let item = &patched.body["_embedded"]["contacts"][0];
    assert_eq!(item["id"], id);
    assert!(item["updated_at"].as_i64().is_some());
    let one = call(
        &sb,
        "PATCH",
        &format!("/api/v4/contacts/{id}"),
        t,
        Some(
            &json!({"name": "И. Петров", "custom_fields_values": [{"field_id": 812345, "values": null}]}),
        ),
    );
    assert_eq!(one.status, 200);
    assert_eq!(one.body["id"], id);
    let c = call(&sb, "GET", &format!("/api/v4/contacts/{id}"), t, None).body;
    assert_eq!(c["name"], "И. Петров");
    assert_eq!(c["first_name"], "Иоанн");
    let fields = c["custom_fields_values"].as_array().expect("fields");
    // PHONE replaced, EMAIL kept, the numeric field cleared.
    assert_eq!(fields.len(), 2);
    let phone = fields
        .iter()
        .find(|f| f["field_code"] == "PHONE")
        .expect("phone");
    assert_eq!(
        phone["values"],
        json!([{"value": "+79000000000", "enum_id": phone["values"][0]["enum_id"], "enum_code": "MOB"}])
    );

    let missing = call(&sb, "GET", "/api/v4/contacts/999999999", t, None);
    assert_eq!(missing.status, 204);
    assert_eq!(missing.body, Value::Null);
    let none = call(
        &sb,
        "GET",
        "/api/v4/contacts?query=nobody-like-this",
        t,
        None,
    );
    assert_eq!(none.status, 204);
    let found = call(&sb, "GET", "/api/v4/contacts?query=ivan%40example", t, None);
    assert_eq!(found.body["_embedded"]["contacts"][0]["id"], id);
}

#[test]
fn lists_page_filter_and_order() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"name": format!("Company {i}"),
            "custom_fields_values": [{"field_id": 815001, "values": [{"value": format!("77000000{i}")}]}]}))
        .collect();
    let created = call(
        &sb,
        "POST",
        "/api/v4/companies",
        t,
        Some(&Value::Array(items)),
    );
    let ids: Vec<u64> = created.body["_embedded"]["companies"]
        .as_array()
        .expect("created")
        .iter()
        .map(|c| c["id"].as_u64().expect("id"))
        .collect();

    let p1 = call(&sb, "GET", "/api/v4/companies?limit=2", t, None);
    assert_eq!(p1.body["_page"], 1);
    assert_eq!(
        p1.body["_embedded"]["companies"].as_array().map(Vec::len),
        Some(2)
    );
    let next = p1.body["_links"]["next"]["href"]
        .as_str()
        .expect("next link");
    assert!(
        next.contains("page=2") && next.contains("limit=2"),
        "{next}"
    );
    let p3 = call(&sb, "GET", "/api/v4/companies?limit=2&page=3", t, None);
    assert_eq!(
        p3.body["_embedded"]["companies"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(p3.body["_links"].get("next").is_none());
    assert!(p3.body["_links"]["self"]["href"].as_str().is_some());
    assert_eq!(
        call(&sb, "GET", "/api/v4/companies?limit=2&page=4", t, None).status,
        204
    );

    let path = format!(
        "/api/v4/companies?filter[id][]={}&filter[id][]={}&order[id]=desc",
        ids[1], ids[3]
    );
    let filtered = call(&sb, "GET", &path, t, None);
    let got: Vec<u64> = filtered.body["_embedded"]["companies"]
        .as_array()
        .expect("filtered")
        .iter()
        .map(|c| c["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(got, vec![ids[3], ids[1]]);
    let single = call(
        &sb,
        "GET",
        &format!("/api/v4/companies?filter[id]={}", ids[2]),
        t,
        None,
    );
    assert_eq!(single.body["_embedded"]["companies"][0]["id"], ids[2]);
    let by_inn = call(&sb, "GET", "/api/v4/companies?query=770000004", t, None);
    assert_eq!(by_inn.body["_embedded"]["companies"][0]["id"], ids[4]);
    assert_eq!(
        by_inn.body["_embedded"]["companies"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn invalid_values_reject_the_whole_batch() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let a = call(
        &sb,
        "POST",
        "/api/v4/contacts",
        t,
        Some(&json!([
            {"name": "fine"},
            {"name": "bad", "request_id": "acc-2",
             "custom_fields_values": [{"field_id": 812346, "values": [{"value": "Нет такого"}]}]}
        ])),
    );
    assert_eq!(a.status, 400);
    assert!(a.content_type.starts_with("application/problem+json"));
    assert_eq!(a.body["title"], "Bad Request");
    assert_eq!(a.body["type"], "https://httpstatus.es/400");
    assert_eq!(a.body["detail"], "Request validation failed");
    let ve = &a.body["validation-errors"];
    assert_eq!(ve.as_array().map(Vec::len), Some(1));
    assert_eq!(ve[0]["request_id"], "acc-2");
    assert_eq!(ve[0]["errors"][0]["code"], "NotSupportedChoice");
    assert_eq!(
        ve[0]["errors"][0]["path"],
        "custom_fields_values.0.values.0.value"
    );
    let state = sb.get_json("/_sandbox/state");
    assert_eq!(state["counts"]["contacts"], 0, "nothing created");

    let more = call(
        &sb,
        "POST",
        "/api/v4/leads",
        t,
        Some(&json!([{"custom_fields_values": [
            {"field_id": 816004, "values": [{"value": "abc"}]},
            {"field_id": 123, "values": [{"value": "x"}]},
            {"field_code": "PHONE", "values": [{"value": "+7"}]}]}])),
    );
    let errs = &more.body["validation-errors"][0]["errors"];
    assert_eq!(more.body["validation-errors"][0]["request_id"], "0");
    assert_eq!(errs[0]["code"], "InvalidType");
    assert_eq!(errs[1]["code"], "FieldNotFound");
    assert_eq!(errs[2]["code"], "FieldNotFound", "no PHONE on leads");
    let phone = call(
        &sb,
        "POST",
        "/api/v4/contacts",
        t,
        Some(
            &json!([{"custom_fields_values": [{"field_code": "PHONE", "values": [{"value": "+7"}]}]}]),
        ),
    );
    assert_eq!(
        phone.body["validation-errors"][0]["errors"][0]["path"],
        "custom_fields_values.0.values.0.enum_code"
    );
}

#[test]
fn empty_batches_are_400_and_large_ones_422() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let empty = call(&sb, "POST", "/api/v4/leads", t, Some(&json!([])));
    assert_eq!(empty.status, 400);
    assert_eq!(empty.body["status"], 400);
    let big: Vec<Value> = (0..251).map(|i| json!({"name": format!("c{i}")})).collect();
    let over = call(
        &sb,
        "POST",
        "/api/v4/contacts",
        t,
        Some(&Value::Array(big.clone())),
    );
    assert_eq!(over.status, 422);
    assert_eq!(over.body["detail"], "Limit 250 per page");
    let ok = call(
        &sb,
        "POST",
        "/api/v4/contacts",
        t,
        Some(&Value::Array(big[..250].to_vec())),
    );
    assert_eq!(ok.status, 200);
    assert_eq!(sb.get_json("/_sandbox/state")["counts"]["contacts"], 250);
    let max = call(&sb, "GET", "/api/v4/contacts?limit=500", t, None);
    assert_eq!(
        max.body["_embedded"]["contacts"].as_array().map(Vec::len),
        Some(250)
    );
}

#[test]
fn embedded_tags_replace_and_tags_to_add_or_delete_change_the_set() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let c = call(
        &sb,
        "POST",
        "/api/v4/leads",
        t,
        Some(&json!([{"name": "l", "_embedded": {"tags": [{"name": "a"}, {"name": "b"}]}}])),
    );
    let id = c.body["_embedded"]["leads"][0]["id"].as_u64().expect("id");
    let tags = |sb: &Sandbox| -> Vec<String> {
        let l = call(sb, "GET", &format!("/api/v4/leads/{id}"), t, None).body;
        let mut v: Vec<String> = l["_embedded"]["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(tags(&sb), ["a", "b"]);
    call(
        &sb,
        "PATCH",
        "/api/v4/leads",
        t,
        Some(
            &json!([{"id": id, "tags_to_add": [{"name": "c"}], "tags_to_delete": [{"name": "a"}]}]),
        ),
    );
    assert_eq!(tags(&sb), ["b", "c"]);
    call(
        &sb,
        "PATCH",
        &format!("/api/v4/leads/{id}"),
        t,
        Some(&json!({"_embedded": {"tags": [{"name": "d"}]}})),
    );
    assert_eq!(tags(&sb), ["d"]);
    let all = call(&sb, "GET", "/api/v4/leads/tags", t, None);
    let names: Vec<&str> = all.body["_embedded"]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    // Tags are per entity type.
    assert_eq!(
        call(&sb, "GET", "/api/v4/contacts/tags", t, None).status,
        204
    );
    let bad = call(
        &sb,
        "PATCH",
        "/api/v4/leads",
        t,
        Some(&json!([{"id": id, "tags_to_add": [{"id": 1}]}])),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body["validation-errors"][0]["errors"][0]["path"],
        "tags_to_add.0.id"
    );
}

#[test]
fn pipelines_and_lead_statuses() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let p = call(&sb, "GET", "/api/v4/leads/pipelines", t, None);
    let pipelines = p.body["_embedded"]["pipelines"]
        .as_array()
        .expect("pipelines");
    assert_eq!(pipelines.len(), 2);
    assert_eq!(pipelines[0]["id"], 7000001);
    assert_eq!(pipelines[0]["name"], "Хостинг");
    assert_eq!(pipelines[0]["is_main"], true);
    let statuses: Vec<u64> = pipelines[0]["_embedded"]["statuses"]
        .as_array()
        .expect("statuses")
        .iter()
        .map(|s| s["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(statuses, [7000100, 7000101, 7000102, 142, 143]);
    let domains = call(&sb, "GET", "/api/v4/leads/pipelines/7000002", t, None);
    assert_eq!(domains.body["name"], "Домены");
    assert_eq!(domains.body["_embedded"]["statuses"][0]["id"], 7000200);
    assert_eq!(
        domains.body["_embedded"]["statuses"][0]["pipeline_id"],
        7000002
    );

    let created = call(
        &sb,
        "POST",
        "/api/v4/leads",
        t,
        Some(&json!([
            {"name": "no pipeline"},
            {"name": "won", "status_id": 142},
            {"name": "domain", "pipeline_id": 7000002, "status_id": 143, "price": 590}
        ])),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let ids: Vec<u64> = created.body["_embedded"]["leads"]
        .as_array()
        .expect("leads")
        .iter()
        .map(|l| l["id"].as_u64().expect("id"))
        .collect();
    let lead = |id: u64| call(&sb, "GET", &format!("/api/v4/leads/{id}"), t, None).body;
    let a = lead(ids[0]);
    assert_eq!(
        (a["pipeline_id"].clone(), a["status_id"].clone()),
        (json!(7000001), json!(7000100))
    );
    let b = lead(ids[1]);
    assert_eq!(
        (b["pipeline_id"].clone(), b["status_id"].clone()),
        (json!(7000001), json!(142))
    );
    let c = lead(ids[2]);
    assert_eq!(
        (
            c["pipeline_id"].clone(),
            c["status_id"].clone(),
            c["price"].clone()
        ),
        (json!(7000002), json!(143), json!(590))
    );

    let wrong = call(
        &sb,
        "POST",
        "/api/v4/leads",
        t,
        Some(&json!([{"pipeline_id": 7000002, "status_id": 7000101, "request_id": "item-5"}])),
    );
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.body["validation-errors"][0]["request_id"], "item-5");
    assert_eq!(
        wrong.body["validation-errors"][0]["errors"][0]["path"],
        "status_id"
    );
    let no_pipeline = call(
        &sb,
        "POST",
        "/api/v4/leads",
        t,
        Some(&json!([{"pipeline_id": 1}])),
    );
    assert_eq!(
        no_pipeline.body["validation-errors"][0]["errors"][0]["path"],
        "pipeline_id"
    );
    let moved = call(
        &sb,
        "PATCH",
        &format!("/api/v4/leads/{}", ids[0]),
        t,
        Some(&json!({"status_id": 7000102})),
    );
    assert_eq!(moved.status, 200);
    assert_eq!(lead(ids[0])["status_id"], 7000102);
}

#[test]
fn links_and_the_one_company_rule() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let co = call(
        &sb,
        "POST",
        "/api/v4/companies",
        t,
        Some(&json!([{"name": "A"}, {"name": "B"}])),
    );
    let (a, b) = (
        co.body["_embedded"]["companies"][0]["id"]
            .as_u64()
            .expect("a"),
        co.body["_embedded"]["companies"][1]["id"]
            .as_u64()
            .expect("b"),
    );
    let ct = call(
        &sb,
        "POST",
        "/api/v4/contacts",
        t,
        Some(&json!([{"name": "C", "_embedded": {"companies": [{"id": a}]}}])),
    );
    let c = ct.body["_embedded"]["contacts"][0]["id"]
        .as_u64()
        .expect("c");
    let ld = call(
        &sb,
        "POST",
        "/api/v4/leads",
        t,
        Some(
            &json!([{"name": "L", "_embedded": {"contacts": [{"id": c, "is_main": true}], "companies": [{"id": a}]}}]),
        ),
    );
    let l = ld.body["_embedded"]["leads"][0]["id"].as_u64().expect("l");
    let lead = call(
        &sb,
        "GET",
        &format!("/api/v4/leads/{l}?with=contacts"),
        t,
        None,
    )
    .body;
    assert_eq!(lead["_embedded"]["contacts"][0]["id"], c);
    assert_eq!(lead["_embedded"]["contacts"][0]["is_main"], true);
    assert_eq!(lead["_embedded"]["companies"][0]["id"], a);
    let contact = call(
        &sb,
        "GET",
        &format!("/api/v4/contacts/{c}?with=leads"),
        t,
        None,
    )
    .body;
    assert_eq!(contact["_embedded"]["leads"][0]["id"], l);

    // Linking another company replaces the contact's company.
    let linked = call(
        &sb,
        "POST",
        &format!("/api/v4/contacts/{c}/link"),
        t,
        Some(&json!([{"to_entity_id": b, "to_entity_type": "companies"}])),
    );
    assert_eq!(linked.status, 200, "{}", linked.body);
    assert_eq!(linked.body["_embedded"]["links"][0]["to_entity_id"], b);
    let contact = call(&sb, "GET", &format!("/api/v4/contacts/{c}"), t, None).body;
    let companies: Vec<u64> = contact["_embedded"]["companies"]
        .as_array()
        .expect("companies")
        .iter()
        .map(|x| x["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(companies, [b]);
    let company_a = call(
        &sb,
        "GET",
        &format!("/api/v4/companies/{a}?with=contacts"),
        t,
        None,
    )
    .body;
    assert_eq!(company_a["_embedded"]["contacts"], json!([]));

    // The batch form, then unlink.
    let batch = call(
        &sb,
        "POST",
        "/api/v4/leads/link",
        t,
        Some(&json!([{"entity_id": l, "to_entity_id": b, "to_entity_type": "companies"}])),
    );
    assert_eq!(batch.status, 200);
    let unlinked = call(
        &sb,
        "POST",
        &format!("/api/v4/leads/{l}/unlink"),
        t,
        Some(&json!([{"to_entity_id": c, "to_entity_type": "contacts"}])),
    );
    assert_eq!(unlinked.status, 204);
    let lead = call(
        &sb,
        "GET",
        &format!("/api/v4/leads/{l}?with=contacts"),
        t,
        None,
    )
    .body;
    assert_eq!(lead["_embedded"]["contacts"], json!([]));
    assert_eq!(
        lead["_embedded"]["companies"].as_array().map(Vec::len),
        Some(2)
    );

    let unknown = call(
        &sb,
        "POST",
        &format!("/api/v4/leads/{l}/link"),
        t,
        Some(&json!([{"to_entity_id": 1, "to_entity_type": "contacts"}])),
    );
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.body["validation-errors"][0]["errors"][0]["path"],
        "to_entity_id"
    );
    let unknown_embedded = call(
        &sb,
        "POST",
        "/api/v4/leads",
        t,
        Some(&json!([{"_embedded": {"contacts": [{"id": 5}]}}])),
    );
    assert_eq!(
        unknown_embedded.body["validation-errors"][0]["errors"][0]["path"],
        "_embedded.contacts.0.id"
    );
}

#[test]
fn more_than_the_rate_gets_429_and_nothing_is_applied() {
    let sb = Sandbox::start(&["--rate", "3"]);
    let (token, _) = login(&sb); // one of the three
    let t = Some(token.as_str());
    let mut statuses = Vec::new();
    for i in 0..6 {
        let a = call(
            &sb,
            "POST",
            "/api/v4/contacts",
            t,
            Some(&json!([{"name": format!("c{i}")}])),
        );
        if a.status == 429 {
            assert_eq!(a.body["title"], "Too Many Requests");
            assert_eq!(a.body["type"], "https://httpstatus.es/429");
            assert_eq!(a.body["retry_after"], 1);
        }
        statuses.push(a.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let applied = statuses.iter().filter(|&&s| s == 200).count();
    let state = sb.get_json("/_sandbox/state");
    assert_eq!(state["counts"]["contacts"], applied);
    let log = sb.get_json("/_sandbox/requests");
    let logged_429 = log
        .as_array()
        .expect("log")
        .iter()
        .filter(|e| e["status"] == 429)
        .count();
    assert_eq!(logged_429, statuses.iter().filter(|&&s| s == 429).count());
    // The window has passed.
    sb.advance(1.1);
    assert_eq!(call(&sb, "GET", "/api/v4/account", t, None).status, 200);
}

#[test]
fn faults_errors_payment_expiry_and_lost_answers() {
    let sb = Sandbox::start(&["--rate", "0"]);
    let (token, refresh) = login(&sb);
    let t = Some(token.as_str());
    let faults = |v: Value| {
        let (status, body) = sb.post_json("/_sandbox/faults", &v);
        assert_eq!(status, 200, "{body}");
    };

    faults(json!({"error_rate": 1.0, "error_statuses": [502]}));
    let a = call(
        &sb,
        "POST",
        "/api/v4/contacts",
        t,
        Some(&json!([{"name": "x"}])),
    );
    assert_eq!(a.status, 502);
    assert_eq!(sb.get_json("/_sandbox/state")["counts"]["contacts"], 0);

    faults(json!({"payment_required": true}));
    let a = call(&sb, "GET", "/api/v4/account", t, None);
    assert_eq!(a.status, 402);
    assert_eq!(a.body["title"], "Payment Required");

    faults(json!({}));
    assert_eq!(call(&sb, "GET", "/api/v4/account", t, None).status, 200);

    faults(json!({"expire_tokens": true}));
    assert_eq!(call(&sb, "GET", "/api/v4/account", t, None).status, 401);
    let fresh = grant(
        &sb,
        json!({"grant_type": "refresh_token", "refresh_token": refresh}),
    );
    assert_eq!(fresh.status, 200);
    let token = fresh.body["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    let t = Some(token.as_str());
    assert_eq!(call(&sb, "GET", "/api/v4/account", t, None).status, 200);

    // A lost answer: applied, but the connection closes without a response.
    faults(json!({"lost_rate": 1.0}));
    let lost = try_call(
        &sb,
        "POST",
        "/api/v4/contacts",
        t,
        Some(&json!([{"name": "lost"}])),
    );
    assert!(lost.is_err(), "expected no answer");
    faults(json!({}));
    let state = sb.get_json("/_sandbox/state");
    assert_eq!(state["counts"]["contacts"], 1);
    assert_eq!(state["contacts"][0]["name"], "lost");
    let log = sb.get_json("/_sandbox/requests");
    let last = log.as_array().and_then(|l| l.last()).expect("logged");
    assert_eq!(last["lost"], true);
    assert_eq!(last["status"], 200);

    // An outage closes every API call unanswered until it ends.
    faults(json!({"outage_seconds": 0.5}));
    assert!(try_call(&sb, "GET", "/api/v4/account", t, None).is_err());
    sb.advance(0.6);
    assert_eq!(call(&sb, "GET", "/api/v4/account", t, None).status, 200);

    // Counted errors, then normal service.
    faults(json!({"error_next": 2, "error_statuses": [504]}));
    let s: Vec<u16> = (0..3)
        .map(|_| call(&sb, "GET", "/api/v4/account", t, None).status)
        .collect();
    assert_eq!(s, [504, 504, 200]);

    let (status, body) = sb.post_json("/_sandbox/faults", &json!({"error_rate": 3}));
    assert_eq!(status, 400);
    assert!(body.contains("\"error\""), "{body}");
}

#[test]
fn state_request_log_tasks_notes_and_reset() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let c = call(
        &sb,
        "POST",
        "/api/v4/contacts",
        t,
        Some(&json!([{"name": "C"}])),
    );
    let id = c.body["_embedded"]["contacts"][0]["id"]
        .as_u64()
        .expect("id");
    let task = call(
        &sb,
        "POST",
        "/api/v4/tasks",
        t,
        Some(
            &json!([{"text": "Call", "complete_till": 1900000000, "entity_id": id, "entity_type": "contacts"}]),
        ),
    );
    assert_eq!(task.status, 200);
    assert!(task.body["_embedded"]["tasks"][0]["id"].as_u64().is_some());
    let note = call(
        &sb,
        "POST",
        "/api/v4/contacts/notes",
        t,
        Some(&json!([{"entity_id": id, "note_type": "common", "params": {"text": "hello"}}])),
    );
    assert_eq!(note.status, 200);
    let bad_note = call(
        &sb,
        "POST",
        "/api/v4/contacts/notes",
        t,
        Some(&json!([{"entity_id": 1, "note_type": "common"}])),
    );
    assert_eq!(bad_note.status, 400);
    call(&sb, "GET", "/api/v4/contacts?limit=5", t, None);

    let state = sb.get_json("/_sandbox/state");
    assert_eq!(state["counts"]["contacts"], 1);
    assert_eq!(state["tasks"][0]["text"], "Call");
    assert_eq!(state["notes"][0]["params"]["text"], "hello");
    assert_eq!(state["contacts"][0]["id"], id);
    assert_eq!(state["custom_fields"]["contacts"][0]["id"], 810001);
    assert_eq!(state["pipelines"][0]["id"], 7000001);
    assert_eq!(state["oauth"]["codes_exchanged"], 1);

    let log = sb.get_json("/_sandbox/requests");
    let entries: Vec<(String, String, u64)> = log
        .as_array()
        .expect("log")
        .iter()
        .map(|e| {
            (
                e["method"].as_str().expect("method").to_string(),
                e["path"].as_str().expect("path").to_string(),
                e["status"].as_u64().expect("status"),
            )
        })
        .collect();
    let expected: Vec<(String, String, u64)> = [
        ("POST", "/oauth2/access_token", 200),
        ("POST", "/api/v4/contacts", 200),
        ("POST", "/api/v4/tasks", 200),
        ("POST", "/api/v4/contacts/notes", 200),
        ("POST", "/api/v4/contacts/notes", 400),
        ("GET", "/api/v4/contacts", 200),
    ]
    .iter()
    .map(|(m, p, s)| (m.to_string(), p.to_string(), *s))
    .collect();
    assert_eq!(entries, expected);
    assert_eq!(log[5]["query"], "limit=5");
    assert_eq!(log[1]["query"], Value::Null);
    let with_body = sb.get_json("/_sandbox/requests?body=1");
    assert_eq!(with_body[1]["body"][0]["name"], "C");
    assert_eq!(
        with_body[0]["body"],
        Value::Null,
        "OAuth bodies hold secrets"
    );

    let (status, _) = sb.post_json("/_sandbox/reset", &json!({}));
    assert_eq!(status, 200);
    let state = sb.get_json("/_sandbox/state");
    assert_eq!(state["counts"]["contacts"], 0);
    assert_eq!(state["counts"]["tasks"], 0);
    assert_eq!(state["custom_fields"]["leads"][0]["id"], 816001);
    assert_eq!(sb.get_json("/_sandbox/requests"), json!([]));
    // Tokens survive a reset.
    assert_eq!(call(&sb, "GET", "/api/v4/account", t, None).status, 200);
    let (status, body) = sb.post_json("/_sandbox/nope", &json!({}));
    assert_eq!(status, 404);
    assert!(body.contains("\"error\""));
}

#[test]
fn custom_fields_are_listed_per_entity_type() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let f = call(&sb, "GET", "/api/v4/contacts/custom_fields", t, None);
    assert_eq!(f.status, 200);
    let fields = f.body["_embedded"]["custom_fields"]
        .as_array()
        .expect("fields");
    let phone = fields.iter().find(|f| f["id"] == 810001).expect("PHONE");
    assert_eq!(phone["code"], "PHONE");
    assert_eq!(phone["type"], "multitext");
    let enums: Vec<&str> = phone["enums"]
        .as_array()
        .expect("enums")
        .iter()
        .filter_map(|e| e["value"].as_str())
        .collect();
    assert_eq!(enums, ["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"]);
    let project = fields.iter().find(|f| f["id"] == 812346).expect("project");
    assert_eq!(project["type"], "select");
    assert_eq!(project["enums"][1]["id"], 2);
    assert_eq!(project["enums"][1]["value"], "HostCom EU");
    let company = call(
        &sb,
        "GET",
        "/api/v4/companies/custom_fields?limit=2&page=2",
        t,
        None,
    );
    assert_eq!(company.body["_page"], 2);
    assert_eq!(company.body["_embedded"]["custom_fields"][0]["id"], 815001);
    let leads = call(&sb, "GET", "/api/v4/leads/custom_fields", t, None);
    let types: Vec<&str> = leads.body["_embedded"]["custom_fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["type"].as_str())
        .collect();
    assert_eq!(types, ["text", "date", "select", "numeric", "checkbox"]);
}

#[test]
fn seeds_none_and_from_a_file() {
    let sb = Sandbox::start(&["--seed", "none", "--rate", "0"]);
    let state = sb.get_json("/_sandbox/state");
    assert_eq!(state["pipelines"].as_array().map(Vec::len), Some(1));
    assert_eq!(state["pipelines"][0]["id"], 7000001);
    assert_eq!(state["custom_fields"]["contacts"], json!([]));
    drop(sb);

    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("seed.json");
    std::fs::write(
        &path,
        json!({
            "base": "default",
            "companies": [{"id": 2001, "name": "ООО Ромашка"}],
            "contacts": [{"id": 1001, "name": "Иван",
                "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": "+79995551122", "enum_code": "MOB"}]}],
                "_embedded": {"companies": [{"id": 2001}]}}]
        })
        .to_string(),
    )
    .expect("write seed");
    let sb = Sandbox::start(&["--seed", path.to_str().expect("path"), "--rate", "0"]);
    let (token, _) = login(&sb);
    let found = call(
        &sb,
        "GET",
        "/api/v4/contacts?query=79995551122",
        Some(&token),
        None,
    );
    assert_eq!(found.body["_embedded"]["contacts"][0]["id"], 1001);
    assert_eq!(
        found.body["_embedded"]["contacts"][0]["_embedded"]["companies"][0]["id"],
        2001
    );
    // A dumped state loads back as a seed.
    let dump = sb.get_json("/_sandbox/state");
    let again = dir.path().join("again.json");
    std::fs::write(&again, dump.to_string()).expect("write dump");
    let sb2 = Sandbox::start(&["--seed", again.to_str().expect("path")]);
    let state2 = sb2.get_json("/_sandbox/state");
    // The same account, on another port.
    let moved: Value =
        serde_json::from_str(&dump.to_string().replace(&sb.url, &sb2.url)).expect("json");
    assert_eq!(state2["contacts"], moved["contacts"]);
    assert_eq!(state2["companies"], moved["companies"]);
    assert_eq!(state2["pipelines"], moved["pipelines"]);
    assert_eq!(state2["custom_fields"], moved["custom_fields"]);

    let bad = Command::new(SANDBOX)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "/nonexistent/seed.json",
        ])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("seed"));
}

#[test]
fn serves_a_thousand_requests_in_a_row_when_unlimited() {
    let (sb, token) = unlimited();
    let a = agent();
    let url = format!("{}/api/v4/account", sb.url);
    let auth = format!("Bearer {token}");
    let n = 1000;
    for _ in 0..n {
        let resp = a
            .get(&url)
            .header("Authorization", &auth)
            .call()
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 200);
    }
    // How fast is measured by scripts/bench-sandbox.sh; here: a thousand keep-alive
    // requests in a row all answered, none refused by an unlimited sandbox.
    let log = sb.get_json("/_sandbox/requests");
    let ok = log
        .as_array()
        .expect("log")
        .iter()
        .filter(|e| e["status"] == 200)
        .count();
    assert!(ok > n, "{ok} answered of {n}");
}

/// Status, content type and raw body of a GET with the token.
fn raw_get(sb: &Sandbox, path: &str, token: &str) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(&format!("{}{}", sb.url, path))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("the sandbox answers");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), ct, body)
}

#[test]
fn sustained_overruns_are_blocked_with_403_for_a_while() {
    let sb = Sandbox::start(&["--rate", "2", "--block-after", "4", "--block-seconds", "2"]);
    let (token, _) = login(&sb);
    sb.advance(1.1);
    let statuses: Vec<u16> = (0..8)
        .map(|_| call(&sb, "GET", "/api/v4/account", Some(&token), None).status)
        .collect();
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    assert_eq!(&statuses[2..6], &[429, 429, 429, 429], "{statuses:?}");
    assert_eq!(
        &statuses[6..],
        &[403, 403],
        "blocked after four refusals: {statuses:?}"
    );
    // Blocked even after the second has passed: the block outlasts the window.
    sb.advance(1.1);
    let a = call(&sb, "GET", "/api/v4/account", Some(&token), None);
    assert_eq!(a.status, 403);
    assert_eq!(a.body["status"], 403);
    assert_eq!(a.body["type"], "https://httpstatus.es/403");
    // The block ends.
    sb.advance(1.2);
    assert_eq!(
        call(&sb, "GET", "/api/v4/account", Some(&token), None).status,
        200
    );
    let log = sb.get_json("/_sandbox/requests");
    assert!(log.as_array().unwrap().iter().any(|e| e["status"] == 403));
}

#[test]
fn limit_answers_can_be_html_pages() {
    let sb = Sandbox::start(&[
        "--rate",
        "1",
        "--html-limit-pages",
        "--block-after",
        "2",
        "--block-seconds",
        "30",
    ]);
    let (token, _) = login(&sb);
    let (status, ct, body) = raw_get(&sb, "/api/v4/account", &token);
    assert_eq!(status, 429);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("<html>") && serde_json::from_str::<Value>(&body).is_err());
    let (status, _, _) = raw_get(&sb, "/api/v4/account", &token);
    assert_eq!(status, 429);
    let (status, ct, body) = raw_get(&sb, "/api/v4/account", &token);
    assert_eq!(status, 403);
    assert!(
        ct.starts_with("text/html") && body.contains("403"),
        "{ct} {body}"
    );
}

#[test]
fn added_latency_delays_every_answer_until_cleared() {
    let (sb, token) = unlimited();
    let t = Some(token.as_str());
    let (status, _) = sb.post_json("/_sandbox/faults", &json!({"latency_ms": 300}));
    assert_eq!(status, 200);
    assert_eq!(sb.get_json("/_sandbox/faults")["latency_ms"], 300);
    let started = Instant::now();
    assert_eq!(call(&sb, "GET", "/api/v4/account", t, None).status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    sb.post_json("/_sandbox/faults", &json!({}));
    assert_eq!(sb.get_json("/_sandbox/faults")["latency_ms"], 0);
    assert_eq!(call(&sb, "GET", "/api/v4/account", t, None).status, 200);
}

/// Makes one entity through the API; its id.
fn make(sb: &Sandbox, t: Option<&str>, entity: &str, item: Value) -> u64 {
    let a = call(
        sb,
        "POST",
        &format!("/api/v4/{entity}"),
        t,
        Some(&json!([item])),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["_embedded"][entity][0]["id"].as_u64().expect("id")
}

/// A manager's action through the control endpoint: status and answer.
fn manager(sb: &Sandbox, action: &str, body: Value) -> (u16, Value) {
    let (status, text) = sb.post_json(&format!("/_sandbox/{action}"), &body);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[test]
fn a_deleted_entity_is_answered_as_an_unknown_id() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let contact = make(&sb, t, "contacts", json!({"name": "Иван"}));
    let lead = make(
        &sb,
        t,
        "leads",
        json!({"name": "vps", "_embedded": {"contacts": [{"id": contact, "is_main": true}]}}),
    );
    let (status, done) = manager(&sb, "delete", json!({"entity": "leads", "ids": [lead]}));
    assert_eq!((status, &done["deleted"]), (200, &json!([lead])), "{done}");

    assert_eq!(
        call(&sb, "GET", &format!("/api/v4/leads/{lead}"), t, None).status,
        204
    );
    let listed = call(
        &sb,
        "GET",
        &format!("/api/v4/leads?filter[id][]={lead}"),
        t,
        None,
    );
    assert_eq!(listed.status, 204, "left out of a list");
    let contact_now = call(
        &sb,
        "GET",
        &format!("/api/v4/contacts/{contact}?with=leads"),
        t,
        None,
    );
    assert_eq!(
        contact_now.body["_embedded"]["leads"],
        json!([]),
        "its links went"
    );
    // A PATCH naming it: a validation error for that item, code NotFound on `id`.
    let patched = call(
        &sb,
        "PATCH",
        "/api/v4/leads",
        t,
        Some(&json!([{"id": lead, "price": 1, "request_id": "7"}])),
    );
    assert_eq!(patched.status, 400, "{}", patched.body);
    let item = &patched.body["validation-errors"][0];
    assert_eq!(item["request_id"], "7");
    assert_eq!(
        (
            item["errors"][0]["code"].as_str(),
            item["errors"][0]["path"].as_str()
        ),
        (Some("NotFound"), Some("id"))
    );
    let one = call(
        &sb,
        "PATCH",
        &format!("/api/v4/leads/{lead}"),
        t,
        Some(&json!({"price": 1})),
    );
    assert_eq!(one.status, 400);
    // A new lead naming a deleted contact: NotFound on that path.
    manager(
        &sb,
        "delete",
        json!({"entity": "contacts", "ids": [contact]}),
    );
    let made = call(
        &sb,
        "POST",
        "/api/v4/leads",
        t,
        Some(&json!([{"name": "x", "_embedded": {"contacts": [{"id": contact}]}}])),
    );
    assert_eq!(made.status, 400);
    assert_eq!(
        made.body["validation-errors"][0]["errors"][0]["path"],
        "_embedded.contacts.0.id"
    );

    let (status, err) = manager(&sb, "delete", json!({"entity": "leads", "ids": [lead]}));
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap_or("")
            .contains(&lead.to_string()),
        "{err}"
    );
    let (status, _) = manager(&sb, "delete", json!({"entity": "deals", "ids": [1]}));
    assert_eq!(status, 400);
}

#[test]
fn a_merge_moves_the_duplicates_links_to_the_survivor() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let email =
        |v: &str| json!([{"field_code": "EMAIL", "values": [{"value": v, "enum_code": "WORK"}]}]);
    let company = make(&sb, t, "companies", json!({"name": "ООО «Ромашка»"}));
    let keep = make(
        &sb,
        t,
        "contacts",
        json!({"name": "Иван", "custom_fields_values": email("a@x.ru")}),
    );
    let dup = make(
        &sb,
        t,
        "contacts",
        json!({"name": "Иван П.", "custom_fields_values": email("b@x.ru"),
               "_embedded": {"companies": [{"id": company}]}}),
    );
    let lead = make(
        &sb,
        t,
        "leads",
        json!({"name": "vps", "_embedded": {"contacts": [{"id": dup, "is_main": true}]}}),
    );
    let (status, done) = manager(
        &sb,
        "merge",
        json!({"entity": "contacts", "into": keep, "from": [dup]}),
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        call(&sb, "GET", &format!("/api/v4/contacts/{dup}"), t, None).status,
        204
    );
    let survivor = call(
        &sb,
        "GET",
        &format!("/api/v4/contacts/{keep}?with=leads"),
        t,
        None,
    )
    .body;
    assert_eq!(survivor["name"], "Иван");
    assert_eq!(survivor["_embedded"]["leads"][0]["id"], lead);
    assert_eq!(
        survivor["_embedded"]["companies"][0]["id"], company,
        "it had none: it takes the duplicate's"
    );
    let emails = survivor["custom_fields_values"][0]["values"]
        .as_array()
        .map(Vec::len);
    assert_eq!(emails, Some(2), "e-mails pooled: {survivor}");
    let l = call(
        &sb,
        "GET",
        &format!("/api/v4/leads/{lead}?with=contacts"),
        t,
        None,
    )
    .body;
    assert_eq!(
        l["_embedded"]["contacts"],
        json!([{"id": keep, "is_main": true, "_links": l["_embedded"]["contacts"][0]["_links"]}])
    );
    let (status, _) = manager(
        &sb,
        "merge",
        json!({"entity": "contacts", "into": keep, "from": [keep]}),
    );
    assert_eq!(status, 400);
}

#[test]
fn the_events_api_lists_deletions_and_merges_newest_first() {
    let (sb, t) = unlimited();
    let t = Some(t.as_str());
    let since = now();
    let quiet = call(&sb, "GET", "/api/v4/events", t, None);
    assert_eq!(quiet.status, 204, "no events yet");
    let a = make(&sb, t, "contacts", json!({"name": "A"}));
    let b = make(&sb, t, "contacts", json!({"name": "B"}));
    let lead = make(&sb, t, "leads", json!({"name": "L"}));
    manager(&sb, "delete", json!({"entity": "leads", "ids": [lead]}));
    manager(
        &sb,
        "merge",
        json!({"entity": "contacts", "into": a, "from": [b]}),
    );

    let path = format!(
        "/api/v4/events?filter[type][]=lead_deleted&filter[type][]=entity_merged&filter[created_at][from]={since}"
    );
    let all = call(&sb, "GET", &path, t, None);
    assert_eq!(all.status, 200, "{}", all.body);
    let events = all.body["_embedded"]["events"]
        .as_array()
        .expect("events")
        .clone();
    assert_eq!(events.len(), 2);
    let merged = &events[0];
    assert_eq!(
        (merged["type"].as_str(), merged["entity_id"].as_u64()),
        (Some("entity_merged"), Some(a))
    );
    assert_eq!(merged["entity_type"], "contact");
    assert_eq!(
        merged["value_before"],
        json!([{"entity": {"id": b, "type": "contact"}}])
    );
    assert_eq!(
        merged["value_after"],
        json!([{"entity": {"id": a, "type": "contact"}}])
    );
    assert_eq!(merged["account_id"], 28805383);
    assert!(
        merged["id"].as_str().is_some_and(|id| id.len() == 26),
        "{merged}"
    );
    assert!(merged["created_at"].as_i64().is_some_and(|at| at >= since));
    assert_eq!(
        (
            events[1]["type"].as_str(),
            events[1]["entity_type"].as_str()
        ),
        (Some("lead_deleted"), Some("lead"))
    );

    let leads = call(&sb, "GET", "/api/v4/events?filter[entity][]=lead", t, None);
    assert_eq!(
        leads.body["_embedded"]["events"].as_array().map(Vec::len),
        Some(1)
    );
    let first = call(&sb, "GET", "/api/v4/events?limit=1", t, None);
    assert!(
        first.body["_links"]["next"]["href"]
            .as_str()
            .is_some_and(|h| h.contains("page=2"))
    );
    let later = call(
        &sb,
        "GET",
        &format!("/api/v4/events?filter[created_at][from]={}", since + 3600),
        t,
        None,
    );
    assert_eq!(later.status, 204);
    let bad = call(&sb, "GET", "/api/v4/events?filter[entity_id][]=5", t, None);
    assert_eq!(bad.status, 400, "entity_id needs one entity");
    let state = sb.get_json("/_sandbox/state");
    assert_eq!(state["counts"]["events"], 2);
    sb.post_json("/_sandbox/reset", &json!({}));
    assert_eq!(
        call(&sb, "GET", "/api/v4/events", t, None).status,
        204,
        "reset clears them"
    );
}
