//! A money movement (or a failed attempt at one): top-up, payment, refund or an admin's
//! adjustment (the only kind whose amount may be negative: a debit).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TransactionKind {
    #[sea_orm(string_value = "TOP_UP")]
    TopUp,
    #[sea_orm(string_value = "PAYMENT")]
    Payment,
    #[sea_orm(string_value = "REFUND")]
    Refund,
    /// An admin's credit (positive amount) or debit (negative amount) of a wallet.
    #[sea_orm(string_value = "ADJUSTMENT")]
    Adjustment,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TransactionStatus {
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PaymentMethod {
    #[sea_orm(string_value = "WALLET")]
    Wallet,
    #[sea_orm(string_value = "CARD")]
    Card,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "transactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The wallet owner or buyer.
    pub user_id: Uuid,
    pub event_id: Option<Uuid>,
    pub reservation_id: Option<Uuid>,
    pub kind: TransactionKind,
    pub status: TransactionStatus,
    pub method: Option<PaymentMethod>,
    pub amount_cents: i64,
    pub failure_reason: Option<String>,
    pub idempotency_key: Option<String>,
    /// Equals the idempotency key on SUCCEEDED rows only; unique per (user, kind).
    pub success_key: Option<String>,
    pub gateway_charge_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
