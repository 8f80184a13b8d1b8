//! What the last sweep found unchanged or kept out, by a digest of the rows each entity
//! is made from and of its link's fingerprint. A sweep where little changed still reads
//! every row, but builds, admits and plans only the entities whose digest moved. Kept in
//! `var/amocrm_sweep.digests`, in the order the sweep walks the panel (kind by kind, ids
//! ascending), read and written as streams: memory holds one entry whatever the size.
//!
//! A digest stands for a verdict only under the same basis: the rules, the update modes,
//! amoCRM's fields and pipelines, and the module's version. Any change to those, a
//! change to the entity's rows or a new fingerprint on its link (the worker sent it)
//! makes the sweep compare it again.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use super::fields::Meta;
use crate::config::Config;
use crate::db::Link;
use crate::model::EntityKind;
use crate::paths::Paths;

const MAGIC: &[u8; 8] = b"amoswd01";

/// Changes when what a verdict depends on changes in the code.
const FORMAT: u32 = 1;

/// What a digest stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    Unchanged = 1,
    /// Kept out by its own admission (its condition, never synced).
    Out = 2,
}

fn file(paths: &Paths) -> PathBuf {
    paths.var_dir().join("amocrm_sweep.digests")
}

fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// What every digest of a sweep is made under.
pub fn basis(cfg: &Config, meta: &Meta) -> u64 {
    basis_on(cfg, meta, crate::log::now().div_euclid(86_400))
}

/// [`basis`] on a day (days since 1970, UTC). A rule that reads the day (`within`) can
/// change its verdict with no row changed: the digests then hold for that day only.
fn basis_on(cfg: &Config, meta: &Meta, day: i64) -> u64 {
    let modes: Vec<_> = (EntityKind::ALL.iter())
        .map(|k| cfg.sync.mode_for(*k))
        .collect();
    let account =
        serde_json::to_string(&(&meta.account.fields, &meta.account.pipelines)).unwrap_or_default();
    let day = if cfg.rules.depend_on_the_day() {
        day
    } else {
        0
    };
    let text = format!(
        "{FORMAT}|{}|{:?}|{modes:?}|{}|{account}|{day}",
        env!("CARGO_PKG_VERSION"),
        cfg.rules,
        meta.offline
    );
    fnv(FNV_SEED, text.as_bytes())
}

fn kind_byte(kind: EntityKind) -> u8 {
    match kind {
        EntityKind::Account => 0,
        EntityKind::Profile => 1,
        EntityKind::Item => 2,
    }
}

/// One entry: kind, id, digest, verdict; 18 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    kind: u8,
    id: i64,
    digest: u64,
    verdict: u8,
}

impl Entry {
    fn bytes(&self) -> [u8; 18] {
        let mut b = [0u8; 18];
        b[0] = self.kind;
        b[1..9].copy_from_slice(&self.id.to_le_bytes());
        b[9..17].copy_from_slice(&self.digest.to_le_bytes());
        b[17] = self.verdict;
        b
    }

    fn read(r: &mut impl Read) -> Option<Entry> {
        let mut b = [0u8; 18];
        r.read_exact(&mut b).ok()?;
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            w
        };
        Some(Entry {
            kind: b[0],
            id: i64::from_le_bytes(word(1)),
            digest: u64::from_le_bytes(word(9)),
            verdict: b[17],
        })
    }
}

/// The last sweep's digests being read, and this sweep's being written.
pub struct Digests {
    basis: u64,
    old: Option<BufReader<File>>,
    next: Option<Entry>,
    new: Option<(BufWriter<File>, PathBuf)>,
}

impl Digests {
    /// The last sweep's digests, if made under this basis; `write`: this sweep's replace
    /// them when it ends ([`Digests::finish`]).
    pub fn open(paths: &Paths, basis: u64, write: bool) -> Digests {
        let mut d = Digests {
            basis,
            old: None,
            next: None,
            new: None,
        };
        if let Ok(f) = File::open(file(paths)) {
            let mut r = BufReader::new(f);
            let mut head = [0u8; 16];
            if r.read_exact(&mut head).is_ok()
                && head[..8] == *MAGIC
                && head[8..] == basis.to_le_bytes()
            {
                d.next = Entry::read(&mut r);
                d.old = Some(r);
            }
        }
        if write {
            d.new = d.create(paths);
        }
        d
    }

    fn create(&self, paths: &Paths) -> Option<(BufWriter<File>, PathBuf)> {
        let tmp = file(paths).with_extension(format!("digests.{}.tmp", std::process::id()));
        let made = File::create(&tmp).and_then(|f| {
            let mut w = BufWriter::new(f);
            w.write_all(MAGIC)?;
            w.write_all(&self.basis.to_le_bytes())?;
            Ok(w)
        });
        match made {
            Ok(w) => Some((w, tmp)),
            Err(e) => {
                log::warn!(
                    "sweep: cannot write {}: {e}; the next sweep compares everything",
                    tmp.display()
                );
                None
            }
        }
    }

    /// Where an entity's digest starts: the basis, the entity and its link's fingerprint.
    pub fn seed(&self, kind: EntityKind, id: i64, link: Option<&Link>) -> u64 {
        let mut h = fnv(FNV_SEED ^ self.basis, &[kind_byte(kind)]);
        h = fnv(h, &id.to_le_bytes());
        match link {
            Some(l) => fnv(fnv(h, &[1]), l.fingerprint.as_bytes()),
            None => fnv(h, &[0]),
        }
    }

    /// The last sweep's verdict, when the entity's digest is the same. Asked in the order
    /// the sweep walks the panel.
    pub fn lookup(&mut self, kind: EntityKind, id: i64, digest: u64) -> Option<Cached> {
        let key = (kind_byte(kind), id);
        while self.next.is_some_and(|e| (e.kind, e.id) < key) {
            self.next = self.old.as_mut().and_then(Entry::read);
        }
        let e = self
            .next
            .filter(|e| (e.kind, e.id) == key && e.digest == digest)?;
        match e.verdict {
            1 => Some(Cached::Unchanged),
            2 => Some(Cached::Out),
            _ => None,
        }
    }

    /// Keeps a verdict for the next sweep. Given in the order the sweep walks the panel.
    pub fn keep(&mut self, kind: EntityKind, id: i64, digest: u64, verdict: Cached) {
        let Some((w, tmp)) = self.new.as_mut() else {
            return;
        };
        let e = Entry {
            kind: kind_byte(kind),
            id,
            digest,
            verdict: verdict as u8,
        };
        if let Err(e) = w.write_all(&e.bytes()) {
            log::warn!(
                "sweep: cannot write {}: {e}; the next sweep compares everything",
                tmp.display()
            );
            let _ = std::fs::remove_file(&*tmp);
            self.new = None;
        }
    }

    /// The sweep went through: its digests replace the last one's.
    pub fn finish(mut self, paths: &Paths) {
        let Some((w, tmp)) = self.new.take() else {
            return;
        };
        let done = w
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, file(paths)));
        if let Err(e) = done {
            log::warn!("sweep: cannot keep its digests: {e}; the next sweep compares everything");
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

impl Drop for Digests {
    /// A sweep that stopped leaves the last one's digests as they were.
    fn drop(&mut self) {
        if let Some((_, tmp)) = self.new.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(fp: &str) -> Link {
        Link {
            id: 1,
            billmgr_id: 5,
            amocrm_id: 9,
            synced_at: 0,
            fingerprint: fp.into(),
        }
    }

    #[test]
    fn rules_that_read_the_day_make_a_basis_a_day() {
        let etc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc");
        let presets = std::fs::read_to_string(etc.join("presets.default")).expect("presets");
        let conf = std::fs::read_to_string(etc.join("amocrm.conf")).expect("sample");
        let load = |conf: &str| {
            crate::config::Sources::texts(conf, &presets, None)
                .config()
                .expect("loads")
        };
        let meta = Meta {
            account: Default::default(),
            offline: false,
        };
        let plain = load(&conf);
        assert!(!plain.rules.depend_on_the_day());
        assert_eq!(
            basis_on(&plain, &meta, 20_000),
            basis_on(&plain, &meta, 20_001)
        );
        let dated = load(&conf.replace(
            "[tags.lead]\n",
            "[tags.lead]\nsoon = item.expiredate within 7\n",
        ));
        assert!(dated.rules.depend_on_the_day());
        assert_ne!(
            basis_on(&dated, &meta, 20_000),
            basis_on(&dated, &meta, 20_001)
        );
        assert_eq!(
            basis_on(&dated, &meta, 20_000),
            basis_on(&dated, &meta, 20_000)
        );
    }

    #[test]
    fn verdicts_come_back_for_the_same_digest_under_the_same_basis() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        std::fs::create_dir_all(paths.var_dir()).unwrap();
        let mut d = Digests::open(&paths, 7, true);
        assert_eq!(
            d.lookup(EntityKind::Account, 2, 1),
            None,
            "nothing kept yet"
        );
        d.keep(EntityKind::Account, 2, 100, Cached::Unchanged);
        d.keep(EntityKind::Account, 3, 101, Cached::Out);
        d.keep(EntityKind::Item, 1001, 102, Cached::Unchanged);
        d.finish(&paths);

        let mut d = Digests::open(&paths, 7, false);
        assert_eq!(
            d.lookup(EntityKind::Account, 2, 100),
            Some(Cached::Unchanged)
        );
        assert_eq!(
            d.lookup(EntityKind::Account, 3, 999),
            None,
            "its rows changed"
        );
        assert_eq!(d.lookup(EntityKind::Profile, 3, 101), None, "another kind");
        assert_eq!(d.lookup(EntityKind::Item, 1000, 102), None);
        assert_eq!(
            d.lookup(EntityKind::Item, 1001, 102),
            Some(Cached::Unchanged)
        );
        assert_eq!(d.lookup(EntityKind::Item, 1002, 102), None, "past the end");
        let mut other = Digests::open(&paths, 8, false);
        assert_eq!(
            other.lookup(EntityKind::Account, 2, 100),
            None,
            "another basis"
        );
    }

    #[test]
    fn a_sweep_that_stops_leaves_the_last_digests() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        std::fs::create_dir_all(paths.var_dir()).unwrap();
        let mut d = Digests::open(&paths, 7, true);
        d.keep(EntityKind::Account, 2, 100, Cached::Unchanged);
        d.finish(&paths);
        let mut d = Digests::open(&paths, 7, true);
        d.keep(EntityKind::Account, 2, 555, Cached::Unchanged);
        drop(d);
        let mut d = Digests::open(&paths, 7, false);
        assert_eq!(
            d.lookup(EntityKind::Account, 2, 100),
            Some(Cached::Unchanged)
        );
        let names: Vec<_> = std::fs::read_dir(paths.var_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    }

    #[test]
    fn the_seed_follows_the_links_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let d = Digests::open(&Paths::new(dir.path()), 7, false);
        let a = d.seed(EntityKind::Item, 5, Some(&link("abc.2")));
        assert_eq!(a, d.seed(EntityKind::Item, 5, Some(&link("abc.2"))));
        assert_ne!(a, d.seed(EntityKind::Item, 5, Some(&link("abc.3"))));
        assert_ne!(a, d.seed(EntityKind::Item, 5, None));
        assert_ne!(a, d.seed(EntityKind::Profile, 5, Some(&link("abc.2"))));
    }
}
