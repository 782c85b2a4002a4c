//! The waitlist as people use it: joining when a ticket type cannot serve them, leaving (or
//! declining an offer), their place in the queue, and the organizer's view of the queue.

use entity::event::{self, EventStatus};
use entity::reservation::{self, ReservationStatus};
use entity::ticket_type;
use entity::waitlist_entry::{self, WaitlistStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::offers;
use crate::auth::Viewer;
use crate::db::paging::{Page, parse_time_cursor, time_cursor};
use crate::db::{begin_write, is_unique_violation, now};
use crate::error::{AppError, AppResult};
use crate::live::Effects;
use crate::reservations::service::{lock, lock_event, release_hold};
use crate::state::AppState;

/// Joins the waitlist of a ticket type that cannot serve `quantity` now (sold out, or free seats
/// already promised to people waiting). One live entry per user and ticket type. If seats the
/// queue holds back fit the new entry, it is offered them at once.
pub async fn join(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    ticket_type_id: Uuid,
    quantity: i32,
) -> AppResult<waitlist_entry::Model> {
    let max = state.settings.max_tickets_per_reservation;
    if !(1..=max).contains(&quantity) {
        return Err(AppError::bad_input(format!(
            "quantity must be between 1 and {max}"
        )));
    }
    let not_found = || AppError::NotFound(format!("ticket type {ticket_type_id} not found"));
    let tt = ticket_type::Entity::find_by_id(ticket_type_id)
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    let txn = begin_write(&state.db).await?;
    let ev = lock_event(&txn, tt.event_id).await?;
    on_sale(&ev).map_err(|e| match e {
        AppError::NotFound(_) => not_found(),
        other => other,
    })?;
    let tt = ticket_type::Entity::find_by_id(ticket_type_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    // A cancelled or started session has nothing left to wait for.
    crate::events::schedule::ensure_bookable(&txn, tt.session_id).await?;
    if tt.waiting == 0 && tt.available >= quantity {
        return Err(AppError::Conflict(format!(
            "{} seat(s) of `{}` are available: reserve them instead",
            tt.available, tt.name
        )));
    }
    let at = now();
    let inserted = waitlist_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_type_id: Set(tt.id),
        event_id: Set(ev.id),
        user_id: Set(viewer.user_id),
        quantity: Set(quantity),
        status: Set(WaitlistStatus::Waiting),
        offer_reservation_id: Set(None),
        offer_expires_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&txn)
    .await;
    let entry = match inserted {
        Ok(entry) => entry,
        Err(err)
            if is_unique_violation(
                &err,
                "ux_waitlist_live",
                &[
                    "waitlist_entries.user_id",
                    "waitlist_entries.ticket_type_id",
                ],
            ) =>
        {
            return Err(AppError::Conflict(format!(
                "you are already on the waitlist for `{}`",
                tt.name
            )));
        }
        Err(err) => return Err(err.into()),
    };
    ticket_type::Entity::update_many()
        .col_expr(
            ticket_type::Column::Waiting,
            Expr::col(ticket_type::Column::Waiting).add(1),
        )
        .filter(ticket_type::Column::Id.eq(tt.id))
        .exec(&txn)
        .await?;
    let mut effects = offers::offer_free_seats(&txn, &state.settings, tt.id).await?;
    effects.merge(Effects::waitlist(tt.id));
    let entry = waitlist_entry::Entity::find_by_id(entry.id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("new waitlist entry vanished")))?;
    let detail = serde_json::json!({ "ticketTypeId": tt.id.to_string(), "quantity": quantity });
    crate::audit::service::log(
        &txn,
        actor,
        "waitlist.join",
        "waitlist_entry",
        entry.id,
        Some(tt.event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    state.live.announce(effects);
    Ok(entry)
}

/// Whether people can queue for the event now.
fn on_sale(ev: &event::Model) -> AppResult<()> {
    match ev.status {
        EventStatus::Draft => Err(AppError::NotFound(String::new())),
        EventStatus::Cancelled => Err(AppError::Conflict("the event was cancelled".into())),
        EventStatus::Published if ev.starts_at <= now() => {
            Err(AppError::Conflict("the event has already started".into()))
        }
        EventStatus::Published => Ok(()),
    }
}

/// Leaves the waitlist (its owner). A WAITING entry leaves the queue; an OFFERED one declines the
/// offer, whose seats go to the next in line at once.
pub async fn leave(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
) -> AppResult<waitlist_entry::Model> {
    let not_found = || AppError::NotFound(format!("waitlist entry {id} not found"));
    let found = waitlist_entry::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|e| e.user_id == viewer.user_id || viewer.is_admin())
        .ok_or_else(not_found)?;
    let txn = begin_write(&state.db).await?;
    lock_event(&txn, found.event_id).await?;
    // Lock order as everywhere else: an offer's reservation before its ticket type's row
    // (cancelReservation and the hold sweeper lock the reservation, then return its seats).
    if let Some(offer) = found.offer_reservation_id {
        lock(&txn, offer).await?;
    }
    // Every waitlist change of a ticket type queues on its row.
    ticket_type::Entity::find_by_id(found.ticket_type_id)
        .lock_exclusive()
        .one(&txn)
        .await?;
    let entry = waitlist_entry::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    if entry.offer_reservation_id != found.offer_reservation_id {
        return Err(AppError::Conflict(
            "seats were just offered to this entry; leave again to decline the offer".into(),
        ));
    }
    let mut effects = Effects::waitlist(entry.ticket_type_id);
    match entry.status {
        WaitlistStatus::Waiting => {
            waitlist_entry::Entity::update_many()
                .col_expr(
                    waitlist_entry::Column::Status,
                    Expr::value(WaitlistStatus::Left),
                )
                .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(now()))
                .filter(waitlist_entry::Column::Id.eq(id))
                .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
                .exec(&txn)
                .await?;
            ticket_type::Entity::update_many()
                .col_expr(
                    ticket_type::Column::Waiting,
                    Expr::col(ticket_type::Column::Waiting).sub(1),
                )
                .filter(ticket_type::Column::Id.eq(entry.ticket_type_id))
                .exec(&txn)
                .await?;
            // Seats held back for a larger entry ahead may now fit someone behind.
            effects.merge(
                offers::offer_free_seats(&txn, &state.settings, entry.ticket_type_id).await?,
            );
        }
        WaitlistStatus::Offered => {
            let offer = entry
                .offer_reservation_id
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("offer without reservation")))?;
            // Locked above, before the ticket type's row.
            let r = lock(&txn, offer).await?;
            effects.merge(
                release_hold(
                    &txn,
                    &state.settings,
                    &r,
                    ReservationStatus::Cancelled,
                    None,
                )
                .await?
                .unwrap_or_default(),
            );
        }
        _ => {
            return Err(AppError::Conflict(
                "this entry is no longer on the waitlist".into(),
            ));
        }
    }
    let entry = waitlist_entry::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let detail = serde_json::json!({ "ticketTypeId": entry.ticket_type_id.to_string() });
    crate::audit::service::log(
        &txn,
        actor,
        "waitlist.leave",
        "waitlist_entry",
        id,
        Some(entry.event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    state.live.announce(effects);
    Ok(entry)
}

/// Offers free seats to the waitlists that have them (after seats were unblocked, or a crash
/// between a commit and its offers): the sweeper's backstop. Each ticket type in its own
/// transaction.
pub async fn offer_stalled(state: &AppState) -> AppResult<usize> {
    if !offers::started_queues(&state.db).await?.is_empty() {
        let txn = begin_write(&state.db).await?;
        let ended = offers::expire_started(&txn).await?;
        txn.commit().await?;
        state.live.announce(Effects {
            waitlists: ended,
            ..Default::default()
        });
    }
    let mut offered = 0;
    for t in offers::stalled(&state.db, 100).await? {
        offered += offer_now(state, t).await?;
    }
    Ok(offered)
}

/// Offers the free seats of one ticket type to its waitlist now; returns how many offers.
pub async fn offer_now(state: &AppState, ticket_type_id: Uuid) -> AppResult<usize> {
    let txn = begin_write(&state.db).await?;
    let effects = offers::offer_free_seats(&txn, &state.settings, ticket_type_id).await?;
    txn.commit().await?;
    let n = effects
        .notifications
        .iter()
        .filter(|n| n.kind == entity::notification::NotificationKind::WaitlistOffer)
        .count();
    state.live.announce(effects);
    Ok(n)
}

/// An entry as the viewer may see it: its owner, the event's organizer, or an admin.
pub async fn find_for_viewer(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<waitlist_entry::Model>> {
    let Some(entry) = waitlist_entry::Entity::find_by_id(id)
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    if entry.user_id == viewer.user_id || viewer.is_admin() {
        return Ok(Some(entry));
    }
    let organizer = event::Entity::find_by_id(entry.event_id)
        .one(&state.db)
        .await?
        .map(|e| e.organizer_id);
    if organizer == Some(viewer.user_id) {
        Ok(Some(entry))
    } else {
        // Whose entry it is stays private.
        Ok(None)
    }
}

/// 1-based place in the queue of a WAITING entry; `None` otherwise.
pub async fn position(
    db: &impl ConnectionTrait,
    entry: &waitlist_entry::Model,
) -> AppResult<Option<i32>> {
    if entry.status != WaitlistStatus::Waiting {
        return Ok(None);
    }
    let ahead = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::TicketTypeId.eq(entry.ticket_type_id))
        .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
        .filter(
            Condition::any()
                .add(waitlist_entry::Column::CreatedAt.lt(entry.created_at))
                .add(
                    Condition::all()
                        .add(waitlist_entry::Column::CreatedAt.eq(entry.created_at))
                        .add(waitlist_entry::Column::Id.lt(entry.id)),
                ),
        )
        .count(db)
        .await?;
    Ok(Some(ahead as i32 + 1))
}

/// The viewer's entries, newest first.
pub async fn list_mine(
    state: &AppState,
    viewer: &Viewer,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<waitlist_entry::Model>> {
    crate::db::paging::newest_first::<waitlist_entry::Entity>(
        &state.db,
        Condition::all().add(waitlist_entry::Column::UserId.eq(viewer.user_id)),
        (
            waitlist_entry::Column::CreatedAt,
            waitlist_entry::Column::Id,
        ),
        |e| (e.created_at, e.id),
        first,
        after,
    )
    .await
}

/// A ticket type's queue in order (first in line first), every status, for the event's
/// organizer or an admin.
pub async fn queue(
    state: &AppState,
    viewer: &Viewer,
    ticket_type_id: Uuid,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<waitlist_entry::Model>> {
    let not_found = || AppError::NotFound(format!("ticket type {ticket_type_id} not found"));
    let tt = ticket_type::Entity::find_by_id(ticket_type_id)
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    let ev = event::Entity::find_by_id(tt.event_id)
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    if ev.organizer_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::Forbidden(
            "only the event's organizer or an admin can read its waitlist".into(),
        ));
    }
    let scope = Condition::all().add(waitlist_entry::Column::TicketTypeId.eq(tt.id));
    let total = waitlist_entry::Entity::find()
        .filter(scope.clone())
        .count(&state.db)
        .await?;
    let mut query = waitlist_entry::Entity::find().filter(scope);
    if let Some(cursor) = after {
        let (at, id) = parse_time_cursor(cursor)?;
        query = query.filter(
            Condition::any()
                .add(waitlist_entry::Column::CreatedAt.gt(at))
                .add(
                    Condition::all()
                        .add(waitlist_entry::Column::CreatedAt.eq(at))
                        .add(waitlist_entry::Column::Id.gt(id)),
                ),
        );
    }
    let rows = query
        .order_by_asc(waitlist_entry::Column::CreatedAt)
        .order_by_asc(waitlist_entry::Column::Id)
        .limit(first + 1)
        .all(&state.db)
        .await?;
    Ok(Page::from_rows(
        rows,
        first,
        after.is_some(),
        total as i64,
        |e| time_cursor(e.created_at, e.id),
    ))
}

/// The offer's reservation, for `WaitlistEntry.offer`.
pub async fn offer_of(
    db: &impl ConnectionTrait,
    entry: &waitlist_entry::Model,
) -> AppResult<Option<reservation::Model>> {
    match entry.offer_reservation_id {
        Some(id) => Ok(reservation::Entity::find_by_id(id).one(db).await?),
        None => Ok(None),
    }
}

/// One entry, as it is now (live updates re-read it).
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<waitlist_entry::Model>> {
    Ok(waitlist_entry::Entity::find_by_id(id).one(db).await?)
}
