//! GraphQL face of notifications: `notifications`, `markNotificationsRead`, `myNotifications`.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use entity::notification::{self, NotificationKind};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;

use super::service;
use crate::connection;
use crate::events::graphql::parse_id;
use crate::graphql::context::ContextExt;
use crate::graphql::pagination::page_size;

/// What a notification is about.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "NotificationKind")]
pub enum NotificationKindGql {
    /// A payment went through; the tickets are ready.
    ReservationConfirmed,
    /// A payment attempt failed; nothing was charged.
    PaymentFailed,
    /// A hold lapses in about two minutes.
    HoldExpiring,
    /// A hold lapsed before payment; its seats were released.
    HoldExpired,
    /// Money was refunded (to the wallet, or to the card that paid).
    RefundIssued,
    /// Seats came back and are held for you from the waitlist until the offer's deadline.
    WaitlistOffer,
    /// A ticket was transferred to or from you.
    TicketTransferred,
}

/// A message for the logged-in user about their reservations and money.
pub struct Notification(pub notification::Model);

/// A message for the logged-in user about their reservations and money.
#[Object]
impl Notification {
    /// Stable identifier of the notification.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// What it is about.
    async fn kind(&self) -> NotificationKindGql {
        match self.0.kind {
            NotificationKind::ReservationConfirmed => NotificationKindGql::ReservationConfirmed,
            NotificationKind::PaymentFailed => NotificationKindGql::PaymentFailed,
            NotificationKind::HoldExpiring => NotificationKindGql::HoldExpiring,
            NotificationKind::HoldExpired => NotificationKindGql::HoldExpired,
            NotificationKind::RefundIssued => NotificationKindGql::RefundIssued,
            NotificationKind::WaitlistOffer => NotificationKindGql::WaitlistOffer,
            NotificationKind::TicketTransferred => NotificationKindGql::TicketTransferred,
        }
    }
    /// Human-readable text.
    async fn message(&self) -> &str {
        &self.0.message
    }
    /// The reservation concerned, if any.
    async fn reservation_id(&self) -> Option<ID> {
        self.0.reservation_id.map(|id| ID(id.to_string()))
    }
    /// The event concerned, if any.
    async fn event_id(&self) -> Option<ID> {
        self.0.event_id.map(|id| ID(id.to_string()))
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the user marked it read; null while unread.
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
}

connection!(
    NotificationConnection,
    NotificationEdge,
    Notification,
    "A page of notifications, newest first.",
    "A notification in a page, with its cursor."
);

#[derive(Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// The logged-in user's notifications, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only those not yet marked read.", default = false)] unread_only: bool,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last notification already seen.")] after: Option<String>,
    ) -> async_graphql::Result<NotificationConnection> {
        let viewer = ctx.require_viewer()?;
        let page = service::list(
            ctx.state(),
            viewer,
            unread_only,
            page_size(first)?,
            after.as_deref(),
        )
        .await?;
        Ok(page.map(Notification).into())
    }
}

#[derive(Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    /// Marks the logged-in user's notifications read: the given ones, or all when `ids` is
    /// omitted. Returns how many changed.
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which notifications; all unread ones when omitted.")] ids: Option<
            Vec<ID>,
        >,
    ) -> async_graphql::Result<i32> {
        let viewer = ctx.require_viewer()?;
        let ids = ids
            .map(|ids| {
                ids.iter()
                    .map(|id| parse_id(id, "ids"))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(service::mark_read(ctx.state(), viewer, ids).await? as i32)
    }
}

#[derive(Default)]
pub struct NotificationsSubscription;

#[Subscription]
impl NotificationsSubscription {
    /// The logged-in user's notifications as they are created. They are also stored: query
    /// `notifications` for the ones sent while not connected.
    async fn my_notifications(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = Notification>> {
        let viewer = ctx.require_viewer()?.user_id;
        let rx = ctx.state().live.notifications.subscribe();
        let stream = futures::stream::unfold(rx, move |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(n) if n.user_id == viewer => {
                        return Some((Notification(Arc::unwrap_or_clone(n)), rx));
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Ok(crate::metrics::counted(ctx.state().metrics.clone(), stream).boxed())
    }
}
