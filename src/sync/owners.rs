//! The send step's owners: the amoCRM user `[responsible]` names for a new entity,
//! resolved once a run among the account's users. A user amoCRM does not take
//! (deactivated, unknown, or refused by amoCRM in this run) is left out of the create, and
//! the task log says so once a run: the entity still goes, owned by the integration's user.

use super::plan::Plan;
use super::responsible::{problem, resolve};
use super::runner::{Stop, Worker};
use crate::rules::UserRef;

impl Worker<'_> {
    /// The id to send as the responsible user of a new entity, if any.
    pub(super) fn owner_id(&mut self, plan: &Plan) -> Result<Option<i64>, Stop> {
        self.owner_of(plan.owner.as_ref())
    }

    /// The id of an amoCRM user `[responsible]` names, if amoCRM takes it.
    pub(super) fn owner_of(&mut self, wanted: Option<&UserRef>) -> Result<Option<i64>, Stop> {
        let Some(wanted) = wanted else {
            return Ok(None);
        };
        if let Some(known) = self.owners.resolved.get(wanted) {
            return Ok(known.filter(|id| !self.owners.refused.contains(id)));
        }
        let users = self.meta()?.account.users.clone();
        let id = match users {
            Some(users) => {
                let r = resolve(&users, wanted);
                if let Some(why) = problem(wanted, &r) {
                    log::warn!("[responsible]: {why}; created without a responsible user");
                }
                r.id()
            }
            None => None,
        };
        self.owners.resolved.insert(wanted.clone(), id);
        Ok(id)
    }

    /// amoCRM refused this user as responsible: not sent again in this run, and the kept
    /// users are read again by the next.
    pub(super) fn owner_refused(&mut self, id: i64) {
        if self.owners.refused.insert(id) {
            log::warn!(
                "amoCRM refused user {id} as responsible (deactivated?); created without one"
            );
            self.forget_meta();
        }
    }
}

/// Whether the account's users must be read with the metadata.
pub fn wanted(cfg: &crate::config::Config) -> bool {
    !super::responsible::named(cfg).is_empty()
}
