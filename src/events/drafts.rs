//! Deleting a draft that never sold anything, and cloning an event into a new draft: its
//! details, ticket types at full capacity, seat map and cancellation policy, and nothing of its
//! sales. Categories are copied too, and the sessions, shifted so the first starts at the new
//! start.

use chrono::{DateTime, Utc};
use entity::event::{self, EventStatus};
use entity::event_seat::{self, SeatStatus};
use entity::{reservation, ticket_type, waitlist_entry};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::auth::{Role, Viewer};
use crate::db::{begin_write, now, truncate_micros};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Seats inserted per statement (well under SQLite's bound-variable limit).
const SEAT_CHUNK: usize = 500;

fn not_found(id: Uuid) -> AppError {
    AppError::NotFound(format!("event {id} not found"))
}

fn may_change(viewer: &Viewer, ev: &event::Model) -> AppResult<()> {
    if ev.organizer_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::Forbidden(
            "only the event's organizer or an admin can do this".into(),
        ));
    }
    Ok(())
}

/// Deletes a DRAFT event that never sold anything, with its ticket types and seats. Anything
/// else is `CONFLICT` (cancel it instead). The event row is locked first, so a publishEvent
/// racing this either published before (then this is a CONFLICT) or finds no event.
pub async fn delete(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
) -> AppResult<bool> {
    let txn = begin_write(&state.db).await?;
    let ev = event::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| not_found(id))?;
    may_change(viewer, &ev)?;
    if ev.status != EventStatus::Draft {
        return Err(AppError::Conflict(
            "only a draft can be deleted; cancel the event instead".into(),
        ));
    }
    let reserved = reservation::Entity::find()
        .filter(reservation::Column::EventId.eq(id))
        .count(&txn)
        .await?
        + waitlist_entry::Entity::find()
            .filter(waitlist_entry::Column::EventId.eq(id))
            .count(&txn)
            .await?;
    if reserved > 0 {
        return Err(AppError::Conflict(
            "this event already sold tickets; cancel it instead".into(),
        ));
    }
    event_seat::Entity::delete_many()
        .filter(event_seat::Column::EventId.eq(id))
        .exec(&txn)
        .await?;
    super::discovery::set_categories(&txn, id, &[]).await?;
    ticket_type::Entity::delete_many()
        .filter(ticket_type::Column::EventId.eq(id))
        .exec(&txn)
        .await?;
    event::Entity::delete_by_id(id).exec(&txn).await?;
    let detail = serde_json::json!({ "title": ev.title });
    crate::audit::service::log(&txn, actor, "event.delete", "event", id, Some(id), detail).await?;
    txn.commit().await?;
    Ok(true)
}

/// A DRAFT copy of an event the viewer organizes (or any event, for an admin), owned by the
/// viewer and starting at `starts_at` (the end moves with it): details, cancellation policy,
/// transfer rule, ticket types at full capacity and the seat map with every seat available.
pub async fn clone_event(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
    starts_at: DateTime<Utc>,
) -> AppResult<event::Model> {
    if viewer.role == Role::User {
        return Err(AppError::Forbidden(
            "only organizers can create events".into(),
        ));
    }
    let source = event::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| not_found(id))?;
    may_change(viewer, &source)?;
    let starts_at = truncate_micros(starts_at);
    if starts_at <= Utc::now() {
        return Err(AppError::bad_input("startsAt must be in the future"));
    }
    // The sessions to copy: the live ones (a session cancelled on its own is not re-run), or
    // all of them when the whole event was called off. Shifted together, so the first starts at
    // `starts_at` and the gaps between them stay.
    let all = super::schedule::of_event(&state.db, id).await?;
    let live: Vec<_> = all
        .iter()
        .filter(|s| s.cancelled_at.is_none())
        .cloned()
        .collect();
    let sessions = if live.is_empty() { all } else { live };
    let shift = starts_at
        - sessions
            .iter()
            .map(|s| s.starts_at)
            .min()
            .unwrap_or(source.starts_at);
    let (span_start, ends_at) = super::schedule::span(
        sessions
            .iter()
            .map(|s| (s.starts_at + shift, s.ends_at.map(|e| e + shift))),
    )
    .unwrap_or((
        starts_at,
        source
            .ends_at
            .map(|end| starts_at + (end - source.starts_at)),
    ));

    let txn = begin_write(&state.db).await?;
    let at = now();
    let new_id = Uuid::now_v7();
    let copy = event::ActiveModel {
        id: Set(new_id),
        organizer_id: Set(viewer.user_id),
        title: Set(source.title.clone()),
        description: Set(source.description.clone()),
        venue: Set(source.venue.clone()),
        starts_at: Set(span_start),
        ends_at: Set(ends_at),
        status: Set(EventStatus::Draft),
        created_at: Set(at),
        updated_at: Set(at),
        cancellation_policy: Set(source.cancellation_policy.clone()),
        allow_transfers: Set(source.allow_transfers),
    }
    .insert(&txn)
    .await?;
    let types = ticket_type::Entity::find()
        .filter(ticket_type::Column::EventId.eq(id))
        .order_by_asc(ticket_type::Column::Position)
        .all(&txn)
        .await?;
    let mut mapped = std::collections::HashMap::with_capacity(types.len());
    for session in &sessions {
        let new_session = entity::event_session::ActiveModel {
            id: Set(Uuid::now_v7()),
            event_id: Set(new_id),
            starts_at: Set(session.starts_at + shift),
            ends_at: Set(session.ends_at.map(|e| e + shift)),
            cancelled_at: Set(None),
            created_at: Set(at),
        }
        .insert(&txn)
        .await?;
        for t in types.iter().filter(|t| t.session_id == session.id) {
            let new_type = Uuid::now_v7();
            mapped.insert(t.id, new_type);
            ticket_type::ActiveModel {
                id: Set(new_type),
                event_id: Set(new_id),
                session_id: Set(new_session.id),
                position: Set(t.position),
                name: Set(t.name.clone()),
                price_cents: Set(t.price_cents),
                capacity: Set(t.capacity),
                available: Set(t.capacity),
                waiting: Set(0),
            }
            .insert(&txn)
            .await?;
        }
    }
    let seats = event_seat::Entity::find()
        .filter(event_seat::Column::EventId.eq(id))
        .all(&txn)
        .await?;
    let mut rows: Vec<event_seat::ActiveModel> = seats
        .into_iter()
        .filter_map(|s| {
            let ticket_type_id = *mapped.get(&s.ticket_type_id)?;
            Some(event_seat::ActiveModel {
                id: Set(Uuid::now_v7()),
                event_id: Set(new_id),
                ticket_type_id: Set(ticket_type_id),
                section: Set(s.section),
                section_index: Set(s.section_index),
                row_label: Set(s.row_label),
                row_index: Set(s.row_index),
                number: Set(s.number),
                label: Set(s.label),
                status: Set(SeatStatus::Available),
                reservation_id: Set(None),
            })
        })
        .collect();
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(SEAT_CHUNK));
        event_seat::Entity::insert_many(std::mem::replace(&mut rows, rest))
            .exec(&txn)
            .await?;
    }
    let categories = super::discovery::categories_of(&txn, id).await?;
    super::discovery::set_categories(&txn, new_id, &categories).await?;
    let detail = serde_json::json!({ "from": id.to_string(), "title": copy.title });
    crate::audit::service::log(
        &txn,
        actor,
        "event.clone",
        "event",
        new_id,
        Some(new_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(copy)
}
