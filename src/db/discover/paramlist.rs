//! The panel's answer to `paramlist`: its settings as `/doc/elem/<Name>value</Name>`.
//!
//! ```xml
//! <doc><elem><DBHost>localhost</DBHost></elem><elem><DBName>billmgr</DBName></elem>…</doc>
//! ```
//!
//! One parameter an `elem`, named by the element. That is how ISPsystem's own code reads
//! it: ISPsystemLLC/billmanager `processing/certificate/sslstore/util.cpp`
//! `GetMgrConfParam` (lines 181–186: `ClientQuery("out=xml&func=paramlist")`, then for
//! each node of `/doc/elem` its first child's name and text), and
//! `processing/registrar/processing/pmregistrar.php` `GetConnection` (lines 43–53:
//! `LocalQuery("paramlist")`, whose `mgrctl -m billmgr -o xml` answer it reads as
//! `//elem/*`); ISPsystem's Python library takes the same list as one-key objects (ea0hw33/billmgr
//! `billmgr/config.py`, `out=bjson`). An `<error>` under `doc` is a failed call, as
//! that library reads it (`billmgr/misc.py` `MgrctlXml`).

use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};

use super::params::PanelParams;

/// The database parameters in the answer (others are ignored), or why it is not one.
pub fn parse(xml: &[u8]) -> Result<PanelParams, String> {
    let mut params = PanelParams::default();
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    // The element path from the root: `doc`, `elem`, the parameter.
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut value = String::new();
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not XML: {e}"))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                check_element(&path, &name, seen_root)?;
                seen_root = true;
                path.push(name);
                value.clear();
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_vec();
                check_element(&path, &name, seen_root)?;
                seen_root = true;
                if let Some(param) = parameter(&path, &name) {
                    params.set(&param, "");
                }
            }
            Event::Text(t) if path.len() == 3 => {
                value.push_str(&t.decode().map_err(|e| format!("not text: {e}"))?);
            }
            Event::CData(t) if path.len() == 3 => {
                value.push_str(&t.decode().map_err(|e| format!("not text: {e}"))?);
            }
            Event::GeneralRef(r) if path.len() == 3 => value.push_str(&reference(&r)?),
            Event::End(_) => {
                if let Some(name) = path.pop()
                    && let Some(param) = parameter(&path, &name)
                {
                    params.set(&param, &value);
                }
            }
            Event::Eof if seen_root && path.is_empty() => return Ok(params),
            Event::Eof => return Err("not a whole document".to_string()),
            _ => {}
        }
        buf.clear();
    }
}

/// Refuses what is not a `paramlist` answer: another root, or the panel's error.
fn check_element(path: &[Vec<u8>], name: &[u8], seen_root: bool) -> Result<(), String> {
    match path.len() {
        0 if seen_root => Err("more than one root element".to_string()),
        0 if name != b"doc" => Err(format!(
            "the root element is <{}>, not <doc>",
            String::from_utf8_lossy(name)
        )),
        1 if name == b"error" => Err("the panel answered with an error".to_string()),
        _ => Ok(()),
    }
}

/// The parameter an element at this place names: a child of `/doc/elem`.
fn parameter(parents: &[Vec<u8>], name: &[u8]) -> Option<String> {
    match parents {
        [doc, elem] if doc == b"doc" && elem == b"elem" => {
            Some(String::from_utf8_lossy(name).into_owned())
        }
        _ => None,
    }
}

/// `&amp;`, `&#38;` and the like inside a value.
fn reference(r: &BytesRef<'_>) -> Result<String, String> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Ok(c.to_string());
    }
    let name = r.decode().map_err(|e| format!("not text: {e}"))?;
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(str::to_string)
        .ok_or_else(|| format!("unknown entity &{name};"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(xml: &str) -> Result<String, String> {
        parse(xml.as_bytes()).map(|p| p.url().expose().to_string())
    }

    #[test]
    fn reads_the_database_parameters_of_the_answer() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc lang=\"ru\" func=\"paramlist\">\
            <elem><BinaryName>billmgr</BinaryName></elem>\
            <elem><DBHost>db.example</DBHost></elem>\
            <elem><DBUser>billing</DBUser></elem>\
            <elem><DBPassword>a&amp;b&#33; c</DBPassword></elem>\
            <elem><DBName><![CDATA[bill]]>mgr</DBName></elem>\
            <tparams><DBHost>not.this</DBHost></tparams></doc>\n";
        assert_eq!(
            url(xml).as_deref(),
            Ok("mysql://billing:a%26b%21%20c@db.example:3306/billmgr")
        );
    }

    #[test]
    fn an_answer_without_database_parameters_is_empty() {
        let p = parse(b"<doc><elem><Option>EULA</Option></elem><elem/></doc>").expect("doc");
        assert!(p.is_empty());
        let p = parse(b"<doc><elem><DBPassword/></elem></doc>").expect("doc");
        assert!(!p.is_empty());
    }

    #[test]
    fn refuses_what_is_not_an_answer() {
        for bad in [
            "",
            "mgrctl: command not found",
            "<html><body>502</body></html>",
            "<doc><elem><DBHost>x</DBHost></elem>",
            "<doc/><doc/>",
            "<doc><elem><DBHost>&nope;</DBHost></elem></doc>",
            "<doc><error type=\"access\"><msg>denied</msg></error></doc>",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(
            parse(b"<doc><error type=\"x\"/></doc>")
                .expect_err("error")
                .contains("error")
        );
    }
}
