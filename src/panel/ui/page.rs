//! The documents the module's own functions answer with: a list's rows, a form's values and
//! choices, ok, redirects and errors, put into the document the panel handed in (which
//! already holds the function's metadata and messages).

use super::ctx::{Ctx, Paging};
use crate::db::PanelDb;
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

/// `YYYY-MM-DD HH:MM` in local time, as the panel's lists show dates; 0 is "never".
pub fn datetime(unix: i64) -> Option<String> {
    if unix <= 0 {
        return None;
    }
    let full = crate::log::local_datetime(unix);
    Some(full[..16].to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_escape_their_values() {
        let mut l = ListPage::new();
        l.row(&[("name", "<b>&".into()), ("empty", String::new())]);
        assert_eq!(l.body, "<elem><name>&lt;b&gt;&amp;</name><empty/></elem>\n");
        assert_eq!(datetime(0), None);
        assert!(datetime(1_700_000_000).unwrap().starts_with("2023-11-1"));
    }
}
