//! The sandbox card gateway's own book of charges: what a payment provider would hold on its side.

use sea_orm::entity::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ChargeStatus {
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    #[sea_orm(string_value = "REFUNDED")]
    Refunded,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "card_charges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The caller's key: charging twice with one key returns the first charge.
    #[sea_orm(unique)]
    pub idempotency_key: String,
    pub token: String,
    pub amount_cents: i64,
    pub status: ChargeStatus,
    pub created_at: DateTimeUtc,
    pub refunded_at: Option<DateTimeUtc>,
    /// Given back so far through partial refunds (`card_charge_refunds`).
    pub refunded_cents: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
