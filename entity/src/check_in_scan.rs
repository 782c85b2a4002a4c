//! One scan at an event's door: who scanned, when, and what the answer was.

use sea_orm::entity::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum CheckInStatus {
    #[sea_orm(string_value = "ADMITTED")]
    Admitted,
    #[sea_orm(string_value = "ALREADY_CHECKED_IN")]
    AlreadyCheckedIn,
    #[sea_orm(string_value = "INVALID")]
    Invalid,
    #[sea_orm(string_value = "REVOKED")]
    Revoked,
    #[sea_orm(string_value = "WRONG_EVENT")]
    WrongEvent,
    #[sea_orm(string_value = "NOT_VALID_YET")]
    NotValidYet,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "check_in_scans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    /// Null when the code named no ticket.
    pub ticket_id: Option<Uuid>,
    pub scanned_by: Uuid,
    pub status: CheckInStatus,
    pub message: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
