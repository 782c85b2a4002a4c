//! How `events` is ordered and paged, and its full-text search.
//!
//! Every order is a keyset: the cursor carries the order's name and the last item's key, and the
//! next page starts strictly after it, with the event id breaking ties, so paging visits each
//! result exactly once. The orders:
//! - `STARTS_AT` (soonest first): key (startsAt, id).
//! - `NEWEST` (most recently created first): key (createdAt, id).
//! - `POPULARITY` (most tickets paid in the 7 days before the first page was read, then id): the
//!   cursor also carries that instant, so later pages count over the very same window and sales
//!   made while paging cannot move an event across the page boundary.
//! - `RELEVANCE` (needs a search; without one it is `BAD_USER_INPUT`): PostgreSQL `ts_rank` over
//!   the weighted `tsvector` (title A, description B, venue C); SQLite `bm25` over the FTS5 table
//!   with the title weighted 10, the description 3, the venue 1.
//!
//! Search terms are the words of the search (letters and digits), each matched as a prefix, all
//! required.

use chrono::{DateTime, Utc};
use entity::event;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select,
};
use uuid::Uuid;

use crate::db::paging::{decode_cursor, encode_cursor};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventOrder {
    #[default]
    StartsAt,
    Newest,
    Popularity,
    Relevance,
}

/// At most this many words in a search.
pub const MAX_TERMS: usize = 10;
/// The popularity window.
pub const POPULAR_DAYS: i64 = 7;

/// The search's words, lower case; `BAD_USER_INPUT` when it has none.
pub fn terms(search: &str) -> AppResult<Vec<String>> {
    let words: Vec<String> = search
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return Err(AppError::bad_input(
            "search needs at least one word (letters or digits)",
        ));
    }
    if words.len() > MAX_TERMS {
        return Err(AppError::bad_input(format!(
            "search has at most {MAX_TERMS} words"
        )));
    }
    Ok(words)
}

/// The full-text query in the backend's syntax: every word as a prefix, all required. Words are
/// letters and digits only, so nothing in them is query syntax.
fn fts_query(backend: DbBackend, words: &[String]) -> String {
    match backend {
        DbBackend::Postgres => words
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & "),
        _ => words
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The events matching the search.
pub fn search_condition(backend: DbBackend, words: &[String]) -> SimpleExpr {
    let q = fts_query(backend, words);
    match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            "\"events\".\"search_vector\" @@ to_tsquery('simple', $1)",
            [q],
        ),
        _ => Expr::cust_with_values(
            "\"events\".\"id\" IN (SELECT event_id FROM events_fts WHERE events_fts MATCH ?)",
            [q],
        ),
    }
}

/// The paging key of one order, as read back with each row (`order_key`).
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Time(DateTime<Utc>),
    /// Tickets in the window, with the window's end.
    Popularity(i64, DateTime<Utc>),
    Rank(f64),
}

fn tag(order: EventOrder) -> &'static str {
    match order {
        EventOrder::StartsAt => "s",
        EventOrder::Newest => "n",
        EventOrder::Popularity => "p",
        EventOrder::Relevance => "r",
    }
}

pub fn cursor(order: EventOrder, key: &Key, id: Uuid) -> String {
    let body = match key {
        Key::Time(t) => t.timestamp_micros().to_string(),
        Key::Popularity(n, asof) => format!("{}|{n}", asof.timestamp_micros()),
        // `{:?}` of an f64 reads back as the same bits.
        Key::Rank(r) => format!("{r:?}"),
    };
    match order {
        // The format `events` used before orders existed, so old cursors stay valid.
        EventOrder::StartsAt => encode_cursor(&format!("{body}|{id}")),
        _ => encode_cursor(&format!("{}|{body}|{id}", tag(order))),
    }
}

pub fn parse_cursor(order: EventOrder, cursor: &str) -> AppResult<(Key, Uuid)> {
    let plain = decode_cursor(cursor)?;
    let bad = || AppError::bad_input("`after` is not a cursor returned by `events` in this order");
    let mut parts: Vec<&str> = plain.split('|').collect();
    if order != EventOrder::StartsAt {
        if parts.first() != Some(&tag(order)) {
            return Err(bad());
        }
        parts.remove(0);
    }
    let time = |s: &str| {
        s.parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(bad)
    };
    let id: Uuid = parts.last().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let key = match (order, parts.as_slice()) {
        (EventOrder::StartsAt | EventOrder::Newest, [t, _]) => Key::Time(time(t)?),
        (EventOrder::Popularity, [asof, n, _]) => {
            Key::Popularity(n.parse().map_err(|_| bad())?, time(asof)?)
        }
        (EventOrder::Relevance, [r, _]) => {
            let r: f64 = r.parse().map_err(|_| bad())?;
            if !r.is_finite() {
                return Err(bad());
            }
            Key::Rank(r)
        }
        _ => return Err(bad()),
    };
    Ok((key, id))
}

/// Tickets paid for the outer event in [asof − 7 days, asof).
fn popularity(backend: DbBackend, asof: DateTime<Utc>) -> SimpleExpr {
    Expr::cust_with_values(
        crate::db::raw::placeholders(
            backend,
            "(SELECT CAST(COALESCE(SUM(r.quantity), 0) AS BIGINT) FROM transactions t \
           JOIN reservations r ON r.id = t.reservation_id \
          WHERE t.event_id = \"events\".\"id\" AND t.kind = 'PAYMENT' AND t.status = 'SUCCEEDED' \
            AND t.created_at >= ? AND t.created_at < ?)",
        ),
        [
            sea_orm::Value::from(asof - chrono::Duration::days(POPULAR_DAYS)),
            sea_orm::Value::from(asof),
        ],
    )
}

/// Higher is more relevant. On SQLite the rank comes from a join (`fts`) made by `order`.
fn rank(backend: DbBackend, words: &[String]) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            "CAST(ts_rank(\"events\".\"search_vector\", to_tsquery('simple', $1)) AS DOUBLE PRECISION)",
            [fts_query(backend, words)],
        ),
        _ => Expr::cust("(-\"fts\".\"score\")"),
    }
}

/// What the listing needs to order one page: the select with its key column (`order_key`) and
/// order, restricted to what follows `after`.
pub struct Ordered {
    pub select: Select<event::Entity>,
    /// The end of the popularity window used (to put in cursors).
    pub asof: DateTime<Utc>,
}

pub fn order(
    backend: DbBackend,
    mut select: Select<event::Entity>,
    order: EventOrder,
    search: Option<&[String]>,
    after: Option<&str>,
) -> AppResult<Ordered> {
    let after = after.map(|c| parse_cursor(order, c)).transpose()?;
    let mut asof = crate::db::now();
    // Key expression, whether it ascends, and the value of the cursor's key.
    let (key, ascending, last): (SimpleExpr, bool, Option<(sea_orm::Value, Uuid)>) = match order {
        EventOrder::StartsAt => (
            Expr::col((event::Entity, event::Column::StartsAt)),
            true,
            after.map(|(k, id)| match k {
                Key::Time(t) => (t.into(), id),
                _ => unreachable_key(),
            }),
        ),
        EventOrder::Newest => (
            Expr::col((event::Entity, event::Column::CreatedAt)),
            false,
            after.map(|(k, id)| match k {
                Key::Time(t) => (t.into(), id),
                _ => unreachable_key(),
            }),
        ),
        EventOrder::Popularity => {
            let last = after.map(|(k, id)| match k {
                Key::Popularity(n, at) => {
                    asof = at;
                    (n.into(), id)
                }
                _ => unreachable_key(),
            });
            (popularity(backend, asof), false, last)
        }
        EventOrder::Relevance => {
            let Some(words) = search else {
                return Err(AppError::bad_input(
                    "orderBy RELEVANCE needs a search in the filter",
                ));
            };
            if backend != DbBackend::Postgres {
                let q = fts_query(backend, words);
                let scores = Query::select()
                    .expr_as(Expr::cust("event_id"), Alias::new("event_id"))
                    .expr_as(
                        Expr::cust("bm25(events_fts, 0.0, 10.0, 3.0, 1.0)"),
                        Alias::new("score"),
                    )
                    .from(Alias::new("events_fts"))
                    .and_where(Expr::cust_with_values("events_fts MATCH ?", [q]))
                    .to_owned();
                QueryTrait::query(&mut select).join_subquery(
                    JoinType::InnerJoin,
                    scores,
                    Alias::new("fts"),
                    Expr::col((Alias::new("fts"), Alias::new("event_id")))
                        .equals((event::Entity, event::Column::Id)),
                );
            }
            (
                rank(backend, words),
                false,
                after.map(|(k, id)| match k {
                    Key::Rank(r) => (r.into(), id),
                    _ => unreachable_key(),
                }),
            )
        }
    };
    if let Some((value, id)) = last {
        let beyond = if ascending {
            key.clone().gt(Expr::val(value.clone()))
        } else {
            key.clone().lt(Expr::val(value.clone()))
        };
        // Ties on the key go by id, ascending in every order but NEWEST (newest first).
        let id_next = if order == EventOrder::Newest {
            event::Column::Id.lt(id)
        } else {
            event::Column::Id.gt(id)
        };
        select = select.filter(
            Condition::any().add(beyond).add(
                Condition::all()
                    .add(key.clone().eq(Expr::val(value)))
                    .add(id_next),
            ),
        );
    }
    let direction = if ascending { Order::Asc } else { Order::Desc };
    let id_direction = if order == EventOrder::Newest {
        Order::Desc
    } else {
        Order::Asc
    };
    let select = select
        .expr_as(key.clone(), "order_key")
        .order_by(key, direction)
        .order_by(event::Column::Id, id_direction);
    Ok(Ordered { select, asof })
}

/// `parse_cursor` returns the key kind of the order it was given.
fn unreachable_key() -> ! {
    unreachable!("parse_cursor(order, …) returns that order's key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_carry_their_order_and_round_trip() {
        let id = Uuid::new_v4();
        let at = DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap();
        for (order, key) in [
            (EventOrder::StartsAt, Key::Time(at)),
            (EventOrder::Newest, Key::Time(at)),
            (EventOrder::Popularity, Key::Popularity(42, at)),
            (EventOrder::Relevance, Key::Rank(0.060_792_710_632_085_8)),
        ] {
            let c = cursor(order, &key, id);
            assert_eq!(parse_cursor(order, &c).unwrap(), (key, id));
            let other = if order == EventOrder::Newest {
                EventOrder::Relevance
            } else {
                EventOrder::Newest
            };
            assert!(
                parse_cursor(other, &c).is_err(),
                "{order:?} cursor in {other:?}"
            );
        }
    }

    #[test]
    fn search_words_are_letters_and_digits_only() {
        assert_eq!(terms("Rock 100% live!").unwrap(), ["rock", "100", "live"]);
        assert!(terms("%").is_err());
        assert_eq!(
            fts_query(DbBackend::Sqlite, &terms("jazz \"night").unwrap()),
            "\"jazz\"* \"night\"*"
        );
        assert_eq!(
            fts_query(DbBackend::Postgres, &terms("jazz night").unwrap()),
            "jazz:* & night:*"
        );
    }
}
