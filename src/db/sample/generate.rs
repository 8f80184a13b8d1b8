//! A deterministic generated panel of any size on top of the sample: clients with one
//! user each, legal-entity payers and services, streamed in multi-row INSERTs and
//! transactions of a few thousand rows, so 100,000 rows take seconds and little memory.

use crate::db::DbResult;
use crate::db::sql::{Driver, SqlResult, Value, placeholders};

/// How big a generated panel to add to the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    /// Clients (`account`), each with one `user`; every third is a foreign client of the
    /// second provider (project 2, no country, English).
    pub clients: usize,
    /// Legal-entity payers (`profile`, profiletype 2), spread over the clients.
    pub legal_payers: usize,
    /// Services (`item`), spread over the clients, the sample's tariffs and every status.
    pub services: usize,
}

/// Generated ids start above the sample's (accounts 2..7, items 1001..1010).
const ACCOUNT_BASE: i64 = 1000;
const PROFILE_BASE: i64 = 1000;
const ITEM_BASE: i64 = 10000;
const ITEMPARAM_BASE: i64 = 1000;
/// Rows a transaction holds before it is committed.
const ROWS_PER_TX: usize = 5000;
/// Statement parameters at most (SQLite allows 32766, MySQL 65535).
const PARAMS_PER_STMT: usize = 4000;

/// The sample's clients, used when no clients are generated.
const SAMPLE_ACCOUNTS: [i64; 6] = [2, 3, 4, 5, 6, 7];
/// The sample's tariffs: id, itemtype intname, price, currency.
const PRICELISTS: [(i64, &str, &str, i64); 5] = [
    (10, "vds", "590.00", 126),
    (11, "vds", "1190.00", 126),
    (12, "vhost", "249.00", 126),
    (13, "domain", "199.00", 126),
    (14, "vds", "9.99", 153),
];

const LAST_NAMES: [&str; 12] = [
    "Иванов",
    "Петров",
    "Сидоров",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
];
const MALE_NAMES: [&str; 8] = [
    "Иван",
    "Пётр",
    "Алексей",
    "Дмитрий",
    "Сергей",
    "Андрей",
    "Михаил",
    "Николай",
];
const FEMALE_NAMES: [&str; 6] = ["Мария", "Анна", "Елена", "Ольга", "Наталья", "Татьяна"];
const EN_FIRST: [&str; 6] = ["John", "Emma", "Liam", "Olivia", "Noah", "Sophie"];
const EN_LAST: [&str; 6] = ["Smith", "Brown", "Walsh", "Murphy", "Taylor", "O'Connor"];
const MAIL_DOMAINS: [&str; 4] = ["example.ru", "example.com", "mail.example", "example.org"];

/// Accumulates rows of one table and sends them as multi-row INSERTs, committing every
/// [`ROWS_PER_TX`] rows.
struct Inserter<'a> {
    d: &'a mut dyn Driver,
    table: &'static str,
    columns: &'static [&'static str],
    rows_per_stmt: usize,
    pending: Vec<Value>,
    in_tx: usize,
    written: u64,
}

impl<'a> Inserter<'a> {
    fn new(d: &'a mut dyn Driver, table: &'static str, columns: &'static [&'static str]) -> Self {
        let rows_per_stmt = (PARAMS_PER_STMT / columns.len()).max(1);
        Inserter {
            d,
            table,
            columns,
            rows_per_stmt,
            pending: Vec::new(),
            in_tx: 0,
            written: 0,
        }
    }

    fn push(&mut self, row: Vec<Value>) -> SqlResult<()> {
        debug_assert_eq!(row.len(), self.columns.len());
        self.pending.extend(row);
        if self.pending.len() / self.columns.len() >= self.rows_per_stmt {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> SqlResult<()> {
        let rows = self.pending.len() / self.columns.len();
        if rows == 0 {
            return Ok(());
        }
        if self.in_tx == 0 {
            self.d.begin_write()?;
        }
        let one = format!("({})", placeholders(self.columns.len()));
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.table,
            self.columns.join(", "),
            vec![one; rows].join(", ")
        );
        self.d.execute(&sql, &self.pending)?;
        self.pending.clear();
        self.written += rows as u64;
        self.in_tx += rows;
        if self.in_tx >= ROWS_PER_TX {
            self.d.commit()?;
            self.in_tx = 0;
        }
        Ok(())
    }

    fn finish(mut self) -> SqlResult<u64> {
        self.flush()?;
        if self.in_tx > 0 {
            self.d.commit()?;
        }
        Ok(self.written)
    }
}

pub(super) fn run(d: &mut dyn Driver, size: &Size) -> DbResult<()> {
    let result = (|| -> SqlResult<()> {
        accounts_and_users(d, size.clients)?;
        let pool = ClientPool {
            generated: size.clients,
        };
        payers(d, size.legal_payers, &pool)?;
        services(d, size.services, &pool)?;
        Ok(())
    })();
    if result.is_err() {
        d.rollback();
    }
    Ok(result?)
}

/// Which client the n-th payer or service belongs to: the generated clients in turn, or
/// the sample's when none are generated.
struct ClientPool {
    generated: usize,
}

impl ClientPool {
    fn account(&self, n: usize) -> i64 {
        if self.generated > 0 {
            ACCOUNT_BASE + 1 + (n % self.generated) as i64
        } else {
            SAMPLE_ACCOUNTS[n % SAMPLE_ACCOUNTS.len()]
        }
    }
}

/// A Russian mobile number, unique per `seed` below 10^9, in one of three usual spellings.
fn phone(seed: i64, style: usize) -> String {
    // 7919 is prime to 10^9, so the map is one-to-one.
    let n = (seed * 7919).rem_euclid(1_000_000_000);
    let d = format!("9{n:09}");
    let (a, b, c, e) = (&d[0..3], &d[3..6], &d[6..8], &d[8..10]);
    match style % 3 {
        0 => format!("+7 ({a}) {b}-{c}-{e}"),
        1 => format!("8{d}"),
        _ => format!("8-{a}-{b}-{c}-{e}"),
    }
}

/// A full name for the n-th person; every third client is a foreign one (of the second
/// provider), so a sync condition on the provider keeps out exactly a third of the clients
/// and, when the clients are a multiple of three, of their payers and services.
fn person(n: usize) -> (String, bool) {
    if n.is_multiple_of(3) {
        let name = format!(
            "{} {}",
            EN_FIRST[n / 3 % EN_FIRST.len()],
            EN_LAST[n / 7 % EN_LAST.len()]
        );
        return (name, true);
    }
    // The Russian clients counted from 1 (n = 1, 2, 4, 5, 7 … → 1, 2, 3, 4, 5 …).
    let r = n - n / 3;
    let last = LAST_NAMES[r % LAST_NAMES.len()];
    if r.is_multiple_of(3) {
        (
            format!("{last}а {}", FEMALE_NAMES[r / 3 % FEMALE_NAMES.len()]),
            false,
        )
    } else {
        (
            format!("{last} {}", MALE_NAMES[r / 2 % MALE_NAMES.len()]),
            false,
        )
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (civil calendar).
fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// 2020-01-01 as days since the epoch.
const DAY_2020: i64 = 18_262;
/// 2023-01-01 as days since the epoch.
const DAY_2023: i64 = 19_358;

/// A checksum-valid 10-digit INN of a legal entity.
fn inn(n: usize) -> String {
    let body = format!("77{:07}", (n as u64 * 104_729) % 10_000_000);
    let weights = [2, 4, 10, 3, 5, 9, 4, 6, 8];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", sum % 11 % 10)
}

fn accounts_and_users(d: &mut dyn Driver, clients: usize) -> SqlResult<()> {
    let mut ins = Inserter::new(
        d,
        "account",
        &[
            "id",
            "name",
            "parent",
            "level",
            "project",
            "country",
            "registration_date",
        ],
    );
    for n in 0..clients {
        let id = ACCOUNT_BASE + 1 + n as i64;
        let (name, foreign) = person(n);
        let secs = (n as i64 * 7_919_017).rem_euclid(5 * 365 * 86_400);
        let registered = format!(
            "{} {:02}:{:02}:{:02}",
            date(DAY_2020 + secs / 86_400),
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60
        );
        ins.push(vec![
            Value::Int(id),
            Value::from(name),
            Value::Int(1),
            Value::Int(16),
            Value::Int(if foreign { 2 } else { 1 }),
            if foreign {
                Value::Null
            } else {
                Value::Int(182)
            },
            Value::from(registered),
        ])?;
    }
    ins.finish()?;
    let mut ins = Inserter::new(
        d,
        "user",
        &[
            "id", "account", "name", "realname", "email", "phone", "language", "level", "enabled",
        ],
    );
    for n in 0..clients {
        let id = ACCOUNT_BASE + 1 + n as i64;
        let (name, foreign) = person(n);
        let email = format!("client{id}@{}", MAIL_DOMAINS[n % MAIL_DOMAINS.len()]);
        ins.push(vec![
            Value::Int(id),
            Value::Int(id),
            Value::from(email.clone()),
            Value::from(name),
            Value::from(email),
            Value::from(phone(id, n)),
            Value::from(if foreign { "en" } else { "ru" }),
            Value::Int(16),
            Value::from("on"),
        ])?;
    }
    ins.finish()?;
    Ok(())
}

fn payers(d: &mut dyn Driver, count: usize, pool: &ClientPool) -> SqlResult<()> {
    let mut ins = Inserter::new(
        d,
        "profile",
        &[
            "id",
            "account",
            "name",
            "profiletype",
            "person",
            "email",
            "phone",
            "vatnum",
            "kpp",
        ],
    );
    for n in 0..count {
        let id = PROFILE_BASE + 1 + n as i64;
        let form = ["ООО", "АО", "ПАО"][n % 3];
        let inn = inn(n);
        let kpp = format!("{}01001", &inn[..4]);
        ins.push(vec![
            Value::Int(id),
            Value::Int(pool.account(n)),
            Value::from(format!("{form} «Компания {id}»")),
            Value::Int(2),
            Value::from(person(n + 1).0),
            Value::from(format!("buh@company{id}.example")),
            Value::from(phone(500_000_000 + id, n + 1)),
            Value::from(inn),
            Value::from(kpp),
        ])?;
    }
    ins.finish()?;
    Ok(())
}

fn services(d: &mut dyn Driver, count: usize, pool: &ClientPool) -> SqlResult<()> {
    let mut ins = Inserter::new(
        d,
        "item",
        &[
            "id",
            "account",
            "pricelist",
            "parent",
            "name",
            "status",
            "period",
            "currency",
            "cost",
            "createdate",
            "opendate",
            "expiredate",
            "suspenddate",
            "autosuspend",
            "employeesuspend",
            "abusesuspend",
            "scheduledclose",
            "processingmodule",
            "remoteid",
        ],
    );
    for n in 0..count {
        let id = ITEM_BASE + 1 + n as i64;
        let (pricelist, itemtype, cost, currency) = PRICELISTS[n % PRICELISTS.len()];
        // Status changes every five services, so every tariff meets every status.
        let status = 1 + (n / PRICELISTS.len() % 5) as i64;
        let period: i64 = if itemtype == "domain" {
            12
        } else {
            [1, 3, 12][n % 3]
        };
        let created = DAY_2023 + (n as i64 * 37) % 900;
        let opened = matches!(status, 2..=4);
        let expires = created + period * 30;
        let suspended = matches!(status, 3 | 4);
        let reason = if status == 4 { 0 } else { n % 3 };
        let flag = |on: bool| Value::from(if on { "on" } else { "off" });
        let name = match itemtype {
            "vds" => format!("vps{id}.example.ru"),
            "vhost" => format!("site{id}.ru"),
            _ => format!("domain{id}.ru"),
        };
        let module = 1 + (n % PRICELISTS.len()) as i64;
        ins.push(vec![
            Value::Int(id),
            Value::Int(pool.account(n)),
            Value::Int(pricelist),
            Value::Null,
            Value::from(name),
            Value::Int(status),
            Value::Int(period),
            Value::Int(currency),
            Value::from(cost),
            Value::from(date(created)),
            if opened {
                Value::from(date(created))
            } else {
                Value::Null
            },
            if opened {
                Value::from(date(expires))
            } else {
                Value::Null
            },
            if suspended {
                Value::from(date(expires + 1))
            } else {
                Value::Null
            },
            flag(suspended && reason == 0),
            flag(suspended && reason == 1),
            flag(suspended && reason == 2),
            flag(n % 50 == 49),
            if status == 1 {
                Value::Null
            } else {
                Value::Int(module)
            },
            if pricelist == 14 {
                Value::from(format!("eu-vm-{id}"))
            } else {
                Value::Null
            },
        ])?;
    }
    ins.finish()?;
    let mut ins = Inserter::new(d, "itemparam", &["id", "item", "intname", "value"]);
    let mut next = ITEMPARAM_BASE;
    for n in 0..count {
        let id = ITEM_BASE + 1 + n as i64;
        let (_, itemtype, _, _) = PRICELISTS[n % PRICELISTS.len()];
        let (intname, value) = match itemtype {
            "vds" => (
                "ip",
                format!("10.{}.{}.{}", n / 65_536 % 256, n / 256 % 256, n % 256),
            ),
            "domain" => ("domain", format!("domain{id}.ru")),
            _ => continue,
        };
        next += 1;
        ins.push(vec![
            Value::Int(next),
            Value::Int(id),
            Value::from(intname),
            Value::from(value),
        ])?;
    }
    ins.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_follow_the_calendar() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(DAY_2020), "2020-01-01");
        assert_eq!(date(DAY_2023), "2023-01-01");
        assert_eq!(date(DAY_2020 + 59), "2020-02-29");
    }

    #[test]
    fn phones_are_unique_and_in_the_usual_spellings() {
        assert_eq!(phone(1001, 0).len(), "+7 (9xx) xxx-xx-xx".len());
        assert!(phone(1001, 0).starts_with("+7 (9"));
        assert!(phone(1001, 1).starts_with("89") && phone(1001, 1).len() == 11);
        assert!(phone(1001, 2).starts_with("8-9") && phone(1001, 2).len() == 15);
        let digits = |s: String| s.chars().filter(char::is_ascii_digit).collect::<String>();
        let mut seen = std::collections::HashSet::new();
        for id in 1000..6000 {
            assert!(seen.insert(digits(phone(id, 1))), "phone of {id} repeats");
        }
    }

    #[test]
    fn a_third_of_the_clients_are_foreign_and_the_rest_vary() {
        let people: Vec<(String, bool)> = (0..300).map(person).collect();
        assert_eq!(people.iter().filter(|p| p.1).count(), 100);
        let russian: Vec<&String> = people.iter().filter(|p| !p.1).map(|p| &p.0).collect();
        for last in LAST_NAMES {
            assert!(russian.iter().any(|n| n.starts_with(last)), "{last}");
        }
        assert!(
            FEMALE_NAMES
                .iter()
                .all(|f| russian.iter().any(|n| n.ends_with(f)))
        );
        assert!(
            MALE_NAMES
                .iter()
                .all(|m| russian.iter().any(|n| n.ends_with(m)))
        );
    }

    #[test]
    fn inns_carry_a_valid_check_digit() {
        // 7701234560 is a known-valid INN of the sample; the generator follows the same rule.
        for n in 0..50 {
            let inn = inn(n);
            assert_eq!(inn.len(), 10);
            let d: Vec<u32> = inn.bytes().map(|b| u32::from(b - b'0')).collect();
            let w = [2, 4, 10, 3, 5, 9, 4, 6, 8];
            let sum: u32 = d.iter().zip(w).map(|(a, b)| a * b).sum();
            assert_eq!(sum % 11 % 10, d[9]);
        }
    }
}
