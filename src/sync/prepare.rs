//! From targets to what is to be sent: read the batch, admit it (gone, never synced,
//! excluded by its condition), hang it on what it needs, plan it. Gone, excluded and
//! unchanged entities are settled here and never take a place in a batch.

use super::plan::{Admission, admit, plan};
use super::read::{Read, read};
use super::runner::{Stop, Worker};
use super::target::{Ready, Target};
use crate::model::EntityKind;

impl Worker<'_> {
    /// Prepares targets of one kind; returns those to send.
    pub(super) fn prepare(
        &mut self,
        kind: EntityKind,
        targets: Vec<Target>,
    ) -> Result<Vec<Ready>, Stop> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let reads = read(self.db.as_mut(), kind, targets)?;
        let admitted = self.admit(kind, reads)?;
        let hung = self.hang(kind, admitted)?;
        self.meta()?;
        let mut ready = Vec::new();
        for h in hung {
            if let Some(r) = self.plan_one(kind, h.read, h.contact, h.company) {
                ready.push(r);
            }
        }
        Ok(ready)
    }

    /// Settles what does not go to amoCRM at all; returns the rest.
    fn admit(&mut self, kind: EntityKind, reads: Vec<Read>) -> Result<Vec<Read>, Stop> {
        let mut admitted = Vec::new();
        for r in reads {
            match admit(kind, r.record.as_ref(), &self.cfg.rules) {
                Admission::In => admitted.push(r),
                Admission::Gone => {
                    // Nothing will ever be created for it again.
                    self.db.clear_creating(kind, &[r.target.id])?;
                    let why = format!("{kind} {} no longer exists in the panel", r.target.id);
                    self.ledger.skipped(&r.target, &why);
                }
                Admission::Out(why) => self.ledger.skipped(&r.target, &why),
            }
        }
        Ok(admitted)
    }

    /// The plan, unless the link says nothing changed since the last sync: then the
    /// entity is settled as it is, at no request.
    fn plan_one(
        &mut self,
        kind: EntityKind,
        read: Read,
        contact: Option<i64>,
        company: Option<i64>,
    ) -> Option<Ready> {
        let rec = read.record.as_ref()?;
        if kind == EntityKind::Item {
            self.plan_tasks(read.target.id, rec);
        }
        let meta = self.meta.as_ref()?;
        let p = plan(kind, read.target.id, rec, &self.cfg.rules, meta);
        for w in &p.warnings {
            log::warn!("{kind} {}: {w}", read.target.id);
        }
        if let Some(amo_id) = p.unchanged(read.link.as_ref(), self.cfg.sync.mode_for(kind)) {
            self.ledger.report.unchanged += 1;
            self.ledger.done(&read.target, amo_id, "unchanged");
            return None;
        }
        Some(Ready {
            target: read.target,
            plan: p,
            link: read.link,
            contact,
            company,
        })
    }
}
