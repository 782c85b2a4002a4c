//! Paying by card. An external charge cannot live inside a database transaction, so the card
//! path is a small saga, and every decision about a charge is taken under the reservation's row
//! lock:
//! 1. Check the hold.
//! 2. Charge the card with the key `pay:<user>:<reservation>:<idempotencyKey>`: retries and
//!    racing duplicates of one request reuse one charge; two reservations never share one.
//! 3. Commit: lock the event (shared) and the reservation, re-check the hold and that the event
//!    is not cancelled, make sure no transaction references the charge yet, then confirm, issue
//!    tickets and record the SUCCEEDED transaction with the charge id.
//! 4. If step 3 fails for any reason (the hold expired or the event was cancelled meanwhile, a
//!    conflict, a database error, a failed commit): lock the reservation and, unless a SUCCEEDED
//!    transaction already uses the charge (a duplicate request won), record a FAILED transaction
//!    that references it; after that commit, refund the charge. Step 3 refuses a charge that any
//!    transaction references, so a charge is either paid for or refunded, never both.
//! 5. If the process dies between 2 and 3, the sweeper later finds the standing charge (through
//!    the gateway) that nothing references and settles it the same way as step 4.

use entity::event;
use entity::reservation;
use entity::transaction::{self, PaymentMethod, TransactionStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::attempt::{
    Failed, Paid, Verdict, confirm_and_commit, failed_payment, failure_reason, key_clash,
    not_cancelled, release_expired, succeeded, verdict,
};
use super::gateway::{Charge, ChargeRequest, GatewayError};
use super::ledger;
use crate::auth::Viewer;
use crate::db::begin_write;
use crate::error::{AppError, AppResult};
use crate::live::Effects;
use crate::reservations::service::{lock, lock_event};
use crate::state::AppState;

pub(super) async fn pay_with_card(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    r: &reservation::Model,
    key: &str,
    token: &str,
) -> Result<Paid, Failed> {
    match verdict(&state.db, r, key).await? {
        Verdict::Replay(paid) => return Ok(*paid),
        Verdict::Expired => return Err(release_expired(state, r.id).await?.into()),
        Verdict::Payable => {}
    }
    // Not the guard (step 3 is), but no reason to charge a card for a known cancelled event.
    let event = event::Entity::find_by_id(r.event_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {} not found", r.event_id)))?;
    not_cancelled(&event)?;
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
    match finish_card_payment(state, viewer, actor, r, key, &charge).await {
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
    actor: &crate::audit::Actor,
    held: &reservation::Model,
    key: &str,
    charge: &Charge,
) -> Result<Paid, Failed> {
    let txn = begin_write(&state.db).await?;
    let event = lock_event(&txn, held.event_id).await?;
    let r = lock(&txn, held.id).await?;
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
    not_cancelled(&event)?;
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
    confirm_and_commit(state, actor, txn, &r, t).await
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
pub(super) async fn settle_unpaid_charge(
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
