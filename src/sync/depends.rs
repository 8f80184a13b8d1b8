//! What payers and services hang on: their client's contact, and a service's company
//! (its client's first payer that is, or can be made, a company). What is not in amoCRM
//! yet is synced first, a batch of them at a time, so an entity made on the way is
//! linked before anything else looks for it and is never made twice.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::kinds;
use super::read::Read;
use super::record::NotSynced;
use super::runner::{Stop, Worker};
use super::target::Target;
use crate::model::EntityKind;

/// A read entity with what it hangs on.
pub(super) struct Hung {
    pub read: Read,
    pub contact: Option<i64>,
    pub company: Option<i64>,
}

/// Each id's amoCRM id, or why it is not in amoCRM.
type Fates = HashMap<i64, Result<i64, NotSynced>>;

impl Worker<'_> {
    /// Hangs admitted entities on their contact (and company); settles those whose
    /// client is kept out (skipped for good) or could not be sent (tried again later).
    pub(super) fn hang(&mut self, kind: EntityKind, reads: Vec<Read>) -> Result<Vec<Hung>, Stop> {
        let needs = kinds::of(kind).needs();
        let client = |r: &Read| r.record.as_ref().and_then(|rec| rec.int("account.id"));
        if !needs.contact {
            let hung = reads.into_iter().map(|read| Hung {
                read,
                contact: None,
                company: None,
            });
            return Ok(hung.collect());
        }
        let clients: Vec<i64> = unique(reads.iter().filter_map(client));
        let contacts = self.ensure(EntityKind::Account, &clients)?;
        let mut hung = Vec::new();
        for read in reads {
            let account = client(&read).unwrap_or(0);
            match contacts.get(&account) {
                Some(Ok(contact)) => hung.push(Hung {
                    contact: Some(*contact),
                    company: None,
                    read,
                }),
                Some(Err(NotSynced::KeptOut)) => {
                    let why =
                        format!("its client {account} is not synced (its condition does not hold)");
                    self.ledger.skipped(&read.target, &why);
                }
                _ => {
                    let why = format!("its client {account} could not be sent to amoCRM yet");
                    self.ledger.failed(&read.target, &why);
                }
            }
        }
        if needs.company {
            let clients = unique(hung.iter().filter_map(|h| client(&h.read)));
            let companies = self.companies_of(&clients)?;
            for h in &mut hung {
                h.company = client(&h.read).and_then(|c| companies.get(&c).copied().flatten());
            }
        }
        Ok(hung)
    }

    /// The amoCRM ids of these entities, syncing first those never synced (unless this
    /// run tried them already).
    pub(super) fn ensure(&mut self, kind: EntityKind, ids: &[i64]) -> Result<Fates, Stop> {
        let links = self.db.links_of(kind, ids)?;
        let mut fates: Fates = links.iter().map(|(id, l)| (*id, Ok(l.amocrm_id))).collect();
        let mut missing = Vec::new();
        for &id in ids.iter().filter(|id| !links.contains_key(id)) {
            match self.ledger.not_synced(kind, id) {
                Some(why) => {
                    fates.insert(id, Err(why));
                }
                None => missing.push(id),
            }
        }
        if missing.is_empty() {
            return Ok(fates);
        }
        let targets = missing
            .iter()
            .map(|&id| Target::dependency(kind, id))
            .collect();
        let mut ready = self.prepare(kind, targets)?;
        while !ready.is_empty() {
            let rest = ready.split_off(ready.len().min(self.cfg.sync.batch_size));
            self.send(kind, ready)?;
            ready = rest;
        }
        let links = self.db.links_of(kind, &missing)?;
        for id in missing {
            let fate = match links.get(&id) {
                Some(l) => Ok(l.amocrm_id),
                None => Err(self
                    .ledger
                    .not_synced(kind, id)
                    .unwrap_or(NotSynced::NotYet)),
            };
            fates.insert(id, fate);
        }
        Ok(fates)
    }

    /// Each client's company for its services: its first payer (by id) linked to one;
    /// else the first of its payers, tried in order, that can be synced now.
    fn companies_of(&mut self, clients: &[i64]) -> Result<HashMap<i64, Option<i64>>, Stop> {
        let payers = self.db.profiles_of_accounts(clients)?;
        let ids: Vec<i64> = payers.iter().map(|(_, p)| *p).collect();
        let links = self.db.links_of(EntityKind::Profile, &ids)?;
        let mut found: HashMap<i64, Option<i64>> = clients.iter().map(|c| (*c, None)).collect();
        let mut untried: BTreeMap<i64, VecDeque<i64>> = BTreeMap::new();
        for (client, payer) in payers {
            match (found.get(&client), links.get(&payer)) {
                (Some(Some(_)), _) => {}
                (_, Some(l)) => {
                    found.insert(client, Some(l.amocrm_id));
                    untried.remove(&client);
                }
                _ => untried.entry(client).or_default().push_back(payer),
            }
        }
        while !untried.is_empty() {
            let round: Vec<(i64, i64)> = untried
                .iter_mut()
                .filter_map(|(c, ps)| Some((*c, ps.pop_front()?)))
                .collect();
            let payers: Vec<i64> = round.iter().map(|(_, p)| *p).collect();
            let fates = self.ensure(EntityKind::Profile, &payers)?;
            for (client, payer) in round {
                if let Some(Ok(company)) = fates.get(&payer) {
                    found.insert(client, Some(*company));
                    untried.remove(&client);
                }
            }
            untried.retain(|_, ps| !ps.is_empty());
        }
        Ok(found)
    }
}

/// The distinct values, in first-seen order.
fn unique(values: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    values.filter(|v| seen.insert(*v)).collect()
}

#[cfg(test)]
mod tests {
    use super::super::stand::Stand;
    use super::*;

    #[test]
    fn what_services_hang_on_is_made_first_and_once() {
        let stand = Stand::sample("dedup =");
        let mut w = stand.worker();
        // Services 1002 and 1004 of client 3, whose payers 22 and 23 are companies.
        let items = [1002, 1004].map(|id| Target::dependency(EntityKind::Item, id));
        let ready = w
            .prepare(EntityKind::Item, items.to_vec())
            .expect("prepared");
        assert_eq!(stand.count("POST /api/v4/contacts"), 1);
        assert_eq!(stand.count("POST /api/v4/companies"), 1);
        let mut db = stand.db();
        let contact = db
            .link(EntityKind::Account, 3)
            .unwrap()
            .expect("client")
            .amocrm_id;
        let company = db
            .link(EntityKind::Profile, 22)
            .unwrap()
            .expect("payer")
            .amocrm_id;
        assert!(
            db.link(EntityKind::Profile, 23).unwrap().is_none(),
            "only the first"
        );
        for r in &ready {
            assert_eq!((r.contact, r.company), (Some(contact), Some(company)));
        }
        // Asked again: found, not made again.
        let again = w.prepare(
            EntityKind::Item,
            vec![Target::dependency(EntityKind::Item, 1003)],
        );
        assert_eq!(again.expect("prepared")[0].company, Some(company));
        assert_eq!(stand.count("POST /api/v4/contacts"), 1);
        assert_eq!(stand.count("POST /api/v4/companies"), 1);
    }

    #[test]
    fn a_service_of_a_client_kept_out_is_skipped_and_the_client_remembered() {
        let stand = Stand::new("dedup =", |rules| {
            rules.replace(
                "; account = account.project = 1",
                "account = account.project = 1",
            )
        });
        let mut w = stand.worker();
        // Client 4 is of project 2: services 1005 and 1008 (client 6, project 2) too.
        let items = [1005, 1008].map(|id| Target::dependency(EntityKind::Item, id));
        let ready = w
            .prepare(EntityKind::Item, items.to_vec())
            .expect("prepared");
        assert!(ready.is_empty());
        assert_eq!(
            w.ledger.not_synced(EntityKind::Account, 4),
            Some(NotSynced::KeptOut)
        );
        assert!(
            stand.calls().iter().all(|c| c.starts_with("GET ")),
            "nothing made"
        );
    }
}
