//! Client input checked the same way by several domains. It imports nothing but `error`, so
//! any domain can use it without importing another (payments and reservations both take
//! idempotency keys, and reservations also call the ledger: keeping `clean_key` in either
//! would make the two import each other).

use crate::error::{AppError, AppResult};

/// Idempotency keys: 1–100 visible characters.
pub fn clean_key(key: &str, field: &str) -> AppResult<String> {
    let key = key.trim();
    if key.is_empty() || key.chars().count() > 100 {
        return Err(AppError::bad_input(format!(
            "{field} must be 1 to 100 characters long"
        )));
    }
    Ok(key.to_string())
}
