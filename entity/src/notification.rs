//! A message for one user about their reservations and money.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum NotificationKind {
    #[sea_orm(string_value = "RESERVATION_CONFIRMED")]
    ReservationConfirmed,
    #[sea_orm(string_value = "PAYMENT_FAILED")]
    PaymentFailed,
    #[sea_orm(string_value = "HOLD_EXPIRING")]
    HoldExpiring,
    #[sea_orm(string_value = "HOLD_EXPIRED")]
    HoldExpired,
    #[sea_orm(string_value = "REFUND_ISSUED")]
    RefundIssued,
    #[sea_orm(string_value = "WAITLIST_OFFER")]
    WaitlistOffer,
    #[sea_orm(string_value = "TICKET_TRANSFERRED")]
    TicketTransferred,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: NotificationKind,
    pub message: String,
    pub reservation_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
