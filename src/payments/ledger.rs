//! Wallets and the ledger. Every balance change is one conditional UPDATE of the wallet plus one
//! ledger entry in the same transaction, so a balance always equals the sum of its entries, and
//! the CHECK on the balance makes an overdraft impossible even for a buggy caller.

use entity::card_refund;
use entity::ledger_entry;
use entity::reservation;
use entity::transaction::{self, PaymentMethod, TransactionKind, TransactionStatus};
use entity::wallet;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};
use uuid::Uuid;

use crate::db::paging::{Page, newest_first};
use crate::db::{is_unique_violation, now};
use crate::error::{AppError, AppResult};

/// The current balance; 0 for a user who never had a wallet.
pub async fn balance(db: &impl ConnectionTrait, user: Uuid) -> AppResult<i64> {
    Ok(wallet::Entity::find_by_id(user)
        .one(db)
        .await?
        .map_or(0, |w| w.balance_cents))
}

pub(super) async fn ensure_wallet(db: &impl ConnectionTrait, user: Uuid) -> AppResult<()> {
    wallet::Entity::insert(wallet::ActiveModel {
        user_id: Set(user),
        balance_cents: Set(0),
        updated_at: Set(now()),
    })
    .on_conflict(
        OnConflict::column(wallet::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .try_insert()
    .exec(db)
    .await?;
    Ok(())
}

/// Adds `amount` to the wallet (a top-up or refund) with its ledger entry.
pub async fn credit(
    db: &impl ConnectionTrait,
    user: Uuid,
    amount: i64,
    transaction_id: Uuid,
) -> AppResult<i64> {
    ensure_wallet(db, user).await?;
    wallet::Entity::update_many()
        .col_expr(
            wallet::Column::BalanceCents,
            Expr::col(wallet::Column::BalanceCents).add(amount),
        )
        .col_expr(wallet::Column::UpdatedAt, Expr::value(now()))
        .filter(wallet::Column::UserId.eq(user))
        .exec(db)
        .await?;
    entry(db, user, amount, transaction_id).await
}

/// Takes `amount` from the wallet if the balance covers it: one conditional UPDATE decides, so
/// two payments racing for the same money cannot both succeed.
pub async fn debit(
    db: &impl ConnectionTrait,
    user: Uuid,
    amount: i64,
    transaction_id: Uuid,
) -> AppResult<i64> {
    ensure_wallet(db, user).await?;
    let done = wallet::Entity::update_many()
        .col_expr(
            wallet::Column::BalanceCents,
            Expr::col(wallet::Column::BalanceCents).sub(amount),
        )
        .col_expr(wallet::Column::UpdatedAt, Expr::value(now()))
        .filter(wallet::Column::UserId.eq(user))
        .filter(wallet::Column::BalanceCents.gte(amount))
        .exec(db)
        .await?;
    if done.rows_affected != 1 {
        let have = balance(db, user).await?;
        return Err(AppError::InsufficientFunds(format!(
            "the wallet holds {have} but {amount} is needed; top it up and retry"
        )));
    }
    entry(db, user, -amount, transaction_id).await
}

async fn entry(
    db: &impl ConnectionTrait,
    user: Uuid,
    amount: i64,
    transaction_id: Uuid,
) -> AppResult<i64> {
    let after = balance(db, user).await?;
    ledger_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        transaction_id: Set(transaction_id),
        amount_cents: Set(amount),
        balance_after_cents: Set(after),
        created_at: Set(now()),
    }
    .insert(db)
    .await?;
    Ok(after)
}

/// A SUCCEEDED transaction row; `success_key` makes the same key unable to succeed twice.
pub struct NewTransaction {
    pub user_id: Uuid,
    pub kind: TransactionKind,
    pub status: TransactionStatus,
    pub method: Option<PaymentMethod>,
    pub amount_cents: i64,
    pub reservation: Option<(Uuid, Uuid)>,
    pub idempotency_key: Option<String>,
    pub success_key: Option<String>,
    pub failure_reason: Option<String>,
    pub gateway_charge_id: Option<Uuid>,
}

/// Whether `err` says this success key already succeeded for this user and kind
/// (`ux_transactions_success_key`).
pub fn success_key_taken(err: &DbErr) -> bool {
    is_unique_violation(
        err,
        "ux_transactions_success_key",
        &[
            "transactions.user_id",
            "transactions.kind",
            "transactions.success_key",
        ],
    )
}

pub async fn record(
    db: &impl ConnectionTrait,
    t: NewTransaction,
) -> Result<transaction::Model, sea_orm::DbErr> {
    transaction::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(t.user_id),
        event_id: Set(t.reservation.map(|(_, event)| event)),
        reservation_id: Set(t.reservation.map(|(r, _)| r)),
        kind: Set(t.kind),
        status: Set(t.status),
        method: Set(t.method),
        amount_cents: Set(t.amount_cents),
        failure_reason: Set(t.failure_reason),
        idempotency_key: Set(t.idempotency_key),
        success_key: Set(t.success_key),
        gateway_charge_id: Set(t.gateway_charge_id),
        created_at: Set(now()),
    }
    .insert(db)
    .await
}

/// Refunds `amount` of a paid reservation, once ("refund:<id>" is its success key, unique per
/// user), back the way the money came: a wallet payment to the wallet (in this transaction), a
/// card payment to the card (recorded here as a `card_refunds` row that `payments::refunds`
/// settles with the gateway after the commit, retried until it is). Stores the report and a
/// notification. A refund of 0 (a policy that keeps everything) is still recorded, so the report
/// shows the cancellation.
pub async fn refund(
    db: &impl ConnectionTrait,
    r: &reservation::Model,
    amount: i64,
) -> AppResult<crate::live::Effects> {
    let amount = amount.clamp(0, r.amount_cents);
    let payment = transaction::Entity::find()
        .filter(transaction::Column::ReservationId.eq(r.id))
        .filter(transaction::Column::Kind.eq(TransactionKind::Payment))
        .filter(transaction::Column::Status.eq(TransactionStatus::Succeeded))
        .one(db)
        .await?;
    let card_charge = payment
        .as_ref()
        .filter(|p| p.method == Some(PaymentMethod::Card))
        .and_then(|p| p.gateway_charge_id);
    let method = if card_charge.is_some() {
        PaymentMethod::Card
    } else {
        PaymentMethod::Wallet
    };
    let t = record(
        db,
        NewTransaction {
            user_id: r.user_id,
            kind: TransactionKind::Refund,
            status: TransactionStatus::Succeeded,
            method: Some(method),
            amount_cents: amount,
            reservation: Some((r.id, r.event_id)),
            idempotency_key: None,
            success_key: Some(format!("refund:{}", r.id)),
            failure_reason: None,
            gateway_charge_id: card_charge,
        },
    )
    .await
    .map_err(|err| {
        if success_key_taken(&err) {
            AppError::Conflict("the reservation was already refunded".into())
        } else {
            err.into()
        }
    })?;
    let mut card_refunds = Vec::new();
    match card_charge {
        Some(charge) if amount > 0 => {
            card_refund::ActiveModel {
                transaction_id: Set(t.id),
                charge_id: Set(charge),
                amount_cents: Set(amount),
                created_at: Set(now()),
                settled_at: Set(None),
                attempts: Set(0),
                last_error: Set(None),
            }
            .insert(db)
            .await?;
            card_refunds.push(t.id);
        }
        Some(_) => {}
        None if amount > 0 => {
            credit(db, r.user_id, amount, t.id).await?;
        }
        None => {}
    }
    crate::reports::outbox::record(db, &t).await?;
    let kept = r.amount_cents - amount;
    let destination = match method {
        PaymentMethod::Card => "the card that paid",
        PaymentMethod::Wallet => "your wallet",
    };
    let message = if kept == 0 {
        format!("{amount} was refunded to {destination} for a cancelled reservation.")
    } else {
        format!(
            "{amount} of the {} you paid was refunded to {destination} for a cancelled reservation; {kept} was kept under the event's cancellation policy.",
            r.amount_cents
        )
    };
    let n = crate::notifications::service::notify(
        db,
        r.user_id,
        entity::notification::NotificationKind::RefundIssued,
        message,
        Some(r.id),
        Some(r.event_id),
    )
    .await?;
    Ok(crate::live::Effects {
        reports: true,
        availability: vec![r.event_id],
        notifications: vec![n],
        card_refunds,
        ..Default::default()
    })
}

/// Transactions matching `scope`, newest first.
pub async fn list_transactions(
    db: &impl ConnectionTrait,
    scope: Condition,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<transaction::Model>> {
    let columns = (transaction::Column::CreatedAt, transaction::Column::Id);
    newest_first::<transaction::Entity>(db, scope, columns, |t| (t.created_at, t.id), first, after)
        .await
}
