//! amoCRM's error bodies (`application/problem+json`): per-item validation errors, OAuth
//! hints, and a short description of anything else for the log.

use serde_json::Value;

use super::rejection::Rejection;

/// One item amoCRM rejected, named by the `request_id` it was sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemError {
    pub request_id: String,
    /// Why, with `path: code: detail` for each problem, joined with `; `.
    pub rejection: Rejection,
}

/// The items a 400 names in `validation-errors`; `None` when it names none.
pub(crate) fn item_errors(body: &str) -> Option<Vec<ItemError>> {
    let json: Value = serde_json::from_str(body).ok()?;
    let entries = json.get("validation-errors")?.as_array()?;
    // The same item may be named twice: its problems are gathered, in order.
    let mut items: Vec<(String, Vec<&Value>)> = Vec::new();
    for entry in entries {
        let request_id = match entry.get("request_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        let errors = entry.get("errors").and_then(Value::as_array);
        let problems = errors.into_iter().flatten();
        match items.iter_mut().find(|(id, _)| *id == request_id) {
            Some((_, all)) => all.extend(problems),
            None => items.push((request_id, problems.collect())),
        }
    }
    let out: Vec<ItemError> = items
        .into_iter()
        .map(|(request_id, problems)| ItemError {
            request_id,
            rejection: rejection_of(&problems),
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// One item's problems as a [`Rejection`].
fn rejection_of(problems: &[&Value]) -> Rejection {
    let described: Vec<String> = problems
        .iter()
        .map(|p| describe_problem(p))
        .filter(|p| !p.is_empty())
        .collect();
    let message = if described.is_empty() {
        "amoCRM rejected this item without saying why".to_string()
    } else {
        described.join("; ")
    };
    let pairs: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (text_of(p, "code"), text_of(p, "path")))
        .collect();
    Rejection::classify(&pairs, message)
}

fn text_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("").trim()
}

fn describe_problem(error: &Value) -> String {
    ["path", "code", "detail"]
        .iter()
        .filter_map(|k| error.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

/// The OAuth error's `hint`, else its `detail` or `title`: never a token, since OAuth error
/// answers carry none.
pub(crate) fn oauth_reason(body: &str) -> String {
    let json: Option<Value> = serde_json::from_str(body).ok();
    ["hint", "detail", "title"]
        .iter()
        .find_map(|k| {
            json.as_ref()?
                .get(*k)?
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("no reason given ({})", excerpt(body)))
}

/// `HTTP 400 Bad Request: Request validation failed` from a problem body, else the status
/// and a short excerpt of whatever came.
pub(crate) fn describe(status: u16, body: &str) -> String {
    if let Ok(json) = serde_json::from_str::<Value>(body) {
        let text = |k: &str| {
            json.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        match (text("title"), text("detail")) {
            (Some(t), Some(d)) => return format!("HTTP {status} {t}: {d}"),
            (Some(x), None) | (None, Some(x)) => return format!("HTTP {status} {x}"),
            (None, None) => {}
        }
    }
    if body.trim().is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        format!("HTTP {status}: {}", excerpt(body))
    }
}

/// At most 200 characters of a body, on one line.
pub(crate) fn excerpt(body: &str) -> String {
    const MAX: usize = 200;
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_become_per_item_messages() {
        let body = r#"{"validation-errors":[
            {"request_id":"3","errors":[{"code":"NotSupportedChoice","path":"custom_fields_values.0.values.0.value","detail":"The value you selected is not a valid choice."}]},
            {"request_id":5,"errors":[{"code":"InvalidType","path":"price","detail":"This value should be of type int."},{"code":"NotBlank","path":"name","detail":"This value should not be blank."}]},
            {"request_id":"3","errors":[{"code":"X","path":"name","detail":"Again."}]},
            {"errors":[{"code":"Lost","path":"x","detail":"no request id"}]}],
          "title":"Bad Request","type":"https://httpstatus.es/400","status":400,"detail":"Request validation failed"}"#;
        let errors = item_errors(body).expect("item errors");
        assert_eq!(
            errors,
            vec![
                ItemError {
                    request_id: "3".into(),
                    rejection: Rejection::Invalid("custom_fields_values.0.values.0.value: NotSupportedChoice: The value you selected is not a valid choice.; name: X: Again.".into())
                },
                ItemError {
                    request_id: "5".into(),
                    rejection: Rejection::Invalid("price: InvalidType: This value should be of type int.; name: NotBlank: This value should not be blank.".into())
                },
            ]
        );
    }

    #[test]
    fn an_id_amocrm_no_longer_has_is_told_apart() {
        let body = r#"{"validation-errors":[
            {"request_id":"0","errors":[{"code":"NotFound","path":"id","detail":"There is no leads with id 7."}]},
            {"request_id":"1","errors":[{"code":"NotFound","path":"_embedded.contacts.0.id","detail":"There is no contacts with id 8."}]}],
          "title":"Bad Request","status":400,"detail":"Request validation failed"}"#;
        let errors = item_errors(body).expect("item errors");
        assert_eq!(
            errors[0].rejection,
            Rejection::Gone("id: NotFound: There is no leads with id 7.".into())
        );
        assert!(matches!(
            errors[1].rejection,
            Rejection::LinkGone {
                entity: "contacts",
                ..
            }
        ));
    }

    #[test]
    fn a_400_without_items_names_none() {
        assert_eq!(
            item_errors(
                r#"{"title":"Bad Request","status":400,"detail":"Request validation failed"}"#
            ),
            None
        );
        assert_eq!(item_errors(r#"{"validation-errors":[]}"#), None);
        assert_eq!(item_errors("<html>bad</html>"), None);
    }

    #[test]
    fn oauth_reason_prefers_the_hint() {
        let body = r#"{"hint":"Token has been revoked","title":"Некорректный запрос","status":401,"detail":"В запросе отсутствует ряд параметров"}"#;
        assert_eq!(oauth_reason(body), "Token has been revoked");
        assert_eq!(
            oauth_reason(
                r#"{"title":"Некорректный клиент","detail":"Авторизация клиента не прошла"}"#
            ),
            "Авторизация клиента не прошла"
        );
        assert_eq!(oauth_reason("oops"), "no reason given (oops)");
    }

    #[test]
    fn describe_and_excerpt_stay_short() {
        assert_eq!(
            describe(
                402,
                r#"{"title":"Payment Required","status":402,"detail":"Payment required"}"#
            ),
            "HTTP 402 Payment Required: Payment required"
        );
        assert_eq!(describe(502, ""), "HTTP 502 with an empty body");
        let html = format!("<html>\n<body>{}</body></html>", "x".repeat(500));
        let d = describe(403, &html);
        assert!(d.starts_with("HTTP 403: <html> <body>xxx"), "{d}");
        assert!(d.chars().count() < 220 && d.ends_with('…'), "{d}");
    }
}
