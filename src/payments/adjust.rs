//! Admin adjustments of a wallet: a credit (positive amount) or a debit (negative amount) with a
//! reason. One write transaction records a SUCCEEDED transaction of kind `ADJUSTMENT` carrying
//! the signed amount, moves the balance with its ledger entry, and appends `wallet.adjust` to
//! the audit log; a debit is one conditional UPDATE (`balance >= amount`), so it can never take a
//! wallet below zero, even racing a payment.

use entity::transaction::{TransactionKind, TransactionStatus};
use entity::user;
use sea_orm::EntityTrait;
use serde_json::json;
use uuid::Uuid;

use super::ledger::{self, NewTransaction};
use crate::audit::Actor;
use crate::audit::service::{Entry, record};
use crate::auth::Viewer;
use crate::db::begin_write;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Longest reason kept, in characters.
const MAX_REASON: usize = 500;

/// Credits (`amount > 0`) or debits (`amount < 0`) the user's wallet; admins only. Returns the
/// new balance. A debit larger than the balance is a `CONFLICT` and changes nothing.
pub async fn adjust(
    state: &AppState,
    viewer: &Viewer,
    actor: &Actor,
    user_id: Uuid,
    amount: i64,
    reason: &str,
) -> AppResult<i64> {
    if !viewer.is_admin() {
        return Err(AppError::Forbidden("only admins adjust wallets".into()));
    }
    let max = state.settings.max_top_up_cents;
    if amount == 0 || amount.unsigned_abs() > max.unsigned_abs() {
        return Err(AppError::bad_input(format!(
            "amountCents must be a credit of 1 to {max} or a debit of -1 to -{max}"
        )));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(AppError::bad_input(format!(
            "reason must be 1 to {MAX_REASON} characters"
        )));
    }
    if user::Entity::find_by_id(user_id)
        .one(&state.db)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound(format!("user {user_id} not found")));
    }
    let txn = begin_write(&state.db).await?;
    let t = ledger::record(
        &txn,
        NewTransaction {
            user_id,
            kind: TransactionKind::Adjustment,
            status: TransactionStatus::Succeeded,
            method: None,
            amount_cents: amount,
            reservation: None,
            idempotency_key: None,
            success_key: None,
            failure_reason: None,
            gateway_charge_id: None,
        },
    )
    .await?;
    let balance = if amount > 0 {
        ledger::credit(&txn, user_id, amount, t.id).await?
    } else {
        ledger::debit(&txn, user_id, -amount, t.id)
            .await
            .map_err(|err| match err {
                AppError::InsufficientFunds(_) => AppError::Conflict(format!(
                    "a debit of {} would take the wallet below zero",
                    -amount
                )),
                other => other,
            })?
    };
    record(
        &txn,
        actor,
        Entry {
            action: "wallet.adjust",
            target_type: "wallet",
            target_id: Some(user_id.to_string()),
            event_id: None,
            detail: json!({
                "amountCents": amount,
                "reason": reason,
                "balanceAfterCents": balance,
                "transactionId": t.id.to_string(),
            }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(balance)
}
