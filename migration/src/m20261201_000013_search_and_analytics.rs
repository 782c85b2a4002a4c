//! Full-text search over events and the indexes analytics and the `events` orderings read.
//!
//! Search uses each database's own machinery. PostgreSQL: a stored generated `tsvector`
//! (title weight A, description B, venue C; the `simple` configuration, so no language's
//! stemming or stop words) under a GIN index. SQLite: an FTS5 table of its own (not an
//! external-content table: `events` has no INTEGER PRIMARY KEY, and its implicit rowids may
//! change on VACUUM), kept in step with `events` by triggers and keyed by the event id.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Both backends: money by event, kind and time, covering what the aggregates sum, so an
/// event's analytics read the index alone; payments by time across events (popularity, an
/// admin's window); events by creation (the NEWEST order).
const INDEXES: &[&str] = &[
    "CREATE INDEX idx_transactions_analytics ON transactions \
     (event_id, kind, status, created_at, reservation_id, amount_cents)",
    "CREATE INDEX idx_transactions_kind_created ON transactions (kind, status, created_at, event_id)",
    "CREATE INDEX idx_events_created ON events (created_at, id)",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE events ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ( \
       setweight(to_tsvector('simple', coalesce(title, '')), 'A') || \
       setweight(to_tsvector('simple', coalesce(description, '')), 'B') || \
       setweight(to_tsvector('simple', coalesce(venue, '')), 'C')) STORED",
    "CREATE INDEX idx_events_search ON events USING GIN (search_vector)",
];

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE events_fts USING fts5( \
       event_id UNINDEXED, title, description, venue, \
       tokenize = 'unicode61 remove_diacritics 0')",
    "INSERT INTO events_fts (event_id, title, description, venue) \
       SELECT id, title, coalesce(description, ''), coalesce(venue, '') FROM events",
    "CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN \
       INSERT INTO events_fts (event_id, title, description, venue) \
       VALUES (new.id, new.title, coalesce(new.description, ''), coalesce(new.venue, '')); \
     END",
    "CREATE TRIGGER events_fts_update AFTER UPDATE OF title, description, venue ON events BEGIN \
       DELETE FROM events_fts WHERE event_id = old.id; \
       INSERT INTO events_fts (event_id, title, description, venue) \
       VALUES (new.id, new.title, coalesce(new.description, ''), coalesce(new.venue, '')); \
     END",
    "CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN \
       DELETE FROM events_fts WHERE event_id = old.id; \
     END",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_events_search",
    "ALTER TABLE events DROP COLUMN IF EXISTS search_vector",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS events_fts_insert",
    "DROP TRIGGER IF EXISTS events_fts_update",
    "DROP TRIGGER IF EXISTS events_fts_delete",
    "DROP TABLE IF EXISTS events_fts",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, INDEXES).await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => run(manager, POSTGRES_UP).await,
            _ => run(manager, SQLITE_UP).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => run(manager, POSTGRES_DOWN).await?,
            _ => run(manager, SQLITE_DOWN).await?,
        }
        run(
            manager,
            &[
                "DROP INDEX IF EXISTS idx_transactions_analytics",
                "DROP INDEX IF EXISTS idx_transactions_kind_created",
                "DROP INDEX IF EXISTS idx_events_created",
            ],
        )
        .await
    }
}
