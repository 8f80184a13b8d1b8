//! The sweep's tasks: a service whose lead is as last sent is still queued when a
//! `[tasks]` rule holds for it whose task amoCRM has not got (a date came near, with no
//! row changed), so that the worker sets the task. The plan is `task_plan`'s.

use std::collections::HashMap;

use super::{Queued, Reason, Sweeper};
use crate::db::{DbError, Link};
use crate::model::Record;
use crate::sync::task_plan;

impl Sweeper<'_, '_> {
    /// Those of `unchanged` with a task to set, taken out of it and returned to be queued.
    pub(super) fn tasks_due(
        &mut self,
        records: &HashMap<i64, Record>,
        unchanged: &mut Vec<i64>,
        links: &HashMap<i64, Link>,
    ) -> Result<Vec<Queued>, DbError> {
        if self.cfg.rules.tasks.is_empty() || unchanged.is_empty() {
            return Ok(Vec::new());
        }
        let today = crate::log::now().div_euclid(86_400);
        let planned: Vec<(i64, String)> = (unchanged.iter())
            .filter_map(|id| Some((*id, records.get(id)?)))
            .flat_map(|(id, rec)| {
                let tasks = task_plan::plan(id, rec, &self.cfg.rules, today);
                tasks.into_iter().map(move |t| (id, t.key))
            })
            .collect();
        let keys: Vec<&str> = planned.iter().map(|(_, k)| k.as_str()).collect();
        let posted = self.db.posts(&keys)?;
        let mut due: Vec<i64> = (planned.iter())
            .filter(|(_, k)| !posted.contains_key(k))
            .map(|(id, _)| *id)
            .collect();
        due.dedup();
        unchanged.retain(|id| !due.contains(id));
        Ok((due.into_iter())
            .map(|id| Queued {
                id,
                reason: Reason::Task,
                amocrm_id: links.get(&id).map(|l| l.amocrm_id),
            })
            .collect())
    }
}
