//! The panel's request: `PARAM_*`, `EVENT_TYPE`, `AUTH_*` in the environment and the
//! function's XML document on standard input.

use std::collections::BTreeMap;
use std::ffi::OsString;

/// The lowest `AUTH_LEVEL` of the panel's administrators: 29 is an admin (the provider's
/// staff), 30 the superuser; clients are 16. Level 28 in the panel's `user` table is a
/// department, not a login (see the project's FIELD-NOTES, access levels).
pub const ADMIN_LEVEL: u32 = 29;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `PARAM_func`, else `ACTION_NAME`.
    pub func: String,
    /// `EVENT_TYPE`: `after`, `before`, `final`, `action` (own functions); absent on older panels.
    pub event_type: Option<String>,
    /// Every `PARAM_<name>` by name (without the prefix).
    pub params: BTreeMap<String, String>,
    pub auth_user: Option<String>,
    pub auth_level: Option<u32>,
    /// The interface language from the `billmgrlang5` cookie (`billmgr:en` → `en`).
    pub lang: Option<String>,
}

impl Request {
    /// From this process's environment.
    pub fn from_env() -> Request {
        Request::from_vars(std::env::vars_os())
    }

    /// From any set of variables; values that are not UTF-8 are read lossily.
    pub fn from_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Request {
        let mut req = Request::default();
        let mut action = None;
        for (k, v) in vars {
            let (k, v) = (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            );
            if let Some(name) = k.strip_prefix("PARAM_") {
                req.params.insert(name.to_string(), v);
                continue;
            }
            match k.as_str() {
                "EVENT_TYPE" => req.event_type = non_empty(v),
                "ACTION_NAME" => action = non_empty(v),
                "AUTH_USER" => req.auth_user = non_empty(v),
                "AUTH_LEVEL" => req.auth_level = v.trim().parse().ok(),
                "HTTP_COOKIE" => req.lang = cookie_lang(&v),
                _ => {}
            }
        }
        req.func = req
            .param("func")
            .map(str::to_string)
            .or(action)
            .unwrap_or_default();
        req
    }

    /// A parameter that is present and not blank, trimmed.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The caller is one of the panel's administrators; no `AUTH_LEVEL` is no one's.
    pub fn is_admin(&self) -> bool {
        self.auth_level.is_some_and(|l| l >= ADMIN_LEVEL)
    }

    /// A form was submitted (`sok` set), not merely opened.
    pub fn submitted(&self) -> bool {
        self.param("sok").is_some()
    }

    /// The ids in `elid`; group actions send several, separated by ", ". Junk is dropped.
    pub fn elids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .param("elid")
            .unwrap_or("")
            .split(',')
            .filter_map(|s| s.trim().parse::<i64>().ok())
            .filter(|id| *id > 0)
            .collect();
        ids.dedup();
        ids
    }
}

fn cookie_lang(cookie: &str) -> Option<String> {
    cookie.split(';').find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        if name != "billmgrlang5" {
            return None;
        }
        let lang = value.rsplit(':').next()?.trim();
        (!lang.is_empty() && lang.chars().all(|c| c.is_ascii_alphabetic()))
            .then(|| lang.to_ascii_lowercase())
    })
}

fn non_empty(v: String) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(vars: &[(&str, &str)]) -> Request {
        Request::from_vars(
            vars.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
    }

    #[test]
    fn reads_params_and_auth() {
        let r = req(&[
            ("PARAM_func", "vds.suspend"),
            ("PARAM_elid", "1001, 1002, x, -3"),
            ("AUTH_LEVEL", "29"),
            ("AUTH_USER", "admin"),
            ("EVENT_TYPE", "after"),
            ("HOME", "/root"),
            ("HTTP_COOKIE", "billmgrses5=4d1c; billmgrlang5=billmgr:en"),
        ]);
        assert_eq!(r.lang.as_deref(), Some("en"));
        assert_eq!(r.func, "vds.suspend");
        assert_eq!(r.elids(), vec![1001, 1002]);
        assert_eq!(r.auth_level, Some(29));
        assert_eq!(r.auth_user.as_deref(), Some("admin"));
        assert_eq!(r.event_type.as_deref(), Some("after"));
        assert!(!r.submitted());
    }

    #[test]
    fn administrators_are_levels_29_and_30() {
        for (level, admin) in [("16", false), ("28", false), ("29", true), ("30", true)] {
            assert_eq!(req(&[("AUTH_LEVEL", level)]).is_admin(), admin, "{level}");
        }
        assert!(!req(&[]).is_admin());
    }

    #[test]
    fn func_falls_back_to_action_name() {
        let r = req(&[
            ("ACTION_NAME", "account.edit"),
            ("PARAM_sok", "ok"),
            ("AUTH_LEVEL", "many"),
        ]);
        assert_eq!(r.func, "account.edit");
        assert!(r.submitted());
        assert_eq!(r.auth_level, None);
    }

    #[test]
    fn non_utf8_values_do_not_fail() {
        use std::os::unix::ffi::OsStringExt;
        let r = Request::from_vars(vec![
            (OsString::from("PARAM_func"), OsString::from("register")),
            (
                OsString::from("PARAM_email"),
                OsString::from_vec(vec![0x61, 0xff, 0x62]),
            ),
        ]);
        assert_eq!(r.param("email"), Some("a\u{fffd}b"));
    }
}
