//! Creating (inside the caller's transaction), listing and marking notifications read.

use entity::notification::{self, NotificationKind};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};
use uuid::Uuid;

use crate::auth::Viewer;
use crate::db::now;
use crate::db::paging::{Page, newest_first};
use crate::error::AppResult;
use crate::state::AppState;

/// Stores a notification in the caller's transaction, and the e-mail that goes with it (when its
/// kind has one and the user has an address) in the same transaction; publish it after the commit.
pub async fn notify(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    kind: NotificationKind,
    message: String,
    reservation_id: Option<Uuid>,
    event_id: Option<Uuid>,
) -> AppResult<notification::Model> {
    let n = notification::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        kind: Set(kind),
        message: Set(message.chars().take(500).collect()),
        reservation_id: Set(reservation_id),
        event_id: Set(event_id),
        created_at: Set(now()),
        read_at: Set(None),
    }
    .insert(db)
    .await?;
    if let Some(mail) = crate::mail::messages::for_notification(db, &n).await? {
        crate::mail::outbox::enqueue(db, user_id, mail).await?;
    }
    Ok(n)
}

/// The viewer's notifications, newest first.
pub async fn list(
    state: &AppState,
    viewer: &Viewer,
    unread_only: bool,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<notification::Model>> {
    let mut scope = Condition::all().add(notification::Column::UserId.eq(viewer.user_id));
    if unread_only {
        scope = scope.add(notification::Column::ReadAt.is_null());
    }
    let columns = (notification::Column::CreatedAt, notification::Column::Id);
    newest_first::<notification::Entity>(
        &state.db,
        scope,
        columns,
        |n| (n.created_at, n.id),
        first,
        after,
    )
    .await
}

/// Marks the given notifications (all when `ids` is None) of the viewer read; returns how many
/// changed. Others' notifications are never touched.
pub async fn mark_read(
    state: &AppState,
    viewer: &Viewer,
    ids: Option<Vec<Uuid>>,
) -> AppResult<i64> {
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::ReadAt, Expr::value(now()))
        .filter(notification::Column::UserId.eq(viewer.user_id))
        .filter(notification::Column::ReadAt.is_null());
    if let Some(ids) = ids {
        update = update.filter(notification::Column::Id.is_in(ids));
    }
    Ok(update.exec(&state.db).await?.rows_affected as i64)
}
