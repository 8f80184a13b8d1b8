//! Sending notes and tasks marked in `amocrm_posted`, each once. A mark is committed
//! before its create is sent; it is recorded with amoCRM's id when the answer comes. A
//! mark still without an id that was not made in this run (or whose answer was lost) may
//! stand for a note or task amoCRM made: its entity's notes or tasks are read, and it is
//! recorded if found there, sent if not (amoCRM deduplicates neither).

use std::collections::HashMap;

use super::runner::{Stop, Worker};
use crate::amo::{AmoError, NewNote, NewTask, Rejection};
use crate::db::{PostKind, Posted};

/// Tries for one whose answer is lost: sent, looked for, sent again.
const ROUNDS: usize = 3;

/// What amoCRM holds on one entity: `(id, text, due)` of each note or task.
type Held = Vec<(i64, String, i64)>;

impl Worker<'_> {
    /// Sends every note and task marked and not recorded.
    pub(super) fn post_marked(&mut self) -> Result<(), Stop> {
        for kind in [PostKind::Note, PostKind::Task] {
            let mut left = self.db.posts_in_flight(kind)?;
            for _ in 0..ROUNDS {
                if left.is_empty() {
                    break;
                }
                left = self.found_already(kind, left)?;
                left = self.send_posts(kind, left)?;
            }
        }
        Ok(())
    }

    /// Those not marked in this run are looked for on their entities: those amoCRM holds
    /// are recorded; the rest come back.
    fn found_already(&mut self, kind: PostKind, posts: Vec<Posted>) -> Result<Vec<Posted>, Stop> {
        let mut left = Vec::new();
        let mut read: HashMap<(String, i64), Held> = HashMap::new();
        for p in posts {
            if self.fresh_posts.contains(&p.key) {
                left.push(p);
                continue;
            }
            let at = (p.entity_type.clone(), p.entity_id);
            if !read.contains_key(&at) {
                let held = self.held(kind, &p).map_err(Stop::Amo)?;
                read.insert(at.clone(), held);
            }
            let same = |(_, text, due): &&(i64, String, i64)| *text == p.text && *due == p.due;
            match read[&at].iter().find(same) {
                Some((id, _, _)) => self.recorded(&p, *id, "found in amoCRM")?,
                None => left.push(p),
            }
        }
        Ok(left)
    }

    fn held(&mut self, kind: PostKind, p: &Posted) -> Result<Held, AmoError> {
        Ok(match kind {
            PostKind::Note => (self.amo.notes_of(&p.entity_type, p.entity_id)?.into_iter())
                .map(|n| (n.id, n.text, 0))
                .collect(),
            PostKind::Task => (self.amo.tasks_of(&p.entity_type, p.entity_id)?.into_iter())
                .map(|t| (t.id, t.text, t.complete_till))
                .collect(),
        })
    }

    /// Sends them, a request a kind of entity; those whose answer was lost come back to
    /// be looked for.
    fn send_posts(&mut self, kind: PostKind, posts: Vec<Posted>) -> Result<Vec<Posted>, Stop> {
        let mut by_entity: HashMap<String, Vec<Posted>> = HashMap::new();
        for p in posts {
            by_entity.entry(p.entity_type.clone()).or_default().push(p);
        }
        let mut left = Vec::new();
        for (entity, posts) in by_entity {
            match self.create_posts(kind, &entity, &posts) {
                Ok(answers) => left.extend(self.answered(posts, answers)?),
                Err(AmoError::MaybeApplied(why)) => {
                    log::warn!("{why}; looking for them before sending them again");
                    for p in &posts {
                        self.fresh_posts.remove(&p.key);
                    }
                    left.extend(posts);
                }
                Err(e) => return Err(Stop::Amo(e)),
            }
        }
        Ok(left)
    }

    fn create_posts(
        &mut self,
        kind: PostKind,
        entity: &str,
        posts: &[Posted],
    ) -> Result<Vec<Result<i64, Rejection>>, AmoError> {
        match kind {
            PostKind::Note => {
                let notes: Vec<NewNote> = (posts.iter())
                    .map(|p| NewNote {
                        entity_id: p.entity_id,
                        text: p.text.clone(),
                    })
                    .collect();
                self.amo.add_notes(entity, &notes)
            }
            PostKind::Task => {
                let tasks: Vec<NewTask> = (posts.iter())
                    .map(|p| NewTask {
                        entity_type: entity.to_string(),
                        entity_id: p.entity_id,
                        text: p.text.clone(),
                        complete_till: p.due,
                        responsible_user_id: p.owner,
                    })
                    .collect();
                self.amo.add_tasks(&tasks)
            }
        }
    }

    /// Records what amoCRM made; returns those to send again (without the owner amoCRM
    /// refused).
    fn answered(
        &mut self,
        posts: Vec<Posted>,
        answers: Vec<Result<i64, Rejection>>,
    ) -> Result<Vec<Posted>, Stop> {
        let mut again = Vec::new();
        for (mut p, answer) in posts.into_iter().zip(answers) {
            match (answer, p.owner) {
                (Ok(id), _) => self.recorded(&p, id, "added")?,
                (Err(Rejection::Owner(_)), Some(owner)) => {
                    self.owner_refused(owner);
                    self.db.disown_post(&p.key)?;
                    p.owner = None;
                    // Nothing was made: it needs no look.
                    self.fresh_posts.insert(p.key.clone());
                    again.push(p);
                }
                (Err(why), _) => {
                    log::warn!("{}: amoCRM refused it: {why}", p.key);
                    self.db.forget_post(&p.key)?;
                    self.fresh_posts.remove(&p.key);
                }
            }
        }
        Ok(again)
    }

    fn recorded(&mut self, p: &Posted, id: i64, what: &str) -> Result<(), Stop> {
        self.db.record_post(&p.key, id, crate::log::now())?;
        self.fresh_posts.remove(&p.key);
        let entity = p.entity_type.trim_end_matches('s');
        let kind = p.kind.as_str();
        log::info!(
            "{} → {kind} {id} on {entity} {}: {what}",
            p.key,
            p.entity_id
        );
        Ok(())
    }
}
