//! The resolve stage: claimed jobs become the entities they name. Jobs that name one
//! entity — by id, by a login, by a user, as the newest payer of a client — become one
//! target, so the entity is planned, sent and linked once.

use std::collections::HashMap;

use super::plan::Plan;
use crate::db::{DbResult, Job, Link, Lookup, PanelDb};
use crate::model::EntityKind;

/// One entity to sync, with every claimed job that names it (none when it is synced as
/// what another entity hangs on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: EntityKind,
    pub id: i64,
    pub jobs: Vec<Job>,
}

impl Target {
    /// An entity synced because another hangs on it.
    pub fn dependency(kind: EntityKind, id: i64) -> Target {
        Target {
            kind,
            id,
            jobs: Vec::new(),
        }
    }
}

/// A target planned and waiting for its batch: what to send and what it hangs on.
#[derive(Debug, Clone)]
pub struct Ready {
    pub target: Target,
    pub plan: Plan,
    pub link: Option<Link>,
    /// The client's contact (payers and services).
    pub contact: Option<i64>,
    /// The client's first company (services).
    pub company: Option<i64>,
}

/// What the jobs of a claim came to.
#[derive(Debug, Default)]
pub struct Resolved {
    /// One per entity, in the order of the first job that names it.
    pub targets: Vec<Target>,
    /// Jobs that name no entity the panel has, with why.
    pub unresolved: Vec<(Job, String)>,
}

/// Finds the entity each job names and merges the jobs that name the same one.
pub fn resolve(db: &mut dyn PanelDb, jobs: Vec<Job>) -> DbResult<Resolved> {
    let mut named = Vec::new();
    let mut unresolved = Vec::new();
    for job in jobs {
        match entity_of(db, &job)? {
            Ok(entity) => named.push((entity, job)),
            Err(why) => unresolved.push((job, why)),
        }
    }
    Ok(Resolved {
        targets: merge(named),
        unresolved,
    })
}

/// Jobs with the entity each names → one target per entity, jobs in their order.
pub fn merge(named: Vec<((EntityKind, i64), Job)>) -> Vec<Target> {
    let mut at: HashMap<(EntityKind, i64), usize> = HashMap::new();
    let mut targets: Vec<Target> = Vec::new();
    for ((kind, id), job) in named {
        match at.get(&(kind, id)) {
            Some(&i) => targets[i].jobs.push(job),
            None => {
                at.insert((kind, id), targets.len());
                targets.push(Target {
                    kind,
                    id,
                    jobs: vec![job],
                });
            }
        }
    }
    targets
}

/// The entity a job is about; `Err(reason)` when the panel has none.
fn entity_of(db: &mut dyn PanelDb, job: &Job) -> DbResult<Result<(EntityKind, i64), String>> {
    if let Some(id) = job.billmgr_id {
        return Ok(Ok((job.kind, id)));
    }
    let no_login = |login: &str| format!("no client has a user with login {login}");
    Ok(match &job.lookup {
        Some(Lookup::Login(login)) => match db.account_by_login(login)? {
            Some(id) => Ok((EntityKind::Account, id)),
            None => Err(no_login(login)),
        },
        Some(Lookup::User(user)) => match db.account_of_user(*user)? {
            Some(id) => Ok((EntityKind::Account, id)),
            None => Err(format!("user {user} no longer exists in the panel")),
        },
        Some(Lookup::NewestProfileOfLogin(login)) => match db.account_by_login(login)? {
            Some(acc) => match db.profiles_of_account(acc)?.into_iter().max() {
                Some(p) => Ok((EntityKind::Profile, p)),
                None => Err(format!("client {acc} has no payer")),
            },
            None => Err(no_login(login)),
        },
        Some(Lookup::Payment(p)) => match db.account_of_payment(*p)? {
            Some(id) => Ok((EntityKind::Account, id)),
            None => Err(format!(
                "payment {p} is not in the panel, or names no client"
            )),
        },
        None => Err("the job names no entity".to_string()),
    })
}

/// A linked target whose amoCRM entity is gone.
pub(super) struct Gone {
    pub ready: Ready,
    /// The amoCRM id it was linked to.
    pub was: i64,
}

/// An existing amoCRM entity the target is to become.
pub(super) struct Update {
    pub ready: Ready,
    pub amo_id: i64,
    /// Why, for the log.
    pub what: &'static str,
    /// The fingerprint of the last sync (empty when never synced to this entity).
    pub last: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sample::{self, SampleOptions};
    use crate::db::{NewJob, Target as DbTarget};

    fn job(id: i64, kind: EntityKind, billmgr_id: Option<i64>, lookup: Option<Lookup>) -> Job {
        Job {
            id,
            kind,
            billmgr_id,
            lookup,
            event: "test".into(),
            attempts: 0,
            generation: 1,
            last_error: None,
        }
    }

    #[test]
    fn jobs_naming_one_entity_become_one_target() {
        let a = job(1, EntityKind::Account, Some(5), None);
        let b = job(2, EntityKind::Account, Some(6), None);
        let c = job(3, EntityKind::Account, None, Some(Lookup::User(9)));
        let d = job(4, EntityKind::Item, Some(5), None);
        let targets = merge(vec![
            ((EntityKind::Account, 5), a.clone()),
            ((EntityKind::Account, 6), b.clone()),
            ((EntityKind::Account, 5), c.clone()),
            ((EntityKind::Item, 5), d.clone()),
        ]);
        let got: Vec<(i64, Vec<i64>)> = targets
            .iter()
            .map(|t| (t.id, t.jobs.iter().map(|j| j.id).collect()))
            .collect();
        assert_eq!(got, vec![(5, vec![1, 3]), (6, vec![2]), (5, vec![4])]);
        assert_eq!(targets[2].kind, EntityKind::Item);
    }

    /// The sample panel in a SQLite file, with its queue.
    fn sample_db() -> (tempfile::TempDir, Box<dyn PanelDb>) {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("panel.db"));
        sample::create(&target, &SampleOptions::default()).unwrap();
        let mut db = crate::db::open(&target).unwrap();
        db.ensure_schema().unwrap();
        (dir, db)
    }

    #[test]
    fn an_id_a_login_and_a_user_of_one_client_resolve_to_one_target() {
        let (_dir, mut db) = sample_db();
        // Client 3's users are 12 (this login) and 13.
        let login = "petrov@romashka.example";
        let account = db.account_by_login(login).unwrap().expect("sample client");
        let user = 13;
        assert_eq!(db.account_of_user(user).unwrap(), Some(account));
        db.enqueue(
            &[
                NewJob::for_id(EntityKind::Account, account, "account.edit"),
                NewJob::for_lookup(EntityKind::Account, Lookup::Login(login.into()), "register"),
                NewJob::for_lookup(EntityKind::Account, Lookup::User(user), "user.edit"),
                NewJob::for_lookup(
                    EntityKind::Account,
                    Lookup::Login("nobody".into()),
                    "register",
                ),
            ],
            1,
        )
        .unwrap();
        let jobs = db.claim_of(EntityKind::Account, 1, 50).unwrap();
        let r = resolve(db.as_mut(), jobs).unwrap();
        assert_eq!(r.targets.len(), 1, "{:?}", r.targets);
        assert_eq!((r.targets[0].id, r.targets[0].jobs.len()), (account, 3));
        assert_eq!(r.unresolved.len(), 1);
        assert!(r.unresolved[0].1.contains("nobody"));
    }
}
