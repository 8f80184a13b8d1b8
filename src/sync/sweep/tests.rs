//! The sweep's steps against the sample panel in SQLite and the sandbox amoCRM (`Stand`),
//! and the comparison on its own.

use super::super::stand::Stand;
use super::*;
use crate::amo::{AccountMeta, AmoClient, ClientOptions};
use crate::db::{Kept, Pick, Wanted};
use crate::model::EntityKind::{Account, Item, Profile};

/// amoCRM's fields and pipelines, read from the sandbox as the worker reads them.
fn meta(stand: &Stand) -> Meta {
    let mut amo =
        AmoClient::new(&stand.cfg.auth, ClientOptions::default(), &stand.paths).expect("client");
    let account = AccountMeta::fetch(&mut amo, &stand.cfg.auth.url, crate::log::now())
        .expect("fields and pipelines");
    Meta {
        account,
        offline: false,
    }
}

/// Every client, payer and service queued and sent, as `sync --all` does.
fn synced(stand: &Stand) {
    let mut w = stand.worker();
    let mut jobs = Vec::new();
    for kind in EntityKind::ALL {
        for id in w.db.ids(kind, 0, 1000).expect("ids") {
            jobs.push(NewJob::for_id(kind, id, "sync"));
        }
    }
    w.db.enqueue(&jobs, 1).expect("queued");
    w.drain().expect("drained");
}

/// A sweep into the queue, `page` entities at a time.
fn sweep(stand: &Stand, meta: &Meta, page: usize) -> Tally {
    let mut db = stand.db();
    let mut s = Sweeper::new(db.as_mut(), &stand.cfg, meta, Output::Queue);
    s.page = page;
    s.run().expect("swept");
    s.tally
}

/// SQL on the panel's tables, as a panel module or an admin writes them (no event).
fn sql(stand: &Stand, statements: &str) {
    let conn = rusqlite::Connection::open(stand.paths.resolve("var/panel.db")).expect("open");
    conn.execute_batch(statements).expect("SQL");
}

fn pending(stand: &Stand) -> Vec<(String, String)> {
    let mut jobs: Vec<(String, String)> = (stand.db().list_jobs(&["pending"], 100))
        .expect("jobs")
        .into_iter()
        .map(|j| (j.key, j.event))
        .collect();
    jobs.sort();
    jobs
}

fn queued(tally: &Tally, kind: &str) -> Counts {
    tally.queued.get(kind).copied().unwrap_or_default()
}

fn basis<'a>(stand: &'a Stand, meta: &'a Meta) -> Basis<'a> {
    Basis {
        rules: &stand.cfg.rules,
        meta,
        mode: stand.cfg.sync.update,
    }
}

fn verdict(stand: &Stand, meta: &Meta, kind: EntityKind, rec: &Record, link: &Link) -> Verdict {
    let id = link.billmgr_id;
    compare(kind, id, Some(rec), Some(link), false, &basis(stand, meta))
}

/// A link holding the fingerprint of what the rules make of `rec` now.
fn link_to(stand: &Stand, meta: &Meta, kind: EntityKind, id: i64, rec: &Record) -> Link {
    let p = plan(kind, id, rec, &stand.cfg.rules, meta);
    Link {
        id: 1,
        billmgr_id: id,
        amocrm_id: 7,
        synced_at: 0,
        fingerprint: p.fingerprint(stand.cfg.sync.update),
    }
}

#[test]
fn an_entity_is_new_unchanged_changed_or_out() {
    let stand = Stand::sample("");
    let meta = meta(&stand);
    let b = basis(&stand, &meta);
    let mut db = stand.db();
    let rec = db.read(Item, 1001).expect("read").expect("in the panel");
    let new = compare(Item, 1001, Some(&rec), None, false, &b);
    assert_eq!(new, Verdict::Queue(Reason::New));
    let link = link_to(&stand, &meta, Item, 1001, &rec);
    assert_eq!(
        verdict(&stand, &meta, Item, &rec, &link),
        Verdict::Unchanged
    );
    let mut renewed = rec.clone();
    renewed.set("item.expiredate", "2025-08-14");
    let changed = verdict(&stand, &meta, Item, &renewed, &link);
    assert_eq!(changed, Verdict::Queue(Reason::Changed));
    let kept_out = compare(Item, 1001, Some(&rec), None, true, &b);
    assert_eq!(kept_out, Verdict::Out("its client is not synced".into()));
    let gone = compare(Item, 1001, None, Some(&link), false, &b);
    assert!(matches!(gone, Verdict::Out(_)), "{gone:?}");
    // A payer that is an individual never becomes a company, linked or not.
    let individual = db.read(Profile, 21).expect("read").expect("in the panel");
    let out = compare(Profile, 21, Some(&individual), None, false, &b);
    assert!(matches!(out, Verdict::Out(_)), "{out:?}");
}

#[test]
fn every_value_the_rules_send_is_compared_and_nothing_else() {
    let stand = Stand::sample("");
    let meta = meta(&stand);
    let mut db = stand.db();
    // (kind, id, column, new value): fields, names, price, state, tags and stages.
    let sent: &[(EntityKind, i64, &str, &str)] = &[
        (Item, 1001, "item.expiredate", "2026-07-14"),
        (Item, 1001, "item.status", "3"),
        (Item, 1001, "pricelist.name", "VDS-Max"),
        (Item, 1001, "itemtype.intname", "vhost"),
        (Item, 1001, "item.autosuspend", "on"),
        (Item, 1001, "item.name", "renamed.example"),
        (Item, 1001, "item.cost", "690.00"),
        (Item, 1001, "item.period", "-100"),
        (Account, 2, "user.phone", "+7 900 000-00-00"),
        (Account, 2, "user.email", "new@example.ru"),
        (Account, 2, "user.realname", "Иванов И. И."),
        (Account, 2, "project.name", "HostCom EU"),
        (Account, 2, "account.country", "643"),
        (Profile, 22, "profile.phone", "+7 (495) 000-00-00"),
        (Profile, 22, "profile.email", "new@romashka.example"),
        (Profile, 22, "profile.vatnum", "7701234578"),
        (Profile, 22, "profile.kpp", "770101002"),
        (Profile, 22, "profile.name", "ООО «Ромашка-2»"),
    ];
    let unsent: &[(EntityKind, i64, &str, &str)] = &[
        (Item, 1001, "item.remoteid", "vm-1"),
        (Item, 1001, "item.opendate", "2024-03-15"),
        (
            Account,
            2,
            "account.registration_date",
            "2020-01-01 00:00:00",
        ),
        (Profile, 22, "profile.person", "Сидорова А. В."),
    ];
    for (list, want_changed) in [(sent, true), (unsent, false)] {
        for &(kind, id, column, value) in list {
            let rec = db.read(kind, id).expect("read").expect("in the panel");
            let link = link_to(&stand, &meta, kind, id, &rec);
            let mut now = rec.clone();
            now.set(column, value);
            let changed = verdict(&stand, &meta, kind, &now, &link) != Verdict::Unchanged;
            assert_eq!(changed, want_changed, "{kind} {id}: {column} = {value}");
        }
    }
}

#[test]
fn after_a_full_sync_a_sweep_queues_nothing_and_sends_nothing() {
    let stand = Stand::sample("dedup =");
    synced(&stand);
    let meta = meta(&stand);
    let calls = stand.calls().len();
    let t = sweep(&stand, &meta, PAGE);
    assert_eq!(t.queued_total(), 0, "{t:?}");
    let linked: i64 = (EntityKind::ALL.iter())
        .map(|k| stand.db().link_count(*k).expect("count"))
        .sum();
    assert_eq!((t.examined, t.unchanged), (22, linked as u64));
    // The two individual payers never become companies.
    assert_eq!((t.kept_out, t.waiting), (2, 0));
    assert!(pending(&stand).is_empty());
    assert_eq!(stand.calls().len(), calls, "a sweep makes no request");
}

#[test]
fn rows_written_straight_into_the_tables_are_queued_and_sent() {
    let stand = Stand::sample("dedup =");
    synced(&stand);
    let meta = meta(&stand);
    sql(
        &stand,
        "UPDATE item SET expiredate = '2025-08-14' WHERE id = 1001;
         UPDATE item SET status = 3, suspenddate = '2025-06-02' WHERE id = 1002;
         INSERT INTO account (id, name, parent, level, project, country, registration_date)
           VALUES (8, 'Новиков Олег', 1, 16, 1, 182, '2025-06-01 10:00:00');
         INSERT INTO user (id, account, name, realname, email, phone, language, level, enabled)
           VALUES (18, 8, 'novikov@example.ru', 'Новиков Олег', 'novikov@example.ru', NULL, 'ru', 16, 'on');
         INSERT INTO item (id, account, pricelist, name, status, period, currency, cost, createdate,
           opendate, expiredate) VALUES (1011, 2, 12, 'ivanov-2.ru', 2, 1, 126, 249.00,
           '2025-06-01', '2025-06-01', '2025-07-01');",
    );
    let t = sweep(&stand, &meta, PAGE);
    assert_eq!(
        queued(&t, "account"),
        Counts {
            new: 1,
            ..Counts::default()
        }
    );
    assert_eq!(
        queued(&t, "item"),
        Counts {
            new: 1,
            changed: 2,
            ..Counts::default()
        }
    );
    assert_eq!(queued(&t, "profile").total(), 0);
    let keys: Vec<(String, String)> = ["account:8", "item:1001", "item:1002", "item:1011"]
        .map(|k| (k.to_string(), EVENT.to_string()))
        .to_vec();
    assert_eq!(pending(&stand), keys);
    let mut w = stand.worker();
    w.drain().expect("drained");
    // A lead mirrors its service (`update_leads = overwrite`): the new expiry date is sent.
    let r = &w.ledger.report;
    assert_eq!((r.sent, r.unchanged, r.skipped, r.failed), (4, 0, 0, 0));
    assert_eq!(sweep(&stand, &meta, PAGE).queued_total(), 0, "all through");
    let suspended = (stand.held("leads").into_iter())
        .find(|l| l["name"] == "srv1.romashka.example — VDS-Pro")
        .expect("the lead");
    assert_eq!(
        suspended["status_id"], 7000102,
        "moved by the `suspended` rule"
    );
}

#[test]
fn pages_of_any_size_read_in_turn_or_beside_make_the_same_sweep() {
    let stand = Stand::sample("dedup =");
    synced(&stand);
    let meta = meta(&stand);
    sql(
        &stand,
        "UPDATE item SET cost = 600 WHERE id IN (1001, 1004, 1009);",
    );
    let mut db = stand.db();
    let mut out = Vec::new();
    let mut s = Sweeper::new(db.as_mut(), &stand.cfg, &meta, Output::Print(&mut out));
    s.page = 2;
    s.run().expect("swept");
    let small = s.tally;
    let mut out500 = Vec::new();
    let mut s = Sweeper::new(db.as_mut(), &stand.cfg, &meta, Output::Print(&mut out500));
    s.run().expect("swept");
    assert_eq!(small, s.tally);
    assert_eq!(out, out500);
    // Pages read by a thread on a second connection.
    let mut beside = Vec::new();
    let mut s = Sweeper::new(db.as_mut(), &stand.cfg, &meta, Output::Print(&mut beside));
    s.reader = Some(stand.db());
    s.page = 3;
    s.run().expect("swept");
    assert_eq!((&small, &out), (&s.tally, &beside));
    // And their links by another thread on a third.
    let mut linked = Vec::new();
    let mut s = Sweeper::new(db.as_mut(), &stand.cfg, &meta, Output::Print(&mut linked));
    (s.reader, s.link_reader) = (Some(stand.db()), Some(stand.db()));
    s.page = 3;
    s.run().expect("swept");
    assert_eq!((&small, &out), (&s.tally, &linked));
    assert_eq!(queued(&small, "item").changed, 3);
}

#[test]
fn a_dry_run_prints_each_entity_with_its_reason_and_queues_nothing() {
    let stand = Stand::sample("dedup =");
    synced(&stand);
    let meta = meta(&stand);
    sql(
        &stand,
        "UPDATE item SET expiredate = '2025-08-14' WHERE id = 1001;
         INSERT INTO item (id, account, pricelist, name, status, period, currency, cost)
           VALUES (1011, 3, 12, 'romashka-2.ru', 1, 1, 126, 249.00);",
    );
    let amo_id = stand
        .db()
        .link(Item, 1001)
        .expect("link")
        .expect("linked")
        .amocrm_id;
    let mut out = Vec::new();
    let mut db = stand.db();
    let mut s = Sweeper::new(db.as_mut(), &stand.cfg, &meta, Output::Print(&mut out));
    s.run().expect("swept");
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object a line"))
        .collect();
    assert_eq!(
        lines,
        [
            serde_json::json!({"kind": "item", "id": 1001, "entity": "leads", "reason": "changed", "amocrm_id": amo_id}),
            serde_json::json!({"kind": "item", "id": 1011, "entity": "leads", "reason": "new"}),
        ]
    );
    assert!(pending(&stand).is_empty(), "nothing queued");
}

#[test]
fn a_waiting_job_keeps_its_retry_and_is_not_queued_again() {
    let stand = Stand::sample("dedup =");
    synced(&stand);
    let meta = meta(&stand);
    sql(
        &stand,
        "UPDATE item SET cost = 600 WHERE id IN (1001, 1002);",
    );
    let mut db = stand.db();
    db.enqueue(&[NewJob::for_id(Item, 1001, "service.postopen")], 1)
        .expect("queued");
    let job = db.claim_of(Item, 1, 1).expect("claimed").remove(0);
    let failed = crate::db::Outcome::Failed {
        error: "amoCRM rejected it".into(),
        next_try: i64::MAX / 4,
    };
    db.finish(&job, &failed, 1).expect("failed");
    let t = sweep(&stand, &meta, PAGE);
    assert_eq!((t.waiting, queued(&t, "item").changed), (1, 1));
    let info = db.job_of(Item, 1001).expect("job").expect("kept");
    assert_eq!(
        (info.state.as_str(), info.next_try),
        ("failed", i64::MAX / 4)
    );
}

#[test]
fn what_hangs_on_a_client_kept_out_is_not_queued() {
    // Clients of the second provider are kept out; their services and payers with them.
    let stand = Stand::new("dedup =", |rules| {
        rules.replace(
            "; account = account.project = 1",
            "account = account.project = 1",
        )
    });
    let meta = meta(&stand);
    let t = sweep(&stand, &meta, PAGE);
    // Clients 4 and 6 (project 2), their payers 25 (an individual) and 26, services 1005 and 1008.
    assert_eq!(queued(&t, "account").new, 4);
    assert_eq!(queued(&t, "profile").new, 3);
    assert_eq!(queued(&t, "item").new, 8);
    assert_eq!(t.kept_out, 2 + 3 + 2);
    let mut w = stand.worker();
    w.drain().expect("drained");
    assert_eq!(
        w.ledger.report.skipped, 0,
        "the worker skips nothing queued"
    );
    assert_eq!(sweep(&stand, &meta, PAGE).queued_total(), 0);
}

#[test]
fn what_amocrm_removed_is_queued_and_read_back() {
    let stand = Stand::sample("dedup =");
    synced(&stand);
    let meta = meta(&stand);
    let mut db = stand.db();
    let amo_id = db
        .link(Item, 1004)
        .expect("link")
        .expect("linked")
        .amocrm_id;
    let mut s = Sweeper::new(db.as_mut(), &stand.cfg, &meta, Output::Queue);
    s.queue_removed(&[(Item, amo_id), (Account, 999_999)])
        .expect("queued");
    s.run().expect("swept");
    assert_eq!(
        queued(&s.tally, "item"),
        Counts {
            removed: 1,
            ..Counts::default()
        }
    );
    assert_eq!((s.tally.waiting, s.tally.queued_total()), (1, 1));
    let link = db.link(Item, 1004).expect("link").expect("kept");
    assert_eq!((link.amocrm_id, link.fingerprint.as_str()), (amo_id, ""));
    assert_eq!(
        pending(&stand),
        [("item:1004".to_string(), EVENT.to_string())]
    );
}

/// A sweep with the digests of the one before, keeping its own.
fn sweep_with_digests(stand: &Stand, cfg: &Config, meta: &Meta) -> (Tally, u64) {
    let basis = super::super::sweep_cache::basis(cfg, meta);
    let mut db = stand.db();
    let mut s = Sweeper::new(db.as_mut(), cfg, meta, Output::Queue);
    s.digests = Some(Digests::open(&stand.paths, basis, true));
    s.run().expect("swept");
    if let Some(d) = s.digests.take() {
        d.finish(&stand.paths);
    }
    (s.tally, s.recalled)
}

#[test]
fn digests_settle_what_did_not_move_and_nothing_else() {
    let stand = Stand::sample("dedup =\nupdate = overwrite");
    synced(&stand);
    let meta = meta(&stand);
    let cfg = stand.cfg.clone();
    let (first, recalled) = sweep_with_digests(&stand, &cfg, &meta);
    assert_eq!((first.queued_total(), recalled), (0, 0), "no digests yet");
    let (again, recalled) = sweep_with_digests(&stand, &cfg, &meta);
    assert_eq!(again, first, "the same sweep");
    assert_eq!(
        recalled,
        first.unchanged + first.kept_out,
        "every verdict recalled"
    );

    // A renewal: its rows moved, so it is compared and queued; the rest recalled.
    sql(
        &stand,
        "UPDATE item SET expiredate = '2025-08-14' WHERE id = 1001;",
    );
    let (renewed, recalled) = sweep_with_digests(&stand, &cfg, &meta);
    assert_eq!(queued(&renewed, "item").changed, 1);
    assert_eq!(recalled, first.unchanged + first.kept_out - 1);
    // Sent: its link's fingerprint is new, so it is compared once more, and unchanged.
    stand.worker().drain().expect("drained");
    let (sent, recalled) = sweep_with_digests(&stand, &cfg, &meta);
    assert_eq!((sent.queued_total(), sent.unchanged), (0, first.unchanged));
    assert_eq!(recalled, first.unchanged + first.kept_out - 1);

    // Other rules: no digest stands, and what they change is found.
    let mut other = cfg.clone();
    other.rules.tags.item.clear();
    let (retagged, recalled) = sweep_with_digests(&stand, &other, &meta);
    assert_eq!(recalled, 0);
    assert!(queued(&retagged, "item").changed > 0, "{retagged:?}");
}

#[test]
fn the_wanted_tables_make_the_fingerprint_and_admission_every_table_makes() {
    let stand = Stand::sample("dedup =");
    let meta = meta(&stand);
    let rules = &stand.cfg.rules;
    let mut db = stand.db();
    let mut left_out = Vec::new();
    for kind in EntityKind::ALL {
        let ids = db.ids(kind, 0, 1000).expect("ids");
        let tables = wanted(rules, kind);
        left_out.extend(["account", "user", "project"].map(|t| (kind, tables.contains(&t))));
        let kept = Kept::default();
        let some = (db.read_rows(kind, Pick::Ids(&ids), Wanted::only(&tables, &kept)))
            .expect("read")
            .records();
        let all = db.read_many(kind, &ids).expect("read");
        assert_eq!(some.len(), all.len(), "{kind}");
        for (id, rec) in &all {
            let part = &some[id];
            assert_eq!(
                admit(kind, Some(part), rules),
                admit(kind, Some(rec), rules)
            );
            let (p, q) = (
                plan(kind, *id, part, rules, &meta),
                plan(kind, *id, rec, rules, &meta),
            );
            for mode in [UpdateMode::Overwrite, UpdateMode::FillEmpty] {
                assert_eq!(p.fingerprint(mode), q.fingerprint(mode), "{kind} {id}");
            }
            assert_eq!(
                (p.account_id, p.state),
                (q.account_id, q.state),
                "{kind} {id}"
            );
        }
    }
    // The sample's lead rules read neither the client nor its user: those are not read.
    assert!(left_out.contains(&(Item, false)), "{left_out:?}");
}
