//! The sweep's payments: credited and refunded payments paid since a day before the sweep
//! before began (the first sweep: a day before it began) whose note amoCRM has not got are
//! queued, their client looked up by the worker (`Lookup::Payment`), so that a payment no
//! event reported still becomes its note. A payment paid before that is noted only when
//! an event names it: the first sweep does not fill the timelines with years of history.

use std::collections::HashSet;
use std::io::Write;

use serde::Serialize;

use super::payment_note;
use super::sweep::{EVENT, Output, PAGE, SweepError, Sweeper};
use crate::db::{DbError, Lookup, NewJob};
use crate::model::EntityKind;

/// How far before the sweep before a payment's date may be and still be looked at: the
/// panel's clock and this server's may differ, and a payment credited during a sweep is
/// dated before its end.
pub const OVERLAP_SECS: i64 = 86_400;

/// A dry run's line for one payment.
#[derive(Serialize)]
struct Line {
    kind: &'static str,
    id: i64,
    entity: &'static str,
    reason: &'static str,
}

impl Sweeper<'_, '_> {
    /// Queues the payments paid since `from` (Unix time) whose note is not in amoCRM.
    pub fn queue_payments(&mut self, from: i64) -> Result<(), SweepError> {
        if !self.cfg.rules.notes.payments {
            return Ok(());
        }
        let from = crate::log::local_datetime(from);
        let mut after = 0;
        loop {
            let ids = self.db.noted_payments(&from, after, PAGE)?;
            let Some(&last) = ids.last() else {
                return Ok(());
            };
            after = last;
            let unnoted = self.unnoted(&ids)?;
            self.take_payments(&unnoted)?;
        }
    }

    /// Those of these payments that make a note amoCRM has not got.
    fn unnoted(&mut self, ids: &[i64]) -> Result<Vec<i64>, DbError> {
        let read = self.db.read_payments(ids)?;
        let notes: Vec<(i64, String)> = (ids.iter())
            .filter_map(|id| Some((*id, payment_note::plan(*id, read.get(id)?)?.key)))
            .collect();
        let keys: Vec<&str> = notes.iter().map(|(_, k)| k.as_str()).collect();
        let posted = self.db.posts(&keys)?;
        let noted: HashSet<&String> = posted.keys().collect();
        Ok((notes.iter())
            .filter(|(_, k)| !noted.contains(k))
            .map(|(id, _)| *id)
            .collect())
    }

    fn take_payments(&mut self, ids: &[i64]) -> Result<(), SweepError> {
        let counts = self.tally.queued.entry("payment".into()).or_default();
        counts.new += ids.len() as u64;
        match &mut self.out {
            Output::Queue => {
                let jobs: Vec<NewJob> = (ids.iter())
                    .map(|id| NewJob::for_lookup(EntityKind::Account, Lookup::Payment(*id), EVENT))
                    .collect();
                if !jobs.is_empty() {
                    self.db.enqueue(&jobs, crate::log::now())?;
                }
            }
            Output::Print(w) => {
                for &id in ids {
                    let line = Line {
                        kind: "payment",
                        id,
                        entity: "notes",
                        reason: "new",
                    };
                    let text = serde_json::to_string(&line).map_err(std::io::Error::from)?;
                    writeln!(w, "{text}")?;
                }
            }
        }
        Ok(())
    }
}
