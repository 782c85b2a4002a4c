//! What admins do to accounts: list them, change a role, suspend and reinstate. An admin cannot
//! demote or suspend themselves (`evenntify create-admin` stays the only way to the first admin).

use entity::user;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, Set};
use serde_json::json;
use uuid::Uuid;

use super::{Role, Viewer, role_name};
use crate::audit::Actor;
use crate::audit::service::{Entry, record};
use crate::db::paging::{Page, newest_first};
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

fn require_admin(viewer: &Viewer) -> AppResult<()> {
    if viewer.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden("only admins manage users".into()))
    }
}

/// What `users` may filter on.
#[derive(Debug, Default)]
pub struct UserFilter {
    /// A part of the username or e-mail address, any case.
    pub search: Option<String>,
    pub role: Option<Role>,
    pub suspended: Option<bool>,
}

/// Accounts, newest first; admins only.
pub async fn list(
    state: &AppState,
    viewer: &Viewer,
    filter: UserFilter,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<user::Model>> {
    require_admin(viewer)?;
    let mut scope = Condition::all();
    if let Some(search) = filter
        .search
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
    {
        if search.chars().count() > 100 {
            return Err(AppError::bad_input("search is at most 100 characters"));
        }
        let escaped = search
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        scope = scope.add(
            Condition::any()
                .add(user::Column::Username.like(pattern.clone()))
                .add(Expr::expr(Func::lower(Expr::col(user::Column::Email))).like(pattern)),
        );
    }
    if let Some(role) = filter.role {
        scope = scope.add(user::Column::Role.eq(role));
    }
    match filter.suspended {
        Some(true) => scope = scope.add(user::Column::SuspendedAt.is_not_null()),
        Some(false) => scope = scope.add(user::Column::SuspendedAt.is_null()),
        None => {}
    }
    newest_first::<user::Entity>(
        &state.db,
        scope,
        (user::Column::CreatedAt, user::Column::Id),
        |u| (u.created_at, u.id),
        first,
        after,
    )
    .await
}

async fn target(state: &AppState, id: Uuid) -> AppResult<user::Model> {
    user::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("user {id} not found")))
}

/// Gives an account another role (admins may make admins); never the admin's own.
pub async fn set_role(
    state: &AppState,
    viewer: &Viewer,
    actor: &Actor,
    user_id: Uuid,
    role: Role,
) -> AppResult<user::Model> {
    require_admin(viewer)?;
    if user_id == viewer.user_id {
        return Err(AppError::Forbidden(
            "an admin cannot change their own role".into(),
        ));
    }
    let before = target(state, user_id).await?;
    let txn = begin_write(&state.db).await?;
    let mut model = before.clone().into_active_model();
    model.role = Set(role);
    let updated = model.update(&txn).await?;
    record(
        &txn,
        actor,
        Entry {
            action: "user.set_role",
            target_type: "user",
            target_id: Some(user_id.to_string()),
            event_id: None,
            detail: json!({ "from": role_name(before.role), "to": role_name(role) }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Suspends an account: it cannot log in or refresh, and its open sessions and WebSockets end
/// at once (the sockets close with 4403).
pub async fn suspend(
    state: &AppState,
    viewer: &Viewer,
    actor: &Actor,
    user_id: Uuid,
    reason: &str,
) -> AppResult<user::Model> {
    require_admin(viewer)?;
    if user_id == viewer.user_id {
        return Err(AppError::Forbidden(
            "an admin cannot suspend themselves".into(),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::bad_input("reason must be 1–500 characters"));
    }
    let before = target(state, user_id).await?;
    let txn = begin_write(&state.db).await?;
    let mut model = before.into_active_model();
    model.suspended_at = Set(Some(now()));
    model.suspended_reason = Set(Some(reason.to_string()));
    let updated = model.update(&txn).await?;
    let ended = super::profile::revoke_sessions(&txn, user_id, None).await?;
    record(
        &txn,
        actor,
        Entry {
            action: "user.suspend",
            target_type: "user",
            target_id: Some(user_id.to_string()),
            event_id: None,
            detail: json!({ "reason": reason, "sessionsEnded": ended.len() }),
        },
    )
    .await?;
    txn.commit().await?;
    for id in ended {
        state.live.sockets.revoke(id).await;
    }
    Ok(updated)
}

/// Lifts a suspension; the user logs in again.
pub async fn reinstate(
    state: &AppState,
    viewer: &Viewer,
    actor: &Actor,
    user_id: Uuid,
) -> AppResult<user::Model> {
    require_admin(viewer)?;
    let before = target(state, user_id).await?;
    let txn = begin_write(&state.db).await?;
    let mut model = before.into_active_model();
    model.suspended_at = Set(None);
    model.suspended_reason = Set(None);
    let updated = model.update(&txn).await?;
    record(
        &txn,
        actor,
        Entry {
            action: "user.reinstate",
            target_type: "user",
            target_id: Some(user_id.to_string()),
            event_id: None,
            detail: serde_json::Value::Null,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}
