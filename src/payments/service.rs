//! Paying for a reservation: `pay` checks the request, answers a replayed key, then takes the
//! wallet path (`wallet.rs`) or the card saga (`card.rs`). What both share lives in
//! `attempt.rs`. Charges that a crash left standing are settled by `orphans.rs`.

use entity::reservation::{self};
use entity::transaction::{self, PaymentMethod, TransactionKind};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

pub use super::attempt::Paid;
use super::attempt::{failed_payment, failure_reason};
use crate::auth::Viewer;
use crate::db::begin_write;
use crate::error::{AppError, AppResult};
use crate::input::clean_key;
use crate::state::AppState;

pub struct PayRequest {
    pub reservation_id: Uuid,
    pub idempotency_key: String,
    pub method: PaymentMethod,
    pub card_token: Option<String>,
}

pub async fn pay(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    request: PayRequest,
) -> AppResult<Paid> {
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
        None => super::wallet::pay_with_wallet(state, viewer, actor, &r, &key).await,
        Some(token) => super::card::pay_with_card(state, viewer, actor, &r, &key, &token).await,
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

fn counts_as_failed_payment(err: &AppError) -> bool {
    matches!(
        err,
        AppError::InsufficientFunds(_)
            | AppError::HoldExpired(_)
            | AppError::PaymentDeclined(_)
            | AppError::Internal(_)
    )
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
