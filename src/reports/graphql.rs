//! GraphQL face of reports: `eventReport` and `transactions` for an event's organizer.

use async_graphql::{Context, ID, Object, SimpleObject};
use entity::transaction;
use sea_orm::{ColumnTrait, Condition};

use super::service::{self, Summary};
use crate::events::graphql::parse_id;
use crate::graphql::context::ContextExt;
use crate::graphql::pagination::page_size;
use crate::graphql::scalars::Cents;
use crate::payments::graphql::TransactionConnection;
use crate::payments::ledger::list_transactions;

/// An event's sales at one moment. `ticketsSold + ticketsHeld + ticketsAvailable = capacity`.
#[derive(SimpleObject, Debug, Clone)]
pub struct EventSummary {
    /// Seats of confirmed (paid) reservations.
    tickets_sold: i32,
    /// Seats held by pending reservations awaiting payment.
    tickets_held: i32,
    /// Seats neither held nor sold.
    tickets_available: i32,
    /// Seats in total, across all ticket types.
    capacity: i32,
    /// Money taken: succeeded payments minus refunds, in minor units.
    revenue_cents: Cents,
    /// Money given back by refunds, in minor units.
    refunded_cents: Cents,
    /// Share of seats sold, from 0.0 to 1.0.
    occupancy: f64,
    /// Payment attempts that failed (declined, insufficient funds, expired hold, errors).
    failed_payments: i32,
}

impl From<&Summary> for EventSummary {
    fn from(s: &Summary) -> Self {
        let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        EventSummary {
            tickets_sold: int(s.sold),
            tickets_held: int(s.held),
            tickets_available: int(s.available),
            capacity: int(s.capacity),
            revenue_cents: Cents(s.revenue_cents),
            refunded_cents: Cents(s.refunded_cents),
            occupancy: s.occupancy(),
            failed_payments: int(s.failed_payments),
        }
    }
}

#[derive(Default)]
pub struct ReportsQuery;

#[Object]
impl ReportsQuery {
    /// The event's sales summary, computed now. Its organizer or an admin only.
    async fn event_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event to report on.")] event_id: ID,
    ) -> async_graphql::Result<EventSummary> {
        let viewer = ctx.require_viewer()?;
        let event =
            service::managed_event(ctx.state(), viewer, parse_id(&event_id, "eventId")?).await?;
        Ok((&service::summary(&ctx.state().db, event.id).await?).into())
    }

    /// Every payment, failed payment and refund of the event, newest first. Its organizer or an
    /// admin only.
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event whose transactions to list.")] event_id: ID,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last transaction already seen.")] after: Option<String>,
    ) -> async_graphql::Result<TransactionConnection> {
        let viewer = ctx.require_viewer()?;
        let event =
            service::managed_event(ctx.state(), viewer, parse_id(&event_id, "eventId")?).await?;
        let first = page_size(first)?;
        let scope = Condition::all().add(transaction::Column::EventId.eq(event.id));
        let page = list_transactions(&ctx.state().db, scope, first, after.as_deref()).await?;
        Ok(page.map(crate::payments::graphql::Transaction).into())
    }
}
