//! A stored transaction report (the outbox): payload plus its position once sequenced.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transaction_reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Gapless, in commit order; NULL until the sequencer gets to it.
    #[sea_orm(unique)]
    pub position: Option<i64>,
    pub event_id: Uuid,
    pub organizer_id: Uuid,
    pub transaction_id: Uuid,
    /// The report as JSON (transaction, buyer, summary at that moment).
    pub payload: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
