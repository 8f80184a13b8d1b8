//! The plan step of managers' tasks: which tasks the `[tasks]` rules make for a service
//! now, under which key each is set once (`amocrm_posted`), with its text and due time.
//! Pure. A rule makes a task while its condition holds; the key names the rule, the
//! service and its expiry date, so a task is set once for each period the service is paid
//! for: a renewal moves the date and starts a new occurrence.

use crate::model::Record;
use crate::rules::Rules;

/// A task a rule makes for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTask {
    /// `task:<rule>:<service>:<expiry date>`.
    pub key: String,
    pub text: String,
    /// When it is due (Unix time).
    pub due: i64,
}

/// The tasks of the rules whose condition holds for this service, made on `today` (days
/// since 1970, UTC). A rule whose due date reads a date the service lacks makes none.
pub fn plan(item: i64, rec: &Record, rules: &Rules, today: i64) -> Vec<PlannedTask> {
    let expiry = rec.text("item.expiredate").unwrap_or("-");
    (rules.tasks.iter())
        .filter(|r| r.condition.eval(rec))
        .filter_map(|r| {
            Some(PlannedTask {
                key: format!("task:{}:{item}:{expiry}", r.name),
                text: r.text_for(rec),
                due: r.due_for(rec, today)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(tasks: &str) -> Rules {
        let presets = include_str!("../../etc/presets.default");
        let conf = format!(
            "[auth]\nurl = https://a.amocrm.ru\nclient_id = i\nclient_secret = s\n\
             redirect_uri = https://b.example/\n[tasks]\n{tasks}"
        );
        crate::config::Sources::texts(&conf, presets, None)
            .config()
            .unwrap_or_else(|p| panic!("{p}"))
            .rules
    }

    fn service(status: &str, expires: &str) -> Record {
        let mut r = Record::default();
        for (k, v) in [
            ("item.status", status),
            ("item.name", "vps1"),
            ("item.expiredate", expires),
        ] {
            r.set(k, v);
        }
        r
    }

    #[test]
    fn a_task_a_rule_that_holds_once_a_period() {
        let rules = rules(
            "renew = item.status = 2 -> item.expiredate-1 \"Продлить {item.name} до {item.expiredate}\"\n\
             suspended = item.status = 3 -> +2 \"{item.name} приостановлена\"\n",
        );
        let today = 20_000;
        let active = plan(1001, &service("2", "2025-07-14"), &rules, today);
        assert_eq!(
            active,
            vec![PlannedTask {
                key: "task:renew:1001:2025-07-14".into(),
                text: "Продлить vps1 до 2025-07-14".into(),
                due: 1_752_364_800,
            }]
        );
        // Renewed: the same rule makes a new occurrence.
        let renewed = plan(1001, &service("2", "2026-07-14"), &rules, today);
        assert_eq!(renewed[0].key, "task:renew:1001:2026-07-14");
        let suspended = plan(1001, &service("3", "2025-07-14"), &rules, today);
        assert_eq!(suspended.len(), 1);
        assert_eq!(suspended[0].due, (today + 2) * 86_400);
        assert!(plan(1001, &service("4", "2025-07-14"), &rules, today).is_empty());
        // No date to count from: no task.
        assert!(plan(1001, &service("2", ""), &rules, today).is_empty());
    }
}
