//! One seat of one event: the event's own copy of its venue's seat, with its sale status.

use sea_orm::entity::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum SeatStatus {
    #[sea_orm(string_value = "AVAILABLE")]
    Available,
    /// Held by a PENDING reservation (`reservation_id`).
    #[sea_orm(string_value = "HELD")]
    Held,
    /// Bought by a CONFIRMED reservation (`reservation_id`).
    #[sea_orm(string_value = "SOLD")]
    Sold,
    /// Taken off sale by the organizer.
    #[sea_orm(string_value = "BLOCKED")]
    Blocked,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_seats")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub section: String,
    /// The section's position in the venue.
    pub section_index: i32,
    pub row_label: String,
    /// 0 is the front row of its section.
    pub row_index: i32,
    /// 1..n within the row.
    pub number: i32,
    /// `row_label-number`, e.g. `A-12`.
    pub label: String,
    pub status: SeatStatus,
    /// Set exactly when HELD or SOLD (a CHECK constraint).
    pub reservation_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
