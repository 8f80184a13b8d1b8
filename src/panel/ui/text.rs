//! The texts the module shows, read from its own description (xml/billmgr_mod_amocrm.xml,
//! compiled in), so that every visible string lives in one place, in ru and in en.

use std::collections::HashMap;
use std::sync::OnceLock;

use quick_xml::Reader;
use quick_xml::events::Event;

/// The module description as shipped.
pub const DESCRIPTION: &str = include_str!("../../../xml/billmgr_mod_amocrm.xml");

/// The interface languages the description carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    /// `ru` or `en`; any other language gets English.
    pub fn parse(s: &str) -> Lang {
        if s.eq_ignore_ascii_case("ru") {
            Lang::Ru
        } else {
            Lang::En
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }
}

/// (lang, messages name, msg name) → text.
type Table = HashMap<(String, String, String), String>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| parse(DESCRIPTION))
}

/// Every `<lang name><messages name><msg name>` of a module description.
pub fn parse(xml: &str) -> Table {
    let mut out = Table::new();
    let mut reader = Reader::from_str(xml);
    let (mut lang, mut section, mut msg) = (None::<String>, None::<String>, None::<String>);
    let mut text = String::new();
    let attr = |e: &quick_xml::events::BytesStart<'_>, name: &[u8]| -> Option<String> {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == name)
            .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                b"lang" => lang = attr(&e, b"name"),
                b"messages" => section = attr(&e, b"name"),
                b"msg" => {
                    msg = attr(&e, b"name");
                    text.clear();
                }
                _ => {}
            },
            Ok(Event::Text(t)) if msg.is_some() => {
                if let Ok(s) = t.decode() {
                    text.push_str(&s);
                }
            }
            Ok(Event::GeneralRef(r)) if msg.is_some() => {
                let entity = match r.as_ref() {
                    b"amp" => "&",
                    b"lt" => "<",
                    b"gt" => ">",
                    b"quot" => "\"",
                    b"apos" => "'",
                    _ => "",
                };
                text.push_str(entity);
            }
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                b"msg" => {
                    if let (Some(l), Some(s), Some(m)) = (&lang, &section, msg.take()) {
                        out.insert((l.clone(), s.clone(), m), text.trim().to_string());
                    }
                }
                b"messages" => section = None,
                b"lang" => lang = None,
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    out
}

/// The text of `section`/`name` in `lang`, with `__param__` placeholders filled in. A
/// missing text falls back to English, then to the name itself (a test keeps both
/// languages complete, so that fallback is never seen in a release).
pub fn text(lang: Lang, section: &str, name: &str, params: &[(&str, &str)]) -> String {
    let t = table();
    let found = t
        .get(&(lang.as_str().into(), section.into(), name.into()))
        .or_else(|| t.get(&("en".into(), section.into(), name.into())));
    let mut s = found.cloned().unwrap_or_else(|| name.to_string());
    for (k, v) in params {
        s = s.replace(&format!("__{k}__"), v);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_come_in_both_languages_with_parameters() {
        assert_eq!(
            text(
                Lang::En,
                "amocrm.common",
                "unknown_function",
                &[("func", "amocrm.x")]
            ),
            "Unknown amoCRM module function: amocrm.x."
        );
        assert!(text(Lang::Ru, "amocrm.common", "denied", &[]).starts_with("Доступ запрещён"));
        assert_eq!(text(Lang::Ru, "nowhere", "nothing", &[]), "nothing");
        assert_eq!(Lang::parse("de"), Lang::En);
    }

    #[test]
    fn entities_in_texts_are_read() {
        let t = parse(
            r#"<mgrdata><lang name="en"><messages name="m"><msg name="a">x &amp; y &lt;z&gt;</msg></messages></lang></mgrdata>"#,
        );
        assert_eq!(t[&("en".into(), "m".into(), "a".into())], "x & y <z>");
    }
}
