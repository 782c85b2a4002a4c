//! GraphQL face of tickets and entry: `checkIn`, `undoCheckIn`, door staff, `attendees`,
//! `ticketVerificationKey`, calendar URLs, and the live `checkIns` stream.

use async_graphql::{Context, Enum, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use entity::check_in_scan::CheckInStatus as Status;
use entity::ticket;
use futures::{Stream, StreamExt};

use super::service::{self, Scan, ScanAnnouncement};
use crate::auth::graphql::User;
use crate::connection;
use crate::error::AppError;
use crate::events::graphql::{Event, TicketType, parse_id};
use crate::graphql::context::ContextExt;
use crate::graphql::pagination::page_size;
use crate::pubsub::topic;
use crate::reservations::graphql::Ticket;

/// What a scan at the door found.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CheckInStatus {
    /// Welcome in: this scan checked the ticket in.
    Admitted,
    /// The ticket was checked in before (`checkedInAt` is the first time).
    AlreadyCheckedIn,
    /// Not a code this server signed, or no such ticket.
    Invalid,
    /// The code was replaced (a transfer) or the ticket cancelled or refunded.
    Revoked,
    /// A valid ticket, for another event.
    WrongEvent,
    /// The ticket's reservation is not paid.
    NotValidYet,
}

impl From<Status> for CheckInStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Admitted => CheckInStatus::Admitted,
            Status::AlreadyCheckedIn => CheckInStatus::AlreadyCheckedIn,
            Status::Invalid => CheckInStatus::Invalid,
            Status::Revoked => CheckInStatus::Revoked,
            Status::WrongEvent => CheckInStatus::WrongEvent,
            Status::NotValidYet => CheckInStatus::NotValidYet,
        }
    }
}

/// The answer to one scan at the door.
pub struct CheckInResult(Scan);

/// The answer to one scan at the door.
#[Object]
impl CheckInResult {
    /// What the scan found.
    async fn status(&self) -> CheckInStatus {
        self.0.record.status.into()
    }
    /// The ticket the code names, when it names one (null for INVALID).
    async fn ticket(&self) -> Option<Ticket> {
        self.0.ticket.clone().map(Ticket)
    }
    /// When the ticket was admitted: now for ADMITTED, the first time for ALREADY_CHECKED_IN.
    async fn checked_in_at(&self) -> Option<DateTime<Utc>> {
        self.0.checked_in_at
    }
    /// A short explanation for the person at the door.
    async fn message(&self) -> &str {
        &self.0.record.message
    }
}

/// One ticket of an event, as the door sees it.
pub struct Attendee(ticket::Model);

/// One ticket of an event, as the door sees it.
#[Object]
impl Attendee {
    /// The ticket.
    async fn ticket(&self) -> Ticket {
        Ticket(self.0.clone())
    }
    /// Who holds the ticket.
    async fn holder(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let user = ctx.users().load_one(self.0.user_id).await?;
        user.map(User::public).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("holder of ticket {} missing", self.0.id)).into()
        })
    }
    /// The name printed on the ticket, when the holder gave one (`setTicketHolderName`).
    async fn holder_name(&self) -> Option<String> {
        self.0.holder_name.clone()
    }
    /// The kind of ticket.
    async fn ticket_type(&self, ctx: &Context<'_>) -> async_graphql::Result<TicketType> {
        let t = ctx.ticket_type().load_one(self.0.ticket_type_id).await?;
        t.map(TicketType).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "ticket type of ticket {} missing",
                self.0.id
            ))
            .into()
        })
    }
    /// The seat, for a seated ticket type.
    async fn seat(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::seating::graphql::Seat>> {
        crate::seating::graphql::ticket_seat(ctx, self.0.seat_id).await
    }
    /// When the ticket was admitted; null until then.
    async fn checked_in_at(&self) -> Option<DateTime<Utc>> {
        self.0.checked_in_at
    }
}

connection!(
    AttendeeConnection,
    AttendeeEdge,
    Attendee,
    "A page of an event's attendees, newest ticket first.",
    "An attendee in a page, with its cursor."
);

#[derive(Default)]
pub struct TicketsQuery;

#[Object]
impl TicketsQuery {
    /// The valid tickets of an event, searchable by the holder's username. The organizer, an
    /// admin or the event's staff.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn attendees(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event whose attendees to list.")] event_id: ID,
        #[graphql(desc = "Part of the holder's username.")] search: Option<String>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last attendee already seen.")] after: Option<String>,
    ) -> async_graphql::Result<AttendeeConnection> {
        let viewer = ctx.require_viewer()?;
        let event_id = parse_id(&event_id, "eventId")?;
        let page = service::attendees(
            ctx.state(),
            viewer,
            event_id,
            search.as_deref(),
            page_size(first)?,
            after.as_deref(),
        )
        .await?;
        Ok(page.map(Attendee).into())
    }

    /// The Ed25519 public key that verifies ticket codes offline: base64url (no padding) of its
    /// 32 bytes. Also at `GET /.well-known/ticket-key`.
    async fn ticket_verification_key(&self, ctx: &Context<'_>) -> String {
        ctx.state().tickets.public_key()
    }

    /// The logged-in user's personal calendar feed (.ics) of the events they hold tickets for.
    /// Keep it private: anyone with the URL can read it (`rotateCalendarToken` replaces it).
    async fn my_calendar_url(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let viewer = ctx.require_viewer()?;
        let token = super::exports::calendar_token(ctx.state(), viewer).await?;
        Ok(calendar_url(ctx, &token))
    }
}

fn calendar_url(ctx: &Context<'_>, token: &str) -> String {
    format!("{}/calendar/{token}.ics", ctx.state().settings.public_url)
}

#[derive(Default)]
pub struct TicketsMutation;

#[Object]
impl TicketsMutation {
    /// Scans a code at the event's door. Exactly one scan of a ticket is ADMITTED, however
    /// many arrive at once; every scan is recorded. The organizer, an admin or the event's staff.
    async fn check_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event whose door this is.")] event_id: ID,
        #[graphql(desc = "The scanned code.")] code: String,
    ) -> async_graphql::Result<CheckInResult> {
        let viewer = ctx.require_viewer()?;
        let event_id = parse_id(&event_id, "eventId")?;
        let scan = service::check_in(ctx.state(), viewer, &ctx.actor(), event_id, &code).await?;
        Ok(CheckInResult(scan))
    }

    /// Clears a ticket's check-in, for a mistake at the door. The organizer or an admin.
    async fn undo_check_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket to un-admit.")] ticket_id: ID,
    ) -> async_graphql::Result<Ticket> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&ticket_id, "ticketId")?;
        Ok(Ticket(
            service::undo_check_in(ctx.state(), viewer, &ctx.actor(), id).await?,
        ))
    }

    /// Lets a user check tickets in and read attendees at the event (nothing else). The
    /// organizer or an admin.
    async fn add_event_staff(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event.")] event_id: ID,
        #[graphql(desc = "Who joins the door staff.")] username: String,
    ) -> async_graphql::Result<Event> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&event_id, "eventId")?;
        Ok(Event(
            service::add_staff(ctx.state(), viewer, &ctx.actor(), id, &username).await?,
        ))
    }

    /// Takes a user's door rights at the event back. The organizer or an admin.
    async fn remove_event_staff(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event.")] event_id: ID,
        #[graphql(desc = "Who leaves the door staff.")] username: String,
    ) -> async_graphql::Result<Event> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&event_id, "eventId")?;
        Ok(Event(
            service::remove_staff(ctx.state(), viewer, &ctx.actor(), id, &username).await?,
        ))
    }

    /// Replaces the logged-in user's calendar feed URL; the old one stops working. Returns the
    /// new URL.
    async fn rotate_calendar_token(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let viewer = ctx.require_viewer()?;
        let token =
            super::exports::rotate_calendar_token(ctx.state(), viewer, &ctx.actor()).await?;
        Ok(calendar_url(ctx, &token))
    }
}

#[derive(Default)]
pub struct TicketsSubscription;

#[Subscription]
impl TicketsSubscription {
    /// Every scan at the event's door as it happens. The organizer, an admin or the event's
    /// staff.
    async fn check_ins(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event whose door to watch.")] event_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = CheckInResult>> {
        let viewer = ctx.require_viewer()?;
        let state = ctx.state().clone();
        let event_id = parse_id(&event_id, "eventId")?;
        service::door_event(&state, viewer, event_id).await?;
        let rx = state.live.pubsub.subscribe();
        let messages = tokio_stream_of(rx);
        Ok(messages
            .filter_map(move |m| {
                let state = state.clone();
                async move {
                    if m.topic != topic::CHECK_INS {
                        return None;
                    }
                    let a: ScanAnnouncement = serde_json::from_str(&m.payload).ok()?;
                    if a.event_id != event_id {
                        return None;
                    }
                    match service::announced_scan(&state, &a).await {
                        Ok(scan) => scan.map(CheckInResult),
                        Err(err) => {
                            tracing::warn!(error = ?err, "loading an announced scan failed");
                            None
                        }
                    }
                }
            })
            .boxed())
    }
}

/// A broadcast receiver as a stream; a lagging listener skips what it missed.
fn tokio_stream_of(
    rx: tokio::sync::broadcast::Receiver<crate::pubsub::Message>,
) -> impl Stream<Item = crate::pubsub::Message> {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(m) => return Some((m, rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
