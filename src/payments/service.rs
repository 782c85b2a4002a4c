//! Paying for a reservation.
//!
//! WALLET: one database transaction locks the reservation, checks it is still held, debits the
//! wallet, writes the ledger, confirms the reservation, issues the tickets and records the
//! SUCCEEDED transaction. Any failure rolls all of it back; the attempt is then recorded as a
//! FAILED transaction in a separate write, so the organizer's report still sees it.
//!
//! CARD: an external charge cannot live inside a database transaction, so the card path is a
//! small saga. (1) Check the hold. (2) Charge the card with an idempotency key derived from the
//! user and the request's key, so retries and racing duplicates reuse one charge. (3) In one
//! transaction, lock and re-check the hold, confirm, issue tickets and record the transaction
//! with the charge id. (4) If step 3 fails for any reason — the hold expired meanwhile, a
//! database error, a failed commit — refund the charge (compensation) and record the failed
//! attempt with the refund in its reason. If the process dies between (2) and (3), the sweeper
//! later finds the charge that no SUCCEEDED transaction points at and refunds it.

use entity::reservation::{self, ReservationStatus};
use entity::ticket::{self, TicketStatus};
use entity::transaction::{self, PaymentMethod, TransactionKind, TransactionStatus};
use rand::Rng;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, SqlErr};
use uuid::Uuid;

use super::gateway::{Charge, ChargeRequest};
use super::ledger::{self, NewTransaction};
use crate::app::AppState;
use crate::auth::Viewer;
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::faults::{self, Fault};
use crate::reservations::service::{clean_key, lock, release_hold};

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

/// Why an attempt failed, plus what else happened (e.g. "card charge … refunded").
struct Failed {
    error: AppError,
    note: Option<String>,
}

impl From<AppError> for Failed {
    fn from(error: AppError) -> Self {
        Failed { error, note: None }
    }
}

impl From<sea_orm::DbErr> for Failed {
    fn from(err: sea_orm::DbErr) -> Self {
        AppError::from(err).into()
    }
}

enum Verdict {
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
        None => pay_with_wallet(state, viewer, &r, &key).await,
        Some(token) => pay_with_card(state, viewer, &r, &key, &token).await,
    };
    match result {
        Ok(paid) => Ok(paid),
        Err(failed) => {
            if counts_as_failed_payment(&failed.error) {
                record_failure(state, &r, request.method, &key, &failed).await;
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
async fn verdict(
    db: &impl ConnectionTrait,
    r: &reservation::Model,
    key: &str,
) -> AppResult<Verdict> {
    match r.status {
        ReservationStatus::Pending if r.expires_at <= now() => Ok(Verdict::Expired),
        ReservationStatus::Pending => Ok(Verdict::Payable),
        ReservationStatus::Confirmed => {
            let paid_by = transaction::Entity::find()
                .filter(transaction::Column::ReservationId.eq(r.id))
                .filter(transaction::Column::Kind.eq(TransactionKind::Payment))
                .filter(transaction::Column::Status.eq(TransactionStatus::Succeeded))
                .one(db)
                .await?;
            match paid_by {
                Some(t) if t.success_key.as_deref() == Some(key) => {
                    Ok(Verdict::Replay(Box::new(Paid {
                        reservation: r.clone(),
                        transaction: t,
                    })))
                }
                _ => Err(AppError::Conflict(
                    "this reservation is already paid".into(),
                )),
            }
        }
        ReservationStatus::Cancelled => {
            Err(AppError::Conflict("this reservation was cancelled".into()))
        }
        ReservationStatus::Expired => Err(hold_expired()),
    }
}

fn hold_expired() -> AppError {
    AppError::HoldExpired("the hold on these seats has expired; reserve again".into())
}

/// Releases an expired hold now (the sweeper may not have come by yet) and reports it.
async fn release_expired(db: &impl ConnectionTrait, r: &reservation::Model) -> AppResult<AppError> {
    release_hold(db, r, ReservationStatus::Expired, Some(now())).await?;
    Ok(hold_expired())
}

async fn pay_with_wallet(
    state: &AppState,
    viewer: &Viewer,
    r: &reservation::Model,
    key: &str,
) -> Result<Paid, Failed> {
    let txn = begin_write(&state.db).await?;
    let r = lock(&txn, r.id).await?;
    match verdict(&txn, &r, key).await? {
        Verdict::Replay(paid) => return Ok(*paid),
        Verdict::Expired => {
            let err = release_expired(&txn, &r).await?;
            txn.commit().await?;
            return Err(err.into());
        }
        Verdict::Payable => {}
    }
    let t = ledger::record(
        &txn,
        succeeded(viewer, &r, key, PaymentMethod::Wallet, None),
    )
    .await
    .map_err(key_clash)?;
    if r.amount_cents > 0 {
        ledger::debit(&txn, viewer.user_id, r.amount_cents, t.id).await?;
    }
    faults::point(state, Fault::PayAfterDebit)?;
    let confirmed = confirm(&txn, &r).await?;
    faults::point(state, Fault::PayBeforeCommit)?;
    txn.commit().await?;
    Ok(Paid {
        reservation: confirmed,
        transaction: t,
    })
}

async fn pay_with_card(
    state: &AppState,
    viewer: &Viewer,
    r: &reservation::Model,
    key: &str,
    token: &str,
) -> Result<Paid, Failed> {
    match verdict(&state.db, r, key).await? {
        Verdict::Replay(paid) => return Ok(*paid),
        Verdict::Expired => {
            let txn = begin_write(&state.db).await?;
            let r = lock(&txn, r.id).await?;
            let err = release_expired(&txn, &r).await?;
            txn.commit().await?;
            return Err(err.into());
        }
        Verdict::Payable => {}
    }
    let request = ChargeRequest {
        idempotency_key: format!("pay:{}:{key}", viewer.user_id),
        token,
        amount_cents: r.amount_cents,
    };
    let charge = state.gateway.charge(request).await.map_err(|e| {
        if let super::gateway::GatewayError::Unavailable(inner) = &e {
            tracing::error!(error = ?inner, "card gateway unavailable");
        }
        AppError::PaymentDeclined(e.reason())
    })?;
    match finish_card_payment(state, viewer, r.id, key, &charge).await {
        Ok(paid) => Ok(paid),
        Err(mut failed) => {
            // Compensation: the money was taken but the booking did not happen.
            let note = match state.gateway.refund(charge.id).await {
                Ok(()) => format!("the card charge {} was refunded", charge.id),
                Err(err) => {
                    tracing::error!(charge = %charge.id, error = ?err, "refund after a failed card payment failed; the sweeper will retry");
                    format!("the card charge {} will be refunded", charge.id)
                }
            };
            failed.note = Some(note);
            Err(failed)
        }
    }
}

async fn finish_card_payment(
    state: &AppState,
    viewer: &Viewer,
    reservation_id: Uuid,
    key: &str,
    charge: &Charge,
) -> Result<Paid, Failed> {
    let txn = begin_write(&state.db).await?;
    let r = lock(&txn, reservation_id).await?;
    match verdict(&txn, &r, key).await? {
        // The same key means the same charge: a duplicate request finished first.
        Verdict::Replay(paid) if paid.transaction.gateway_charge_id == Some(charge.id) => {
            return Ok(*paid);
        }
        Verdict::Replay(_) => {
            return Err(AppError::Conflict("this reservation is already paid".into()).into());
        }
        Verdict::Expired => {
            let err = release_expired(&txn, &r).await?;
            txn.commit().await?;
            return Err(err.into());
        }
        Verdict::Payable => {}
    }
    let t = ledger::record(
        &txn,
        succeeded(viewer, &r, key, PaymentMethod::Card, Some(charge.id)),
    )
    .await
    .map_err(key_clash)?;
    let confirmed = confirm(&txn, &r).await?;
    faults::point(state, Fault::PayBeforeCommit)?;
    txn.commit().await?;
    Ok(Paid {
        reservation: confirmed,
        transaction: t,
    })
}

fn succeeded(
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
fn key_clash(err: sea_orm::DbErr) -> AppError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::Conflict("this idempotencyKey already paid for another reservation".into())
        }
        _ => err.into(),
    }
}

/// PENDING → CONFIRMED and one ticket per seat.
async fn confirm(
    db: &impl ConnectionTrait,
    r: &reservation::Model,
) -> AppResult<reservation::Model> {
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
    Ok(reservation::Model {
        status: ReservationStatus::Confirmed,
        updated_at: at,
        ..r.clone()
    })
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

/// Records a FAILED transaction after the attempt's own transaction rolled back.
async fn record_failure(
    state: &AppState,
    r: &reservation::Model,
    method: PaymentMethod,
    key: &str,
    failed: &Failed,
) {
    let base = match &failed.error {
        AppError::Internal(_) => {
            "the payment could not be completed because of an internal error; no money moved"
                .to_string()
        }
        other => other.message(),
    };
    let reason = match &failed.note {
        Some(note) => format!("{base}; {note}"),
        None => base,
    };
    let row = NewTransaction {
        user_id: r.user_id,
        kind: TransactionKind::Payment,
        status: TransactionStatus::Failed,
        method: Some(method),
        amount_cents: r.amount_cents,
        reservation: Some((r.id, r.event_id)),
        idempotency_key: Some(key.to_string()),
        success_key: None,
        failure_reason: Some(reason.chars().take(500).collect()),
        gateway_charge_id: None,
    };
    if let Err(err) = ledger::record(&state.db, row).await {
        tracing::error!(reservation = %r.id, error = ?err, "could not record a failed payment");
    }
}

/// Refunds card charges that no SUCCEEDED payment points at and that are older than any payment
/// could still be in flight: the process died between charging and committing.
pub async fn refund_orphaned_charges(state: &AppState) -> AppResult<usize> {
    use entity::card_charge::{self, ChargeStatus};
    let grace = chrono::Duration::from_std(state.settings.card_timeout).unwrap_or_default()
        + chrono::Duration::seconds(60);
    let orphans = card_charge::Entity::find()
        .filter(card_charge::Column::Status.eq(ChargeStatus::Succeeded))
        .filter(card_charge::Column::CreatedAt.lt(now() - grace))
        .filter(
            card_charge::Column::Id.not_in_subquery(
                Query::select()
                    .column(transaction::Column::GatewayChargeId)
                    .from(transaction::Entity)
                    .and_where(transaction::Column::GatewayChargeId.is_not_null())
                    .and_where(transaction::Column::Status.eq(TransactionStatus::Succeeded))
                    .to_owned(),
            ),
        )
        .all(&state.db)
        .await?;
    let mut refunded = 0;
    for charge in orphans {
        match state.gateway.refund(charge.id).await {
            Ok(()) => {
                tracing::warn!(charge = %charge.id, amount = charge.amount_cents, "refunded an orphaned card charge");
                refunded += 1;
            }
            Err(err) => {
                tracing::error!(charge = %charge.id, error = ?err, "could not refund an orphaned card charge")
            }
        }
    }
    Ok(refunded)
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
