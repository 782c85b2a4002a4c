//! Tickets and entry (issue 14): the version of a ticket's signed code and its check-in time,
//! each event's door staff, a record of every scan, and each user's private calendar token.
//!
//! Admitting a ticket exactly once is guarded here: check-in is one conditional
//! `UPDATE tickets SET checked_in_at = … WHERE id = … AND checked_in_at IS NULL`, whose
//! affected-row count decides, on both backends.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    /// Part of the signed code; re-issuing a code (a transfer) increments it, which revokes
    /// the codes signed with an older version.
    CodeVersion,
    CheckedInAt,
    CheckedInBy,
}

#[derive(DeriveIden)]
enum EventStaff {
    Table,
    EventId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CheckInScans {
    Table,
    Id,
    EventId,
    /// Null when the code named no ticket (a bad signature or an unknown ticket).
    TicketId,
    ScannedBy,
    Status,
    Message,
    At,
}

#[derive(DeriveIden)]
enum CalendarTokens {
    Table,
    UserId,
    Token,
    CreatedAt,
}

fn fk(
    name: &str,
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from_table, from_col)
        .to(to_table, to_col)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            integer(Tickets::CodeVersion).default(1).to_owned(),
            timestamp_with_time_zone_null(Tickets::CheckedInAt),
            uuid_null(Tickets::CheckedInBy),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Tickets::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(EventStaff::Table)
                    .col(uuid(EventStaff::EventId))
                    .col(uuid(EventStaff::UserId))
                    .col(timestamp_with_time_zone(EventStaff::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(EventStaff::EventId)
                            .col(EventStaff::UserId),
                    )
                    .foreign_key(&mut fk(
                        "fk_event_staff_event",
                        EventStaff::Table,
                        EventStaff::EventId,
                        Events::Table,
                        Events::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_event_staff_user",
                        EventStaff::Table,
                        EventStaff::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CheckInScans::Table)
                    .col(pk_uuid(CheckInScans::Id))
                    .col(uuid(CheckInScans::EventId))
                    .col(uuid_null(CheckInScans::TicketId))
                    .col(uuid(CheckInScans::ScannedBy))
                    .col(string_len(CheckInScans::Status, 32))
                    .col(string_len(CheckInScans::Message, 300))
                    .col(timestamp_with_time_zone(CheckInScans::At))
                    .foreign_key(&mut fk(
                        "fk_check_in_scans_event",
                        CheckInScans::Table,
                        CheckInScans::EventId,
                        Events::Table,
                        Events::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_check_in_scans_user",
                        CheckInScans::Table,
                        CheckInScans::ScannedBy,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_check_in_scans_event")
                    .table(CheckInScans::Table)
                    .col(CheckInScans::EventId)
                    .col(CheckInScans::At)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CalendarTokens::Table)
                    .col(pk_uuid(CalendarTokens::UserId))
                    .col(string_len_uniq(CalendarTokens::Token, 64))
                    .col(timestamp_with_time_zone(CalendarTokens::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_calendar_tokens_user",
                        CalendarTokens::Table,
                        CalendarTokens::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CalendarTokens::Table.into_iden(),
            CheckInScans::Table.into_iden(),
            EventStaff::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [
            Tickets::CheckedInBy.into_iden(),
            Tickets::CheckedInAt.into_iden(),
            Tickets::CodeVersion.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tickets::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
