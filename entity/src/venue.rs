//! A place with numbered seats, owned by an organizer; its layout (sections → rows) is JSON.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "venues")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organizer_id: Uuid,
    pub name: String,
    /// Seats in all sections.
    pub capacity: i32,
    /// `[{"name": …, "rows": [{"label": …, "seats": n}, …]}, …]`, rows front to back.
    pub layout: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
