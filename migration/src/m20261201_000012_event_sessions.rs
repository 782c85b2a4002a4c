//! Sessions (issue 16): an event happens in one or more sessions (a festival's days, a
//! workshop's dates), and every ticket type belongs to exactly one of them, so its capacity is
//! that session's. Existing events get one session each, with the event's own times and the
//! event's id as the session's id (the backfill needs no id generator in SQL), and their ticket
//! types join it. `events.starts_at` / `ends_at` stay, kept by the service as the span of the
//! event's live sessions, so the existing filters, ordering and cursors keep working.
//!
//! `ticket_types.session_id` must name a session *of the same event*. PostgreSQL checks that
//! with a composite foreign key onto a unique (id, event_id); SQLite cannot add a constraint to
//! an existing table, so there the column is NOT NULL with a placeholder default and two
//! triggers refuse a ticket type whose session is missing or belongs to another event.

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum EventSessions {
    Table,
    Id,
    EventId,
    StartsAt,
    EndsAt,
    CancelledAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TicketTypes {
    Table,
    SessionId,
}

const SQLITE_GUARD: &str = "SELECT RAISE(ABORT, 'ticket_types.session_id must name a session of the same event') \
     WHERE NOT EXISTS (SELECT 1 FROM event_sessions s WHERE s.id = NEW.session_id AND s.event_id = NEW.event_id)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventSessions::Table)
                    .col(pk_uuid(EventSessions::Id))
                    .col(uuid(EventSessions::EventId))
                    .col(timestamp_with_time_zone(EventSessions::StartsAt))
                    .col(timestamp_with_time_zone_null(EventSessions::EndsAt))
                    .col(timestamp_with_time_zone_null(EventSessions::CancelledAt))
                    .col(timestamp_with_time_zone(EventSessions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_event_sessions_event")
                            .from(EventSessions::Table, EventSessions::EventId)
                            .to(Events::Table, Events::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // An event's sessions in order; also the target of the ticket types' composite key.
        manager
            .create_index(
                Index::create()
                    .name("ux_event_sessions_event_id")
                    .table(EventSessions::Table)
                    .col(EventSessions::EventId)
                    .col(EventSessions::Id)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_event_sessions_event_start")
                    .table(EventSessions::Table)
                    .col(EventSessions::EventId)
                    .col(EventSessions::StartsAt)
                    .to_owned(),
            )
            .await?;
        // The calendar: sessions in a date range.
        manager
            .create_index(
                Index::create()
                    .name("idx_event_sessions_start")
                    .table(EventSessions::Table)
                    .col(EventSessions::StartsAt)
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO event_sessions (id, event_id, starts_at, ends_at, cancelled_at, created_at) \
             SELECT id, id, starts_at, ends_at, NULL, created_at FROM events",
        )
        .await?;
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                db.execute_unprepared(
                    "ALTER TABLE ticket_types ADD COLUMN session_id uuid_text NOT NULL \
                     DEFAULT X'00000000000000000000000000000000'",
                )
                .await?;
                db.execute_unprepared("UPDATE ticket_types SET session_id = event_id")
                    .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER trg_ticket_types_session_insert BEFORE INSERT ON ticket_types \
                     BEGIN {SQLITE_GUARD}; END"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER trg_ticket_types_session_update \
                     BEFORE UPDATE OF session_id, event_id ON ticket_types \
                     BEGIN {SQLITE_GUARD}; END"
                ))
                .await?;
            }
            _ => {
                manager
                    .alter_table(
                        Table::alter()
                            .table(TicketTypes::Table)
                            .add_column(uuid_null(TicketTypes::SessionId))
                            .to_owned(),
                    )
                    .await?;
                db.execute_unprepared("UPDATE ticket_types SET session_id = event_id")
                    .await?;
                db.execute_unprepared(
                    "ALTER TABLE ticket_types ALTER COLUMN session_id SET NOT NULL",
                )
                .await?;
                db.execute_unprepared(
                    "ALTER TABLE ticket_types ADD CONSTRAINT fk_ticket_types_session \
                     FOREIGN KEY (event_id, session_id) REFERENCES event_sessions (event_id, id)",
                )
                .await?;
            }
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_types_session")
                    .table(TicketTypes::Table)
                    .col(TicketTypes::SessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        manager
            .drop_index(
                Index::drop()
                    .name("idx_ticket_types_session")
                    .table(TicketTypes::Table)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Sqlite {
            db.execute_unprepared("DROP TRIGGER IF EXISTS trg_ticket_types_session_insert")
                .await?;
            db.execute_unprepared("DROP TRIGGER IF EXISTS trg_ticket_types_session_update")
                .await?;
        } else {
            db.execute_unprepared(
                "ALTER TABLE ticket_types DROP CONSTRAINT IF EXISTS fk_ticket_types_session",
            )
            .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(TicketTypes::Table)
                    .drop_column(TicketTypes::SessionId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(EventSessions::Table).to_owned())
            .await
    }
}
