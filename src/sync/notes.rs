//! The notes step: the payments a batch of clients' jobs name become notes on the
//! clients' contacts, each once. A note is marked (`amocrm_posted`, committed) before the
//! jobs are recorded done; `posting` sends it. Its plan (key and text) is `payment_note`.

use super::payment_note::{self, PaymentNote};
use super::runner::{Stop, Worker};
use super::target::Target;
use crate::db::{Lookup, NewPost, PostKind};
use crate::model::EntityKind;

/// The payments the jobs of these clients name: `(client, payment)`.
pub(super) fn payments_named(targets: &[Target]) -> Vec<(i64, i64)> {
    let jobs = targets.iter().flat_map(|t| {
        t.jobs.iter().filter_map(move |j| match j.lookup {
            Some(Lookup::Payment(p)) => Some((t.id, p)),
            _ => None,
        })
    });
    jobs.collect()
}

impl Worker<'_> {
    /// Marks the notes of these payments on their clients' contacts (those the clients
    /// have now, this run's new ones included), before the jobs naming them are recorded
    /// done. Returns the payments whose client has no contact yet.
    pub(super) fn mark_payment_notes(
        &mut self,
        named: &[(i64, i64)],
    ) -> Result<Vec<(i64, i64)>, Stop> {
        if named.is_empty() || !self.cfg.rules.notes.payments {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = named.iter().map(|(_, p)| *p).collect();
        let read = self.db.read_payments(&ids)?;
        let (mut posts, mut waiting) = (Vec::new(), Vec::new());
        for &(client, payment) in named {
            let Some(note) = read
                .get(&payment)
                .and_then(|r| payment_note::plan(payment, r))
            else {
                log::info!("payment {payment}: nothing credited or refunded, no note");
                continue;
            };
            match self.contact_of(client)? {
                Some(contact) if note.client == client => posts.push(post(&note, contact)),
                _ => waiting.push((client, payment)),
            }
        }
        let keys: Vec<&str> = posts.iter().map(|p| p.key.as_str()).collect();
        let known = self.db.posts(&keys)?;
        posts.retain(|p| !known.contains_key(&p.key));
        self.db.mark_posts(&posts, crate::log::now())?;
        self.fresh_posts.extend(posts.into_iter().map(|p| p.key));
        Ok(waiting)
    }

    /// The payments of this pass whose clients had no contact: marked now if a batch made
    /// one, else said in the log (the client is not for amoCRM, or failed).
    pub(super) fn mark_waiting_notes(&mut self) -> Result<(), Stop> {
        let waiting = std::mem::take(&mut self.payments_waiting);
        for (client, payment) in self.mark_payment_notes(&waiting)? {
            log::info!("payment {payment}: client {client} has no contact in amoCRM, no note");
        }
        Ok(())
    }

    /// A client's contact: linked in this run or before.
    fn contact_of(&mut self, client: i64) -> Result<Option<i64>, Stop> {
        self.linked_now(EntityKind::Account, client)
    }

    /// An entity's amoCRM id: linked in this run or before.
    pub(super) fn linked_now(&mut self, kind: EntityKind, id: i64) -> Result<Option<i64>, Stop> {
        if let Some(amo_id) = self.ledger.pending_link(kind, id) {
            return Ok(Some(amo_id));
        }
        Ok(self.db.link(kind, id)?.map(|l| l.amocrm_id))
    }
}

fn post(note: &PaymentNote, contact: i64) -> NewPost {
    NewPost {
        key: note.key.clone(),
        kind: PostKind::Note,
        entity_type: "contacts".into(),
        entity_id: contact,
        text: note.text.clone(),
        due: 0,
        owner: None,
    }
}
