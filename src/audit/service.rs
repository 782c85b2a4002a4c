//! Appending to the audit log (inside the caller's transaction) and reading it: admins see
//! every entry, organizers the entries of their own events.

use chrono::{DateTime, Utc};
use entity::{audit_entry, event};
use sea_orm::sea_query::Query;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, Set};
use uuid::Uuid;

use super::Actor;
use crate::auth::{Role, Viewer};
use crate::db::now;
use crate::db::paging::{Page, newest_first};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// What happened, for [`record`].
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Dotted lower-case: `wallet.adjust`, `user.suspend`, `auth.login_failed`…
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<String>,
    pub event_id: Option<Uuid>,
    /// A small JSON object.
    pub detail: serde_json::Value,
}

/// Appends one entry in the caller's transaction: it commits or rolls back with the change.
pub async fn record(db: &impl ConnectionTrait, actor: &Actor, entry: Entry<'_>) -> AppResult<()> {
    let detail = (!entry.detail.is_null()).then(|| {
        let text = entry.detail.to_string();
        text.chars().take(2_000).collect::<String>()
    });
    audit_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        at: Set(now()),
        actor_id: Set(actor.user_id),
        action: Set(entry.action.to_string()),
        target_type: Set(entry.target_type.to_string()),
        target_id: Set(entry.target_id),
        event_id: Set(entry.event_id),
        request_id: Set(actor.request_id.clone()),
        client_address: Set(actor.client_address.clone()),
        detail: Set(detail),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// What `auditLog` may filter on.
#[derive(Debug, Default)]
pub struct Filter {
    pub actor_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Entries the viewer may read, newest first: all for an admin, their own events' for an
/// organizer, none for anyone else (`FORBIDDEN`).
pub async fn list(
    state: &AppState,
    viewer: &Viewer,
    filter: Filter,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<audit_entry::Model>> {
    let mut scope = Condition::all();
    match viewer.role {
        Role::Admin => {}
        Role::Organizer => {
            scope = scope.add(
                audit_entry::Column::EventId.in_subquery(
                    Query::select()
                        .column(event::Column::Id)
                        .from(event::Entity)
                        .and_where(event::Column::OrganizerId.eq(viewer.user_id))
                        .to_owned(),
                ),
            );
        }
        Role::User => {
            return Err(AppError::Forbidden(
                "the audit log is for admins and organizers".into(),
            ));
        }
    }
    if let Some(actor) = filter.actor_id {
        scope = scope.add(audit_entry::Column::ActorId.eq(actor));
    }
    if let Some(event) = filter.event_id {
        scope = scope.add(audit_entry::Column::EventId.eq(event));
    }
    if let Some(action) = filter.action {
        scope = scope.add(audit_entry::Column::Action.eq(action));
    }
    if let Some(since) = filter.since {
        scope = scope.add(audit_entry::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        scope = scope.add(audit_entry::Column::At.lt(until));
    }
    newest_first::<audit_entry::Entity>(
        &state.db,
        scope,
        (audit_entry::Column::At, audit_entry::Column::Id),
        |e| (e.at, e.id),
        first,
        after,
    )
    .await
}

/// [`record`] in one line, for the many mutations that only name what they did.
pub async fn log(
    db: &impl ConnectionTrait,
    actor: &Actor,
    action: &str,
    target_type: &str,
    target_id: impl ToString,
    event_id: Option<Uuid>,
    detail: serde_json::Value,
) -> AppResult<()> {
    let entry = Entry {
        action,
        target_type,
        target_id: Some(target_id.to_string()),
        event_id,
        detail,
    };
    record(db, actor, entry).await
}
