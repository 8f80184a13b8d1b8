//! The panel database's behaviour, written once over `PanelDb` and run on both backends
//! (tests/db_sqlite.rs, tests/db_mariadb.rs). Every function gets a database freshly
//! loaded with the sample panel and the module's tables.
#![allow(dead_code)]

use billmgr_amocrm::db::sample::{self, SampleOptions, Size};
use billmgr_amocrm::db::{self, Job, Lookup, NewJob, NewPost, Outcome, PanelDb, PostKind, Target};
use billmgr_amocrm::model::{EntityKind, Record};

const T0: i64 = 1_750_000_000;

fn item(id: i64) -> NewJob {
    NewJob::for_id(EntityKind::Item, id, "service.postopen")
}
fn account(id: i64) -> NewJob {
    NewJob::for_id(EntityKind::Account, id, "account.edit")
}
fn profile(id: i64) -> NewJob {
    NewJob::for_id(EntityKind::Profile, id, "profile.edit")
}

fn has(rec: &Record, what: &str, pairs: &[(&str, &str)]) {
    for (k, v) in pairs {
        assert_eq!(rec.get(k), Some(*v), "{what}: {k} in {:?}", rec.values);
    }
}

fn lacks(rec: &Record, what: &str, keys: &[&str]) {
    for k in keys {
        assert_eq!(rec.get(k), None, "{what}: {k} should be absent (NULL)");
    }
}

// --- module tables -----------------------------------------------------------------

pub fn ensure_schema_is_idempotent_and_leaves_the_panel_alone(db: &mut dyn PanelDb) {
    db.enqueue(&[item(1001)], T0).expect("enqueue");
    db.save_link(EntityKind::Account, 2, 9001, "fp", T0)
        .expect("save link");
    for _ in 0..3 {
        db.ensure_schema().expect("ensure again");
    }
    assert_eq!(
        db.queue_summary(T0).expect("summary").pending,
        1,
        "queue kept"
    );
    assert_eq!(
        db.link_count(EntityKind::Account).expect("count"),
        1,
        "links kept"
    );
    assert_eq!(
        db.ids(EntityKind::Account, 0, 100).expect("ids"),
        vec![2, 3, 4, 5, 6, 7]
    );
}

// --- queue -------------------------------------------------------------------------

pub fn enqueue_upserts_by_key_and_bumps_the_generation(db: &mut dyn PanelDb) {
    db.enqueue(&[item(1001), account(2)], T0).expect("enqueue");
    let jobs = db.list_jobs(&["pending"], 10).expect("list");
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j.state == "pending" && j.attempts == 0));

    db.enqueue(
        &[NewJob::for_id(
            EntityKind::Item,
            1001,
            "service.postsuspend",
        )],
        T0 + 5,
    )
    .expect("enqueue again");
    let jobs = db.list_jobs(&[], 10).expect("list");
    assert_eq!(jobs.len(), 2, "same key, same row: {jobs:?}");
    let it = jobs
        .iter()
        .find(|j| j.key == "item:1001")
        .expect("item job");
    assert_eq!(it.event, "service.postsuspend");
    assert_eq!(it.updated_at, T0 + 5);
    assert_eq!(jobs[0].key, "item:1001", "newest first");

    let claimed = db.claim(T0 + 5, 10).expect("claim");
    let it = claimed
        .iter()
        .find(|j| j.kind == EntityKind::Item)
        .expect("item claimed");
    assert_eq!(it.generation, 2);
    let acc = claimed
        .iter()
        .find(|j| j.kind == EntityKind::Account)
        .expect("account claimed");
    assert_eq!(acc.generation, 1);
    assert_eq!(acc.billmgr_id, Some(2));
    assert_eq!(acc.lookup, None);
}

pub fn lookups_round_trip_through_the_queue(db: &mut dyn PanelDb) {
    let jobs = [
        NewJob::for_lookup(
            EntityKind::Account,
            Lookup::Login("New@Client.example".into()),
            "register",
        ),
        NewJob::for_lookup(EntityKind::Account, Lookup::User(13), "user.edit"),
        NewJob::for_lookup(
            EntityKind::Profile,
            Lookup::NewestProfileOfLogin("petrov@romashka.example".into()),
            "profile.add",
        ),
        NewJob::for_lookup(
            EntityKind::Account,
            Lookup::Login(format!("{}@x.example", "l".repeat(250))),
            "register",
        ),
    ];
    db.enqueue(&jobs, T0).expect("enqueue");
    db.enqueue(&jobs, T0 + 1).expect("enqueue twice");
    let claimed = db.claim(T0 + 1, 10).expect("claim");
    assert_eq!(claimed.len(), 4, "{claimed:?}");
    for j in &jobs {
        let c = claimed
            .iter()
            .find(|c| c.lookup == j.lookup)
            .expect("lookup kept");
        assert_eq!((c.kind, c.billmgr_id, c.generation), (j.kind, None, 2));
        assert_eq!(c.event, j.event);
    }
}

pub fn claim_takes_accounts_then_payers_then_services_oldest_first(db: &mut dyn PanelDb) {
    db.enqueue(&[item(1002), item(1001)], T0).expect("enqueue");
    db.enqueue(&[profile(22)], T0 + 1).expect("enqueue");
    db.enqueue(&[account(3), account(2)], T0 + 2)
        .expect("enqueue");
    db.enqueue(&[item(1003)], T0 + 3).expect("enqueue");

    let first = db.claim(T0 + 10, 3).expect("claim");
    let keys: Vec<(EntityKind, Option<i64>)> =
        first.iter().map(|j| (j.kind, j.billmgr_id)).collect();
    assert_eq!(
        keys,
        vec![
            (EntityKind::Account, Some(3)),
            (EntityKind::Account, Some(2)),
            (EntityKind::Profile, Some(22))
        ]
    );
    let s = db.queue_summary(T0 + 10).expect("summary");
    assert_eq!((s.taken, s.pending, s.due), (3, 3, 3));

    let rest = db.claim(T0 + 10, 10).expect("claim rest");
    let ids: Vec<Option<i64>> = rest.iter().map(|j| j.billmgr_id).collect();
    assert_eq!(
        ids,
        vec![Some(1002), Some(1001), Some(1003)],
        "services by age"
    );
    assert!(
        db.claim(T0 + 10, 10).expect("claim none").is_empty(),
        "taken jobs are not claimed twice"
    );
    assert!(db.claim(T0 + 10, 0).expect("limit 0").is_empty());
}

fn one(db: &mut dyn PanelDb, now: i64) -> Job {
    let mut jobs = db.claim(now, 1).expect("claim");
    assert_eq!(jobs.len(), 1, "one due job expected");
    jobs.remove(0)
}

pub fn finish_records_each_outcome(db: &mut dyn PanelDb) {
    db.enqueue(&[account(2), account(3), account(4)], T0)
        .expect("enqueue");

    let done = one(db, T0);
    db.finish(&done, &Outcome::Done, T0 + 1).expect("done");
    let skipped = one(db, T0);
    db.finish(
        &skipped,
        &Outcome::Skipped("condition account does not hold".into()),
        T0 + 2,
    )
    .expect("skipped");
    let failed = one(db, T0);
    db.finish(
        &failed,
        &Outcome::Failed {
            error: "amoCRM answered 502".into(),
            next_try: T0 + 60,
        },
        T0 + 3,
    )
    .expect("failed");

    let s = db.queue_summary(T0 + 10).expect("summary");
    assert_eq!((s.done, s.skipped, s.failed, s.taken), (1, 1, 1, 0));
    assert_eq!(
        (s.pending, s.due),
        (1, 0),
        "the failed job waits for its next try"
    );
    assert_eq!(s.last_done_at, Some(T0 + 1));
    assert_eq!(s.next_try, Some(T0 + 60));

    let listed = db.list_jobs(&["skipped"], 10).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].last_error.as_deref(),
        Some("condition account does not hold")
    );
    let listed = db.list_jobs(&["done", "failed"], 10).expect("list");
    assert_eq!(
        listed.iter().map(|j| j.state.as_str()).collect::<Vec<_>>(),
        vec!["failed", "done"]
    );
    assert_eq!(listed[0].attempts, 1);
    assert_eq!(listed[0].next_try, T0 + 60);
    assert_eq!(listed[0].last_error.as_deref(), Some("amoCRM answered 502"));
    assert_eq!(listed[1].last_error, None);

    // Not due before its time; due at it, with its history.
    assert!(db.claim(T0 + 59, 10).expect("claim early").is_empty());
    let again = one(db, T0 + 60);
    assert_eq!((again.id, again.attempts), (failed.id, 1));
    assert_eq!(again.last_error.as_deref(), Some("amoCRM answered 502"));
    db.finish(
        &again,
        &Outcome::Failed {
            error: "still down".into(),
            next_try: T0 + 300,
        },
        T0 + 61,
    )
    .expect("failed again");
    let again = one(db, T0 + 300);
    assert_eq!(again.attempts, 2);
    db.finish(&again, &Outcome::Done, T0 + 301)
        .expect("done at last");
    let s = db.queue_summary(T0 + 400).expect("summary");
    assert_eq!((s.done, s.failed, s.pending, s.next_try), (2, 0, 0, None));
    let done = db.list_jobs(&["done"], 10).expect("list");
    assert!(
        done.iter()
            .all(|j| j.attempts == 0 && j.last_error.is_none()),
        "{done:?}"
    );
}

pub fn an_event_during_work_keeps_the_job_pending(db: &mut dyn PanelDb) {
    db.enqueue(&[item(1001)], T0).expect("enqueue");
    let job = one(db, T0);
    // A new event arrives while the worker sends the old state.
    db.enqueue(
        &[NewJob::for_id(EntityKind::Item, 1001, "service.postclose")],
        T0 + 1,
    )
    .expect("event");
    db.finish(&job, &Outcome::Done, T0 + 2)
        .expect("finish stale");
    let s = db.queue_summary(T0 + 2).expect("summary");
    assert_eq!((s.done, s.pending, s.due), (0, 1, 1), "not lost: {s:?}");

    let newer = one(db, T0 + 2);
    assert_eq!(
        (newer.id, newer.generation, newer.event.as_str()),
        (job.id, 2, "service.postclose")
    );
    // A stale failure does not overwrite it either.
    db.enqueue(&[item(1001)], T0 + 3).expect("event");
    db.finish(
        &newer,
        &Outcome::Failed {
            error: "x".into(),
            next_try: T0 + 999,
        },
        T0 + 4,
    )
    .expect("finish");
    let latest = one(db, T0 + 4);
    assert_eq!((latest.generation, latest.attempts), (3, 0));
    db.finish(&latest, &Outcome::Done, T0 + 5)
        .expect("finish current");
    assert_eq!(db.queue_summary(T0 + 5).expect("summary").done, 1);
}

pub fn release_and_reset_taken_put_jobs_back(db: &mut dyn PanelDb) {
    db.enqueue(&[item(1001), item(1002), item(1003)], T0)
        .expect("enqueue");
    let jobs = db.claim(T0, 10).expect("claim");
    assert_eq!(jobs.len(), 3);
    db.release(&jobs[1..]).expect("release");
    let s = db.queue_summary(T0).expect("summary");
    assert_eq!((s.taken, s.pending), (1, 2));
    let again = db.claim(T0, 10).expect("claim released");
    assert_eq!(
        again.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![jobs[1].id, jobs[2].id]
    );
    assert_eq!(
        again[0].generation, jobs[1].generation,
        "released untouched"
    );

    // The worker died holding them all.
    assert_eq!(db.reset_taken().expect("reset"), 3);
    let s = db.queue_summary(T0).expect("summary");
    assert_eq!((s.taken, s.pending, s.due), (0, 3, 3));
    assert_eq!(db.reset_taken().expect("reset again"), 0);
    db.release(&[]).expect("release nothing");
}

pub fn a_done_job_comes_back_with_a_new_event(db: &mut dyn PanelDb) {
    db.enqueue(&[account(5)], T0).expect("enqueue");
    let job = one(db, T0);
    db.finish(&job, &Outcome::Done, T0).expect("done");
    db.enqueue(&[account(5)], T0 + 100).expect("new event");
    let back = one(db, T0 + 100);
    assert_eq!((back.id, back.generation), (job.id, 2));
    assert_eq!(db.list_jobs(&[], 10).expect("list").len(), 1);
}

pub fn admin_queue_operations_page_retry_drop_and_prune(db: &mut dyn PanelDb) {
    db.enqueue(&[account(2), profile(22), item(1001), item(1002)], T0)
        .expect("enqueue");
    let states = ["pending", "failed", "taken"];
    assert_eq!(db.count_jobs(&states).expect("count"), 4);
    let first = db.jobs_page(&states, 0, 3).expect("page 1");
    let second = db.jobs_page(&states, 3, 3).expect("page 2");
    assert_eq!((first.len(), second.len()), (3, 1));
    let info = db
        .job_of(EntityKind::Item, 1001)
        .expect("job of")
        .expect("queued");
    assert_eq!((info.kind.as_str(), info.billmgr_id), ("item", Some(1001)));
    assert_eq!(db.job_of(EntityKind::Item, 4242).expect("job of"), None);

    // A failed job made due now keeps its error; a taken one is left alone.
    let jobs = db.claim(T0, 10).expect("claim");
    let failed = jobs.iter().find(|j| j.billmgr_id == Some(1001)).unwrap();
    let failure = Outcome::Failed {
        error: "amoCRM said no".into(),
        next_try: T0 + 3600,
    };
    db.finish(failed, &failure, T0).expect("fail");
    let taken = jobs.iter().find(|j| j.billmgr_id == Some(1002)).unwrap();
    let rest: Vec<Job> = jobs
        .iter()
        .filter(|j| j.id != failed.id && j.id != taken.id)
        .cloned()
        .collect();
    db.release(&rest).expect("release");
    assert_eq!(
        db.retry_jobs(&[failed.id, taken.id], T0 + 5)
            .expect("retry"),
        1
    );
    let due = db.claim(T0 + 5, 10).expect("claim due");
    assert!(
        due.iter().any(|j| j.id == failed.id),
        "the retried job is due"
    );
    assert_eq!(
        due.iter()
            .find(|j| j.id == failed.id)
            .unwrap()
            .last_error
            .as_deref(),
        Some("amoCRM said no")
    );
    db.release(&due).expect("release");

    // Drop: not the one a worker holds.
    assert_eq!(db.drop_jobs(&[failed.id, taken.id]).expect("drop"), 1);
    assert_eq!(db.count_jobs(&[]).expect("count all"), 3);

    // Prune: only finished jobs older than the cut.
    let all = db.claim(T0 + 10, 10).expect("claim all");
    for j in &all {
        db.finish(j, &Outcome::Done, T0 + 10).expect("done");
    }
    db.finish(taken, &Outcome::Skipped("gone".into()), T0 + 20)
        .expect("skipped");
    assert_eq!(db.prune_jobs(T0 + 15).expect("prune"), all.len() as u64);
    assert_eq!(db.count_jobs(&[]).expect("count"), 1);
    assert_eq!(db.prune_jobs(T0 + 15).expect("prune again"), 0);
}

// --- links -------------------------------------------------------------------------

pub fn links_save_update_page_and_count(db: &mut dyn PanelDb) {
    assert_eq!(db.link(EntityKind::Item, 1001).expect("link"), None);
    db.save_link(EntityKind::Item, 1001, 5001, "aaa", T0)
        .expect("save");
    db.save_link(EntityKind::Item, 1003, 5003, "ccc", T0)
        .expect("save");
    db.save_link(EntityKind::Item, 1002, 5002, "bbb", T0)
        .expect("save");
    db.save_link(EntityKind::Account, 2, 7002, "acc", T0)
        .expect("save");
    let l = db
        .link(EntityKind::Item, 1001)
        .expect("link")
        .expect("present");
    assert_eq!(
        (
            l.billmgr_id,
            l.amocrm_id,
            l.synced_at,
            l.fingerprint.as_str()
        ),
        (1001, 5001, T0, "aaa")
    );

    db.save_link(EntityKind::Item, 1001, 5101, "a2", T0 + 9)
        .expect("update");
    let l2 = db
        .link(EntityKind::Item, 1001)
        .expect("link")
        .expect("present");
    assert_eq!(
        (l2.id, l2.amocrm_id, l2.synced_at, l2.fingerprint.as_str()),
        (l.id, 5101, T0 + 9, "a2")
    );

    assert_eq!(db.link_count(EntityKind::Item).expect("count"), 3);
    assert_eq!(db.link_count(EntityKind::Account).expect("count"), 1);
    assert_eq!(db.link_count(EntityKind::Profile).expect("count"), 0);
    let page = db.links(EntityKind::Item, 0, 2).expect("page");
    assert_eq!(
        page.iter().map(|l| l.billmgr_id).collect::<Vec<_>>(),
        vec![1001, 1002]
    );
    let page = db.links(EntityKind::Item, 1002, 2).expect("page");
    assert_eq!(
        page.iter()
            .map(|l| (l.billmgr_id, l.amocrm_id))
            .collect::<Vec<_>>(),
        vec![(1003, 5003)]
    );
    assert!(
        db.links(EntityKind::Item, 1003, 2)
            .expect("page")
            .is_empty()
    );
    assert_eq!(
        db.link(EntityKind::Account, 1001).expect("link"),
        None,
        "kinds apart"
    );
}

// --- the panel's entities ----------------------------------------------------------

/// id, name, profiletype, account, vatnum, kpp.
type ProfileRow = (
    i64,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);
/// id, name, status, cost, createdate, opendate, expiredate, suspenddate, tariff, item type,
/// currency, account, project, first user.
type ItemRow = (
    i64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

pub fn links_page_at_an_offset_and_unlink(db: &mut dyn PanelDb) {
    for id in [3, 1, 2] {
        db.save_link(EntityKind::Account, id, 9000 + id, "f", T0)
            .expect("save");
    }
    let page: Vec<i64> = db
        .links_page(EntityKind::Account, 1, 5)
        .expect("page")
        .iter()
        .map(|l| l.billmgr_id)
        .collect();
    assert_eq!(page, vec![2, 3]);
    assert_eq!(db.unlink(EntityKind::Account, 2).expect("unlink"), 1);
    assert_eq!(db.unlink(EntityKind::Account, 2).expect("unlink again"), 0);
    assert_eq!(db.link(EntityKind::Account, 2).expect("link"), None);
    assert_eq!(db.link_count(EntityKind::Account).expect("count"), 2);
    assert_eq!(db.link_count(EntityKind::Item).expect("count"), 0);
}

/// A create in flight: marked before it is sent, an older mark kept, cleared by the link's
/// save or on its own, each kind apart.
pub fn creates_in_flight_are_marked_kept_and_cleared(db: &mut dyn PanelDb) {
    use EntityKind::*;
    assert_eq!(db.creating(Item).expect("marks"), vec![]);
    db.mark_creating(Item, &[1002, 1001], T0).expect("mark");
    db.mark_creating(Profile, &[22], T0).expect("mark");
    // Marked again later: the first mark says since when amoCRM may hold it.
    db.mark_creating(Item, &[1001, 1003], T0 + 60)
        .expect("mark again");
    db.mark_creating(Item, &[], T0 + 90)
        .expect("nothing to mark");
    assert_eq!(
        db.creating(Item).expect("marks"),
        vec![(1001, T0), (1002, T0), (1003, T0 + 60)]
    );
    assert_eq!(db.creating(Profile).expect("marks"), vec![(22, T0)]);
    assert_eq!(db.creating(Account).expect("marks"), vec![]);

    // Linked: no longer in flight, in the same transaction as the link.
    db.save_link(Item, 1002, 4242, "f", T0 + 120).expect("link");
    assert_eq!(
        db.creating(Item).expect("marks"),
        vec![(1001, T0), (1003, T0 + 60)]
    );
    assert_eq!(db.clear_creating(Item, &[1003, 1004]).expect("clear"), 1);
    assert_eq!(db.clear_creating(Item, &[]).expect("clear none"), 0);
    assert_eq!(db.creating(Item).expect("marks"), vec![(1001, T0)]);
    assert_eq!(db.creating(Profile).expect("marks"), vec![(22, T0)]);
    // A link saved for another kind leaves this kind's marks alone.
    db.save_link(Account, 1001, 77, "f", T0).expect("link");
    assert_eq!(db.creating(Item).expect("marks"), vec![(1001, T0)]);
    db.ensure_schema().expect("schema again");
    assert_eq!(db.creating(Item).expect("marks kept"), vec![(1001, T0)]);
}

/// The sample's payments as records: amount, currency, method and client; a partial
/// refund names the payment it returns; a method's settings never come through. Credited
/// and refunded ones page in id order.
pub fn payments_read_with_method_currency_and_client(db: &mut dyn PanelDb) {
    let got = db.read_payments(&[31, 35, 34, 99]).expect("read");
    assert_eq!(got.len(), 3, "99 is not in the panel");
    has(
        &got[&31],
        "payment 31",
        &[
            ("payment.number", "2025-000031"),
            ("payment.status", "4"),
            ("payment.subaccountamount", "1500.00"),
            ("payment.paydate", "2025-05-20 11:03:45"),
            ("currency.iso", "RUB"),
            ("paymethod.name", "Банковская карта"),
            ("subaccount.account", "2"),
            ("subaccount.balance", "1250.00"),
        ],
    );
    lacks(
        &got[&31],
        "payment 31",
        &["paymethod.xmlparams", "payment2payment.payment_base"],
    );
    has(
        &got[&35],
        "refund 35",
        &[
            ("payment.subaccountamount", "-300.00"),
            ("payment2payment.payment_base", "31"),
        ],
    );
    has(
        &got[&34],
        "payment 34",
        &[("payment.status", "6"), ("currency.iso", "USD")],
    );
    let all = "2000-01-01 00:00:00";
    assert_eq!(
        db.noted_payments(all, 0, 10).expect("page"),
        vec![31, 32, 34, 35, 37]
    );
    assert_eq!(db.noted_payments(all, 32, 2).expect("page"), vec![34, 35]);
    let none: Vec<i64> = Vec::new();
    assert_eq!(db.noted_payments(all, 37, 10).expect("past the end"), none);
    // Paid at the time or later only.
    let recent = "2025-05-27 14:30:00";
    assert_eq!(
        db.noted_payments(recent, 0, 10).expect("recent"),
        vec![32, 35, 37]
    );
}

/// The client's money, read only when asked: balances, the total credited (a refund's
/// negative payment left out) and the last credited payment; on a client's services too.
pub fn money_is_read_for_clients_and_their_services(db: &mut dyn PanelDb) {
    let plain = db.read_many(EntityKind::Account, &[2]).expect("read");
    lacks(&plain[&2], "without money", &["money.balance"]);
    db.read_money(true);
    let got = db.read_many(EntityKind::Account, &[2, 3, 4]).expect("read");
    has(
        &got[&2],
        "client 2",
        &[
            ("money.balance", "1250.00"),
            ("money.paid_total", "1500.00"),
            ("money.last_payment_amount", "1500.00"),
            ("money.last_payment_date", "2025-05-20 11:03:45"),
        ],
    );
    has(
        &got[&3],
        "client 3",
        &[
            ("money.balance", "-540.00"),
            ("money.paid_total", "20000.00"),
        ],
    );
    has(&got[&4], "client 4", &[("money.balance", "0.00")]);
    lacks(
        &got[&4],
        "client 4, refunded only",
        &["money.paid_total", "money.last_payment_date"],
    );
    let items = db.read_many(EntityKind::Item, &[1002]).expect("items");
    has(
        &items[&1002],
        "service 1002",
        &[("money.balance", "-540.00")],
    );
    assert_eq!(db.money_problem(), None);
    db.read_money(false);
}

fn post(key: &str, kind: PostKind, entity_type: &str, entity_id: i64) -> NewPost {
    NewPost {
        key: key.into(),
        kind,
        entity_type: entity_type.into(),
        entity_id,
        text: format!("about {key}"),
        due: if kind == PostKind::Task {
            T0 + 86_400
        } else {
            0
        },
        owner: (kind == PostKind::Task).then_some(504142),
    }
}

/// Notes and tasks posted once: marked before they are sent (a key marked again keeps its
/// first row), in flight until amoCRM's id is recorded, each kind apart, forgotten on
/// request, listed newest first; kept by the schema's next look.
pub fn notes_and_tasks_are_posted_once(db: &mut dyn PanelDb) {
    use PostKind::*;
    let paid = post("payment:31:credited", Note, "contacts", 900);
    let task = post("task:expiring:1001:2025-07-14", Task, "leads", 700);
    db.mark_posts(&[paid.clone(), task.clone()], T0)
        .expect("mark");
    let moved = NewPost {
        entity_id: 901,
        ..paid.clone()
    };
    db.mark_posts(&[moved], T0 + 60).expect("mark again");
    db.mark_posts(&[], T0 + 90).expect("nothing to mark");
    let flying = db.posts_in_flight(Note).expect("in flight");
    assert_eq!(flying.len(), 1);
    let first = &flying[0];
    assert_eq!(
        (
            first.key.as_str(),
            first.entity_id,
            first.amocrm_id,
            first.since
        ),
        ("payment:31:credited", 900, None, T0),
        "the first mark kept"
    );
    assert_eq!(db.posts_in_flight(Task).expect("tasks").len(), 1);

    assert!(db.record_post(&paid.key, 5001, T0 + 120).expect("record"));
    assert!(
        !db.record_post("payment:99:credited", 5002, T0)
            .expect("unknown key")
    );
    assert_eq!(db.posts_in_flight(Note).expect("in flight"), vec![]);
    let found = db
        .posts(&[paid.key.as_str(), "payment:99:credited"])
        .expect("by key");
    assert_eq!(found.len(), 1);
    let p = &found[&paid.key];
    assert_eq!(
        (p.amocrm_id, p.posted_at, p.kind),
        (Some(5001), T0 + 120, Note)
    );
    assert_eq!(
        p.text, "about payment:31:credited",
        "the text of the first mark"
    );
    let t = &db.posts(&[task.key.as_str()]).expect("task")[&task.key];
    assert_eq!((t.due, t.owner), (T0 + 86_400, Some(504142)));
    db.disown_post(&task.key).expect("disown");
    let t = &db.posts(&[task.key.as_str()]).expect("task")[&task.key];
    assert_eq!(t.owner, None);

    db.ensure_schema().expect("schema again");
    let page = db.posts_page(0, 10).expect("page");
    let keys: Vec<&str> = page.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, [task.key.as_str(), paid.key.as_str()], "newest first");
    assert!(db.forget_post(&task.key).expect("forget"));
    assert!(!db.forget_post(&task.key).expect("forget again"));
    assert_eq!(db.posts_in_flight(Task).expect("tasks"), vec![]);
    assert_eq!(db.posts_page(1, 10).expect("past the end"), vec![]);
}

pub fn accounts_read_with_project_and_first_user(db: &mut dyn PanelDb) {
    let a = db.read_account(2).expect("read").expect("account 2");
    has(
        &a,
        "account 2",
        &[
            ("account.id", "2"),
            ("account.name", "Иванов Иван Иванович"),
            ("account.parent", "1"),
            ("account.level", "16"),
            ("account.project", "1"),
            ("account.country", "182"),
            ("account.registration_date", "2024-03-14 10:22:05"),
            ("project.id", "1"),
            ("project.name", "ХостКом"),
            ("project.billurl", "https://my.hostcom.example/billmgr"),
            ("project.notifyemail", "billing@hostcom.example"),
            ("project.country_default", "182"),
            ("project.active", "on"),
            ("user.id", "11"),
            ("user.account", "2"),
            ("user.name", "ivan.ivanov@example.ru"),
            ("user.realname", "Иванов Иван Иванович"),
            ("user.email", "ivan.ivanov@example.ru"),
            ("user.phone", "+7 (912) 345-67-89"),
            ("user.language", "ru"),
            ("user.level", "16"),
            ("user.enabled", "on"),
        ],
    );
    assert!(
        a.values.keys().all(|k| ["account.", "project.", "user."]
            .iter()
            .any(|p| k.starts_with(p))),
        "{a:?}"
    );

    let a = db.read_account(3).expect("read").expect("account 3");
    has(
        &a,
        "account 3 (two users: the first is 12)",
        &[
            ("account.name", "ООО «Ромашка»"),
            ("account.registration_date", "2022-09-10 15:03:44"),
            ("user.id", "12"),
            ("user.name", "petrov@romashka.example"),
            ("user.realname", "Петров Пётр Петрович"),
            ("user.phone", "89123456789"),
        ],
    );

    let a = db.read_account(4).expect("read").expect("account 4");
    has(
        &a,
        "account 4",
        &[
            ("account.name", "Patrick O'Brien"),
            ("account.project", "2"),
            ("project.name", "HostCom EU"),
            ("user.id", "14"),
            ("user.phone", "+353 87 123 4567"),
            ("user.language", "en"),
        ],
    );
    lacks(
        &a,
        "account 4",
        &["account.country", "project.country_default"],
    );

    let a = db.read_account(5).expect("read").expect("account 5");
    has(
        &a,
        "account 5",
        &[
            ("account.name", "ИП Кузнецова Мария Сергеевна"),
            ("user.id", "15"),
            ("user.phone", "8-912-345-67-89"),
            ("user.email", "kuznetsova.ms@example.ru"),
        ],
    );
    let a = db.read_account(6).expect("read").expect("account 6");
    has(
        &a,
        "account 6",
        &[
            ("account.name", "John Smith"),
            ("user.id", "16"),
            ("user.phone", "+1 415 555 0134"),
        ],
    );
    lacks(&a, "account 6", &["account.country"]);
    let a = db.read_account(7).expect("read").expect("account 7");
    has(
        &a,
        "account 7",
        &[
            ("account.name", "Смирнов Алексей"),
            ("account.registration_date", "2025-05-31 23:59:59"),
            ("user.id", "17"),
            ("user.email", "a.smirnov@example.ru"),
        ],
    );
    lacks(&a, "account 7", &["user.phone"]);

    assert_eq!(
        db.read_account(1).expect("read"),
        None,
        "the provider is not in the sample"
    );
    assert_eq!(db.read_account(999_999).expect("read"), None);
}

pub fn profiles_read_with_their_client(db: &mut dyn PanelDb) {
    let expected: [ProfileRow; 6] = [
        (21, "Иванов Иван Иванович", "1", "2", None, None),
        (
            22,
            "ООО «Ромашка»",
            "2",
            "3",
            Some("7701234560"),
            Some("770101001"),
        ),
        (
            23,
            "АО «Ромашка Трейд»",
            "2",
            "3",
            Some("7702345672"),
            Some("770201001"),
        ),
        (
            24,
            "ИП Кузнецова Мария Сергеевна",
            "3",
            "5",
            Some("771234567859"),
            None,
        ),
        (25, "Patrick O'Brien", "1", "4", None, None),
        (26, "Smith Consulting Ltd", "2", "6", None, None),
    ];
    for (id, name, ptype, acc, vatnum, kpp) in expected {
        let p = db.read_profile(id).expect("read").expect("profile");
        let what = format!("profile {id}");
        has(
            &p,
            &what,
            &[
                ("profile.id", &id.to_string()),
                ("profile.name", name),
                ("profile.profiletype", ptype),
                ("profile.account", acc),
                ("account.id", acc),
            ],
        );
        match vatnum {
            Some(v) => has(&p, &what, &[("profile.vatnum", v)]),
            None => lacks(&p, &what, &["profile.vatnum"]),
        }
        match kpp {
            Some(v) => has(&p, &what, &[("profile.kpp", v)]),
            None => lacks(&p, &what, &["profile.kpp"]),
        }
        assert!(
            p.values
                .keys()
                .all(|k| k.starts_with("profile.") || k.starts_with("account."))
        );
    }
    let p = db.read_profile(22).expect("read").expect("profile 22");
    has(
        &p,
        "profile 22",
        &[
            ("profile.person", "Петров Пётр Петрович"),
            ("profile.email", "buh@romashka.example"),
            ("profile.phone", "+7 (495) 123-45-67"),
            ("account.name", "ООО «Ромашка»"),
        ],
    );
    assert_eq!(db.read_profile(20).expect("read"), None);
}

pub fn items_read_with_tariff_type_currency_client_and_parameters(db: &mut dyn PanelDb) {
    let expected: [ItemRow; 10] = [
        (
            1001,
            "ivanov-vps.ru",
            "2",
            "590.00",
            "2024-03-14",
            Some("2024-03-14"),
            Some("2025-07-14"),
            None,
            "VDS-Start",
            "vds",
            "RUB",
            "2",
            "1",
            "11",
        ),
        (
            1002,
            "srv1.romashka.example",
            "2",
            "14280.00",
            "2023-11-01",
            Some("2023-11-01"),
            Some("2025-11-01"),
            None,
            "VDS-Pro",
            "vds",
            "RUB",
            "3",
            "1",
            "12",
        ),
        (
            1003,
            "romashka.ru",
            "3",
            "249.00",
            "2024-05-20",
            Some("2024-05-20"),
            Some("2025-05-20"),
            Some("2025-05-21"),
            "Hosting Lite",
            "vhost",
            "RUB",
            "3",
            "1",
            "12",
        ),
        (
            1004,
            "romashka.ru",
            "2",
            "199.00",
            "2022-09-10",
            Some("2022-09-12"),
            Some("2025-09-12"),
            None,
            ".RU",
            "domain",
            "RUB",
            "3",
            "1",
            "12",
        ),
        (
            1005,
            "vps-obrien.example.ie",
            "2",
            "9.99",
            "2025-02-03",
            Some("2025-02-03"),
            Some("2025-07-03"),
            None,
            "VDS-EU-1",
            "vds",
            "USD",
            "4",
            "2",
            "14",
        ),
        (
            1006,
            "kuznetsova-shop.ru",
            "1",
            "249.00",
            "2025-05-30",
            None,
            None,
            None,
            "Hosting Lite",
            "vhost",
            "RUB",
            "5",
            "1",
            "15",
        ),
        (
            1007,
            "kuznetsova-shop.ru",
            "5",
            "199.00",
            "2025-05-30",
            None,
            None,
            None,
            ".RU",
            "domain",
            "RUB",
            "5",
            "1",
            "15",
        ),
        (
            1008,
            "vps-jsmith.example.com",
            "4",
            "9.99",
            "2024-01-15",
            Some("2024-01-15"),
            Some("2024-09-15"),
            Some("2024-09-16"),
            "VDS-EU-1",
            "vds",
            "USD",
            "6",
            "2",
            "16",
        ),
        (
            1009,
            "ivanov.su",
            "3",
            "2490.00",
            "2024-04-01",
            Some("2024-04-01"),
            Some("2026-04-01"),
            Some("2025-04-02"),
            "Hosting Lite",
            "vhost",
            "RUB",
            "2",
            "1",
            "11",
        ),
        (
            1010,
            "vps-smirnov",
            "1",
            "590.00",
            "2025-05-31",
            None,
            None,
            None,
            "VDS-Start",
            "vds",
            "RUB",
            "7",
            "1",
            "17",
        ),
    ];
    for (
        id,
        name,
        status,
        cost,
        created,
        opened,
        expires,
        suspended,
        tariff,
        itype,
        iso,
        acc,
        project,
        user,
    ) in expected
    {
        let it = db.read_item(id).expect("read").expect("item");
        let what = format!("item {id}");
        has(
            &it,
            &what,
            &[
                ("item.id", &id.to_string()),
                ("item.name", name),
                ("item.status", status),
                ("item.cost", cost),
                ("item.createdate", created),
                ("item.account", acc),
                ("pricelist.name", tariff),
                ("itemtype.intname", itype),
                ("currency.iso", iso),
                ("account.id", acc),
                ("project.id", project),
                ("user.id", user),
            ],
        );
        for (key, value) in [
            ("item.opendate", opened),
            ("item.expiredate", expires),
            ("item.suspenddate", suspended),
        ] {
            match value {
                Some(v) => has(&it, &what, &[(key, v)]),
                None => lacks(&it, &what, &[key]),
            }
        }
        lacks(&it, &what, &["item.parent"]);
        let allowed = [
            "item.",
            "pricelist.",
            "itemtype.",
            "currency.",
            "account.",
            "project.",
            "user.",
            "itemparam.",
        ];
        assert!(
            it.values
                .keys()
                .all(|k| allowed.iter().any(|p| k.starts_with(p))),
            "{what}: {it:?}"
        );
    }

    let it = db.read_item(1001).expect("read").expect("item 1001");
    has(
        &it,
        "item 1001",
        &[
            ("itemparam.ip", "203.0.113.41"),
            ("itemparam.ostempl", "ISPsystem__Debian-12-x86_64"),
            ("item.period", "1"),
            ("item.processingmodule", "1"),
            ("item.autosuspend", "off"),
            ("pricelist.name_ru", "VDS-Старт"),
            ("pricelist.intname", "vds-start"),
            ("itemtype.name", "Virtual private servers"),
            ("itemtype.name_ru", "Виртуальные серверы"),
            ("currency.name", "Российский рубль"),
            ("currency.symbol", "руб."),
            ("account.name", "Иванов Иван Иванович"),
            ("project.name", "ХостКом"),
            ("user.email", "ivan.ivanov@example.ru"),
        ],
    );
    lacks(
        &it,
        "item 1001",
        &["item.remoteid", "item.suspenddate", "itemparam.domain"],
    );
    assert_eq!(
        it.values
            .keys()
            .filter(|k| k.starts_with("itemparam."))
            .count(),
        2
    );

    let it = db.read_item(1005).expect("read").expect("item 1005");
    has(
        &it,
        "item 1005",
        &[
            ("item.remoteid", "eu-vm-58213"),
            ("item.scheduledclose", "on"),
            ("pricelist.active", "off"),
            ("project.name", "HostCom EU"),
            ("currency.symbol", "$"),
        ],
    );
    lacks(
        &it,
        "item 1005",
        &["pricelist.name_ru", "project.country_default"],
    );

    let it = db.read_item(1009).expect("read").expect("item 1009");
    has(
        &it,
        "item 1009",
        &[
            ("itemparam.domain", "ivanov.su"),
            ("item.employeesuspend", "on"),
        ],
    );
    let it = db.read_item(1002).expect("read").expect("item 1002");
    assert!(
        !it.values.keys().any(|k| k.starts_with("itemparam.")),
        "no parameters: {it:?}"
    );
    assert_eq!(db.read_item(1011).expect("read"), None);
}

pub fn a_batch_reads_as_its_entities_one_by_one(db: &mut dyn PanelDb) {
    for kind in EntityKind::ALL {
        let mut ids = db.ids(kind, 0, 100).expect("ids");
        ids.push(999_999);
        let batch = db.read_many(kind, &ids).expect("batch");
        assert_eq!(
            batch.len(),
            ids.len() - 1,
            "{kind}: the unknown id is missing"
        );
        for id in &ids[..ids.len() - 1] {
            let one = db.read(kind, *id).expect("one").expect("known");
            assert_eq!(batch.get(id), Some(&one), "{kind} {id}");
        }
    }
    assert!(
        db.read_many(EntityKind::Item, &[])
            .expect("none")
            .is_empty()
    );
    db.save_link(EntityKind::Profile, 22, 7001, "a", T0)
        .expect("link");
    db.save_link(EntityKind::Profile, 24, 7002, "b", T0)
        .expect("link");
    let links = db
        .links_of(EntityKind::Profile, &[21, 22, 24])
        .expect("links");
    let mut got: Vec<(i64, i64)> = links
        .values()
        .map(|l| (l.billmgr_id, l.amocrm_id))
        .collect();
    got.sort_unstable();
    assert_eq!(got, [(22, 7001), (24, 7002)]);
    assert_eq!(
        db.profiles_of_accounts(&[3, 2, 7]).expect("payers"),
        [(2, 21), (3, 22), (3, 23)]
    );
}

pub fn claims_of_one_kind_leave_the_others(db: &mut dyn PanelDb) {
    db.enqueue(&[account(2), item(1001), profile(22), account(3)], T0)
        .expect("enqueue");
    let items = db.claim_of(EntityKind::Item, T0, 10).expect("claim");
    assert_eq!(
        items.iter().map(|j| j.billmgr_id).collect::<Vec<_>>(),
        [Some(1001)]
    );
    let accounts = db.claim_of(EntityKind::Account, T0, 1).expect("claim");
    assert_eq!(
        accounts.iter().map(|j| j.billmgr_id).collect::<Vec<_>>(),
        [Some(2)]
    );
    let s = db.queue_summary(T0).expect("summary");
    assert_eq!((s.taken, s.pending), (2, 2));
}

pub fn lookups_find_clients_and_payers(db: &mut dyn PanelDb) {
    assert_eq!(
        db.account_by_login("ivan.ivanov@example.ru")
            .expect("login"),
        Some(2)
    );
    assert_eq!(
        db.account_by_login("IVAN.Ivanov@Example.RU")
            .expect("login"),
        Some(2)
    );
    assert_eq!(
        db.account_by_login("A.Sidorova+Billing@romashka.example")
            .expect("login"),
        Some(3)
    );
    assert_eq!(
        db.account_by_login("nobody@example.ru").expect("login"),
        None
    );
    assert_eq!(db.account_by_login("' OR '1'='1").expect("login"), None);
    assert_eq!(db.account_of_user(13).expect("user"), Some(3));
    assert_eq!(db.account_of_user(17).expect("user"), Some(7));
    assert_eq!(db.account_of_user(99).expect("user"), None);
    assert_eq!(db.profiles_of_account(3).expect("payers"), vec![22, 23]);
    assert_eq!(db.profiles_of_account(2).expect("payers"), vec![21]);
    assert!(db.profiles_of_account(7).expect("payers").is_empty());
}

pub fn ids_page_through_each_table(db: &mut dyn PanelDb) {
    assert_eq!(
        db.ids(EntityKind::Account, 0, 4).expect("ids"),
        vec![2, 3, 4, 5]
    );
    assert_eq!(db.ids(EntityKind::Account, 5, 4).expect("ids"), vec![6, 7]);
    assert!(db.ids(EntityKind::Account, 7, 4).expect("ids").is_empty());
    assert_eq!(
        db.ids(EntityKind::Profile, 0, 100).expect("ids"),
        vec![21, 22, 23, 24, 25, 26]
    );
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = db.ids(EntityKind::Item, after, 3).expect("ids");
        let Some(&last) = page.last() else { break };
        assert!(page.len() <= 3);
        all.extend(page);
        after = last;
    }
    assert_eq!(all, (1001..=1010).collect::<Vec<_>>());
}

/// The sweep leaves entities whose job waits: pending, failed (waiting for its retry) or
/// taken; a done or skipped job, or another kind's job with the same id, is not waiting.
pub fn waiting_jobs_are_found_by_entity(db: &mut dyn PanelDb) {
    db.enqueue(&[item(1001), item(1002), item(1003), item(1004)], T0)
        .expect("enqueue");
    db.enqueue(&[account(1005)], T0).expect("enqueue");
    let jobs = db.claim_of(EntityKind::Item, T0, 3).expect("claim");
    let by_id = |id: i64| {
        jobs.iter()
            .find(|j| j.billmgr_id == Some(id))
            .expect("claimed")
            .clone()
    };
    db.finish(&by_id(1001), &Outcome::Done, T0).expect("done");
    let failed = Outcome::Failed {
        error: "amoCRM rejected it".into(),
        next_try: T0 + 600,
    };
    db.finish(&by_id(1002), &failed, T0).expect("failed");
    // 1003 stays taken, 1004 pending; 1005 is a client's job, 1006 has none.
    let ids: Vec<i64> = (1001..=1006).collect();
    let mut waiting: Vec<i64> = db
        .waiting_among(EntityKind::Item, &ids)
        .expect("waiting")
        .into_iter()
        .collect();
    waiting.sort_unstable();
    assert_eq!(waiting, vec![1002, 1003, 1004]);
    // Due: 1004 and the client's job now; 1002 once its retry time has come.
    assert_eq!(db.due_jobs(T0).expect("due"), 2);
    assert_eq!(db.due_jobs(T0 + 600).expect("due"), 3);
    assert_eq!(db.queue_summary(T0 + 600).expect("summary").due, 3);
    assert!(
        db.waiting_among(EntityKind::Item, &[])
            .expect("none")
            .is_empty()
    );
}

// --- whole-database behaviours (they get the target, not an open database) ----------

/// `target` holds the sample already: a second sample is refused, the data untouched.
pub fn sample_refuses_a_database_with_panel_tables(target: &Target) {
    let err = sample::create(target, &SampleOptions::default()).expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains("already holds panel tables"), "{msg}");
    assert!(msg.contains("only in an empty database"), "{msg}");
    let mut db = db::open(target).expect("open");
    assert_eq!(db.ids(EntityKind::Item, 0, 100).expect("ids").len(), 10);
}

/// `target` is empty: a generated panel lands on top of the sample with the promised shape.
pub fn generated_panel_has_the_asked_size_and_shape(target: &Target) {
    let size = Size {
        clients: 300,
        legal_payers: 40,
        services: 700,
    };
    let report = sample::create(
        target,
        &SampleOptions {
            generate: Some(size),
        },
    )
    .expect("generate");
    assert_eq!(report.accounts, 6 + 300);
    assert_eq!(report.users, 7 + 300);
    assert_eq!(report.profiles, 6 + 40);
    assert_eq!(report.items, 10 + 700);
    // vds tariffs (3 of 5) carry an ip, the domain tariff a domain name.
    assert_eq!(report.itemparams, 3 + 420 + 140);
    assert!(report.to_string().contains("306 clients"), "{report}");

    let mut db = db::open(target).expect("open");
    db.ensure_schema().expect("schema");
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let page = db.ids(EntityKind::Account, after, 128).expect("ids");
        let Some(&last) = page.last() else { break };
        ids.extend(page);
        after = last;
    }
    assert_eq!(ids.len(), 306);
    assert!(
        ids.iter().skip(6).all(|&id| id > 1000),
        "generated ids above the sample's"
    );

    let mut emails = std::collections::HashSet::new();
    let mut styles = [0; 3];
    for id in 1001..=1060 {
        let a = db
            .read_account(id)
            .expect("read")
            .expect("generated account");
        assert_eq!(a.get("user.account"), Some(id.to_string().as_str()));
        assert!(
            emails.insert(a.get("user.email").expect("email").to_string()),
            "unique e-mails"
        );
        let phone = a.get("user.phone").expect("phone");
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(digits.len(), 11, "{phone}");
        if phone.starts_with("+7 (9") {
            styles[0] += 1;
        } else if phone.starts_with("8-9") {
            styles[2] += 1;
        } else if phone.starts_with("89") {
            styles[1] += 1;
        }
        assert!(a.get("project.name").is_some());
    }
    assert!(
        styles.iter().all(|&n| n > 0),
        "every phone spelling appears: {styles:?}"
    );

    let mut seen = std::collections::HashSet::new();
    for id in 10001..=10025 {
        let it = db.read_item(id).expect("read").expect("generated item");
        let tariff = it.int("item.pricelist").expect("pricelist");
        let status = it.int("item.status").expect("status");
        assert!((10..=14).contains(&tariff) && (1..=5).contains(&status));
        assert!(it.get("itemtype.intname").is_some() && it.get("currency.iso").is_some());
        assert!(
            it.get("user.id").is_some() && it.get("item.cost").is_some_and(|c| c.contains('.'))
        );
        if status == 1 || status == 5 {
            assert_eq!(it.get("item.opendate"), None);
        }
        seen.insert((tariff, status));
    }
    assert_eq!(seen.len(), 25, "every tariff meets every status");

    let mut owners = std::collections::HashSet::new();
    for id in 1001..=1040 {
        let p = db.read_profile(id).expect("read").expect("generated payer");
        assert_eq!(p.get("profile.profiletype"), Some("2"));
        assert_eq!(p.get("profile.vatnum").map(str::len), Some(10));
        owners.insert(p.get("profile.account").expect("account").to_string());
    }
    assert!(owners.len() > 20, "payers spread over clients: {owners:?}");
}

/// `target` holds the sample and a link table as the official module leaves it (`id`,
/// `billmgr_id`, `amocrm_id`; account 3 → contact 777): it is kept and gains the module's
/// bookkeeping columns.
pub fn an_official_link_table_is_kept_and_extended(target: &Target) {
    let mut db = db::open(target).expect("open");
    db.ensure_schema().expect("schema");
    let l = db
        .link(EntityKind::Account, 3)
        .expect("link")
        .expect("official link kept");
    assert_eq!(
        (l.amocrm_id, l.synced_at, l.fingerprint.as_str()),
        (777, 0, "")
    );
    db.save_link(EntityKind::Account, 3, 778, "fp3", T0)
        .expect("update");
    db.save_link(EntityKind::Account, 4, 779, "fp4", T0)
        .expect("insert");
    db.ensure_schema().expect("schema again");
    let l2 = db
        .link(EntityKind::Account, 3)
        .expect("link")
        .expect("link");
    assert_eq!(
        (l2.id, l2.amocrm_id, l2.fingerprint.as_str()),
        (l.id, 778, "fp3")
    );
    assert_eq!(db.link_count(EntityKind::Account).expect("count"), 2);
}

/// The queue as a version before the prune index made it, with a job finished long ago:
/// the columns of every job, for the test files' own DDL.
pub const OLD_QUEUE_COLUMNS: &str = "job_key VARCHAR(191) NOT NULL, kind VARCHAR(16) NOT NULL, \
     billmgr_id BIGINT NULL, lookup TEXT NULL, event VARCHAR(128) NOT NULL, \
     state VARCHAR(16) NOT NULL DEFAULT 'pending', generation BIGINT NOT NULL DEFAULT 1, \
     attempts INT NOT NULL DEFAULT 0, next_try BIGINT NOT NULL DEFAULT 0, \
     last_error TEXT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL";

/// The old queue's one job: done at T0 - 10.
pub const OLD_QUEUE_JOB: &str = "INSERT INTO amocrm_queue \
     (job_key, kind, billmgr_id, event, state, created_at, updated_at) \
     VALUES ('account:3', 'account', 3, 'account.edit', 'done', 1749999990, 1749999990)";

/// `target` holds a queue an older version made, without the index the prune reads by:
/// the first open adds it (`has_index` reads the database's own catalogue), keeps the
/// job, and the prune then finds it.
pub fn an_older_queue_gains_the_prune_index(target: &Target, has_index: &dyn Fn() -> bool) {
    assert!(!has_index(), "the old queue has no prune index");
    let mut db = db::open(target).expect("open");
    db.ensure_schema().expect("schema");
    assert!(has_index(), "the prune index added");
    db.ensure_schema().expect("schema again");
    assert_eq!(
        db.prune_jobs(T0 + 1).expect("prune"),
        1,
        "the old job pruned"
    );
}

/// 20 connections enqueue at once: every job lands once, no write is refused.
pub fn concurrent_enqueues_all_land(open: &(dyn Fn() -> Box<dyn PanelDb> + Sync)) {
    let threads = 20;
    let per_thread = 25;
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                let mut db = open();
                db.ensure_schema().expect("schema");
                barrier.wait();
                for i in 0..per_thread {
                    let own = item(100_000 + (t * per_thread + i) as i64);
                    db.enqueue(&[own, account(2)], T0 + i as i64)
                        .expect("enqueue under contention");
                }
            });
        }
    });
    let mut db = open();
    let jobs = db.list_jobs(&[], 10_000).expect("list");
    assert_eq!(jobs.len(), threads * per_thread + 1);
    let keys: std::collections::HashSet<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(keys.len(), jobs.len(), "every key once");
    let claimed = db.claim(T0 + 100, 1).expect("claim");
    assert_eq!(claimed[0].billmgr_id, Some(2));
    assert_eq!(
        claimed[0].generation,
        (threads * per_thread) as i64,
        "every upsert counted"
    );
}
