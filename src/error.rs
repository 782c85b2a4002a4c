//! `AppError`: every error the API can return, one variant per `extensions.code`.
//!
//! Clients see a safe message and the code; internal errors (database, I/O, bugs) render as
//! `INTERNAL_SERVER_ERROR` with a generic message and are logged in full, inside the request's
//! span, so the log line carries the request id that the client also receives.

use async_graphql::ErrorExtensions;

/// Deliberately not `Display` nor `std::error::Error`: async-graphql converts any `Display` type
/// into an error without a code, which would also send internal messages to clients. The only way
/// into a GraphQL error is the `From` impl below.
#[derive(Debug)]
pub enum AppError {
    /// No valid credentials: missing, expired, tampered or revoked token, or a failed login.
    Unauthenticated(String),
    /// Authenticated, but not allowed to do this.
    Forbidden(String),
    /// The thing does not exist (or is not visible to the caller).
    NotFound(String),
    /// The input is malformed or breaks a rule (length, range, format).
    BadUserInput(String),
    /// The input is fine but clashes with the current state (duplicate name, wrong lifecycle step).
    Conflict(String),
    /// Not enough seats left.
    SoldOut(String),
    /// The reservation's hold ran out before payment.
    HoldExpired(String),
    /// The wallet balance does not cover the amount.
    InsufficientFunds(String),
    /// The card gateway refused or failed the charge.
    PaymentDeclined(String),
    /// Too many requests; retry after the given number of seconds.
    RateLimited {
        message: String,
        retry_after_seconds: u64,
    },
    /// A dependency (the database) is briefly unreachable: safe to retry after the given number
    /// of seconds; HTTP 503 with `Retry-After`. The detail is logged, never sent.
    Unavailable {
        detail: anyhow::Error,
        retry_after_seconds: u64,
    },
    /// Anything the client did not cause. The detail is logged, never sent.
    Internal(anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// The `extensions.code` clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadUserInput(_) => "BAD_USER_INPUT",
            AppError::Conflict(_) => "CONFLICT",
            AppError::SoldOut(_) => "SOLD_OUT",
            AppError::HoldExpired(_) => "HOLD_EXPIRED",
            AppError::InsufficientFunds(_) => "INSUFFICIENT_FUNDS",
            AppError::PaymentDeclined(_) => "PAYMENT_DECLINED",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Unavailable { .. } => "SERVICE_UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message clients see.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated(m)
            | AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::BadUserInput(m)
            | AppError::Conflict(m)
            | AppError::SoldOut(m)
            | AppError::HoldExpired(m)
            | AppError::InsufficientFunds(m)
            | AppError::PaymentDeclined(m)
            | AppError::RateLimited { message: m, .. } => m.clone(),
            AppError::Unavailable { .. } => UNAVAILABLE_MESSAGE.to_string(),
            AppError::Internal(_) => INTERNAL_MESSAGE.to_string(),
        }
    }

    /// For callers outside GraphQL (startup, the CLI): keeps an internal error's whole chain.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            AppError::Internal(err) | AppError::Unavailable { detail: err, .. } => err,
            other => anyhow::anyhow!(other.message()),
        }
    }

    pub fn bad_input(msg: impl Into<String>) -> Self {
        AppError::BadUserInput(msg.into())
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(err.into())
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        AppError::Internal(err)
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        if is_unavailable(&err) {
            AppError::Unavailable {
                detail: anyhow::Error::new(err),
                retry_after_seconds: 2,
            }
        } else {
            AppError::Internal(anyhow::Error::new(err))
        }
    }
}

/// Whether a database error means "the database cannot be reached right now" (a retry may
/// work) rather than a bug: no connection to be had, a connection that broke, a server shutting
/// down or starting up (PostgreSQL's classes 08 and 57P), out of connections or other resources
/// (class 53, e.g. 53300 too_many_connections), or SQLite's write lock still taken after the
/// busy timeout (`SQLITE_BUSY` 5 and its extended codes, `SQLITE_LOCKED` 6).
pub fn is_unavailable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    use sea_orm::sqlx::Error as E;
    match &**sqlx {
        E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Tls(_) => true,
        E::Protocol(_) => true,
        E::Database(db) => match db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>() {
            // SQLite's primary result code is the low byte of the extended one.
            Some(_) => db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|n| matches!(n & 0xff, 5 | 6)),
            None => db.code().is_some_and(|c| {
                c.starts_with("08") || c.starts_with("57P") || c.starts_with("53")
            }),
        },
        _ => false,
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(err: sea_orm::TransactionError<AppError>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}

/// The message clients see when the database cannot be reached.
pub const UNAVAILABLE_MESSAGE: &str =
    "the service is briefly unavailable (its database cannot be reached); retry shortly";

/// The message clients see for internal errors.
pub const INTERNAL_MESSAGE: &str = "internal server error; quote the requestId when reporting it";

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        let code = err.code();
        match &err {
            // Logged inside the request span, which carries the request id.
            AppError::Internal(inner) => tracing::error!(error = ?inner, "internal error"),
            AppError::Unavailable { detail, .. } => {
                tracing::warn!(error = ?detail, "a dependency is unavailable")
            }
            _ => {}
        }
        let message = err.message();
        let retry_after = match &err {
            AppError::RateLimited {
                retry_after_seconds,
                ..
            }
            | AppError::Unavailable {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(seconds) = retry_after {
                ext.set("retryAfterSeconds", seconds);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_never_show_their_detail() {
        let err = AppError::from(sea_orm::DbErr::Custom("SELECT secret FROM users".into()));
        let gql: async_graphql::Error = err.into();
        assert_eq!(gql.message, INTERNAL_MESSAGE);
        let ext = format!("{:?}", gql.extensions);
        assert!(ext.contains("INTERNAL_SERVER_ERROR"), "{ext}");
        assert!(!ext.contains("secret"), "{ext}");
    }

    #[test]
    fn an_unreachable_database_is_service_unavailable_with_a_retry_time_and_no_detail() {
        let err = AppError::from(sea_orm::DbErr::ConnectionAcquire(
            sea_orm::ConnAcquireErr::Timeout,
        ));
        assert_eq!(err.code(), "SERVICE_UNAVAILABLE");
        let gql: async_graphql::Error = err.into();
        assert_eq!(gql.message, UNAVAILABLE_MESSAGE);
        let ext = format!("{:?}", gql.extensions);
        assert!(ext.contains("retryAfterSeconds"), "{ext}");
        let bug = AppError::from(sea_orm::DbErr::Custom("no such column".into()));
        assert_eq!(bug.code(), "INTERNAL_SERVER_ERROR");
    }

    /// SQLite's "database is locked" (the write lock still taken when the busy timeout ends)
    /// is a moment of overload, not a bug: 503 with a retry time.
    #[tokio::test]
    async fn a_locked_sqlite_database_is_service_unavailable() {
        use sea_orm::{ConnectOptions, ConnectionTrait, Database};
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("locked.db").display()
        );
        let open = || {
            let mut opts = ConnectOptions::new(url.clone());
            opts.max_connections(1).map_sqlx_sqlite_opts(|o| {
                o.busy_timeout(std::time::Duration::ZERO)
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            });
            Database::connect(opts)
        };
        let (a, b) = (open().await.unwrap(), open().await.unwrap());
        a.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        a.execute_unprepared("BEGIN IMMEDIATE").await.unwrap();
        let err = b
            .execute_unprepared("BEGIN IMMEDIATE")
            .await
            .expect_err("the write lock is taken");
        assert!(is_unavailable(&err), "{err:?}");
        assert_eq!(AppError::from(err).code(), "SERVICE_UNAVAILABLE");
        a.execute_unprepared("ROLLBACK").await.unwrap();
        // A genuine SQL error stays internal.
        let bug = b
            .execute_unprepared("SELECT nope FROM t")
            .await
            .unwrap_err();
        assert_eq!(AppError::from(bug).code(), "INTERNAL_SERVER_ERROR");
    }

    #[test]
    fn user_errors_keep_their_message_and_code() {
        let gql: async_graphql::Error = AppError::Conflict("username is taken".into()).into();
        assert_eq!(gql.message, "username is taken");
        assert!(format!("{:?}", gql.extensions).contains("CONFLICT"));
    }
}
