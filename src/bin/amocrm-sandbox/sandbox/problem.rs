//! amoCRM's error answers: `application/problem+json` bodies, validation errors per item,
//! and the OAuth server's hinted errors.

use serde_json::{Value, json};

use super::http::Response;

/// A generic problem: `{"title","type","status","detail"}`.
pub fn problem(status: u16, detail: &str) -> Response {
    Response::problem(
        status,
        &json!({
            "title": super::http::reason(status),
            "type": format!("https://httpstatus.es/{status}"),
            "status": status,
            "detail": detail,
        }),
    )
}

pub fn unauthorized() -> Response {
    problem(401, "Invalid user name or password")
}

pub fn payment_required() -> Response {
    problem(402, "Payment required")
}

pub fn too_many_requests() -> Response {
    Response::problem(
        429,
        &json!({
            "title": "Too Many Requests",
            "type": "https://httpstatus.es/429",
            "status": 429,
            "detail": "Too many requests: more than the allowed number of requests per second",
            "retry_after": 1,
        }),
    )
}

/// The client is blocked for exceeding the limit again and again.
pub fn blocked() -> Response {
    problem(
        403,
        "Access denied: the request limit was exceeded repeatedly; the client is blocked for a while",
    )
}

/// A limit answer as an HTML page, as amoCRM's front servers sometimes send it.
pub fn html_page(status: u16) -> Response {
    let reason = super::http::reason(status);
    Response {
        status,
        content_type: "text/html; charset=utf-8",
        body: format!("<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>\n")
            .into_bytes(),
    }
}

pub fn not_found() -> Response {
    problem(404, "Not found")
}

pub fn bad_request(detail: &str) -> Response {
    problem(400, detail)
}

/// The items of a batch that did not validate: each one's `request_id` and errors.
pub type ItemErrors = Vec<(String, Vec<FieldError>)>;

/// One field of one item that did not validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `NotSupportedChoice`, `InvalidType`, `FieldNotFound`, `NotFound`, `NotBlank` ...
    pub code: &'static str,
    /// Dotted path inside the item: `custom_fields_values.0.values.0.value`.
    pub path: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(code: &'static str, path: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            code,
            path: path.into(),
            detail: detail.into(),
        }
    }
}

/// The 400 answer for a batch with invalid items: every invalid item with its `request_id`.
pub fn validation_failed(items: &[(String, Vec<FieldError>)]) -> Response {
    let errors: Vec<Value> = items
        .iter()
        .map(|(request_id, errs)| {
            json!({
                "request_id": request_id,
                "errors": errs.iter().map(|e| json!({
                    "code": e.code, "path": e.path, "detail": e.detail,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Response::problem(
        400,
        &json!({
            "validation-errors": errors,
            "title": "Bad Request",
            "type": "https://httpstatus.es/400",
            "status": 400,
            "detail": "Request validation failed",
        }),
    )
}

/// The OAuth server's error: a request it cannot accept.
pub fn oauth_request(status: u16, hint: &str) -> Response {
    Response::problem(
        status,
        &json!({
            "hint": hint,
            "title": "Некорректный запрос",
            "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
            "status": status,
            "detail": "В запросе отсутствует ряд параметров или параметры невалидны",
        }),
    )
}

/// The OAuth server's error: the integration's credentials are wrong.
pub fn oauth_client(hint: &str) -> Response {
    Response::problem(
        401,
        &json!({
            "hint": hint,
            "title": "Некорректный клиент",
            "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
            "status": 401,
            "detail": "Авторизация клиента не прошла",
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_carry_request_id_and_path() {
        let r = validation_failed(&[(
            "acc-1".into(),
            vec![FieldError::new(
                "NotSupportedChoice",
                "custom_fields_values.0.values.0.value",
                "The value you selected is not a valid choice.",
            )],
        )]);
        assert_eq!(r.status, 400);
        let v = r.json_body();
        assert_eq!(v["validation-errors"][0]["request_id"], "acc-1");
        assert_eq!(
            v["validation-errors"][0]["errors"][0]["path"],
            "custom_fields_values.0.values.0.value"
        );
        assert_eq!(v["detail"], "Request validation failed");
    }
}
