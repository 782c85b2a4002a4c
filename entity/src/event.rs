//! An event owned by an organizer.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Lifecycle: DRAFT → PUBLISHED → CANCELLED (a draft may also be cancelled).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum EventStatus {
    #[sea_orm(string_value = "DRAFT")]
    Draft,
    #[sea_orm(string_value = "PUBLISHED")]
    Published,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organizer_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub venue: Option<String>,
    pub starts_at: DateTimeUtc,
    pub ends_at: Option<DateTimeUtc>,
    pub status: EventStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The refund rules as JSON (`events::policy::Policy`); `None` = a full refund until the start.
    pub cancellation_policy: Option<String>,
    /// Whether ticket holders may pass their tickets on.
    pub allow_transfers: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::ticket_type::Entity")]
    TicketType,
}

impl Related<super::ticket_type::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TicketType.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
