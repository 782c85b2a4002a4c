//! Seats that come back go to the waitlist before the public.
//!
//! Everything here runs inside the caller's write transaction, right where seats return (a hold
//! released, a paid reservation cancelled) or a waitlist changes, so there is no moment where
//! returned seats sit free while people wait. The guards live in the database:
//! - `ticket_types.waiting` counts WAITING entries, and public `reserve` takes seats only
//!   `WHERE waiting = 0`: while anyone waits, free seats are the waitlist's.
//! - Offers for one ticket type are decided under its row lock (`FOR UPDATE` on PostgreSQL; the
//!   SQLite write transaction is exclusive), so two instances never offer the same seats twice
//!   and each reads the queue its predecessor left.
//! - The earliest WAITING entry whose quantity fits gets the seats; an entry too large for what
//!   is free (or, seated, with no row holding its run of adjacent seats) keeps its place.
//!
//! This module imports no reservation service (the reservation service calls it), so it writes
//! the offer's reservation itself.

use chrono::Duration;
use entity::event::{self, EventStatus};
use entity::notification::NotificationKind;
use entity::reservation::{self, ReservationStatus};
use entity::ticket_type;
use entity::waitlist_entry::{self, WaitlistStatus};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::config::Settings;
use crate::db::now;
use crate::error::{AppError, AppResult};
use crate::live::Effects;
use crate::seating::service::{SeatRequest, best_available, hold, is_seated};

/// Entries looked at per round; a longer queue is walked round by round.
const BATCH: u64 = 200;

/// Offers the free seats of `ticket_type_id` to its waitlist, first come first served, for as
/// long as an entry fits. A no-op when nobody waits, nothing is free, or the event is not on
/// sale (cancelled, draft, started).
pub async fn offer_free_seats(
    db: &impl ConnectionTrait,
    settings: &Settings,
    ticket_type_id: Uuid,
) -> AppResult<Effects> {
    let mut effects = Effects::default();
    let Some(tt) = ticket_type::Entity::find_by_id(ticket_type_id)
        .lock_exclusive()
        .one(db)
        .await?
    else {
        return Ok(effects);
    };
    if tt.waiting == 0 || tt.available == 0 {
        return Ok(effects);
    }
    let Some(ev) = event::Entity::find_by_id(tt.event_id).one(db).await? else {
        return Ok(effects);
    };
    if ev.status != EventStatus::Published || ev.starts_at <= now() {
        return Ok(effects);
    }
    let seated = is_seated(db, tt.id).await?;
    let mut available = tt.available;
    // Entries passed over in this call (seated, no adjacent run): they keep their place.
    let mut passed: Vec<Uuid> = Vec::new();
    loop {
        let mut query = waitlist_entry::Entity::find()
            .filter(waitlist_entry::Column::TicketTypeId.eq(tt.id))
            .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
            .filter(waitlist_entry::Column::Quantity.lte(available));
        if !passed.is_empty() {
            query = query.filter(waitlist_entry::Column::Id.is_not_in(passed.iter().copied()));
        }
        let queue = query
            .order_by_asc(waitlist_entry::Column::CreatedAt)
            .order_by_asc(waitlist_entry::Column::Id)
            .limit(BATCH)
            .all(db)
            .await?;
        if queue.is_empty() {
            break;
        }
        for entry in queue {
            if entry.quantity > available {
                continue;
            }
            match offer(db, settings, &tt, &ev, &entry, seated).await? {
                Some(done) => {
                    available -= entry.quantity;
                    effects.merge(done);
                }
                None => passed.push(entry.id),
            }
            if available == 0 {
                return Ok(effects);
            }
        }
    }
    Ok(effects)
}

/// Holds seats for one entry: a PENDING reservation in the entry's owner's name, held until the
/// offer's deadline. `None` when a seated ticket type has no row with the entry's run of seats.
async fn offer(
    db: &impl ConnectionTrait,
    settings: &Settings,
    tt: &ticket_type::Model,
    ev: &event::Model,
    entry: &waitlist_entry::Model,
    seated: bool,
) -> AppResult<Option<Effects>> {
    let seats = if seated {
        match best_available(db, tt, entry.quantity).await? {
            Some(ids) => Some(ids),
            None => return Ok(None),
        }
    } else {
        None
    };
    let taken = ticket_type::Entity::update_many()
        .col_expr(
            ticket_type::Column::Available,
            Expr::col(ticket_type::Column::Available).sub(entry.quantity),
        )
        .col_expr(
            ticket_type::Column::Waiting,
            Expr::col(ticket_type::Column::Waiting).sub(1),
        )
        .filter(ticket_type::Column::Id.eq(tt.id))
        .filter(ticket_type::Column::Available.gte(entry.quantity))
        .filter(ticket_type::Column::Waiting.gte(1))
        .exec(db)
        .await?;
    if taken.rows_affected != 1 {
        return Err(AppError::internal(anyhow::anyhow!(
            "ticket type {} changed under its own lock while offering",
            tt.id
        )));
    }
    let at = now();
    let deadline = at + Duration::seconds(settings.waitlist_offer_seconds as i64);
    let amount = tt
        .price_cents
        .checked_mul(i64::from(entry.quantity))
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("offer amount overflows")))?;
    let r = reservation::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(entry.user_id),
        event_id: Set(ev.id),
        ticket_type_id: Set(tt.id),
        quantity: Set(entry.quantity),
        amount_cents: Set(amount),
        status: Set(ReservationStatus::Pending),
        expires_at: Set(deadline),
        idempotency_key: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        expiry_warned_at: Set(None),
    }
    .insert(db)
    .await?;
    if let Some(ids) = seats {
        hold(db, &r, tt, &SeatRequest::Chosen(ids)).await?;
    }
    let moved = waitlist_entry::Entity::update_many()
        .col_expr(
            waitlist_entry::Column::Status,
            Expr::value(WaitlistStatus::Offered),
        )
        .col_expr(
            waitlist_entry::Column::OfferReservationId,
            Expr::value(r.id),
        )
        .col_expr(
            waitlist_entry::Column::OfferExpiresAt,
            Expr::value(deadline),
        )
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(at))
        .filter(waitlist_entry::Column::Id.eq(entry.id))
        .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
        .exec(db)
        .await?;
    if moved.rows_affected != 1 {
        return Err(AppError::internal(anyhow::anyhow!(
            "waitlist entry {} changed under its ticket type's lock",
            entry.id
        )));
    }
    let message = format!(
        "Good news: {} seat(s) of `{}` for {} are held for you from the waitlist until {}. Pay to keep them.",
        entry.quantity,
        tt.name,
        ev.title,
        deadline.format("%Y-%m-%d %H:%M UTC")
    );
    let n = crate::notifications::service::notify(
        db,
        entry.user_id,
        NotificationKind::WaitlistOffer,
        message,
        Some(r.id),
        Some(ev.id),
    )
    .await?;
    let mut effects = Effects::seats(ev.id);
    effects.notifications.push(n);
    effects.waitlists.push(tt.id);
    Ok(Some(effects))
}

/// A hold was released: if it was an entry's offer, the entry ends (EXPIRED when the offer
/// lapsed, LEFT when its owner cancelled it). Returns the ticket type when an entry changed.
pub async fn offer_released(
    db: &impl ConnectionTrait,
    r: &reservation::Model,
    to: ReservationStatus,
) -> AppResult<Option<Uuid>> {
    let status = if to == ReservationStatus::Expired {
        WaitlistStatus::Expired
    } else {
        WaitlistStatus::Left
    };
    let done = waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::Status, Expr::value(status))
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(now()))
        .filter(waitlist_entry::Column::OfferReservationId.eq(r.id))
        .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Offered))
        .exec(db)
        .await?;
    Ok((done.rows_affected > 0).then_some(r.ticket_type_id))
}

/// An offer was paid: its entry is FULFILLED.
pub async fn offer_paid(db: &impl ConnectionTrait, r: &reservation::Model) -> AppResult<Effects> {
    let done = waitlist_entry::Entity::update_many()
        .col_expr(
            waitlist_entry::Column::Status,
            Expr::value(WaitlistStatus::Fulfilled),
        )
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(now()))
        .filter(waitlist_entry::Column::OfferReservationId.eq(r.id))
        .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Offered))
        .exec(db)
        .await?;
    Ok(if done.rows_affected > 0 {
        Effects::waitlist(r.ticket_type_id)
    } else {
        Effects::default()
    })
}

/// The event was cancelled: every live entry EXPIRES and nobody waits any more. Runs before the
/// event's holds are released, so offered entries end as EXPIRED, not LEFT.
pub async fn close_for_event(db: &impl ConnectionTrait, event_id: Uuid) -> AppResult<Effects> {
    let types: Vec<Uuid> = waitlist_entry::Entity::find()
        .select_only()
        .column(waitlist_entry::Column::TicketTypeId)
        .filter(waitlist_entry::Column::EventId.eq(event_id))
        .filter(
            waitlist_entry::Column::Status
                .is_in([WaitlistStatus::Waiting, WaitlistStatus::Offered]),
        )
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    if types.is_empty() {
        return Ok(Effects::default());
    }
    // The ticket types' rows before the entries: the lock order of every waitlist change.
    ticket_type::Entity::update_many()
        .col_expr(ticket_type::Column::Waiting, Expr::value(0))
        .filter(ticket_type::Column::EventId.eq(event_id))
        .exec(db)
        .await?;
    waitlist_entry::Entity::update_many()
        .col_expr(
            waitlist_entry::Column::Status,
            Expr::value(WaitlistStatus::Expired),
        )
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(now()))
        .filter(waitlist_entry::Column::EventId.eq(event_id))
        .filter(
            waitlist_entry::Column::Status
                .is_in([WaitlistStatus::Waiting, WaitlistStatus::Offered]),
        )
        .exec(db)
        .await?;
    Ok(Effects {
        waitlists: types,
        ..Default::default()
    })
}

/// A session was cancelled: the live entries of its ticket types EXPIRE, as `close_for_event`
/// does for a whole event.
pub async fn close_for_ticket_types(
    db: &impl ConnectionTrait,
    ticket_types: &[Uuid],
) -> AppResult<Effects> {
    let types: Vec<Uuid> = waitlist_entry::Entity::find()
        .select_only()
        .column(waitlist_entry::Column::TicketTypeId)
        .filter(waitlist_entry::Column::TicketTypeId.is_in(ticket_types.iter().copied()))
        .filter(
            waitlist_entry::Column::Status
                .is_in([WaitlistStatus::Waiting, WaitlistStatus::Offered]),
        )
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    if types.is_empty() {
        return Ok(Effects::default());
    }
    // The ticket types' rows before the entries: the lock order of every waitlist change.
    ticket_type::Entity::update_many()
        .col_expr(ticket_type::Column::Waiting, Expr::value(0))
        .filter(ticket_type::Column::Id.is_in(types.iter().copied()))
        .exec(db)
        .await?;
    waitlist_entry::Entity::update_many()
        .col_expr(
            waitlist_entry::Column::Status,
            Expr::value(WaitlistStatus::Expired),
        )
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(now()))
        .filter(waitlist_entry::Column::TicketTypeId.is_in(types.iter().copied()))
        .filter(
            waitlist_entry::Column::Status
                .is_in([WaitlistStatus::Waiting, WaitlistStatus::Offered]),
        )
        .exec(db)
        .await?;
    Ok(Effects {
        waitlists: types,
        ..Default::default()
    })
}

/// Ticket types of events on sale where people wait while seats are free: what the sweeper
/// offers again (after a crash between a commit and its offers, or seats unblocked), a few at a
/// time.
pub async fn stalled(db: &impl ConnectionTrait, limit: u64) -> AppResult<Vec<Uuid>> {
    let on_sale = Query::select()
        .column(event::Column::Id)
        .from(event::Entity)
        .and_where(event::Column::Status.eq(EventStatus::Published))
        .and_where(event::Column::StartsAt.gt(now()))
        .to_owned();
    Ok(ticket_type::Entity::find()
        .select_only()
        .column(ticket_type::Column::Id)
        .filter(ticket_type::Column::Waiting.gt(0))
        .filter(ticket_type::Column::Available.gt(0))
        .filter(ticket_type::Column::EventId.in_subquery(on_sale))
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?)
}

/// Once an event has started nobody can be served: its WAITING entries EXPIRE (an open offer
/// still runs to its deadline, but reserve and pay refuse a started event). Returns the ticket
/// types whose queues ended.
pub async fn expire_started(db: &impl ConnectionTrait) -> AppResult<Vec<Uuid>> {
    let types = started_queues(db).await?;
    if types.is_empty() {
        return Ok(types);
    }
    ticket_type::Entity::update_many()
        .col_expr(ticket_type::Column::Waiting, Expr::value(0))
        .filter(ticket_type::Column::Id.is_in(types.iter().copied()))
        .exec(db)
        .await?;
    waitlist_entry::Entity::update_many()
        .col_expr(
            waitlist_entry::Column::Status,
            Expr::value(WaitlistStatus::Expired),
        )
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(now()))
        .filter(waitlist_entry::Column::TicketTypeId.is_in(types.iter().copied()))
        .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
        .exec(db)
        .await?;
    Ok(types)
}

/// Ticket types of started events where people still wait (a cheap read, before any write).
pub async fn started_queues(db: &impl ConnectionTrait) -> AppResult<Vec<Uuid>> {
    let started = Query::select()
        .column(event::Column::Id)
        .from(event::Entity)
        .and_where(event::Column::StartsAt.lte(now()))
        .to_owned();
    Ok(ticket_type::Entity::find()
        .select_only()
        .column(ticket_type::Column::Id)
        .filter(ticket_type::Column::Waiting.gt(0))
        .filter(ticket_type::Column::EventId.in_subquery(started))
        .limit(100)
        .into_tuple()
        .all(db)
        .await?)
}
