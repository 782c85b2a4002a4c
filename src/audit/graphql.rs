//! GraphQL face of the audit log: `auditLog` and the `AuditEntry` type.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::audit_entry;

use super::service::{self, Filter};
use crate::auth::graphql::User;
use crate::connection;
use crate::events::graphql::parse_id;
use crate::graphql::context::ContextExt;
use crate::graphql::pagination::page_size;

/// One line of the audit log.
pub struct AuditEntry(audit_entry::Model);

/// One line of the audit log: who did what, to what, from where.
#[Object]
impl AuditEntry {
    /// Stable identifier of the entry.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Who did it; null for an anonymous actor (a failed login, a reset request).
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(id) = self.0.actor_id else {
            return Ok(None);
        };
        Ok(ctx.users().load_one(id).await?.map(User::public))
    }
    /// What was done, dotted lower-case: `wallet.adjust`, `user.suspend`, `auth.login_failed`…
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// The kind of thing it was done to: `user`, `wallet`, `event`, `reservation`…
    async fn target_type(&self) -> &str {
        &self.0.target_type
    }
    /// The id of the thing it was done to.
    async fn target_id(&self) -> Option<ID> {
        self.0.target_id.clone().map(ID)
    }
    /// The event it concerns, when it concerns one.
    async fn event_id(&self) -> Option<ID> {
        self.0.event_id.map(|id| ID(id.to_string()))
    }
    /// The request it came from (the id on the request's log lines and errors).
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    /// The client address it came from.
    async fn client_address(&self) -> Option<&str> {
        self.0.client_address.as_deref()
    }
    /// A small JSON object with the particulars (amounts, reasons, roles).
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
}

connection!(
    AuditEntryConnection,
    AuditEntryEdge,
    AuditEntry,
    "A page of audit entries, newest first.",
    "An audit entry in a page, with its cursor."
);

/// Narrows `auditLog`; every field is optional and they combine with AND.
#[derive(InputObject, Default)]
pub struct AuditFilter {
    /// Only what this user did.
    actor_id: Option<ID>,
    /// Only entries about this event.
    event_id: Option<ID>,
    /// Only this action, e.g. `wallet.adjust`.
    action: Option<String>,
    /// From this time on (inclusive).
    since: Option<DateTime<Utc>>,
    /// Before this time.
    until: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit log, newest first: admins see every entry, organizers the entries of their own
    /// events; others get `FORBIDDEN`.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to show.")] filter: Option<AuditFilter>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last entry already seen.")] after: Option<String>,
    ) -> async_graphql::Result<AuditEntryConnection> {
        let viewer = ctx.require_viewer()?;
        let f = filter.unwrap_or_default();
        let filter = Filter {
            actor_id: f.actor_id.map(|id| parse_id(&id, "actorId")).transpose()?,
            event_id: f.event_id.map(|id| parse_id(&id, "eventId")).transpose()?,
            action: f.action,
            since: f.since,
            until: f.until,
        };
        let page = service::list(
            ctx.state(),
            viewer,
            filter,
            page_size(first)?,
            after.as_deref(),
        )
        .await?;
        Ok(page.map(AuditEntry).into())
    }
}
