//! The notes step: the payments a batch of clients' jobs name become notes on the
//! clients' contacts, each once. A note is marked (`amocrm_posted`, committed) before the
//! jobs are recorded done and before it is sent; it is recorded with amoCRM's id when the
//! answer comes. A mark still without an id at the next look means a note that may have
//! been made: the contact's notes are read and the note is recorded if found, sent if not.
//! Its plan (key and text) is `payment_note`.

use std::collections::{HashMap, HashSet};

use super::drain::{Stop, Worker};
use super::payment_note::{self, PaymentNote};
use super::target::Target;
use crate::amo::{AmoError, NewNote};
use crate::db::{Lookup, NewPost, PostKind, Posted};
use crate::model::EntityKind;

/// Tries for a note whose answer is lost: sent, looked for, sent again.
const ROUNDS: usize = 3;

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

/// The payment a note's key names (`payment:<id>:<what>`).
fn payment_of(key: &str) -> Option<i64> {
    key.strip_prefix("payment:")?
        .split(':')
        .next()?
        .parse()
        .ok()
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
        self.fresh_notes.extend(posts.into_iter().map(|p| p.key));
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
        if let Some(id) = self.ledger.pending_link(EntityKind::Account, client) {
            return Ok(Some(id));
        }
        Ok(self
            .db
            .link(EntityKind::Account, client)?
            .map(|l| l.amocrm_id))
    }

    /// Sends every note marked and not recorded; one marked before this run, or whose
    /// answer was lost, is looked for on its contact first.
    pub(super) fn post_notes(&mut self) -> Result<(), Stop> {
        let flying = self.db.posts_in_flight(PostKind::Note)?;
        if flying.is_empty() {
            return Ok(());
        }
        let texts = self.note_texts(&flying)?;
        let mut left: Vec<(Posted, String)> = Vec::new();
        for p in flying {
            match texts.get(&p.key) {
                Some(text) => left.push((p, text.clone())),
                None => {
                    log::info!("{}: nothing to note any more", p.key);
                    self.db.forget_post(&p.key)?;
                }
            }
        }
        for _ in 0..ROUNDS {
            left = self.found_already(left)?;
            left = self.send_notes(left)?;
            if left.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Each in-flight note's text, planned again from its payment as it is now.
    fn note_texts(&mut self, flying: &[Posted]) -> Result<HashMap<String, String>, Stop> {
        let ids: Vec<i64> = flying.iter().filter_map(|p| payment_of(&p.key)).collect();
        let read = self.db.read_payments(&ids)?;
        Ok((ids.iter())
            .filter_map(|id| payment_note::plan(*id, read.get(id)?))
            .map(|n| (n.key, n.text))
            .collect())
    }

    /// The notes not sent in this run yet are looked for on their contacts: those amoCRM
    /// holds are recorded; the rest come back.
    fn found_already(
        &mut self,
        notes: Vec<(Posted, String)>,
    ) -> Result<Vec<(Posted, String)>, Stop> {
        let mut left = Vec::new();
        let mut read: HashMap<i64, Vec<crate::amo::Note>> = HashMap::new();
        for (p, text) in notes {
            if self.fresh_notes.contains(&p.key) {
                left.push((p, text));
                continue;
            }
            let held = match read.entry(p.entity_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let notes = self.amo.notes_of(&p.entity_type, p.entity_id);
                    e.insert(notes.map_err(Stop::Amo)?)
                }
            };
            match held.iter().find(|n| n.text == text) {
                Some(n) => self.note_recorded(&p, n.id, "found in amoCRM")?,
                None => left.push((p, text)),
            }
        }
        Ok(left)
    }

    /// Sends the notes, a request for each kind of entity; what amoCRM may have made of a
    /// lost answer comes back to be looked for.
    fn send_notes(&mut self, notes: Vec<(Posted, String)>) -> Result<Vec<(Posted, String)>, Stop> {
        let mut by_entity: HashMap<String, Vec<(Posted, String)>> = HashMap::new();
        for n in notes {
            by_entity
                .entry(n.0.entity_type.clone())
                .or_default()
                .push(n);
        }
        let mut left = Vec::new();
        for (entity, notes) in by_entity {
            let bodies: Vec<NewNote> = (notes.iter())
                .map(|(p, text)| NewNote {
                    entity_id: p.entity_id,
                    text: text.clone(),
                })
                .collect();
            match self.amo.add_notes(&entity, &bodies) {
                Ok(answers) => self.notes_answered(notes, answers)?,
                Err(AmoError::MaybeApplied(why)) => {
                    log::warn!("{why}; looking for the notes before sending them again");
                    for (p, _) in &notes {
                        self.fresh_notes.remove(&p.key);
                    }
                    left.extend(notes);
                }
                Err(e) => return Err(Stop::Amo(e)),
            }
        }
        Ok(left)
    }

    fn notes_answered(
        &mut self,
        notes: Vec<(Posted, String)>,
        answers: Vec<Result<i64, crate::amo::Rejection>>,
    ) -> Result<(), Stop> {
        for ((p, _), answer) in notes.into_iter().zip(answers) {
            match answer {
                Ok(id) => self.note_recorded(&p, id, "added")?,
                Err(why) => {
                    log::warn!("{}: amoCRM refused the note: {why}", p.key);
                    self.db.forget_post(&p.key)?;
                    self.fresh_notes.remove(&p.key);
                }
            }
        }
        Ok(())
    }

    fn note_recorded(&mut self, p: &Posted, id: i64, what: &str) -> Result<(), Stop> {
        self.db.record_post(&p.key, id, crate::log::now())?;
        self.fresh_notes.remove(&p.key);
        let entity = p.entity_type.trim_end_matches('s');
        log::info!("{} → note {id} on {entity} {}: {what}", p.key, p.entity_id);
        Ok(())
    }
}

fn post(note: &PaymentNote, contact: i64) -> NewPost {
    NewPost {
        key: note.key.clone(),
        kind: PostKind::Note,
        entity_type: "contacts".into(),
        entity_id: contact,
    }
}

/// Keys marked in this run and not sent yet: they need no look in amoCRM first.
pub type Fresh = HashSet<String>;
