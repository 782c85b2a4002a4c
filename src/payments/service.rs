//! Paying for a reservation.
//!
//! WALLET: one database transaction locks the reservation, checks it is still held, debits the
//! wallet, writes the ledger, confirms the reservation, issues the tickets, records the SUCCEEDED
//! transaction and stores its report and notification. Any failure rolls all of it back; the
//! attempt is then recorded as a FAILED transaction (with its report) in a separate write, so the
//! organizer still sees it.
//!
//! CARD: an external charge cannot live inside a database transaction, so the card path is a
//! small saga, and every decision about a charge is taken under the reservation's row lock:
//! 1. Check the hold.
//! 2. Charge the card with the key `pay:<user>:<reservation>:<idempotencyKey>`: retries and
//!    racing duplicates of one request reuse one charge; two reservations never share one.
//! 3. Commit: lock the reservation, re-check the hold, make sure no transaction references the
//!    charge yet, then confirm, issue tickets and record the SUCCEEDED transaction with the
//!    charge id.
//! 4. If step 3 fails for any reason (the hold expired meanwhile, a conflict, a database error,
//!    a failed commit): lock the reservation and, unless a SUCCEEDED transaction already uses the
//!    charge (a duplicate request won), record a FAILED transaction that references it; after
//!    that commit, refund the charge. Step 3 refuses a charge that any transaction references, so
//!    a charge is either paid for or refunded, never both.
//! 5. If the process dies between 2 and 3, the sweeper later finds the standing charge (through
//!    the gateway) that nothing references and settles it the same way as step 4.

use entity::notification::NotificationKind;
use entity::reservation::{self, ReservationStatus};
use entity::ticket::{self, TicketStatus};
use entity::transaction::{self, PaymentMethod, TransactionKind, TransactionStatus};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, SqlErr};
use uuid::Uuid;

use super::gateway::{Charge, ChargeRequest, GatewayError};
use super::ledger::{self, NewTransaction};
use crate::auth::Viewer;
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::faults::{self, Fault};
use crate::live::Effects;
use crate::notifications::service::notify;
use crate::reservations::service::{clean_key, lock, release_hold};
use crate::state::AppState;

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
struct Failed {
    error: AppError,
    recorded: bool,
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
async fn verdict(
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
async fn release_expired(state: &AppState, reservation_id: Uuid) -> AppResult<AppError> {
    let txn = begin_write(&state.db).await?;
    let r = lock(&txn, reservation_id).await?;
    let effects = release_hold(&txn, &r, ReservationStatus::Expired, Some(now())).await?;
    txn.commit().await?;
    state.live.announce(effects.unwrap_or_default());
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
            drop(txn);
            return Err(release_expired(state, r.id).await?.into());
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
    let (confirmed, effects) = confirm(&txn, &r, &t).await?;
    faults::point(state, Fault::PayBeforeCommit)?;
    txn.commit().await?;
    state.live.announce(effects);
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
        Verdict::Expired => return Err(release_expired(state, r.id).await?.into()),
        Verdict::Payable => {}
    }
    let request = ChargeRequest {
        idempotency_key: charge_key(viewer.user_id, r.id, key),
        token,
        amount_cents: r.amount_cents,
    };
    // The client-side bound on the gateway; a late charge that still went through is found and
    // refunded by the sweeper.
    let limit = state.settings.card_timeout + std::time::Duration::from_secs(1);
    let charged = match tokio::time::timeout(limit, state.gateway.charge(request)).await {
        Ok(result) => result,
        Err(_) => Err(GatewayError::TimedOut),
    };
    let charge = charged.map_err(|e| {
        if let GatewayError::Unavailable(inner) = &e {
            tracing::error!(error = ?inner, "card gateway unavailable");
        }
        AppError::PaymentDeclined(e.reason())
    })?;
    match finish_card_payment(state, viewer, r.id, key, &charge).await {
        Ok(paid) => Ok(paid),
        Err(failed) => {
            let reason = failure_reason(&failed.error);
            let recorded = settle_unpaid_charge(state, r.id, charge.id, &reason)
                .await
                .is_ok();
            Err(Failed {
                error: failed.error,
                recorded,
            })
        }
    }
}

fn charge_key(user: Uuid, reservation: Uuid, key: &str) -> String {
    format!("pay:{user}:{reservation}:{key}")
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
            drop(txn);
            return Err(release_expired(state, r.id).await?.into());
        }
        Verdict::Payable => {}
    }
    if charge_referenced(&txn, charge.id).await? {
        return Err(AppError::PaymentDeclined(
            "the charge made under this idempotencyKey was given back; retry with a new idempotencyKey".into(),
        )
        .into());
    }
    let t = ledger::record(
        &txn,
        succeeded(viewer, &r, key, PaymentMethod::Card, Some(charge.id)),
    )
    .await
    .map_err(key_clash)?;
    let (confirmed, effects) = confirm(&txn, &r, &t).await?;
    faults::point(state, Fault::PayBeforeCommit)?;
    txn.commit().await?;
    state.live.announce(effects);
    Ok(Paid {
        reservation: confirmed,
        transaction: t,
    })
}

async fn charge_referenced(db: &impl ConnectionTrait, charge: Uuid) -> AppResult<bool> {
    Ok(transaction::Entity::find()
        .filter(transaction::Column::GatewayChargeId.eq(charge))
        .one(db)
        .await?
        .is_some())
}

/// Compensation for a charge whose payment did not commit: under the reservation's lock, record
/// a FAILED transaction that references the charge (unless a SUCCEEDED one already does, in which
/// case the charge paid for a duplicate request and stays), then refund it after the commit.
async fn settle_unpaid_charge(
    state: &AppState,
    reservation_id: Uuid,
    charge: Uuid,
    reason: &str,
) -> AppResult<()> {
    let txn = begin_write(&state.db).await?;
    let r = lock(&txn, reservation_id).await?;
    let referenced = transaction::Entity::find()
        .filter(transaction::Column::GatewayChargeId.eq(charge))
        .all(&txn)
        .await?;
    if referenced
        .iter()
        .any(|t| t.status == TransactionStatus::Succeeded)
    {
        txn.commit().await?;
        return Ok(());
    }
    let mut effects = Effects::default();
    if referenced.is_empty() {
        let reason = format!("{reason}; the card charge {charge} was refunded");
        effects = failed_payment(&txn, &r, PaymentMethod::Card, None, reason, Some(charge)).await?;
    }
    txn.commit().await?;
    state.live.announce(effects);
    if let Err(err) = state.gateway.refund(charge).await {
        tracing::error!(%charge, error = ?err, "refunding an unpaid card charge failed; the sweeper will retry");
    }
    Ok(())
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

/// PENDING → CONFIRMED, one ticket per seat, and the payment's report and notification.
async fn confirm(
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
    // A seated reservation's seats become SOLD, one ticket each; general admission has none.
    let seats = crate::seating::service::sell(db, r).await?;
    let seat_ids: Vec<Option<Uuid>> = if seats.is_empty() {
        vec![None; r.quantity as usize]
    } else {
        seats.into_iter().map(Some).collect()
    };
    let tickets = seat_ids.into_iter().map(|seat_id| ticket::ActiveModel {
        id: Set(Uuid::now_v7()),
        reservation_id: Set(r.id),
        event_id: Set(r.event_id),
        ticket_type_id: Set(r.ticket_type_id),
        user_id: Set(r.user_id),
        code: Set(ticket_code()),
        status: Set(TicketStatus::Valid),
        created_at: Set(at),
        seat_id: Set(seat_id),
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

fn failure_reason(err: &AppError) -> String {
    match err {
        AppError::Internal(_) => {
            "the payment could not be completed because of an internal error; no money moved".into()
        }
        other => other.message(),
    }
}

/// Stores a FAILED payment with its report and a notification, in the caller's transaction.
async fn failed_payment(
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

/// Settles card charges that are still standing at the gateway although no transaction accounts
/// for them (the process died between charging and committing), and retries refunds of charges
/// already given up on. A charge is only touched once it is older than any payment could still
/// be in flight.
pub async fn refund_orphaned_charges(state: &AppState) -> AppResult<usize> {
    let grace = chrono::Duration::from_std(state.settings.card_timeout).unwrap_or_default()
        + chrono::Duration::seconds(60);
    let standing = state
        .gateway
        .standing_charges(chrono::Utc::now() - grace)
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("listing card charges: {}", e.reason())))?;
    let mut settled = 0;
    for charge in standing {
        let referenced = transaction::Entity::find()
            .filter(transaction::Column::GatewayChargeId.eq(charge.id))
            .all(&state.db)
            .await?;
        if referenced
            .iter()
            .any(|t| t.status == TransactionStatus::Succeeded)
        {
            continue;
        }
        if !referenced.is_empty() {
            // Already given up on; only the refund call failed before.
            if state.gateway.refund(charge.id).await.is_ok() {
                settled += 1;
            }
            continue;
        }
        // pay:<user>:<reservation>:<key>
        let reservation_id = charge
            .idempotency_key
            .split(':')
            .nth(2)
            .and_then(|s| s.parse::<Uuid>().ok());
        match reservation_id {
            Some(id) => {
                let reason = "the payment did not complete".to_string();
                if settle_unpaid_charge(state, id, charge.id, &reason)
                    .await
                    .is_ok()
                {
                    tracing::warn!(charge = %charge.id, amount = charge.amount_cents, "refunded an orphaned card charge");
                    settled += 1;
                }
            }
            None => {
                tracing::error!(charge = %charge.id, "a standing card charge has a key this service did not make")
            }
        }
    }
    Ok(settled)
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
