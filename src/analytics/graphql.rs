//! GraphQL face of analytics: `analytics(filter)` and its types. Ticket types and events in the
//! breakdowns come through the request's DataLoaders, one batch per list.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::service::{self, Bucket, Query, Sales, Totals};
use crate::error::AppError;
use crate::events::graphql::{Event, TicketType, parse_id};
use crate::graphql::context::ContextExt;
use crate::graphql::scalars::Cents;

/// Which figures: one event's, or (without `eventId`) all of the caller's events (all events
/// for an admin); within `from` (inclusive) and `to` (exclusive), either of which may be open.
#[derive(InputObject, Default)]
pub struct AnalyticsFilter {
    /// Only this event (the caller's own, unless an admin).
    pub event_id: Option<ID>,
    /// Start of the window, inclusive.
    pub from: Option<DateTime<Utc>>,
    /// End of the window, exclusive.
    pub to: Option<DateTime<Utc>>,
}

/// The width of a `salesOverTime` bucket, in UTC.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum TimeBucket {
    Hour,
    Day,
    /// Weeks start on Monday 00:00 UTC.
    Week,
}

impl From<TimeBucket> for Bucket {
    fn from(b: TimeBucket) -> Self {
        match b {
            TimeBucket::Hour => Bucket::Hour,
            TimeBucket::Day => Bucket::Day,
            TimeBucket::Week => Bucket::Week,
        }
    }
}

/// Sales within one time bucket.
#[derive(SimpleObject)]
pub struct SalesBucket {
    /// The bucket's start (UTC).
    start: DateTime<Utc>,
    /// Tickets paid in the bucket.
    tickets_sold: i32,
    /// Payments in the bucket, in minor units.
    revenue_cents: Cents,
}

/// Sales of one ticket type within the window.
pub struct TicketTypeSales {
    ticket_type: TicketType,
    sales: Sales,
}

#[Object]
impl TicketTypeSales {
    async fn ticket_type(&self) -> &TicketType {
        &self.ticket_type
    }
    /// Tickets of this type paid within the window.
    async fn tickets_sold(&self) -> i32 {
        int(self.sales.tickets)
    }
    /// Payments for this type within the window, in minor units.
    async fn revenue_cents(&self) -> Cents {
        Cents(self.sales.revenue_cents)
    }
}

/// Sales of one event within the window.
pub struct EventSales {
    event: Event,
    sales: Sales,
}

#[Object]
impl EventSales {
    async fn event(&self) -> &Event {
        &self.event
    }
    /// Tickets of this event paid within the window.
    async fn tickets_sold(&self) -> i32 {
        int(self.sales.tickets)
    }
    /// Payments for this event within the window, in minor units.
    async fn revenue_cents(&self) -> Cents {
        Cents(self.sales.revenue_cents)
    }
}

fn int(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// An organizer's (or an admin's) numbers over a window. Money counts when it moved: payments
/// when paid, refunds and kept fees when refunded. Free (RSVP) tickets are not sales.
pub struct Analytics {
    query: Query,
    totals: Totals,
}

#[Object]
impl Analytics {
    /// Succeeded payments, in minor units.
    async fn revenue_cents(&self) -> Cents {
        Cents(self.totals.revenue_cents)
    }
    /// Refunds given back, in minor units.
    async fn refunded_cents(&self) -> Cents {
        Cents(self.totals.refunded_cents)
    }
    /// What cancellation policies kept of cancelled reservations (paid − refunded), in minor
    /// units.
    async fn fees_kept_cents(&self) -> Cents {
        Cents(self.totals.fees_kept_cents)
    }
    /// Tickets paid.
    async fn tickets_sold(&self) -> i32 {
        int(self.totals.tickets_sold)
    }
    /// Paid tickets cancelled or refunded (counted when refunded).
    async fn tickets_cancelled(&self) -> i32 {
        int(self.totals.tickets_cancelled)
    }
    /// `ticketsCancelled ÷ ticketsSold`; 0 when none were sold.
    async fn cancellation_rate(&self) -> f64 {
        self.totals.cancellation_rate()
    }
    /// Tickets paid in the window and not cancelled ÷ the capacity of the events in scope
    /// (drafts left out).
    async fn occupancy(&self) -> f64 {
        self.totals.occupancy()
    }
    /// Checked-in tickets ÷ tickets paid in the window and not cancelled; 0 when there are none.
    async fn check_in_rate(&self) -> f64 {
        self.totals.check_in_rate()
    }
    /// Average of the ratings submitted in the window (1–5); null when there are none.
    async fn average_rating(&self) -> Option<f64> {
        self.totals.average_rating
    }
    /// Tickets and revenue per bucket, oldest first, empty buckets included, from `from` (or
    /// the first sale) to `to` (or now); at most 10,000 buckets.
    async fn sales_over_time(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Bucket width (UTC; weeks start on Monday).")] bucket: TimeBucket,
    ) -> async_graphql::Result<Vec<SalesBucket>> {
        let rows = service::sales_over_time(
            &ctx.state().db,
            &self.query,
            bucket.into(),
            self.totals.first_sale,
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|(start, s)| SalesBucket {
                start,
                tickets_sold: int(s.tickets),
                revenue_cents: Cents(s.revenue_cents),
            })
            .collect())
    }
    /// Sales per ticket type, most tickets first (ticket types that sold nothing are left out).
    async fn by_ticket_type(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<TicketTypeSales>> {
        let rows = service::by_ticket_type(&ctx.state().db, &self.query).await?;
        let mut types = ctx
            .ticket_type()
            .load_many(rows.iter().map(|(id, _)| *id))
            .await?;
        rows.into_iter()
            .map(|(id, sales)| {
                let t = types.remove(&id).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("ticket type {id} vanished"))
                })?;
                Ok(TicketTypeSales {
                    ticket_type: TicketType(t),
                    sales,
                })
            })
            .collect()
    }
    /// The events that sold the most tickets in the window, most first.
    async fn top_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many, 1 to 100.", default = 10)] limit: i32,
    ) -> async_graphql::Result<Vec<EventSales>> {
        let rows = service::top_events(&ctx.state().db, &self.query, limit.into()).await?;
        let mut events = ctx
            .events()
            .load_many(rows.iter().map(|(id, _)| *id))
            .await?;
        rows.into_iter()
            .map(|(id, sales)| {
                let e = events
                    .remove(&id)
                    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("event {id} vanished")))?;
                Ok(EventSales {
                    event: Event(e),
                    sales,
                })
            })
            .collect()
    }
}

#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// Sales, cancellations, occupancy, check-ins and ratings: an organizer's own events (or
    /// one of them), or every event for an admin. Others get FORBIDDEN.
    async fn analytics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which event and which time window.")] filter: Option<AnalyticsFilter>,
    ) -> async_graphql::Result<Analytics> {
        let viewer = ctx.require_viewer()?;
        let filter = filter.unwrap_or_default();
        let event_id = filter
            .event_id
            .as_ref()
            .map(|id| parse_id(id, "eventId"))
            .transpose()?;
        let state = ctx.state();
        let query = service::authorize(state, viewer, event_id, filter.from, filter.to).await?;
        let totals = service::totals(&state.db, &query).await?;
        Ok(Analytics { query, totals })
    }
}
