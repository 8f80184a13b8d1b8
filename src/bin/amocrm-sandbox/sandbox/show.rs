//! `amocrm-sandbox show URL`: what a running sandbox holds, as tables a person reads.

use serde_json::Value;

/// Reads `/_sandbox/state` from a running sandbox and renders it.
pub fn fetch(url: &str) -> Result<String, String> {
    let state_url = format!("{}/_sandbox/state", url.trim_end_matches('/'));
    let body = ureq::get(&state_url)
        .call()
        .map_err(|e| format!("cannot read {state_url}: {e}"))?
        .into_body()
        .read_to_string()
        .map_err(|e| format!("cannot read {state_url}: {e}"))?;
    let state: Value =
        serde_json::from_str(&body).map_err(|e| format!("{state_url} is not JSON: {e}"))?;
    Ok(render(&state))
}

/// Contacts, companies and leads with their fields, tags, links and stages.
pub fn render(state: &Value) -> String {
    let mut out = String::new();
    let stage_names = stage_names(state);
    for (kind, title) in [
        ("contacts", "Contacts"),
        ("companies", "Companies"),
        ("leads", "Leads"),
    ] {
        let list = state[kind].as_array().map(Vec::as_slice).unwrap_or(&[]);
        out.push_str(&format!("{title} ({})\n", list.len()));
        for e in list {
            out.push_str(&format!("  #{:<9} {}\n", e["id"], text(&e["name"])));
            let mut details = Vec::new();
            if kind == "leads" {
                let (p, s) = (
                    e["pipeline_id"].as_i64().unwrap_or(0),
                    e["status_id"].as_i64().unwrap_or(0),
                );
                let stage = stage_names
                    .iter()
                    .find(|(pp, ss, _)| *pp == p && *ss == s)
                    .map(|x| x.2.as_str());
                details.push(
                    format!("stage {p}:{s} {}", stage.unwrap_or(""))
                        .trim_end()
                        .to_string(),
                );
                if let Some(price) = e["price"].as_i64() {
                    details.push(format!("price {price}"));
                }
            }
            for f in e["custom_fields_values"].as_array().into_iter().flatten() {
                let name = f["field_name"]
                    .as_str()
                    .or(f["field_code"].as_str())
                    .map(str::to_string);
                let values: Vec<String> = f["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| text(&v["value"]))
                    .collect();
                details.push(format!(
                    "{}: {}",
                    name.unwrap_or_else(|| f["field_id"].to_string()),
                    values.join("; ")
                ));
            }
            let tags: Vec<String> = e["_embedded"]["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| text(&t["name"]))
                .collect();
            if !tags.is_empty() {
                details.push(format!("tags: {}", tags.join(", ")));
            }
            for link in ["contacts", "companies"] {
                let ids: Vec<String> = e["_embedded"][link]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| x["id"].to_string())
                    .collect();
                if !ids.is_empty() {
                    details.push(format!("{link}: {}", ids.join(", ")));
                }
            }
            for d in details {
                out.push_str(&format!("             {d}\n"));
            }
        }
    }
    out.push_str(&notes(state));
    out.push_str(&tasks(state));
    out
}

/// Tasks for managers: on which entity, when due, and their text.
fn tasks(state: &Value) -> String {
    let list = state["tasks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut out = format!("Tasks ({})\n", list.len());
    for t in list {
        let on = format!("{} #{}", text(&t["entity_type"]), t["entity_id"]);
        let due = t["complete_till"]
            .as_i64()
            .map(crate::log::timestamp)
            .unwrap_or_default();
        out.push_str(&format!(
            "  #{:<9} on {on}, due {due}: {}\n",
            t["id"],
            text(&t["text"])
        ));
    }
    out
}

/// Notes on the timelines: on which entity, and their text.
fn notes(state: &Value) -> String {
    let list = state["notes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut out = format!("Notes ({})\n", list.len());
    for n in list {
        let on = format!("{} #{}", text(&n["entity_type"]), n["entity_id"]);
        let body = n["params"]["text"].as_str().unwrap_or("");
        out.push_str(&format!("  #{:<9} on {on}: {body}\n", n["id"]));
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn stage_names(state: &Value) -> Vec<(i64, i64, String)> {
    let mut v = Vec::new();
    for p in state["pipelines"].as_array().into_iter().flatten() {
        let pid = p["id"].as_i64().unwrap_or(0);
        for s in p["_embedded"]["statuses"].as_array().into_iter().flatten() {
            v.push((
                pid,
                s["id"].as_i64().unwrap_or(0),
                format!("({} / {})", text(&p["name"]), text(&s["name"])),
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_entities_with_their_stage_and_links() {
        let state = json!({
            "pipelines": [{"id": 1, "name": "Хостинг", "_embedded": {"statuses": [{"id": 143, "name": "Закрыто"}]}}],
            "contacts": [{"id": 5, "name": "Иван", "custom_fields_values": [
                {"field_code": "EMAIL", "values": [{"value": "i@x.ru"}]}], "_embedded": {"tags": [{"name": "vip"}]}}],
            "companies": [],
            "leads": [{"id": 9, "name": "vps", "price": 590, "pipeline_id": 1, "status_id": 143,
                "_embedded": {"contacts": [{"id": 5}]}}]
        });
        let text = render(&state);
        assert!(
            text.contains("Contacts (1)")
                && text.contains("EMAIL: i@x.ru")
                && text.contains("tags: vip")
        );
        assert!(text.contains("Companies (0)") && text.contains("Notes (0)"));
        assert!(text.contains("Tasks (0)"));
        let tasked = json!({"tasks": [{"id": 4, "entity_type": "leads", "entity_id": 9,
            "complete_till": 1_752_364_800, "text": "Позвонить"}]});
        assert!(
            render(&tasked).contains("on leads #9, due "),
            "{}",
            render(&tasked)
        );
        let noted = json!({"notes": [{"id": 3, "entity_type": "contacts", "entity_id": 5,
            "params": {"text": "Оплата 10.00 RUB зачислена."}}]});
        let shown = render(&noted);
        assert!(
            shown.contains("on contacts #5: Оплата 10.00 RUB зачислена."),
            "{shown}"
        );
        assert!(
            text.contains("stage 1:143 (Хостинг / Закрыто)") && text.contains("contacts: 5"),
            "{text}"
        );
    }
}
