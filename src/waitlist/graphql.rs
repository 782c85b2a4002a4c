//! GraphQL face of waitlists: `joinWaitlist`, `leaveWaitlist`, `myWaitlistEntries`, `waitlist`
//! and the live `waitlistUpdates`.

use std::time::Duration;

use async_graphql::{Context, Enum, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use entity::waitlist_entry::{self, WaitlistStatus};

use super::service;
use crate::auth::graphql::User;
use crate::connection;
use crate::error::AppError;
use crate::events::graphql::{TicketType, parse_id};
use crate::graphql::context::ContextExt;
use crate::graphql::pagination::page_size;
use crate::pubsub::topic;
use crate::reservations::graphql::Reservation;

/// Where a waitlist entry is in its life.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "WaitlistStatus")]
pub enum WaitlistStatusGql {
    /// In the queue; `position` says where.
    Waiting,
    /// Seats are held for the entry (`offer`) until `offerExpiresAt`: pay the offer to keep them.
    Offered,
    /// The offer was paid.
    Fulfilled,
    /// The offer lapsed unpaid (its seats went to the next in line), or the event was cancelled.
    Expired,
    /// Its owner left the queue or declined the offer.
    Left,
}

/// A place in a ticket type's waitlist.
pub struct WaitlistEntry(pub waitlist_entry::Model);

/// A place in a ticket type's waitlist. Seats that come back (a hold expiring, a cancellation,
/// seats unblocked) are offered to the earliest WAITING entry whose quantity fits, before the
/// public can reserve them.
#[Object]
impl WaitlistEntry {
    /// Stable identifier of the entry.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Waiting, offered, fulfilled, expired or left.
    async fn status(&self) -> WaitlistStatusGql {
        match self.0.status {
            WaitlistStatus::Waiting => WaitlistStatusGql::Waiting,
            WaitlistStatus::Offered => WaitlistStatusGql::Offered,
            WaitlistStatus::Fulfilled => WaitlistStatusGql::Fulfilled,
            WaitlistStatus::Expired => WaitlistStatusGql::Expired,
            WaitlistStatus::Left => WaitlistStatusGql::Left,
        }
    }
    /// 1-based place in the queue while WAITING (1 = next to be offered seats that fit); null
    /// in any other status.
    async fn position(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i32>> {
        Ok(service::position(&ctx.state().db, &self.0).await?)
    }
    /// Seats wanted (all offered together).
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    /// The ticket type queued for.
    async fn ticket_type(&self, ctx: &Context<'_>) -> async_graphql::Result<TicketType> {
        ctx.ticket_type()
            .load_one(self.0.ticket_type_id)
            .await?
            .map(TicketType)
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!(
                    "ticket type {} of a waitlist entry is missing",
                    self.0.ticket_type_id
                ))
                .into()
            })
    }
    /// Who is waiting.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        ctx.users()
            .load_one(self.0.user_id)
            .await?
            .map(User::public)
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("user {} is missing", self.0.user_id)).into()
            })
    }
    /// The PENDING reservation holding the offered seats (pay it like any reservation); null
    /// until an offer is made.
    async fn offer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Reservation>> {
        Ok(service::offer_of(&ctx.state().db, &self.0)
            .await?
            .map(Reservation))
    }
    /// Until when the offer holds its seats (`WAITLIST_OFFER_SECONDS` after it was made).
    async fn offer_expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.offer_expires_at
    }
    /// When the entry joined the queue.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

connection!(
    WaitlistEntryConnection,
    WaitlistEntryEdge,
    WaitlistEntry,
    "A page of waitlist entries.",
    "A waitlist entry in a page, with its cursor."
);

#[derive(Default)]
pub struct WaitlistQuery;

#[Object]
impl WaitlistQuery {
    /// The logged-in user's waitlist entries, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn my_waitlist_entries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last entry already seen.")] after: Option<String>,
    ) -> async_graphql::Result<WaitlistEntryConnection> {
        let viewer = ctx.require_viewer()?;
        let page =
            service::list_mine(ctx.state(), viewer, page_size(first)?, after.as_deref()).await?;
        Ok(page.map(WaitlistEntry).into())
    }

    /// A ticket type's waitlist in queue order (first in line first, every status), for the
    /// event's organizer or an admin.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn waitlist(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket type whose queue to read.")] ticket_type_id: ID,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last entry already seen.")] after: Option<String>,
    ) -> async_graphql::Result<WaitlistEntryConnection> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&ticket_type_id, "ticketTypeId")?;
        let page =
            service::queue(ctx.state(), viewer, id, page_size(first)?, after.as_deref()).await?;
        Ok(page.map(WaitlistEntry).into())
    }
}

#[derive(Default)]
pub struct WaitlistMutation;

#[Object]
impl WaitlistMutation {
    /// Queues for seats of a ticket type that cannot serve `quantity` now (`CONFLICT` when it
    /// can: reserve instead). One live entry per user and ticket type. Seats that come back are
    /// offered first come first served; an entry too large for what is free keeps its place.
    async fn join_waitlist(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket type to queue for.")] ticket_type_id: ID,
        #[graphql(
            desc = "Seats wanted, 1 up to the per-reservation maximum.",
            default = 1
        )]
        quantity: i32,
    ) -> async_graphql::Result<WaitlistEntry> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&ticket_type_id, "ticketTypeId")?;
        Ok(WaitlistEntry(
            service::join(ctx.state(), viewer, &ctx.actor(), id, quantity).await?,
        ))
    }

    /// Leaves the waitlist; on an OFFERED entry this declines the offer, and its seats go to
    /// the next in line at once.
    async fn leave_waitlist(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The entry to end.")] id: ID,
    ) -> async_graphql::Result<WaitlistEntry> {
        let viewer = ctx.require_viewer()?;
        Ok(WaitlistEntry(
            service::leave(ctx.state(), viewer, &ctx.actor(), parse_id(&id, "id")?).await?,
        ))
    }
}

/// How often a `waitlistUpdates` stream re-reads its entry even without a signal (a signal lost
/// while Redis was down).
const RECHECK: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct WaitlistSubscription;

#[Subscription]
impl WaitlistSubscription {
    /// The entry now, then again whenever its position, status or offer changes, for its owner
    /// (or the event's organizer, or an admin). Ends after the entry reaches FULFILLED, EXPIRED
    /// or LEFT.
    async fn waitlist_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The entry to watch.")] entry_id: ID,
    ) -> async_graphql::Result<impl futures::Stream<Item = WaitlistEntry>> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&entry_id, "entryId")?;
        let state = ctx.state().clone();
        // Subscribe before reading, so a change in between is not lost.
        let rx = state.live.pubsub.subscribe();
        let entry = service::find_for_viewer(&state, viewer, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("waitlist entry {id} not found")))?;
        let ticket_type = entry.ticket_type_id.to_string();
        let db = state.db.clone();
        let seen = snapshot(&db, &entry).await?;
        let first = futures::stream::once(async move { WaitlistEntry(entry) });
        let rest = futures::stream::unfold((rx, seen, false), move |(mut rx, mut seen, done)| {
            let db = db.clone();
            let ticket_type = ticket_type.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    match tokio::time::timeout(RECHECK, rx.recv()).await {
                        Ok(Ok(m)) if m.topic == topic::WAITLIST && m.payload == ticket_type => {}
                        Ok(Ok(m)) if m.topic == topic::RESUBSCRIBED => {}
                        Ok(Ok(_)) => continue,
                        Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                        Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                            return None;
                        }
                        Err(_) => {}
                    }
                    let Ok(Some(now)) = service::find(&db, id).await else {
                        continue;
                    };
                    let Ok(snap) = snapshot(&db, &now).await else {
                        continue;
                    };
                    if snap == seen {
                        continue;
                    }
                    let finished = !matches!(
                        now.status,
                        WaitlistStatus::Waiting | WaitlistStatus::Offered
                    );
                    seen = snap;
                    return Some((WaitlistEntry(now), (rx, seen, finished)));
                }
            }
        });
        Ok(futures::StreamExt::chain(first, rest))
    }
}

/// What a subscriber is told about: status, place in the queue, offer.
async fn snapshot(
    db: &sea_orm::DatabaseConnection,
    e: &waitlist_entry::Model,
) -> Result<(WaitlistStatus, Option<i32>, Option<uuid::Uuid>), AppError> {
    Ok((
        e.status,
        service::position(db, e).await?,
        e.offer_reservation_id,
    ))
}
