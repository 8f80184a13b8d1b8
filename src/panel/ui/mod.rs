//! The module's own panel functions (`amocrm.*`): settings, bindings, queue, rules and the
//! full export. Each reads the request and the panel's document and answers with a
//! document; only administrators reach them, and every change is logged with who made it.
//!
//! The panel passes a `<doc>` already holding the function's metadata and messages from
//! the module description; the answer is that document with the data added.

pub mod page;
pub mod text;

mod amo_meta;
mod bindings;
mod export;
mod posts;
mod queue;
mod rules;
mod settings;

use crate::db::{DbError, PanelDb};
use crate::panel::doc::escape;
use crate::panel::request::Request;
use crate::paths::Paths;
pub use page::{FormPage, ListPage, Paging};
pub use text::Lang;

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
        let settings = match crate::config::load_light(self.paths) {
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
        page::wrap_doc(self.input, self.func(), self.lang.as_str(), body)
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

/// How a panel entity is shown in the module's lists: its name and id, or just the id
/// when it is gone from the panel.
pub fn entity_label(db: &mut dyn PanelDb, kind: crate::model::EntityKind, id: i64) -> String {
    match db
        .read(kind, id)
        .ok()
        .flatten()
        .and_then(|r| crate::sync::plan::entity_name(kind, &r))
    {
        Some(name) => format!("{name} (#{id})"),
        None => format!("#{id}"),
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

/// Answers one call of a module function. Never panics out: a bug becomes the panel's
/// error document and a line in the action log.
pub fn run(paths: &Paths, req: &Request, input: &[u8]) -> String {
    let ctx = Ctx::new(paths, req, input);
    if !req.is_admin() {
        log::warn!("{}: refused to {}", display(&ctx), ctx.who());
        return ctx.error_doc(&ctx.common("denied", &[]));
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(&ctx)));
    match outcome {
        Ok(Ok(doc)) => doc,
        Ok(Err(UiError(message))) => {
            log::warn!("{}: {} got an error: {message}", display(&ctx), ctx.who());
            ctx.error_doc(&message)
        }
        Err(_) => {
            log::error!("{}: internal error answering {}", display(&ctx), ctx.who());
            ctx.error_doc(&ctx.common("internal", &[]))
        }
    }
}

fn display<'c>(ctx: &'c Ctx<'_>) -> &'c str {
    if ctx.func().is_empty() {
        "(no function)"
    } else {
        ctx.func()
    }
}

type Handler = fn(&Ctx<'_>) -> UiResult;

/// Every module function and what answers it; the module description declares the same
/// set (a test checks both ways).
pub const FUNCTIONS: &[(&str, Handler)] = &[
    ("amocrm.settings", settings::form),
    ("amocrm.connection", settings::connection),
    ("amocrm.bindings", bindings::list),
    ("amocrm.bindings.filter", bindings::filter),
    ("amocrm.bindings.resync", bindings::resync),
    ("amocrm.bindings.unlink", bindings::unlink),
    ("amocrm.bindings.open", bindings::open),
    ("amocrm.queue", queue::list),
    ("amocrm.queue.retry", queue::retry),
    ("amocrm.queue.drop", queue::drop),
    ("amocrm.posts", posts::list),
    ("amocrm.rules", rules::list),
    ("amocrm.rules.edit", rules::edit),
    ("amocrm.rules.delete", rules::delete),
    ("amocrm.export", export::form),
];

fn dispatch(ctx: &Ctx<'_>) -> UiResult {
    match FUNCTIONS.iter().find(|(name, _)| *name == ctx.func()) {
        Some((_, handler)) => handler(ctx),
        None => Err(ctx.fail("unknown_function", &[("func", ctx.func())])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_declared_and_dispatched() {
        for (f, _) in FUNCTIONS {
            assert!(
                text::DESCRIPTION.contains(&format!("<func name=\"{f}\"/>")),
                "{f} is not declared in the module description"
            );
        }
        let declared = text::DESCRIPTION.matches("<func name=").count();
        assert_eq!(declared, FUNCTIONS.len());
    }

    /// (metadata, column) of every `type="msg"` list column the description declares.
    fn msg_columns() -> std::collections::BTreeSet<(String, String)> {
        use quick_xml::events::Event;
        let attr = |e: &quick_xml::events::BytesStart<'_>, name: &[u8]| {
            e.attributes()
                .flatten()
                .find(|a| a.key.as_ref() == name)
                .map(|a| String::from_utf8_lossy(&a.value).into_owned())
        };
        let mut reader = quick_xml::Reader::from_str(text::DESCRIPTION);
        let (mut meta, mut out) = (String::new(), std::collections::BTreeSet::new());
        loop {
            match reader.read_event().expect("well-formed") {
                Event::Start(e) if e.local_name().as_ref() == b"metadata" => {
                    meta = attr(&e, b"name").unwrap_or_default();
                }
                Event::Empty(e) | Event::Start(e)
                    if e.local_name().as_ref() == b"col"
                        && attr(&e, b"type").as_deref() == Some("msg") =>
                {
                    out.insert((meta.clone(), attr(&e, b"name").unwrap_or_default()));
                }
                Event::Eof => return out,
                _ => {}
            }
        }
    }

    #[test]
    fn every_msg_cell_value_has_both_message_names() {
        let cells = [
            ("amocrm.bindings", bindings::msg_cells()),
            ("amocrm.queue", queue::msg_cells()),
            ("amocrm.posts", posts::msg_cells()),
            ("amocrm.rules", rules::msg_cells()),
        ];
        let known: std::collections::BTreeSet<(String, String)> = cells
            .iter()
            .flat_map(|(f, cols)| cols.iter().map(|(c, _)| (f.to_string(), c.to_string())))
            .collect();
        assert_eq!(
            msg_columns(),
            known,
            "msg columns and the code's values differ"
        );
        let texts = text::parse(text::DESCRIPTION);
        for (func, cols) in &cells {
            for (col, values) in cols {
                for v in values {
                    for name in [v.to_string(), format!("{col}_{v}")] {
                        for lang in ["ru", "en"] {
                            let key = (lang.to_string(), func.to_string(), name.clone());
                            assert!(texts.contains_key(&key), "{lang}: {func}/{name}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn language_comes_from_the_document_then_the_cookie() {
        let paths = Paths::new("/nonexistent");
        let mut req = Request {
            lang: Some("en".into()),
            ..Request::default()
        };
        assert_eq!(Ctx::new(&paths, &req, b"<doc lang=\"ru\"/>").lang, Lang::Ru);
        assert_eq!(Ctx::new(&paths, &req, b"").lang, Lang::En);
        req.lang = None;
        assert_eq!(Ctx::new(&paths, &req, b"").lang, Lang::Ru);
    }
}
