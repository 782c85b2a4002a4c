//! The sweep for card charges that no payment accounts for.

use entity::transaction::{self, TransactionStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::card::settle_unpaid_charge;
use super::top_up::settle_unpaid_top_up;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

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
        // topup:<user>:<key>
        if let Some(rest) = charge.idempotency_key.strip_prefix("topup:") {
            let user = rest.split(':').next().and_then(|s| s.parse::<Uuid>().ok());
            let Some(user) = user else {
                tracing::error!(charge = %charge.id, "a standing top-up charge without its user");
                continue;
            };
            let reason = "the top-up did not complete";
            if settle_unpaid_top_up(state, user, charge.id, charge.amount_cents, reason)
                .await
                .is_ok()
            {
                tracing::warn!(charge = %charge.id, amount = charge.amount_cents, "refunded an orphaned top-up charge");
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
