//! Calling the module's own functions as the panel does, and checking the answers against
//! what the module description (xml/billmgr_mod_amocrm.xml) declares for each function.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::Panel;

pub const DESCRIPTION: &str = include_str!("../../xml/billmgr_mod_amocrm.xml");

/// Every module function the description declares (`<func name>`).
pub fn declared_functions() -> Vec<String> {
    DESCRIPTION
        .split("<func name=\"")
        .skip(1)
        .map(|s| s[..s.find('"').expect("closing quote")].to_string())
        .collect()
}

/// What the description declares for one function.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    /// `list` or `form`.
    pub kind: String,
    /// The list's `<col name>`s.
    pub cols: Vec<String>,
    /// The form's field controls (`input`, `select`, `textarea` names).
    pub fields: Vec<String>,
    /// The form's selects, which need an `<slist>`.
    pub selects: Vec<String>,
    /// The `<metadata>` element as written, which the panel puts into the document.
    pub metadata_xml: String,
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Every `<metadata>` of the description by name.
pub fn declared() -> BTreeMap<String, Declared> {
    let mut out = BTreeMap::new();
    let mut reader = Reader::from_str(DESCRIPTION);
    let mut current: Option<(String, Declared, usize)> = None;
    loop {
        let pos = reader.buffer_position() as usize;
        let ev = reader
            .read_event()
            .expect("the module description is well-formed XML");
        match &ev {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name();
                if name.as_ref() == b"metadata" {
                    let d = Declared {
                        kind: attr(e, b"type").unwrap_or_default(),
                        ..Declared::default()
                    };
                    current = Some((attr(e, b"name").expect("metadata name"), d, pos));
                } else if let Some((_, d, _)) = current.as_mut() {
                    match name.as_ref() {
                        b"col" => d.cols.push(attr(e, b"name").expect("col name")),
                        b"input" | b"textarea" => {
                            d.fields.push(attr(e, b"name").expect("field name"))
                        }
                        b"select" => {
                            let n = attr(e, b"name").expect("select name");
                            d.fields.push(n.clone());
                            d.selects.push(n);
                        }
                        _ => {}
                    }
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"metadata" => {
                if let Some((name, mut d, start)) = current.take() {
                    let end = reader.buffer_position() as usize;
                    d.metadata_xml = DESCRIPTION[start..end].trim().to_string();
                    out.insert(name, d);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// The document the panel hands a module function: its metadata and messages.
pub fn panel_doc(func: &str, lang: &str) -> String {
    let all = declared();
    let metadata = all
        .get(func)
        .map(|d| d.metadata_xml.clone())
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc lang=\"{lang}\" func=\"{func}\">{metadata}<messages name=\"{func}\"/></doc>\n"
    )
}

/// The answer of one call, parsed.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub raw: String,
    /// `<ok>` under the root, with its `type` and text.
    pub ok: Option<(Option<String>, String)>,
    /// `<error><msg>`'s text.
    pub error: Option<String>,
    /// Every `<elem>` as column → text.
    pub elems: Vec<BTreeMap<String, String>>,
    /// The root's other direct children with text (form values) → text.
    pub values: BTreeMap<String, String>,
    /// `<slist name>` → (key, label) pairs.
    pub slists: BTreeMap<String, Vec<(String, String)>>,
    pub p_elems: Option<usize>,
}

/// Parses a document; panics (failing the test) when it is not well-formed XML.
pub fn parse(raw: &str) -> Answer {
    let mut a = Answer {
        raw: raw.to_string(),
        ..Answer::default()
    };
    let mut reader = Reader::from_str(raw);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut elem: Option<BTreeMap<String, String>> = None;
    let mut slist: Option<(String, Vec<(String, String)>)> = None;
    let mut val_key = String::new();
    let mut ok_type = None;
    loop {
        let ev = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed XML ({e}):\n{raw}"));
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match (path.len(), name.as_str()) {
                    (1, "elem") => elem = Some(BTreeMap::new()),
                    (1, "slist") => slist = Some((attr(&e, b"name").unwrap_or_default(), vec![])),
                    (2, "val") if slist.is_some() => val_key = attr(&e, b"key").unwrap_or_default(),
                    (1, "ok") => ok_type = attr(&e, b"type"),
                    _ => {}
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match path.len() {
                    1 if name == "ok" => a.ok = Some((attr(&e, b"type"), String::new())),
                    1 if !matches!(name.as_str(), "metadata" | "messages" | "elem") => {
                        a.values.insert(name, String::new());
                    }
                    2 => {
                        if let Some(el) = elem.as_mut() {
                            el.insert(name, String::new());
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) => text.push_str(&t.decode().unwrap_or_default()),
            Event::GeneralRef(r) => text.push_str(match r.as_ref() {
                b"amp" => "&",
                b"lt" => "<",
                b"gt" => ">",
                b"quot" => "\"",
                b"apos" => "'",
                _ => "?",
            }),
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                let value = text.trim().to_string();
                match (path.len(), name.as_str()) {
                    (1, "elem") => a.elems.extend(elem.take()),
                    (1, "slist") => {
                        if let Some((n, v)) = slist.take() {
                            a.slists.insert(n, v);
                        }
                    }
                    (2, "val") => {
                        if let Some((_, v)) = slist.as_mut() {
                            v.push((val_key.clone(), value.clone()));
                        }
                    }
                    (2, "msg") if path.last().map(String::as_str) == Some("error") => {
                        a.error = Some(value.clone())
                    }
                    (1, "ok") => a.ok = Some((ok_type.take(), value.clone())),
                    (1, "p_elems") => a.p_elems = value.parse().ok(),
                    (1, "metadata" | "messages" | "error" | "p_num" | "p_cnt") => {}
                    (1, n) => {
                        a.values.insert(n.to_string(), value.clone());
                    }
                    (2, n) if elem.is_some() => {
                        if let Some(el) = elem.as_mut() {
                            el.insert(n.to_string(), value.clone());
                        }
                    }
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    a
}

impl Answer {
    /// Fails the test unless every column (list) or field (form) the description
    /// declares for `func` is present, and every select has its choices.
    pub fn assert_complete(&self, func: &str) {
        let all = declared();
        let d = all
            .get(func)
            .unwrap_or_else(|| panic!("{func} has no metadata in the module description"));
        assert!(
            self.error.is_none(),
            "{func} answered an error: {:?}",
            self.error
        );
        match d.kind.as_str() {
            "list" => {
                assert!(
                    self.p_elems.is_some(),
                    "{func}: no <p_elems>:\n{}",
                    self.raw
                );
                for (i, e) in self.elems.iter().enumerate() {
                    for c in &d.cols {
                        assert!(
                            e.contains_key(c),
                            "{func}: row {i} lacks column {c}:\n{}",
                            self.raw
                        );
                    }
                }
            }
            "form" => {
                for f in &d.fields {
                    assert!(
                        self.values.contains_key(f),
                        "{func}: field {f} missing:\n{}",
                        self.raw
                    );
                }
                for s in &d.selects {
                    assert!(
                        self.slists.contains_key(s),
                        "{func}: select {s} has no slist:\n{}",
                        self.raw
                    );
                }
            }
            other => panic!("{func}: unexpected metadata type {other}"),
        }
    }
}

impl Panel {
    /// Calls a module function as the panel does: `EVENT_TYPE=action`, the caller's
    /// login and level, `PARAM_*`, and the function's document on stdin.
    pub fn call(&self, func: &str, level: u32, params: &[(&str, &str)]) -> Answer {
        self.call_as(func, "admin", level, "en", params)
    }

    pub fn call_as(
        &self,
        func: &str,
        user: &str,
        level: u32,
        lang: &str,
        params: &[(&str, &str)],
    ) -> Answer {
        let level = level.to_string();
        let func_param = func.to_string();
        let cookie = format!("billmgrses5=0123abcd; billmgrlang5=billmgr:{lang}");
        let mut env: Vec<(String, String)> = vec![
            ("EVENT_TYPE".into(), "action".into()),
            ("ACTION_NAME".into(), func_param.clone()),
            ("PARAM_func".into(), func_param),
            ("AUTH_USER".into(), user.into()),
            ("AUTH_LEVEL".into(), level),
            ("HTTP_COOKIE".into(), cookie),
        ];
        for (k, v) in params {
            env.push((format!("PARAM_{k}"), v.to_string()));
        }
        let env_ref: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = self.handler(&env_ref, panel_doc(func, lang).as_bytes());
        assert!(
            out.status.success(),
            "{func} exited with {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        parse(&String::from_utf8(out.stdout).expect("the answer is UTF-8"))
    }
}
