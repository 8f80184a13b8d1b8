//! Creates whose answers were lost. amoCRM keeps no `request_id`, so a create is never
//! sent again blindly: amoCRM's newest entities of the kind are read, back to a little
//! before the create was first sent, and those that are the panel's entities are linked.

use std::collections::{HashMap, HashSet};

use super::dedup::{Sent, match_made};
use super::kinds;
use super::runner::{Stop, Worker};
use super::target::Update;
use super::target::{Ready, Target};
use crate::amo::{AmoError, Entity};
use crate::model::EntityKind;

/// How far amoCRM's clock may be behind this machine's (seconds): what a lost create made
/// is looked for back to this long before it was sent.
const CLOCK_SKEW: i64 = 15 * 60;

impl Worker<'_> {
    /// Entities an earlier create may have made (its answer lost, or the worker stopped
    /// before saving the link): those found become updates, the rest stay creates.
    pub(super) fn recover_marked(
        &mut self,
        kind: EntityKind,
        creates: Vec<Ready>,
    ) -> Result<(Vec<Update>, Vec<Ready>), Stop> {
        let marked: HashSet<i64> = self.db.creating(kind)?.into_iter().map(|m| m.0).collect();
        let (suspect, mut rest): (Vec<Ready>, Vec<Ready>) = creates
            .into_iter()
            .partition(|r| marked.contains(&r.target.id));
        if suspect.is_empty() {
            return Ok((Vec::new(), rest));
        }
        let found = match self.find_made(kind, &suspect)? {
            Ok(found) => found,
            Err(e) => {
                let targets: Vec<&Target> = suspect.iter().map(|r| &r.target).collect();
                self.batch_failed(e, &targets)?;
                return Ok((Vec::new(), rest));
            }
        };
        let mut updates = Vec::new();
        for ready in suspect {
            let Some(&amo_id) = found.get(&ready.target.id) else {
                rest.push(ready);
                continue;
            };
            self.hang_company(&ready, amo_id);
            let what = "found in amoCRM (an earlier create's answer was lost)";
            updates.push(Update {
                ready,
                amo_id,
                what,
                last: String::new(),
            });
        }
        Ok((updates, rest))
    }

    /// After a create's answer was lost: those it made are linked; returns the rest, to
    /// be sent again.
    pub(super) fn after_lost(
        &mut self,
        kind: EntityKind,
        creates: Vec<Ready>,
    ) -> Result<Vec<Ready>, Stop> {
        let found = match self.find_made(kind, &creates)? {
            Ok(found) => found,
            Err(e) => {
                let targets: Vec<&Target> = creates.iter().map(|r| &r.target).collect();
                self.batch_failed(e, &targets)?;
                return Ok(Vec::new());
            }
        };
        let mut rest = Vec::new();
        for r in creates {
            match found.get(&r.target.id) {
                Some(&amo_id) => self.made(
                    &r,
                    amo_id,
                    "created (found in amoCRM after the answer was lost)",
                ),
                None => rest.push(r),
            }
        }
        Ok(rest)
    }

    /// What earlier creates of these entities made, among amoCRM's newest entities (one
    /// pass for the whole batch): panel id → amoCRM id. The marks say since when.
    fn find_made(
        &mut self,
        kind: EntityKind,
        creates: &[Ready],
    ) -> Result<Result<HashMap<i64, i64>, AmoError>, Stop> {
        // The links saved so far decide which found entity is already another's.
        self.flush()?;
        let sent: Vec<Sent> = creates
            .iter()
            .map(|r| Sent {
                billmgr_id: r.target.id,
                entity: r.plan.create(r.contact, r.company),
            })
            .collect();
        let since = self.marked_since(kind, &sent)?;
        let mut found: Vec<Entity> = Vec::new();
        let with = kinds::of(kind).told_apart_by();
        let entity = kind.amo_entity();
        if let Err(e) = (self.amo).newest_since(entity, with, since, &mut |page| found.extend(page))
        {
            return Ok(Err(e));
        }
        found.retain(|e| e.created_at.is_none_or(|t| t >= since));
        let pairs = self.match_free(kind, &sent, &found)?;
        log::info!(
            "looked for {} {entity} a create may have made among the {} made since {since}: {} found",
            sent.len(),
            found.len(),
            pairs.len()
        );
        Ok(Ok(pairs.into_iter().collect()))
    }

    /// The earliest mark of the sent entities, less the clock skew allowed.
    fn marked_since(&mut self, kind: EntityKind, sent: &[Sent]) -> Result<i64, Stop> {
        let marks: HashMap<i64, i64> = self.db.creating(kind)?.into_iter().collect();
        let now = crate::log::now();
        let first = (sent.iter())
            .map(|s| marks.get(&s.billmgr_id).copied().unwrap_or(now))
            .min()
            .unwrap_or(now);
        Ok(first - CLOCK_SKEW)
    }

    /// Pairs sent and found, taking only amoCRM entities no other panel entity has.
    fn match_free(
        &mut self,
        kind: EntityKind,
        sent: &[Sent],
        found: &[Entity],
    ) -> Result<Vec<(i64, i64)>, Stop> {
        let email_field =
            (self.meta.as_ref()).and_then(|m| m.field_id_by_code("contacts", "EMAIL"));
        let db = &mut self.db;
        let mut db_error = None;
        let pairs = match_made(sent, found, email_field, &mut |billmgr_id, id| match db
            .linked_to(kind, id)
        {
            Ok(owner) => owner.is_none_or(|o| o == billmgr_id),
            Err(e) => {
                db_error.get_or_insert(e);
                false
            }
        });
        match db_error {
            Some(e) => Err(e.into()),
            None => Ok(pairs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::stand::Stand;
    use super::*;

    #[test]
    fn what_a_create_made_before_its_answer_was_lost_is_linked_not_made_again() {
        let stand = Stand::sample("dedup =");
        let mut w = stand.worker();
        let targets = [2, 3].map(|id| Target::dependency(EntityKind::Account, id));
        let ready = w
            .prepare(EntityKind::Account, targets.to_vec())
            .expect("prepared");
        let before = stand.held("contacts").len();
        stand.faults(serde_json::json!({"lost_next": 1}));
        w.send(EntityKind::Account, ready).expect("sent");
        assert_eq!(
            stand.count("POST /api/v4/contacts"),
            1,
            "{:?}",
            stand.calls()
        );
        assert_eq!(stand.held("contacts").len(), before + 2);
        let mut db = stand.db();
        assert!(
            db.creating(EntityKind::Account).unwrap().is_empty(),
            "marks cleared"
        );
        assert_eq!(db.links_of(EntityKind::Account, &[2, 3]).unwrap().len(), 2);

        // A mark a stopped run left: looked up before anything is created.
        let fp = db
            .link(EntityKind::Account, 2)
            .unwrap()
            .expect("linked")
            .fingerprint;
        let amo_id = db
            .link(EntityKind::Account, 2)
            .unwrap()
            .expect("linked")
            .amocrm_id;
        assert_eq!(db.unlink(EntityKind::Account, 2).unwrap(), 1);
        db.mark_creating(EntityKind::Account, &[2], crate::log::now())
            .unwrap();
        let ready = w.prepare(
            EntityKind::Account,
            vec![Target::dependency(EntityKind::Account, 2)],
        );
        w.send(EntityKind::Account, ready.expect("prepared"))
            .expect("sent");
        let link = db
            .link(EntityKind::Account, 2)
            .unwrap()
            .expect("linked again");
        assert_eq!((link.amocrm_id, link.fingerprint), (amo_id, fp));
        assert_eq!(
            stand.count("POST /api/v4/contacts"),
            1,
            "nothing made again"
        );
    }
}
