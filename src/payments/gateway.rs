//! The card gateway behind a trait, and a sandbox that behaves like a payment provider's test
//! mode. The sandbox keeps its own book of charges (table `card_charges`), as a provider would on
//! its side, so a charge survives restarts and is visible to every instance.
//!
//! Test tokens: `tok_visa` succeeds; `tok_chargeDeclined` is declined; `tok_processingError`
//! fails with a processing error; `tok_timeout` answers only after `CARD_TIMEOUT_MS`, as a timeout.

use std::time::Duration;

use async_trait::async_trait;
use entity::card_charge::{self, ChargeStatus};
use entity::card_charge_refund;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};
use uuid::Uuid;

pub struct ChargeRequest<'a> {
    /// Charging twice with one key returns the first charge instead of charging again.
    pub idempotency_key: String,
    pub token: &'a str,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub id: Uuid,
}

/// A charge as the provider lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeInfo {
    pub id: Uuid,
    pub idempotency_key: String,
    pub amount_cents: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug)]
pub enum GatewayError {
    /// The card was refused; nothing was charged.
    Declined(String),
    /// The provider failed; nothing was charged.
    Processing(String),
    /// No answer in time; the sandbox guarantees nothing was charged.
    TimedOut,
    /// The gateway itself could not be reached or misbehaved.
    Unavailable(anyhow::Error),
}

impl GatewayError {
    pub fn reason(&self) -> String {
        match self {
            GatewayError::Declined(m) => format!("card declined: {m}"),
            GatewayError::Processing(m) => format!("card processing error: {m}"),
            GatewayError::TimedOut => {
                "the card gateway did not answer in time; nothing was charged".into()
            }
            GatewayError::Unavailable(_) => {
                "the card gateway is unavailable; nothing was charged".into()
            }
        }
    }
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn charge(&self, request: ChargeRequest<'_>) -> Result<Charge, GatewayError>;
    /// Gives a charge back in full. Refunding an already refunded charge succeeds.
    async fn refund(&self, charge_id: Uuid) -> Result<(), GatewayError>;
    /// Gives `amount_cents` of a charge back, once per `refund_id` (a retry with the same id
    /// succeeds without refunding again). Never more than the charge in total.
    async fn refund_part(
        &self,
        charge_id: Uuid,
        amount_cents: i64,
        refund_id: Uuid,
    ) -> Result<(), GatewayError>;
    /// Charges still standing (not refunded) that were made before `before`, oldest first: how
    /// the sweeper finds charges whose payment never committed.
    async fn standing_charges(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<ChargeInfo>, GatewayError>;
}

pub struct SandboxGateway {
    db: DatabaseConnection,
    timeout: Duration,
}

impl SandboxGateway {
    pub fn new(db: DatabaseConnection, timeout: Duration) -> Self {
        SandboxGateway { db, timeout }
    }
}

fn unavailable(err: sea_orm::DbErr) -> GatewayError {
    GatewayError::Unavailable(err.into())
}

#[async_trait]
impl PaymentGateway for SandboxGateway {
    async fn charge(&self, request: ChargeRequest<'_>) -> Result<Charge, GatewayError> {
        match request.token {
            "tok_visa" => {}
            "tok_chargeDeclined" => {
                return Err(GatewayError::Declined("your card was declined".into()));
            }
            "tok_processingError" => {
                return Err(GatewayError::Processing(
                    "an error occurred while processing your card".into(),
                ));
            }
            "tok_timeout" => {
                tokio::time::sleep(self.timeout).await;
                return Err(GatewayError::TimedOut);
            }
            other => {
                return Err(GatewayError::Declined(format!(
                    "unknown test card token `{other}`; use tok_visa, tok_chargeDeclined, tok_processingError or tok_timeout"
                )));
            }
        }
        let row = card_charge::ActiveModel {
            id: Set(Uuid::now_v7()),
            idempotency_key: Set(request.idempotency_key.clone()),
            token: Set(request.token.to_string()),
            amount_cents: Set(request.amount_cents),
            status: Set(ChargeStatus::Succeeded),
            created_at: Set(crate::db::now()),
            refunded_at: Set(None),
            refunded_cents: Set(0),
        };
        card_charge::Entity::insert(row)
            .on_conflict(
                OnConflict::column(card_charge::Column::IdempotencyKey)
                    .do_nothing()
                    .to_owned(),
            )
            .try_insert()
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        let charge = card_charge::Entity::find()
            .filter(card_charge::Column::IdempotencyKey.eq(request.idempotency_key))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                GatewayError::Unavailable(anyhow::anyhow!("charge vanished after insert"))
            })?;
        if charge.amount_cents != request.amount_cents {
            return Err(GatewayError::Declined(
                "idempotency key reused with a different amount".into(),
            ));
        }
        if charge.status == ChargeStatus::Refunded {
            return Err(GatewayError::Declined(
                "the charge made under this idempotencyKey was refunded; retry with a new idempotencyKey".into(),
            ));
        }
        Ok(Charge { id: charge.id })
    }

    async fn refund(&self, charge_id: Uuid) -> Result<(), GatewayError> {
        card_charge::Entity::update_many()
            .col_expr(
                card_charge::Column::Status,
                Expr::value(ChargeStatus::Refunded),
            )
            .col_expr(
                card_charge::Column::RefundedAt,
                Expr::value(crate::db::now()),
            )
            .col_expr(
                card_charge::Column::RefundedCents,
                Expr::col(card_charge::Column::AmountCents),
            )
            .filter(card_charge::Column::Id.eq(charge_id))
            .filter(card_charge::Column::Status.eq(ChargeStatus::Succeeded))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        match card_charge::Entity::find_by_id(charge_id)
            .one(&self.db)
            .await
            .map_err(unavailable)?
        {
            Some(c) if c.status == ChargeStatus::Refunded => Ok(()),
            _ => Err(GatewayError::Unavailable(anyhow::anyhow!(
                "charge {charge_id} not found"
            ))),
        }
    }

    async fn refund_part(
        &self,
        charge_id: Uuid,
        amount_cents: i64,
        refund_id: Uuid,
    ) -> Result<(), GatewayError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let recorded = card_charge_refund::Entity::insert(card_charge_refund::ActiveModel {
            id: Set(refund_id),
            charge_id: Set(charge_id),
            amount_cents: Set(amount_cents),
            created_at: Set(crate::db::now()),
        })
        .on_conflict(
            OnConflict::column(card_charge_refund::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(unavailable)?;
        if recorded == 0 {
            // Already refunded under this id: a retry.
            return txn.commit().await.map_err(unavailable);
        }
        let applied = card_charge::Entity::update_many()
            .col_expr(
                card_charge::Column::RefundedCents,
                Expr::col(card_charge::Column::RefundedCents).add(amount_cents),
            )
            .filter(card_charge::Column::Id.eq(charge_id))
            .filter(card_charge::Column::Status.eq(ChargeStatus::Succeeded))
            .filter(
                Expr::col(card_charge::Column::RefundedCents)
                    .add(amount_cents)
                    .lte(Expr::col(card_charge::Column::AmountCents)),
            )
            .exec(&txn)
            .await
            .map_err(unavailable)?;
        if applied.rows_affected != 1 {
            return Err(GatewayError::Declined(format!(
                "charge {charge_id} cannot be refunded {amount_cents} more"
            )));
        }
        // Refunded in full: the charge is REFUNDED.
        card_charge::Entity::update_many()
            .col_expr(
                card_charge::Column::Status,
                Expr::value(ChargeStatus::Refunded),
            )
            .col_expr(
                card_charge::Column::RefundedAt,
                Expr::value(crate::db::now()),
            )
            .filter(card_charge::Column::Id.eq(charge_id))
            .filter(
                Expr::col(card_charge::Column::RefundedCents)
                    .eq(Expr::col(card_charge::Column::AmountCents)),
            )
            .exec(&txn)
            .await
            .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)
    }

    async fn standing_charges(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<ChargeInfo>, GatewayError> {
        let rows = card_charge::Entity::find()
            .filter(card_charge::Column::Status.eq(ChargeStatus::Succeeded))
            .filter(card_charge::Column::CreatedAt.lt(before))
            .order_by_asc(card_charge::Column::CreatedAt)
            .limit(500)
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|c| ChargeInfo {
                id: c.id,
                idempotency_key: c.idempotency_key,
                amount_cents: c.amount_cents,
                created_at: c.created_at,
            })
            .collect())
    }
}
