//! Pure entry points over bytes for the fuzz targets in `fuzz/` (cargo-fuzz builds with
//! `--cfg fuzzing`): each runs the module's real parsers on untrusted input and checks what
//! must hold whatever the input.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::panel::doc;
use crate::panel::events::{self, Decision};
use crate::panel::request::Request;

pub use crate::amo::fuzz_entry::amo_response;

/// The shipped presets, the vocabulary most amocrm.conf files are written against.
pub const PRESETS_DEFAULT: &str = include_str!("../etc/presets.default");

/// A panel call: `KEY=VALUE` lines (the environment, any bytes), a NUL, then the
/// function's XML document.
pub fn panel_call(data: &[u8]) {
    let (env, xml) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let vars = env.split(|b| *b == b'\n').map(|line| {
        let (k, v) = match line.iter().position(|b| *b == b'=') {
            Some(at) => (&line[..at], &line[at + 1..]),
            None => (line, &[][..]),
        };
        (
            OsString::from_vec(k.to_vec()),
            OsString::from_vec(v.to_vec()),
        )
    });
    let req = Request::from_vars(vars);
    let info = doc::inspect(xml);
    assert!(
        info.id.is_none_or(|id| id > 0),
        "a document id must be positive"
    );
    assert!(
        req.elids().iter().all(|id| *id > 0),
        "elids must be positive"
    );
    let _ = req.submitted();
    match events::decide(&req, &info) {
        Decision::Queue(jobs) => {
            assert!(!jobs.is_empty(), "a queue decision without jobs");
            for job in &jobs {
                assert!(job.billmgr_id.is_some() || job.lookup.is_some());
                assert!(!job.key().is_empty());
            }
        }
        Decision::Ignore(why) => assert!(!why.is_empty()),
    }
    // Whatever the panel passed, the module's own error document for it stays XML.
    let text = String::from_utf8_lossy(xml);
    let answer = doc::error_doc(&req.func, &text);
    let back = doc::inspect(answer.as_bytes());
    assert!(
        back.well_formed && back.error,
        "error_doc is not XML: {answer:?}"
    );
}

/// amocrm.conf, then optionally a NUL and presets.custom, then optionally a NUL and a
/// presets.default replacing the shipped one.
pub fn config(data: &[u8]) {
    use crate::config::edit::{Change, apply_text};
    use crate::config::{conf_text, presets_text, shape_problems, values_text};
    use crate::rules::Vocabulary;
    // The shipped presets are read once: they are most of the text of every run.
    static SHIPPED: std::sync::OnceLock<Vocabulary> = std::sync::OnceLock::new();

    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let conf = parts.next().unwrap_or("");
    let custom = parts.next();
    let mut problems = Vec::new();
    let vocab = match parts.next() {
        Some(default) => presets_text(default, custom, &mut problems),
        None => {
            let shipped = SHIPPED.get_or_init(|| {
                let mut problems = Vec::new();
                let vocab = presets_text(PRESETS_DEFAULT, None, &mut problems);
                assert!(problems.is_empty(), "the shipped presets: {problems:?}");
                vocab
            });
            let mut vocab = shipped.clone();
            if let Some(custom) = custom {
                // Later names win, as presets.custom's do over presets.default's.
                let own = presets_text(custom, None, &mut problems);
                vocab.values.extend(own.values);
                vocab.validators.extend(own.validators);
            }
            vocab
        }
    };
    for p in &problems {
        assert!(p.line > 0, "a presets problem without its line: {p}");
    }
    match conf_text(conf, &vocab) {
        Ok(config) => {
            assert!((1..=250).contains(&config.sync.batch_size));
            assert!(config.sync.rate_limit.is_finite() && config.sync.rate_limit > 0.0);
        }
        Err(problems) => {
            assert!(!problems.0.is_empty());
            let _ = problems.to_string();
        }
    }
    let _ = crate::config::rule_lines(conf);
    // The panel's edits keep a well-formed file well-formed, and a value written is the
    // value read back.
    let value = custom.unwrap_or("").lines().next().unwrap_or("");
    let well_formed = shape_problems(conf).is_empty();
    if let Ok(edited) = apply_text(conf, &[Change::set("sync", "batch_size", value)])
        && well_formed
    {
        let after = shape_problems(&edited);
        assert!(
            after.is_empty(),
            "the edit broke the file: {after:?} in {edited:?}"
        );
        assert_eq!(
            values_text(&edited).get("sync", "batch_size"),
            Some(value),
            "the value written is not the value read back from {edited:?}"
        );
        let _ = conf_text(&edited, &vocab);
    }
}
