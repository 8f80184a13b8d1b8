//! What the stages' tests run against: the sample panel in a SQLite file and the sandbox
//! amoCRM on 127.0.0.1, both real, with the sample's rules.

use std::os::unix::fs::PermissionsExt;

use super::runner::Worker;
use crate::config::Config;
use crate::db::PanelDb;
use crate::paths::Paths;
use crate::sandbox::{Options, Server, serve};
use crate::secret::Secret;

const CODE: &str = "stand-code-0001";
const SECRET: &str = "stand-secret-0001";

pub struct Stand {
    _dir: tempfile::TempDir,
    pub paths: Paths,
    pub cfg: Config,
    pub amo: Server,
}

/// The sample `amocrm.conf`'s rules: everything from `[conditions]` on.
fn sample_rules() -> &'static str {
    let sample = include_str!("../../etc/amocrm.conf");
    sample
        .find("\n[conditions]")
        .map_or("", |i| &sample[i + 1..])
}

impl Stand {
    /// `sync`: the `[sync]` lines; `rules`: turns the sample's rules into the test's.
    pub fn new(sync: &str, rules: impl Fn(&str) -> String) -> Stand {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::new(dir.path());
        let amo = serve(Options {
            client_id: "stand".into(),
            client_secret: Secret::new(SECRET),
            code: Some(Secret::new(CODE)),
            rate: 0,
            ..Options::default()
        })
        .expect("sandbox");
        let conf = format!(
            "[auth]\nurl = {}\nclient_id = stand\nclient_secret = {SECRET}\n\
             redirect_uri = https://billing.example.com/billmgr\ncode = {CODE}\n\n\
             [database]\ndriver = sqlite\npath = var/panel.db\n\n[sync]\n{sync}\n\n{}",
            amo.url(),
            rules(sample_rules())
        );
        let etc = paths.conf().parent().expect("etc/amocrm").to_path_buf();
        std::fs::create_dir_all(&etc).expect("mkdir");
        std::fs::create_dir_all(paths.var_dir()).expect("mkdir");
        std::fs::write(paths.conf(), conf).expect("conf");
        std::fs::set_permissions(paths.conf(), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        std::fs::write(
            etc.join("presets.default"),
            include_str!("../../etc/presets.default"),
        )
        .expect("presets");
        let cfg = crate::config::Sources::read(&paths)
            .config()
            .expect("configuration");
        let target = crate::db::target(&cfg.database, &paths).expect("target");
        crate::db::sample::create(&target, &Default::default()).expect("sample panel");
        Stand {
            _dir: dir,
            paths,
            cfg,
            amo,
        }
    }

    /// With the sample's rules as they are.
    pub fn sample(sync: &str) -> Stand {
        Stand::new(sync, str::to_string)
    }

    pub fn db(&self) -> Box<dyn PanelDb> {
        crate::db::open_panel(&self.cfg.database, &self.paths).expect("panel database")
    }

    pub fn worker(&self) -> Worker<'_> {
        Worker::new(&self.paths, &self.cfg, self.db(), false).unwrap_or_else(|_| panic!("worker"))
    }

    fn get(&self, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.amo.url());
        let body = ureq::get(&url)
            .call()
            .expect("sandbox answers")
            .into_body()
            .read_to_string()
            .expect("body");
        serde_json::from_str(&body).expect("JSON")
    }

    fn post(&self, path: &str, body: serde_json::Value) {
        let url = format!("{}{path}", self.amo.url());
        ureq::post(&url)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    }

    /// Faults on demand (`POST /_sandbox/faults`).
    pub fn faults(&self, faults: serde_json::Value) {
        self.post("/_sandbox/faults", faults);
    }

    /// A manager deletes entities in amoCRM (`POST /_sandbox/delete`).
    pub fn delete(&self, entity: &str, ids: &[i64]) {
        let body = serde_json::json!({"entity": entity, "ids": ids});
        self.post("/_sandbox/delete", body);
    }

    /// A manager merges `from` into `into` in amoCRM (`POST /_sandbox/merge`).
    pub fn merge(&self, entity: &str, into: i64, from: &[i64]) {
        let body = serde_json::json!({"entity": entity, "into": into, "from": from});
        self.post("/_sandbox/merge", body);
    }

    /// Changes the sample panel as the panel would before its event.
    pub fn sql(&self, statement: &str) {
        let path = self.paths.resolve("var/panel.db");
        let conn = rusqlite::Connection::open(path).expect("panel database");
        conn.execute_batch(statement).expect("statement");
    }

    /// The amoCRM entity a panel entity is linked to.
    pub fn linked(&self, kind: crate::model::EntityKind, id: i64) -> i64 {
        let link = self.db().link(kind, id).expect("link table");
        link.unwrap_or_else(|| panic!("{kind} {id} is not linked"))
            .amocrm_id
    }

    /// One entity amoCRM holds, with its links.
    pub fn entity(&self, entity: &str, id: i64) -> serde_json::Value {
        let held = self.held(entity).into_iter().find(|e| e["id"] == id);
        held.unwrap_or_else(|| panic!("amoCRM holds no {entity} {id}"))
    }

    /// The API calls amoCRM got so far: `POST /api/v4/contacts`, …
    pub fn calls(&self) -> Vec<String> {
        let log = self.get("/_sandbox/requests");
        (log.as_array().into_iter().flatten())
            .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/api/")))
            .map(|r| {
                format!(
                    "{} {}",
                    r["method"].as_str().unwrap_or(""),
                    r["path"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// How many calls were made of this kind (`POST /api/v4/leads`).
    pub fn count(&self, call: &str) -> usize {
        self.calls().iter().filter(|c| *c == call).count()
    }

    /// The entities amoCRM holds of one kind (`contacts`, `companies`, `leads`).
    pub fn held(&self, entity: &str) -> Vec<serde_json::Value> {
        let state = self.get("/_sandbox/state");
        state[entity].as_array().cloned().unwrap_or_default()
    }
}
