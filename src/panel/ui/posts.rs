//! `amocrm.posts`: the notes and tasks the module set in amoCRM, newest first: what each
//! is about (its key), where it is, amoCRM's id, when it was set (or that its answer is
//! awaited), a task's due time and the text.

use super::page::datetime;
use super::{Ctx, ListPage, UiResult};
use crate::db::{PostKind, Posted};

/// The values of the list's `type="msg"` columns (a test checks each has its texts).
#[cfg(test)]
pub(super) fn msg_cells() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![("what", vec!["note", "task"])]
}

pub fn list(ctx: &Ctx<'_>) -> UiResult {
    let mut db = ctx.db()?;
    let paging = ctx.paging();
    let total = db.post_count().map_err(|e| ctx.db_error(e))?;
    let posts = db
        .posts_page(paging.offset(), paging.cnt)
        .map_err(|e| ctx.db_error(e))?;
    let mut page = ListPage::new();
    for p in &posts {
        page.row(&row(p));
    }
    Ok(page.render(ctx, usize::try_from(total).unwrap_or(0), paging))
}

fn row(p: &Posted) -> [(&'static str, String); 7] {
    let entity = p.entity_type.trim_end_matches('s');
    let due = match p.kind {
        PostKind::Task => datetime(p.due).unwrap_or_default(),
        PostKind::Note => String::new(),
    };
    [
        ("id", p.key.clone()),
        ("what", p.kind.as_str().to_string()),
        ("on", format!("{entity} {}", p.entity_id)),
        (
            "amocrm_id",
            p.amocrm_id.map(|id| id.to_string()).unwrap_or_default(),
        ),
        ("posted", datetime(p.posted_at).unwrap_or_default()),
        ("due", due),
        ("text", p.text.clone()),
    ]
}
