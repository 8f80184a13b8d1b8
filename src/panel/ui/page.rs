//! The documents the module's own functions answer with: a list's rows, a form's values and
//! choices, ok, redirects and errors, put into the document the panel handed in (which
//! already holds the function's metadata and messages).

use super::Ctx;
use crate::panel::doc::escape;

/// Rows of a list, with the panel's paging.
#[derive(Debug, Default)]
pub struct ListPage {
    body: String,
}

impl ListPage {
    pub fn new() -> ListPage {
        ListPage::default()
    }

    /// One `<elem>` with its columns, in the order given.
    pub fn row(&mut self, cols: &[(&str, String)]) {
        self.body.push_str("<elem>");
        for (name, value) in cols {
            push_element(&mut self.body, name, value);
        }
        self.body.push_str("</elem>\n");
    }

    /// The document: rows, then the total and the page shown.
    pub fn render(mut self, ctx: &Ctx<'_>, total: usize, paging: Paging) -> String {
        self.body.push_str(&format!(
            "<p_elems>{total}</p_elems><p_num>{}</p_num><p_cnt>{}</p_cnt>\n",
            paging.num, paging.cnt
        ));
        ctx.wrap(&self.body)
    }
}

/// A form's values and select choices.
#[derive(Debug, Default)]
pub struct FormPage {
    body: String,
}

impl FormPage {
    pub fn new() -> FormPage {
        FormPage::default()
    }

    /// A field's value (`<name>value</name>`); an empty one is sent as `<name/>`.
    pub fn value(&mut self, name: &str, value: &str) -> &mut Self {
        push_element(&mut self.body, name, value);
        self
    }

    /// The choices of a select: `<slist name><val key>label</val>…</slist>`.
    pub fn slist(&mut self, name: &str, choices: &[(String, String)]) -> &mut Self {
        self.body
            .push_str(&format!("<slist name=\"{}\">", escape(name)));
        for (key, label) in choices {
            self.body.push_str(&format!(
                "<val key=\"{}\">{}</val>",
                escape(key),
                escape(label)
            ));
        }
        self.body.push_str("</slist>\n");
        self
    }

    pub fn render(self, ctx: &Ctx<'_>) -> String {
        ctx.wrap(&self.body)
    }
}

fn push_element(out: &mut String, name: &str, value: &str) {
    if value.is_empty() {
        out.push_str(&format!("<{name}/>"));
    } else {
        out.push_str(&format!("<{name}>{}</{name}>", escape(value)));
    }
}

/// The page of a list the panel asks for (`p_num` from 1, `p_cnt` rows a page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub num: usize,
    pub cnt: usize,
}

impl Paging {
    pub const DEFAULT_CNT: usize = 50;
    pub const MAX_CNT: usize = 1000;

    pub fn from_params(num: Option<&str>, cnt: Option<&str>) -> Paging {
        let num = num
            .and_then(|s| s.parse().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(1);
        let cnt = cnt
            .and_then(|s| s.parse().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(Self::DEFAULT_CNT)
            .min(Self::MAX_CNT);
        Paging { num, cnt }
    }
    pub fn offset(&self) -> usize {
        (self.num - 1).saturating_mul(self.cnt)
    }
}

/// `YYYY-MM-DD HH:MM` in local time, as the panel's lists show dates; 0 is "never".
pub fn datetime(unix: i64) -> Option<String> {
    if unix <= 0 {
        return None;
    }
    let full = crate::log::local_datetime(unix);
    Some(full[..16].to_string())
}

/// Inserts `body` into the panel's document before its root's end tag; makes a new
/// `<doc>` when the panel sent none (or something that is not one).
pub fn wrap_doc(input: &[u8], func: &str, lang: &str, body: &str) -> String {
    if let Ok(text) = std::str::from_utf8(input) {
        let trimmed = text.trim_end();
        if crate::panel::doc::inspect(input).well_formed {
            if let Some(pos) = trimmed.rfind("</doc>")
                && trimmed[pos..].trim() == "</doc>"
            {
                return format!("{}{body}</doc>\n", &trimmed[..pos]);
            }
            if let Some(stripped) = trimmed.strip_suffix("/>")
                && let Some(start) = stripped.rfind("<doc")
                && !stripped[start..].contains('>')
            {
                return format!("{stripped}>{body}</doc>\n");
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc lang=\"{}\" func=\"{}\">{body}</doc>\n",
        escape(lang),
        escape(func)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_goes_inside_the_panels_document() {
        let doc = br#"<?xml version="1.0"?><doc func="amocrm.queue"><metadata name="x"/></doc>
"#;
        let out = wrap_doc(doc, "amocrm.queue", "en", "<elem/>");
        assert!(
            out.ends_with("<metadata name=\"x\"/><elem/></doc>\n"),
            "{out}"
        );
        let out = wrap_doc(b"<doc func=\"f\"/>", "f", "en", "<a/>");
        assert_eq!(out, "<doc func=\"f\"><a/></doc>\n");
        let out = wrap_doc(b"not xml </doc>", "f", "ru", "<a/>");
        assert!(
            out.contains("<doc lang=\"ru\" func=\"f\"><a/></doc>"),
            "{out}"
        );
        let out = wrap_doc(b"", "f\"<", "en", "");
        assert!(out.contains("func=\"f&quot;&lt;\""));
    }

    #[test]
    fn paging_is_bounded() {
        assert_eq!(Paging::from_params(None, None), Paging { num: 1, cnt: 50 });
        let p = Paging::from_params(Some("3"), Some("20"));
        assert_eq!(p.offset(), 40);
        assert_eq!(Paging::from_params(Some("-1"), Some("x")).num, 1);
        assert_eq!(Paging::from_params(None, Some("99999999")).cnt, 1000);
    }

    #[test]
    fn rows_escape_their_values() {
        let mut l = ListPage::new();
        l.row(&[("name", "<b>&".into()), ("empty", String::new())]);
        assert_eq!(l.body, "<elem><name>&lt;b&gt;&amp;</name><empty/></elem>\n");
        assert_eq!(datetime(0), None);
        assert!(datetime(1_700_000_000).unwrap().starts_with("2023-11-1"));
    }
}
