//! What every API endpoint shares: ids and JSON bodies read from a request, the pages of
//! a list and their links, `filter[...]` values, and the per-item checks of a batch.

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::problem::{self, FieldError, ItemErrors};

/// amoCRM takes at most this many items a write and answers at most this many a page.
pub const MAX_BATCH: usize = 250;
const DEFAULT_LIMIT: usize = 50;

pub fn parse_id(s: &str) -> Option<u64> {
    s.parse().ok()
}

pub fn parse_body(req: &Request) -> Result<Value, Response> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(problem::bad_request("The request body is empty"));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| problem::bad_request(&format!("The request body is not valid JSON: {e}")))
}

/// Write calls take a JSON array of 1..=250 items.
pub fn with_array(req: &Request, f: impl FnOnce(&[Value]) -> Response) -> Response {
    match parse_body(req) {
        Ok(Value::Array(items)) if items.is_empty() => {
            problem::bad_request("The request body is an empty array; send at least one item")
        }
        Ok(Value::Array(items)) if items.len() > MAX_BATCH => {
            problem::problem(422, "Limit 250 per page")
        }
        Ok(Value::Array(items)) => f(&items),
        Ok(_) => problem::bad_request("The request body must be a JSON array"),
        Err(r) => r,
    }
}

/// `page` (from 1) and `limit` (1..=250, default 50).
pub fn paging(req: &Request) -> (usize, usize) {
    let page = req
        .query_param("page")
        .and_then(|p| p.parse().ok())
        .filter(|&p: &usize| p >= 1)
        .unwrap_or(1);
    let limit = req
        .query_param("limit")
        .and_then(|p| p.parse().ok())
        .filter(|&l: &usize| l >= 1)
        .unwrap_or(DEFAULT_LIMIT)
        .min(MAX_BATCH);
    (page, limit)
}

/// `_links.self` and, when there is more, `_links.next` (the same query, next page).
pub fn page_links(req: &Request, base: &str, page: usize, more: bool) -> Value {
    let with_page = |p: usize| {
        let mut parts: Vec<String> = req
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|s| !s.is_empty() && !s.starts_with("page="))
            .map(str::to_string)
            .collect();
        parts.push(format!("page={p}"));
        format!("{base}{}?{}", req.path, parts.join("&"))
    };
    let mut links = json!({ "self": { "href": with_page(page) } });
    if more {
        links["next"] = json!({ "href": with_page(page + 1) });
    }
    links
}

/// An item's `request_id`, echoed in answers and errors; its index when it has none.
pub fn request_id(item: &Value, i: usize) -> String {
    match item.get("request_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => i.to_string(),
    }
}

/// The page `page` and `limit` ask for out of `all`: its number, its items and whether more
/// follow; `None` when it is empty, which amoCRM answers with 204.
pub fn page_of<'a, T>(req: &Request, all: &'a [T]) -> Option<(usize, &'a [T], bool)> {
    page_at(req, all, paging(req).1)
}

/// [`page_of`] with `limit` items a page (an endpoint may cap it lower than most).
fn page_at<'a, T>(req: &Request, all: &'a [T], limit: usize) -> Option<(usize, &'a [T], bool)> {
    let page = paging(req).0;
    let start = (page - 1).saturating_mul(limit);
    if start >= all.len() {
        return None;
    }
    let end = (start + limit).min(all.len());
    Some((page, &all[start..end], end < all.len()))
}

/// The page of `found` the request asks for, at most `limit` items, as a HAL list of
/// `name` with each item rendered; 204 when the page is empty, as amoCRM answers.
pub fn hal_list<T>(
    (req, base): (&Request, &str),
    name: &str,
    found: &[T],
    limit: usize,
    render: impl Fn(&T) -> Value,
) -> Response {
    let Some((page, items, more)) = page_at(req, found, limit) else {
        return Response::no_content();
    };
    let items = items.iter().map(render).collect();
    Response::hal(200, &hal_page(req, base, name, page, items, more))
}

/// A HAL list: `_page`, `_links` (with `next` when more follow), `_embedded.{name}`.
pub fn hal_page(
    req: &Request,
    base: &str,
    name: &str,
    page: usize,
    items: Vec<Value>,
    more: bool,
) -> Value {
    json!({
        "_page": page,
        "_links": page_links(req, base, page, more),
        "_embedded": { name: items },
    })
}

/// The values of a `filter[...]` in any of the forms clients send: `key=a`, `key=a,b`,
/// `key[]=a&key[]=b`, `key[0]=a`; `None` when the query has no such filter.
pub fn filter_values(req: &Request, key: &str) -> Option<Vec<String>> {
    let nested = format!("{key}[");
    let mut out: Option<Vec<String>> = None;
    for (k, v) in req.query_pairs() {
        if k == key || k.starts_with(&nested) {
            out.get_or_insert_with(Vec::new).extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        }
    }
    out
}

/// [`filter_values`] as ids; a value that is not one matches nothing.
pub fn filter_ids(req: &Request, key: &str) -> Option<Vec<u64>> {
    filter_values(req, key).map(|v| v.iter().filter_map(|s| s.parse().ok()).collect())
}

/// Checks every item of a batch: the batch is refused whole when any item has errors, as
/// amoCRM refuses it, and each bad item is named by its `request_id`.
pub fn check_each<T>(
    items: &[Value],
    mut check: impl FnMut(&Value) -> Result<T, Vec<FieldError>>,
) -> Result<Vec<T>, ItemErrors> {
    let mut ok = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match check(item) {
            Ok(t) => ok.push(t),
            Err(errs) => bad.push((request_id(item, i), errs)),
        }
    }
    if bad.is_empty() { Ok(ok) } else { Err(bad) }
}

/// An update's items checked as [`check_each`] does, an id named twice refused.
pub fn check_each_once<T>(
    items: &[Value],
    id: impl Fn(&T) -> u64,
    mut check: impl FnMut(&Value) -> Result<T, Vec<FieldError>>,
) -> Result<Vec<T>, ItemErrors> {
    let mut seen = std::collections::HashSet::new();
    check_each(items, |item| {
        let c = check(item)?;
        match seen.insert(id(&c)) {
            true => Ok(c),
            false => Err(vec![duplicate_id()]),
        }
    })
}

/// An update naming one id twice.
pub fn duplicate_id() -> FieldError {
    FieldError::new(
        "Duplicate",
        "id",
        "The same id appears twice in one request.",
    )
}
