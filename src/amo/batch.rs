//! Getting a batch through amoCRM, which takes or rejects a request whole: items it names
//! as invalid are set aside and the rest sent again; a batch too big for it (504) is sent
//! in halves. Pure: the sending is the caller's.

use std::collections::HashMap;

use serde_json::Value;

use super::error::AmoError;
use super::problem::ItemError;
use super::rejection::Rejection;

/// An item on its way, with the `request_id` amoCRM's answers name it by.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pending {
    pub request_id: String,
    pub body: Value,
}

/// What amoCRM made of one request.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The request went through; the items of the answer.
    Accepted(Vec<Value>),
    /// These items are invalid, and so nothing of the request was done.
    Rejected(Vec<ItemError>),
    /// Too much at once (504): send it in halves.
    TooLarge,
}

/// Everything the batch came to.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The answer items of every accepted request.
    pub answers: Vec<Value>,
    /// Why amoCRM rejected each rejected item, by `request_id`.
    pub errors: HashMap<String, Rejection>,
}

/// Sends `pending` with `send` until every item is accepted or rejected.
pub(crate) fn drive(
    pending: &[Pending],
    send: &mut dyn FnMut(&[Pending]) -> Result<Reply, AmoError>,
    out: &mut Outcome,
) -> Result<(), AmoError> {
    let mut left: Vec<Pending> = pending.to_vec();
    while !left.is_empty() {
        match send(&left)? {
            Reply::Accepted(items) => {
                out.answers.extend(items);
                return Ok(());
            }
            Reply::TooLarge if left.len() > 1 => {
                let (first, second) = left.split_at(left.len() / 2);
                drive(first, send, out)?;
                return drive(second, send, out);
            }
            Reply::TooLarge => {
                return Err(AmoError::Unavailable(
                    "amoCRM answered 504 (gateway timeout) to a single item".to_string(),
                ));
            }
            Reply::Rejected(errors) => {
                let before = left.len();
                for e in errors {
                    if left.iter().any(|p| p.request_id == e.request_id) {
                        left.retain(|p| p.request_id != e.request_id);
                        out.errors.insert(e.request_id, e.rejection);
                    }
                }
                // Naming only items it was not sent would make the loop endless.
                if left.len() == before {
                    return Err(AmoError::Protocol(
                        "amoCRM rejected a batch naming none of its items".to_string(),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(n: usize) -> Vec<Pending> {
        (0..n)
            .map(|i| Pending {
                request_id: i.to_string(),
                body: json!({"n": i}),
            })
            .collect()
    }

    /// A stand-in amoCRM: 504 for more than `most` items, rejects odd multiples of 3.
    fn amo(
        most: usize,
        sizes: &mut Vec<usize>,
    ) -> impl FnMut(&[Pending]) -> Result<Reply, AmoError> + '_ {
        move |part: &[Pending]| {
            sizes.push(part.len());
            if part.len() > most {
                return Ok(Reply::TooLarge);
            }
            let bad: Vec<ItemError> = part
                .iter()
                .filter(|p| {
                    p.body["n"]
                        .as_u64()
                        .is_some_and(|n| n % 3 == 0 && n % 2 == 1)
                })
                .map(|p| ItemError {
                    request_id: p.request_id.clone(),
                    rejection: Rejection::Invalid(format!("bad {}", p.request_id)),
                })
                .collect();
            if bad.is_empty() {
                Ok(Reply::Accepted(part.iter().map(|p| json!({"id": 100 + p.body["n"].as_i64().unwrap_or(0), "request_id": p.request_id})).collect()))
            } else {
                Ok(Reply::Rejected(bad))
            }
        }
    }

    #[test]
    fn rejected_items_are_set_aside_and_the_rest_resent() {
        let mut sizes = Vec::new();
        let mut out = Outcome::default();
        drive(&items(10), &mut amo(100, &mut sizes), &mut out).expect("drive");
        // 3 and 9 are rejected together; the other 8 go in one more request.
        assert_eq!(sizes, [10, 8]);
        assert_eq!(out.answers.len(), 8);
        let mut bad: Vec<_> = (out.errors.into_iter())
            .map(|(id, r)| (id, r.to_string()))
            .collect();
        bad.sort();
        assert_eq!(
            bad,
            [
                ("3".to_string(), "bad 3".to_string()),
                ("9".to_string(), "bad 9".to_string())
            ]
        );
    }

    #[test]
    fn a_504_splits_in_halves_down_to_what_fits() {
        let mut sizes = Vec::new();
        let mut out = Outcome::default();
        drive(&items(8), &mut amo(2, &mut sizes), &mut out).expect("drive");
        // 8 → 4 → 2 (ok: 0,1) 2 (3 rejected, then 2 alone) → 4 → 2 (4,5) 2 (6,7).
        assert_eq!(sizes, [8, 4, 2, 2, 1, 4, 2, 2]);
        let mut ids: Vec<i64> = out
            .answers
            .iter()
            .filter_map(|a| a["id"].as_i64())
            .collect();
        ids.sort();
        assert_eq!(ids, [100, 101, 102, 104, 105, 106, 107]);
        assert_eq!(out.errors.keys().collect::<Vec<_>>(), ["3"]);
    }

    #[test]
    fn a_504_for_one_item_and_strange_rejections_are_errors() {
        let mut sizes = Vec::new();
        let mut out = Outcome::default();
        assert!(matches!(
            drive(&items(2), &mut amo(0, &mut sizes), &mut out),
            Err(AmoError::Unavailable(_))
        ));
        let mut stranger = |_: &[Pending]| {
            Ok(Reply::Rejected(vec![ItemError {
                request_id: "99".into(),
                rejection: Rejection::Invalid("who?".into()),
            }]))
        };
        assert!(matches!(
            drive(&items(2), &mut stranger, &mut Outcome::default()),
            Err(AmoError::Protocol(_))
        ));
    }

    #[test]
    fn everything_rejected_sends_nothing_more() {
        let mut calls = 0;
        let mut reject_all = |part: &[Pending]| {
            calls += 1;
            Ok(Reply::Rejected(
                part.iter()
                    .map(|p| ItemError {
                        request_id: p.request_id.clone(),
                        rejection: Rejection::Invalid("no".into()),
                    })
                    .collect(),
            ))
        };
        let mut out = Outcome::default();
        drive(&items(3), &mut reject_all, &mut out).expect("drive");
        assert_eq!((calls, out.errors.len(), out.answers.len()), (1, 3, 0));
    }
}
