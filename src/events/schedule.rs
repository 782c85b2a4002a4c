//! The sessions of an event as rows: checking and inserting them with their ticket types,
//! keeping the event's times the span of its live sessions, and whether a session can be booked.
//! Below both the events service (which creates events) and reservations (which book them);
//! the operations on sessions (`addSession`, `cancelSession`, ...) are in `sessions.rs`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::event::{self, EventStatus};
use entity::event_session;
use entity::ticket_type;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::input::NewTicketType;
use crate::db::{now, truncate_micros};
use crate::error::{AppError, AppResult};

pub const MAX_TICKET_TYPES: usize = 20;
pub const MAX_CAPACITY: i32 = 1_000_000;
/// 100 million in major units: far above any real ticket, far below overflow when summed.
pub const MAX_PRICE_CENTS: i64 = 10_000_000_000;

/// Sessions one event may have.
pub const MAX_SESSIONS: usize = 100;

pub fn check_times(starts_at: DateTime<Utc>, ends_at: Option<DateTime<Utc>>) -> AppResult<()> {
    if starts_at <= Utc::now() {
        return Err(AppError::bad_input("startsAt must be in the future"));
    }
    if let Some(end) = ends_at
        && end <= starts_at
    {
        return Err(AppError::bad_input("endsAt must be after startsAt"));
    }
    Ok(())
}

pub fn check_ticket_types(types: &[NewTicketType]) -> AppResult<Vec<String>> {
    if types.is_empty() || types.len() > MAX_TICKET_TYPES {
        return Err(AppError::bad_input(format!(
            "an event needs 1 to {MAX_TICKET_TYPES} ticket types"
        )));
    }
    let mut seen = HashSet::new();
    let mut names = Vec::with_capacity(types.len());
    for t in types {
        let name = t.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::bad_input(
                "ticket type names must be 1 to 100 characters long",
            ));
        }
        if !seen.insert(name.to_lowercase()) {
            return Err(AppError::bad_input(format!(
                "ticket type `{name}` appears twice"
            )));
        }
        if !(0..=MAX_PRICE_CENTS).contains(&t.price_cents) {
            return Err(AppError::bad_input(format!(
                "priceCents of `{name}` must be between 0 and {MAX_PRICE_CENTS}"
            )));
        }
        let Some(capacity) = t.capacity else {
            return Err(AppError::bad_input(format!(
                "capacity of `{name}` is required for general admission"
            )));
        };
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            return Err(AppError::bad_input(format!(
                "capacity of `{name}` must be between 1 and {MAX_CAPACITY}"
            )));
        }
        names.push(name);
    }
    Ok(names)
}

/// A session to create, with its own ticket types.
pub struct NewSession {
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub ticket_types: Vec<NewTicketType>,
}

/// A session whose times and ticket types passed the checks; names are trimmed.
pub struct CheckedSession {
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub ticket_types: Vec<NewTicketType>,
    names: Vec<String>,
}

/// Times in the future and in order, 1–20 ticket types with names unique within the session.
pub fn check(session: NewSession) -> AppResult<CheckedSession> {
    let starts_at = truncate_micros(session.starts_at);
    let ends_at = session.ends_at.map(truncate_micros);
    check_times(starts_at, ends_at)?;
    let names = check_ticket_types(&session.ticket_types)?;
    Ok(CheckedSession {
        starts_at,
        ends_at,
        ticket_types: session.ticket_types,
        names,
    })
}

/// The span of some sessions: the earliest start, and the latest end (a session without an end
/// counts as ending when it starts). No end when that is the start itself, as for one session
/// without an end time.
pub fn span(
    sessions: impl IntoIterator<Item = (DateTime<Utc>, Option<DateTime<Utc>>)>,
) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let mut out: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for (start, end) in sessions {
        let end = end.unwrap_or(start);
        out = Some(match out {
            None => (start, end),
            Some((s, e)) => (std::cmp::min(s, start), std::cmp::max(e, end)),
        });
    }
    out.map(|(s, e)| (s, (e > s).then_some(e)))
}

/// Inserts one session of `event_id` and its ticket types (positions from `first_position` on,
/// so the event's order is session by session). Returns the session and its ticket types' ids.
pub async fn insert(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    session: &CheckedSession,
    first_position: i32,
) -> AppResult<(event_session::Model, Vec<Uuid>)> {
    let model = event_session::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_id: Set(event_id),
        starts_at: Set(session.starts_at),
        ends_at: Set(session.ends_at),
        cancelled_at: Set(None),
        created_at: Set(now()),
    }
    .insert(db)
    .await?;
    let ids: Vec<Uuid> = session
        .ticket_types
        .iter()
        .map(|_| Uuid::now_v7())
        .collect();
    let rows = session
        .ticket_types
        .iter()
        .zip(&session.names)
        .enumerate()
        .map(|(i, (t, name))| ticket_type::ActiveModel {
            id: Set(ids[i]),
            event_id: Set(event_id),
            session_id: Set(model.id),
            position: Set(first_position + i as i32),
            name: Set(name.clone()),
            price_cents: Set(t.price_cents),
            capacity: Set(t.capacity.unwrap_or_default()),
            available: Set(t.capacity.unwrap_or_default()),
            waiting: Set(0),
        });
    ticket_type::Entity::insert_many(rows).exec(db).await?;
    Ok((model, ids))
}

/// Sets the event's starts_at / ends_at to the span of its live sessions (unchanged when none
/// is live: the event is then cancelled and keeps the times it had).
pub async fn sync_span(db: &impl ConnectionTrait, event_id: Uuid) -> AppResult<()> {
    let live = event_session::Entity::find()
        .filter(event_session::Column::EventId.eq(event_id))
        .filter(event_session::Column::CancelledAt.is_null())
        .all(db)
        .await?;
    if let Some((starts_at, ends_at)) = span(live.iter().map(|s| (s.starts_at, s.ends_at))) {
        event::Entity::update_many()
            .col_expr(event::Column::StartsAt, Expr::value(starts_at))
            .col_expr(event::Column::EndsAt, Expr::value(ends_at))
            .filter(event::Column::Id.eq(event_id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// updateEvent moved the event's times: a single-session event moves its session with it; an
/// event of several sessions has no one time to move (`BAD_USER_INPUT`).
pub async fn move_single(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
) -> AppResult<()> {
    let sessions = event_session::Entity::find()
        .filter(event_session::Column::EventId.eq(event_id))
        .all(db)
        .await?;
    let [only] = sessions.as_slice() else {
        return Err(AppError::bad_input(
            "this event has several sessions: its startsAt and endsAt are their span",
        ));
    };
    event_session::Entity::update_many()
        .col_expr(event_session::Column::StartsAt, Expr::value(starts_at))
        .col_expr(event_session::Column::EndsAt, Expr::value(ends_at))
        .filter(event_session::Column::Id.eq(only.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Seats of this session can be reserved now: it is not cancelled and has not started. Called
/// after `lock_event`, which waited for any cancelSession of the same event to commit.
pub async fn ensure_bookable(db: &impl ConnectionTrait, session_id: Uuid) -> AppResult<()> {
    let session = event_session::Entity::find_by_id(session_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("session {session_id} not found")))?;
    if session.cancelled_at.is_some() {
        return Err(AppError::Conflict("the session was cancelled".into()));
    }
    if session.starts_at <= Utc::now() {
        return Err(AppError::Conflict("the session has already started".into()));
    }
    Ok(())
}

/// An event's sessions, soonest first.
pub async fn of_event(
    db: &impl ConnectionTrait,
    event_id: Uuid,
) -> AppResult<Vec<event_session::Model>> {
    Ok(event_session::Entity::find()
        .filter(event_session::Column::EventId.eq(event_id))
        .order_by_asc(event_session::Column::StartsAt)
        .order_by_asc(event_session::Column::Id)
        .all(db)
        .await?)
}

/// What a session's status is: CANCELLED when it or its event is, otherwise its event's.
pub fn status_of(session: &event_session::Model, ev: &event::Model) -> EventStatus {
    if session.cancelled_at.is_some() {
        EventStatus::Cancelled
    } else {
        ev.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + h * 3600, 0).unwrap()
    }

    #[test]
    fn span_covers_every_session() {
        assert_eq!(span([]), None);
        assert_eq!(span([(at(0), None)]), Some((at(0), None)));
        assert_eq!(span([(at(0), Some(at(2)))]), Some((at(0), Some(at(2)))));
        assert_eq!(
            span([(at(48), Some(at(50))), (at(0), Some(at(2))), (at(24), None)]),
            Some((at(0), Some(at(50))))
        );
        // A later session without an end still stretches the span to its start.
        assert_eq!(
            span([(at(0), Some(at(2))), (at(24), None)]),
            Some((at(0), Some(at(24))))
        );
    }
}
