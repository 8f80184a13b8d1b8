//! `/api/v4/*` for an authorized caller: entities, custom fields, tags, pipelines, links
//! and the account, answered from the account's state; users, tasks and notes are handed
//! to their own modules. Also the request helpers they share: bodies, batches, pages.

use serde_json::{Value, json};

use super::endpoint::{hal_list, page_links, paging, parse_body, parse_id, request_id, with_array};
use super::fields::as_u64;
use super::http::{Request, Response};
use super::problem::{self, FieldError, ItemErrors};
use super::render::{self, With, href};
use super::state::{Crm, Kind, USER_ID};
use super::write::{self, Written, now};
use super::{notes, people, tasks};

pub fn route(crm: &mut Crm, req: &Request, base: &str) -> Response {
    let Some(rest) = req.path.strip_prefix("/api/v4/") else {
        return problem::not_found();
    };
    let seg: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let m = req.method.as_str();
    match (m, seg.as_slice()) {
        ("GET", ["account"]) => account(crm, base),
        ("GET", ["leads", "pipelines"]) => pipelines(crm, base),
        ("GET", ["leads", "pipelines", id]) => match parse_id(id).and_then(|id| crm.pipeline(id)) {
            Some(p) => Response::hal(200, &render::pipeline(crm, p, base)),
            None => Response::no_content(),
        },
        ("GET", ["leads", "pipelines", id, "statuses"]) => {
            match parse_id(id).and_then(|id| crm.pipeline(id)) {
                Some(p) => {
                    let v = render::pipeline(crm, p, base);
                    Response::hal(
                        200,
                        &json!({
                            "_total_items": p.statuses.len(),
                            "_links": href(base, &req.path),
                            "_embedded": v["_embedded"],
                        }),
                    )
                }
                None => Response::no_content(),
            }
        }
        ("GET", ["events"]) => super::events::list(crm, req, base),
        (_, ["users", rest @ ..]) => people::route(crm, m, rest, req, base),
        (_, ["tasks", rest @ ..]) => tasks::route(crm, m, rest, req, base),
        (_, [entity, ..]) => match Kind::parse(entity) {
            Some(kind) => entity_route(crm, kind, m, &seg[1..], req, base),
            None => problem::not_found(),
        },
        _ => problem::not_found(),
    }
}

fn entity_route(
    crm: &mut Crm,
    kind: Kind,
    m: &str,
    rest: &[&str],
    req: &Request,
    base: &str,
) -> Response {
    match (m, rest) {
        ("GET", []) => list(crm, kind, req, base),
        ("POST", []) => with_array(req, |items| {
            created(kind, base, write::create(crm, kind, items, false))
        }),
        ("PATCH", []) => with_array(req, |items| {
            updated(kind, base, write::update(crm, kind, items))
        }),
        ("GET", ["custom_fields"]) => custom_fields(crm, kind, req, base),
        ("GET", ["custom_fields", id]) => {
            match parse_id(id).and_then(|id| crm.field_by_id(kind, id)) {
                Some(f) => Response::hal(200, &render::custom_field(crm, kind, f, base)),
                None => Response::no_content(),
            }
        }
        ("GET", ["tags"]) => tags(crm, kind, req, base),
        ("POST", ["tags"]) => with_array(req, |items| add_tags(crm, kind, items, base)),
        (_, ["notes", tail @ ..]) => notes::route(crm, kind, None, m, tail, req, base),
        ("POST", ["link"]) => with_array(req, |items| links(crm, kind, None, items, base, true)),
        ("POST", ["unlink"]) => with_array(req, |items| links(crm, kind, None, items, base, false)),
        (_, [id, tail @ ..]) => {
            let Some(id) = parse_id(id) else {
                return problem::not_found();
            };
            match (m, tail) {
                ("GET", []) => match crm.entity(kind, id) {
                    Some(e) => {
                        let with = With::parse(&req.query_param("with").unwrap_or_default());
                        Response::hal(200, &render::entity(crm, kind, e, base, with))
                    }
                    None => Response::no_content(),
                },
                ("PATCH", []) => match parse_body(req) {
                    Ok(Value::Object(mut obj)) => {
                        obj.insert("id".into(), json!(id));
                        match write::update(crm, kind, &[Value::Object(obj)]) {
                            Ok(w) => Response::hal(200, &written_item(kind, base, &w[0], false)),
                            Err(errs) => problem::validation_failed(&errs),
                        }
                    }
                    Ok(_) => problem::bad_request("The request body must be a JSON object"),
                    Err(r) => r,
                },
                ("POST", ["link"]) => {
                    with_array(req, |items| links(crm, kind, Some(id), items, base, true))
                }
                ("POST", ["unlink"]) => {
                    with_array(req, |items| links(crm, kind, Some(id), items, base, false))
                }
                ("GET", ["links"]) => entity_links(crm, kind, id, req, base),
                (_, ["notes", tail @ ..]) => notes::route(crm, kind, Some(id), m, tail, req, base),
                _ => problem::not_found(),
            }
        }
        _ => problem::not_found(),
    }
}

fn written_item(kind: Kind, base: &str, w: &Written, created: bool) -> Value {
    let mut v = json!({
        "id": w.id,
        "request_id": w.request_id,
        "_links": href(base, &format!("/api/v4/{}/{}", kind.segment(), w.id)),
    });
    if !created {
        v["updated_at"] = json!(w.updated_at);
    }
    v
}

fn created(kind: Kind, base: &str, r: Result<Vec<Written>, ItemErrors>) -> Response {
    written(kind, base, r, true)
}

fn updated(kind: Kind, base: &str, r: Result<Vec<Written>, ItemErrors>) -> Response {
    written(kind, base, r, false)
}

fn written(kind: Kind, base: &str, r: Result<Vec<Written>, ItemErrors>, created: bool) -> Response {
    match r {
        Ok(items) => Response::hal(
            200,
            &json!({
                "_links": href(base, &format!("/api/v4/{}", kind.segment())),
                "_embedded": {
                    kind.segment(): items.iter().map(|w| written_item(kind, base, w, created)).collect::<Vec<_>>(),
                },
            }),
        ),
        Err(errs) => problem::validation_failed(&errs),
    }
}

fn list(crm: &Crm, kind: Kind, req: &Request, base: &str) -> Response {
    let pairs = req.query_pairs();
    let limit = paging(req).1;
    let mut ids: Option<Vec<u64>> = None;
    let mut query: Option<String> = None;
    let mut order: Option<(String, bool)> = None;
    let mut with = With::default();
    for (k, v) in &pairs {
        if k == "filter[id]" || k.starts_with("filter[id][") {
            ids.get_or_insert_with(Vec::new)
                .extend(v.split(',').filter_map(|s| s.trim().parse::<u64>().ok()));
        } else if k == "query" && !v.is_empty() {
            query = Some(v.to_lowercase());
        } else if let Some(field) = k.strip_prefix("order[").and_then(|s| s.strip_suffix(']')) {
            order = Some((field.to_string(), v.eq_ignore_ascii_case("desc")));
        } else if k == "with" {
            with = With::parse(v);
        }
    }
    let mut found: Vec<_> = crm.entities[kind.idx()]
        .values()
        .filter(|e| ids.as_ref().is_none_or(|ids| ids.contains(&e.id)))
        .filter(|e| query.as_deref().is_none_or(|q| e.matches(q)))
        .collect();
    if let Some((field, desc)) = &order {
        match field.as_str() {
            "updated_at" => found.sort_by_key(|e| (e.updated_at, e.id)),
            "created_at" => found.sort_by_key(|e| (e.created_at, e.id)),
            _ => {}
        }
        if *desc {
            found.reverse();
        }
    }
    hal_list((req, base), kind.segment(), &found, limit, |e| {
        render::entity(crm, kind, e, base, with)
    })
}

fn account(crm: &Crm, base: &str) -> Response {
    Response::hal(
        200,
        &json!({
            "id": crm.account.id,
            "name": crm.account.name,
            "subdomain": crm.account.subdomain,
            "created_at": 1585840134,
            "created_by": 0,
            "updated_at": 1585840134,
            "updated_by": 0,
            "current_user_id": USER_ID,
            "country": "RU",
            "currency": "RUB",
            "currency_symbol": "₽",
            "customers_mode": "disabled",
            "is_unsorted_on": true,
            "is_loss_reason_enabled": false,
            "is_helpbot_enabled": false,
            "is_technical_account": false,
            "contact_name_display_order": 1,
            "version": 11,
            "_links": href(base, "/api/v4/account"),
        }),
    )
}

fn pipelines(crm: &Crm, base: &str) -> Response {
    let list: Vec<Value> = crm
        .pipelines
        .iter()
        .map(|p| render::pipeline(crm, p, base))
        .collect();
    Response::hal(
        200,
        &json!({
            "_total_items": list.len(),
            "_links": href(base, "/api/v4/leads/pipelines"),
            "_embedded": { "pipelines": list },
        }),
    )
}

fn custom_fields(crm: &Crm, kind: Kind, req: &Request, base: &str) -> Response {
    let (page, limit) = paging(req);
    let all = &crm.fields[kind.idx()];
    let start = (page - 1).saturating_mul(limit);
    if start >= all.len() {
        return Response::no_content();
    }
    let end = (start + limit).min(all.len());
    let items: Vec<Value> = all[start..end]
        .iter()
        .map(|f| render::custom_field(crm, kind, f, base))
        .collect();
    Response::hal(
        200,
        &json!({
            "_total_items": all.len(),
            "_page": page,
            "_page_count": all.len().div_ceil(limit),
            "_links": page_links(req, base, page, end < all.len()),
            "_embedded": { "custom_fields": items },
        }),
    )
}

fn tags(crm: &Crm, kind: Kind, req: &Request, base: &str) -> Response {
    let (page, limit) = paging(req);
    let name = req.query_param("filter[name]");
    let query = req.query_param("query").map(|q| q.to_lowercase());
    let found: Vec<Value> = crm.tags[kind.idx()]
        .iter()
        .filter(|t| name.as_deref().is_none_or(|n| t.name == n))
        .filter(|t| {
            query
                .as_deref()
                .is_none_or(|q| t.name.to_lowercase().contains(q))
        })
        .map(render::tag)
        .collect();
    let start = (page - 1).saturating_mul(limit);
    if start >= found.len() {
        return Response::no_content();
    }
    let end = (start + limit).min(found.len());
    Response::hal(
        200,
        &json!({
            "_page": page,
            "_links": page_links(req, base, page, end < found.len()),
            "_embedded": { "tags": found[start..end] },
        }),
    )
}

fn add_tags(crm: &mut Crm, kind: Kind, items: &[Value], base: &str) -> Response {
    let mut bad = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(|n| n.trim().is_empty())
        {
            bad.push((
                request_id(item, i),
                vec![FieldError::new("NotBlank", "name", "A tag needs a name.")],
            ));
        }
    }
    if !bad.is_empty() {
        return problem::validation_failed(&bad);
    }
    let out: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = item["name"].as_str().unwrap_or_default();
            let id = crm.tag_id(kind, name);
            json!({ "id": id, "name": name, "request_id": request_id(item, i) })
        })
        .collect();
    Response::hal(
        200,
        &json!({
            "_links": href(base, &format!("/api/v4/{}/tags", kind.segment())),
            "_embedded": { "tags": out },
        }),
    )
}

/// Link or unlink: `entity_id` (from the path or the item), `to_entity_id`, `to_entity_type`.
fn links(
    crm: &mut Crm,
    kind: Kind,
    path_id: Option<u64>,
    items: &[Value],
    base: &str,
    link: bool,
) -> Response {
    let mut bad = Vec::new();
    let mut ok = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut errs = Vec::new();
        let from = path_id.or_else(|| item.get("entity_id").and_then(as_u64));
        match from {
            Some(id) if crm.entity(kind, id).is_some() => {}
            Some(id) => errs.push(FieldError::new(
                "NotFound",
                "entity_id",
                format!("There is no {} with id {id}.", kind.segment()),
            )),
            None => errs.push(FieldError::new(
                "NotBlank",
                "entity_id",
                "entity_id is required.",
            )),
        }
        let to_kind = item
            .get("to_entity_type")
            .and_then(Value::as_str)
            .and_then(Kind::parse)
            .filter(|k| Crm::linkable(kind, *k));
        let to_id = item.get("to_entity_id").and_then(as_u64);
        match (to_kind, to_id) {
            (None, _) => errs.push(FieldError::new(
                "NotSupportedChoice",
                "to_entity_type",
                format!("{} cannot be linked to that entity type.", kind.segment()),
            )),
            (Some(_), None) => errs.push(FieldError::new(
                "NotBlank",
                "to_entity_id",
                "to_entity_id is required.",
            )),
            (Some(k), Some(id)) if crm.entity(k, id).is_none() => errs.push(FieldError::new(
                "NotFound",
                "to_entity_id",
                format!("There is no {} with id {id}.", k.segment()),
            )),
            _ => {}
        }
        if errs.is_empty()
            && let (Some(from), Some(tk), Some(tid)) = (from, to_kind, to_id)
        {
            let is_main = item
                .get("metadata")
                .and_then(|m| m.get("is_main"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            ok.push((from, tk, tid, is_main, item.get("metadata").cloned()));
        } else {
            bad.push((request_id(item, i), errs));
        }
    }
    if !bad.is_empty() {
        return problem::validation_failed(&bad);
    }
    let mut out = Vec::new();
    let ts = now();
    for (from, tk, tid, is_main, metadata) in ok {
        if link {
            crm.link((kind, from), (tk, tid), is_main);
        } else {
            crm.unlink((kind, from), (tk, tid));
        }
        for side in [(kind, from), (tk, tid)] {
            if let Some(e) = crm.entities[side.0.idx()].get_mut(&side.1) {
                e.updated_at = ts;
            }
        }
        out.push(json!({
            "entity_id": from,
            "entity_type": kind.segment(),
            "to_entity_id": tid,
            "to_entity_type": tk.segment(),
            "metadata": metadata,
        }));
    }
    if !link {
        return Response::no_content();
    }
    Response::hal(
        200,
        &json!({
            "_total_items": out.len(),
            "_links": href(base, &format!("/api/v4/{}/link", kind.segment())),
            "_embedded": { "links": out },
        }),
    )
}

fn entity_links(crm: &Crm, kind: Kind, id: u64, req: &Request, base: &str) -> Response {
    let Some(e) = crm.entity(kind, id) else {
        return Response::no_content();
    };
    let mut out = Vec::new();
    let mut push = |k: Kind, to: u64, meta: Value| {
        out.push(json!({
            "entity_id": id, "entity_type": kind.segment(),
            "to_entity_id": to, "to_entity_type": k.segment(), "metadata": meta,
        }));
    };
    for (c, main) in &e.contacts {
        push(Kind::Contacts, *c, json!({ "main_contact": main }));
    }
    for c in &e.companies {
        push(Kind::Companies, *c, Value::Null);
    }
    for l in &e.leads {
        push(Kind::Leads, *l, Value::Null);
    }
    if out.is_empty() {
        return Response::no_content();
    }
    Response::hal(
        200,
        &json!({
            "_total_items": out.len(),
            "_links": href(base, &req.path),
            "_embedded": { "links": out },
        }),
    )
}
