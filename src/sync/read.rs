//! The read stage: a batch's entities and their links from the panel's database, one
//! query per panel table and one for the links, whatever the size of the batch.

use super::target::Target;
use crate::db::{DbResult, Link, PanelDb};
use crate::model::{EntityKind, Record};

/// A target with what the panel holds for it (`None`: gone) and its link, if any.
#[derive(Debug, Clone)]
pub struct Read {
    pub target: Target,
    pub record: Option<Record>,
    pub link: Option<Link>,
}

pub fn read(db: &mut dyn PanelDb, kind: EntityKind, targets: Vec<Target>) -> DbResult<Vec<Read>> {
    let ids: Vec<i64> = targets.iter().map(|t| t.id).collect();
    let mut records = db.read_many(kind, &ids)?;
    let mut links = db.links_of(kind, &ids)?;
    Ok(targets
        .into_iter()
        .map(|target| Read {
            record: records.remove(&target.id),
            link: links.remove(&target.id),
            target,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sample::{self, SampleOptions};

    #[test]
    fn each_target_gets_its_own_record_and_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = crate::db::Target::Sqlite(dir.path().join("panel.db"));
        sample::create(&target, &SampleOptions::default()).unwrap();
        let mut db = crate::db::open(&target).unwrap();
        db.ensure_schema().unwrap();
        db.save_link(EntityKind::Item, 1002, 40_000_002, "fp", 1)
            .unwrap();
        let targets = [1002, 9999, 1001]
            .map(|id| Target::dependency(EntityKind::Item, id))
            .to_vec();
        let reads = read(db.as_mut(), EntityKind::Item, targets).unwrap();
        let ids: Vec<i64> = reads.iter().map(|r| r.target.id).collect();
        assert_eq!(ids, [1002, 9999, 1001], "in the targets' order");
        assert_eq!(
            reads[0].link.as_ref().map(|l| l.amocrm_id),
            Some(40_000_002)
        );
        assert!(reads[1].record.is_none(), "not in the panel");
        assert!(reads[2].link.is_none());
        for r in [&reads[0], &reads[2]] {
            let rec = r.record.as_ref().expect("read");
            assert_eq!(rec.int("item.id"), Some(r.target.id));
            // What every service is read with: its tariff and its client's first user.
            assert!(rec.get("pricelist.name").is_some() && rec.get("user.email").is_some());
        }
    }
}
