//! The send stage: one batch of one kind to amoCRM in as few requests as it allows —
//! linked entities read back and changed as `update` allows, unlinked ones matched to
//! what exists or made — with what each came to handed to the record stage.

use std::collections::{HashMap, HashSet};

use super::dedup::Wanted;
use super::kinds;
use super::runner::{Stop, Worker};
use super::target::{Gone, Ready, Target, Update};
use crate::amo::{AmoError, Entity, EntityPatch, LinkRequest, Rejection};
use crate::model::EntityKind;

/// How many sends of one create batch whose answers were lost, each followed by a look
/// for what it made, before the run stops and leaves the rest to the next one.
const CREATE_ROUNDS: usize = 3;

impl Worker<'_> {
    /// Sends one batch of one kind and records what each entity came to.
    pub(super) fn send(&mut self, kind: EntityKind, batch: Vec<Ready>) -> Result<(), Stop> {
        let (mut updates, creates) = self.sort_out(kind, batch)?;
        let (found, mut creates) = self.recover_marked(kind, creates)?;
        updates.extend(found);
        let mut taken: HashSet<i64> = updates.iter().map(|u| u.amo_id).collect();
        let gone = self.update(kind, updates)?;
        self.heal(kind, gone, &mut taken, &mut creates)?;
        self.create(kind, creates)?;
        // The payments of new contacts' clients, marked before their jobs are recorded.
        let waiting = std::mem::take(&mut self.payments_waiting);
        self.payments_waiting = self.mark_payment_notes(&waiting)?;
        self.mark_waiting_tasks()?;
        // Recorded first: a company link is sent only for a company linked in the panel.
        self.flush()?;
        self.hang_on_healed()?;
        self.send_full_company_links()
    }

    /// Linked entities are updated; an unlinked client matching an existing contact is
    /// linked to it; the rest are created.
    fn sort_out(
        &mut self,
        kind: EntityKind,
        batch: Vec<Ready>,
    ) -> Result<(Vec<Update>, Vec<Ready>), Stop> {
        let (mut updates, mut creates) = (Vec::<Update>::new(), Vec::new());
        for mut ready in batch {
            if let Some(link) = ready.link.take() {
                let (amo_id, last) = (link.amocrm_id, link.fingerprint);
                updates.push(Update {
                    ready,
                    amo_id,
                    what: "updated",
                    last,
                });
                continue;
            }
            let taken: HashSet<i64> = updates.iter().map(|u| u.amo_id).collect();
            if kinds::of(kind).matches_existing()
                && let Some(amo_id) = self.find_existing(&ready, &taken)?
            {
                let what = "linked to the existing contact";
                updates.push(Update {
                    ready,
                    amo_id,
                    what,
                    last: String::new(),
                });
                continue;
            }
            self.keep_contact(&creates, &mut ready)?;
            creates.push(ready);
        }
        Ok((updates, creates))
    }

    /// An existing contact that is this client (same e-mail or phone), unless another
    /// panel client has it already or another of this batch took it: two clients
    /// sharing a phone (a family, a company's switchboard) stay two contacts.
    pub(super) fn find_existing(
        &mut self,
        r: &Ready,
        taken: &HashSet<i64>,
    ) -> Result<Option<i64>, Stop> {
        let p = &r.plan;
        if self.cfg.sync.dedup.is_empty() || (p.email.is_none() && p.phone.is_none()) {
            return Ok(None);
        }
        let meta = self.meta()?;
        let wanted = Wanted {
            email: p.email.as_deref(),
            phone: p.phone.as_deref(),
            email_field: meta.field_id_by_code("contacts", "EMAIL"),
            phone_field: meta.field_id_by_code("contacts", "PHONE"),
        };
        let keys = &self.cfg.sync.dedup;
        let Some(found) = self
            .finder
            .find(&mut self.amo, keys, wanted)
            .map_err(Stop::Amo)?
        else {
            return Ok(None);
        };
        let owner = self.db.linked_to(EntityKind::Account, found)?;
        if taken.contains(&found) || owner.is_some_and(|o| o != p.billmgr_id) {
            let whose = owner.map_or("another client of this batch".into(), |o| {
                format!("account {o}")
            });
            log::info!(
                "account {}: contact {found} matches but belongs to {whose}; creating a new one",
                p.billmgr_id
            );
            return Ok(None);
        }
        Ok(Some(found))
    }

    /// amoCRM keeps one company per contact, and a link to a second moves the contact:
    /// only the client's first company takes it, whether made in an earlier batch or
    /// earlier in this one.
    pub(super) fn keep_contact(&mut self, earlier: &[Ready], r: &mut Ready) -> Result<(), Stop> {
        if !kinds::of(r.target.kind).takes_contact() || r.contact.is_none() {
            return Ok(());
        }
        if earlier.iter().any(|c| c.contact == r.contact)
            || self.client_has_company(r.plan.account_id, r.target.id)?
        {
            r.contact = None;
        }
        Ok(())
    }

    /// Whether another payer of the client is linked to a company already.
    fn client_has_company(&mut self, account: Option<i64>, payer: i64) -> Result<bool, Stop> {
        let Some(account) = account else {
            return Ok(false);
        };
        let others: Vec<i64> = (self.db.profiles_of_account(account)?.into_iter())
            .filter(|p| *p != payer)
            .collect();
        Ok(!self.db.links_of(EntityKind::Profile, &others)?.is_empty())
    }

    /// Reads the entities back and sends what `update` allows; returns those gone from
    /// amoCRM (a manager deleted them or merged them into another), to be healed.
    pub(super) fn update(
        &mut self,
        kind: EntityKind,
        updates: Vec<Update>,
    ) -> Result<Vec<Gone>, Stop> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = updates.iter().map(|u| u.amo_id).collect();
        let current = match self.amo.get_by_ids(kind.amo_entity(), &ids, "") {
            Ok(v) => v,
            Err(e) => {
                let targets: Vec<&Target> = updates.iter().map(|u| &u.ready.target).collect();
                return self.batch_failed(e, &targets).map(|()| Vec::new());
            }
        };
        let by_id: HashMap<i64, Entity> = current.into_iter().map(|e| (e.id, e)).collect();
        let (mut gone, mut patches) = (Vec::new(), Vec::new());
        for u in updates {
            let Some(cur) = by_id.get(&u.amo_id) else {
                gone.push(Gone {
                    was: u.amo_id,
                    ready: u.ready,
                });
                continue;
            };
            let p = &u.ready.plan;
            match p.patch(cur, self.cfg.sync.mode_for(kind), p.state_changed(&u.last)) {
                Some(patch) => patches.push((u, patch)),
                None => {
                    self.ledger.report.unchanged += 1;
                    let what = format!("{}, nothing to change", u.what);
                    self.linked(&u.ready, u.amo_id, &what);
                }
            }
        }
        gone.extend(self.patch(kind, patches)?);
        Ok(gone)
    }

    /// Sends the patches; returns those amoCRM answered "not found" for (removed since
    /// they were read back), to be healed.
    pub(super) fn patch(
        &mut self,
        kind: EntityKind,
        patches: Vec<(Update, EntityPatch)>,
    ) -> Result<Vec<Gone>, Stop> {
        if patches.is_empty() {
            return Ok(Vec::new());
        }
        let bodies: Vec<EntityPatch> = patches.iter().map(|(_, p)| p.clone()).collect();
        let answers = match self.amo.update(kind.amo_entity(), &bodies) {
            Ok(answers) => answers,
            Err(e) => {
                let targets: Vec<&Target> = patches.iter().map(|(u, _)| &u.ready.target).collect();
                return self.batch_failed(e, &targets).map(|()| Vec::new());
            }
        };
        let mut gone = Vec::new();
        for ((u, _), answer) in patches.into_iter().zip(answers) {
            match answer {
                Ok(()) => {
                    self.ledger.report.sent += 1;
                    self.linked(&u.ready, u.amo_id, u.what);
                }
                Err(Rejection::Gone(_)) => gone.push(Gone {
                    was: u.amo_id,
                    ready: u.ready,
                }),
                Err(why) => {
                    self.forget_meta();
                    let error = format!("amoCRM rejected the update: {why}");
                    self.ledger.failed(&u.ready.target, &error);
                }
            }
        }
        Ok(gone)
    }

    /// Creates, in one request each round. Each entity is marked as being created
    /// before the request leaves: if its answer is lost, or this process dies before the
    /// links are saved, the next attempt looks before creating.
    fn create(&mut self, kind: EntityKind, mut creates: Vec<Ready>) -> Result<(), Stop> {
        for round in 1..=CREATE_ROUNDS {
            if creates.is_empty() {
                break;
            }
            let ids: Vec<i64> = creates.iter().map(|r| r.target.id).collect();
            self.db.mark_creating(kind, &ids, crate::log::now())?;
            let mut bodies = Vec::with_capacity(creates.len());
            for r in &creates {
                let mut body = r.plan.create(r.contact, r.company);
                body.responsible_user_id = self.owner_id(&r.plan)?;
                bodies.push(body);
            }
            match self.amo.create(kind.amo_entity(), &bodies) {
                Ok(answers) => return self.created(kind, creates, answers),
                Err(AmoError::MaybeApplied(why)) if round < CREATE_ROUNDS => {
                    log::warn!("{why}; looking for what it made before sending it again");
                    creates = self.after_lost(kind, creates)?;
                }
                Err(e) => {
                    let targets: Vec<&Target> = creates.iter().map(|r| &r.target).collect();
                    return self.batch_failed(e, &targets);
                }
            }
        }
        Ok(())
    }

    /// What a create's answer said of each entity: made, or rejected (nothing was
    /// made, so there is nothing to look for later).
    fn created(
        &mut self,
        kind: EntityKind,
        creates: Vec<Ready>,
        answers: Vec<Result<i64, Rejection>>,
    ) -> Result<(), Stop> {
        let (mut rejected, mut again) = (Vec::new(), Vec::new());
        for (r, answer) in creates.into_iter().zip(answers) {
            match answer {
                Ok(amo_id) => self.made(&r, amo_id, "created"),
                Err(Rejection::Owner(why)) => match self.owner_id(&r.plan)? {
                    Some(id) => {
                        self.owner_refused(id);
                        again.push(r);
                    }
                    None => {
                        rejected.push(r.target.id);
                        let why = format!("amoCRM rejected it: {why}");
                        self.ledger.failed(&r.target, &why);
                    }
                },
                Err(Rejection::LinkGone { entity, .. }) => {
                    rejected.push(r.target.id);
                    self.link_gone(&r, entity)?;
                }
                Err(why) => {
                    rejected.push(r.target.id);
                    self.forget_meta();
                    self.ledger
                        .failed(&r.target, &format!("amoCRM rejected it: {why}"));
                }
            }
        }
        self.db.clear_creating(kind, &rejected)?;
        // Sent again without the user amoCRM refused: nothing of them was made.
        match again.is_empty() {
            true => Ok(()),
            false => self.create(kind, again),
        }
    }

    /// A new entity (or one a lost create made): linked, and a company hung on its
    /// contact.
    pub(super) fn made(&mut self, r: &Ready, amo_id: i64, what: &str) {
        self.ledger.report.sent += 1;
        self.record_link(r, amo_id, what);
        self.note_healed(r, amo_id, true);
        self.hang_company(r, amo_id);
    }

    /// A new company (or one a lost create made) is hung on its contact, when it takes it.
    pub(super) fn hang_company(&mut self, r: &Ready, amo_id: i64) {
        if kinds::of(r.target.kind).takes_contact()
            && let Some(contact) = r.contact
        {
            self.company_links.push(LinkRequest {
                entity_id: amo_id,
                to_entity_type: "contacts".into(),
                to_entity_id: contact,
                is_main: false,
            });
        }
    }

    /// An existing amoCRM entity the target is (now) linked to.
    pub(super) fn linked(&mut self, r: &Ready, amo_id: i64, what: &str) {
        self.record_link(r, amo_id, what);
        self.note_healed(r, amo_id, false);
    }

    /// Records that the target is (now) the amoCRM entity, and ends its jobs.
    fn record_link(&mut self, r: &Ready, amo_id: i64, what: &str) {
        let fingerprint = r.plan.fingerprint(self.cfg.sync.mode_for(r.target.kind));
        self.ledger.linked(&r.target, amo_id, fingerprint, what);
    }

    /// A whole request failed: stop the run if amoCRM refuses or is gone, else fail the
    /// targets with the reason and go on.
    pub(super) fn batch_failed(&mut self, e: AmoError, targets: &[&Target]) -> Result<(), Stop> {
        match e {
            AmoError::Refused { .. } | AmoError::Unavailable(_) | AmoError::MaybeApplied(_) => {
                Err(Stop::Amo(e))
            }
            other => {
                self.forget_meta();
                let msg = other.to_string();
                for t in targets {
                    self.ledger.failed(t, &msg);
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::stand::Stand;
    use super::*;

    fn targets(kind: EntityKind, ids: &[i64]) -> Vec<Target> {
        ids.iter().map(|id| Target::dependency(kind, *id)).collect()
    }

    fn sql(stand: &Stand, statement: &str) {
        let path = stand.paths.resolve("var/panel.db");
        let conn = rusqlite::Connection::open(path).expect("panel database");
        conn.execute_batch(statement).expect("statement");
    }

    #[test]
    fn a_batch_of_new_contacts_is_one_create_and_each_is_linked() {
        let stand = Stand::sample("dedup =");
        let before = stand.held("contacts").len();
        let mut w = stand.worker();
        let ids = [2, 3, 4, 5, 6, 7];
        let ready = w.prepare(EntityKind::Account, targets(EntityKind::Account, &ids));
        let ready = ready.expect("prepared");
        assert_eq!(ready.len(), 6);
        w.send(EntityKind::Account, ready).expect("sent");
        assert_eq!(stand.count("POST /api/v4/contacts"), 1);
        assert_eq!(stand.held("contacts").len(), before + 6);
        let links = stand.db().links_of(EntityKind::Account, &ids).unwrap();
        let mut amo: Vec<i64> = links.values().map(|l| l.amocrm_id).collect();
        amo.sort_unstable();
        amo.dedup();
        assert_eq!(amo.len(), 6, "six contacts, each linked once");
        assert_eq!(w.ledger.report.sent, 6);
    }

    #[test]
    fn a_changed_entity_is_read_back_and_patched_and_a_deleted_one_made_again() {
        let stand = Stand::sample("dedup =\nupdate = overwrite");
        let mut w = stand.worker();
        let ready = w.prepare(EntityKind::Account, targets(EntityKind::Account, &[2, 3]));
        w.send(EntityKind::Account, ready.expect("prepared"))
            .expect("sent");
        let first = stand
            .db()
            .link(EntityKind::Account, 3)
            .unwrap()
            .expect("linked");
        sql(
            &stand,
            "UPDATE user SET realname = 'Петров Пётр' WHERE id = 12",
        );
        // A manager deleted client 2's contact: its link names what amoCRM no longer has.
        let fp = stand
            .db()
            .link(EntityKind::Account, 2)
            .unwrap()
            .expect("linked")
            .fingerprint;
        stand
            .db()
            .save_link(EntityKind::Account, 2, 999_999, &fp, 1)
            .unwrap();
        let ready = w.prepare(EntityKind::Account, targets(EntityKind::Account, &[2, 3]));
        let ready = ready.expect("prepared");
        assert_eq!(ready.len(), 1, "client 2 is unchanged in the panel");
        w.send(EntityKind::Account, ready).expect("sent");
        assert_eq!(stand.count("PATCH /api/v4/contacts"), 1);
        let renamed = stand.held("contacts");
        let three = renamed
            .iter()
            .find(|c| c["id"] == first.amocrm_id)
            .expect("contact");
        assert_eq!(three["name"], "Петров Пётр");

        // Unchanged in the panel, so found only when asked with a new fingerprint.
        stand
            .db()
            .save_link(EntityKind::Account, 2, 999_999, "old", 1)
            .unwrap();
        let ready = w.prepare(EntityKind::Account, targets(EntityKind::Account, &[2]));
        w.send(EntityKind::Account, ready.expect("prepared"))
            .expect("sent");
        let again = stand
            .db()
            .link(EntityKind::Account, 2)
            .unwrap()
            .expect("linked");
        assert_ne!(again.amocrm_id, 999_999, "made again");
        assert_eq!(stand.count("POST /api/v4/contacts"), 2);
    }
}
