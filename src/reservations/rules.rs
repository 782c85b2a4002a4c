//! What every hold must satisfy, shared by `reserve` (`service`) and the group commit of
//! general-admission holds (`batch`): the event on sale, the event's lock, and a replayed
//! idempotency key asking for the same thing. Below both, so neither imports the other's
//! dependencies (the batcher lives in the shared state and may not import it).

use entity::event::{self, EventStatus};
use entity::reservation;
use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Whether seats of the event can be reserved now.
pub fn bookable(event: &event::Model, ticket_type_id: Uuid) -> AppResult<()> {
    match event.status {
        EventStatus::Draft => {
            return Err(AppError::NotFound(format!(
                "ticket type {ticket_type_id} not found"
            )));
        }
        EventStatus::Cancelled => return Err(event_cancelled()),
        EventStatus::Published => {}
    }
    // Whether it has started is the session's to say (`events::schedule::ensure_bookable`): a
    // festival's third day is still on sale while its first day runs.
    Ok(())
}

pub fn event_cancelled() -> AppError {
    AppError::Conflict("the event was cancelled".into())
}

/// Reads the event and keeps it from being cancelled until the caller's transaction ends.
///
/// PostgreSQL: `FOR SHARE`, which any number of reserves and payments hold at once, but which
/// conflicts with the row lock of cancelEvent's `UPDATE events SET status = 'CANCELLED'`. So
/// either this transaction commits first, and cancelEvent (which only then gets past its UPDATE)
/// finds and releases or refunds what it wrote; or cancelEvent committed first, and this read
/// (which waited for it, then read the newest row) sees CANCELLED. Under READ COMMITTED a plain
/// read, or a condition on the event inside another statement, would see a snapshot taken before
/// a cancel that commits an instant later; only the row lock closes that gap.
/// SQLite: write transactions are IMMEDIATE, so no other writer runs until this one ends.
///
/// Lock order: the event before any of its reservations, as cancelEvent does, or the two can
/// deadlock.
pub async fn lock_event(db: &impl ConnectionTrait, id: Uuid) -> AppResult<event::Model> {
    event::Entity::find_by_id(id)
        .lock_shared()
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {id} not found")))
}

/// A key already used answers with its reservation, if the request is the same one.
pub fn same_request(
    existing: reservation::Model,
    ticket_type_id: Uuid,
    quantity: i32,
) -> AppResult<reservation::Model> {
    if existing.ticket_type_id == ticket_type_id && existing.quantity == quantity {
        Ok(existing)
    } else {
        Err(AppError::Conflict(
            "this idempotencyKey was already used for a different reservation".into(),
        ))
    }
}
