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
            AppError::Internal(_) => INTERNAL_MESSAGE.to_string(),
        }
    }

    /// For callers outside GraphQL (startup, the CLI): keeps an internal error's whole chain.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            AppError::Internal(err) => err,
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
        AppError::Internal(anyhow::Error::new(err))
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

/// The message clients see for internal errors.
pub const INTERNAL_MESSAGE: &str = "internal server error; quote the requestId when reporting it";

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        let code = err.code();
        if let AppError::Internal(inner) = &err {
            // Logged inside the request span, which carries the request id.
            tracing::error!(error = ?inner, "internal error");
        }
        let message = err.message();
        let retry_after = match &err {
            AppError::RateLimited {
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
    fn user_errors_keep_their_message_and_code() {
        let gql: async_graphql::Error = AppError::Conflict("username is taken".into()).into();
        assert_eq!(gql.message, "username is taken");
        assert!(format!("{:?}", gql.extensions).contains("CONFLICT"));
    }
}
