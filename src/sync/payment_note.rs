//! The plan step of a payment's note: which note a payment of the panel makes on its
//! client's contact, under which key it is posted once (`amocrm_posted`), and its text.
//! Pure: the record is `db::PanelDb::read_payments`'s.
//!
//! A credited payment (status 4) makes a payment note; a credited payment of a negative
//! amount, or one `payment2payment` names as a refund, is a partial refund (the panel
//! makes one as a payment of its own); a payment refunded in full (status 6) makes a
//! refund note. Other statuses make none: nothing was paid.

use crate::model::Record;

/// A note to post once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentNote {
    /// `payment:<id>:credited`, `payment:<id>:refund` or `payment:<id>:refunded`: a payment
    /// credited and then refunded in full makes two notes, each once.
    pub key: String,
    /// The client whose contact it goes on.
    pub client: i64,
    pub text: String,
}

/// What became of a payment, as far as a note goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Credited,
    /// A partial refund: a payment of its own, credited with a negative amount.
    Refund,
    /// The payment itself returned in full.
    Refunded,
}

impl Event {
    fn of(rec: &Record) -> Option<Event> {
        let negative = amount(rec).is_some_and(|a| a.starts_with('-'));
        let refund = negative || rec.text("payment2payment.payment_base").is_some();
        match rec.int("payment.status")? {
            4 if refund => Some(Event::Refund),
            4 => Some(Event::Credited),
            6 => Some(Event::Refunded),
            _ => None,
        }
    }

    fn key_word(self) -> &'static str {
        match self {
            Event::Credited => "credited",
            Event::Refund => "refund",
            Event::Refunded => "refunded",
        }
    }
}

/// The note a payment makes, if any: `None` when nothing was paid or the payment names
/// no client.
pub fn plan(id: i64, rec: &Record) -> Option<PaymentNote> {
    let event = Event::of(rec)?;
    let client = rec.int("subaccount.account")?;
    Some(PaymentNote {
        key: format!("payment:{id}:{}", event.key_word()),
        client,
        text: text(id, rec, event),
    })
}

/// The amount credited to the personal account, else the amount paid.
fn amount(rec: &Record) -> Option<&str> {
    rec.text("payment.subaccountamount")
        .or_else(|| rec.text("payment.paymethodamount"))
}

/// E.g. `Оплата 1500.00 RUB зачислена. Способ: Банковская карта. Платёж № 2025-000031 от
/// 2025-05-20 11:03:45.`
fn text(id: i64, rec: &Record, event: Event) -> String {
    let sum = amount(rec).unwrap_or("?").trim_start_matches('-');
    let currency = rec.text("currency.iso").unwrap_or("");
    let money = format!("{sum} {currency}").trim_end().to_string();
    let head = match event {
        Event::Credited => format!("Оплата {money} зачислена."),
        Event::Refund => format!("Возврат {money}."),
        Event::Refunded => format!("Платёж на {money} возвращён полностью."),
    };
    let mut parts = vec![head];
    if let Some(method) = rec.text("paymethod.name") {
        parts.push(format!("Способ: {method}."));
    }
    let number = rec
        .text("payment.number")
        .map_or(id.to_string(), str::to_string);
    let date = rec
        .text("payment.paydate")
        .or_else(|| rec.text("payment.createdate"));
    parts.push(match date {
        Some(date) => format!("Платёж № {number} от {date}."),
        None => format!("Платёж № {number}."),
    });
    if let (Event::Refund, Some(base)) = (event, rec.text("payment2payment.payment_base")) {
        parts.push(format!("Возврат по платежу id {base}."));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(&str, &str)]) -> Record {
        let mut r = Record::default();
        for (k, v) in pairs {
            r.set(*k, *v);
        }
        r
    }

    fn paid(status: &str, amount: &str) -> Record {
        rec(&[
            ("payment.status", status),
            ("payment.number", "2025-000031"),
            ("payment.subaccountamount", amount),
            ("payment.paydate", "2025-05-20 11:03:45"),
            ("currency.iso", "RUB"),
            ("paymethod.name", "Банковская карта"),
            ("subaccount.account", "2"),
        ])
    }

    #[test]
    fn a_credited_payment_says_amount_currency_method_number_and_date() {
        let note = plan(31, &paid("4", "1500.00")).expect("a note");
        assert_eq!(note.key, "payment:31:credited");
        assert_eq!(note.client, 2);
        assert_eq!(
            note.text,
            "Оплата 1500.00 RUB зачислена. Способ: Банковская карта. \
             Платёж № 2025-000031 от 2025-05-20 11:03:45."
        );
    }

    #[test]
    fn refunds_partial_and_full_have_notes_of_their_own() {
        let mut partial = paid("4", "-300.00");
        partial.set("payment2payment.payment_base", "31");
        let note = plan(35, &partial).expect("a refund note");
        assert_eq!(note.key, "payment:35:refund");
        assert!(
            note.text.starts_with("Возврат 300.00 RUB."),
            "{}",
            note.text
        );
        assert!(
            note.text.ends_with("Возврат по платежу id 31."),
            "{}",
            note.text
        );
        let full = plan(31, &paid("6", "1500.00")).expect("a refunded note");
        assert_eq!(full.key, "payment:31:refunded");
        assert!(
            full.text
                .starts_with("Платёж на 1500.00 RUB возвращён полностью.")
        );
    }

    #[test]
    fn nothing_paid_or_no_client_makes_no_note() {
        for status in ["1", "2", "3", "5", "7", "8", "9", "100"] {
            assert_eq!(plan(33, &paid(status, "5000.00")), None, "status {status}");
        }
        let mut orphan = paid("4", "10.00");
        orphan.values.remove("subaccount.account");
        assert_eq!(plan(40, &orphan), None);
    }

    #[test]
    fn a_payment_without_number_method_or_date_still_reads() {
        let bare = rec(&[
            ("payment.status", "4"),
            ("payment.paymethodamount", "9.99"),
            ("subaccount.account", "4"),
        ]);
        assert_eq!(
            plan(36, &bare).expect("a note").text,
            "Оплата 9.99 зачислена. Платёж № 36."
        );
    }
}
