//! One call of a module function as every screen sees it: who calls, in which language,
//! the request and the panel's document; the texts and error documents in that language.

use super::text::{self, Lang};
use crate::db::{DbError, PanelDb};
use crate::panel::doc::escape;
use crate::panel::request::Request;
use crate::paths::Paths;

/// A failure shown to the admin as the panel's error document, already in their language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiError(pub String);

pub type UiResult = Result<String, UiError>;

/// One call of a module function.
pub struct Ctx<'a> {
    pub paths: &'a Paths,
    pub req: &'a Request,
    /// The panel's document from stdin.
    pub input: &'a [u8],
    pub lang: Lang,
}

impl<'a> Ctx<'a> {
    pub fn new(paths: &'a Paths, req: &'a Request, input: &'a [u8]) -> Ctx<'a> {
        let lang = doc_lang(input)
            .or_else(|| req.lang.clone())
            .map(|l| Lang::parse(&l))
            .unwrap_or(Lang::Ru);
        Ctx {
            paths,
            req,
            input,
            lang,
        }
    }

    pub fn func(&self) -> &str {
        &self.req.func
    }

    /// A text of the module description in the caller's language.
    pub fn text(&self, section: &str, name: &str, params: &[(&str, &str)]) -> String {
        text::text(self.lang, section, name, params)
    }

    /// A text of `amocrm.common`.
    pub fn common(&self, name: &str, params: &[(&str, &str)]) -> String {
        self.text("amocrm.common", name, params)
    }

    /// An error with a text of `amocrm.common`.
    pub fn fail(&self, name: &str, params: &[(&str, &str)]) -> UiError {
        UiError(self.common(name, params))
    }

    /// A database failure as the admin sees it.
    pub fn db_error(&self, e: DbError) -> UiError {
        self.fail("database", &[("error", &e.to_string())])
    }

    /// Who is calling, for the action log: `admin (level 29)`.
    pub fn who(&self) -> String {
        format!(
            "{} (level {})",
            self.req.auth_user.as_deref().unwrap_or("?"),
            self.req.auth_level.map_or("?".into(), |l| l.to_string())
        )
    }

    /// Records a change made from the panel in the action log, with who made it.
    pub fn audit(&self, what: &str) {
        log::info!("{}: {} by {}", self.func(), what, self.who());
    }

    /// The panel database amocrm.conf names, with the module's tables in place.
    pub fn db(&self) -> Result<Box<dyn PanelDb>, UiError> {
        let settings = match crate::config::Sources::read_conf(self.paths).hook() {
            Ok(light) => light.database,
            Err(problems) => {
                return Err(self.fail("config", &[("error", &problems.to_string())]));
            }
        };
        crate::db::open_panel(&settings, self.paths).map_err(|e| self.db_error(e))
    }

    /// A parameter that is present and not blank.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.req.param(name)
    }

    /// `elid` of a group action, as text (ids that are not numbers included), split the
    /// way the panel joins them (", ").
    pub fn elid_list(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .param("elid")
            .unwrap_or("")
            .split(", ")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        out.dedup();
        out
    }

    pub fn paging(&self) -> Paging {
        Paging::from_params(self.param("p_num"), self.param("p_cnt"))
    }

    /// The panel's document with `body` added.
    pub fn wrap(&self, body: &str) -> String {
        wrap_doc(self.input, self.func(), self.lang.as_str(), body)
    }

    /// `<doc><ok/></doc>`: a submitted form or an action succeeded.
    pub fn ok(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc func=\"{}\"><ok/></doc>\n",
            escape(self.func())
        )
    }

    /// Success that takes the browser elsewhere: `kind` is `list`, `form`, `top`,
    /// `blank` (a new window) or `url`; `target` is e.g. `func=amocrm.bindings`.
    pub fn ok_redirect(&self, kind: &str, target: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc func=\"{}\"><ok type=\"{}\">{}</ok></doc>\n",
            escape(self.func()),
            escape(kind),
            escape(target)
        )
    }

    /// The panel's error document with this message.
    pub fn error_doc(&self, message: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc func=\"{}\"><error type=\"xml\" report=\"no\" lang=\"{}\"><msg>{}</msg></error></doc>\n",
            escape(self.func()),
            self.lang.as_str(),
            escape(message)
        )
    }
}

/// The `lang` attribute of the panel's document's root, if any.
fn doc_lang(input: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                return e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == b"lang")
                    .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
                    .filter(|v| !v.is_empty());
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
        buf.clear();
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
}
