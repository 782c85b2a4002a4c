//! What the wallet path and the card saga share: the verdict on a hold, confirming it (tickets,
//! report, notification), and recording a failed attempt. Below `service.rs` (which chooses the
//! path), `wallet.rs` and `card.rs`, so none of them imports another upward.

use entity::event::{self, EventStatus};
use entity::notification::NotificationKind;
use entity::reservation::{self, ReservationStatus};
use entity::transaction::{self, PaymentMethod, TransactionKind, TransactionStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::ledger::{self, NewTransaction};
use crate::auth::Viewer;
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::live::Effects;
use crate::notifications::service::notify;
use crate::reservations::service::{event_cancelled, lock, release_hold};
use crate::state::AppState;

/// A confirmed reservation and the transaction that paid it.
pub struct Paid {
    pub reservation: reservation::Model,
    pub transaction: transaction::Model,
}

/// Why an attempt failed. `recorded` is set when its FAILED transaction is already stored.
pub(super) struct Failed {
    pub(super) error: AppError,
    pub(super) recorded: bool,
}

impl From<AppError> for Failed {
    fn from(error: AppError) -> Self {
        Failed {
            error,
            recorded: false,
        }
    }
}

impl From<sea_orm::DbErr> for Failed {
    fn from(err: sea_orm::DbErr) -> Self {
        AppError::from(err).into()
    }
}

pub(super) enum Verdict {
    Payable,
    /// Already paid under this very key: answer with that payment.
    Replay(Box<Paid>),
    /// Still PENDING but past its expiry: release it and fail.
    Expired,
}

/// What paying `r` with `key` should do, given its current (locked or freshly read) state.
pub(super) async fn verdict(
    db: &impl ConnectionTrait,
    r: &reservation::Model,
    key: &str,
) -> AppResult<Verdict> {
    match r.status {
        ReservationStatus::Pending if r.expires_at <= now() => Ok(Verdict::Expired),
        ReservationStatus::Pending => Ok(Verdict::Payable),
        ReservationStatus::Confirmed => match succeeded_payment_of(db, r.id).await? {
            Some(t) if t.success_key.as_deref() == Some(key) => {
                Ok(Verdict::Replay(Box::new(Paid {
                    reservation: r.clone(),
                    transaction: t,
                })))
            }
            _ => Err(AppError::Conflict(
                "this reservation is already paid".into(),
            )),
        },
        ReservationStatus::Cancelled => {
            Err(AppError::Conflict("this reservation was cancelled".into()))
        }
        ReservationStatus::Expired => Err(hold_expired()),
    }
}

async fn succeeded_payment_of(
    db: &impl ConnectionTrait,
    reservation_id: Uuid,
) -> AppResult<Option<transaction::Model>> {
    Ok(transaction::Entity::find()
        .filter(transaction::Column::ReservationId.eq(reservation_id))
        .filter(transaction::Column::Kind.eq(TransactionKind::Payment))
        .filter(transaction::Column::Status.eq(TransactionStatus::Succeeded))
        .one(db)
        .await?)
}

fn hold_expired() -> AppError {
    AppError::HoldExpired("the hold on these seats has expired; reserve again".into())
}

/// Releases an expired hold now (the sweeper may not have come by yet), in its own transaction.
pub(super) async fn release_expired(state: &AppState, reservation_id: Uuid) -> AppResult<AppError> {
    let txn = begin_write(&state.db).await?;
    let r = lock(&txn, reservation_id).await?;
    let effects = release_hold(
        &txn,
        &state.settings,
        &r,
        ReservationStatus::Expired,
        Some(now()),
    )
    .await?;
    txn.commit().await?;
    state.live.announce(effects.unwrap_or_default());
    Ok(hold_expired())
}

/// No money moves for a cancelled event. Called under `lock_event`, which keeps a cancelEvent
/// from committing until this payment has, so cancelEvent then refunds it.
pub(super) fn not_cancelled(event: &event::Model) -> AppResult<()> {
    if event.status == EventStatus::Cancelled {
        return Err(event_cancelled());
    }
    Ok(())
}

pub(super) fn succeeded(
    viewer: &Viewer,
    r: &reservation::Model,
    key: &str,
    method: PaymentMethod,
    charge: Option<Uuid>,
) -> NewTransaction {
    NewTransaction {
        user_id: viewer.user_id,
        kind: TransactionKind::Payment,
        status: TransactionStatus::Succeeded,
        method: Some(method),
        amount_cents: r.amount_cents,
        reservation: Some((r.id, r.event_id)),
        idempotency_key: Some(key.to_string()),
        success_key: Some(key.to_string()),
        failure_reason: None,
        gateway_charge_id: charge,
    }
}

/// The unique success key was taken by a concurrent payment of another reservation.
pub(super) fn key_clash(err: sea_orm::DbErr) -> AppError {
    if ledger::success_key_taken(&err) {
        AppError::Conflict("this idempotencyKey already paid for another reservation".into())
    } else {
        err.into()
    }
}

/// PENDING → CONFIRMED, one ticket per seat, and the payment's report and notification.
pub(super) async fn confirm(
    db: &impl ConnectionTrait,
    r: &reservation::Model,
    t: &transaction::Model,
) -> AppResult<(reservation::Model, Effects)> {
    let at = now();
    let done = reservation::Entity::update_many()
        .col_expr(
            reservation::Column::Status,
            Expr::value(ReservationStatus::Confirmed),
        )
        .col_expr(reservation::Column::UpdatedAt, Expr::value(at))
        .filter(reservation::Column::Id.eq(r.id))
        .filter(reservation::Column::Status.eq(ReservationStatus::Pending))
        .exec(db)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::Conflict(
            "the reservation is no longer held".into(),
        ));
    }
    crate::reservations::issue::issue_tickets(db, r, at).await?;
    crate::reports::outbox::record(db, t).await?;
    let message = format!(
        "Your reservation of {} seat(s) is confirmed; your tickets are ready.",
        r.quantity
    );
    let n = notify(
        db,
        r.user_id,
        NotificationKind::ReservationConfirmed,
        message,
        Some(r.id),
        Some(r.event_id),
    )
    .await?;
    let mut effects = Effects {
        reports: true,
        availability: vec![r.event_id],
        notifications: vec![n],
        ..Default::default()
    };
    // A waitlist offer that is paid is fulfilled.
    effects.merge(crate::waitlist::offers::offer_paid(db, r).await?);
    Ok((
        reservation::Model {
            status: ReservationStatus::Confirmed,
            updated_at: at,
            ..r.clone()
        },
        effects,
    ))
}

pub(super) fn failure_reason(err: &AppError) -> String {
    match err {
        AppError::Internal(_) => {
            "the payment could not be completed because of an internal error; no money moved".into()
        }
        other => other.message(),
    }
}

/// Stores a FAILED payment with its report and a notification, in the caller's transaction.
pub(super) async fn failed_payment(
    db: &impl ConnectionTrait,
    r: &reservation::Model,
    method: PaymentMethod,
    key: Option<&str>,
    reason: String,
    charge: Option<Uuid>,
) -> AppResult<Effects> {
    let row = NewTransaction {
        user_id: r.user_id,
        kind: TransactionKind::Payment,
        status: TransactionStatus::Failed,
        method: Some(method),
        amount_cents: r.amount_cents,
        reservation: Some((r.id, r.event_id)),
        idempotency_key: key.map(str::to_string),
        success_key: None,
        failure_reason: Some(reason.chars().take(500).collect()),
        gateway_charge_id: charge,
    };
    let t = ledger::record(db, row).await?;
    crate::reports::outbox::record(db, &t).await?;
    let message = format!("A payment for your reservation failed: {reason}");
    let n = notify(
        db,
        r.user_id,
        NotificationKind::PaymentFailed,
        message,
        Some(r.id),
        Some(r.event_id),
    )
    .await?;
    Ok(Effects {
        reports: true,
        notifications: vec![n],
        ..Default::default()
    })
}

/// The end of a successful attempt: confirm the reservation (tickets, report, notification),
/// commit, and announce what changed.
pub(super) async fn confirm_and_commit(
    state: &AppState,
    actor: &crate::audit::Actor,
    txn: sea_orm::DatabaseTransaction,
    r: &reservation::Model,
    t: transaction::Model,
) -> Result<Paid, Failed> {
    let (confirmed, effects) = confirm(&txn, r, &t).await?;
    let detail = serde_json::json!({
        "amountCents": t.amount_cents,
        "method": format!("{:?}", t.method),
        "transactionId": t.id.to_string(),
    });
    crate::audit::service::log(
        &txn,
        actor,
        "reservation.pay",
        "reservation",
        r.id,
        Some(r.event_id),
        detail,
    )
    .await?;
    crate::faults::point(state, crate::faults::Fault::PayBeforeCommit)?;
    txn.commit().await?;
    state.live.announce(effects);
    Ok(Paid {
        reservation: confirmed,
        transaction: t,
    })
}
