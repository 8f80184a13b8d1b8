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
mod ctx;
mod export;
mod posts;
mod queue;
mod rules;
mod settings;

use crate::panel::request::Request;
use crate::paths::Paths;
pub use ctx::{Ctx, Paging, UiError, UiResult};
pub use page::{FormPage, ListPage, entity_label};
pub use text::Lang;

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
