//! Links that heal. A manager may delete a contact, company or lead in amoCRM, or merge it
//! into another; its panel entity's link then names an id amoCRM no longer has. It is
//! noticed when the entity is sent again: missing from the read back, or a PATCH
//! answered "not found". The link is replaced: a client is matched again to an existing
//! contact by the duplicate rules (the survivor of a merge, when it has the client's
//! e-mail or phone and no other client has it), else the entity is made anew; and what
//! hung on the old entity is hung on the new one, with amoCRM's link calls. A new lead
//! naming a contact or company amoCRM no longer has queues that entity's panel entity to
//! heal it, and is tried again after it.

use std::collections::HashSet;

use super::kinds;
use super::runner::{Healed, Stop, Worker};
use super::target::{Gone, Ready, Update};
use crate::amo::{AmoError, LinkRequest};
use crate::db::NewJob;
use crate::model::EntityKind;

/// What is to hang on a healed entity: the client's leads, and for a contact its client's
/// first company.
#[derive(Debug, Default, PartialEq, Eq)]
struct Hangers {
    leads: Vec<i64>,
    company: Option<i64>,
}

impl Worker<'_> {
    /// Replaces the links of gone entities: a client matching an existing contact is
    /// linked to it (read back and updated as `update` allows); the rest join `creates`.
    pub(super) fn heal(
        &mut self,
        kind: EntityKind,
        gone: Vec<Gone>,
        taken: &mut HashSet<i64>,
        creates: &mut Vec<Ready>,
    ) -> Result<(), Stop> {
        let mut matched = Vec::new();
        for g in gone {
            let key = (kind, g.ready.target.id);
            self.heals.pending.insert(key, g.was);
            match self.rematch(kind, &g, taken)? {
                Some(found) => {
                    taken.insert(found);
                    matched.push(Update {
                        ready: g.ready,
                        amo_id: found,
                        what: "linked to the existing contact",
                        last: String::new(),
                    });
                }
                None => creates.push(self.rehung(g.ready)?),
            }
        }
        // A match removed too by the time it is read back is made anew.
        creates.extend(self.update(kind, matched)?.into_iter().map(|g| g.ready));
        Ok(())
    }

    /// The existing entity a gone one's target takes instead (a contact, by its client's
    /// e-mail and phone); `None`: it is made anew.
    fn rematch(
        &mut self,
        kind: EntityKind,
        g: &Gone,
        taken: &HashSet<i64>,
    ) -> Result<Option<i64>, Stop> {
        let found = if kinds::of(kind).matches_existing() {
            self.find_existing(&g.ready, taken)?
        } else {
            None
        };
        let (one, id) = (kind.amo_one(), g.ready.target.id);
        let then = match found {
            Some(f) => format!("linked to the existing {one} {f}"),
            None => format!("making a new {one}"),
        };
        log::warn!("{kind} {id}: {one} {} is gone from amoCRM; {then}", g.was);
        Ok(found)
    }

    /// A company made in place of a gone one takes its client's contact only when it is
    /// the client's first company (amoCRM keeps one company per contact).
    fn rehung(&mut self, mut r: Ready) -> Result<Ready, Stop> {
        if kinds::of(r.target.kind).takes_contact() && r.contact.is_some() {
            let first = self
                .first_company(r.plan.account_id)?
                .map(|(payer, _)| payer);
            if first != Some(r.target.id) {
                r.contact = None;
            }
        }
        Ok(r)
    }

    /// The client's first payer (by id) linked to a company, with that company: the one
    /// its contact and its services' leads take.
    fn first_company(&mut self, account: Option<i64>) -> Result<Option<(i64, i64)>, Stop> {
        let Some(account) = account else {
            return Ok(None);
        };
        let payers = self.db.profiles_of_account(account)?;
        let links = self.db.links_of(EntityKind::Profile, &payers)?;
        Ok((payers.into_iter()).find_map(|p| links.get(&p).map(|l| (p, l.amocrm_id))))
    }

    /// Called as a target is linked: a target being healed waits for what hung on its
    /// old entity.
    pub(super) fn note_healed(&mut self, r: &Ready, amo_id: i64, fresh: bool) {
        let (kind, id) = (r.target.kind, r.target.id);
        let Some(was) = self.heals.pending.remove(&(kind, id)) else {
            return;
        };
        let account = match kind {
            EntityKind::Account => Some(id),
            _ => r.plan.account_id,
        };
        self.heals.done.push(Healed {
            kind,
            id,
            account,
            was,
            now: amo_id,
            fresh,
        });
    }

    /// Hangs on each entity healed in this batch what hung on the one it replaces (its
    /// links are recorded first, so the lookups see them).
    pub(super) fn hang_on_healed(&mut self) -> Result<(), Stop> {
        self.heals.pending.clear();
        let mut leads = Vec::new();
        for h in std::mem::take(&mut self.heals.done) {
            let hangers = self.hangers(&h)?;
            log::info!("{}", hung_message(&h, &hangers));
            leads.extend(hangers.leads.iter().map(|&lead| LinkRequest {
                entity_id: lead,
                to_entity_type: h.kind.amo_entity().into(),
                to_entity_id: h.now,
                is_main: h.kind == EntityKind::Account,
            }));
            if let Some(company) = hangers.company {
                self.company_links.push(LinkRequest {
                    entity_id: company,
                    to_entity_type: "contacts".into(),
                    to_entity_id: h.now,
                    is_main: false,
                });
            }
        }
        self.send_links("leads", leads)
    }

    /// What is to hang on a healed entity and does not yet: for a contact, its client's
    /// leads (it becomes their main contact) and first company; for the client's first
    /// company, the client's leads. A company's contact is linked as for any new company.
    fn hangers(&mut self, h: &Healed) -> Result<Hangers, Stop> {
        let first = self.first_company(h.account)?;
        let mut hangers = match h.kind {
            EntityKind::Account => Hangers {
                leads: self.leads_of(h.account)?,
                company: first.map(|(_, company)| company),
            },
            EntityKind::Profile if first.is_some_and(|(payer, _)| payer == h.id) => Hangers {
                leads: self.leads_of(h.account)?,
                company: None,
            },
            _ => Hangers::default(),
        };
        if !h.fresh && hangers != Hangers::default() {
            self.drop_present(h, &mut hangers)?;
        }
        Ok(hangers)
    }

    /// The amoCRM leads of a client's services.
    fn leads_of(&mut self, account: Option<i64>) -> Result<Vec<i64>, Stop> {
        let Some(account) = account else {
            return Ok(Vec::new());
        };
        let items: Vec<i64> = (self.db.items_of_accounts(&[account])?.into_iter())
            .map(|(_, item)| item)
            .collect();
        let links = self.db.links_of(EntityKind::Item, &items)?;
        Ok(items
            .iter()
            .filter_map(|i| links.get(i))
            .map(|l| l.amocrm_id)
            .collect())
    }

    /// Leaves out what an existing entity holds already (a merge moved the removed
    /// one's links to it): amoCRM has been seen to answer 500 to a link that exists.
    fn drop_present(&mut self, h: &Healed, hangers: &mut Hangers) -> Result<(), Stop> {
        let entity = h.kind.amo_entity();
        let current = match self.amo.get_by_ids(entity, &[h.now], "leads") {
            Ok(found) => found.into_iter().next().unwrap_or_default(),
            Err(e @ (AmoError::Refused { .. } | AmoError::Unavailable(_))) => {
                return Err(Stop::Amo(e));
            }
            Err(e) => {
                log::warn!("{entity} {} not read back before linking: {e}", h.now);
                return Ok(());
            }
        };
        hangers.leads.retain(|l| !current.leads.contains(l));
        hangers.company = hangers.company.filter(|c| !current.companies.contains(c));
        Ok(())
    }

    /// A new lead named a contact or company amoCRM no longer has: that entity's panel
    /// entity is queued to heal it (its link kept without a fingerprint, so it is read
    /// back even unchanged), and this target fails until then (tried again after its
    /// backoff).
    pub(super) fn link_gone(&mut self, r: &Ready, entity: &str) -> Result<(), Stop> {
        let (kind, amo_id) = match entity {
            "contacts" => (EntityKind::Account, r.contact),
            _ => (EntityKind::Profile, r.company),
        };
        let owner = match amo_id {
            Some(a) => self.db.linked_to(kind, a)?,
            None => None,
        };
        let why = match (owner, amo_id) {
            (Some(owner), Some(a)) => {
                self.ledger.stale(kind, owner, a);
                let job = NewJob::for_id(kind, owner, "heal");
                self.db.enqueue(&[job], crate::log::now())?;
                let one = kind.amo_one();
                format!("its {one} {a} is gone from amoCRM; {kind} {owner} is queued to heal it")
            }
            _ => format!("a {entity} it names is gone from amoCRM"),
        };
        self.ledger.failed(&r.target, &why);
        Ok(())
    }
}

/// `account 3: created contact 40000021 in place of 40000003; 2 leads and company
/// 40000007 hung on it`.
fn hung_message(h: &Healed, hangers: &Hangers) -> String {
    let how = if h.fresh { "created" } else { "linked to" };
    let mut parts = Vec::new();
    if !hangers.leads.is_empty() {
        let n = hangers.leads.len();
        parts.push(format!("{n} lead{}", if n == 1 { "" } else { "s" }));
    }
    if let Some(c) = hangers.company {
        parts.push(format!("company {c}"));
    }
    let hung = if parts.is_empty() {
        "nothing to hang on it".to_string()
    } else {
        format!("{} hung on it", parts.join(" and "))
    };
    let (kind, id, one) = (h.kind, h.id, h.kind.amo_one());
    format!(
        "{kind} {id}: {how} {one} {} in place of {}; {hung}",
        h.now, h.was
    )
}

#[cfg(test)]
mod tests {
    use super::super::stand::Stand;
    use super::super::target::Target;
    use super::*;
    use crate::amo::{EntityPatch, NewEntity};
    use EntityKind::{Account, Item, Profile};

    fn send(w: &mut Worker, kind: EntityKind, ids: &[i64]) {
        let targets = ids.iter().map(|id| Target::dependency(kind, *id)).collect();
        let ready = w.prepare(kind, targets).expect("prepared");
        w.send(kind, ready).expect("sent");
        w.send_company_links().expect("company links");
    }

    fn ids(v: &serde_json::Value, kind: &str) -> Vec<i64> {
        let list = v["_embedded"][kind].as_array().into_iter().flatten();
        list.filter_map(|x| x["id"].as_i64()).collect()
    }

    fn main_contact(lead: &serde_json::Value) -> Option<i64> {
        let contacts = lead["_embedded"]["contacts"].as_array()?;
        let main = contacts.iter().find(|c| c["is_main"] == true)?;
        main["id"].as_i64()
    }

    const RENAME_CLIENT_3: &str = "UPDATE user SET realname = 'Петров П. П.' WHERE id = 12";

    #[test]
    fn a_deleted_contact_is_made_anew_and_the_clients_leads_and_company_hang_on_it() {
        let stand = Stand::sample("");
        let mut w = stand.worker();
        send(&mut w, Item, &[1002, 1003, 1004]);
        let (old, company) = (stand.linked(Account, 3), stand.linked(Profile, 22));
        stand.delete("contacts", &[old]);
        stand.sql(RENAME_CLIENT_3);
        send(&mut w, Account, &[3]);
        let new = stand.linked(Account, 3);
        assert_ne!(new, old);
        assert_eq!(stand.entity("contacts", new)["name"], "Петров П. П.");
        for item in [1002, 1003, 1004] {
            let lead = stand.entity("leads", stand.linked(Item, item));
            assert_eq!(main_contact(&lead), Some(new), "{lead}");
        }
        assert_eq!(ids(&stand.entity("contacts", new), "companies"), [company]);
        assert_eq!(stand.count("POST /api/v4/leads/link"), 1, "one request");
        assert_eq!(w.ledger.report.failed, 0);
    }

    #[test]
    fn a_contact_merged_into_an_unlinked_one_is_linked_to_the_survivor() {
        let stand = Stand::sample("");
        let mut w = stand.worker();
        send(&mut w, Item, &[1002]);
        let (old, lead) = (stand.linked(Account, 3), stand.linked(Item, 1002));
        let manual = NewEntity {
            name: "Пётр (карточка менеджера)".into(),
            ..NewEntity::default()
        };
        let made = w.amo.create("contacts", &[manual]).expect("created");
        let survivor = made[0].clone().expect("id");
        stand.merge("contacts", survivor, &[old]);
        let calls = stand.calls().len();
        stand.sql(RENAME_CLIENT_3);
        send(&mut w, Account, &[3]);
        assert_eq!(stand.linked(Account, 3), survivor, "matched by its e-mail");
        let writes = stand.calls()[calls..].to_vec();
        assert!(
            !writes.iter().any(|c| c.starts_with("POST")),
            "nothing made, nothing linked twice: {writes:?}"
        );
        let kept = stand.entity("contacts", survivor);
        assert_eq!(kept["name"], "Пётр (карточка менеджера)", "fill_empty");
        assert_eq!(main_contact(&stand.entity("leads", lead)), Some(survivor));
    }

    #[test]
    fn a_patch_answered_not_found_is_healed_like_a_missing_read_back() {
        let stand = Stand::sample("dedup =");
        let mut w = stand.worker();
        send(&mut w, Account, &[2]);
        let old = stand.linked(Account, 2);
        stand.sql("UPDATE user SET realname = 'Иванов И. И.' WHERE id = 11");
        let ready = w.prepare(Account, vec![Target::dependency(Account, 2)]);
        let ready = ready.expect("prepared").pop().expect("changed");
        let last = ready.link.clone().expect("linked").fingerprint;
        // Removed after the read back, before the PATCH.
        stand.delete("contacts", &[old]);
        let patch = EntityPatch {
            id: old,
            name: Some("Иванов И. И.".into()),
            ..EntityPatch::default()
        };
        let what = "updated";
        let u = Update {
            ready,
            amo_id: old,
            what,
            last,
        };
        let gone = w.patch(Account, vec![(u, patch)]).expect("sent");
        assert_eq!(gone.iter().map(|g| g.was).collect::<Vec<_>>(), [old]);
        assert_eq!(w.ledger.report.failed, 0, "not a failure");
        let mut creates = Vec::new();
        w.heal(Account, gone, &mut HashSet::new(), &mut creates)
            .expect("healed");
        assert_eq!(creates.len(), 1, "to be made anew");
    }

    #[test]
    fn a_deleted_company_is_made_anew_on_its_contact_with_the_clients_leads() {
        let stand = Stand::sample("dedup =");
        let mut w = stand.worker();
        send(&mut w, Item, &[1002, 1003, 1004]);
        let (old, contact) = (stand.linked(Profile, 22), stand.linked(Account, 3));
        stand.delete("companies", &[old]);
        stand.sql("UPDATE profile SET name = 'ООО «Ромашка+»' WHERE id = 22");
        send(&mut w, Profile, &[22]);
        let new = stand.linked(Profile, 22);
        assert_ne!(new, old);
        assert_eq!(ids(&stand.entity("contacts", contact), "companies"), [new]);
        for item in [1002, 1003, 1004] {
            let lead = stand.entity("leads", stand.linked(Item, item));
            assert_eq!(ids(&lead, "companies"), [new], "{lead}");
        }
    }

    #[test]
    fn a_lead_naming_a_gone_contact_queues_its_client_and_follows_it() {
        let stand = Stand::sample("dedup =");
        let mut w = stand.worker();
        send(&mut w, Account, &[3]);
        let old = stand.linked(Account, 3);
        stand.delete("contacts", &[old]);
        let job = NewJob::for_id(Item, 1004, "service.postopen");
        w.db.enqueue(&[job], 1).expect("queued");
        w.drain().expect("drained");
        let new = stand.linked(Account, 3);
        assert_ne!(new, old, "the client healed in the same run");
        let failed = w.db.list_jobs(&["failed"], 10).expect("jobs");
        let error = failed[0].last_error.clone().unwrap_or_default();
        assert_eq!(failed.len(), 1);
        assert!(error.contains("account 3 is queued to heal it"), "{error}");
        // Its next try: on the new contact.
        w.db.retry_jobs(&[failed[0].id], crate::log::now())
            .expect("due");
        w.drain().expect("drained");
        let lead = stand.entity("leads", stand.linked(Item, 1004));
        assert_eq!(main_contact(&lead), Some(new));
        let company = stand.linked(Profile, 22);
        assert_eq!(ids(&stand.entity("contacts", new), "companies"), [company]);
    }
}
