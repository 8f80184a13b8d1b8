//! The panel database suite on MariaDB/MySQL. Each test creates and drops its own database
//! (`amocrm_test_<pid>_<n>`) on the server `AMOCRM_TEST_MYSQL_URL` names; the tests built
//! without it are listed as ignored.

mod db_suite;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use billmgr_amocrm::db::sample::{self, SampleOptions};
use billmgr_amocrm::db::{self, Target};
use billmgr_amocrm::secret::Secret;
use mysql::prelude::Queryable;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A database of its own on the test server, dropped when the test ends.
struct TestDb {
    server: String,
    name: String,
    target: Target,
}

impl TestDb {
    fn new(server_url: &str) -> TestDb {
        // The server part of the url: scheme, user info and host, without a database.
        let rest = server_url.split_once("://").map_or(server_url, |(_, r)| r);
        let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let server = format!("mysql://{}", &rest[..host_end]);
        let name = format!(
            "amocrm_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = mysql::Conn::new(mysql::Opts::from_url(&server).expect("server url"))
            .expect("connect to MariaDB");
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .expect("drop old");
        conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            .expect("create database");
        let target = Target::Mysql(Secret::new(format!("{server}/{name}")));
        TestDb {
            server,
            name,
            target,
        }
    }

    fn conn(&self) -> mysql::Conn {
        let url = format!("{}/{}", self.server, self.name);
        mysql::Conn::new(mysql::Opts::from_url(&url).expect("url")).expect("connect")
    }

    fn exec(&self, sql: &str) {
        self.conn().query_drop(sql).expect("statement");
    }

    /// How many rows a statement gives.
    fn rows(&self, sql: &str) -> usize {
        let rows: Vec<mysql::Row> = self.conn().query(sql).expect("query");
        rows.len()
    }

    /// With the sample panel loaded.
    fn with_sample(server_url: &str) -> TestDb {
        let t = TestDb::new(server_url);
        let report = sample::create(&t.target, &SampleOptions::default()).expect("sample");
        assert_eq!((report.accounts, report.users, report.items), (6, 7, 10));
        t
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = mysql::Opts::from_url(&self.server)
            .map_err(|e| e.to_string())
            .and_then(|o| mysql::Conn::new(o).map_err(|e| e.to_string()))
        {
            let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
        }
    }
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        #[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
        fn $name() {
            let url = support::mysql_server();
            let t = TestDb::with_sample(&url);
            let mut db = db::open(&t.target).expect("open");
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
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn sample_refuses_a_database_with_panel_tables() {
    let url = support::mysql_server();
    let t = TestDb::with_sample(&url);
    db_suite::sample_refuses_a_database_with_panel_tables(&t.target);
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn generated_panel_has_the_asked_size_and_shape() {
    let url = support::mysql_server();
    let t = TestDb::new(&url);
    db_suite::generated_panel_has_the_asked_size_and_shape(&t.target);
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn an_official_link_table_is_kept_and_extended() {
    let url = support::mysql_server();
    let t = TestDb::with_sample(&url);
    t.exec("CREATE TABLE amocrm_account2contact (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, billmgr_id INT, amocrm_id INT) ENGINE=InnoDB");
    t.exec("INSERT INTO amocrm_account2contact (billmgr_id, amocrm_id) VALUES (3, 777)");
    db_suite::an_official_link_table_is_kept_and_extended(&t.target);
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn an_older_queue_gains_the_prune_index() {
    let url = support::mysql_server();
    let t = TestDb::with_sample(&url);
    t.exec(&format!(
        "CREATE TABLE amocrm_queue (id BIGINT NOT NULL AUTO_INCREMENT, {}, PRIMARY KEY (id), \
         UNIQUE KEY uq_amocrm_queue_job_key (job_key), \
         KEY idx_amocrm_queue_state_next_try (state, next_try), \
         KEY idx_amocrm_queue_state_kind_id (state, kind, id)) ENGINE=InnoDB",
        db_suite::OLD_QUEUE_COLUMNS
    ));
    t.exec(db_suite::OLD_QUEUE_JOB);
    let has_index = || {
        t.rows("SHOW INDEX FROM amocrm_queue WHERE Key_name = 'idx_amocrm_queue_state_updated'") > 0
    };
    db_suite::an_older_queue_gains_the_prune_index(&t.target, &has_index);
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn twenty_writers_enqueue_at_once() {
    let url = support::mysql_server();
    let t = TestDb::new(&url);
    db_suite::concurrent_enqueues_all_land(&|| db::open(&t.target).expect("open"));
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn the_sample_creates_a_missing_database() {
    let url = support::mysql_server();
    let t = TestDb::new(&url);
    t.exec(&format!("DROP DATABASE `{}`", t.name));
    let report =
        sample::create(&t.target, &SampleOptions::default()).expect("sample into a new database");
    assert_eq!(report.profiles, 6);
    assert!(
        report.database.ends_with(&format!("/{}", t.name)),
        "{}",
        report.database
    );
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn a_wrong_password_is_reported_without_it() {
    let url = support::mysql_server();
    let t = TestDb::new(&url);
    let (scheme_user, host) = t
        .server
        .rsplit_once('@')
        .expect("user@host in the test url");
    let user = scheme_user
        .trim_start_matches("mysql://")
        .split(':')
        .next()
        .unwrap_or("root");
    let bad = Target::Mysql(Secret::new(format!(
        "mysql://{user}:Wr0ng-Pa55-x9@{host}/{}",
        t.name
    )));
    let err = db::open(&bad).err().expect("refused");
    let msg = err.to_string();
    assert!(!msg.contains("Wr0ng-Pa55-x9"), "{msg}");
    assert!(msg.contains(&format!("mysql://{user}@")), "{msg}");
    assert_eq!(bad.describe(), format!("mysql://{user}@{host}/{}", t.name));
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn a_panel_of_a_hundred_thousand_rows_is_generated_in_seconds() {
    let url = support::mysql_server();
    let t = TestDb::new(&url);
    let size = sample::Size {
        clients: 20_000,
        legal_payers: 5_000,
        services: 75_000,
    };
    let started = std::time::Instant::now();
    let report = sample::create(
        &t.target,
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
    assert!(took < std::time::Duration::from_secs(120), "took {took:?}");
}
