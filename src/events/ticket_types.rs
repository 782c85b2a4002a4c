//! Managing an event's ticket types after creation: renaming, repricing and resizing one, and
//! removing one that nobody ever reserved.
//!
//! Capacity is decided in the database: one conditional UPDATE moves `capacity` and `available`
//! by the same amount `WHERE capacity - available <= new capacity` (what is sold and held never
//! exceeds the new capacity), and the CHECK `0 <= available <= capacity` backs it up. A reserve
//! racing the change either took its seats first (then the condition counts them) or finds the
//! new `available`. Seats a raise frees go to the waitlist first, in the same transaction
//! (`waitlist::offers::offer_free_seats`), exactly as returned seats do.

use entity::event::{self, EventStatus};
use entity::ticket_type;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::schedule::{MAX_CAPACITY, MAX_PRICE_CENTS};
use crate::auth::Viewer;
use crate::db::begin_write;
use crate::error::{AppError, AppResult};
use crate::live::Effects;
use crate::state::AppState;

/// Changes to a ticket type; `None` keeps the current value.
#[derive(Default)]
pub struct TicketTypeChanges {
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    pub capacity: Option<i32>,
}

fn not_found(id: Uuid) -> AppError {
    AppError::NotFound(format!("ticket type {id} not found"))
}

/// The ticket type and its event, if the viewer may change them (the organizer or an admin).
async fn owned(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<(ticket_type::Model, event::Model)> {
    let (tt, ev) = ticket_type::Entity::find_by_id(id)
        .find_also_related(event::Entity)
        .one(db)
        .await?
        .ok_or_else(|| not_found(id))?;
    let ev = ev.ok_or_else(|| not_found(id))?;
    if ev.organizer_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::Forbidden(
            "only the event's organizer or an admin can change its ticket types".into(),
        ));
    }
    Ok((tt, ev))
}

fn not_cancelled(ev: &event::Model) -> AppResult<()> {
    if ev.status == EventStatus::Cancelled {
        return Err(AppError::Conflict(
            "a cancelled event cannot be changed".into(),
        ));
    }
    Ok(())
}

/// Trimmed, 1–100 characters.
fn clean_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::bad_input(
            "ticket type names must be 1 to 100 characters long",
        ));
    }
    Ok(name.to_string())
}

/// No other ticket type of the session has this name (case-insensitive).
async fn name_is_free(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    except: Uuid,
    name: &str,
) -> AppResult<()> {
    let clash = ticket_type::Entity::find()
        .filter(ticket_type::Column::SessionId.eq(session_id))
        .filter(ticket_type::Column::Id.ne(except))
        .filter(
            Expr::expr(Func::lower(Expr::col(ticket_type::Column::Name))).eq(name.to_lowercase()),
        )
        .count(db)
        .await?;
    if clash > 0 {
        return Err(AppError::bad_input(format!(
            "the session already has a ticket type `{name}`"
        )));
    }
    Ok(())
}

/// Changes a ticket type's name, price and capacity (each optional). A new price applies to
/// holds made from now on; existing holds keep the amount they were made at. Capacity can never
/// go below what is sold and held (`CONFLICT`); raising it offers the new seats to the waitlist
/// first. A seated ticket type's capacity is its seats, so it cannot be changed here.
pub async fn update(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
    changes: TicketTypeChanges,
) -> AppResult<ticket_type::Model> {
    let (tt, ev) = owned(&state.db, viewer, id).await?;
    not_cancelled(&ev)?;
    let name = changes.name.as_deref().map(clean_name).transpose()?;
    if let Some(price) = changes.price_cents
        && !(0..=MAX_PRICE_CENTS).contains(&price)
    {
        return Err(AppError::bad_input(format!(
            "priceCents must be between 0 and {MAX_PRICE_CENTS}"
        )));
    }
    if let Some(capacity) = changes.capacity {
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            return Err(AppError::bad_input(format!(
                "capacity must be between 1 and {MAX_CAPACITY}"
            )));
        }
        if capacity != tt.capacity && crate::seating::service::is_seated(&state.db, id).await? {
            return Err(AppError::bad_input(format!(
                "`{}` sells numbered seats: its capacity is its seats",
                tt.name
            )));
        }
    }

    let txn = begin_write(&state.db).await?;
    // Lock order as reserve and pay: the event (shared; cancelEvent waits) before the ticket type.
    let ev = crate::reservations::service::lock_event(&txn, ev.id).await?;
    not_cancelled(&ev)?;
    if let Some(name) = &name {
        name_is_free(&txn, tt.session_id, id, name).await?;
    }
    let mut update = ticket_type::Entity::update_many().filter(ticket_type::Column::Id.eq(id));
    let mut changed = false;
    if let Some(name) = name {
        update = update.col_expr(ticket_type::Column::Name, Expr::value(name));
        changed = true;
    }
    if let Some(price) = changes.price_cents {
        update = update.col_expr(ticket_type::Column::PriceCents, Expr::value(price));
        changed = true;
    }
    if let Some(capacity) = changes.capacity {
        // Both right-hand sides read the row as it was before this UPDATE (SQL semantics on both
        // backends), so `available` moves by exactly the change in capacity.
        update = update
            .col_expr(ticket_type::Column::Capacity, Expr::value(capacity))
            .col_expr(
                ticket_type::Column::Available,
                Expr::col(ticket_type::Column::Available)
                    .add(capacity)
                    .sub(Expr::col(ticket_type::Column::Capacity)),
            )
            .filter(
                Expr::col(ticket_type::Column::Capacity)
                    .sub(Expr::col(ticket_type::Column::Available))
                    .lte(capacity),
            );
        changed = true;
    }
    let mut effects = Effects::default();
    if changed {
        let done = update.exec(&txn).await?;
        if done.rows_affected != 1 {
            let now = ticket_type::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(|| not_found(id))?;
            txn.rollback().await?;
            return Err(AppError::Conflict(format!(
                "capacity cannot go below the {} seat(s) sold or held",
                now.capacity - now.available
            )));
        }
        if changes.capacity.is_some() {
            effects.merge(Effects::seats(ev.id));
            effects
                .merge(crate::waitlist::offers::offer_free_seats(&txn, &state.settings, id).await?);
        }
    }
    let updated = ticket_type::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| not_found(id))?;
    let detail = serde_json::json!({ "name": updated.name, "priceCents": updated.price_cents, "capacity": updated.capacity });
    crate::audit::service::log(
        &txn,
        actor,
        "ticket_type.update",
        "ticket_type",
        id,
        Some(ev.id),
        detail,
    )
    .await?;
    txn.commit().await?;
    state.live.announce(effects);
    Ok(updated)
}

/// Removes a ticket type that nobody ever reserved or waited for (`CONFLICT` otherwise), and its
/// seats on a seated event. A session keeps at least one ticket type.
pub async fn remove(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
) -> AppResult<bool> {
    let (tt, ev) = owned(&state.db, viewer, id).await?;
    not_cancelled(&ev)?;
    let txn = begin_write(&state.db).await?;
    let ev = crate::reservations::service::lock_event(&txn, ev.id).await?;
    not_cancelled(&ev)?;
    // The row lock waits for a reserve that already took seats of it; a later reserve waits for
    // this transaction and then finds no row. Checked after the lock, so nothing slips between.
    ticket_type::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| not_found(id))?;
    let used = entity::reservation::Entity::find()
        .filter(entity::reservation::Column::TicketTypeId.eq(id))
        .count(&txn)
        .await?
        + entity::waitlist_entry::Entity::find()
            .filter(entity::waitlist_entry::Column::TicketTypeId.eq(id))
            .count(&txn)
            .await?;
    if used > 0 {
        return Err(AppError::Conflict(
            "this ticket type was already reserved; it can no longer be removed".into(),
        ));
    }
    let siblings = ticket_type::Entity::find()
        .filter(ticket_type::Column::SessionId.eq(tt.session_id))
        .count(&txn)
        .await?;
    if siblings <= 1 {
        return Err(AppError::Conflict(
            "a session needs at least one ticket type".into(),
        ));
    }
    entity::event_seat::Entity::delete_many()
        .filter(entity::event_seat::Column::TicketTypeId.eq(id))
        .exec(&txn)
        .await?;
    ticket_type::Entity::delete_many()
        .filter(ticket_type::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let detail = serde_json::Value::Null;
    crate::audit::service::log(
        &txn,
        actor,
        "ticket_type.remove",
        "ticket_type",
        id,
        Some(ev.id),
        detail,
    )
    .await?;
    txn.commit().await?;
    state.live.announce(Effects::seats(ev.id));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  VIP ").unwrap(), "VIP");
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"x".repeat(101)).is_err());
    }
}
