//! A service (`item`) becomes a lead, made on its client's contact and first company, in
//! the pipeline and status the rules give; its price is the service's cost.

use super::kind::{Extras, Kind, Needs, first};
use crate::model::Record;
use crate::rules::{Rules, Stage};
use crate::sync::fields::Meta;

pub struct Lead;

impl Kind for Lead {
    fn reads(&self) -> &'static [&'static str] {
        // And `itemparam.domain` for a service without a name: read for those whatever
        // the rules read.
        &["item", "pricelist"]
    }

    fn name(&self, rec: &Record) -> Option<String> {
        let service = first(rec, &["item.name", "itemparam.domain"]);
        let tariff = first(rec, &["pricelist.name", "pricelist.name_ru"]);
        match (service, tariff) {
            (Some(s), Some(t)) => Some(format!("{s} — {t}")),
            (s, t) => s.or(t),
        }
    }

    fn extras(&self, rec: &Record, rules: &Rules, meta: &Meta) -> Extras {
        let mut warnings = Vec::new();
        let mut known = |s: Option<Stage>| {
            let s = s?;
            if meta.has_stage(s) {
                return Some(s);
            }
            warnings.push(format!(
                "amoCRM has no status {} in pipeline {}",
                s.status_id, s.pipeline_id
            ));
            None
        };
        let stage_new = known(rules.stage_for_new(rec));
        let stage_move = known(rules.stage_move(rec));
        Extras {
            price: rec
                .get("item.cost")
                .and_then(|c| c.trim().parse::<f64>().ok())
                .map(|c| c.round() as i64),
            stage_new,
            stage_move,
            state: rec.int("item.status"),
            warnings,
        }
    }

    fn needs(&self) -> Needs {
        Needs {
            contact: true,
            company: true,
        }
    }

    fn made_linked(&self) -> bool {
        true
    }

    fn told_apart_by(&self) -> &'static str {
        "contacts"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lead_is_named_by_service_and_tariff_and_priced_in_whole_units() {
        let mut r = Record::default();
        r.set("item.name", "vps");
        assert_eq!(Lead.name(&r).as_deref(), Some("vps"));
        r.set("pricelist.name", "VDS-Start");
        assert_eq!(Lead.name(&r).as_deref(), Some("vps — VDS-Start"));
        r.set("item.cost", "590.50");
        r.set("item.status", "2");
        let meta = Meta {
            offline: true,
            ..Meta::default()
        };
        let e = Lead.extras(&r, &Rules::default(), &meta);
        assert_eq!((e.price, e.state), (Some(591), Some(2)));
    }
}
