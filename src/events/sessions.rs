//! Sessions: an event happens in one or more sessions (a festival's days, a workshop's dates),
//! and every ticket type belongs to one session, so each session sells its own capacity.
//!
//! `events.starts_at` / `ends_at` are kept as the span of the event's live sessions, in the
//! same transaction as every change to them (`sync_span`), so the filters, ordering and cursors
//! built on the event's times keep working unchanged.
//!
//! Cancelling a session cancels what was sold for it exactly as cancelEvent does for a whole
//! event (`reservations::service::cancel_all_in`): holds released, paid reservations refunded in
//! full, tickets voided, its waitlists closed. Cancelling the event's last live session *is*
//! cancelling the event: the event becomes CANCELLED in the same transaction, as cancelEvent
//! would make it, so an event never stays PUBLISHED with nothing left to attend.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::event::{self, EventStatus};
use entity::event_session;
use entity::ticket_type;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, RelationTrait, Set,
};
use uuid::Uuid;

use super::input::NewTicketType;
use super::schedule::{
    MAX_SESSIONS, MAX_TICKET_TYPES, NewSession, check, check_ticket_types, insert, sync_span,
};
use super::service::EventFilter;
use crate::audit::Actor;
use crate::auth::Viewer;
use crate::db::{begin_write, now, truncate_micros};
use crate::error::{AppError, AppResult};
use crate::live::Effects;
use crate::state::AppState;

/// The widest `calendar` range, in days.
pub const MAX_CALENDAR_DAYS: i64 = 366;
/// The most sessions one `calendar` answer lists; a range holding more is refused.
pub const MAX_CALENDAR_SESSIONS: u64 = 2_000;

fn not_found(id: Uuid) -> AppError {
    AppError::NotFound(format!("session {id} not found"))
}

/// The event, if the viewer may change it and it is not cancelled.
async fn changeable_event(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    event_id: Uuid,
) -> AppResult<event::Model> {
    let ev = event::Entity::find_by_id(event_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {event_id} not found")))?;
    if ev.organizer_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::Forbidden(
            "only the event's organizer or an admin can change it".into(),
        ));
    }
    if ev.status == EventStatus::Cancelled {
        return Err(AppError::Conflict(
            "a cancelled event cannot be changed".into(),
        ));
    }
    Ok(ev)
}

/// The session and its event, if the viewer may change them.
async fn owned_session(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<(event_session::Model, event::Model)> {
    let session = event_session::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| not_found(id))?;
    let ev = changeable_event(db, viewer, session.event_id).await?;
    Ok((session, ev))
}

/// Numbered seats are copied per event (the seat map is the event's), so a seated event keeps
/// its one session and new ticket types are general admission.
fn general_admission(types: &[NewTicketType]) -> AppResult<()> {
    if let Some(t) = types.iter().find(|t| t.sections.is_some()) {
        return Err(AppError::bad_input(format!(
            "ticket type `{}` sells sections: ticket types added later are general admission",
            t.name.trim()
        )));
    }
    Ok(())
}

async fn is_seated_event(db: &impl ConnectionTrait, event_id: Uuid) -> AppResult<bool> {
    Ok(entity::event_seat::Entity::find()
        .filter(entity::event_seat::Column::EventId.eq(event_id))
        .count(db)
        .await?
        > 0)
}

async fn next_position(db: &impl ConnectionTrait, event_id: Uuid) -> AppResult<i32> {
    let max: Option<Option<i32>> = ticket_type::Entity::find()
        .select_only()
        .column_as(ticket_type::Column::Position.max(), "max")
        .filter(ticket_type::Column::EventId.eq(event_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().map_or(0, |m| m + 1))
}

/// Adds a session with its ticket types to a DRAFT or PUBLISHED event (its organizer or an
/// admin). The event's span grows to include it.
pub async fn add_session(
    state: &AppState,
    viewer: &Viewer,
    actor: &Actor,
    event_id: Uuid,
    input: NewSession,
) -> AppResult<event_session::Model> {
    changeable_event(&state.db, viewer, event_id).await?;
    general_admission(&input.ticket_types)?;
    let session = check(input)?;
    let txn = begin_write(&state.db).await?;
    // The event's row first (the lock cancelEvent and cancelSession take), then the checks.
    let ev = lock_for_change(&txn, event_id).await?;
    if is_seated_event(&txn, ev.id).await? {
        return Err(AppError::bad_input(
            "a seated event has one session: its seat map is the event's",
        ));
    }
    let sessions = event_session::Entity::find()
        .filter(event_session::Column::EventId.eq(event_id))
        .count(&txn)
        .await?;
    if sessions as usize >= MAX_SESSIONS {
        return Err(AppError::bad_input(format!(
            "an event has at most {MAX_SESSIONS} sessions"
        )));
    }
    let position = next_position(&txn, event_id).await?;
    let (model, _) = insert(&txn, event_id, &session, position).await?;
    sync_span(&txn, event_id).await?;
    crate::audit::service::log(
        &txn,
        actor,
        "session.add",
        "session",
        model.id,
        Some(event_id),
        serde_json::json!({ "startsAt": model.starts_at }),
    )
    .await?;
    txn.commit().await?;
    state.live.announce(Effects::seats(event_id));
    Ok(model)
}

/// Takes the event's row lock with a conditional UPDATE (as cancelEvent's does): reserves and
/// payments hold the row FOR SHARE (`lock_event`), so they finish before this goes on, and any
/// that come later read what this transaction committed. `CONFLICT` once the event is cancelled.
async fn lock_for_change(db: &impl ConnectionTrait, event_id: Uuid) -> AppResult<event::Model> {
    let done = event::Entity::update_many()
        .col_expr(event::Column::UpdatedAt, Expr::value(now()))
        .filter(event::Column::Id.eq(event_id))
        .filter(event::Column::Status.ne(EventStatus::Cancelled))
        .exec(db)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::Conflict(
            "a cancelled event cannot be changed".into(),
        ));
    }
    event::Entity::find_by_id(event_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {event_id} not found")))
}

/// Cancels a session (its organizer or an admin): its holds are released, its paid reservations
/// refunded in full and their tickets voided, its waitlists closed; other sessions' sales are
/// untouched. Cancelling the last live session cancels the event (see the module doc).
/// `CONFLICT` when the session or the event is already cancelled.
pub async fn cancel_session(
    state: &AppState,
    viewer: &Viewer,
    actor: &Actor,
    id: Uuid,
) -> AppResult<event_session::Model> {
    let (_, ev) = owned_session(&state.db, viewer, id).await?;
    let txn = begin_write(&state.db).await?;
    let ev = lock_for_change(&txn, ev.id).await?;
    let at = now();
    let done = event_session::Entity::update_many()
        .col_expr(event_session::Column::CancelledAt, Expr::value(Some(at)))
        .filter(event_session::Column::Id.eq(id))
        .filter(event_session::Column::CancelledAt.is_null())
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::Conflict(
            "the session is already cancelled".into(),
        ));
    }
    let live = event_session::Entity::find()
        .filter(event_session::Column::EventId.eq(ev.id))
        .filter(event_session::Column::CancelledAt.is_null())
        .count(&txn)
        .await?;
    let effects = if live == 0 {
        event::Entity::update_many()
            .col_expr(event::Column::Status, Expr::value(EventStatus::Cancelled))
            .filter(event::Column::Id.eq(ev.id))
            .exec(&txn)
            .await?;
        crate::audit::service::record(
            &txn,
            actor,
            crate::audit::service::Entry {
                action: "event.cancel",
                target_type: "event",
                target_id: Some(ev.id.to_string()),
                event_id: Some(ev.id),
                detail: serde_json::json!({ "from": format!("{:?}", ev.status), "title": ev.title, "lastSession": id }),
            },
        )
        .await?;
        crate::reservations::service::cancel_all_for_event(&txn, &state.settings, ev.id).await?
    } else {
        let types: Vec<Uuid> = ticket_type::Entity::find()
            .select_only()
            .column(ticket_type::Column::Id)
            .filter(ticket_type::Column::SessionId.eq(id))
            .into_tuple()
            .all(&txn)
            .await?;
        crate::audit::service::record(
            &txn,
            actor,
            crate::audit::service::Entry {
                action: "session.cancel",
                target_type: "session",
                target_id: Some(id.to_string()),
                event_id: Some(ev.id),
                detail: serde_json::json!({ "title": ev.title }),
            },
        )
        .await?;
        let effects =
            crate::reservations::service::cancel_all_in(&txn, &state.settings, ev.id, &types)
                .await?;
        sync_span(&txn, ev.id).await?;
        effects
    };
    let session = event_session::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| not_found(id))?;
    txn.commit().await?;
    crate::payments::refunds::announce(state, effects).await;
    Ok(session)
}

/// Adds a general-admission ticket type to a live session (its organizer or an admin); its name
/// is unique within the session.
pub async fn add_ticket_type(
    state: &AppState,
    viewer: &Viewer,
    actor: &Actor,
    session_id: Uuid,
    input: NewTicketType,
) -> AppResult<ticket_type::Model> {
    let (_, ev) = owned_session(&state.db, viewer, session_id).await?;
    general_admission(std::slice::from_ref(&input))?;
    let names = check_ticket_types(std::slice::from_ref(&input))?;
    let name = names.into_iter().next().unwrap_or_default();
    let txn = begin_write(&state.db).await?;
    lock_for_change(&txn, ev.id).await?;
    let session = event_session::Entity::find_by_id(session_id)
        .one(&txn)
        .await?
        .ok_or_else(|| not_found(session_id))?;
    if session.cancelled_at.is_some() {
        return Err(AppError::Conflict("the session was cancelled".into()));
    }
    let siblings = ticket_type::Entity::find()
        .filter(ticket_type::Column::SessionId.eq(session_id))
        .all(&txn)
        .await?;
    if siblings.len() >= MAX_TICKET_TYPES {
        return Err(AppError::bad_input(format!(
            "a session has at most {} ticket types",
            MAX_TICKET_TYPES
        )));
    }
    if siblings
        .iter()
        .any(|t| t.name.to_lowercase() == name.to_lowercase())
    {
        return Err(AppError::bad_input(format!(
            "the session already has a ticket type `{name}`"
        )));
    }
    let capacity = input.capacity.unwrap_or_default();
    let model = ticket_type::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_id: Set(ev.id),
        session_id: Set(session_id),
        position: Set(next_position(&txn, ev.id).await?),
        name: Set(name),
        price_cents: Set(input.price_cents),
        capacity: Set(capacity),
        available: Set(capacity),
        waiting: Set(0),
    }
    .insert(&txn)
    .await?;
    crate::audit::service::log(
        &txn,
        actor,
        "ticket_type.add",
        "ticket_type",
        model.id,
        Some(ev.id),
        serde_json::json!({ "session": session_id, "name": model.name,
                            "priceCents": model.price_cents, "capacity": model.capacity }),
    )
    .await?;
    txn.commit().await?;
    state.live.announce(Effects::seats(ev.id));
    Ok(model)
}

/// One day of the calendar: its UTC date and the sessions starting on it, by start.
pub struct CalendarDay {
    pub date: NaiveDate,
    pub sessions: Vec<event_session::Model>,
}

/// The days in [from, to) on which at least one live session of a published event matching
/// `filter` starts, each with those sessions ordered by start. The range is at most
/// `MAX_CALENDAR_DAYS` long.
pub async fn calendar(
    state: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    filter: &EventFilter,
) -> AppResult<Vec<CalendarDay>> {
    if to <= from {
        return Err(AppError::bad_input("`to` must be after `from`"));
    }
    if to - from > Duration::days(MAX_CALENDAR_DAYS) {
        return Err(AppError::bad_input(format!(
            "the calendar spans at most {MAX_CALENDAR_DAYS} days"
        )));
    }
    // Published events only, whoever asks: the calendar is the public month view.
    let cond = super::service::matching(state.db.get_database_backend(), None, filter)?;
    let rows = event_session::Entity::find()
        .join(
            sea_orm::JoinType::InnerJoin,
            event_session::Relation::Event.def(),
        )
        .filter(cond)
        .filter(event_session::Column::CancelledAt.is_null())
        .filter(event_session::Column::StartsAt.gte(truncate_micros(from)))
        .filter(event_session::Column::StartsAt.lt(truncate_micros(to)))
        .order_by_asc(event_session::Column::StartsAt)
        .order_by_asc(event_session::Column::Id)
        .limit(MAX_CALENDAR_SESSIONS + 1)
        .all(&state.db)
        .await?;
    if rows.len() as u64 > MAX_CALENDAR_SESSIONS {
        return Err(AppError::bad_input(format!(
            "more than {MAX_CALENDAR_SESSIONS} sessions in this range: narrow it or the filter"
        )));
    }
    Ok(by_day(rows))
}

/// Groups sessions (already ordered by start) by the UTC date they start on.
fn by_day(rows: Vec<event_session::Model>) -> Vec<CalendarDay> {
    let mut days: BTreeMap<NaiveDate, Vec<event_session::Model>> = BTreeMap::new();
    for s in rows {
        days.entry(s.starts_at.date_naive()).or_default().push(s);
    }
    days.into_iter()
        .map(|(date, sessions)| CalendarDay { date, sessions })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + h * 3600, 0).unwrap()
    }

    #[test]
    fn days_group_sessions_by_utc_date_in_order() {
        let s = |h: i64| event_session::Model {
            id: Uuid::now_v7(),
            event_id: Uuid::nil(),
            starts_at: at(h),
            ends_at: None,
            cancelled_at: None,
            created_at: at(0),
        };
        let days = by_day(vec![s(1), s(2), s(30)]);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].sessions.len(), 2);
        assert_eq!(days[1].date, at(30).date_naive());
    }
}
