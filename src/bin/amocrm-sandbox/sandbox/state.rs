//! The stand-in account's data: entities, their custom fields, tags and links, pipelines,
//! users, tasks, notes and events. Plain data and the invariants of links; no HTTP here:
//! the endpoints of each read and write it.

use std::collections::BTreeMap;

use serde_json::Value;

/// The three entity types the module writes, named as in the API's paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Contacts,
    Companies,
    Leads,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Contacts, Kind::Companies, Kind::Leads];

    pub fn segment(self) -> &'static str {
        match self {
            Kind::Contacts => "contacts",
            Kind::Companies => "companies",
            Kind::Leads => "leads",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.segment() == s)
    }
    /// As the events API names it: `contact`, `company`, `lead`.
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Contacts => "contact",
            Kind::Companies => "company",
            Kind::Leads => "lead",
        }
    }
    pub fn from_singular(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.singular() == s)
    }
    pub fn idx(self) -> usize {
        self as usize
    }
}

/// The user who authorized the integration: every entity, task and note is "responsible"
/// to this user unless told otherwise.
pub const USER_ID: u64 = 504141;
pub const ACCOUNT_ID: u64 = 28805383;
/// Won and lost: present in every pipeline.
pub const WON: u64 = 142;
pub const LOST: u64 = 143;

#[derive(Debug, Clone, PartialEq)]
pub struct EnumDef {
    pub id: u64,
    pub value: String,
    pub sort: i64,
    /// Select options may carry a code; multitext enums are named by their value (WORK, MOB).
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub id: u64,
    pub name: String,
    /// text, numeric, textarea, url, monetary, checkbox, select, radiobutton, multiselect,
    /// multitext, date, date_time, birthday.
    pub field_type: String,
    pub code: Option<String>,
    pub sort: i64,
    pub enums: Vec<EnumDef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub id: u64,
    pub name: String,
    pub sort: i64,
    /// 0 an ordinary status, 1 "unsorted".
    pub kind: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub id: u64,
    pub name: String,
    pub sort: i64,
    pub is_main: bool,
    pub is_archive: bool,
    pub statuses: Vec<Status>,
}

impl Pipeline {
    pub fn has_status(&self, id: u64) -> bool {
        self.statuses.iter().any(|s| s.id == id)
    }
    /// Where a new lead lands when no status is given: the first open status.
    pub fn first_open_status(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|s| s.id != WON && s.id != LOST)
            .min_by_key(|s| s.sort)
            .map(|s| s.id)
            .unwrap_or(WON)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub id: u64,
    pub name: String,
}

/// A field's stored values, already in the shape they are read back in.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldValues {
    pub field_id: u64,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Entity {
    pub id: u64,
    pub name: String,
    pub first_name: String,
    pub last_name: String,
    pub price: i64,
    pub pipeline_id: u64,
    pub status_id: u64,
    pub responsible_user_id: u64,
    pub created_at: i64,
    pub updated_at: i64,
    pub fields: Vec<FieldValues>,
    pub tags: Vec<u64>,
    /// Leads and companies: linked contacts, `true` for a lead's main contact.
    pub contacts: Vec<(u64, bool)>,
    /// Leads and contacts (a contact has at most one).
    pub companies: Vec<u64>,
    /// Contacts and companies.
    pub leads: Vec<u64>,
    /// Name and field values in lower case, what `query` searches: kept up to date by
    /// [`Entity::reindex`] so a search over thousands of entities stays cheap.
    pub search: String,
}

impl Entity {
    pub fn reindex(&mut self) {
        let mut s = String::new();
        for part in [&self.name, &self.first_name, &self.last_name] {
            s.push_str(&part.to_lowercase());
            s.push('\n');
        }
        for v in self.fields.iter().flat_map(|f| f.values.iter()) {
            match &v["value"] {
                Value::String(text) => s.push_str(&text.to_lowercase()),
                Value::Null => {}
                other => s.push_str(&other.to_string()),
            }
            s.push('\n');
        }
        self.search = s;
    }

    /// `query`: a case-insensitive substring of the name or of a custom field value.
    /// `q` is already in lower case. A query of digits alone also matches a value whose
    /// digits contain it, the way amoCRM finds a phone written with spaces and dashes.
    pub fn matches(&self, q: &str) -> bool {
        let digits_only = !q.is_empty() && q.chars().all(|c| c.is_ascii_digit());
        self.search.split('\n').any(|part| {
            part.contains(q)
                || (digits_only
                    && part
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>()
                        .contains(q))
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: u64,
    pub name: String,
    pub subdomain: String,
}

/// Everything the account holds. `reset` rebuilds it from the seed.
#[derive(Debug, Clone)]
pub struct Crm {
    pub account: Account,
    pub pipelines: Vec<Pipeline>,
    pub fields: [Vec<FieldDef>; 3],
    pub tags: [Vec<Tag>; 3],
    pub entities: [BTreeMap<u64, Entity>; 3],
    pub users: BTreeMap<u64, User>,
    pub tasks: BTreeMap<u64, Task>,
    pub notes: BTreeMap<u64, Note>,
    /// What managers did that the events API shows (deletions, merges), oldest first.
    pub events: Vec<Event>,
    next_id: u64,
    next_tag_id: u64,
}

impl Crm {
    pub fn new(account: Account) -> Crm {
        Crm {
            account,
            pipelines: Vec::new(),
            fields: Default::default(),
            tags: Default::default(),
            entities: Default::default(),
            users: default_users(),
            tasks: BTreeMap::new(),
            notes: BTreeMap::new(),
            events: Vec::new(),
            next_id: 40_000_001,
            next_tag_id: 600_001,
        }
    }

    /// A fresh id for an entity, task or note; one sequence keeps ids of different types
    /// apart, so a contact id sent as a company id is caught.
    pub fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Makes sure ids given by a seed are never handed out again.
    pub fn reserve_id(&mut self, id: u64) {
        if id >= self.next_id {
            self.next_id = id + 1;
        }
    }

    pub fn main_pipeline(&self) -> Option<&Pipeline> {
        self.pipelines
            .iter()
            .find(|p| p.is_main)
            .or(self.pipelines.first())
    }

    pub fn pipeline(&self, id: u64) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    pub fn entity(&self, kind: Kind, id: u64) -> Option<&Entity> {
        self.entities[kind.idx()].get(&id)
    }

    pub fn field_by_id(&self, kind: Kind, id: u64) -> Option<&FieldDef> {
        self.fields[kind.idx()].iter().find(|f| f.id == id)
    }

    pub fn field_by_code(&self, kind: Kind, code: &str) -> Option<&FieldDef> {
        self.fields[kind.idx()].iter().find(|f| {
            f.code
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(code))
        })
    }

    pub fn tag_by_name(&self, kind: Kind, name: &str) -> Option<&Tag> {
        self.tags[kind.idx()].iter().find(|t| t.name == name)
    }

    pub fn tag_by_id(&self, kind: Kind, id: u64) -> Option<&Tag> {
        self.tags[kind.idx()].iter().find(|t| t.id == id)
    }

    /// The tag's id, creating it when the name is new to this entity type.
    pub fn tag_id(&mut self, kind: Kind, name: &str) -> u64 {
        if let Some(t) = self.tag_by_name(kind, name) {
            return t.id;
        }
        let id = self.new_tag_id();
        self.tags[kind.idx()].push(Tag {
            id,
            name: name.to_string(),
        });
        id
    }

    pub fn new_tag_id(&mut self) -> u64 {
        let id = self.next_tag_id;
        self.next_tag_id += 1;
        id
    }

    pub fn reserve_tag_id(&mut self, id: u64) {
        if id >= self.next_tag_id {
            self.next_tag_id = id + 1;
        }
    }

    /// Whether two types can be linked at all (leads ↔ contacts, companies; contacts ↔ companies).
    pub fn linkable(a: Kind, b: Kind) -> bool {
        a != b
    }

    /// Links two existing entities, both ways. A contact keeps one company: linking another
    /// replaces it. A lead has one main contact.
    pub fn link(&mut self, a: (Kind, u64), b: (Kind, u64), is_main: bool) {
        let (a, b) = if a.0 <= b.0 { (a, b) } else { (b, a) };
        match (a.0, b.0) {
            (Kind::Contacts, Kind::Companies) => {
                let (contact, company) = (a.1, b.1);
                let old: Vec<u64> = self.entities[Kind::Contacts.idx()]
                    .get(&contact)
                    .map(|c| c.companies.clone())
                    .unwrap_or_default();
                for prev in old.into_iter().filter(|&p| p != company) {
                    self.unlink((Kind::Contacts, contact), (Kind::Companies, prev));
                }
                if let Some(c) = self.entities[Kind::Contacts.idx()].get_mut(&contact)
                    && !c.companies.contains(&company)
                {
                    c.companies.push(company);
                }
                if let Some(co) = self.entities[Kind::Companies.idx()].get_mut(&company)
                    && !co.contacts.iter().any(|(id, _)| *id == contact)
                {
                    co.contacts.push((contact, false));
                }
            }
            (Kind::Contacts, Kind::Leads) => {
                let (contact, lead) = (a.1, b.1);
                if let Some(l) = self.entities[Kind::Leads.idx()].get_mut(&lead) {
                    let first = l.contacts.is_empty();
                    if is_main || first {
                        for c in l.contacts.iter_mut() {
                            c.1 = false;
                        }
                    }
                    match l.contacts.iter_mut().find(|(id, _)| *id == contact) {
                        Some(c) => c.1 = c.1 || is_main,
                        None => l.contacts.push((contact, is_main || first)),
                    }
                }
                if let Some(c) = self.entities[Kind::Contacts.idx()].get_mut(&contact)
                    && !c.leads.contains(&lead)
                {
                    c.leads.push(lead);
                }
            }
            (Kind::Companies, Kind::Leads) => {
                let (company, lead) = (a.1, b.1);
                if let Some(l) = self.entities[Kind::Leads.idx()].get_mut(&lead)
                    && !l.companies.contains(&company)
                {
                    l.companies.push(company);
                }
                if let Some(co) = self.entities[Kind::Companies.idx()].get_mut(&company)
                    && !co.leads.contains(&lead)
                {
                    co.leads.push(lead);
                }
            }
            _ => {}
        }
    }

    pub fn unlink(&mut self, a: (Kind, u64), b: (Kind, u64)) {
        for (from, to) in [(a, b), (b, a)] {
            if let Some(e) = self.entities[from.0.idx()].get_mut(&from.1) {
                match to.0 {
                    Kind::Contacts => e.contacts.retain(|(id, _)| *id != to.1),
                    Kind::Companies => e.companies.retain(|id| *id != to.1),
                    Kind::Leads => e.leads.retain(|id| *id != to.1),
                }
            }
        }
    }
}

// ---- the account's records beside its entities: users, tasks, notes, events ----

/// Two active managers and one who left, beside the user who authorized the integration.
pub const MANAGER_1: u64 = 504142;
pub const MANAGER_2: u64 = 504143;
pub const FORMER: u64 = 504144;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub lang: String,
    pub is_active: bool,
    pub is_admin: bool,
}

fn user(id: u64, name: &str, email: &str, is_active: bool, is_admin: bool) -> (u64, User) {
    let u = User {
        id,
        name: name.into(),
        email: email.into(),
        lang: "ru".into(),
        is_active,
        is_admin,
    };
    (id, u)
}

/// Every account starts with these; their ids and e-mails are stable, tests name them.
pub fn default_users() -> BTreeMap<u64, User> {
    BTreeMap::from([
        user(USER_ID, "Администратор", "owner@example.com", true, true),
        user(MANAGER_1, "Менеджер 1", "manager1@example.com", true, false),
        user(MANAGER_2, "Менеджер 2", "manager2@example.com", true, false),
        user(
            FORMER,
            "Бывший менеджер",
            "former@example.com",
            false,
            false,
        ),
    ])
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: u64,
    pub text: String,
    pub complete_till: i64,
    /// The contact, company or lead it is about, if any.
    pub entity: Option<(Kind, u64)>,
    /// 1 a call, 2 a meeting.
    pub task_type_id: u64,
    pub responsible_user_id: u64,
    pub is_completed: bool,
    pub result: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub id: u64,
    pub kind: Kind,
    pub entity_id: u64,
    pub note_type: String,
    pub params: Value,
    pub responsible_user_id: u64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// A 26-character string, as amoCRM's event ids are (`01drbfj5a8k9zd60bgg907a6w9`).
    pub id: String,
    /// `contact_deleted`, `company_deleted`, `lead_deleted`, `entity_merged`.
    pub kind: String,
    pub entity: Kind,
    pub entity_id: u64,
    pub created_at: i64,
    pub value_before: Value,
    pub value_after: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crm_with(kinds: &[(Kind, u64)]) -> Crm {
        let mut crm = Crm::new(Account {
            id: ACCOUNT_ID,
            name: "t".into(),
            subdomain: "t".into(),
        });
        for &(k, id) in kinds {
            crm.entities[k.idx()].insert(
                id,
                Entity {
                    id,
                    ..Entity::default()
                },
            );
        }
        crm
    }

    #[test]
    fn a_contact_keeps_one_company() {
        let mut crm = crm_with(&[
            (Kind::Contacts, 1),
            (Kind::Companies, 2),
            (Kind::Companies, 3),
        ]);
        crm.link((Kind::Contacts, 1), (Kind::Companies, 2), false);
        crm.link((Kind::Companies, 3), (Kind::Contacts, 1), false);
        assert_eq!(crm.entities[Kind::Contacts.idx()][&1].companies, vec![3]);
        assert!(crm.entities[Kind::Companies.idx()][&2].contacts.is_empty());
        assert_eq!(
            crm.entities[Kind::Companies.idx()][&3].contacts,
            vec![(1, false)]
        );
    }

    #[test]
    fn a_lead_has_one_main_contact() {
        let mut crm = crm_with(&[(Kind::Leads, 1), (Kind::Contacts, 2), (Kind::Contacts, 3)]);
        crm.link((Kind::Leads, 1), (Kind::Contacts, 2), false);
        crm.link((Kind::Leads, 1), (Kind::Contacts, 3), true);
        assert_eq!(
            crm.entities[Kind::Leads.idx()][&1].contacts,
            vec![(2, false), (3, true)]
        );
        crm.unlink((Kind::Contacts, 3), (Kind::Leads, 1));
        assert_eq!(
            crm.entities[Kind::Leads.idx()][&1].contacts,
            vec![(2, false)]
        );
        assert!(crm.entities[Kind::Contacts.idx()][&3].leads.is_empty());
    }

    #[test]
    fn new_pipelines_put_leads_in_the_first_open_status() {
        let p = Pipeline {
            id: 1,
            name: "p".into(),
            sort: 1,
            is_main: true,
            is_archive: false,
            statuses: vec![
                Status {
                    id: WON,
                    name: "won".into(),
                    sort: 10000,
                    kind: 0,
                },
                Status {
                    id: 11,
                    name: "b".into(),
                    sort: 20,
                    kind: 0,
                },
                Status {
                    id: 10,
                    name: "a".into(),
                    sort: 10,
                    kind: 0,
                },
            ],
        };
        assert_eq!(p.first_open_status(), 10);
        assert!(p.has_status(WON));
    }
}
