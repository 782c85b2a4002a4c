//! Refunds to a card. The refund is promised in the cancelling transaction (a REFUND
//! transaction plus a `card_refunds` row, see `ledger::refund`) and carried out by the gateway
//! after the commit, since an outside call cannot live inside a database transaction. The
//! gateway refund is keyed by the REFUND transaction's id, so settling twice (two instances, a
//! retry after a crash) gives the money back once. Until the gateway confirms, the row stays
//! unsettled and the sweeper retries it.

use entity::card_refund;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::AppResult;
use crate::live::Effects;
use crate::state::AppState;

/// An unsettled refund older than this is the sweeper's to retry.
const STALE: chrono::Duration = chrono::Duration::seconds(10);

/// Announces what a committed transaction did, after carrying out the card refunds it recorded.
pub async fn announce(state: &AppState, mut effects: Effects) {
    let refunds = std::mem::take(&mut effects.card_refunds);
    state.live.announce(effects);
    for id in refunds {
        if let Err(err) = settle(state, id).await {
            tracing::warn!(error = ?err, refund = %id, "card refund not settled yet; the sweeper retries it");
        }
    }
}

/// Carries out one recorded card refund at the gateway, unless it already was.
pub async fn settle(state: &AppState, transaction_id: Uuid) -> AppResult<bool> {
    let Some(row) = card_refund::Entity::find_by_id(transaction_id)
        .one(&state.db)
        .await?
    else {
        return Ok(false);
    };
    if row.settled_at.is_some() {
        return Ok(false);
    }
    let refunded = state
        .gateway
        .refund_part(row.charge_id, row.amount_cents, row.transaction_id)
        .await;
    match refunded {
        Ok(()) => {
            card_refund::Entity::update_many()
                .col_expr(
                    card_refund::Column::SettledAt,
                    Expr::value(crate::db::now()),
                )
                .col_expr(
                    card_refund::Column::Attempts,
                    Expr::col(card_refund::Column::Attempts).add(1),
                )
                .filter(card_refund::Column::TransactionId.eq(row.transaction_id))
                .filter(card_refund::Column::SettledAt.is_null())
                .exec(&state.db)
                .await?;
            Ok(true)
        }
        Err(err) => {
            let reason: String = err.reason().chars().take(500).collect();
            card_refund::Entity::update_many()
                .col_expr(
                    card_refund::Column::Attempts,
                    Expr::col(card_refund::Column::Attempts).add(1),
                )
                .col_expr(card_refund::Column::LastError, Expr::value(reason.clone()))
                .filter(card_refund::Column::TransactionId.eq(row.transaction_id))
                .exec(&state.db)
                .await?;
            Err(crate::error::AppError::Unavailable {
                detail: anyhow::anyhow!("card refund {transaction_id} not settled: {reason}"),
                retry_after_seconds: 5,
            })
        }
    }
}

/// Retries card refunds that were recorded but not settled (the process died after the commit,
/// or the gateway failed); returns how many settled now.
pub async fn settle_stale(state: &AppState) -> AppResult<usize> {
    let due: Vec<Uuid> = card_refund::Entity::find()
        .select_only()
        .column(card_refund::Column::TransactionId)
        .filter(card_refund::Column::SettledAt.is_null())
        .filter(card_refund::Column::CreatedAt.lte(crate::db::now() - STALE))
        .order_by_asc(card_refund::Column::CreatedAt)
        .limit(100)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut settled = 0;
    for id in due {
        match settle(state, id).await {
            Ok(true) => settled += 1,
            Ok(false) => {}
            Err(err) => tracing::warn!(error = ?err, "card refund retry failed"),
        }
    }
    Ok(settled)
}
