//! The tasks step: the `[tasks]` rules that hold for a service being synced set a task on
//! its lead, once per rule and occurrence (`task_plan`). A task is marked in
//! `amocrm_posted` (committed) once its lead is known and before the service's jobs are
//! recorded done; `posting` sends it.

use super::runner::{Stop, Worker};
use super::task_plan::{self, PlannedTask};
use crate::db::{NewPost, PostKind};
use crate::model::{EntityKind, Record};

impl Worker<'_> {
    /// The tasks a service being synced has due now, to be marked once its lead is known.
    pub(super) fn plan_tasks(&mut self, item: i64, rec: &Record) {
        if self.cfg.rules.tasks.is_empty() {
            return;
        }
        let today = crate::log::now().div_euclid(86_400);
        let planned = task_plan::plan(item, rec, &self.cfg.rules, today);
        // Owned as the service's lead is, by `[responsible]`.
        let owner = (self.cfg.rules.responsible).user_for(EntityKind::Item, rec);
        let owner = owner.cloned();
        self.tasks_waiting
            .extend(planned.into_iter().map(|t| (item, t, owner.clone())));
    }

    /// Marks the waiting tasks whose service has a lead (one set before, one made in this
    /// run); the rest wait.
    pub(super) fn mark_waiting_tasks(&mut self) -> Result<(), Stop> {
        let waiting = std::mem::take(&mut self.tasks_waiting);
        let (mut posts, mut still) = (Vec::new(), Vec::new());
        for (item, t, owner) in waiting {
            match self.linked_now(EntityKind::Item, item)? {
                Some(lead) => {
                    let owner_id = self.owner_of(owner.as_ref())?;
                    posts.push(post(t, lead, owner_id));
                }
                None => still.push((item, t, owner)),
            }
        }
        self.tasks_waiting = still;
        let keys: Vec<&str> = posts.iter().map(|p| p.key.as_str()).collect();
        let known = self.db.posts(&keys)?;
        posts.retain(|p| !known.contains_key(&p.key));
        self.db.mark_posts(&posts, crate::log::now())?;
        self.fresh_posts.extend(posts.into_iter().map(|p| p.key));
        Ok(())
    }

    /// At a pass's end: a service still without a lead (its create failed) gets its task
    /// when it is synced again.
    pub(super) fn drop_waiting_tasks(&mut self) {
        for (item, t, _) in std::mem::take(&mut self.tasks_waiting) {
            log::info!(
                "{}: service {item} has no lead in amoCRM yet, no task",
                t.key
            );
        }
    }
}

fn post(t: PlannedTask, lead: i64, owner: Option<i64>) -> NewPost {
    NewPost {
        key: t.key,
        kind: PostKind::Task,
        entity_type: "leads".into(),
        entity_id: lead,
        text: t.text,
        due: t.due,
        owner,
    }
}
