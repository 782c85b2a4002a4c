//! A kind of ticket for an event, with its price and seat counter.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_types")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    /// The session whose seats these are (of the same event).
    pub session_id: Uuid,
    /// Order in which the organizer listed the ticket types.
    pub position: i32,
    pub name: String,
    pub price_cents: i64,
    pub capacity: i32,
    /// Seats neither held nor sold; `0 <= available <= capacity` is a CHECK constraint.
    pub available: i32,
    /// Waitlist entries WAITING for this ticket type; public reserve takes seats only while 0.
    pub waiting: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::event::Entity",
        from = "Column::EventId",
        to = "super::event::Column::Id"
    )]
    Event,
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
