//! GraphQL face of money: `wallet`, `topUpWallet`, `pay`, and the `Transaction` type.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::transaction::{self, PaymentMethod, TransactionKind, TransactionStatus};
use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

use super::ledger;
use super::service::{self, PayRequest};
use crate::auth::graphql::User;
use crate::connection;
use crate::error::AppError;
use crate::events::graphql::parse_id;
use crate::graphql::context::ContextExt;
use crate::graphql::pagination::page_size;
use crate::graphql::scalars::Cents;
use crate::reservations::graphql::Reservation;

/// What a transaction did.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "TransactionKind")]
pub enum TransactionKindGql {
    /// Money added to a wallet.
    TopUp,
    /// Payment for a reservation.
    Payment,
    /// Money returned to a wallet for a cancelled reservation.
    Refund,
    /// An admin's credit or debit of a wallet (`adjustWallet`); a debit's amount is negative.
    Adjustment,
}

/// Whether a transaction went through.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "TransactionStatus")]
pub enum TransactionStatusGql {
    /// Money moved.
    Succeeded,
    /// Nothing moved; `failureReason` says why.
    Failed,
}

/// How a reservation is paid.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "PaymentMethod")]
pub enum PaymentMethodGql {
    /// From the buyer's wallet balance.
    Wallet,
    /// With a card through the card gateway (sandbox test tokens: tok_visa, tok_chargeDeclined,
    /// tok_processingError, tok_timeout).
    Card,
}

impl From<PaymentMethodGql> for PaymentMethod {
    fn from(m: PaymentMethodGql) -> Self {
        match m {
            PaymentMethodGql::Wallet => PaymentMethod::Wallet,
            PaymentMethodGql::Card => PaymentMethod::Card,
        }
    }
}

/// A money movement, or a failed attempt at one.
pub struct Transaction {
    model: transaction::Model,
    /// Already known (a live report carries it); otherwise loaded on demand.
    buyer: Option<entity::user::Model>,
}

impl Transaction {
    pub fn new(model: transaction::Model) -> Self {
        Transaction { model, buyer: None }
    }
    pub fn with_buyer(model: transaction::Model, buyer: entity::user::Model) -> Self {
        Transaction {
            model,
            buyer: Some(buyer),
        }
    }
}

/// A money movement, or a failed attempt at one.
#[Object]
impl Transaction {
    /// Stable identifier of the transaction.
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    /// Top-up, payment or refund.
    async fn kind(&self) -> TransactionKindGql {
        match self.model.kind {
            TransactionKind::TopUp => TransactionKindGql::TopUp,
            TransactionKind::Payment => TransactionKindGql::Payment,
            TransactionKind::Refund => TransactionKindGql::Refund,
            TransactionKind::Adjustment => TransactionKindGql::Adjustment,
        }
    }
    /// Whether money moved.
    async fn status(&self) -> TransactionStatusGql {
        match self.model.status {
            TransactionStatus::Succeeded => TransactionStatusGql::Succeeded,
            TransactionStatus::Failed => TransactionStatusGql::Failed,
        }
    }
    /// The amount, in minor units; positive, `kind` gives the direction, except an `ADJUSTMENT`
    /// debit, which is negative.
    async fn amount_cents(&self) -> Cents {
        Cents(self.model.amount_cents)
    }
    /// Why a FAILED transaction failed.
    async fn failure_reason(&self) -> Option<&str> {
        self.model.failure_reason.as_deref()
    }
    /// How a payment was made; null for top-ups and refunds.
    async fn method(&self) -> Option<PaymentMethodGql> {
        self.model.method.map(|m| match m {
            PaymentMethod::Wallet => PaymentMethodGql::Wallet,
            PaymentMethod::Card => PaymentMethodGql::Card,
        })
    }
    /// The reservation paid or refunded, if any.
    async fn reservation_id(&self) -> Option<ID> {
        self.model.reservation_id.map(|id| ID(id.to_string()))
    }
    /// The event the money was for, if any.
    async fn event_id(&self) -> Option<ID> {
        self.model.event_id.map(|id| ID(id.to_string()))
    }
    /// The wallet owner or buyer.
    async fn buyer(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        if let Some(buyer) = &self.buyer {
            return Ok(User::public(buyer.clone()));
        }
        let user = ctx.users().load_one(self.model.user_id).await?;
        user.map(User::public).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("buyer {} is missing", self.model.user_id)).into()
        })
    }
    /// When it happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
}

connection!(
    TransactionConnection,
    TransactionEdge,
    Transaction,
    "A page of transactions, newest first.",
    "A transaction in a page, with its cursor."
);

/// The logged-in user's money.
pub struct Wallet {
    user_id: Uuid,
    balance_cents: i64,
}

/// The logged-in user's money.
#[Object]
impl Wallet {
    /// What the wallet holds, in minor units; never negative.
    async fn balance_cents(&self) -> Cents {
        Cents(self.balance_cents)
    }
    /// The user's top-ups, payments (failed ones too) and refunds, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last transaction already seen.")] after: Option<String>,
    ) -> async_graphql::Result<TransactionConnection> {
        let scope = Condition::all().add(transaction::Column::UserId.eq(self.user_id));
        let page =
            ledger::list_transactions(&ctx.state().db, scope, page_size(first)?, after.as_deref())
                .await?;
        Ok(page.map(Transaction::new).into())
    }
}

/// Pays for a held reservation.
#[derive(InputObject)]
pub struct PayInput {
    /// The PENDING reservation to pay.
    reservation_id: ID,
    /// 1–100 characters chosen by the client; retrying with the same key never charges twice.
    idempotency_key: String,
    /// Wallet (default) or card.
    #[graphql(default_with = "PaymentMethodGql::Wallet")]
    method: PaymentMethodGql,
    /// Required for CARD: a sandbox test token such as `tok_visa`.
    card_token: Option<String>,
}

/// The result of a successful payment.
#[derive(SimpleObject)]
pub struct PayPayload {
    /// The reservation, now CONFIRMED, with its tickets.
    reservation: Reservation,
    /// The SUCCEEDED payment.
    transaction: Transaction,
}

#[derive(Default)]
pub struct PaymentsQuery;

#[Object]
impl PaymentsQuery {
    /// The logged-in user's wallet (balance 0 before the first top-up).
    async fn wallet(&self, ctx: &Context<'_>) -> async_graphql::Result<Wallet> {
        let viewer = ctx.require_viewer()?;
        let balance_cents = ledger::balance(&ctx.state().db, viewer.user_id).await?;
        Ok(Wallet {
            user_id: viewer.user_id,
            balance_cents,
        })
    }
}

#[derive(Default)]
pub struct PaymentsMutation;

#[Object]
impl PaymentsMutation {
    /// Adds money to the logged-in user's wallet, charged to a card through the card gateway
    /// (`cardToken` is required; a declined card adds nothing: `PAYMENT_DECLINED`). The same key
    /// with the same amount charges and credits once; with another amount it is a `CONFLICT`.
    async fn top_up_wallet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Amount in minor units, 1 up to the configured maximum.")]
        amount_cents: Cents,
        #[graphql(
            desc = "1–100 characters chosen by the client; a retry with the same key credits once."
        )]
        idempotency_key: String,
        #[graphql(
            desc = "The card to charge; required (sandbox test tokens: tok_visa, tok_chargeDeclined, tok_processingError, tok_timeout)."
        )]
        card_token: Option<String>,
    ) -> async_graphql::Result<Wallet> {
        let viewer = ctx.require_viewer()?;
        let balance_cents = super::top_up::top_up(
            ctx.state(),
            viewer,
            &ctx.actor(),
            amount_cents.0,
            &idempotency_key,
            card_token.as_deref(),
        )
        .await?;
        Ok(Wallet {
            user_id: viewer.user_id,
            balance_cents,
        })
    }

    /// Admins only: credits (positive `amountCents`) or debits (negative) a user's wallet, with a
    /// reason, as an `ADJUSTMENT` transaction in the ledger and a `wallet.adjust` audit entry. A
    /// debit never takes the balance below zero (`CONFLICT`).
    async fn adjust_wallet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose wallet.")] user_id: ID,
        #[graphql(desc = "Positive to credit, negative to debit; not 0.")] amount_cents: Cents,
        #[graphql(desc = "Why, 1–500 characters; kept in the audit log.")] reason: String,
    ) -> async_graphql::Result<Wallet> {
        let viewer = ctx.require_viewer()?;
        let user_id = parse_id(&user_id, "userId")?;
        let balance_cents = super::adjust::adjust(
            ctx.state(),
            viewer,
            &ctx.actor(),
            user_id,
            amount_cents.0,
            &reason,
        )
        .await?;
        Ok(Wallet {
            user_id,
            balance_cents,
        })
    }

    /// Pays for a PENDING reservation: confirms it and issues one ticket per seat, or fails with
    /// nothing charged (`INSUFFICIENT_FUNDS`, `PAYMENT_DECLINED`, `HOLD_EXPIRED`).
    async fn pay(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to pay and how.")] input: PayInput,
    ) -> async_graphql::Result<PayPayload> {
        let viewer = ctx.require_viewer()?;
        let request = PayRequest {
            reservation_id: parse_id(&input.reservation_id, "reservationId")?,
            idempotency_key: input.idempotency_key,
            method: input.method.into(),
            card_token: input.card_token,
        };
        let method = match request.method {
            PaymentMethod::Wallet => "WALLET",
            PaymentMethod::Card => "CARD",
        };
        let result = service::pay(ctx.state(), viewer, &ctx.actor(), request).await;
        let outcome = result.as_ref().map_or_else(|e| e.code(), |_| "ok");
        ctx.state().metrics.payments.inc(&[method, outcome]);
        let paid = result?;
        Ok(PayPayload {
            reservation: Reservation(paid.reservation),
            transaction: Transaction::new(paid.transaction),
        })
    }
}
