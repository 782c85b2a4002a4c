//! A refund to a card that our books promised (the REFUND transaction) and the gateway must
//! still carry out: settled after the commit, retried by the sweeper until it is.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "card_refunds")]
pub struct Model {
    /// The REFUND transaction; also the idempotency key at the gateway.
    #[sea_orm(primary_key, auto_increment = false)]
    pub transaction_id: Uuid,
    pub charge_id: Uuid,
    pub amount_cents: i64,
    pub created_at: DateTimeUtc,
    pub settled_at: Option<DateTimeUtc>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
