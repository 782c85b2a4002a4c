//! Paying for a reservation: `pay` checks the request, answers a replayed key, then takes the
//! wallet path (`wallet.rs`) or the card saga (`card.rs`). What both share lives here: the verdict
//! on a hold, confirming it, and recording a failed attempt. Charges that a crash left standing
//! are settled by `orphans.rs`.

use entity::event::{self, EventStatus};
use entity::notification::NotificationKind;
use entity::reservation::{self, ReservationStatus};
use entity::ticket::{self, TicketStatus};
use entity::transaction::{self, PaymentMethod, TransactionKind, TransactionStatus};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::ledger::{self, NewTransaction};
use crate::app::AppState;
use crate::auth::Viewer;
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::live::Effects;
use crate::notifications::service::notify;
use crate::reservations::service::{clean_key, event_cancelled, lock, release_hold};

pub struct PayRequest {
    pub reservation_id: Uuid,
    pub idempotency_key: String,
    pub method: PaymentMethod,
    pub card_token: Option<String>,
}

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

pub async fn pay(state: &AppState, viewer: &Viewer, request: PayRequest) -> AppResult<Paid> {
    let key = clean_key(&request.idempotency_key, "idempotencyKey")?;
    let token = match (request.method, request.card_token.as_deref().map(str::trim)) {
        (PaymentMethod::Card, Some(t)) if !t.is_empty() => Some(t.to_string()),
        (PaymentMethod::Card, _) => {
            return Err(AppError::bad_input(
                "cardToken is required when method is CARD",
            ));
        }
        (PaymentMethod::Wallet, _) => None,
    };
    if let Some(paid) = replay(state, viewer, request.reservation_id, &key).await? {
        return Ok(paid);
    }
    let r = reservation::Entity::find_by_id(request.reservation_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!("reservation {} not found", request.reservation_id))
        })?;
    if r.user_id != viewer.user_id {
        return Err(AppError::Forbidden(
            "this reservation belongs to someone else".into(),
        ));
    }
    let result = match token {
        None => super::wallet::pay_with_wallet(state, viewer, &r, &key).await,
        Some(token) => super::card::pay_with_card(state, viewer, &r, &key, &token).await,
    };
    match result {
        Ok(paid) => Ok(paid),
        Err(failed) => {
            if !failed.recorded && counts_as_failed_payment(&failed.error) {
                record_failure(
                    state,
                    &r,
                    request.method,
                    &key,
                    failure_reason(&failed.error),
                    None,
                )
                .await;
            }
            Err(failed.error)
        }
    }
}

/// A SUCCEEDED payment made earlier with this key.
async fn replay(
    state: &AppState,
    viewer: &Viewer,
    reservation_id: Uuid,
    key: &str,
) -> AppResult<Option<Paid>> {
    let Some(t) = transaction::Entity::find()
        .filter(transaction::Column::UserId.eq(viewer.user_id))
        .filter(transaction::Column::Kind.eq(TransactionKind::Payment))
        .filter(transaction::Column::SuccessKey.eq(key))
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    if t.reservation_id != Some(reservation_id) {
        return Err(AppError::Conflict(
            "this idempotencyKey already paid for another reservation".into(),
        ));
    }
    let r = reservation::Entity::find_by_id(reservation_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("reservation {reservation_id} not found")))?;
    Ok(Some(Paid {
        reservation: r,
        transaction: t,
    }))
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
    let effects = release_hold(&txn, &r, ReservationStatus::Expired, Some(now())).await?;
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
    let tickets = (0..r.quantity).map(|_| ticket::ActiveModel {
        id: Set(Uuid::now_v7()),
        reservation_id: Set(r.id),
        event_id: Set(r.event_id),
        ticket_type_id: Set(r.ticket_type_id),
        user_id: Set(r.user_id),
        code: Set(ticket_code()),
        status: Set(TicketStatus::Valid),
        created_at: Set(at),
    });
    ticket::Entity::insert_many(tickets).exec(db).await?;
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
    let effects = Effects {
        reports: true,
        availability: vec![r.event_id],
        notifications: vec![n],
    };
    Ok((
        reservation::Model {
            status: ReservationStatus::Confirmed,
            updated_at: at,
            ..r.clone()
        },
        effects,
    ))
}

/// 12 characters from a 32-letter alphabet without look-alikes (0/O, 1/I): 60 random bits.
pub fn ticket_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn counts_as_failed_payment(err: &AppError) -> bool {
    matches!(
        err,
        AppError::InsufficientFunds(_)
            | AppError::HoldExpired(_)
            | AppError::PaymentDeclined(_)
            | AppError::Internal(_)
    )
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
        availability: Vec::new(),
        notifications: vec![n],
    })
}

/// Records a FAILED payment after the attempt's own transaction rolled back.
async fn record_failure(
    state: &AppState,
    r: &reservation::Model,
    method: PaymentMethod,
    key: &str,
    reason: String,
    charge: Option<Uuid>,
) {
    let stored = async {
        let txn = begin_write(&state.db).await?;
        let effects = failed_payment(&txn, r, method, Some(key), reason, charge).await?;
        txn.commit().await?;
        AppResult::Ok(effects)
    };
    match stored.await {
        Ok(effects) => state.live.announce(effects),
        Err(err) => {
            tracing::error!(reservation = %r.id, error = ?err, "could not record a failed payment")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticket_codes_are_long_distinct_and_unambiguous() {
        let codes: std::collections::HashSet<String> =
            (0..1000).map(|_| super::ticket_code()).collect();
        assert_eq!(codes.len(), 1000);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 12 && !c.contains(['0', 'O', '1', 'I']))
        );
    }
}
