//! Cancellation policies: an event's refund rules and what cancelling a paid reservation returns
//! at a given moment. Pure: no database, so the quote shown to a buyer and the refund made at
//! commit are the same function of (policy, start, now, amount paid, tickets).
//!
//! With `h` hours left before the start, the rule with the largest `hours_before_start` ≤ `h`
//! applies; none → cancelling is refused. Refund = max(0, ⌊paid × percent / 100⌋ − fee × tickets).
//! Without a policy: a full refund until the start.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// At most this many rules per policy.
pub const MAX_RULES: usize = 20;
/// Rules reach at most two years before the start.
pub const MAX_HOURS: i32 = 2 * 366 * 24;
/// A per-ticket fee of at most 1,000,000.00.
pub const MAX_FEE_CENTS: i64 = 100_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub hours_before_start: i32,
    pub refund_percent: i32,
}

/// Rules sorted by `hours_before_start`, largest first, plus a fee per ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub rules: Vec<Rule>,
    pub fee_cents: i64,
}

impl Policy {
    /// Checks and normalizes an organizer's input.
    pub fn new(mut rules: Vec<Rule>, fee_cents: i64) -> AppResult<Policy> {
        if rules.len() > MAX_RULES {
            return Err(AppError::bad_input(format!(
                "a policy has at most {MAX_RULES} rules"
            )));
        }
        for r in &rules {
            if !(0..=MAX_HOURS).contains(&r.hours_before_start) {
                return Err(AppError::bad_input(format!(
                    "hoursBeforeStart must be between 0 and {MAX_HOURS}"
                )));
            }
            if !(0..=100).contains(&r.refund_percent) {
                return Err(AppError::bad_input(
                    "refundPercent must be between 0 and 100",
                ));
            }
        }
        rules.sort_by_key(|r| std::cmp::Reverse(r.hours_before_start));
        if let Some(w) = rules
            .windows(2)
            .find(|w| w[0].hours_before_start == w[1].hours_before_start)
        {
            return Err(AppError::bad_input(format!(
                "two rules for {} hours before the start",
                w[0].hours_before_start
            )));
        }
        if !(0..=MAX_FEE_CENTS).contains(&fee_cents) {
            return Err(AppError::bad_input(format!(
                "feeCents must be between 0 and {MAX_FEE_CENTS}"
            )));
        }
        Ok(Policy { rules, fee_cents })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a policy serializes")
    }

    /// The stored form; `None` when there is no policy.
    pub fn from_json(stored: Option<&str>) -> AppResult<Option<Policy>> {
        stored
            .map(|s| {
                serde_json::from_str(s).map_err(|err| {
                    AppError::internal(anyhow::anyhow!("stored cancellation policy: {err}"))
                })
            })
            .transpose()
    }

    /// The default when an event has none: a full refund until the start, no fee.
    pub fn default_full_refund() -> Policy {
        Policy {
            rules: vec![Rule {
                hours_before_start: 0,
                refund_percent: 100,
            }],
            fee_cents: 0,
        }
    }
}

/// What cancelling would return now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub allowed: bool,
    pub refund_cents: i64,
    /// The cancellation fee (per ticket × tickets) the policy charges.
    pub fee_cents: i64,
    /// What the organizer keeps: paid − refund.
    pub kept_cents: i64,
    pub refund_percent: i32,
    /// The last moment this figure holds; `None` when cancelling is not allowed.
    pub valid_until: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// What cancelling a reservation that paid `paid_cents` for `tickets` tickets returns at `now`.
pub fn quote(
    policy: Option<&Policy>,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
    paid_cents: i64,
    tickets: i32,
) -> Quote {
    let default = Policy::default_full_refund();
    let policy = policy.unwrap_or(&default);
    let left = starts_at - now;
    // Rules are sorted largest first: the first that still lies ahead applies.
    let Some(rule) = policy
        .rules
        .iter()
        .find(|r| Duration::hours(i64::from(r.hours_before_start)) <= left)
    else {
        let reason = if left <= Duration::zero() {
            "the event has started; it can no longer be cancelled".to_string()
        } else {
            "the event's cancellation policy allows no cancellation this close to the start"
                .to_string()
        };
        return Quote {
            allowed: false,
            refund_cents: 0,
            fee_cents: 0,
            kept_cents: paid_cents,
            refund_percent: 0,
            valid_until: None,
            reason: Some(reason),
        };
    };
    let share = (i128::from(paid_cents) * i128::from(rule.refund_percent) / 100) as i64;
    let fee = policy.fee_cents.saturating_mul(i64::from(tickets));
    let refund = share.saturating_sub(fee).max(0);
    Quote {
        allowed: true,
        refund_cents: refund,
        fee_cents: fee,
        kept_cents: paid_cents - refund,
        refund_percent: rule.refund_percent,
        valid_until: Some(starts_at - Duration::hours(i64::from(rule.hours_before_start))),
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(r: &[(i32, i32)]) -> Vec<Rule> {
        r.iter()
            .map(|&(h, p)| Rule {
                hours_before_start: h,
                refund_percent: p,
            })
            .collect()
    }

    #[test]
    fn the_product_example_holds_to_the_cent() {
        let policy = Policy::new(rules(&[(24, 50), (72, 100), (0, 0)]), 0).unwrap();
        let start = Utc::now() + Duration::days(30);
        let at = |h: i64| quote(Some(&policy), start, start - Duration::hours(h), 3_001, 1);
        assert_eq!(at(100).refund_cents, 3_001);
        assert_eq!(at(100).valid_until, Some(start - Duration::hours(72)));
        assert_eq!(at(30).refund_cents, 1_500);
        assert_eq!(at(30).kept_cents, 1_501);
        assert_eq!(at(2).refund_cents, 0);
        assert!(at(2).allowed);
        // Exactly on a boundary the rule still applies; a second later the next one does.
        assert_eq!(at(72).refund_cents, 3_001);
        let later = quote(
            Some(&policy),
            start,
            start - Duration::hours(72) + Duration::seconds(1),
            3_001,
            1,
        );
        assert_eq!(later.refund_cents, 1_500);
        // After the start no rule applies.
        let after = quote(Some(&policy), start, start + Duration::minutes(1), 3_001, 1);
        assert!(!after.allowed);
        assert_eq!(after.refund_cents, 0);
    }

    #[test]
    fn fees_are_per_ticket_and_never_make_a_refund_negative() {
        let policy = Policy::new(rules(&[(48, 80)]), 250).unwrap();
        let start = Utc::now() + Duration::days(10);
        let q = quote(Some(&policy), start, Utc::now(), 10_000, 3);
        assert_eq!(q.fee_cents, 750);
        assert_eq!(q.refund_cents, 8_000 - 750);
        let small = quote(Some(&policy), start, Utc::now(), 500, 3);
        assert_eq!(small.refund_cents, 0);
        assert_eq!(small.kept_cents, 500);
        // Inside the last rule's window: refused.
        let late = quote(Some(&policy), start, start - Duration::hours(47), 10_000, 3);
        assert!(!late.allowed);
    }

    #[test]
    fn without_a_policy_the_refund_is_full_until_the_start() {
        let start = Utc::now() + Duration::hours(1);
        let q = quote(None, start, Utc::now(), 4_999, 2);
        assert!(q.allowed);
        assert_eq!(q.refund_cents, 4_999);
        assert_eq!(q.valid_until, Some(start));
        assert!(!quote(None, start, start + Duration::seconds(1), 4_999, 2).allowed);
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(Policy::new(rules(&[(24, 101)]), 0).is_err());
        assert!(Policy::new(rules(&[(-1, 50)]), 0).is_err());
        assert!(Policy::new(rules(&[(24, 50), (24, 60)]), 0).is_err());
        assert!(Policy::new(rules(&[(24, 50)]), -1).is_err());
        let p = Policy::new(rules(&[(1, 10), (10, 20)]), 5).unwrap();
        assert_eq!(p.rules[0].hours_before_start, 10);
        assert_eq!(Policy::from_json(Some(&p.to_json())).unwrap(), Some(p));
    }
}
