//! Password reset: `requestPasswordReset` e-mails a single-use link valid for an hour (the token
//! is stored hashed), and `resetPassword` trades the token for a new password and a new session,
//! ending every older session of the account.

use chrono::Duration;
use entity::{password_reset, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use super::service::{Authenticated, find_by_username, normalize_username, open_session};
use super::{random_token, token_hash};
use crate::audit::Actor;
use crate::audit::service::{Entry, record};
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::mail::outbox::{Mail, enqueue};
use crate::ratelimit::Limit;
use crate::state::AppState;

const VALID_FOR_MINUTES: i64 = 60;
const BAD_TOKEN: &str = "this reset link is invalid, used or expired; ask for a new one";

/// Always `Ok(true)` whether or not the account exists, so the answer tells nothing; a message
/// goes out only to an account with an e-mail address, at most a few per hour. Only the
/// per-address limit is visible (it does not depend on the account).
pub async fn request(state: &AppState, actor: &Actor, username_or_email: &str) -> AppResult<bool> {
    if let Some(address) = &actor.client_address {
        state
            .rate
            .hit(Limit::PasswordResetIp, address)
            .await
            .inspect_err(|_| {
                state
                    .metrics
                    .rate_limited
                    .inc(&[Limit::PasswordResetIp.name()])
            })?;
    }
    let wanted = username_or_email.trim();
    if wanted.is_empty() || wanted.len() > 254 {
        return Ok(true);
    }
    let account = if wanted.contains('@') {
        user::Entity::find()
            .filter(user::Column::Email.eq(wanted.to_lowercase()))
            .one(&state.db)
            .await?
    } else {
        match normalize_username(wanted) {
            Ok(name) => find_by_username(&state.db, &name).await?,
            Err(_) => None,
        }
    };
    let Some(account) = account.filter(|a| a.email.is_some()) else {
        return Ok(true);
    };
    if state
        .rate
        .hit(Limit::PasswordResetAccount, &account.id.to_string())
        .await
        .is_err()
    {
        return Ok(true);
    }
    let token = random_token(32);
    let txn = begin_write(&state.db).await?;
    password_reset::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(account.id),
        token_hash: Set(token_hash(&token)),
        expires_at: Set(now() + Duration::minutes(VALID_FOR_MINUTES)),
        used_at: Set(None),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await?;
    enqueue(
        &txn,
        account.id,
        Mail::new(
            "password_reset",
            json!({ "username": account.username, "token": token }),
        ),
    )
    .await?;
    record(
        &txn,
        actor,
        Entry {
            action: "auth.reset_requested",
            target_type: "user",
            target_id: Some(account.id.to_string()),
            event_id: None,
            detail: serde_json::Value::Null,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Sets a new password with a reset token (once), ends every session of the account, and logs
/// it in with a new one.
pub async fn reset(
    state: &AppState,
    actor: &Actor,
    token: &str,
    new_password: String,
) -> AppResult<Authenticated> {
    super::service::validate_password(&new_password)?;
    let hash = token_hash(token.trim());
    let found = password_reset::Entity::find()
        .filter(password_reset::Column::TokenHash.eq(hash))
        .one(&state.db)
        .await?
        .filter(|r| r.used_at.is_none() && r.expires_at > now())
        .ok_or_else(|| AppError::bad_input(BAD_TOKEN))?;
    let password_hash = state.passwords.hash(new_password).await?;
    let txn = begin_write(&state.db).await?;
    // The conditional UPDATE decides: of two uses racing, one wins.
    let used = password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(now()))
        .filter(password_reset::Column::Id.eq(found.id))
        .filter(password_reset::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        return Err(AppError::bad_input(BAD_TOKEN));
    }
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .filter(user::Column::Id.eq(found.user_id))
        .exec(&txn)
        .await?;
    let ended = super::profile::revoke_sessions(&txn, found.user_id, None).await?;
    record(
        &txn,
        &Actor {
            user_id: Some(found.user_id),
            ..actor.clone()
        },
        Entry {
            action: "auth.password_reset",
            target_type: "user",
            target_id: Some(found.user_id.to_string()),
            event_id: None,
            detail: json!({ "sessionsEnded": ended.len() }),
        },
    )
    .await?;
    txn.commit().await?;
    for id in ended {
        state.live.sockets.revoke(id).await;
    }
    let account = user::Entity::find_by_id(found.user_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::bad_input(BAD_TOKEN))?;
    open_session(state, account, actor, None).await
}
