//! Notes and tasks posted once (`amocrm_posted`). amoCRM does not deduplicate notes or
//! tasks, so each is recorded by a key of the module's own (a payment and what happened
//! to it, a task rule and a service's occurrence). The row is written, and committed,
//! before the create is sent, with no amoCRM id yet: a row still without one means a
//! create whose answer never came back, and amoCRM is looked at before it is sent again.

use std::collections::HashMap;

use super::DbResult;
use super::sql::{Driver, Row, Value, placeholders, write_tx};

/// What is posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostKind {
    Note,
    Task,
}

impl PostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PostKind::Note => "note",
            PostKind::Task => "task",
        }
    }

    fn parse(s: &str) -> Option<PostKind> {
        match s {
            "note" => Some(PostKind::Note),
            "task" => Some(PostKind::Task),
            _ => None,
        }
    }
}

/// A note or task about to be posted: its key and the amoCRM entity it goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    /// The module's own key, e.g. `payment:31:credited` (at most 191 characters).
    pub key: String,
    pub kind: PostKind,
    /// `contacts`, `companies` or `leads`.
    pub entity_type: String,
    pub entity_id: i64,
    /// What it says: a note's or a task's text.
    pub text: String,
    /// A task's due time (Unix); 0 for a note.
    pub due: i64,
    /// Who owns a task (amoCRM's user id); `None`: the integration's user.
    pub owner: Option<i64>,
}

/// A note or task as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub key: String,
    pub kind: PostKind,
    pub entity_type: String,
    pub entity_id: i64,
    /// What it says, as it was sent.
    pub text: String,
    /// A task's due time (Unix); 0 for a note.
    pub due: i64,
    /// Who owns a task.
    pub owner: Option<i64>,
    /// `None`: sent, and no answer recorded yet.
    pub amocrm_id: Option<i64>,
    /// When it was first marked (the first create sent after it).
    pub since: i64,
    /// When its answer was recorded; 0 until then.
    pub posted_at: i64,
}

const COLUMNS: &str =
    "post_key, what, entity_type, entity_id, body, due, owner, amocrm_id, since, posted_at";

fn posted_of(r: &Row) -> Option<Posted> {
    Some(Posted {
        key: r.get("post_key")?.to_string(),
        kind: PostKind::parse(r.get("what")?)?,
        entity_type: r.get("entity_type")?.to_string(),
        entity_id: r.int("entity_id")?,
        text: r.get("body").unwrap_or_default().to_string(),
        due: r.int("due").unwrap_or(0),
        owner: r.int("owner"),
        amocrm_id: r.int("amocrm_id"),
        since: r.int("since")?,
        posted_at: r.int("posted_at").unwrap_or(0),
    })
}

/// Marks these as about to be posted, since `now`. A key recorded already keeps its row:
/// an earlier create may have been made, or made it.
pub(crate) fn mark(d: &mut dyn Driver, posts: &[NewPost], now: i64) -> DbResult<()> {
    if posts.is_empty() {
        return Ok(());
    }
    write_tx(d, |d| {
        for p in posts {
            let known = d.query(
                "SELECT post_key FROM amocrm_posted WHERE post_key = ?",
                &[Value::from(p.key.as_str())],
            )?;
            if known.is_empty() {
                d.execute(
                    "INSERT INTO amocrm_posted \
                     (post_key, what, entity_type, entity_id, body, due, owner, since) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    &[
                        Value::from(p.key.as_str()),
                        Value::from(p.kind.as_str()),
                        Value::from(p.entity_type.as_str()),
                        Value::Int(p.entity_id),
                        Value::from(p.text.as_str()),
                        Value::Int(p.due),
                        p.owner.map_or(Value::Null, Value::Int),
                        Value::Int(now),
                    ],
                )?;
            }
        }
        Ok(())
    })
}

/// The recorded ones among these keys, by key.
pub(crate) fn of_keys(d: &mut dyn Driver, keys: &[&str]) -> DbResult<HashMap<String, Posted>> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(500) {
        let sql = format!(
            "SELECT {COLUMNS} FROM amocrm_posted WHERE post_key IN ({}) ORDER BY id",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|k| Value::from(*k)).collect();
        for p in d.query(&sql, &params)?.iter().filter_map(posted_of) {
            found.insert(p.key.clone(), p);
        }
    }
    Ok(found)
}

/// Those sent with no answer recorded, oldest first.
pub(crate) fn in_flight(d: &mut dyn Driver, kind: PostKind) -> DbResult<Vec<Posted>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM amocrm_posted WHERE what = ? AND amocrm_id IS NULL ORDER BY id"
    );
    let rows = d.query(&sql, &[Value::from(kind.as_str())])?;
    Ok(rows.iter().filter_map(posted_of).collect())
}

/// Records amoCRM's id of a posted one; returns whether its key was marked.
pub(crate) fn record(d: &mut dyn Driver, key: &str, amocrm_id: i64, now: i64) -> DbResult<bool> {
    let n = write_tx(d, |d| {
        d.execute(
            "UPDATE amocrm_posted SET amocrm_id = ?, posted_at = ? WHERE post_key = ?",
            &[Value::Int(amocrm_id), Value::Int(now), Value::from(key)],
        )
    })?;
    Ok(n > 0)
}

/// Takes the owner off a key (amoCRM refused the user): it is sent again without one.
pub(crate) fn disown(d: &mut dyn Driver, key: &str) -> DbResult<()> {
    write_tx(d, |d| {
        d.execute(
            "UPDATE amocrm_posted SET owner = NULL WHERE post_key = ?",
            &[Value::from(key)],
        )
    })?;
    Ok(())
}

/// Forgets a key (its entity is gone, so it is to be posted again elsewhere); returns
/// whether it was there.
pub(crate) fn forget(d: &mut dyn Driver, key: &str) -> DbResult<bool> {
    let n = write_tx(d, |d| {
        d.execute(
            "DELETE FROM amocrm_posted WHERE post_key = ?",
            &[Value::from(key)],
        )
    })?;
    Ok(n > 0)
}

/// How many are recorded.
pub(crate) fn count(d: &mut dyn Driver) -> DbResult<i64> {
    let rows = d.query("SELECT COUNT(*) AS n FROM amocrm_posted", &[])?;
    Ok(rows.first().and_then(Row::first_int).unwrap_or(0))
}

/// A page of what was posted, newest first (for the panel's list).
pub(crate) fn page(d: &mut dyn Driver, offset: usize, limit: usize) -> DbResult<Vec<Posted>> {
    let sql = format!("SELECT {COLUMNS} FROM amocrm_posted ORDER BY id DESC LIMIT ? OFFSET ?");
    let rows = d.query(&sql, &[Value::Int(limit as i64), Value::Int(offset as i64)])?;
    Ok(rows.iter().filter_map(posted_of).collect())
}
