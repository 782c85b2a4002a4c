//! Account rules: who may register as what, how logins, sessions and token rotation work.

use chrono::{DateTime, Utc};
use entity::{refresh_token, session, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{Role, Viewer, random_token, token_hash};
use crate::audit::Actor;
use crate::audit::service::{Entry, record};
use crate::db::begin_write;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// What a successful register, login or refresh hands back.
pub struct Authenticated {
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub user: user::Model,
}

pub struct NewAccount {
    pub username: String,
    pub password: String,
    pub email: Option<String>,
    pub role: Role,
}

const BAD_LOGIN: &str = "invalid username or password";
const MAX_PASSWORD_BYTES: usize = 1024;

/// Usernames are case-insensitive: they are stored and compared lower-case.
pub fn normalize_username(raw: &str) -> AppResult<String> {
    let name = raw.trim().to_lowercase();
    let len = name.chars().count();
    if !(3..=32).contains(&len) {
        return Err(AppError::bad_input(
            "username must be 3 to 32 characters long",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    {
        return Err(AppError::bad_input(
            "username may contain only letters a-z, digits, '_', '.' and '-'",
        ));
    }
    Ok(name)
}

pub fn validate_password(password: &str) -> AppResult<()> {
    if password.chars().count() < 8 {
        return Err(AppError::bad_input(
            "password must be at least 8 characters long",
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::bad_input(format!(
            "password must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

pub(super) fn normalize_email(raw: Option<String>) -> AppResult<Option<String>> {
    let Some(email) = raw
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
    else {
        return Ok(None);
    };
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@') && !domain.starts_with('.') && !domain.ends_with('.'));
    if !valid {
        return Err(AppError::bad_input("email is not a valid address"));
    }
    Ok(Some(email))
}

/// Creates an account (USER or ORGANIZER; admins come only from the command line) and logs it in.
pub async fn register(
    state: &AppState,
    input: NewAccount,
    actor: &Actor,
) -> AppResult<Authenticated> {
    if input.role == Role::Admin {
        return Err(AppError::Forbidden(
            "ADMIN accounts cannot be registered; an operator creates them with `evenntify create-admin`".into(),
        ));
    }
    let user = create_user(state, input).await?;
    open_session(state, user, actor, Some("auth.register")).await
}

/// Inserts a user after validating the input; used by `register` and `create-admin`.
pub async fn create_user(state: &AppState, input: NewAccount) -> AppResult<user::Model> {
    let username = normalize_username(&input.username)?;
    validate_password(&input.password)?;
    let email = normalize_email(input.email)?;

    // A cheap look first spares an Argon2 hash for the common duplicate; the unique index
    // below is what actually decides when two registrations race.
    if find_by_username(&state.db, &username).await?.is_some() {
        return Err(username_taken(&username));
    }
    let password_hash = state.passwords.hash(input.password).await?;
    let model = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        username: Set(username.clone()),
        email: Set(email),
        password_hash: Set(password_hash),
        role: Set(input.role),
        created_at: Set(now()),
        display_name: Set(None),
        email_reminders: Set(true),
        suspended_at: Set(None),
        suspended_reason: Set(None),
    };
    model.insert(&state.db).await.map_err(|err| {
        // The column's unique constraint, as PostgreSQL names it (SQLite names the column).
        if crate::db::is_unique_violation(&err, "users_username_key", &["users.username"]) {
            username_taken(&username)
        } else {
            err.into()
        }
    })
}

fn username_taken(username: &str) -> AppError {
    AppError::Conflict(format!("username `{username}` is already taken"))
}

/// Checks a username and password. An unknown user and a wrong password fail identically.
///
/// Limits (see `ratelimit`): attempts per client address are counted before the password is
/// checked, so spraying costs the attacker the budget and the server no Argon2 time past it;
/// failures are counted per username and address (a stranger cannot lock the owner out from
/// elsewhere) and per username over all addresses (an attack spread over many addresses stops
/// too), the latter not applying to addresses the owner has logged in from before.
pub async fn login(
    state: &AppState,
    username: &str,
    password: String,
    actor: &Actor,
) -> AppResult<Authenticated> {
    use crate::ratelimit::Limit;
    // Keys are built from valid usernames only (at most 32 characters): a name that cannot
    // exist has no account to protect, and an attacker must not choose a key's size.
    let name = normalize_username(username).ok();
    let address = actor.client_address.clone();
    let refused = |limit: Limit, err: AppError| {
        state.metrics.rate_limited.inc(&[limit.name()]);
        err
    };
    if let Some(address) = &address {
        state
            .rate
            .hit(Limit::LoginIp, address)
            .await
            .map_err(|e| refused(Limit::LoginIp, e))?;
    }
    let Some(name) = name else {
        // Verify against nothing anyway, so an invalid name costs what a wrong password does.
        if password.len() <= MAX_PASSWORD_BYTES {
            let _ = state.passwords.verify(password, None).await;
        }
        login_failed(state, actor, username, None, "wrong username or password").await?;
        return Err(AppError::Unauthenticated(BAD_LOGIN.into()));
    };
    let pair = format!("{name}|{}", address.as_deref().unwrap_or("-"));
    // Checked before and counted after the password check, so only failures count. Attempts
    // sent at once all pass the check; the per-address attempt limit above caps that burst.
    state
        .rate
        .check(Limit::LoginUser, &pair)
        .await
        .map_err(|e| refused(Limit::LoginUser, e))?;
    let found = find_by_username(&state.db, &name).await?;
    if let Err(err) = state.rate.check(Limit::LoginUserGlobal, &name).await {
        let owners_address = match (&found, &address) {
            (Some(user), Some(address)) => known_address(&state.db, user.id, address).await?,
            _ => false,
        };
        if !owners_address {
            return Err(refused(Limit::LoginUserGlobal, err));
        }
    }
    let verified = password.len() <= MAX_PASSWORD_BYTES
        && state
            .passwords
            .verify(password, found.as_ref().map(|u| u.password_hash.clone()))
            .await?;
    let Some(user) = found.filter(|_| verified) else {
        state.rate.record(Limit::LoginUser, &pair).await;
        state.rate.record(Limit::LoginUserGlobal, &name).await;
        login_failed(state, actor, username, None, "wrong username or password").await?;
        return Err(AppError::Unauthenticated(BAD_LOGIN.into()));
    };
    if user.suspended_at.is_some() {
        login_failed(state, actor, username, Some(user.id), "suspended").await?;
        return Err(AppError::Forbidden(
            "this account is suspended; contact an administrator".into(),
        ));
    }
    open_session(state, user, actor, Some("auth.login")).await
}

/// Appends `auth.login_failed` in a write of its own, committed although the login fails. The
/// actor stays anonymous (nobody proved who they are); the detail keeps the name tried (cut to
/// 64 characters) and why. Requests refused by a rate limit leave no entry, so a flood of
/// attempts cannot fill the log faster than the limits allow.
async fn login_failed(
    state: &AppState,
    actor: &Actor,
    username: &str,
    user: Option<Uuid>,
    why: &str,
) -> AppResult<()> {
    let tried: String = username.trim().chars().take(64).collect();
    let txn = begin_write(&state.db).await?;
    record(
        &txn,
        &Actor {
            user_id: None,
            ..actor.clone()
        },
        Entry {
            action: "auth.login_failed",
            target_type: "user",
            target_id: user.map(|id| id.to_string()),
            event_id: None,
            detail: serde_json::json!({ "username": tried, "reason": why }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Whether the user has opened a session from `address` before.
async fn known_address(db: &impl ConnectionTrait, user: Uuid, address: &str) -> AppResult<bool> {
    Ok(session::Entity::find()
        .filter(session::Column::UserId.eq(user))
        .filter(session::Column::ClientAddress.eq(address))
        .one(db)
        .await?
        .is_some())
}

pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?)
}

/// Starts a new session (refresh-token family) with its first refresh token, and appends
/// `action` (`auth.login`, `auth.register`…) to the audit log in the same transaction.
pub(super) async fn open_session(
    state: &AppState,
    user: user::Model,
    actor: &Actor,
    action: Option<&str>,
) -> AppResult<Authenticated> {
    let client_address = actor.client_address.clone();
    let session_id = Uuid::now_v7();
    let refresh = random_token(32);
    let txn = begin_write(&state.db).await?;
    session::ActiveModel {
        id: Set(session_id),
        user_id: Set(user.id),
        created_at: Set(now()),
        revoked_at: Set(None),
        client_address: Set(client_address),
    }
    .insert(&txn)
    .await?;
    insert_refresh_token(state, &txn, session_id, &refresh).await?;
    if let Some(action) = action {
        record(
            &txn,
            &Actor {
                user_id: Some(user.id),
                ..actor.clone()
            },
            Entry {
                action,
                target_type: "session",
                target_id: Some(session_id.to_string()),
                event_id: None,
                detail: serde_json::json!({ "username": user.username }),
            },
        )
        .await?;
    }
    txn.commit().await?;
    authenticated(state, user, session_id, refresh)
}

async fn insert_refresh_token(
    state: &AppState,
    db: &impl ConnectionTrait,
    session_id: Uuid,
    token: &str,
) -> AppResult<()> {
    refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        session_id: Set(session_id),
        token_hash: Set(token_hash(token)),
        expires_at: Set(now() + state.settings.refresh_token_ttl),
        created_at: Set(now()),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

fn authenticated(
    state: &AppState,
    user: user::Model,
    session_id: Uuid,
    refresh: String,
) -> AppResult<Authenticated> {
    let (access_token, expires_at) = state.jwt.issue(user.id, user.role, session_id)?;
    Ok(Authenticated {
        access_token,
        expires_at,
        refresh_token: refresh,
        user,
    })
}

/// Exchanges a refresh token for a new pair. Each refresh token works once: presenting one that
/// was already rotated means it leaked (or a client replayed it), so the whole session is revoked,
/// including the tokens that replaced it.
pub async fn refresh(state: &AppState, actor: &Actor, token: &str) -> AppResult<Authenticated> {
    let invalid = || AppError::Unauthenticated("invalid refresh token".into());
    let stored = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(token_hash(token)))
        .one(&state.db)
        .await?
        .ok_or_else(invalid)?;
    let session = session::Entity::find_by_id(stored.session_id)
        .one(&state.db)
        .await?
        .ok_or_else(invalid)?;
    if session.revoked_at.is_some() {
        return Err(AppError::Unauthenticated(
            "session has been revoked; log in again".into(),
        ));
    }
    if stored.used_at.is_some() {
        revoke_session(state, actor, &session, "auth.refresh_reuse").await?;
        return Err(reused());
    }
    if stored.expires_at <= now() {
        return Err(AppError::Unauthenticated(
            "refresh token expired; log in again".into(),
        ));
    }

    let next = random_token(32);
    let txn = begin_write(&state.db).await?;
    // The conditional update decides between two requests racing with the same token: only one
    // marks it used; the other is treated as a replay.
    let marked = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now()))
        .filter(refresh_token::Column::Id.eq(stored.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if marked.rows_affected != 1 {
        txn.rollback().await?;
        revoke_session(state, actor, &session, "auth.refresh_reuse").await?;
        return Err(reused());
    }
    insert_refresh_token(state, &txn, session.id, &next).await?;
    txn.commit().await?;

    let user = user::Entity::find_by_id(session.user_id)
        .one(&state.db)
        .await?
        .ok_or_else(invalid)?;
    authenticated(state, user, session.id, next)
}

fn reused() -> AppError {
    AppError::Unauthenticated(
        "refresh token was already used; the session has been revoked, log in again".into(),
    )
}

/// Ends the session the refresh token belongs to. Returns whether the token was known.
pub async fn logout(state: &AppState, actor: &Actor, token: &str) -> AppResult<bool> {
    let Some(stored) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(token_hash(token)))
        .one(&state.db)
        .await?
    else {
        return Ok(false);
    };
    let Some(session) = session::Entity::find_by_id(stored.session_id)
        .one(&state.db)
        .await?
    else {
        return Ok(false);
    };
    revoke_session(state, actor, &session, "auth.logout").await?;
    Ok(true)
}

/// Revokes a session, appending `action` (`auth.logout`, `auth.refresh_reuse`) to the audit log
/// in the same transaction when it was still open, and closes its open WebSockets on every
/// instance. The entry's actor is the session's owner for a logout; for a reused refresh token
/// it is whoever presented it (unknown: the token may have leaked), the owner is the target.
async fn revoke_session(
    state: &AppState,
    actor: &Actor,
    session: &session::Model,
    action: &str,
) -> AppResult<()> {
    let txn = begin_write(&state.db).await?;
    let revoked = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now()))
        .filter(session::Column::Id.eq(session.id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if revoked.rows_affected == 1 {
        let who = match action {
            "auth.logout" => Some(session.user_id),
            _ => actor.user_id,
        };
        record(
            &txn,
            &Actor {
                user_id: who,
                ..actor.clone()
            },
            Entry {
                action,
                target_type: "session",
                target_id: Some(session.id.to_string()),
                event_id: None,
                detail: serde_json::json!({ "userId": session.user_id.to_string() }),
            },
        )
        .await?;
    }
    txn.commit().await?;
    state.live.sockets.revoke(session.id).await;
    Ok(())
}

/// The viewer behind an `Authorization: Bearer` token: a valid signature and lifetime, and a
/// session that has not been revoked (logout or refresh-token reuse end access tokens too). The
/// role comes from the account, not from the token: a token minted with a leaked secret cannot
/// claim more than the session's user holds.
pub async fn authenticate(state: &AppState, token: &str) -> AppResult<Viewer> {
    let claimed = state.jwt.verify(token)?;
    let account = session::Entity::find_by_id(claimed.session_id)
        .filter(session::Column::UserId.eq(claimed.user_id))
        .filter(session::Column::RevokedAt.is_null())
        .find_also_related(user::Entity)
        .one(&state.db)
        .await?
        .and_then(|(_, user)| user);
    // A suspended account's sessions are revoked with the suspension; this also covers a token
    // checked in the instant between the two.
    let Some(account) = account.filter(|a| a.suspended_at.is_none()) else {
        return Err(AppError::Unauthenticated(
            "session has been revoked; log in again".into(),
        ));
    };
    Ok(Viewer {
        role: account.role,
        ..claimed
    })
}

/// Whether a session is still alive (for open WebSockets, which authenticated once).
pub async fn session_alive(state: &AppState, session_id: Uuid) -> AppResult<bool> {
    Ok(session::Entity::find_by_id(session_id)
        .filter(session::Column::RevokedAt.is_null())
        .one(&state.db)
        .await?
        .is_some())
}

/// Timestamps are kept to the microsecond, which both databases store exactly.
pub fn now() -> DateTime<Utc> {
    crate::db::now()
}
