//! The database connection (PostgreSQL or SQLite), write transactions, and instance settings
//! that live in the database; `paging` pages lists of rows for the services.

pub mod paging;
pub mod raw;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use migration::MigratorTrait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait, Set, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::{DatabaseKind, Secret, Settings};
use crate::metrics::Metrics;

/// Opens the pool. SQLite gets WAL (readers never wait for the writer), a busy timeout (a writer
/// waits for the lock instead of failing) and enforced foreign keys.
pub async fn connect(
    settings: &Settings,
    metrics: Arc<Metrics>,
) -> anyhow::Result<DatabaseConnection> {
    if settings.database_kind() == DatabaseKind::Sqlite
        && let Some(path) = sqlite_path(&settings.database_url)
    {
        private_file(&path)?;
    }
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    opts.max_connections(settings.db_max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if settings.database_kind() == DatabaseKind::Sqlite {
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    }
    let mut db = Database::connect(opts).await.with_context(|| {
        format!(
            "cannot connect to the database at DATABASE_URL ({})",
            redact(&settings.database_url)
        )
    })?;
    let max = settings.db_max_connections;
    let pool_reader: Box<dyn Fn() -> crate::metrics::PoolGauges + Send + Sync> =
        match db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool().clone();
                Box::new(move || crate::metrics::PoolGauges {
                    size: pool.size(),
                    idle: pool.num_idle() as u32,
                    max,
                })
            }
            _ => {
                let pool = db.get_sqlite_connection_pool().clone();
                Box::new(move || crate::metrics::PoolGauges {
                    size: pool.size(),
                    idle: pool.num_idle() as u32,
                    max,
                })
            }
        };
    let _ = metrics.pool.set(pool_reader);
    db.set_metric_callback(move |info| {
        metrics.db_statements.fetch_add(1, Ordering::Relaxed);
        if info.failed {
            metrics.db_statement_errors.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(db)
}

/// The file behind a SQLite URL (`sqlite://evenntify.db?mode=rwc`, `sqlite:///abs/x.db`,
/// `sqlite:x.db`); `None` for an in-memory database.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(':') {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// The SQLite file holds the generated signing secret: create it readable by its owner only
/// (SQLite gives its -wal and -shm files the same permissions), and take read access away from
/// others on a file an earlier version created. Says so when it creates the file.
fn private_file(path: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => tracing::info!(
                path = %path.display(),
                "created the SQLite database (readable by this user only); migrations run next, and a token-signing secret is generated and kept in it"
            ),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))
                        .with_context(|| {
                        format!("cannot restrict the permissions of {}", path.display())
                    })?;
                }
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot create the SQLite database {}", path.display())
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    let pending = migration::Migrator::get_pending_migrations(db)
        .await
        .context("reading the applied migrations")?
        .len();
    migration::Migrator::up(db, None)
        .await
        .context("running migrations")?;
    if pending > 0 {
        tracing::info!(applied = pending, "database migrations applied");
    }
    if pending == migration::Migrator::migrations().len() {
        tracing::info!(
            "a new, empty database: `evenntify seed` fills it with demo events and logins"
        );
    }
    Ok(())
}

/// Begins a transaction that will write. On SQLite it takes the write lock at BEGIN
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails with "database is
/// locked" when another writer got in between, whereas IMMEDIATE waits (busy timeout) instead.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
        }
        _ => db.begin().await,
    }
}

/// Whether `err` is a violation of the unique index `index` (over `columns`, each written
/// `table.column`), and not of some other unique index of the table.
///
/// The two backends name the index differently: PostgreSQL says `duplicate key value violates
/// unique constraint "ux_…"`; SQLite names the columns of a unique index instead
/// (`UNIQUE constraint failed: table.a, table.b`), and the index only for an expression index.
pub fn is_unique_violation(err: &DbErr, index: &str, columns: &[&str]) -> bool {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => {
            names_unique_index(&message, index, columns)
        }
        _ => false,
    }
}

fn names_unique_index(message: &str, index: &str, columns: &[&str]) -> bool {
    if message.contains(&format!("\"{index}\"")) || message.contains(&format!("index '{index}'")) {
        return true;
    }
    message
        .split_once("UNIQUE constraint failed: ")
        .is_some_and(|(_, named)| named.split(',').map(str::trim).eq(columns.iter().copied()))
}

const JWT_SECRET_KEY: &str = "jwt_secret";

/// The secret that signs access tokens: `JWT_SECRET` when set; otherwise (SQLite only, the
/// zero-configuration default) one generated on first start and stored in the database, so tokens
/// survive a restart.
pub async fn jwt_secret(db: &DatabaseConnection, settings: &Settings) -> anyhow::Result<Secret> {
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.clone());
    }
    anyhow::ensure!(
        settings.database_kind() == DatabaseKind::Sqlite,
        "invalid JWT_SECRET: is required when DATABASE_URL points at PostgreSQL"
    );
    let stored = stored_setting(db, JWT_SECRET_KEY, crate::auth::random_token(48)).await?;
    Ok(Secret::new(stored))
}

/// The value stored under `key` in `app_settings`, storing `generated` first if there is none.
/// Two instances starting at once both try to insert; the first wins and both read it back.
pub async fn stored_setting(
    db: &DatabaseConnection,
    key: &str,
    generated: String,
) -> anyhow::Result<String> {
    entity::app_setting::Entity::insert(entity::app_setting::ActiveModel {
        key: Set(key.into()),
        value: Set(generated),
    })
    .on_conflict(
        OnConflict::column(entity::app_setting::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .try_insert()
    .exec(db)
    .await?;
    let stored = entity::app_setting::Entity::find_by_id(key.to_string())
        .one(db)
        .await?
        .with_context(|| format!("the generated `{key}` vanished from app_settings"))?;
    Ok(stored.value)
}

const DEPLOYMENT_KEY: &str = "deployment_id";

/// A random id generated once per database and kept in it: every instance on the same database
/// shares it, and deployments that share one Redis use it to keep their channels and keys apart.
pub async fn deployment_id(db: &DatabaseConnection) -> anyhow::Result<String> {
    stored_setting(
        db,
        DEPLOYMENT_KEY,
        uuid::Uuid::new_v4().simple().to_string(),
    )
    .await
}

/// Checks that the database answers (for `/readyz`).
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// Hides a password in a connection URL before it reaches a message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The current time truncated to microseconds: what PostgreSQL stores, so a value read back
/// equals the value written on both backends, and cursors built from it stay exact.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    truncate_micros(chrono::Utc::now())
}

pub fn truncate_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Timelike};
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros)
        .unwrap_or_else(|| t.trunc_subsecs(6))
}

#[cfg(test)]
mod tests {
    use super::names_unique_index;

    const SUCCESS_KEY: [&str; 3] = [
        "transactions.user_id",
        "transactions.kind",
        "transactions.success_key",
    ];

    #[test]
    fn unique_violations_are_told_apart_by_index_on_both_backends() {
        let pg = "duplicate key value violates unique constraint \"ux_transactions_success_key\"";
        assert!(names_unique_index(
            pg,
            "ux_transactions_success_key",
            &SUCCESS_KEY
        ));
        assert!(!names_unique_index(
            pg,
            "ux_transactions_success",
            &SUCCESS_KEY
        ));
        let sqlite = "UNIQUE constraint failed: transactions.user_id, transactions.kind, transactions.success_key";
        assert!(names_unique_index(
            sqlite,
            "ux_transactions_success_key",
            &SUCCESS_KEY
        ));
        assert!(!names_unique_index(
            sqlite,
            "ux_transactions_success_key",
            &SUCCESS_KEY[..2]
        ));
        let other = "UNIQUE constraint failed: transactions.id";
        assert!(!names_unique_index(
            other,
            "ux_transactions_success_key",
            &SUCCESS_KEY
        ));
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        use std::path::PathBuf;
        assert_eq!(
            super::sqlite_path("sqlite://evenntify.db?mode=rwc"),
            Some(PathBuf::from("evenntify.db"))
        );
        assert_eq!(
            super::sqlite_path("sqlite:///tmp/x/test.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x/test.db"))
        );
        assert_eq!(super::sqlite_path("sqlite::memory:"), None);
        assert_eq!(super::sqlite_path("postgres://x/y"), None);
    }

    #[test]
    fn passwords_in_database_urls_are_redacted() {
        assert_eq!(
            super::redact("postgres://app:hunter2@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            super::redact("sqlite://evenntify.db?mode=rwc"),
            "sqlite://evenntify.db?mode=rwc"
        );
    }
}
