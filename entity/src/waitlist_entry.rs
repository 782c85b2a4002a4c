//! A place in a ticket type's waitlist: people waiting for seats to come back.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum WaitlistStatus {
    /// In the queue.
    #[sea_orm(string_value = "WAITING")]
    Waiting,
    /// Seats are held for the entry (its offer reservation) until `offer_expires_at`.
    #[sea_orm(string_value = "OFFERED")]
    Offered,
    /// The offer was paid.
    #[sea_orm(string_value = "FULFILLED")]
    Fulfilled,
    /// The offer lapsed unpaid, or the event was cancelled.
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    /// Its owner left the queue (or declined the offer).
    #[sea_orm(string_value = "LEFT")]
    Left,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "waitlist_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ticket_type_id: Uuid,
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub quantity: i32,
    pub status: WaitlistStatus,
    pub offer_reservation_id: Option<Uuid>,
    pub offer_expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
