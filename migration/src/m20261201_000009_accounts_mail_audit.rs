//! Accounts, e-mail and audit: the e-mail outbox, the append-only audit log, and the profile
//! columns of users (display name, reminder opt-out, suspension).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One e-mail to send, written in the same database transaction as the change that causes it;
/// the delivery worker claims due rows (`claimed_until` is its lease), sends them and marks them.
#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    UserId,
    Recipient,
    Template,
    Context,
    DedupeKey,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    ClaimToken,
    LastError,
    CreatedAt,
    SentAt,
}

/// Who did what: appended in the same transaction as the change, never updated or deleted.
#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorId,
    Action,
    TargetType,
    TargetId,
    EventId,
    RequestId,
    ClientAddress,
    Detail,
}

/// A password-reset token: stored hashed, single-use, valid for an hour.
#[derive(DeriveIden)]
enum PasswordResets {
    Table,
    Id,
    UserId,
    TokenHash,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    DisplayName,
    EmailReminders,
    SuspendedAt,
    SuspendedReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .col(pk_uuid(MailOutbox::Id))
                    .col(uuid_null(MailOutbox::UserId))
                    .col(string_len(MailOutbox::Recipient, 254))
                    .col(string_len(MailOutbox::Template, 64))
                    .col(text(MailOutbox::Context))
                    // A message that must go at most once ever (a reminder per holder and event).
                    .col(string_len_null(MailOutbox::DedupeKey, 200).unique_key())
                    .col(string_len(MailOutbox::Status, 16))
                    .col(integer(MailOutbox::Attempts).default(0))
                    .col(timestamp_with_time_zone(MailOutbox::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::ClaimedUntil))
                    .col(uuid_null(MailOutbox::ClaimToken))
                    .col(text_null(MailOutbox::LastError))
                    .col(timestamp_with_time_zone(MailOutbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_outbox_due_idx")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::Status)
                    .col(MailOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(pk_uuid(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(uuid_null(AuditLog::ActorId))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len(AuditLog::TargetType, 32))
                    .col(string_len_null(AuditLog::TargetId, 64))
                    .col(uuid_null(AuditLog::EventId))
                    .col(string_len_null(AuditLog::RequestId, 100))
                    .col(string_len_null(AuditLog::ClientAddress, 64))
                    .col(text_null(AuditLog::Detail))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("audit_log_at_idx", AuditLog::At),
            ("audit_log_event_idx", AuditLog::EventId),
            ("audit_log_actor_idx", AuditLog::ActorId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditLog::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(PasswordResets::Table)
                    .col(pk_uuid(PasswordResets::Id))
                    .col(uuid(PasswordResets::UserId))
                    .col(string_len(PasswordResets::TokenHash, 64).unique_key())
                    .col(timestamp_with_time_zone(PasswordResets::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PasswordResets::UsedAt))
                    .col(timestamp_with_time_zone(PasswordResets::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        let columns = [
            string_len_null(Users::DisplayName, 100),
            boolean(Users::EmailReminders).default(true).to_owned(),
            timestamp_with_time_zone_null(Users::SuspendedAt),
            string_len_null(Users::SuspendedReason, 500),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Users::DisplayName,
            Users::EmailReminders,
            Users::SuspendedAt,
            Users::SuspendedReason,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(PasswordResets::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(MailOutbox::Table).to_owned())
            .await
    }
}
