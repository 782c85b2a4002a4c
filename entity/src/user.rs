//! A person who can log in: attendee, organizer or admin.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a user may do; stored as text.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    #[sea_orm(string_value = "USER")]
    User,
    #[sea_orm(string_value = "ORGANIZER")]
    Organizer,
    #[sea_orm(string_value = "ADMIN")]
    Admin,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Lower-case; unique.
    #[sea_orm(unique)]
    pub username: String,
    pub email: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub role: Role,
    pub created_at: DateTimeUtc,
    pub display_name: Option<String>,
    /// Whether the 24-hour event reminder is e-mailed (`updateProfile`).
    pub email_reminders: bool,
    /// Set while an admin has suspended the account.
    pub suspended_at: Option<DateTimeUtc>,
    pub suspended_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
