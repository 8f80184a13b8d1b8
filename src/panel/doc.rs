//! The XML documents: what the handler needs to know of the panel's document, and the
//! documents the module itself answers with.

use quick_xml::Reader;
use quick_xml::events::Event;

/// What the module reads from the document a function produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocInfo {
    /// The document parsed as XML with a root element.
    pub well_formed: bool,
    /// The function failed (`<error>` under the root): nothing to sync.
    pub error: bool,
    /// `<ok/>` under the root: a submitted form succeeded.
    pub ok: bool,
    /// `<id>` under the root: the id of an object just created.
    pub id: Option<i64>,
}

/// Reads just the root's direct children that matter. Never fails: a document that is not
/// XML is reported as such and still passed through by the caller.
pub fn inspect(xml: &[u8]) -> DocInfo {
    let mut info = DocInfo::default();
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut in_id = false;
    let mut seen_root = false;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                depth += 1;
                if depth == 1 {
                    seen_root = true;
                } else if depth == 2 {
                    match e.local_name().as_ref() {
                        b"error" => info.error = true,
                        b"ok" => info.ok = true,
                        b"id" => in_id = true,
                        _ => {}
                    }
                }
            }
            Ok(Event::Empty(e)) => {
                if depth == 0 {
                    seen_root = true;
                } else if depth == 1 {
                    match e.local_name().as_ref() {
                        b"error" => info.error = true,
                        b"ok" => info.ok = true,
                        _ => {}
                    }
                }
            }
            Ok(Event::Text(t)) if in_id => {
                if let Ok(s) = std::str::from_utf8(&t) {
                    info.id = s.trim().parse().ok().filter(|id: &i64| *id > 0);
                }
            }
            Ok(Event::End(_)) => {
                in_id = false;
                depth = depth.saturating_sub(1);
            }
            Ok(Event::Eof) => {
                info.well_formed = seen_root && depth == 0;
                return info;
            }
            Ok(_) => {}
            Err(_) => {
                return DocInfo {
                    well_formed: false,
                    ..info
                };
            }
        }
        buf.clear();
    }
}

/// Escapes text for an XML element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The panel's error document for a message shown to the user.
pub fn error_doc(func: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc func=\"{}\"><error type=\"xml\" report=\"no\"><msg>{}</msg></error></doc>\n",
        escape(func),
        escape(message)
    )
}

/// What the handler prints when the panel gave it no document at all.
pub const EMPTY_DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc/>\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ok_and_new_id() {
        let d = inspect(
            br#"<?xml version="1.0"?><doc func="account.edit"><ok/><id>7</id><tparams><id>99</id></tparams></doc>"#,
        );
        assert!(d.well_formed && d.ok && !d.error);
        assert_eq!(d.id, Some(7));
    }

    #[test]
    fn sees_errors_and_malformed_docs() {
        let d = inspect(b"<doc><error type=\"value\"><msg>x</msg></error></doc>");
        assert!(d.error && d.well_formed);
        assert!(!inspect(b"<doc><ok/>").well_formed);
        assert!(!inspect(b"").well_formed);
        assert!(!inspect(b"\xff\xfe binary").well_formed);
        assert!(inspect(b"<doc/>").well_formed);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("a<b>&\"c'\u{1}\u{fffe}\u{ffff}"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{fffd}\u{fffd}\u{fffd}"
        );
        let doc = error_doc("amocrm.x", "<script>");
        assert!(inspect(doc.as_bytes()).error);
        assert!(doc.contains("&lt;script&gt;"));
    }
}
