//! A user's own account: the profile (`updateProfile`) and the password (`changePassword`).

use entity::{session, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use super::Viewer;
use super::service::{normalize_email, validate_password};
use crate::audit::Actor;
use crate::audit::service::{Entry, record};
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// What `updateProfile` changes; `None` leaves a field as it is, an empty string clears it.
#[derive(Debug, Default)]
pub struct ProfileChange {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub email_reminders: Option<bool>,
}

fn clean_display_name(raw: String) -> AppResult<Option<String>> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            "displayName must be at most 100 characters, without control characters",
        ));
    }
    Ok(Some(name.to_string()))
}

async fn own_account(state: &AppState, viewer: &Viewer) -> AppResult<user::Model> {
    user::Entity::find_by_id(viewer.user_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound("your account no longer exists".into()))
}

/// Changes the viewer's own profile.
pub async fn update_profile(
    state: &AppState,
    viewer: &Viewer,
    actor: &Actor,
    change: ProfileChange,
) -> AppResult<user::Model> {
    let email = change.email.map(|e| normalize_email(Some(e))).transpose()?;
    let display_name = change.display_name.map(clean_display_name).transpose()?;
    let current = own_account(state, viewer).await?;
    let mut model = current.into_active_model();
    let mut changed = Vec::new();
    if let Some(email) = email {
        model.email = Set(email);
        changed.push("email");
    }
    if let Some(name) = display_name {
        model.display_name = Set(name);
        changed.push("displayName");
    }
    if let Some(reminders) = change.email_reminders {
        model.email_reminders = Set(reminders);
        changed.push("emailReminders");
    }
    let txn = begin_write(&state.db).await?;
    let updated = model.update(&txn).await?;
    record(
        &txn,
        actor,
        Entry {
            action: "user.update_profile",
            target_type: "user",
            target_id: Some(viewer.user_id.to_string()),
            event_id: None,
            detail: json!({ "changed": changed }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Changes the viewer's password after checking the current one, and ends every other session
/// of the account (their WebSockets close at once); the session making the change stays.
pub async fn change_password(
    state: &AppState,
    viewer: &Viewer,
    actor: &Actor,
    current_password: String,
    new_password: String,
) -> AppResult<bool> {
    validate_password(&new_password)?;
    let account = own_account(state, viewer).await?;
    let verified = current_password.len() <= 1024
        && state
            .passwords
            .verify(current_password, Some(account.password_hash.clone()))
            .await?;
    if !verified {
        return Err(AppError::Unauthenticated(
            "the current password is wrong".into(),
        ));
    }
    let hash = state.passwords.hash(new_password).await?;
    let txn = begin_write(&state.db).await?;
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .filter(user::Column::Id.eq(viewer.user_id))
        .exec(&txn)
        .await?;
    let others = revoke_sessions(&txn, viewer.user_id, Some(viewer.session_id)).await?;
    record(
        &txn,
        actor,
        Entry {
            action: "user.change_password",
            target_type: "user",
            target_id: Some(viewer.user_id.to_string()),
            event_id: None,
            detail: json!({ "sessionsEnded": others.len() }),
        },
    )
    .await?;
    txn.commit().await?;
    for id in others {
        state.live.sockets.revoke(id).await;
    }
    Ok(true)
}

/// Revokes the user's open sessions except `keep`, in the caller's transaction; returns them so
/// the caller closes their WebSockets after the commit.
pub async fn revoke_sessions(
    db: &impl sea_orm::ConnectionTrait,
    user: Uuid,
    keep: Option<Uuid>,
) -> AppResult<Vec<Uuid>> {
    let mut open = session::Entity::find()
        .filter(session::Column::UserId.eq(user))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        open = open.filter(session::Column::Id.ne(keep));
    }
    let ids: Vec<Uuid> = open.all(db).await?.into_iter().map(|s| s.id).collect();
    if !ids.is_empty() {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now()))
            .filter(session::Column::Id.is_in(ids.clone()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(db)
            .await?;
    }
    Ok(ids)
}
