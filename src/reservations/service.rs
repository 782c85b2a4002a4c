//! Reservation rules: holding seats without ever overselling, releasing them exactly once,
//! cancelling (with a refund when already paid), and who may see a reservation.

use chrono::{DateTime, Duration, Utc};
use entity::event;
use entity::reservation::{self, ReservationStatus};
use entity::ticket::{self, TicketStatus};
use entity::ticket_type;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::rules::{bookable, same_request};
pub use super::rules::{event_cancelled, lock_event};
use crate::audit::Actor;
use crate::auth::Viewer;
use crate::config::Settings;
use crate::db::paging::{Page, newest_first};
use crate::db::{begin_write, is_unique_violation, now};
use crate::error::{AppError, AppResult};
use crate::input::clean_key;
use crate::live::Effects;
use crate::state::AppState;
use entity::notification::NotificationKind;

pub struct NewReservation {
    pub ticket_type_id: Uuid,
    pub quantity: i32,
    pub idempotency_key: Option<String>,
    /// For a seated ticket type: which seats (then `quantity` is their number).
    pub seats: Option<crate::seating::service::SeatRequest>,
}

/// Holds `quantity` seats for the viewer until now + HOLD_SECONDS.
///
/// The seat counter is decremented by one conditional UPDATE (`available >= quantity`) whose
/// affected-row count decides; there is no read-then-write, so concurrent buyers can never take
/// the same seat, and the CHECK constraint on `available` backs this up. Paid general admission
/// is group-committed with the other holds of its ticket type in flight on this instance
/// (`batch`: the same UPDATE takes a whole batch's seats); seated and free ones go one by one.
/// Each hold leaves a `reservation.create` audit entry.
pub async fn reserve(
    state: &AppState,
    viewer: &Viewer,
    actor: &Actor,
    input: NewReservation,
) -> AppResult<reservation::Model> {
    let max = state.settings.max_tickets_per_reservation;
    if !(1..=max).contains(&input.quantity) {
        return Err(AppError::bad_input(format!(
            "quantity must be between 1 and {max}"
        )));
    }
    let key = input
        .idempotency_key
        .as_deref()
        .map(|k| clean_key(k, "idempotencyKey"))
        .transpose()?;
    if let Some(key) = &key
        && let Some(existing) = find_by_key(&state.db, viewer.user_id, key).await?
    {
        crate::seating::service::same_seats(&state.db, &existing, input.seats.as_ref()).await?;
        return same_request(existing, input.ticket_type_id, input.quantity);
    }

    let (ticket_type, event) = reservable(state, input.ticket_type_id).await?;
    check_seat_request(state, &ticket_type, &input).await?;
    let amount = ticket_type
        .price_cents
        .checked_mul(i64::from(input.quantity))
        .ok_or_else(|| AppError::bad_input("amount overflows"))?;
    // The seam: paid general admission waits for its turn in the ticket type's next batch.
    if input.seats.is_none() && amount > 0 {
        let hold = super::batch::Hold {
            user_id: viewer.user_id,
            quantity: input.quantity,
            amount_cents: amount,
            idempotency_key: key,
            actor: actor.clone(),
        };
        return state.holds.reserve(&ticket_type, hold).await;
    }
    let hold = Duration::seconds(state.settings.hold_seconds as i64);

    let txn = begin_write(&state.db).await?;
    // Decided again inside the write, under the event's lock: the check above may be stale by
    // now, and a hold that committed after a cancelEvent had released the event's holds would
    // stay PENDING, payable, for an event that will not happen.
    bookable(&lock_event(&txn, event.id).await?, ticket_type.id)?;
    crate::events::schedule::ensure_bookable(&txn, ticket_type.session_id).await?;
    let taken = ticket_type::Entity::update_many()
        .col_expr(
            ticket_type::Column::Available,
            Expr::col(ticket_type::Column::Available).sub(input.quantity),
        )
        .filter(ticket_type::Column::Id.eq(ticket_type.id))
        .filter(ticket_type::Column::Available.gte(input.quantity))
        // While anyone waits, free seats belong to the waitlist (`waitlist::offers`).
        .filter(ticket_type::Column::Waiting.eq(0))
        .exec(&txn)
        .await?;
    if taken.rows_affected != 1 {
        txn.rollback().await?;
        return Err(sold_out(state, &ticket_type, input.quantity).await);
    }
    // Read after the ticket type's row lock: reservations of one ticket type are stamped in the
    // order they took seats (an offer made meanwhile is stamped before this one).
    let at = now();
    let inserted = reservation::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(viewer.user_id),
        event_id: Set(event.id),
        ticket_type_id: Set(ticket_type.id),
        quantity: Set(input.quantity),
        amount_cents: Set(amount),
        status: Set(ReservationStatus::Pending),
        expires_at: Set(at + hold),
        idempotency_key: Set(key.clone()),
        created_at: Set(at),
        updated_at: Set(at),
        expiry_warned_at: Set(None),
    }
    .insert(&txn)
    .await;
    match inserted {
        Ok(model) => {
            if let Some(request) = &input.seats
                && let Err(err) =
                    crate::seating::service::hold(&txn, &model, &ticket_type, request).await
            {
                txn.rollback().await?;
                return Err(err);
            }
            let entry = crate::audit::service::Entry {
                action: super::batch::AUDIT_ACTION,
                target_type: "reservation",
                target_id: Some(model.id.to_string()),
                event_id: Some(model.event_id),
                detail: super::batch::audit_detail(&model),
            };
            crate::audit::service::record(&txn, actor, entry).await?;
            let mut effects = Effects::seats(model.event_id);
            // Free tickets (RSVP): nothing to pay, so the hold is confirmed at once, in the same
            // transaction that took the seats: never more than capacity, and a replay of the
            // key answers with this confirmed reservation.
            let model = if model.amount_cents == 0 {
                let (confirmed, done) = confirm_free(&txn, model).await?;
                effects.merge(done);
                confirmed
            } else {
                model
            };
            txn.commit().await?;
            state.live.announce(effects);
            Ok(model)
        }
        // Two requests with the same key raced: the other one won; answer as it did.
        Err(err)
            if is_unique_violation(
                &err,
                "ux_reservations_user_key",
                &["reservations.user_id", "reservations.idempotency_key"],
            ) =>
        {
            txn.rollback().await?;
            let key = key.unwrap_or_default();
            let existing = find_by_key(&state.db, viewer.user_id, &key)
                .await?
                .ok_or_else(|| AppError::from(err))?;
            crate::seating::service::same_seats(&state.db, &existing, input.seats.as_ref()).await?;
            same_request(existing, input.ticket_type_id, input.quantity)
        }
        Err(err) => Err(err.into()),
    }
}

/// PENDING → CONFIRMED for a reservation that costs nothing: its tickets and a notification.
async fn confirm_free(
    db: &impl ConnectionTrait,
    r: reservation::Model,
) -> AppResult<(reservation::Model, Effects)> {
    let at = now();
    reservation::Entity::update_many()
        .col_expr(
            reservation::Column::Status,
            Expr::value(ReservationStatus::Confirmed),
        )
        .col_expr(reservation::Column::UpdatedAt, Expr::value(at))
        .filter(reservation::Column::Id.eq(r.id))
        .filter(reservation::Column::Status.eq(ReservationStatus::Pending))
        .exec(db)
        .await?;
    super::issue::issue_tickets(db, &r, at).await?;
    let message = format!(
        "Your free registration for {} seat(s) is confirmed; your tickets are ready.",
        r.quantity
    );
    let n = crate::notifications::service::notify(
        db,
        r.user_id,
        NotificationKind::ReservationConfirmed,
        message,
        Some(r.id),
        Some(r.event_id),
    )
    .await?;
    let effects = Effects {
        notifications: vec![n],
        ..Default::default()
    };
    Ok((
        reservation::Model {
            status: ReservationStatus::Confirmed,
            updated_at: at,
            ..r
        },
        effects,
    ))
}

/// Why a reserve found no seats: sold out, or free seats kept for the waitlist.
async fn sold_out(state: &AppState, ticket_type: &ticket_type::Model, quantity: i32) -> AppError {
    let waiting = ticket_type::Entity::find_by_id(ticket_type.id)
        .one(&state.db)
        .await
        .ok()
        .flatten()
        .is_some_and(|t| t.waiting > 0);
    if waiting {
        AppError::SoldOut(format!(
            "`{}` has a waitlist: seats that come back go to it first; join it with joinWaitlist",
            ticket_type.name
        ))
    } else {
        AppError::SoldOut(format!(
            "not enough seats left for `{}` ({quantity} requested)",
            ticket_type.name
        ))
    }
}

/// A seated ticket type is reserved by seat (chosen or best available), general admission only
/// by quantity.
async fn check_seat_request(
    state: &AppState,
    ticket_type: &ticket_type::Model,
    input: &NewReservation,
) -> AppResult<()> {
    let seated = crate::seating::service::is_seated(&state.db, ticket_type.id).await?;
    match (&input.seats, seated) {
        (None, true) => Err(AppError::bad_input(format!(
            "`{}` sells numbered seats: give seatIds or bestAvailable",
            ticket_type.name
        ))),
        (Some(_), false) => Err(AppError::bad_input(format!(
            "`{}` is general admission: it has no seats to choose",
            ticket_type.name
        ))),
        (Some(crate::seating::service::SeatRequest::Chosen(ids)), true)
            if ids.len() != input.quantity as usize =>
        {
            Err(AppError::bad_input(
                "quantity must be the number of seatIds",
            ))
        }
        _ => Ok(()),
    }
}

async fn find_by_key(
    db: &impl ConnectionTrait,
    user: Uuid,
    key: &str,
) -> AppResult<Option<reservation::Model>> {
    Ok(reservation::Entity::find()
        .filter(reservation::Column::UserId.eq(user))
        .filter(reservation::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// The ticket type and its event, if seats of it can be reserved now.
async fn reservable(
    state: &AppState,
    ticket_type_id: Uuid,
) -> AppResult<(ticket_type::Model, event::Model)> {
    let not_found = || AppError::NotFound(format!("ticket type {ticket_type_id} not found"));
    let (ticket_type, event) = ticket_type::Entity::find_by_id(ticket_type_id)
        .find_also_related(event::Entity)
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    let event = event.ok_or_else(not_found)?;
    bookable(&event, ticket_type_id)?;
    crate::events::schedule::ensure_bookable(&state.db, ticket_type.session_id).await?;
    Ok((ticket_type, event))
}

/// Moves a PENDING reservation to `to` (EXPIRED or CANCELLED) and gives its seats back. The
/// status condition makes this happen at most once however many sweepers, payers and cancellers
/// race for it. Returns what to announce if this call did it, `None` if someone else did.
pub async fn release_hold(
    db: &impl ConnectionTrait,
    settings: &Settings,
    r: &reservation::Model,
    to: ReservationStatus,
    expired_before: Option<DateTime<Utc>>,
) -> AppResult<Option<Effects>> {
    let mut update = reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value(to))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(now()))
        .filter(reservation::Column::Id.eq(r.id))
        .filter(reservation::Column::Status.eq(ReservationStatus::Pending));
    if let Some(at) = expired_before {
        update = update.filter(reservation::Column::ExpiresAt.lte(at));
    }
    if update.exec(db).await?.rows_affected != 1 {
        return Ok(None);
    }
    let mut effects = Effects::seats(r.event_id);
    // Lock order everywhere: the reservation, its ticket type's row, then seats and waitlist
    // entries (reserve and joinWaitlist take the row before seats and entries).
    give_back(db, r).await?;
    if let Some(t) = crate::waitlist::offers::offer_released(db, r, to).await? {
        effects.waitlists.push(t);
    }
    effects.merge(crate::waitlist::offers::offer_free_seats(db, settings, r.ticket_type_id).await?);
    if to == ReservationStatus::Expired {
        let message = format!(
            "Your hold on {} seat(s) expired before payment; the seats were released.",
            r.quantity
        );
        effects.notifications.push(
            crate::notifications::service::notify(
                db,
                r.user_id,
                NotificationKind::HoldExpired,
                message,
                Some(r.id),
                Some(r.event_id),
            )
            .await?,
        );
    }
    Ok(Some(effects))
}

/// Gives a reservation's seats back, to the waitlist first (`waitlist::offers`).
async fn return_seats(
    db: &impl ConnectionTrait,
    settings: &Settings,
    r: &reservation::Model,
) -> AppResult<Effects> {
    give_back(db, r).await?;
    crate::waitlist::offers::offer_free_seats(db, settings, r.ticket_type_id).await
}

/// The counter first (its row lock is what reserve takes before touching seats), then the seats.
async fn give_back(db: &impl ConnectionTrait, r: &reservation::Model) -> AppResult<()> {
    ticket_type::Entity::update_many()
        .col_expr(
            ticket_type::Column::Available,
            Expr::col(ticket_type::Column::Available).add(r.quantity),
        )
        .filter(ticket_type::Column::Id.eq(r.ticket_type_id))
        .exec(db)
        .await?;
    crate::seating::service::release(db, r.id).await?;
    Ok(())
}

/// Locks a reservation row for the rest of the transaction (`FOR UPDATE` on PostgreSQL; on SQLite
/// the IMMEDIATE transaction already holds the database's write lock).
pub async fn lock(db: &impl ConnectionTrait, id: Uuid) -> AppResult<reservation::Model> {
    reservation::Entity::find_by_id(id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("reservation {id} not found")))
}

/// Cancels a reservation (its owner or an admin). A hold gives its seats back; a paid
/// reservation is refunded exactly what the event's cancellation policy returns at the moment
/// this commits (`events::policy`; a quote fetched earlier never binds), back the way the money
/// came (wallet or card), and its tickets are voided. Past the policy's last rule (by default:
/// once the event has started) cancelling is refused with `BAD_USER_INPUT`.
pub async fn cancel(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
) -> AppResult<reservation::Model> {
    let not_found = || AppError::NotFound(format!("reservation {id} not found"));
    let event_id = reservation::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?
        .event_id;
    let txn = begin_write(&state.db).await?;
    // Lock order: the event before its reservations, as cancelEvent and pay do.
    let event = lock_event(&txn, event_id).await?;
    let r = lock(&txn, id).await?;
    if r.user_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::Forbidden(
            "only the reservation's owner or an admin can cancel it".into(),
        ));
    }
    let mut refund_cents = None;
    let effects = match r.status {
        ReservationStatus::Pending => release_hold(
            &txn,
            &state.settings,
            &r,
            ReservationStatus::Cancelled,
            None,
        )
        .await?
        .unwrap_or_default(),
        ReservationStatus::Confirmed => {
            let q = quote_paid(&event, &r, now())?;
            if !q.allowed {
                return Err(AppError::bad_input(q.reason.unwrap_or_else(|| {
                    "this reservation can no longer be cancelled".into()
                })));
            }
            let mut effects = cancel_confirmed(&txn, &state.settings, &r).await?;
            // A free (RSVP) reservation moved no money: nothing to refund.
            if r.amount_cents > 0 {
                effects.merge(crate::payments::ledger::refund(&txn, &r, q.refund_cents).await?);
            }
            refund_cents = Some(q.refund_cents.clamp(0, r.amount_cents));
            effects
        }
        ReservationStatus::Cancelled => {
            return Err(AppError::Conflict(
                "the reservation is already cancelled".into(),
            ));
        }
        ReservationStatus::Expired => {
            return Err(AppError::Conflict("the reservation has expired".into()));
        }
    };
    let updated = reservation::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let detail =
        serde_json::json!({ "was": format!("{:?}", r.status), "refundCents": refund_cents });
    crate::audit::service::log(
        &txn,
        actor,
        "reservation.cancel",
        "reservation",
        id,
        Some(event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    crate::payments::refunds::announce(state, effects).await;
    Ok(updated)
}

/// What cancelling a paid reservation returns at `at`, under its event's policy.
fn quote_paid(
    event: &event::Model,
    r: &reservation::Model,
    at: DateTime<Utc>,
) -> AppResult<crate::events::policy::Quote> {
    let policy = crate::events::policy::Policy::from_json(event.cancellation_policy.as_deref())?;
    Ok(crate::events::policy::quote(
        policy.as_ref(),
        event.starts_at,
        at,
        r.amount_cents,
        r.quantity,
    ))
}

/// What cancelling the reservation would do now, for its owner (or the organizer, or an admin).
pub async fn refund_quote(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<crate::events::policy::Quote> {
    let r = find_for_viewer(state, viewer, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("reservation {id} not found")))?;
    let refused = |reason: &str| crate::events::policy::Quote {
        allowed: false,
        refund_cents: 0,
        fee_cents: 0,
        kept_cents: 0,
        refund_percent: 0,
        valid_until: None,
        reason: Some(reason.to_string()),
    };
    Ok(match r.status {
        ReservationStatus::Pending => crate::events::policy::Quote {
            allowed: true,
            refund_cents: 0,
            fee_cents: 0,
            kept_cents: 0,
            refund_percent: 100,
            valid_until: Some(r.expires_at),
            reason: Some("nothing was paid yet: cancelling releases the hold".into()),
        },
        ReservationStatus::Confirmed => {
            let event = event::Entity::find_by_id(r.event_id)
                .one(&state.db)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("event {} not found", r.event_id)))?;
            quote_paid(&event, &r, now())?
        }
        ReservationStatus::Cancelled => refused("the reservation is already cancelled"),
        ReservationStatus::Expired => refused("the reservation has expired"),
    })
}

/// For a cancelled event: every waitlist entry ends, every hold is released, and every paid
/// reservation is cancelled and refunded in full, whatever the policy.
/// Runs inside the caller's transaction, after its UPDATE of the event's status: that UPDATE's row
/// lock waited for every reserve and pay holding `lock_event`, so (on PostgreSQL, where this
/// statement reads what committed before it started) their holds and payments are seen here,
/// and later ones read CANCELLED. Returns what to announce after the commit.
pub async fn cancel_all_for_event(
    db: &impl ConnectionTrait,
    settings: &Settings,
    event_id: Uuid,
) -> AppResult<Effects> {
    cancel_all(db, settings, event_id, None).await
}

/// `cancel_all_for_event` for some ticket types of the event only (a cancelled session's):
/// the same releases, refunds and closed waitlists, the same locks in the same order. The
/// caller holds the event's row lock, as cancelEvent's UPDATE does.
pub async fn cancel_all_in(
    db: &impl ConnectionTrait,
    settings: &Settings,
    event_id: Uuid,
    ticket_types: &[Uuid],
) -> AppResult<Effects> {
    cancel_all(db, settings, event_id, Some(ticket_types)).await
}

async fn cancel_all(
    db: &impl ConnectionTrait,
    settings: &Settings,
    event_id: Uuid,
    only: Option<&[Uuid]>,
) -> AppResult<Effects> {
    let mut open = reservation::Entity::find()
        .filter(reservation::Column::EventId.eq(event_id))
        .filter(
            reservation::Column::Status
                .is_in([ReservationStatus::Pending, ReservationStatus::Confirmed]),
        );
    if let Some(types) = only {
        open = open.filter(reservation::Column::TicketTypeId.is_in(types.iter().copied()));
    }
    let open = open
        // Wallets are credited in buyer order, so two events cancelled at once that share
        // buyers lock their wallets in the same order and cannot deadlock.
        .order_by_asc(reservation::Column::UserId)
        .order_by_asc(reservation::Column::Id)
        .lock_exclusive()
        .all(db)
        .await?;
    // After the reservations, as every other path locks them before ticket types and entries.
    let mut effects = match only {
        None => crate::waitlist::offers::close_for_event(db, event_id).await?,
        Some(types) => crate::waitlist::offers::close_for_ticket_types(db, types).await?,
    };
    effects.merge(Effects::seats(event_id));
    for r in &open {
        match r.status {
            ReservationStatus::Pending => {
                effects.merge(
                    release_hold(db, settings, r, ReservationStatus::Cancelled, None)
                        .await?
                        .unwrap_or_default(),
                );
            }
            _ => {
                effects.merge(cancel_confirmed(db, settings, r).await?);
                if r.amount_cents > 0 {
                    effects.merge(crate::payments::ledger::refund(db, r, r.amount_cents).await?);
                }
            }
        }
    }
    Ok(effects)
}

/// CONFIRMED → CANCELLED: seats back (to the waitlist first), tickets void. The caller refunds.
async fn cancel_confirmed(
    db: &impl ConnectionTrait,
    settings: &Settings,
    r: &reservation::Model,
) -> AppResult<Effects> {
    let done = reservation::Entity::update_many()
        .col_expr(
            reservation::Column::Status,
            Expr::value(ReservationStatus::Cancelled),
        )
        .col_expr(reservation::Column::UpdatedAt, Expr::value(now()))
        .filter(reservation::Column::Id.eq(r.id))
        .filter(reservation::Column::Status.eq(ReservationStatus::Confirmed))
        .exec(db)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::Conflict(
            "the reservation is no longer confirmed".into(),
        ));
    }
    ticket::Entity::update_many()
        .col_expr(ticket::Column::Status, Expr::value(TicketStatus::Void))
        .filter(ticket::Column::ReservationId.eq(r.id))
        .exec(db)
        .await?;
    return_seats(db, settings, r).await
}

/// A reservation as the viewer may see it: its owner, the event's organizer, or an admin.
/// `None` if it does not exist; `FORBIDDEN` for anyone else.
pub async fn find_for_viewer(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<reservation::Model>> {
    let Some(r) = reservation::Entity::find_by_id(id).one(&state.db).await? else {
        return Ok(None);
    };
    if r.user_id == viewer.user_id || viewer.is_admin() {
        return Ok(Some(r));
    }
    let organizer = event::Entity::find_by_id(r.event_id)
        .one(&state.db)
        .await?
        .map(|e| e.organizer_id);
    if organizer == Some(viewer.user_id) {
        return Ok(Some(r));
    }
    Err(AppError::Forbidden(
        "this reservation belongs to someone else".into(),
    ))
}

/// The viewer's reservations, newest first.
pub async fn list_mine(
    state: &AppState,
    viewer: &Viewer,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<reservation::Model>> {
    let mine = Condition::all().add(reservation::Column::UserId.eq(viewer.user_id));
    let columns = (reservation::Column::CreatedAt, reservation::Column::Id);
    newest_first::<reservation::Entity>(
        &state.db,
        mine,
        columns,
        |r| (r.created_at, r.id),
        first,
        after,
    )
    .await
}
