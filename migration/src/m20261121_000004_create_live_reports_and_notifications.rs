//! The transaction-report outbox with its gapless sequence, notifications, and the flag that
//! keeps the "hold expiring" reminder to one per reservation.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Written in the same database transaction as the payment or refund it reports. `position` is
/// assigned afterwards, in commit order, by the sequencer (under the `report_sequence` row lock),
/// so positions never skip and never appear out of order to a reader: they are the cursors.
#[derive(DeriveIden)]
enum TransactionReports {
    Table,
    Id,
    Position,
    EventId,
    OrganizerId,
    TransactionId,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReportSequence {
    Table,
    Id,
    LastPosition,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    Kind,
    Message,
    ReservationId,
    EventId,
    CreatedAt,
    ReadAt,
}

#[derive(DeriveIden)]
enum Reservations {
    Table,
    ExpiryWarnedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TransactionReports::Table)
                    .col(pk_uuid(TransactionReports::Id))
                    .col(big_integer_null(TransactionReports::Position).unique_key())
                    .col(uuid(TransactionReports::EventId))
                    .col(uuid(TransactionReports::OrganizerId))
                    .col(uuid(TransactionReports::TransactionId))
                    .col(text(TransactionReports::Payload))
                    .col(timestamp_with_time_zone(TransactionReports::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reports_event_position")
                    .table(TransactionReports::Table)
                    .col(TransactionReports::EventId)
                    .col(TransactionReports::Position)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reports_organizer_position")
                    .table(TransactionReports::Table)
                    .col(TransactionReports::OrganizerId)
                    .col(TransactionReports::Position)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ReportSequence::Table)
                    .col(integer(ReportSequence::Id).primary_key())
                    .col(big_integer(ReportSequence::LastPosition))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ReportSequence::Table)
                    .columns([ReportSequence::Id, ReportSequence::LastPosition])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(pk_uuid(Notifications::Id))
                    .col(uuid(Notifications::UserId))
                    .col(string_len(Notifications::Kind, 32))
                    .col(string_len(Notifications::Message, 500))
                    .col(uuid_null(Notifications::ReservationId))
                    .col(uuid_null(Notifications::EventId))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_user")
                            .from(Notifications::Table, Notifications::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_user_created")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Reservations::Table)
                    .add_column(timestamp_with_time_zone_null(Reservations::ExpiryWarnedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Reservations::Table)
                    .drop_column(Reservations::ExpiryWarnedAt)
                    .to_owned(),
            )
            .await?;
        for table in [
            Notifications::Table.into_iden(),
            ReportSequence::Table.into_iden(),
            TransactionReports::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
