//! The OAuth server of the one integration the sandbox knows: one-time authorization codes,
//! JWT-shaped access tokens, and refresh tokens that rotate as amoCRM's do (the old one keeps
//! working until the new pair is first used, then it is revoked).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::Response;
use super::problem;
use super::rng::{Rng, base64url};
use super::state::USER_ID;
use super::write::now;
use crate::secret::Secret;

/// The external integration: what `/oauth2/access_token` checks.
#[derive(Debug, Clone)]
pub struct Integration {
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: String,
}

#[derive(Debug)]
struct Code {
    expires: Instant,
    used: bool,
}

#[derive(Debug)]
struct Access {
    expires: Instant,
    /// The refresh token this pair was obtained with: revoked when this token is first used.
    parent: Option<String>,
    used: bool,
}

#[derive(Debug)]
struct Refresh {
    revoked: bool,
    parent: Option<String>,
}

/// Token counts for `/_sandbox/state`; the tokens themselves are never shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub codes_exchanged: u64,
    pub refreshes: u64,
    pub access_tokens: u64,
}

#[derive(Debug)]
pub struct OAuth {
    integration: Integration,
    account_id: u64,
    lifetime: Duration,
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
    rng: Rng,
    pub counts: Counts,
}

impl OAuth {
    pub fn new(integration: Integration, account_id: u64, lifetime: Duration) -> OAuth {
        OAuth {
            integration,
            account_id,
            lifetime,
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            rng: Rng::from_time(),
            counts: Counts::default(),
        }
    }

    /// Makes a code valid once, until `expires`.
    pub fn add_code(&mut self, code: &Secret, expires: Instant) {
        self.codes.insert(
            code.expose().to_string(),
            Code {
                expires,
                used: false,
            },
        );
    }

    /// A fresh code, for the control endpoint.
    pub fn new_code(&mut self, expires: Instant) -> Secret {
        let code = Secret::new(format!("def50200{}", self.rng.hex(56)));
        self.add_code(&code, expires);
        code
    }

    /// Every access token issued so far stops working now (refresh tokens still do).
    pub fn expire_all(&mut self, now: Instant) {
        for a in self.access.values_mut() {
            a.expires = a.expires.min(now);
        }
    }

    /// Every token issued so far stops working now, refresh tokens included, as when the
    /// admin disconnects the integration: only a new authorization code helps.
    pub fn revoke_all(&mut self, now: Instant) {
        self.expire_all(now);
        for r in self.refresh.values_mut() {
            r.revoked = true;
        }
    }

    /// Whether a bearer token may call the API; its first use revokes the refresh token
    /// its pair replaced.
    pub fn check_access(&mut self, token: &str, now: Instant) -> bool {
        let Some(a) = self.access.get_mut(token) else {
            return false;
        };
        if now >= a.expires {
            return false;
        }
        if !a.used {
            a.used = true;
            if let Some(parent) = a.parent.clone() {
                self.revoke(&parent);
            }
        }
        true
    }

    fn revoke(&mut self, refresh: &str) {
        if let Some(r) = self.refresh.get_mut(refresh) {
            r.revoked = true;
        }
    }

    /// `POST /oauth2/access_token` with its parameters (from JSON or a form).
    pub fn grant(&mut self, params: &HashMap<String, String>, now: Instant) -> Response {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        let grant_type = get("grant_type");
        if grant_type != "authorization_code" && grant_type != "refresh_token" {
            return problem::oauth_request(400, "Check the `grant_type` parameter");
        }
        if get("client_id") != self.integration.client_id {
            return problem::oauth_client("Check the `client_id` parameter");
        }
        if get("client_secret") != self.integration.client_secret.expose() {
            return problem::oauth_client("Check the `client_secret` parameter");
        }
        let redirect = get("redirect_uri");
        let redirect_required = grant_type == "authorization_code";
        if (redirect_required || !redirect.is_empty()) && redirect != self.integration.redirect_uri
        {
            return problem::oauth_request(400, "Redirect URI is not associated with client");
        }
        if grant_type == "authorization_code" {
            let Some(code) = self.codes.get_mut(get("code")) else {
                return problem::oauth_request(400, "Cannot decrypt the authorization code");
            };
            if code.used {
                return problem::oauth_request(400, "Authorization code has been revoked");
            }
            if now >= code.expires {
                return problem::oauth_request(400, "Authorization code has expired");
            }
            code.used = true;
            self.counts.codes_exchanged += 1;
            self.issue(None, now)
        } else {
            let token = get("refresh_token").to_string();
            let Some(r) = self.refresh.get(&token) else {
                return problem::oauth_request(400, "Invalid refresh token");
            };
            if r.revoked {
                return problem::oauth_request(401, "Token has been revoked");
            }
            // Using the new refresh token also means the pair before it is in use.
            if let Some(parent) = r.parent.clone() {
                self.revoke(&parent);
            }
            self.counts.refreshes += 1;
            self.issue(Some(token), now)
        }
    }

    fn issue(&mut self, parent: Option<String>, now: Instant) -> Response {
        let access = self.jwt();
        let refresh = format!("def50200{}", self.rng.hex(120));
        self.access.insert(
            access.clone(),
            Access {
                expires: now + self.lifetime,
                parent: parent.clone(),
                used: false,
            },
        );
        self.refresh.insert(
            refresh.clone(),
            Refresh {
                revoked: false,
                parent,
            },
        );
        self.counts.access_tokens += 1;
        Response::json(
            200,
            &json!({
                "token_type": "Bearer",
                "expires_in": self.lifetime.as_secs(),
                "access_token": access,
                "refresh_token": refresh,
            }),
        )
    }

    fn jwt(&mut self) -> String {
        let jti = self.rng.hex(40);
        let iat = now();
        let header = json!({ "typ": "JWT", "alg": "RS256", "jti": jti });
        let payload = json!({
            "aud": self.integration.client_id,
            "jti": jti,
            "iat": iat,
            "nbf": iat,
            "exp": iat + self.lifetime.as_secs() as i64,
            "sub": USER_ID.to_string(),
            "grant_type": "",
            "account_id": self.account_id,
            "base_domain": "amocrm.ru",
            "version": 2,
            "scopes": ["crm", "files", "files_delete", "notifications", "push_notifications"],
        });
        format!(
            "{}.{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(payload.to_string().as_bytes()),
            base64url(&self.rng.bytes(256)),
        )
    }
}

/// The grant's parameters from a JSON object or a form-encoded body.
pub fn params(content_type: Option<&str>, body: &[u8]) -> Option<HashMap<String, String>> {
    let is_form = content_type.is_some_and(|c| c.contains("x-www-form-urlencoded"));
    if !is_form && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        return Some(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
        );
    }
    let text = std::str::from_utf8(body).ok()?;
    let pairs = super::http::parse_form(text.trim());
    if pairs.is_empty() {
        return None;
    }
    Some(pairs.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> OAuth {
        OAuth::new(
            Integration {
                client_id: "id".into(),
                client_secret: Secret::new("secret"),
                redirect_uri: "https://r".into(),
            },
            1,
            Duration::from_secs(60),
        )
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [
            ("client_id", "id"),
            ("client_secret", "secret"),
            ("redirect_uri", "https://r"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    #[test]
    fn refresh_tokens_rotate_and_are_revoked_on_first_use_of_the_new_pair() {
        let mut o = server();
        let t0 = Instant::now();
        o.add_code(&Secret::new("c"), t0 + Duration::from_secs(60));
        let first = o
            .grant(
                &form(&[("grant_type", "authorization_code"), ("code", "c")]),
                t0,
            )
            .json_body();
        let r1 = first["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_string();
        let refresh = |o: &mut OAuth, r: &str| {
            o.grant(
                &form(&[("grant_type", "refresh_token"), ("refresh_token", r)]),
                t0,
            )
        };
        let second = refresh(&mut o, &r1);
        assert_eq!(second.status, 200);
        // The answer was lost: the old token still works.
        let third = refresh(&mut o, &r1).json_body();
        let a3 = third["access_token"].as_str().expect("access");
        assert_eq!(a3.split('.').count(), 3);
        assert!(o.check_access(a3, t0));
        let again = refresh(&mut o, &r1);
        assert_eq!(again.status, 401);
        assert_eq!(again.json_body()["hint"], "Token has been revoked");
        assert_eq!(
            refresh(&mut o, "nope").json_body()["hint"],
            "Invalid refresh token"
        );
    }

    #[test]
    fn revoking_all_leaves_only_a_new_code() {
        let mut o = server();
        let t0 = Instant::now();
        o.add_code(&Secret::new("c"), t0 + Duration::from_secs(60));
        o.add_code(&Secret::new("c2"), t0 + Duration::from_secs(60));
        let grant = |o: &mut OAuth, pairs: &[(&str, &str)]| o.grant(&form(pairs), t0);
        let first = grant(
            &mut o,
            &[("grant_type", "authorization_code"), ("code", "c")],
        );
        let first = first.json_body();
        let access = first["access_token"].as_str().expect("access").to_string();
        let refresh = first["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_string();
        o.revoke_all(t0);
        assert!(!o.check_access(&access, t0));
        let again = grant(
            &mut o,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        );
        assert_eq!(again.status, 401);
        assert_eq!(again.json_body()["hint"], "Token has been revoked");
        let fresh = grant(
            &mut o,
            &[("grant_type", "authorization_code"), ("code", "c2")],
        );
        let fresh = fresh.json_body();
        assert!(o.check_access(fresh["access_token"].as_str().expect("access"), t0));
    }

    #[test]
    fn codes_work_once_and_expire() {
        let mut o = server();
        let t0 = Instant::now();
        o.add_code(&Secret::new("c"), t0 + Duration::from_secs(1));
        o.add_code(&Secret::new("late"), t0 + Duration::from_secs(1));
        let g = |o: &mut OAuth, code: &str, at: Instant| {
            o.grant(
                &form(&[("grant_type", "authorization_code"), ("code", code)]),
                at,
            )
            .json_body()["hint"]
                .clone()
        };
        assert_eq!(g(&mut o, "c", t0), Value::Null);
        assert_eq!(g(&mut o, "c", t0), "Authorization code has been revoked");
        assert_eq!(
            g(&mut o, "late", t0 + Duration::from_secs(2)),
            "Authorization code has expired"
        );
        assert_eq!(
            g(&mut o, "zzz", t0),
            "Cannot decrypt the authorization code"
        );
    }

    #[test]
    fn reads_json_and_form_bodies() {
        let j = params(Some("application/json"), br#"{"a":"1","b":2}"#).expect("json");
        assert_eq!((j["a"].as_str(), j["b"].as_str()), ("1", "2"));
        let f = params(
            Some("application/x-www-form-urlencoded"),
            b"grant_type=refresh_token&x=%2B",
        )
        .expect("form");
        assert_eq!(f["x"], "+");
    }
}
