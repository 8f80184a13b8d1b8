//! The job queue (`amocrm_queue`): keyed upserts from the panel hook, atomic claims and
//! generation-guarded finishes for the worker, counts and lists for the admin.

use super::sql::{Dialect, Driver, Row, SqlResult, Value, clip, placeholders, write_tx};
use super::{DbResult, Job, JobInfo, Lookup, NewJob, Outcome, QueueSummary};
use crate::model::EntityKind;

/// The width of `job_key`.
const KEY_MAX: usize = 191;
const EVENT_MAX: usize = 128;
/// Enough of an error to act on; amoCRM answers can be long.
const ERROR_MAX: usize = 4000;

/// The key as stored: a key too long for the column (a very long login) keeps a readable
/// head and a hash of the whole, so distinct keys stay distinct.
pub(crate) fn stored_key(job: &NewJob) -> String {
    let key = job.key();
    if key.len() <= KEY_MAX {
        return key;
    }
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}#{hash:016x}", clip(&key, KEY_MAX - 17))
}

fn upsert_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "INSERT INTO amocrm_queue (job_key, kind, billmgr_id, lookup, event, state, generation, \
             attempts, next_try, last_error, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 'pending', 1, 0, ?, NULL, ?, ?) \
             ON CONFLICT(job_key) DO UPDATE SET state = 'pending', generation = generation + 1, \
             event = excluded.event, next_try = excluded.next_try, updated_at = excluded.updated_at"
        }
        Dialect::Mysql => {
            "INSERT INTO amocrm_queue (job_key, kind, billmgr_id, lookup, event, state, generation, \
             attempts, next_try, last_error, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 'pending', 1, 0, ?, NULL, ?, ?) \
             ON DUPLICATE KEY UPDATE state = 'pending', generation = generation + 1, \
             event = VALUES(event), next_try = VALUES(next_try), updated_at = VALUES(updated_at)"
        }
    }
}

/// Upserts each job with its own time.
pub(crate) fn enqueue(d: &mut dyn Driver, jobs: &[(&NewJob, i64)]) -> DbResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let sql = upsert_sql(d.dialect());
    write_tx(d, |d| {
        for &(job, now) in jobs {
            d.execute(
                sql,
                &[
                    Value::from(stored_key(job)),
                    Value::from(job.kind.as_str()),
                    Value::from(job.billmgr_id),
                    Value::from(job.lookup.as_ref().map(Lookup::encode)),
                    Value::from(clip(&job.event, EVENT_MAX)),
                    Value::Int(now),
                    Value::Int(now),
                    Value::Int(now),
                ],
            )?;
        }
        Ok(())
    })
}

pub(crate) fn reset_taken(d: &mut dyn Driver) -> DbResult<u64> {
    Ok(d.execute(
        "UPDATE amocrm_queue SET state = 'pending' WHERE state = 'taken'",
        &[],
    )?)
}

fn job_of(r: &Row) -> Option<Job> {
    Some(Job {
        id: r.int("id")?,
        kind: EntityKind::parse(r.get("kind")?)?,
        billmgr_id: r.int("billmgr_id"),
        lookup: r.get("lookup").and_then(Lookup::decode),
        event: r.get("event").unwrap_or_default().to_string(),
        attempts: r.int("attempts").unwrap_or(0),
        generation: r.int("generation").unwrap_or(1),
        last_error: r.get("last_error").map(str::to_string),
    })
}

/// Marks up to `limit` due jobs of the given kinds taken, kind by kind in the order given,
/// oldest first within a kind, and returns them.
pub(crate) fn claim(
    d: &mut dyn Driver,
    kinds: &[EntityKind],
    now: i64,
    limit: usize,
) -> DbResult<Vec<Job>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let lock = match d.dialect() {
        Dialect::Mysql => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let pending = format!(
        "SELECT * FROM amocrm_queue WHERE state = 'pending' AND kind = ? ORDER BY id LIMIT ?{lock}"
    );
    let failed = format!(
        "SELECT * FROM amocrm_queue WHERE state = 'failed' AND kind = ? AND next_try <= ? \
         ORDER BY id LIMIT ?{lock}"
    );
    write_tx(d, |d| {
        let mut jobs: Vec<Job> = Vec::new();
        // One kind at a time, so accounts go before their payers and services.
        for &kind in kinds {
            let left = limit - jobs.len();
            if left == 0 {
                break;
            }
            let k = Value::from(kind.as_str());
            let n = Value::Int(left as i64);
            let mut these: Vec<Job> = d
                .query(&pending, &[k.clone(), n.clone()])?
                .iter()
                .chain(d.query(&failed, &[k, Value::Int(now), n])?.iter())
                .filter_map(job_of)
                .collect();
            these.sort_by_key(|j| j.id);
            these.truncate(left);
            jobs.extend(these);
        }
        mark(d, &jobs, "taken", None, now)?;
        Ok(jobs)
    })
}

/// Sets the state of the given jobs (those currently in `only_from`, if given).
fn mark(
    d: &mut dyn Driver,
    jobs: &[Job],
    state: &str,
    only_from: Option<&str>,
    now: i64,
) -> SqlResult<()> {
    for chunk in jobs.chunks(500) {
        let guard = if only_from.is_some() {
            " AND state = ?"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE amocrm_queue SET state = ?, updated_at = ? WHERE id IN ({}){guard}",
            placeholders(chunk.len())
        );
        let mut params = vec![Value::from(state), Value::Int(now)];
        params.extend(chunk.iter().map(|j| Value::Int(j.id)));
        if let Some(from) = only_from {
            params.push(Value::from(from));
        }
        d.execute(&sql, &params)?;
    }
    Ok(())
}

pub(crate) fn finish(d: &mut dyn Driver, job: &Job, outcome: &Outcome, now: i64) -> DbResult<()> {
    Ok(finish_in(d, job, outcome, now)?)
}

/// [`finish`] as one statement of the caller's transaction.
pub(crate) fn finish_in(
    d: &mut dyn Driver,
    job: &Job,
    outcome: &Outcome,
    now: i64,
) -> SqlResult<()> {
    // Guarded by generation: if an event arrived meanwhile, the row is already pending
    // again and stays so.
    let guard = [Value::Int(job.id), Value::Int(job.generation)];
    let (sql, mut params) = match outcome {
        Outcome::Done => (
            "UPDATE amocrm_queue SET state = 'done', attempts = 0, last_error = NULL, \
             updated_at = ? WHERE id = ? AND generation = ?",
            vec![Value::Int(now)],
        ),
        Outcome::Skipped(reason) => (
            "UPDATE amocrm_queue SET state = 'skipped', last_error = ?, updated_at = ? \
             WHERE id = ? AND generation = ?",
            vec![Value::from(clip(reason, ERROR_MAX)), Value::Int(now)],
        ),
        Outcome::Failed { error, next_try } => (
            "UPDATE amocrm_queue SET state = 'failed', attempts = attempts + 1, last_error = ?, \
             next_try = ?, updated_at = ? WHERE id = ? AND generation = ?",
            vec![
                Value::from(clip(error, ERROR_MAX)),
                Value::Int(*next_try),
                Value::Int(now),
            ],
        ),
    };
    params.extend(guard);
    d.execute(sql, &params)?;
    Ok(())
}

pub(crate) fn release(d: &mut dyn Driver, jobs: &[Job], now: i64) -> DbResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    write_tx(d, |d| mark(d, jobs, "pending", Some("taken"), now))
}

pub(crate) fn summary(d: &mut dyn Driver, now: i64) -> DbResult<QueueSummary> {
    let rows = d.query(
        "SELECT \
           SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS pending_n, \
           SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed_n, \
           SUM(CASE WHEN state = 'failed' AND next_try <= ? THEN 1 ELSE 0 END) AS failed_due, \
           SUM(CASE WHEN state = 'taken' THEN 1 ELSE 0 END) AS taken_n, \
           SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END) AS done_n, \
           SUM(CASE WHEN state = 'skipped' THEN 1 ELSE 0 END) AS skipped_n, \
           MAX(CASE WHEN state = 'done' THEN updated_at END) AS last_done, \
           MIN(CASE WHEN state = 'failed' THEN next_try END) AS next_failed \
         FROM amocrm_queue",
        &[Value::Int(now)],
    )?;
    let r = rows.into_iter().next().unwrap_or_default();
    let n = |c: &str| r.int(c).unwrap_or(0);
    Ok(QueueSummary {
        pending: n("pending_n") + n("failed_n"),
        due: n("pending_n") + n("failed_due"),
        failed: n("failed_n"),
        taken: n("taken_n"),
        done: n("done_n"),
        skipped: n("skipped_n"),
        last_done_at: r.int("last_done"),
        next_try: r.int("next_failed"),
    })
}

/// How many jobs are due now: pending, or failed with their retry time come. Read from
/// the (state, next_try) index, so it costs what waits, not the whole queue.
pub(crate) fn due(d: &mut dyn Driver, now: i64) -> DbResult<i64> {
    let rows = d.query(
        "SELECT COUNT(*) AS n FROM amocrm_queue \
         WHERE state = 'pending' OR (state = 'failed' AND next_try <= ?)",
        &[Value::Int(now)],
    )?;
    Ok(rows.first().and_then(Row::first_int).unwrap_or(0))
}

fn state_filter(states: &[&str], params: &mut Vec<Value>) -> String {
    params.extend(states.iter().map(|s| Value::from(*s)));
    if states.is_empty() {
        String::new()
    } else {
        format!("WHERE state IN ({})", placeholders(states.len()))
    }
}

const INFO_COLUMNS: &str =
    "id, job_key, kind, billmgr_id, event, state, attempts, next_try, last_error, updated_at";

fn info_of(r: &Row) -> JobInfo {
    JobInfo {
        id: r.int("id").unwrap_or(0),
        key: r.get("job_key").unwrap_or_default().to_string(),
        kind: r.get("kind").unwrap_or_default().to_string(),
        billmgr_id: r.int("billmgr_id"),
        event: r.get("event").unwrap_or_default().to_string(),
        state: r.get("state").unwrap_or_default().to_string(),
        attempts: r.int("attempts").unwrap_or(0),
        next_try: r.int("next_try").unwrap_or(0),
        last_error: r.get("last_error").map(str::to_string),
        updated_at: r.int("updated_at").unwrap_or(0),
    }
}

pub(crate) fn list(
    d: &mut dyn Driver,
    states: &[&str],
    offset: usize,
    limit: usize,
) -> DbResult<Vec<JobInfo>> {
    let mut params = Vec::new();
    let filter = state_filter(states, &mut params);
    params.push(Value::Int(limit as i64));
    params.push(Value::Int(offset as i64));
    let sql = format!(
        "SELECT {INFO_COLUMNS} FROM amocrm_queue {filter} \
         ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?"
    );
    Ok(d.query(&sql, &params)?.iter().map(info_of).collect())
}

pub(crate) fn count(d: &mut dyn Driver, states: &[&str]) -> DbResult<i64> {
    let mut params = Vec::new();
    let filter = state_filter(states, &mut params);
    let sql = format!("SELECT COUNT(*) AS n FROM amocrm_queue {filter}");
    Ok(d.query(&sql, &params)?
        .first()
        .and_then(Row::first_int)
        .unwrap_or(0))
}

/// Which of these entities have a job waiting (pending, failed and waiting for its retry,
/// or being sent): by their keys, which are unique and indexed, 500 at a time.
pub(crate) fn waiting_among(
    d: &mut dyn Driver,
    kind: EntityKind,
    ids: &[i64],
) -> DbResult<std::collections::HashSet<i64>> {
    let mut waiting = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let mut params: Vec<Value> = (chunk.iter())
            .map(|id| Value::from(stored_key(&NewJob::for_id(kind, *id, ""))))
            .collect();
        params.extend(["pending", "failed", "taken"].map(Value::from));
        let sql = format!(
            "SELECT billmgr_id FROM amocrm_queue WHERE job_key IN ({}) AND state IN (?, ?, ?)",
            placeholders(chunk.len())
        );
        waiting.extend(
            d.query(&sql, &params)?
                .iter()
                .filter_map(|r| r.int("billmgr_id")),
        );
    }
    Ok(waiting)
}

/// The job of one entity (by its key), whatever its state.
pub(crate) fn of_entity(
    d: &mut dyn Driver,
    kind: EntityKind,
    billmgr_id: i64,
) -> DbResult<Option<JobInfo>> {
    let key = stored_key(&NewJob::for_id(kind, billmgr_id, ""));
    let sql = format!("SELECT {INFO_COLUMNS} FROM amocrm_queue WHERE job_key = ?");
    Ok(d.query(&sql, &[Value::from(key)])?.first().map(info_of))
}

/// Makes waiting jobs due now (a failed one keeps its state and attempts, so its error
/// stays visible until it is sent). Jobs a worker holds are left alone.
pub(crate) fn retry(d: &mut dyn Driver, ids: &[i64], now: i64) -> DbResult<u64> {
    let mut n = 0;
    for chunk in ids.chunks(500) {
        let sql = format!(
            "UPDATE amocrm_queue SET next_try = ?, updated_at = ? \
             WHERE state IN ('pending', 'failed') AND id IN ({})",
            placeholders(chunk.len())
        );
        let mut params = vec![Value::Int(now), Value::Int(now)];
        params.extend(chunk.iter().map(|id| Value::Int(*id)));
        n += write_tx(d, |d| d.execute(&sql, &params))?;
    }
    Ok(n)
}

/// Deletes done and skipped jobs last touched before `before`.
pub(crate) fn prune(d: &mut dyn Driver, before: i64) -> DbResult<u64> {
    write_tx(d, |d| {
        d.execute(
            "DELETE FROM amocrm_queue WHERE state IN ('done', 'skipped') AND updated_at < ?",
            &[Value::Int(before)],
        )
    })
}

/// Deletes jobs, except those a worker holds right now.
pub(crate) fn drop(d: &mut dyn Driver, ids: &[i64]) -> DbResult<u64> {
    let mut n = 0;
    for chunk in ids.chunks(500) {
        let sql = format!(
            "DELETE FROM amocrm_queue WHERE state <> 'taken' AND id IN ({})",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|id| Value::Int(*id)).collect();
        n += write_tx(d, |d| d.execute(&sql, &params))?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_stay_distinct_and_fit_the_column() {
        let a = NewJob::for_lookup(
            EntityKind::Account,
            Lookup::Login("a".repeat(300)),
            "register",
        );
        let b = NewJob::for_lookup(
            EntityKind::Account,
            Lookup::Login("a".repeat(301)),
            "register",
        );
        let (ka, kb) = (stored_key(&a), stored_key(&b));
        assert!(ka.len() <= KEY_MAX && kb.len() <= KEY_MAX);
        assert_ne!(ka, kb);
        assert!(ka.starts_with("account?login=aaa"));
        let short = NewJob::for_id(EntityKind::Item, 1001, "service.postopen");
        assert_eq!(stored_key(&short), "item:1001");
    }
}
