//! The panel database suite on an SQLite file in a temporary directory, plus what only the
//! embedded backend and the settings resolution have: many writers on one file, and
//! which database `[database]` and the panel's settings files point to.

mod db_suite;
mod support;

use billmgr_amocrm::config::DatabaseSettings;
use billmgr_amocrm::db::sample::{self, SampleOptions};
use billmgr_amocrm::db::{self, Target, target};
use billmgr_amocrm::paths::Paths;
use billmgr_amocrm::secret::Secret;

/// An empty database file in its own directory (`var/` does not exist yet).
fn empty() -> (tempfile::TempDir, Target) {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = Target::Sqlite(dir.path().join("var/amocrm.db"));
    (dir, target)
}

/// The sample panel, loaded.
fn with_sample() -> (tempfile::TempDir, Target) {
    let (dir, target) = empty();
    let report = sample::create(&target, &SampleOptions::default()).expect("sample");
    assert_eq!((report.accounts, report.users, report.items), (6, 7, 10));
    (dir, target)
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let (_dir, target) = with_sample();
            let mut db = db::open(&target).expect("open");
            db.ensure_schema().expect("schema");
            db_suite::$name(db.as_mut());
        }
    )*};
}

suite!(
    ensure_schema_is_idempotent_and_leaves_the_panel_alone,
    enqueue_upserts_by_key_and_bumps_the_generation,
    lookups_round_trip_through_the_queue,
    claim_takes_accounts_then_payers_then_services_oldest_first,
    finish_records_each_outcome,
    an_event_during_work_keeps_the_job_pending,
    release_and_reset_taken_put_jobs_back,
    a_done_job_comes_back_with_a_new_event,
    admin_queue_operations_page_retry_drop_and_prune,
    links_save_update_page_and_count,
    links_page_at_an_offset_and_unlink,
    creates_in_flight_are_marked_kept_and_cleared,
    notes_and_tasks_are_posted_once,
    payments_read_with_method_currency_and_client,
    money_is_read_for_clients_and_their_services,
    accounts_read_with_project_and_first_user,
    profiles_read_with_their_client,
    items_read_with_tariff_type_currency_client_and_parameters,
    lookups_find_clients_and_payers,
    a_batch_reads_as_its_entities_one_by_one,
    claims_of_one_kind_leave_the_others,
    ids_page_through_each_table,
    waiting_jobs_are_found_by_entity,
);

#[test]
fn sample_refuses_a_database_with_panel_tables() {
    let (_dir, target) = with_sample();
    db_suite::sample_refuses_a_database_with_panel_tables(&target);
}

#[test]
fn generated_panel_has_the_asked_size_and_shape() {
    let (_dir, target) = empty();
    db_suite::generated_panel_has_the_asked_size_and_shape(&target);
}

#[test]
fn an_official_link_table_is_kept_and_extended() {
    let (_dir, target) = with_sample();
    let Target::Sqlite(path) = &target else {
        unreachable!()
    };
    let conn = rusqlite::Connection::open(path).expect("open raw");
    conn.execute_batch(
        "CREATE TABLE amocrm_account2contact (id INTEGER PRIMARY KEY AUTOINCREMENT, \
         billmgr_id INTEGER, amocrm_id INTEGER);
         INSERT INTO amocrm_account2contact (billmgr_id, amocrm_id) VALUES (3, 777);",
    )
    .expect("official table");
    drop(conn);
    db_suite::an_official_link_table_is_kept_and_extended(&target);
}

#[test]
fn an_older_queue_gains_the_prune_index() {
    let (_dir, target) = with_sample();
    let Target::Sqlite(path) = &target else {
        unreachable!()
    };
    let conn = rusqlite::Connection::open(path).expect("open raw");
    conn.execute_batch(&format!(
        "CREATE TABLE amocrm_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, {});
         {};",
        db_suite::OLD_QUEUE_COLUMNS,
        db_suite::OLD_QUEUE_JOB
    ))
    .expect("old queue");
    let has_index = || {
        conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master \
             WHERE type = 'index' AND name = 'idx_amocrm_queue_state_updated'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .expect("catalogue")
            > 0
    };
    db_suite::an_older_queue_gains_the_prune_index(&target, &has_index);
}

#[test]
fn twenty_processes_worth_of_writers_share_one_file() {
    let (_dir, target) = empty();
    db_suite::concurrent_enqueues_all_land(&|| db::open(&target).expect("open"));
}

#[test]
fn the_module_tables_work_without_a_panel() {
    // A fresh machine: no panel tables at all, the module still queues and links.
    let (_dir, target) = empty();
    let mut db = db::open(&target).expect("open");
    db.ensure_schema().expect("schema");
    db.enqueue(
        &[db::NewJob::for_id(
            billmgr_amocrm::model::EntityKind::Item,
            1,
            "sync",
        )],
        5,
    )
    .expect("enqueue");
    assert_eq!(db.queue_summary(5).expect("summary").due, 1);
    let err = db.read_account(2).expect_err("no account table");
    assert!(err.to_string().contains("account"), "{err}");
    assert!(db.describe().starts_with("sqlite:") && db.describe().ends_with("var/amocrm.db"));
}

#[test]
fn an_unwritable_place_is_reported_with_its_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").expect("write");
    let err = db::open(&Target::Sqlite(blocker.join("amocrm.db")))
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("cannot open the panel database") && msg.contains("file/amocrm.db"),
        "{msg}"
    );
}

// --- which database the settings name ------------------------------------------------

fn settings(driver: Option<&str>, url: Option<&str>, path: Option<&str>) -> DatabaseSettings {
    DatabaseSettings {
        driver: driver.map(str::to_string),
        url: url.map(Secret::new),
        path: path.map(str::to_string),
    }
}

fn mysql_url(t: Target) -> String {
    match t {
        Target::Mysql(u) => u.expose().to_string(),
        other => panic!("expected mysql, got {other:?}"),
    }
}

#[test]
fn target_follows_the_database_settings() {
    let root = tempfile::tempdir().expect("root");
    let paths = Paths::new(root.path());
    let default = Target::Sqlite(paths.default_sqlite());
    let url = "mysql://amo:pw@10.0.0.5:3306/billmgr";

    assert_eq!(
        target(&settings(None, None, None), &paths).expect("none"),
        default
    );
    assert_eq!(
        target(&settings(Some("sqlite"), None, None), &paths).expect("sqlite"),
        default
    );
    assert_eq!(
        target(
            &settings(Some("sqlite"), None, Some("var/other.db")),
            &paths
        )
        .expect("relative"),
        Target::Sqlite(root.path().join("var/other.db"))
    );
    assert_eq!(
        target(
            &settings(Some("SQLite"), Some(url), Some("/tmp/abs.db")),
            &paths
        )
        .expect("absolute"),
        Target::Sqlite("/tmp/abs.db".into())
    );
    assert_eq!(
        mysql_url(target(&settings(Some("mysql"), Some(url), None), &paths).expect("mysql")),
        url
    );
    assert_eq!(
        mysql_url(target(&settings(None, Some(url), None), &paths).expect("url alone")),
        url
    );

    let err =
        target(&settings(Some("mysql"), None, None), &paths).expect_err("nothing to connect to");
    assert!(err.to_string().contains("billmgr.conf"), "{err}");
    let err = target(&settings(Some("oracle"), None, None), &paths).expect_err("unknown driver");
    assert!(err.to_string().contains("oracle"), "{err}");
}

#[test]
fn target_finds_the_panels_own_database() {
    let panel = support::Panel::new();
    let paths = Paths::new(panel.root());
    panel.write(
        "etc/billmgr.conf",
        "# BILLmanager settings\nDBHost   db.local\nDBUser billing\n\
         DBPassword p@ss w0rd\n#DBName commented\nDBName panel\nSomethingElse 1\n",
    );
    let t = target(&settings(None, None, None), &paths).expect("panel settings");
    assert_eq!(t.describe(), "mysql://billing@db.local:3306/panel");
    assert!(
        !format!("{t:?}").contains("p@ss"),
        "the password never prints"
    );
    assert_eq!(
        mysql_url(t),
        "mysql://billing:p%40ss%20w0rd@db.local:3306/panel"
    );

    // driver = mysql without a url uses them too; an explicit url or sqlite wins.
    let t = target(&settings(Some("mysql"), None, None), &paths).expect("mysql from panel");
    assert_eq!(t.describe(), "mysql://billing@db.local:3306/panel");
    let t = target(&settings(None, Some("mysql://x@h:3307/d"), None), &paths).expect("url");
    assert_eq!(t.describe(), "mysql://x@h:3307/d");
    assert_eq!(
        target(&settings(Some("sqlite"), None, None), &paths).expect("sqlite"),
        Target::Sqlite(paths.default_sqlite())
    );

    // Only a password: the other parameters take the panel's defaults (localhost: the
    // server's unix socket where there is one, else TCP).
    panel.write("etc/billmgr.conf", "DBPassword secret\n");
    let t = target(&settings(None, None, None), &paths).expect("defaults");
    let shown = t.describe();
    assert!(
        shown == "mysql://root@localhost:3306/billmgr"
            || shown.starts_with("mysql://root@localhost/billmgr?socket=/"),
        "{shown}"
    );
    assert!(mysql_url(t).starts_with("mysql://root:secret@localhost"));

    // A panel's billmgr.conf without database parameters: an error naming what was read,
    // never a private SQLite file.
    panel.write("etc/billmgr.conf", "# nothing here\nLicense abc\n");
    let err = target(&settings(None, None, None), &paths).expect_err("no db params");
    let err = err.to_string();
    assert!(err.contains("etc/billmgr.conf: no DBHost"), "{err}");
    assert!(err.contains("[database] url = mysql://"), "{err}");
    assert!(!paths.default_sqlite().exists());
}

#[test]
fn a_sqlite_target_describes_its_file() {
    let t = Target::Sqlite("/usr/local/mgr5/var/amocrm.db".into());
    assert_eq!(t.describe(), "sqlite:/usr/local/mgr5/var/amocrm.db");
    let m = Target::Mysql(Secret::new("mysql://u:hunter2@h:3306/b"));
    assert_eq!(m.describe(), "mysql://u@h:3306/b");
}

#[test]
fn a_panel_of_a_hundred_thousand_rows_is_generated_in_seconds() {
    let (_dir, target) = empty();
    let size = billmgr_amocrm::db::sample::Size {
        clients: 20_000,
        legal_payers: 5_000,
        services: 75_000,
    };
    let started = std::time::Instant::now();
    let report = sample::create(
        &target,
        &SampleOptions {
            generate: Some(size),
        },
    )
    .expect("generate");
    let took = started.elapsed();
    eprintln!("generated {report} in {took:?}");
    assert_eq!(
        (report.accounts, report.profiles, report.items),
        (20_006, 5_006, 75_010)
    );
    assert!(took < std::time::Duration::from_secs(60), "took {took:?}");
}
