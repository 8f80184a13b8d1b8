//! scripts/install.sh and scripts/uninstall.sh run as an admin runs them, into a temporary
//! MGR_ROOT, beside or in place of ISPsystem's own amoCRM module; and (asked for with
//! `--ignored`: building the release binary and the packages takes minutes) the release
//! binary install.sh installs and the .deb checked for the glibc they need, the
//! .deb compared with the tree install.sh makes, and its preinst run against the official
//! module.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{AMOCRM, run_with_timeout};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A scratch machine: a panel root with a stand-in `mgrctl`, a cron directory, and the log
/// of the panel restarts the scripts asked for.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        let dir = tempfile::tempdir().expect("temp dir");
        let m = Machine { dir };
        std::fs::create_dir_all(m.root().join("sbin")).expect("mkdir sbin");
        std::fs::create_dir_all(m.cron_dir()).expect("mkdir cron");
        // The panel's mgrctl, standing in: it records how it was called.
        let mgrctl = m.root().join("sbin/mgrctl");
        std::fs::write(
            &mgrctl,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\n",
                m.dir.path().join("mgrctl.calls").display()
            ),
        )
        .expect("write mgrctl");
        std::fs::set_permissions(&mgrctl, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        m
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("mgr5")
    }
    fn cron_dir(&self) -> PathBuf {
        self.dir.path().join("cron.d")
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    fn mgrctl_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("mgrctl.calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Runs `scripts/NAME ARGS` with this machine's MGR_ROOT and CRON_DIR, and the commands
    /// of `stubs` (if given) first in PATH; the run may fail.
    fn try_script(&self, name: &str, args: &[&str], stubs: Option<&Path>) -> Output {
        let path = std::env::var("PATH").unwrap_or_default();
        let path = match stubs {
            Some(dir) => format!("{}:{path}", dir.display()),
            None => path,
        };
        let mut cmd = Command::new("bash");
        cmd.arg(Path::new(REPO).join("scripts").join(name))
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("MGR_ROOT", self.root())
            .env("CRON_DIR", self.cron_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_with_timeout(cmd, b"", Duration::from_secs(120))
    }

    /// Runs `scripts/NAME ARGS` with this machine's MGR_ROOT and CRON_DIR; the run must succeed.
    fn script(&self, name: &str, args: &[&str]) -> Output {
        let out = self.try_script(name, args, None);
        assert!(
            out.status.success(),
            "{name} {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
    fn install(&self) -> Output {
        self.script("install.sh", &["--binary", AMOCRM])
    }

    /// Every file and directory of the root and the cron directory: mode and content.
    fn tree(&self) -> BTreeMap<String, (u32, Option<Vec<u8>>)> {
        let mut out = BTreeMap::new();
        walk(&self.root(), "mgr5", &mut out);
        walk(&self.cron_dir(), "cron.d", &mut out);
        out
    }
}

fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, (u32, Option<Vec<u8>>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let e = e.expect("dir entry");
        let meta = std::fs::symlink_metadata(e.path()).expect("metadata");
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            out.insert(name.clone(), (mode, None));
            walk(&e.path(), &name, out);
        } else {
            out.insert(name, (mode, Some(std::fs::read(e.path()).expect("read"))));
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

fn repo_file(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(REPO).join(rel)).expect("repo file")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const MODULE_TABLES: [&str; 6] = [
    "amocrm_account2contact",
    "amocrm_profile2company",
    "amocrm_item2lead",
    "amocrm_queue",
    "amocrm_creating",
    "amocrm_posted",
];

/// The tables of a SQLite file (the file must exist: opening would create it).
fn sqlite_tables(db: &Path) -> Vec<String> {
    assert!(db.exists(), "{} is missing", db.display());
    let conn = rusqlite::Connection::open(db).expect("open sqlite");
    let mut st = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("prepare");
    st.query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn install_twice_leaves_the_same_tree() {
    let m = Machine::new();
    m.write("var/.xmlcache/billmgr/billmgr.ru.xml", "<cached/>");

    // A panel whose database settings are nowhere to be found (its mgrctl answers
    // nothing): init says where it looked and what to set, and the install goes on,
    // making no database file of its own.
    let first = m.install();
    let (_, stderr) = text(&first);
    assert!(
        stderr.contains("no settings name the panel's database")
            && stderr.contains("sbin/mgrctl -m billmgr paramlist")
            && stderr.contains("set [database] url = mysql://")
            && stderr.contains("warning: the tables were not created now"),
        "init says why there are no tables:\n{stderr}"
    );
    assert!(!m.path("var/amocrm.db").exists());
    assert!(
        !m.path("var/.xmlcache/billmgr").exists(),
        "the panel's XML cache is cleared"
    );
    assert!(
        m.path("var/.xmlcache").is_dir(),
        "the cache directory stays"
    );
    assert_eq!(
        m.mgrctl_calls(),
        ["-m billmgr paramlist out=xml", "-m billmgr exit"],
        "the panel is asked for its settings, and restarted"
    );

    // The layout, modes and contents.
    assert_eq!(mode(&m.path("addon/amocrm")), 0o750);
    assert_eq!(
        std::fs::read(m.path("addon/amocrm")).unwrap(),
        std::fs::read(AMOCRM).unwrap()
    );
    assert_eq!(mode(&m.path("etc/amocrm")), 0o700);
    assert_eq!(mode(&m.path("etc/amocrm/amocrm.conf")), 0o600);
    assert_eq!(
        std::fs::read(m.path("etc/amocrm/amocrm.conf")).unwrap(),
        repo_file("etc/amocrm.conf")
    );
    assert_eq!(mode(&m.path("etc/amocrm/presets.default")), 0o644);
    assert_eq!(
        std::fs::read(m.path("etc/amocrm/presets.default")).unwrap(),
        repo_file("etc/presets.default")
    );
    assert_eq!(mode(&m.path("etc/xml/billmgr_mod_amocrm.xml")), 0o644);
    assert_eq!(
        std::fs::read(m.path("etc/xml/billmgr_mod_amocrm.xml")).unwrap(),
        repo_file("xml/billmgr_mod_amocrm.xml")
    );
    let cron = m.cron_dir().join("billmgr-amocrm");
    assert_eq!(mode(&cron), 0o644);
    let root = m.root().display().to_string();
    let line = std::fs::read_to_string(&cron).unwrap();
    let job = line
        .lines()
        .find(|l| !l.starts_with('#'))
        .expect("a cron line");
    assert_eq!(
        job,
        format!(
            "*/5 * * * * root [ -x {root}/addon/amocrm ] && MGR_ROOT={root} {root}/addon/amocrm task >/dev/null 2>&1"
        )
    );

    let before = m.tree();
    m.install();
    let after = m.tree();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, (mode, content)) in &before {
        let (mode2, content2) = &after[path];
        assert_eq!(mode, mode2, "mode of {path}");
        assert!(
            content == content2,
            "content of {path} changed on the second run"
        );
    }
    assert_eq!(m.mgrctl_calls().len(), 4);
}

#[test]
fn install_without_a_panel_makes_the_tables_in_the_default_file() {
    let m = Machine::new();
    std::fs::remove_file(m.root().join("sbin/mgrctl")).unwrap();
    let (stdout, _) = text(&m.install());
    assert!(
        stdout.contains(&format!(
            "tables ready in sqlite:{}",
            m.path("var/amocrm.db").display()
        )),
        "init reports where the tables are:\n{stdout}"
    );
    let tables = sqlite_tables(&m.path("var/amocrm.db"));
    for t in MODULE_TABLES {
        assert!(
            tables.iter().any(|n| n == t),
            "{t} exists after install: {tables:?}"
        );
    }
}

#[test]
fn install_keeps_the_admins_settings_and_replaces_the_shipped_presets() {
    let m = Machine::new();
    let conf = "[auth]\nurl = https://ours.amocrm.ru ; the admin's\n\n[database]\ndriver = sqlite\npath = var/panel.db\n";
    m.write("etc/amocrm/amocrm.conf", conf);
    std::fs::set_permissions(
        m.path("etc/amocrm/amocrm.conf"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    m.write(
        "etc/amocrm/presets.custom",
        "value item.ip = itemparam.ip text\n",
    );
    m.write("etc/amocrm/presets.default", "an older release's presets\n");

    let (stdout, _) = text(&m.install());
    assert!(stdout.contains("kept the existing amocrm.conf"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(m.path("etc/amocrm/amocrm.conf")).unwrap(),
        conf
    );
    assert_eq!(
        mode(&m.path("etc/amocrm/amocrm.conf")),
        0o640,
        "not even its mode is touched"
    );
    assert_eq!(
        std::fs::read_to_string(m.path("etc/amocrm/presets.custom")).unwrap(),
        "value item.ip = itemparam.ip text\n"
    );
    assert_eq!(
        std::fs::read(m.path("etc/amocrm/presets.default")).unwrap(),
        repo_file("etc/presets.default")
    );
    // init used the admin's database setting.
    assert!(
        stdout.contains(&format!("sqlite:{}", m.path("var/panel.db").display())),
        "{stdout}"
    );
    assert!(!m.path("var/amocrm.db").exists());
}

#[test]
fn install_goes_on_when_the_database_is_unreachable() {
    let m = Machine::new();
    // Nothing listens on port 1: the database cannot be reached now.
    m.write(
        "etc/amocrm/amocrm.conf",
        "[database]\ndriver = mysql\nurl = mysql://amocrm@127.0.0.1:1/billmgr\n",
    );
    let (stdout, stderr) = text(&m.install());
    assert!(
        stderr.contains("cannot open the panel database"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: the tables were not created now"),
        "{stderr}"
    );
    assert!(stdout.contains("installed."), "{stdout}");
    assert_eq!(mode(&m.path("addon/amocrm")), 0o750);
    assert_eq!(m.mgrctl_calls(), ["-m billmgr exit"]);
}

#[test]
fn install_without_mgrctl_or_cron_skips_those_steps() {
    let m = Machine::new();
    std::fs::remove_file(m.root().join("sbin/mgrctl")).unwrap();
    std::fs::remove_dir(m.cron_dir()).unwrap();
    let (stdout, _) = text(&m.install());
    assert!(
        stdout.contains("skipped: no") && stdout.contains("sbin/mgrctl"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("skipped: no {}", m.cron_dir().display())),
        "{stdout}"
    );
    assert!(!m.cron_dir().exists(), "no cron directory is made up");
    assert!(m.path("addon/amocrm").exists());
}

#[test]
fn install_refuses_a_missing_binary() {
    let m = Machine::new();
    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(REPO).join("scripts/install.sh"))
        .args(["--binary", "/nonexistent/amocrm"])
        .env("MGR_ROOT", m.root())
        .env("CRON_DIR", m.cron_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_with_timeout(cmd, b"", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("/nonexistent/amocrm is not an executable file")
    );
    assert!(!m.path("addon/amocrm").exists());
}

#[test]
fn uninstall_keeps_what_the_admin_owns_and_purge_removes_it() {
    let m = Machine::new();
    // The panel's own database, with a table of the panel's that must survive everything.
    m.write(
        "etc/amocrm/amocrm.conf",
        "[database]\ndriver = sqlite\npath = var/panel.db\n",
    );
    std::fs::create_dir_all(m.path("var")).unwrap();
    rusqlite::Connection::open(m.path("var/panel.db"))
        .unwrap()
        .execute_batch("CREATE TABLE account (id INTEGER PRIMARY KEY, name TEXT)")
        .unwrap();
    m.install();
    for t in MODULE_TABLES {
        assert!(
            sqlite_tables(&m.path("var/panel.db"))
                .iter()
                .any(|n| n == t)
        );
    }
    // What the module and the admin made at run time.
    m.write("etc/amocrm/access_token", "access");
    m.write("etc/amocrm/refresh_token", "refresh");
    m.write(
        "etc/amocrm/presets.custom",
        "value item.ip = itemparam.ip text\n",
    );
    m.write(
        "var/amocrm_task.log",
        "Nov 21 19:06:00 [1] amocrm INFO done\n",
    );

    let (stdout, _) = text(&m.script("uninstall.sh", &[]));
    assert!(stdout.contains("kept:"), "{stdout}");
    for gone in [
        "addon/amocrm",
        "etc/xml/billmgr_mod_amocrm.xml",
        "etc/amocrm/presets.default",
    ] {
        assert!(!m.path(gone).exists(), "{gone} is removed");
    }
    assert!(
        !m.cron_dir().join("billmgr-amocrm").exists(),
        "the cron entry is removed"
    );
    for kept in [
        "etc/amocrm/amocrm.conf",
        "etc/amocrm/access_token",
        "etc/amocrm/refresh_token",
        "etc/amocrm/presets.custom",
        "var/amocrm_task.log",
    ] {
        assert!(m.path(kept).exists(), "{kept} is kept");
    }
    let tables = sqlite_tables(&m.path("var/panel.db"));
    for t in MODULE_TABLES {
        assert!(tables.iter().any(|n| n == t), "{t} is kept: {tables:?}");
    }
    assert_eq!(
        m.mgrctl_calls().len(),
        2,
        "the panel is restarted on uninstall too"
    );

    // The installed binary is gone now: --binary names one that can still drop the tables.
    let (stdout, stderr) = text(&m.script("uninstall.sh", &["--purge", "--binary", AMOCRM]));
    assert!(
        stderr.contains("WARNING") && stderr.contains("shared"),
        "purge warns first:\n{stderr}"
    );
    assert!(
        stdout.contains(
            "dropped amocrm_account2contact, amocrm_profile2company, amocrm_item2lead, amocrm_queue"
        ),
        "{stdout}"
    );
    assert!(
        !m.path("etc/amocrm").exists(),
        "etc/amocrm is removed whole"
    );
    assert!(!m.path("var/amocrm_task.log").exists());
    assert!(!m.path("var/amocrm_action.log").exists());
    assert_eq!(
        sqlite_tables(&m.path("var/panel.db")),
        ["account"],
        "only the panel's own table is left"
    );
}

#[test]
fn purge_removes_the_default_database_file() {
    // The default file is made only where no panel is installed.
    let m = Machine::new();
    std::fs::remove_file(m.root().join("sbin/mgrctl")).unwrap();
    m.install();
    assert!(m.path("var/amocrm.db").exists());
    m.write("var/amocrm_action.log", "a line\n");
    m.script("uninstall.sh", &["--purge"]);
    assert!(!m.path("var/amocrm.db").exists());
    assert!(!m.path("var/amocrm_action.log").exists());
    assert!(!m.path("etc/amocrm").exists());
    assert!(!m.path("addon/amocrm").exists());
    assert!(m.path("var").is_dir(), "the panel's var directory stays");
}

#[test]
fn drop_tables_asks_for_yes() {
    let panel = support::Panel::new();
    let out = panel.amocrm(&["drop-tables"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("drop-tables --yes") && stderr.contains("official amoCRM module"),
        "{stderr}"
    );
    assert!(!panel.path("var/amocrm.db").exists(), "nothing was opened");
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn install_on_a_panel_makes_the_tables_in_the_database_db_conf_names() {
    let server = support::mysql_server();
    let opts = mysql::Opts::from_url(&server).unwrap();
    if opts.get_tcp_port() != 3306 {
        eprintln!("skipped: the panel's settings name port 3306 only");
        return;
    }
    let db = support::MysqlDb::create(&server);
    let m = Machine::new();
    let password = opts
        .get_pass()
        .map(|p| format!("DBPassword {p}\n"))
        .unwrap_or_default();
    m.write(
        "etc/billmgr.conf.d/db.conf",
        &format!(
            "DBHost {}\nDBUser {}\n{password}DBName {}\n",
            opts.get_ip_or_hostname(),
            opts.get_user().unwrap_or("root"),
            db.name
        ),
    );
    let (stdout, _) = text(&m.install());
    assert!(
        stdout.contains("tables ready in mysql://") && stdout.contains(&db.name),
        "{stdout}"
    );
    assert!(!m.path("var/amocrm.db").exists());
    use mysql::prelude::Queryable;
    let mut conn = mysql::Conn::new(opts).unwrap();
    let n: Option<i64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name LIKE 'amocrm\\_%'",
            (db.name.as_str(),),
        )
        .unwrap();
    assert_eq!(n, Some(MODULE_TABLES.len() as i64));
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn install_and_purge_on_mariadb() {
    let server = support::mysql_server();
    let db = support::MysqlDb::create(&server);
    let m = Machine::new();
    m.write(
        "etc/amocrm/amocrm.conf",
        &format!("[database]\n{}\n", db.conf_lines()),
    );
    let (stdout, _) = text(&m.install());
    assert!(stdout.contains("tables ready in mysql://"), "{stdout}");

    let tables = || -> Vec<String> {
        use mysql::prelude::Queryable;
        let mut conn = mysql::Conn::new(mysql::Opts::from_url(&server).unwrap()).unwrap();
        conn.exec(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name",
            (db.name.as_str(),),
        )
        .unwrap()
    };
    let mut expected: Vec<String> = MODULE_TABLES.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(tables(), expected);

    let (stdout, _) = text(&m.script("uninstall.sh", &["--purge"]));
    assert!(
        stdout.contains("dropped amocrm_account2contact"),
        "{stdout}"
    );
    assert!(tables().is_empty(), "the module's tables are dropped");
}

/// What ISPsystem's own amoCRM module leaves in the panel's tree, as far as its documentation
/// names it (the settings, presets, tokens and logs under the same names as this module's,
/// the link tables with `id`, `billmgr_id`, `amocrm_id`), plus a module description and a
/// binary that are not this module's.
const OFFICIAL_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mgrdata>\n  <plugin name=\"amocrm\"><group>integration</group></plugin>\n</mgrdata>\n";
const OFFICIAL_BIN: &str = "#!/bin/sh\nexit 0\n";
const OFFICIAL_CONF: &str = "<amocrm><url>https://ours.amocrm.ru</url></amocrm>\n";
const OFFICIAL_LOG: &str = "Nov 21 19:06:00 [1] amocrm INFO the official module's line\n";

impl Machine {
    fn plant_official_module(&self) {
        self.write("etc/xml/billmgr_mod_amocrm.xml", OFFICIAL_XML);
        self.write("addon/amocrm", OFFICIAL_BIN);
        std::fs::set_permissions(
            self.path("addon/amocrm"),
            std::fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        self.write("etc/amocrm/amocrm.conf", OFFICIAL_CONF);
        self.write("etc/amocrm/presets.default", "official presets\n");
        self.write(
            "etc/amocrm/presets.custom",
            "the admin's official presets\n",
        );
        self.write("etc/amocrm/access_token", "official-access");
        self.write("etc/amocrm/refresh_token", "official-refresh");
        self.write("var/amocrm_task.log", OFFICIAL_LOG);
        // The database this module's sample amocrm.conf names (SQLite, var/amocrm.db), with
        // a link table as the official module makes it: client 3 is contact 777.
        rusqlite::Connection::open(self.path("var/amocrm.db"))
            .unwrap()
            .execute_batch(
                "CREATE TABLE amocrm_account2contact (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                 billmgr_id INTEGER, amocrm_id INTEGER);
                 INSERT INTO amocrm_account2contact (billmgr_id, amocrm_id) VALUES (3, 777);",
            )
            .unwrap();
    }

    /// The official module's link row and the columns of its table now.
    fn official_link(&self) -> (i64, i64, i64, String) {
        rusqlite::Connection::open(self.path("var/amocrm.db"))
            .unwrap()
            .query_row(
                "SELECT billmgr_id, amocrm_id, synced_at, fingerprint FROM amocrm_account2contact",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("the official link, with this module's columns")
    }
}

/// A directory with a `dpkg-query` that reports ISPsystem's amoCRM package as installed.
fn official_package_stub() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("dpkg-query");
    std::fs::write(
        &stub,
        "#!/bin/sh\nfor a; do last=$a; done\n\
         [ \"$last\" = billmanager-plugin-amocrm ] && echo 'install ok installed' && exit 0\n\
         exit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn install_refuses_the_official_modules_place_without_replace() {
    let m = Machine::new();
    m.plant_official_module();
    let before = m.tree();

    let out = m.try_script("install.sh", &["--binary", AMOCRM], None);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for said in [
        format!(
            "{} is not this module's",
            m.path("etc/xml/billmgr_mod_amocrm.xml").display()
        ),
        format!("{} is not this module's", m.path("addon/amocrm").display()),
        "Nothing was changed".to_string(),
        "install.sh --replace".to_string(),
        "moved to etc/amocrm/replaced-official/".to_string(),
        "amocrm_account2contact".to_string(),
    ] {
        assert!(stderr.contains(&said), "says {said:?}:\n{stderr}");
    }
    assert!(m.tree() == before, "nothing in the tree changed");
    assert!(m.mgrctl_calls().is_empty(), "the panel is not restarted");
}

#[test]
fn install_with_replace_takes_the_official_modules_place() {
    let m = Machine::new();
    // No panel here but its files: its database is then this module's default SQLite file,
    // where the official module's link table is planted.
    std::fs::remove_file(m.root().join("sbin/mgrctl")).unwrap();
    m.plant_official_module();

    let (stdout, _) = text(&m.script("install.sh", &["--binary", AMOCRM, "--replace"]));
    assert!(
        stdout.contains("in place of the other amoCRM module"),
        "{stdout}"
    );
    let kept =
        |name: &str| std::fs::read_to_string(m.path("etc/amocrm/replaced-official").join(name));
    assert_eq!(kept("billmgr_mod_amocrm.xml").unwrap(), OFFICIAL_XML);
    assert_eq!(kept("amocrm").unwrap(), OFFICIAL_BIN);
    assert_eq!(kept("amocrm.conf").unwrap(), OFFICIAL_CONF);
    assert_eq!(kept("presets.default").unwrap(), "official presets\n");
    assert_eq!(
        kept("presets.custom").unwrap(),
        "the admin's official presets\n"
    );
    assert_eq!(mode(&m.path("etc/amocrm/replaced-official")), 0o700);

    // This module in their place, with its sample settings.
    assert_eq!(
        std::fs::read(m.path("etc/xml/billmgr_mod_amocrm.xml")).unwrap(),
        repo_file("xml/billmgr_mod_amocrm.xml")
    );
    assert_eq!(
        std::fs::read(m.path("addon/amocrm")).unwrap(),
        std::fs::read(AMOCRM).unwrap()
    );
    assert_eq!(
        std::fs::read(m.path("etc/amocrm/amocrm.conf")).unwrap(),
        repo_file("etc/amocrm.conf")
    );
    assert!(!m.path("etc/amocrm/presets.custom").exists());
    // The tokens, the log and the links stay; the link table gains this module's columns.
    assert_eq!(
        std::fs::read_to_string(m.path("etc/amocrm/access_token")).unwrap(),
        "official-access"
    );
    assert_eq!(
        std::fs::read_to_string(m.path("etc/amocrm/refresh_token")).unwrap(),
        "official-refresh"
    );
    assert_eq!(
        std::fs::read_to_string(m.path("var/amocrm_task.log")).unwrap(),
        OFFICIAL_LOG
    );
    assert_eq!(m.official_link(), (3, 777, 0, String::new()));

    // From now on it is this module's own install: upgraded without --replace.
    let before = std::fs::read_dir(m.path("etc/amocrm/replaced-official"))
        .unwrap()
        .count();
    m.install();
    assert_eq!(
        std::fs::read_dir(m.path("etc/amocrm/replaced-official"))
            .unwrap()
            .count(),
        before
    );
}

#[test]
fn an_earlier_install_of_this_module_is_upgraded_without_replace() {
    let m = Machine::new();
    m.install();
    // An earlier release's description: no marker line, the project named in its first comment.
    m.write(
        "etc/xml/billmgr_mod_amocrm.xml",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!--\n  billmgr-amocrm: the module's \
         description for BILLmanager (installed as\n  etc/xml/billmgr_mod_amocrm.xml).\n-->\n\
         <mgrdata>\n  <handler name=\"amocrm\" type=\"xml\"/>\n</mgrdata>\n",
    );
    m.write(
        "etc/amocrm/presets.custom",
        "value item.ip = itemparam.ip text\n",
    );

    m.install();
    assert_eq!(
        std::fs::read(m.path("etc/xml/billmgr_mod_amocrm.xml")).unwrap(),
        repo_file("xml/billmgr_mod_amocrm.xml")
    );
    assert!(m.path("etc/amocrm/presets.custom").exists());
    assert!(!m.path("etc/amocrm/replaced-official").exists());
    // --replace over this module's own install is a plain upgrade too.
    m.script("install.sh", &["--binary", AMOCRM, "--replace"]);
    assert!(m.path("etc/amocrm/presets.custom").exists());
    assert!(!m.path("etc/amocrm/replaced-official").exists());
}

#[test]
fn install_refuses_while_the_official_package_is_installed() {
    let m = Machine::new();
    let stubs = official_package_stub();
    let out = m.try_script(
        "install.sh",
        &["--binary", AMOCRM, "--replace"],
        Some(stubs.path()),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("installed as the package billmanager-plugin-amocrm")
            && stderr.contains("Remove the")
            && stderr.contains("Nothing was changed"),
        "{stderr}"
    );
    assert!(!m.path("addon").exists(), "nothing was installed");
}

#[test]
fn uninstall_leaves_the_official_modules_files_alone() {
    let m = Machine::new();
    m.plant_official_module();
    let (_, stderr) = text(&m.script("uninstall.sh", &[]));
    assert!(stderr.contains("is not this module's"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(m.path("etc/xml/billmgr_mod_amocrm.xml")).unwrap(),
        OFFICIAL_XML
    );
    assert_eq!(
        std::fs::read_to_string(m.path("addon/amocrm")).unwrap(),
        OFFICIAL_BIN
    );
    assert!(m.path("etc/amocrm/presets.default").exists());

    // --purge would take the other module's settings and links: refused.
    let before = m.tree();
    let out = m.try_script("uninstall.sh", &["--purge", "--binary", AMOCRM], None);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Nothing was changed"), "{stderr}");
    assert!(
        m.tree() == before,
        "nothing changed, the database file with the links neither"
    );
}

/// The newest glibc symbol version a binary needs, from `objdump -T` (binutils), as
/// numbers: [2, 17] for GLIBC_2.17; empty for a static binary.
fn glibc_needed(binary: &Path) -> Vec<u32> {
    let out = Command::new("objdump")
        .arg("-T")
        .arg(binary)
        .output()
        .expect("objdump (binutils) runs: install binutils");
    assert!(out.status.success(), "objdump -T {}", binary.display());
    let dump = String::from_utf8_lossy(&out.stdout);
    dump.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .map(|v| v.split('.').map(|n| n.parse().unwrap_or(0)).collect())
        .max()
        .unwrap_or_default()
}

/// The oldest glibc of the systems BILLmanager 6 runs on is newer than this.
const GLIBC_FLOOR: [u32; 2] = [2, 17];

fn assert_portable(binary: &Path) {
    let needed = glibc_needed(binary);
    assert!(
        needed.as_slice() <= GLIBC_FLOOR.as_slice(),
        "{} needs glibc {needed:?}, more than 2.17",
        binary.display()
    );
}

#[test]
#[ignore = "builds the release binary and the packages (minutes): run with --ignored"]
fn install_sh_installs_the_release_binary_built_for_glibc_2_17() {
    // Built first (up to date, with the time a build takes): install.sh then finds it.
    let mut build = Command::new("bash");
    build
        .arg(Path::new(REPO).join("scripts/build-release.sh"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_with_timeout(build, b"", Duration::from_secs(60 * 60));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "build-release.sh failed:\n{stderr}");
    assert_eq!(
        stdout.trim(),
        format!("{REPO}/target/x86_64-unknown-linux-gnu/release/amocrm")
    );

    let m = Machine::new();
    // No panel but its files: the tables go to the default SQLite file.
    std::fs::remove_file(m.root().join("sbin/mgrctl")).unwrap();
    let (stdout, _) = text(&m.script("install.sh", &[]));
    // The installed binary ran: it created the tables.
    assert!(stdout.contains("tables ready in sqlite:"), "{stdout}");
    assert_portable(&m.path("addon/amocrm"));
}

/// Regular files of a package listing or a tree: path under `/` → mode.
type FileModes = BTreeMap<String, u32>;

#[test]
#[ignore = "builds the release binary and the packages (minutes): run with --ignored"]
fn the_deb_installs_the_tree_install_sh_makes() {
    let mut build = Command::new("bash");
    build
        .arg(Path::new(REPO).join("scripts/package.sh"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_with_timeout(build, b"", Duration::from_secs(60 * 60));
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "package.sh failed:\n{stdout}\n{stderr}"
    );
    let package = |ext: &str| -> PathBuf {
        let path = stdout
            .lines()
            .rev()
            .find(|l| l.ends_with(ext))
            .unwrap_or_else(|| panic!("package.sh printed no {ext}:\n{stdout}"));
        PathBuf::from(path)
    };
    let deb = package(".deb");
    let rpm = package(".rpm");

    // What install.sh makes, as it would be under /usr/local/mgr5 and /etc/cron.d.
    let m = Machine::new();
    m.install();
    let mut installed = FileModes::new();
    for (path, (mode, content)) in m.tree() {
        if content.is_none() || path.starts_with("mgr5/sbin/") || path.starts_with("mgr5/var/") {
            continue; // directories; the stand-in mgrctl; what the module makes at run time
        }
        let mapped = match path.strip_prefix("mgr5/") {
            Some(rel) => format!("usr/local/mgr5/{rel}"),
            None => format!("etc/{path}"),
        };
        installed.insert(mapped, mode);
    }

    // `dpkg-deb -c`: "-rw-r--r-- 0/0 397 2026-11-21 00:00 ./etc/cron.d/billmgr-amocrm".
    let list = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    assert!(list.status.success(), "dpkg-deb -c failed");
    let mut packaged = FileModes::new();
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (perms, path) = (fields[0], fields[fields.len() - 1].trim_start_matches("./"));
        if !perms.starts_with('-') {
            continue;
        }
        if path.starts_with("usr/local/mgr5/") || path.starts_with("etc/cron.d/") {
            packaged.insert(path.to_string(), perms_to_mode(perms));
        }
    }
    assert_eq!(
        packaged, installed,
        "the .deb's files and modes = install.sh's tree"
    );

    // The same contents, but for the binary (a release build against the test's) and the
    // cron entry's root.
    let x = tempfile::tempdir().unwrap();
    let st = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(x.path())
        .status()
        .unwrap();
    assert!(st.success());
    for rel in [
        "etc/amocrm/amocrm.conf",
        "etc/amocrm/presets.default",
        "etc/xml/billmgr_mod_amocrm.xml",
    ] {
        assert_eq!(
            std::fs::read(x.path().join("usr/local/mgr5").join(rel)).unwrap(),
            std::fs::read(m.path(rel)).unwrap(),
            "{rel}"
        );
    }
    let ours = std::fs::read_to_string(m.cron_dir().join("billmgr-amocrm"))
        .unwrap()
        .replace(&m.root().display().to_string(), "/usr/local/mgr5");
    assert_eq!(
        std::fs::read_to_string(x.path().join("etc/cron.d/billmgr-amocrm")).unwrap(),
        ours
    );
    let ctrl = tempfile::tempdir().unwrap();
    let ctrl_dir = ctrl.path().join("DEBIAN");
    let st = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(&ctrl_dir)
        .status()
        .unwrap();
    assert!(st.success());
    let conffiles = std::fs::read_to_string(ctrl_dir.join("conffiles")).unwrap();
    assert!(
        conffiles
            .lines()
            .any(|l| l == "/usr/local/mgr5/etc/amocrm/amocrm.conf"),
        "amocrm.conf is a conffile: {conffiles}"
    );
    for script in ["preinst", "postinst", "postrm"] {
        assert!(ctrl_dir.join(script).exists(), "{script} is in the package");
    }
    assert_portable(&x.path().join("usr/local/mgr5/addon/amocrm"));
    let control = std::fs::read_to_string(ctrl_dir.join("control")).unwrap();
    assert_libc_depends_at_most_the_floor(&control);
    preinst_guards_the_official_module(&ctrl_dir.join("preinst"));

    // The .rpm holds the same files, when rpm is here to read it.
    match Command::new("rpm")
        .args(["-qlp", "--dump"])
        .arg(&rpm)
        .output()
    {
        Ok(out) if out.status.success() => {
            // --dump: "path size mtime digest mode owner group isconfig isdoc rdev symlink".
            let mut rpm_files = FileModes::new();
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                let mode = u32::from_str_radix(f[4], 8).expect("rpm mode");
                if mode & 0o170000 == 0o100000 {
                    rpm_files.insert(f[0].trim_start_matches('/').to_string(), mode & 0o7777);
                }
            }
            assert_eq!(
                rpm_files, installed,
                "the .rpm's files and modes = install.sh's tree"
            );
            rpm_pre_is_the_debs_preinst(&rpm, &ctrl_dir.join("preinst"));
            rpm_requires_glibc_at_most_the_floor(&rpm);
        }
        _ => eprintln!("rpm is not installed: the .rpm's file list was not checked"),
    }
}

/// The .deb's `Depends` asks for no libc6 newer than 2.17 (dpkg-shlibdeps reads the binary).
fn assert_libc_depends_at_most_the_floor(control: &str) {
    let depends = control
        .lines()
        .find_map(|l| l.strip_prefix("Depends:"))
        .unwrap_or("");
    for dep in depends.split(',').map(str::trim) {
        if let Some(version) = dep
            .strip_prefix("libc6 (>= ")
            .and_then(|v| v.strip_suffix(')'))
        {
            let v: Vec<u32> = version
                .split(|c: char| !c.is_ascii_digit())
                .take(2)
                .map(|n| n.parse().unwrap_or(0))
                .collect();
            assert!(v.as_slice() <= GLIBC_FLOOR.as_slice(), "Depends: {depends}");
        }
    }
}

/// Runs a maintainer script of a package against a scratch tree: its /usr/local/mgr5 is
/// the machine's root; `replace` sets AMOCRM_REPLACE=1; `stubs` come first in PATH.
fn run_preinst(
    script: &Path,
    m: &Machine,
    arg: &str,
    replace: bool,
    stubs: Option<&Path>,
) -> Output {
    let text = std::fs::read_to_string(script)
        .unwrap()
        .replace("/usr/local/mgr5", &m.root().display().to_string());
    let copy = m.dir.path().join("preinst");
    std::fs::write(&copy, text).unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let path = match stubs {
        Some(dir) => format!("{}:{path}", dir.display()),
        None => path,
    };
    let mut cmd = Command::new("sh");
    cmd.arg(&copy)
        .arg(arg)
        .env_clear()
        .env("PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if replace {
        cmd.env("AMOCRM_REPLACE", "1");
    }
    run_with_timeout(cmd, b"", Duration::from_secs(60))
}

/// The .deb's preinst refuses the official module's place without AMOCRM_REPLACE=1, moves
/// its files aside with it, and lets an install of this module be upgraded.
fn preinst_guards_the_official_module(preinst: &Path) {
    let m = Machine::new();
    m.plant_official_module();
    let before = m.tree();
    let out = run_preinst(preinst, &m, "install", false, None);
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "refused:\n{stderr}");
    assert!(
        stderr.contains("is not this module's") && stderr.contains("AMOCRM_REPLACE=1 dpkg -i"),
        "{stderr}"
    );
    assert!(m.tree() == before, "nothing changed");

    // While ISPsystem's package is installed, not even with AMOCRM_REPLACE=1.
    let stubs = official_package_stub();
    let out = run_preinst(preinst, &m, "install", true, Some(stubs.path()));
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "refused:\n{stderr}");
    assert!(
        stderr.contains("installed as the package billmanager-plugin-amocrm"),
        "{stderr}"
    );
    assert!(m.tree() == before, "nothing changed");

    let out = run_preinst(preinst, &m, "install", true, None);
    assert!(out.status.success(), "{}", text(&out).1);
    for name in [
        "billmgr_mod_amocrm.xml",
        "amocrm",
        "amocrm.conf",
        "presets.custom",
    ] {
        assert!(
            m.path("etc/amocrm/replaced-official").join(name).exists(),
            "{name} moved aside"
        );
    }
    assert!(
        m.path("etc/amocrm/access_token").exists(),
        "the tokens stay"
    );

    let ours = Machine::new();
    ours.install();
    let before = ours.tree();
    for arg in ["install", "upgrade"] {
        let out = run_preinst(preinst, &ours, arg, false, None);
        assert!(out.status.success(), "{arg}: {}", text(&out).1);
    }
    assert!(
        ours.tree() == before,
        "this module's own tree is left as it is"
    );
}

/// The .rpm's requirements, which rpm reads from its binary's symbol versions
/// (`libc.so.6(GLIBC_2.17)(64bit)`), ask for no glibc newer than 2.17.
fn rpm_requires_glibc_at_most_the_floor(rpm: &Path) {
    let out = Command::new("rpm")
        .args(["-qp", "--requires"])
        .arg(rpm)
        .output()
        .expect("rpm --requires");
    let requires = String::from_utf8_lossy(&out.stdout);
    let newest = requires
        .lines()
        .filter_map(|l| l.split("(GLIBC_").nth(1))
        .filter_map(|v| v.split(')').next())
        .map(|v| {
            v.split('.')
                .map(|n| n.parse().unwrap_or(0))
                .collect::<Vec<u32>>()
        })
        .max()
        .expect("the .rpm requires glibc symbol versions");
    assert!(
        newest.as_slice() <= GLIBC_FLOOR.as_slice(),
        "the .rpm requires glibc {newest:?}:\n{requires}"
    );
}

/// The .rpm's %pre is the .deb's preinst: the same guard.
fn rpm_pre_is_the_debs_preinst(rpm: &Path, preinst: &Path) {
    let out = Command::new("rpm")
        .args(["-qp", "--scripts"])
        .arg(rpm)
        .output()
        .expect("rpm --scripts");
    let scripts = String::from_utf8_lossy(&out.stdout);
    let preinst = std::fs::read_to_string(preinst).unwrap();
    assert!(
        scripts.contains(preinst.trim_end()),
        "the .rpm's scriptlets hold the preinst:\n{scripts}"
    );
}

/// `-rwxr-x---` → 0o750.
fn perms_to_mode(perms: &str) -> u32 {
    perms[1..10]
        .chars()
        .fold(0, |m, c| (m << 1) | u32::from(c != '-'))
}
