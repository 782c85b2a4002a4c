//! Paid top-ups: money enters a wallet only when a card paid for it. The same saga as a card
//! payment (`card.rs`), with the wallet's row lock in the place of the reservation's:
//! 1. Check the amount and whether this key already succeeded (a replay returns the balance).
//! 2. Charge the card with the key `topup:<user>:<idempotencyKey>`: retries and racing
//!    duplicates of one request reuse one charge.
//! 3. Commit: lock the wallet, make sure no transaction references the charge yet, record the
//!    SUCCEEDED top-up with the charge id and credit the wallet.
//! 4. If step 3 fails: lock the wallet and, unless a SUCCEEDED top-up already uses the charge
//!    (a duplicate request won), record a FAILED top-up that references it; after that commit,
//!    refund the charge. Step 3 refuses a charge any transaction references, so a charge is
//!    either credited or refunded, never both.
//! 5. If the process dies between 2 and 3, the sweeper (`orphans.rs`) finds the standing charge
//!    and settles it as in step 4.

use entity::transaction::{self, PaymentMethod, TransactionKind, TransactionStatus};
use entity::wallet;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::gateway::{Charge, ChargeRequest, GatewayError};
use super::ledger::{self, NewTransaction, balance, credit, success_key_taken};
use crate::auth::Viewer;
use crate::db::begin_write;
use crate::error::{AppError, AppResult};
use crate::input::clean_key;
use crate::state::AppState;

/// Adds money to the viewer's wallet, charged to `card_token`. The same key with the same amount
/// credits (and charges) once; with another amount it is a `CONFLICT`. Without a card token the
/// top-up is refused: money is never created from nothing.
pub async fn top_up(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    amount: i64,
    key: &str,
    card_token: Option<&str>,
) -> AppResult<i64> {
    let max = state.settings.max_top_up_cents;
    if !(1..=max).contains(&amount) {
        return Err(AppError::bad_input(format!(
            "amountCents must be between 1 and {max}"
        )));
    }
    let key = clean_key(key, "idempotencyKey")?;
    let Some(token) = card_token.map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(AppError::bad_input(
            "a top-up is charged to a card: cardToken is required (sandbox: tok_visa)",
        ));
    };
    if let Some(existing) = find_success(&state.db, viewer.user_id, &key).await? {
        replay(&existing, amount)?;
        return balance(&state.db, viewer.user_id).await;
    }
    let request = ChargeRequest {
        idempotency_key: charge_key(viewer.user_id, &key),
        token,
        amount_cents: amount,
    };
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
    match credit_charge(state, actor, viewer.user_id, amount, &key, &charge).await {
        Ok(after) => Ok(after),
        Err(err) => {
            let reason = match &err {
                AppError::Internal(_) => "the top-up could not be completed".to_string(),
                other => other.message(),
            };
            if let Err(settle) =
                settle_unpaid_top_up(state, viewer.user_id, charge.id, amount, &reason).await
            {
                tracing::error!(charge = %charge.id, error = ?settle, "settling an uncredited top-up charge failed; the sweeper will retry");
            }
            Err(err)
        }
    }
}

/// `topup:<user>:<key>`: the sweeper reads the user back from it.
pub(super) fn charge_key(user: Uuid, key: &str) -> String {
    format!("topup:{user}:{key}")
}

fn replay(existing: &transaction::Model, amount: i64) -> AppResult<()> {
    if existing.amount_cents == amount {
        Ok(())
    } else {
        Err(AppError::Conflict(
            "this idempotencyKey was already used for a different top-up".into(),
        ))
    }
}

async fn find_success(
    db: &impl ConnectionTrait,
    user: Uuid,
    key: &str,
) -> AppResult<Option<transaction::Model>> {
    Ok(transaction::Entity::find()
        .filter(transaction::Column::UserId.eq(user))
        .filter(transaction::Column::Kind.eq(TransactionKind::TopUp))
        .filter(transaction::Column::SuccessKey.eq(key))
        .one(db)
        .await?)
}

/// Locks the user's wallet row (creating it if needed) for the rest of the transaction: every
/// decision about a top-up's charge is taken under it.
async fn lock_wallet(db: &impl ConnectionTrait, user: Uuid) -> AppResult<()> {
    ledger::ensure_wallet(db, user).await?;
    wallet::Entity::find_by_id(user)
        .lock_exclusive()
        .one(db)
        .await?;
    Ok(())
}

async fn credit_charge(
    state: &AppState,
    actor: &crate::audit::Actor,
    user: Uuid,
    amount: i64,
    key: &str,
    charge: &Charge,
) -> AppResult<i64> {
    let txn = begin_write(&state.db).await?;
    lock_wallet(&txn, user).await?;
    if let Some(existing) = find_success(&txn, user, key).await? {
        // A duplicate request with the same key (and so the same charge) finished first.
        if existing.gateway_charge_id == Some(charge.id) {
            replay(&existing, amount)?;
            txn.commit().await?;
            return balance(&state.db, user).await;
        }
        return Err(AppError::Conflict(
            "this idempotencyKey was already used for another top-up".into(),
        ));
    }
    let referenced = transaction::Entity::find()
        .filter(transaction::Column::GatewayChargeId.eq(charge.id))
        .one(&txn)
        .await?
        .is_some();
    if referenced {
        return Err(AppError::PaymentDeclined(
            "the charge made under this idempotencyKey was given back; retry with a new idempotencyKey".into(),
        ));
    }
    let t = ledger::record(
        &txn,
        NewTransaction {
            user_id: user,
            kind: TransactionKind::TopUp,
            status: TransactionStatus::Succeeded,
            method: Some(PaymentMethod::Card),
            amount_cents: amount,
            reservation: None,
            idempotency_key: Some(key.to_string()),
            success_key: Some(key.to_string()),
            failure_reason: None,
            gateway_charge_id: Some(charge.id),
        },
    )
    .await
    .map_err(|err| {
        if success_key_taken(&err) {
            AppError::Conflict("this idempotencyKey was already used for another top-up".into())
        } else {
            err.into()
        }
    })?;
    let after = credit(&txn, user, amount, t.id).await?;
    let detail = serde_json::json!({ "amountCents": amount, "transactionId": t.id.to_string() });
    crate::audit::service::log(&txn, actor, "wallet.top_up", "wallet", user, None, detail).await?;
    crate::faults::point(state, crate::faults::Fault::TopUpBeforeCommit)?;
    txn.commit().await?;
    Ok(after)
}

/// Compensation for a top-up charge that was not credited: under the wallet's lock, record a
/// FAILED top-up that references the charge (unless a SUCCEEDED one already does: then the
/// charge paid for a duplicate request and stays), then refund it after the commit.
pub(super) async fn settle_unpaid_top_up(
    state: &AppState,
    user: Uuid,
    charge: Uuid,
    amount: i64,
    reason: &str,
) -> AppResult<()> {
    let txn = begin_write(&state.db).await?;
    lock_wallet(&txn, user).await?;
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
    if referenced.is_empty() {
        ledger::record(
            &txn,
            NewTransaction {
                user_id: user,
                kind: TransactionKind::TopUp,
                status: TransactionStatus::Failed,
                method: Some(PaymentMethod::Card),
                amount_cents: amount,
                reservation: None,
                idempotency_key: None,
                success_key: None,
                failure_reason: Some(
                    format!("{reason}; the card charge {charge} was refunded")
                        .chars()
                        .take(500)
                        .collect(),
                ),
                gateway_charge_id: Some(charge),
            },
        )
        .await?;
    }
    txn.commit().await?;
    if let Err(err) = state.gateway.refund(charge).await {
        tracing::error!(%charge, error = ?err, "refunding an uncredited top-up charge failed; the sweeper will retry");
    }
    Ok(())
}
