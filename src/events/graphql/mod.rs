//! GraphQL face of events: `Event`, `EventSession`, `TicketType`'s fields, the `events`/`event`/
//! `calendar` queries and the create/update/publish/cancel and session mutations. The
//! `TicketType` struct lives in `ticket_types.rs`, below the seat map's types
//! (`seating/graphql.rs`), which show it and which `Event.seatMap` returns; its fields are
//! resolved here because `TicketType.session` returns an `EventSession`, which returns `Event`.

pub mod feedback;
pub mod manage;
pub mod ticket_types;

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{event, event_session, ticket_type};

pub use ticket_types::{TicketType, parse_id};

use super::service::{
    self, EventChanges, EventFilter as Filter, NewEvent, NewSession, NewTicketType,
};
use crate::auth::graphql::User;
use crate::connection;
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::pagination::page_size;
use crate::graphql::scalars::Cents;

/// Where an event is in its lifecycle.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "EventStatus")]
pub enum EventStatusGql {
    /// Being prepared; visible only to its organizer and admins.
    Draft,
    /// Public and open for reservations.
    Published,
    /// Called off; no longer listed or reservable.
    Cancelled,
}

impl From<event::EventStatus> for EventStatusGql {
    fn from(s: event::EventStatus) -> Self {
        match s {
            event::EventStatus::Draft => EventStatusGql::Draft,
            event::EventStatus::Published => EventStatusGql::Published,
            event::EventStatus::Cancelled => EventStatusGql::Cancelled,
        }
    }
}

pub struct Event(pub event::Model);

/// Something happening at a time and place, with tickets for sale.
#[Object]
impl Event {
    /// Stable identifier of the event.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Name of the event.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Longer text about the event.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Where it takes place.
    async fn venue(&self) -> Option<&str> {
        self.0.venue.as_deref()
    }
    /// When it starts.
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    /// When it ends, if known.
    async fn ends_at(&self) -> Option<DateTime<Utc>> {
        self.0.ends_at
    }
    /// Lifecycle state.
    async fn status(&self) -> EventStatusGql {
        self.0.status.into()
    }
    /// The organizer who owns the event.
    async fn organizer(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let user = ctx.users().load_one(self.0.organizer_id).await?;
        user.map(User::public).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "organizer {} of event {} is missing",
                self.0.organizer_id,
                self.0.id
            ))
            .into()
        })
    }
    /// The kinds of tickets on sale, in the organizer's order.
    async fn ticket_types(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TicketType>> {
        Ok(self
            .load_ticket_types(ctx)
            .await?
            .into_iter()
            .map(TicketType)
            .collect())
    }
    /// The event's sessions (one for a single-date event), soonest first, cancelled ones
    /// included with status CANCELLED. `startsAt` / `endsAt` span the live ones.
    async fn sessions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<EventSession>> {
        Ok(ctx
            .sessions()
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(EventSession)
            .collect())
    }
    /// Total seats across all ticket types.
    async fn capacity(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        Ok(self
            .load_ticket_types(ctx)
            .await?
            .iter()
            .map(|t| t.capacity)
            .sum())
    }
    /// Seats neither held nor sold, across all ticket types.
    async fn available(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        Ok(self
            .load_ticket_types(ctx)
            .await?
            .iter()
            .map(|t| t.available)
            .sum())
    }
    /// When the event was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// How much buyers get back when cancelling; null = a full refund until the start.
    async fn cancellation_policy(&self) -> async_graphql::Result<Option<CancellationPolicy>> {
        Ok(
            crate::events::policy::Policy::from_json(self.0.cancellation_policy.as_deref())?
                .map(CancellationPolicy::from),
        )
    }
    /// Whether ticket holders may transfer their tickets (`transferTicket`).
    async fn allow_transfers(&self) -> bool {
        self.0.allow_transfers
    }
    /// Attendees' feedback, newest first. The organizer and admins see who wrote each.
    async fn feedback(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last feedback already seen.")] after: Option<String>,
    ) -> async_graphql::Result<feedback::FeedbackConnection> {
        let show_author = ctx
            .viewer()
            .is_some_and(|v| v.is_admin() || v.user_id == self.0.organizer_id);
        let page = crate::events::feedback::list(
            ctx.state(),
            self.0.id,
            page_size(first)?,
            after.as_deref(),
        )
        .await?;
        Ok(page
            .map(|model| feedback::Feedback { model, show_author })
            .into())
    }
    /// Attendees' ratings summed up: average, count and histogram.
    async fn rating(&self, ctx: &Context<'_>) -> async_graphql::Result<feedback::Rating> {
        Ok(crate::events::feedback::rating(ctx.state(), self.0.id)
            .await?
            .into())
    }
    /// Categories of the event, lower case, alphabetically.
    async fn categories(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        Ok(crate::events::discovery::categories_of(&ctx.state().db, self.0.id).await?)
    }
    /// Every seat with its status, by section and row; null for general admission.
    async fn seat_map(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::seating::graphql::SeatMap>> {
        crate::seating::graphql::seat_map(ctx, self.0.id).await
    }
}

impl Event {
    async fn load_ticket_types(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ticket_type::Model>> {
        Ok(ctx
            .ticket_types()
            .load_one(self.0.id)
            .await?
            .unwrap_or_default())
    }
}

connection!(
    EventConnection,
    EventEdge,
    Event,
    "A page of events, soonest first.",
    "An event in a page, with its cursor."
);

/// Narrows `events`. All given conditions must hold.
#[derive(InputObject, Default)]
pub struct EventFilter {
    /// Full-text search of the title, description and venue: every word (letters and digits)
    /// must match the start of a word; at most 10 words, 100 characters.
    search: Option<String>,
    /// Only events starting at or after this time.
    starts_after: Option<DateTime<Utc>>,
    /// Only events starting before this time.
    starts_before: Option<DateTime<Utc>>,
    /// Only events with at least one seat available.
    only_available: Option<bool>,
    /// Only events of this organizer.
    organizer_id: Option<ID>,
    /// Only events in at least one of these categories (case-insensitive).
    categories: Option<Vec<String>>,
    /// Only events with a ticket type priced at least this (within `maxPriceCents` too).
    min_price_cents: Option<Cents>,
    /// Only events with a ticket type priced at most this (within `minPriceCents` too).
    max_price_cents: Option<Cents>,
    /// Case-insensitive keyword found in the venue.
    venue: Option<String>,
    /// Case-insensitive keyword found in the name of one of the event's ticket types.
    ticket_type_name: Option<String>,
}

impl EventFilter {
    fn into_service(self) -> Result<Filter, AppError> {
        Ok(Filter {
            search: self.search,
            starts_after: self.starts_after,
            starts_before: self.starts_before,
            only_available: self.only_available.unwrap_or(false),
            organizer_id: self
                .organizer_id
                .as_ref()
                .map(|id| parse_id(id, "organizerId"))
                .transpose()?,
            categories: self.categories,
            min_price_cents: self.min_price_cents.map(|c| c.0),
            max_price_cents: self.max_price_cents.map(|c| c.0),
            venue: self.venue,
            ticket_type_name: self.ticket_type_name,
        })
    }
}

/// A ticket type to create with an event.
#[derive(InputObject)]
pub struct TicketTypeInput {
    /// 1–100 characters, unique within the event.
    name: String,
    /// Price of one ticket in minor units, 0 or more.
    price_cents: Cents,
    /// Number of seats, 1 to 1,000,000: required for general admission; for a seated type it
    /// may be omitted (it is the number of seats in `sections`).
    capacity: Option<i32>,
    /// The venue sections whose seats this type sells (needs the event's `venueId`); a section
    /// belongs to at most one ticket type.
    sections: Option<Vec<String>>,
}

/// One session of an event, with its own ticket types.
#[derive(InputObject)]
pub struct SessionInput {
    /// In the future.
    starts_at: DateTime<Utc>,
    /// After `startsAt`.
    ends_at: Option<DateTime<Utc>>,
    /// 1 to 20 ticket types, names unique within the session.
    ticket_types: Vec<TicketTypeInput>,
}

impl TicketTypeInput {
    pub fn into_new(self) -> NewTicketType {
        NewTicketType {
            name: self.name,
            price_cents: self.price_cents.0,
            capacity: self.capacity,
            sections: self.sections,
        }
    }
}

impl SessionInput {
    fn into_new(self) -> NewSession {
        NewSession {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            ticket_types: self
                .ticket_types
                .into_iter()
                .map(TicketTypeInput::into_new)
                .collect(),
        }
    }
}

/// A new event; it starts as a DRAFT.
#[derive(InputObject)]
pub struct CreateEventInput {
    /// 1–200 characters.
    title: String,
    /// Up to 10,000 characters.
    description: Option<String>,
    /// Up to 200 characters.
    venue: Option<String>,
    /// The single session's start, in the future. Required unless `sessions` is given.
    starts_at: Option<DateTime<Utc>>,
    /// Must be after `startsAt`. Not with `sessions`.
    ends_at: Option<DateTime<Utc>>,
    /// The single session's 1 to 20 ticket types. Required unless `sessions` is given.
    ticket_types: Option<Vec<TicketTypeInput>>,
    /// 1 to 100 sessions, each with its own ticket types, instead of `startsAt`, `endsAt` and
    /// `ticketTypes` (giving both is `BAD_USER_INPUT`). Not with `venueId`, unless just one.
    sessions: Option<Vec<SessionInput>>,
    /// One of the organizer's venues: the event gets its own copy of the venue's seats.
    venue_id: Option<ID>,
    /// Up to 10 categories, stored lower case, e.g. `["jazz", "outdoor"]`.
    categories: Option<Vec<String>>,
}

/// Changes to an event. Omitted fields stay as they are; `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateEventInput {
    /// New title, 1–200 characters.
    title: Option<String>,
    /// New description; `null` removes it.
    description: MaybeUndefined<String>,
    /// New venue; `null` removes it.
    venue: MaybeUndefined<String>,
    /// New start time, in the future.
    starts_at: Option<DateTime<Utc>>,
    /// New end time after the start; `null` removes it.
    ends_at: MaybeUndefined<DateTime<Utc>>,
    /// Whether ticket holders may transfer their tickets to someone else.
    allow_transfers: Option<bool>,
    /// Replaces the categories (up to 10, stored lower case); `[]` removes them all.
    categories: Option<Vec<String>>,
}

/// One refund rule: cancelling at least `hoursBeforeStart` hours before the start refunds
/// `refundPercent` of what was paid.
#[derive(InputObject)]
pub struct RefundRuleInput {
    /// 0 up to two years in hours.
    hours_before_start: i32,
    /// 0 to 100.
    refund_percent: i32,
}

/// An event's cancellation policy: with `h` hours left, the rule with the largest
/// `hoursBeforeStart` ≤ `h` applies; when none does, cancelling is refused.
#[derive(InputObject)]
pub struct CancellationPolicyInput {
    /// Up to 20 rules, each `hoursBeforeStart` once (an empty list forbids cancelling).
    rules: Vec<RefundRuleInput>,
    /// Kept per ticket from every refund (default 0); a refund never goes below 0.
    fee_cents: Option<Cents>,
}

/// One refund rule of a policy.
#[derive(SimpleObject)]
pub struct RefundRule {
    /// The rule applies from this many hours before the start.
    hours_before_start: i32,
    /// Share of the amount paid that is refunded, 0 to 100.
    refund_percent: i32,
}

/// How much a buyer gets back when cancelling, by how long before the start.
#[derive(SimpleObject)]
pub struct CancellationPolicy {
    /// The rules, largest `hoursBeforeStart` first.
    rules: Vec<RefundRule>,
    /// Kept per ticket from every refund.
    fee_cents: Cents,
}

impl From<crate::events::policy::Policy> for CancellationPolicy {
    fn from(p: crate::events::policy::Policy) -> Self {
        CancellationPolicy {
            rules: p
                .rules
                .into_iter()
                .map(|r| RefundRule {
                    hours_before_start: r.hours_before_start,
                    refund_percent: r.refund_percent,
                })
                .collect(),
            fee_cents: Cents(p.fee_cents),
        }
    }
}

fn patch<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(t) => Some(Some(t)),
    }
}

/// Loads, in one query each, the ticket types and organizers of a page of events, if the query
/// selects them. The items' own field resolvers then hit the request's loader cache, so a page
/// costs the same number of statements however long it is, without relying on the loader's
/// batching window catching every item.
async fn prefetch<'a>(
    ctx: &Context<'_>,
    events: impl Iterator<Item = &'a event::Model>,
) -> async_graphql::Result<()> {
    let node = ctx.look_ahead().field("edges").field("node");
    let wants_types = ["ticketTypes", "capacity", "available"]
        .iter()
        .any(|f| node.field(f).exists());
    let wants_organizer = node.field("organizer").exists();
    let (event_ids, organizer_ids): (Vec<_>, Vec<_>) =
        events.map(|e| (e.id, e.organizer_id)).unzip();
    let types = async {
        if wants_types && !event_ids.is_empty() {
            ctx.ticket_types().load_many(event_ids).await?;
        }
        Ok::<_, async_graphql::Error>(())
    };
    let organizers = async {
        if wants_organizer && !organizer_ids.is_empty() {
            ctx.users().load_many(organizer_ids).await?;
        }
        Ok::<_, async_graphql::Error>(())
    };
    futures::try_join!(types, organizers)?;
    Ok(())
}

/// How `events` is ordered.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum EventOrder {
    /// Soonest start first.
    StartsAt,
    /// Most recently created first.
    Newest,
    /// Most tickets paid in the last 7 days first.
    Popularity,
    /// Best full-text match of `filter.search` first (title, then description, then venue).
    Relevance,
}

impl From<EventOrder> for crate::events::ordering::EventOrder {
    fn from(o: EventOrder) -> Self {
        use crate::events::ordering::EventOrder as O;
        match o {
            EventOrder::StartsAt => O::StartsAt,
            EventOrder::Newest => O::Newest,
            EventOrder::Popularity => O::Popularity,
            EventOrder::Relevance => O::Relevance,
        }
    }
}

#[derive(Default)]
pub struct EventsQuery;

#[Object]
impl EventsQuery {
    /// Events the caller may see, in `orderBy` (soonest first by default): everyone sees published events; organizers
    /// also see their own drafts and cancelled events; admins see all.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the events must meet.")] filter: Option<EventFilter>,
        #[graphql(
            desc = "Order of the events (RELEVANCE needs `filter.search`).",
            default_with = "EventOrder::StartsAt"
        )]
        order_by: EventOrder,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last event already seen.")] after: Option<String>,
    ) -> async_graphql::Result<EventConnection> {
        let filter = filter.unwrap_or_default().into_service()?;
        let first = page_size(first)?;
        let page = service::list(
            ctx.state(),
            ctx.viewer(),
            &filter,
            order_by.into(),
            first,
            after.as_deref(),
        )
        .await?;
        prefetch(ctx, page.items.iter().map(|(_, e)| e)).await?;
        Ok(page.map(Event).into())
    }

    /// One event, or null when it does not exist or the caller may not see it.
    async fn event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event's id.")] id: ID,
    ) -> async_graphql::Result<Option<Event>> {
        let id = parse_id(&id, "id")?;
        Ok(service::find_visible(ctx.state(), ctx.viewer(), id)
            .await?
            .map(Event))
    }

    /// A month view: the days (UTC) in [`from`, `to`) on which at least one live session of a
    /// published event matching `filter` starts, each with those sessions ordered by start.
    /// The range spans at most 366 days (`BAD_USER_INPUT` otherwise).
    async fn calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime<Utc>,
        #[graphql(desc = "End of the range (exclusive).")] to: DateTime<Utc>,
        #[graphql(desc = "Conditions the sessions' events must meet.")] filter: Option<EventFilter>,
    ) -> async_graphql::Result<Vec<CalendarDay>> {
        let filter = filter.unwrap_or_default().into_service()?;
        let days = crate::events::sessions::calendar(ctx.state(), from, to, &filter).await?;
        let ids: Vec<_> = days
            .iter()
            .flat_map(|d| d.sessions.iter().map(|s| s.event_id))
            .collect();
        // One query for every session's event and one for their ticket types, if selected.
        let node = ctx.look_ahead().field("sessions");
        if node.field("event").exists() || node.field("status").exists() {
            ctx.events().load_many(ids.iter().copied()).await?;
        }
        if node.field("ticketTypes").exists() {
            ctx.ticket_types().load_many(ids).await?;
        }
        Ok(days
            .into_iter()
            .map(|d| CalendarDay {
                date: d.date.format("%Y-%m-%d").to_string(),
                sessions: d.sessions.into_iter().map(EventSession).collect(),
            })
            .collect())
    }
}

/// One day of the `calendar`.
#[derive(SimpleObject)]
pub struct CalendarDay {
    /// The day, `YYYY-MM-DD` in UTC.
    date: String,
    /// The sessions starting that day, by start.
    sessions: Vec<EventSession>,
}

pub struct EventSession(pub event_session::Model);

impl EventSession {
    async fn load_event(&self, ctx: &Context<'_>) -> async_graphql::Result<event::Model> {
        ctx.events()
            .load_one(self.0.event_id)
            .await?
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!(
                    "event {} of session {} is missing",
                    self.0.event_id,
                    self.0.id
                ))
                .into()
            })
    }
}

/// One occurrence of an event (a festival day, a workshop date), with its own ticket types
/// and so its own capacity.
#[Object]
impl EventSession {
    /// Stable identifier of the session.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// When it starts.
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    /// When it ends, if known.
    async fn ends_at(&self) -> Option<DateTime<Utc>> {
        self.0.ends_at
    }
    /// CANCELLED once the session or its event is cancelled; otherwise the event's status.
    async fn status(&self, ctx: &Context<'_>) -> async_graphql::Result<EventStatusGql> {
        let ev = self.load_event(ctx).await?;
        Ok(crate::events::schedule::status_of(&self.0, &ev).into())
    }
    /// The event it belongs to.
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Event> {
        Ok(Event(self.load_event(ctx).await?))
    }
    /// The session's ticket types with their seats left, in the organizer's order.
    async fn ticket_types(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TicketType>> {
        Ok(ctx
            .ticket_types()
            .load_one(self.0.event_id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.session_id == self.0.id)
            .map(TicketType)
            .collect())
    }
}

/// A kind of ticket for one session of an event, with its own price and seats.
#[Object]
impl TicketType {
    /// Stable identifier of the ticket type; reserve seats with it.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Name shown to buyers, e.g. "General admission".
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Price of one ticket, in minor units of the platform currency.
    async fn price_cents(&self) -> Cents {
        Cents(self.0.price_cents)
    }
    /// Seats of this type in total.
    async fn capacity(&self) -> i32 {
        self.0.capacity
    }
    /// Seats of this type neither held nor sold.
    async fn available(&self) -> i32 {
        self.0.available
    }
    /// The session these seats are for.
    async fn session(&self, ctx: &Context<'_>) -> async_graphql::Result<EventSession> {
        ctx.sessions()
            .load_one(self.0.event_id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.id == self.0.session_id)
            .map(EventSession)
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!(
                    "session {} of ticket type {} is missing",
                    self.0.session_id,
                    self.0.id
                ))
                .into()
            })
    }
}

#[derive(Default)]
pub struct EventsMutation;

#[Object]
impl EventsMutation {
    /// Creates a DRAFT event with its ticket types. Organizers and admins only.
    async fn create_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event and its ticket types.")] input: CreateEventInput,
    ) -> async_graphql::Result<Event> {
        let viewer = ctx.require_viewer()?;
        let new = NewEvent {
            title: input.title,
            description: input.description,
            venue: input.venue,
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            ticket_types: input
                .ticket_types
                .unwrap_or_default()
                .into_iter()
                .map(TicketTypeInput::into_new)
                .collect(),
            sessions: input
                .sessions
                .map(|s| s.into_iter().map(SessionInput::into_new).collect()),
            venue_id: input
                .venue_id
                .as_ref()
                .map(|id| parse_id(id, "venueId"))
                .transpose()?,
            categories: input.categories.unwrap_or_default(),
        };
        Ok(Event(
            service::create(ctx.state(), viewer, &ctx.actor(), new).await?,
        ))
    }

    /// Changes an event's details. Its organizer or an admin only; not once cancelled.
    async fn update_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event to change.")] id: ID,
        #[graphql(desc = "The fields to change.")] input: UpdateEventInput,
    ) -> async_graphql::Result<Event> {
        let viewer = ctx.require_viewer()?;
        let changes = EventChanges {
            title: input.title,
            description: patch(input.description),
            venue: patch(input.venue),
            starts_at: input.starts_at,
            ends_at: patch(input.ends_at),
            allow_transfers: input.allow_transfers,
            categories: input.categories,
        };
        Ok(Event(
            service::update(
                ctx.state(),
                viewer,
                &ctx.actor(),
                parse_id(&id, "id")?,
                changes,
            )
            .await?,
        ))
    }

    /// DRAFT → PUBLISHED: the event becomes public and reservable. `CONFLICT` from any other state.
    async fn publish_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event to publish.")] id: ID,
    ) -> async_graphql::Result<Event> {
        let viewer = ctx.require_viewer()?;
        Ok(Event(
            service::publish(ctx.state(), viewer, &ctx.actor(), parse_id(&id, "id")?).await?,
        ))
    }

    /// Sets how much buyers get back when they cancel, by how long before the start (organizer
    /// or admin). Refund = max(0, ⌊paid × refundPercent / 100⌋ − feeCents × tickets).
    async fn set_cancellation_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event.")] event_id: ID,
        #[graphql(desc = "The new policy.")] input: CancellationPolicyInput,
    ) -> async_graphql::Result<Event> {
        let viewer = ctx.require_viewer()?;
        let policy = crate::events::policy::Policy::new(
            input
                .rules
                .into_iter()
                .map(|r| crate::events::policy::Rule {
                    hours_before_start: r.hours_before_start,
                    refund_percent: r.refund_percent,
                })
                .collect(),
            input.fee_cents.map_or(0, |c| c.0),
        )?;
        Ok(Event(
            service::set_cancellation_policy(
                ctx.state(),
                viewer,
                &ctx.actor(),
                parse_id(&event_id, "eventId")?,
                policy,
            )
            .await?,
        ))
    }

    /// DRAFT or PUBLISHED → CANCELLED, refunding every paid reservation in full (whatever the
    /// cancellation policy). `CONFLICT` if already cancelled.
    async fn cancel_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event to cancel.")] id: ID,
    ) -> async_graphql::Result<Event> {
        let viewer = ctx.require_viewer()?;
        Ok(Event(
            service::cancel(ctx.state(), viewer, &ctx.actor(), parse_id(&id, "id")?).await?,
        ))
    }

    /// Adds a session with its ticket types to an event that is not cancelled (its organizer
    /// or an admin); the event's span grows to include it. Not for a seated event.
    async fn add_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event.")] event_id: ID,
        #[graphql(desc = "The session and its ticket types.")] input: SessionInput,
    ) -> async_graphql::Result<EventSession> {
        let viewer = ctx.require_viewer()?;
        let event_id = parse_id(&event_id, "eventId")?;
        Ok(EventSession(
            crate::events::sessions::add_session(
                ctx.state(),
                viewer,
                &ctx.actor(),
                event_id,
                input.into_new(),
            )
            .await?,
        ))
    }

    /// Cancels one session (its organizer or an admin): its buyers are refunded in full as by
    /// `cancelEvent`, its holds released and its waitlists closed; other sessions keep their
    /// sales. Cancelling the last live session cancels the event. `CONFLICT` if already cancelled.
    async fn cancel_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session to cancel.")] session_id: ID,
    ) -> async_graphql::Result<EventSession> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&session_id, "sessionId")?;
        Ok(EventSession(
            crate::events::sessions::cancel_session(ctx.state(), viewer, &ctx.actor(), id).await?,
        ))
    }

    /// Adds a general-admission ticket type to a live session (its organizer or an admin).
    async fn add_ticket_type(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session.")] session_id: ID,
        #[graphql(desc = "The ticket type; `sections` is refused.")] input: TicketTypeInput,
    ) -> async_graphql::Result<TicketType> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&session_id, "sessionId")?;
        Ok(TicketType(
            crate::events::sessions::add_ticket_type(
                ctx.state(),
                viewer,
                &ctx.actor(),
                id,
                input.into_new(),
            )
            .await?,
        ))
    }
}

/// Seats left in one ticket type.
#[derive(async_graphql::SimpleObject, Clone)]
pub struct TicketTypeAvailability {
    /// The ticket type.
    ticket_type_id: ID,
    /// Its name.
    name: String,
    /// Seats neither held nor sold.
    available: i32,
    /// Seats in total.
    capacity: i32,
}

/// Seats left in each ticket type of an event, right now.
#[derive(async_graphql::SimpleObject, Clone)]
pub struct EventAvailability {
    /// The event.
    event_id: ID,
    /// Seats neither held nor sold, across all ticket types.
    available: i32,
    /// Per ticket type, in the organizer's order.
    ticket_types: Vec<TicketTypeAvailability>,
}

impl From<&super::live::Availability> for EventAvailability {
    fn from(a: &super::live::Availability) -> Self {
        EventAvailability {
            event_id: ID(a.event_id.to_string()),
            available: a.ticket_types.iter().map(|t| t.available).sum(),
            ticket_types: a
                .ticket_types
                .iter()
                .map(|t| TicketTypeAvailability {
                    ticket_type_id: ID(t.id.to_string()),
                    name: t.name.clone(),
                    available: t.available,
                    capacity: t.capacity,
                })
                .collect(),
        }
    }
}

#[derive(Default)]
pub struct EventsSubscription;

#[async_graphql::Subscription]
impl EventsSubscription {
    /// Seats left per ticket type of a visible event: the current numbers first, then new ones
    /// after reservations, expiries, cancellations and payments, at most one message per ~100 ms.
    async fn event_availability(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event to watch.")] event_id: ID,
    ) -> async_graphql::Result<impl futures::Stream<Item = EventAvailability>> {
        use futures::StreamExt;
        let id = parse_id(&event_id, "eventId")?;
        if service::find_visible(ctx.state(), ctx.viewer(), id)
            .await?
            .is_none()
        {
            return Err(AppError::NotFound(format!("event {id} not found")).into());
        }
        let hub = ctx.state().live.availability.clone();
        // Subscribe before reading, so a change in between is not lost.
        let rx = hub.subscribe();
        let first = EventAvailability::from(&hub.current(id).await?);
        let updates = futures::stream::unfold(rx, move |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(a) if a.event_id == id => return Some((EventAvailability::from(&*a), rx)),
                    // Availability is a state, not a log: a lagging subscriber just gets the next one.
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        let stream = futures::stream::once(async move { first }).chain(updates);
        Ok(crate::metrics::counted(ctx.state().metrics.clone(), stream).boxed())
    }
}
