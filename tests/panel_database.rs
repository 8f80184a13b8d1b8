//! Where the module finds the panel's database, black-box: the binary run as the panel and
//! the admin run it, under a panel root holding the panel's own `sbin/mgrctl` (a script
//! here) and settings files. The MariaDB tests run when `AMOCRM_TEST_MYSQL_URL` names a
//! server.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use billmgr_amocrm::db::Target;
use billmgr_amocrm::db::sample::{self, SampleOptions};
use billmgr_amocrm::secret::Secret;
use mysql::prelude::Queryable;
use serde_json::Value;
use support::{MysqlDb, Panel, Sandbox};

/// amoCRM for tests that never reach it: nothing listens there.
const NO_AMOCRM: &str = "http://127.0.0.1:9";

/// What every "no settings" message says to do.
const WHAT_TO_SET: &str = "set [database] url = mysql://";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `sbin/mgrctl` as a shell script with this body.
fn mgrctl(p: &Panel, body: &str) {
    p.write("sbin/mgrctl", &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(
        p.path("sbin/mgrctl"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod mgrctl");
}

/// A mgrctl that answers `-m billmgr paramlist out=xml` as ISPsystem's code reads it (one
/// parameter an `elem` under `doc`) and fails anything else.
fn mgrctl_answering(p: &Panel, params: &[(&str, &str)]) {
    let elems: String = params
        .iter()
        .map(|(k, v)| format!("<elem><{k}>{v}</{k}></elem>"))
        .collect();
    p.write(
        "sbin/paramlist.xml",
        &format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc><elem><BinaryName>billmgr</BinaryName></elem>{elems}</doc>\n"
        ),
    );
    let answer = p.path("sbin/paramlist.xml");
    mgrctl(
        p,
        &format!(
            "[ \"$*\" = '-m billmgr paramlist out=xml' ] || exit 2\ncat '{}'",
            answer.display()
        ),
    );
}

/// The SQLite files under `var/`: none may appear on a panel.
fn sqlite_files(p: &Panel) -> Vec<String> {
    std::fs::read_dir(p.path("var"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".db") || n.contains(".db-"))
                .collect()
        })
        .unwrap_or_default()
}

fn status_json(p: &Panel) -> Value {
    let out = p.amocrm(&["status", "--json"]);
    serde_json::from_slice(&out.stdout).expect("status json")
}

/// Waits until the log holds `needle` more than `before` times.
fn wait_for_log(p: &Panel, log: &str, needle: &str, before: usize) -> String {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let text = p.read(log);
        if text.matches(needle).count() > before || Instant::now() > until {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// --- a panel without settings, and no panel at all ------------------------------------

/// A panel root without database settings, marked as a panel by `what`.
fn panel_without_settings(what: &str) -> Panel {
    let p = Panel::new();
    p.write_conf(NO_AMOCRM, "", "");
    match what {
        "billmgr.conf" => p.write("etc/billmgr.conf", "# BILLmanager\nOption EULA\n"),
        "billmgr.conf.d" => p.write("etc/billmgr.conf.d/other.conf", "License abc\n"),
        "mgrctl" => mgrctl(&p, "echo 'billmgr is not running' >&2\nexit 1"),
        other => panic!("{other}"),
    }
    p
}

/// The message names every place it looked and what to set.
fn assert_names_what_it_read(p: &Panel, said: &str) {
    for place in [
        p.path("etc/amocrm/amocrm.conf"),
        p.path("sbin/mgrctl"),
        p.path("etc/billmgr.conf.d"),
        p.path("etc/billmgr.conf"),
    ] {
        assert!(
            said.contains(&place.display().to_string()),
            "{place:?}: {said}"
        );
    }
    assert!(said.contains(WHAT_TO_SET), "{said}");
}

#[test]
fn a_panel_without_database_settings_gets_an_error_never_a_private_file() {
    for what in ["billmgr.conf", "billmgr.conf.d", "mgrctl"] {
        let p = panel_without_settings(what);
        let out = p.amocrm(&["task"]);
        assert_eq!(out.status.code(), Some(1), "{what}: task");
        assert_names_what_it_read(&p, &text(&out.stderr));
        if what == "mgrctl" {
            assert!(
                text(&out.stderr).contains("exited with status 1: billmgr is not running"),
                "{}",
                text(&out.stderr)
            );
        }
        // The worker says it in the task log too: a woken worker has no terminal.
        let log = p.read("var/amocrm_task.log");
        assert!(log.contains("the worker cannot start"), "{what}: {log}");
        assert_names_what_it_read(&p, &log);

        for args in [
            &["sync", "--all"][..],
            &["init"],
            &["links"],
            &["sample-panel"],
            &["drop-tables", "--yes"],
            &["check"],
        ] {
            let out = p.amocrm(args);
            assert_eq!(out.status.code(), Some(1), "{what}: {args:?}");
            assert_names_what_it_read(&p, &text(&out.stderr));
        }
        let out = p.amocrm(&["status"]);
        assert_eq!(out.status.code(), Some(1), "{what}: status");
        assert!(text(&out.stdout).contains("database:   ERROR"), "{what}");
        let report = status_json(&p);
        assert_names_what_it_read(&p, report["database"]["error"].as_str().unwrap_or(""));
        assert_eq!(sqlite_files(&p), Vec::<String>::new(), "{what}");
    }
}

#[test]
fn the_handler_passes_the_document_and_says_why_the_jobs_wait() {
    for what in ["billmgr.conf", "billmgr.conf.d"] {
        let p = panel_without_settings(what);
        p.event("service.postopen", "1001", &[]);
        assert!(p.read("var/amocrm_spool").contains("1001"), "{what}");
        let log = p.read("var/amocrm_action.log");
        assert!(log.contains("service.postopen: queued item:1001"), "{log}");
        assert!(log.contains("the jobs wait in"), "{log}");
        assert_names_what_it_read(&p, &log);
        // The worker the event woke meets the same, and says it in the task log.
        let task = wait_for_log(&p, "var/amocrm_task.log", "the worker cannot start", 0);
        assert_names_what_it_read(&p, &task);
        assert_eq!(sqlite_files(&p), Vec::<String>::new(), "{what}");
    }
    // With a mgrctl, only the panel knows: the hook does not ask it (the panel is waiting
    // on the hook); the worker it wakes does, and logs what it found.
    let p = panel_without_settings("mgrctl");
    p.event("service.postopen", "1001", &[]);
    assert!(p.read("var/amocrm_spool").contains("1001"));
    let task = wait_for_log(&p, "var/amocrm_task.log", "the worker cannot start", 0);
    assert_names_what_it_read(&p, &task);
    assert!(task.contains("exited with status 1"), "{task}");
    assert_eq!(sqlite_files(&p), Vec::<String>::new());
}

#[test]
fn without_a_panel_the_embedded_file_is_the_default() {
    let p = Panel::new();
    p.write_conf(NO_AMOCRM, "", "");
    let out = p.amocrm(&["check"]);
    let file = p.path("var/amocrm.db");
    assert!(
        text(&out.stdout).contains(&format!(
            "database: sqlite:{} (settings from default (no panel installed))",
            file.display()
        )),
        "{}",
        text(&out.stdout)
    );
    let report = status_json(&p);
    assert_eq!(report["database"]["source"], "default (no panel installed)");
    assert_eq!(
        report["database"]["url"],
        format!("sqlite:{}", file.display())
    );
    // Chosen in amocrm.conf, it is the admin's: panel or not.
    p.write_conf(NO_AMOCRM, Panel::sqlite(), "");
    p.write("etc/billmgr.conf", "Option EULA\n");
    let report = status_json(&p);
    assert_eq!(report["database"]["source"], "amocrm.conf [database]");
    let out = p.amocrm(&["status"]);
    assert!(
        text(&out.stdout).contains("(settings from amocrm.conf [database])"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_panels_answer_wins_over_its_files_and_amocrm_conf_over_both() {
    let p = Panel::new();
    p.write_conf(NO_AMOCRM, "", "");
    p.write(
        "etc/billmgr.conf.d/db.conf",
        "DBHost files.example\nDBUser files\nDBPassword Files-Pass-1234\nDBName files\n",
    );
    mgrctl_answering(
        &p,
        &[
            ("DBHost", "db.example"),
            ("DBUser", "billing"),
            ("DBPassword", "Answer-Pass-98765"),
            ("DBName", "panel"),
        ],
    );
    let out = p.amocrm(&["check"]);
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        said.contains(
            "database: mysql://billing@db.example:3306/panel (settings from sbin/mgrctl paramlist)"
        ),
        "{said}"
    );
    assert!(!said.contains("Answer-Pass-98765"), "{said}");

    // A panel that cannot answer: its files.
    mgrctl(&p, "exit 1");
    let out = p.amocrm(&["check"]);
    assert!(
        text(&out.stdout).contains(
            "database: mysql://files@files.example:3306/files (settings from etc/billmgr.conf.d/db.conf)"
        ),
        "{}",
        text(&out.stdout)
    );

    // amocrm.conf wins over both.
    p.write_conf(
        NO_AMOCRM,
        "driver = mysql\nurl = mysql://amo@conf.example:3307/x",
        "",
    );
    let out = p.amocrm(&["check"]);
    assert!(
        text(&out.stdout).contains(
            "database: mysql://amo@conf.example:3307/x (settings from amocrm.conf [database])"
        ),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_stuck_panel_is_given_up_after_the_deadline() {
    let p = Panel::new();
    p.write_conf(NO_AMOCRM, "", "");
    p.write(
        "etc/billmgr.conf.d/db.conf",
        "DBHost db.example\nDBName panel\n",
    );
    let pidfile = p.path("sbin/mgrctl.pid");
    mgrctl(
        &p,
        &format!("echo $$ > '{}'\nexec sleep 120", pidfile.display()),
    );
    let started = Instant::now();
    let out = p.amocrm(&["check"]);
    let took = started.elapsed();
    assert!(
        text(&out.stdout).contains(
            "database: mysql://root@db.example:3306/panel (settings from etc/billmgr.conf.d/db.conf)"
        ),
        "{}",
        text(&out.stdout)
    );
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(20),
        "{took:?}"
    );
    // The stuck mgrctl was killed, not left behind.
    let pid = std::fs::read_to_string(&pidfile).expect("pid");
    assert!(
        !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "mgrctl {pid} still runs"
    );
}

// --- on MariaDB -------------------------------------------------------------------

/// The test server as the panel's settings name it: host, user, password. `None` (and a
/// notice) when it does not listen on 3306, which the panel's settings cannot name.
fn server_settings(server: &str) -> Option<(String, String, String)> {
    let opts = mysql::Opts::from_url(server).expect("AMOCRM_TEST_MYSQL_URL");
    if opts.get_tcp_port() != 3306 {
        eprintln!(
            "skipped: the panel's settings name port 3306 only; the test server is elsewhere"
        );
        return None;
    }
    Some((
        opts.get_ip_or_hostname().to_string(),
        opts.get_user().unwrap_or("root").to_string(),
        opts.get_pass().unwrap_or("").to_string(),
    ))
}

/// `etc/billmgr.conf.d/db.conf` naming this database on the test server.
fn db_conf(p: &Panel, server: &str, name: &str) -> Option<String> {
    let (host, user, password) = server_settings(server)?;
    let password = if password.is_empty() {
        String::new()
    } else {
        format!("DBPassword {password}\n")
    };
    p.write(
        "etc/billmgr.conf.d/db.conf",
        &format!("DBHost {host}\nDBUser {user}\n{password}DBName {name}\n"),
    );
    Some(format!("mysql://{user}@{host}:3306/{name}"))
}

/// The sample panel in the test database, as a panel's tables are before the module.
fn load_sample(mdb: &MysqlDb) {
    let url = Secret::new(format!("{}/{}", mdb.server, mdb.name));
    sample::create(&Target::Mysql(url), &SampleOptions::default()).expect("sample panel");
}

fn root_exec(server: &str, sql: &str) {
    let mut conn = mysql::Conn::new(mysql::Opts::from_url(server).expect("url")).expect("connect");
    conn.query_drop(sql).expect(sql);
}

fn count(server: &str, db: &str, table: &str) -> i64 {
    let mut conn = mysql::Conn::new(mysql::Opts::from_url(server).expect("url")).expect("connect");
    conn.query_first(format!("SELECT COUNT(*) FROM `{db}`.`{table}`"))
        .expect("count")
        .unwrap_or(0)
}

/// A MariaDB user of the test database, dropped at the end of the test.
struct MysqlUser {
    server: String,
    name: String,
    host: &'static str,
    password: String,
}

impl MysqlUser {
    fn create(server: &str, mdb: &MysqlDb, host: &'static str) -> MysqlUser {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let user = MysqlUser {
            server: server.to_string(),
            name: format!("amocrm_u{}_{n}", std::process::id()),
            host,
            password: format!("Db-Pass-{}-{n}-x", std::process::id()),
        };
        root_exec(
            server,
            &format!(
                "CREATE USER '{}'@'{host}' IDENTIFIED BY '{}'",
                user.name, user.password
            ),
        );
        root_exec(
            server,
            &format!("GRANT ALL ON `{}`.* TO '{}'@'{host}'", mdb.name, user.name),
        );
        user
    }
}

impl Drop for MysqlUser {
    fn drop(&mut self) {
        if let Ok(opts) = mysql::Opts::from_url(&self.server)
            && let Ok(mut conn) = mysql::Conn::new(opts)
        {
            let _ = conn.query_drop(format!(
                "DROP USER IF EXISTS '{}'@'{}'",
                self.name, self.host
            ));
        }
    }
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn sync_all_reads_the_panels_own_tables_through_db_conf() {
    let server = support::mysql_server();
    let mdb = MysqlDb::create(&server);
    load_sample(&mdb);
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, "", "batch_size = 50");
    mgrctl(&p, "echo 'billmgr is not running' >&2\nexit 1");
    let Some(url) = db_conf(&p, &server, &mdb.name) else {
        return;
    };
    let out = p.amocrm(&["sync", "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(count(&server, &mdb.name, "amocrm_item2lead"), 10);
    let contacts = sandbox.get_json("/_sandbox/state")["contacts"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(contacts > 0);
    assert_eq!(
        count(&server, &mdb.name, "amocrm_account2contact"),
        contacts as i64
    );
    assert_eq!(sqlite_files(&p), Vec::<String>::new());

    let report = status_json(&p);
    assert_eq!(
        report["database"]["source"], "etc/billmgr.conf.d/db.conf",
        "{report}"
    );
    assert_eq!(report["database"]["url"], url.as_str());
    assert_eq!(report["links"]["leads"], 10);
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn the_panels_paramlist_names_the_database_and_its_password_never_shows() {
    let server = support::mysql_server();
    let Some((host, _, _)) = server_settings(&server) else {
        return;
    };
    let mdb = MysqlDb::create(&server);
    load_sample(&mdb);
    let user = MysqlUser::create(&server, &mdb, "%");
    let p = Panel::new();
    // Sending is off: the event's job stays in the spool for the next reader.
    p.write_conf(NO_AMOCRM, "", "enabled = no");
    // The files name another database: the panel's answer wins.
    p.write(
        "etc/billmgr.conf.d/db.conf",
        "DBHost 127.0.0.1\nDBName amocrm_not_this_one\n",
    );
    mgrctl_answering(
        &p,
        &[
            ("DBHost", &host),
            ("DBUser", &user.name),
            ("DBPassword", &user.password),
            ("DBName", &mdb.name),
        ],
    );
    let want = format!("mysql://{}@{host}:3306/{}", user.name, mdb.name);
    let out = p.amocrm(&["init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("tables ready in {want}"));
    assert_eq!(count(&server, &mdb.name, "amocrm_queue"), 0);

    p.event("service.postopen", "1001", &[]);
    let out = p.amocrm(&["links"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = status_json(&p);
    assert_eq!(
        report["database"]["source"], "sbin/mgrctl paramlist",
        "{report}"
    );
    assert_eq!(report["database"]["url"], want.as_str());
    assert_eq!(report["queue"]["pending"], 1, "{report}");
    let check = p.amocrm(&["check"]);
    assert!(
        text(&check.stdout).contains(&format!(
            "database: {want} (settings from sbin/mgrctl paramlist)"
        )),
        "{}",
        text(&check.stdout)
    );
    // Never the password: not in any output, not in a log.
    for out in [
        p.amocrm(&["status"]),
        p.amocrm(&["status", "--json"]),
        check,
    ] {
        let said = text(&out.stdout) + &text(&out.stderr);
        assert!(!said.contains(&user.password), "{said}");
    }
    for log in ["var/amocrm_action.log", "var/amocrm_task.log"] {
        assert!(!p.read(log).contains(&user.password), "{log}");
    }
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn a_stuck_mgrctl_is_given_up_and_db_conf_opens_the_database() {
    let server = support::mysql_server();
    let mdb = MysqlDb::create(&server);
    let p = Panel::new();
    p.write_conf(NO_AMOCRM, "", "");
    mgrctl(&p, "exec sleep 120");
    let Some(url) = db_conf(&p, &server, &mdb.name) else {
        return;
    };
    let started = Instant::now();
    let out = p.amocrm(&["init"]);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("tables ready in {url}"));
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(20),
        "{took:?}"
    );
    assert_eq!(count(&server, &mdb.name, "amocrm_queue"), 0);
}

/// The test server's unix socket (`AMOCRM_TEST_MYSQL_SOCKET`, else where MariaDB puts it
/// on Debian), if it is there.
fn server_socket() -> Option<String> {
    let socket = std::env::var("AMOCRM_TEST_MYSQL_SOCKET")
        .unwrap_or_else(|_| "/run/mysqld/mysqld.sock".to_string());
    if std::path::Path::new(&socket).exists() {
        Some(socket)
    } else {
        eprintln!("skipped: no MariaDB socket at {socket} (set AMOCRM_TEST_MYSQL_SOCKET)");
        None
    }
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn the_unix_socket_is_used_for_db_socket_and_for_localhost() {
    let server = support::mysql_server();
    let Some(socket) = server_socket() else {
        return;
    };
    let mdb = MysqlDb::create(&server);
    // A user the server takes only through its socket (`localhost`): over TCP it is
    // refused where the server does not resolve names, as MariaDB's packages set it.
    let user = MysqlUser::create(&server, &mdb, "localhost");
    let (host, _, _) =
        server_settings(&server).unwrap_or(("127.0.0.1".into(), String::new(), String::new()));
    let tcp = mysql::OptsBuilder::new()
        .ip_or_hostname(Some(host))
        .user(Some(&user.name))
        .pass(Some(&user.password))
        .prefer_socket(false);
    if mysql::Conn::new(tcp).is_ok() {
        eprintln!(
            "note: the server takes this user over TCP too; the socket shows in the url only"
        );
    }
    let p = Panel::new();
    p.write_conf(NO_AMOCRM, "", "");
    let link = p.path("sbin/db.sock");
    std::fs::create_dir_all(p.path("sbin")).expect("mkdir");
    std::os::unix::fs::symlink(&socket, &link).expect("symlink");
    let settings_on = |host: &str, socket_line: &str| {
        p.write(
            "etc/billmgr.conf.d/db.conf",
            &format!(
                "DBHost {host}\nDBUser {}\nDBPassword {}\nDBName {}\n{socket_line}",
                user.name, user.password, mdb.name
            ),
        );
    };
    let settings = |socket_line: &str| settings_on("localhost", socket_line);

    // DBSocket names the socket.
    settings(&format!("DBSocket {}\n", link.display()));
    let out = p.amocrm(&["init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "tables ready in mysql://{}@localhost/{}?socket={}",
            user.name,
            mdb.name,
            link.display()
        )
    );
    // A DBSocket where no server listens fails: it is the one used.
    settings(&format!(
        "DBSocket {}\n",
        p.path("sbin/none.sock").display()
    ));
    let out = p.amocrm(&["init"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("none.sock"),
        "{}",
        text(&out.stderr)
    );

    // A loopback address beside DBSocket: the same server, through the socket named.
    settings_on("127.0.0.1", &format!("DBSocket {}\n", link.display()));
    let out = p.amocrm(&["init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "tables ready in mysql://{}@127.0.0.1/{}?socket={}",
            user.name,
            mdb.name,
            link.display()
        )
    );
    settings_on(
        "127.0.0.1",
        &format!("DBSocket {}\n", p.path("sbin/none.sock").display()),
    );
    assert_eq!(
        p.amocrm(&["init"]).status.code(),
        Some(1),
        "the socket is the one used"
    );

    // localhost alone: the socket where MariaDB puts it.
    settings("");
    let out = p.amocrm(&["status", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let shown = report["database"]["url"].as_str().unwrap_or("");
    if socket == "/run/mysqld/mysqld.sock" {
        assert_eq!(
            shown,
            format!(
                "mysql://{}@localhost/{}?socket={socket}",
                user.name, mdb.name
            )
        );
        assert!(report["database"]["error"].is_null(), "{report}");
        assert_eq!(report["queue"]["pending"], 0, "{report}");
    }
    for out in [out, p.amocrm(&["check"])] {
        let said = text(&out.stdout) + &text(&out.stderr);
        assert!(!said.contains(&user.password), "{said}");
    }
}
