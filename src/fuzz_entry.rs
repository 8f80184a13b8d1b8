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
    use crate::config::Sources;
    use crate::config::edit::{Change, apply_text};

    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let conf = parts.next().unwrap_or("");
    let custom = parts.next();
    let default = parts.next().unwrap_or(PRESETS_DEFAULT);
    let sources = Sources::texts(conf, default, custom);
    let mut problems = Vec::new();
    sources.vocabulary(&mut problems);
    for p in &problems {
        assert!(p.line > 0, "a presets problem without its line: {p}");
    }
    match sources.config() {
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
    let well_formed = sources.shape_problems().is_empty();
    if let Ok(edited) = apply_text(conf, &[Change::set("sync", "batch_size", value)])
        && well_formed
    {
        let edited = sources.with_conf(&edited);
        let after = edited.shape_problems();
        assert!(after.is_empty(), "the edit broke the file: {after:?}");
        let values = edited.values().expect("a text is always readable");
        assert_eq!(
            values.get("sync", "batch_size"),
            Some(value),
            "the value written is not the value read back"
        );
        let _ = edited.config();
    }
}
