//! One e-mail waiting to be sent (or sent, or given up on): the e-mail outbox.

use sea_orm::entity::prelude::*;

/// Where a message is in its life; stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MailStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "SENT")]
    Sent,
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub recipient: String,
    /// The template's name (`booking_confirmation`, …) under `templates/mail/`.
    pub template: String,
    /// The template's context as JSON, taken inside the transaction that caused the message.
    pub context: String,
    /// Unique when set: a message that must exist at most once (a reminder per holder).
    #[sea_orm(unique)]
    pub dedupe_key: Option<String>,
    pub status: MailStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// The lease of the worker that claimed the row; others leave it alone until it lapses.
    pub claimed_until: Option<DateTimeUtc>,
    pub claim_token: Option<Uuid>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
