//! One seat of a confirmed reservation. `code` is a random internal reference; the code a
//! holder carries is signed from the ticket id, event id and `code_version`.

use sea_orm::entity::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TicketStatus {
    #[sea_orm(string_value = "VALID")]
    Valid,
    /// The reservation was cancelled; the code no longer admits anyone.
    #[sea_orm(string_value = "VOID")]
    Void,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub reservation_id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    /// The holder: the buyer, or whoever the ticket was last transferred to.
    pub user_id: Uuid,
    #[sea_orm(unique)]
    pub code: String,
    pub status: TicketStatus,
    /// The seat it admits to, for seated ticket types.
    pub seat_id: Option<Uuid>,
    /// The name printed on the ticket, when the holder set one.
    pub holder_name: Option<String>,
    pub created_at: DateTimeUtc,
    /// Signed into the ticket's code (`tickets::signing`); re-issuing the code increments it,
    /// so a code with an older version is revoked.
    pub code_version: i32,
    /// When the ticket was admitted at the door (set once, by a conditional update).
    pub checked_in_at: Option<DateTimeUtc>,
    /// Who admitted it.
    pub checked_in_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
