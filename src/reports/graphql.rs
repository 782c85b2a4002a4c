//! GraphQL face of reports: `eventReport` and `transactions` for an event's organizer.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject, Subscription};
use entity::transaction;
use futures::{Stream, StreamExt};
use sea_orm::{ColumnTrait, Condition};

use super::live;
use super::outbox::{LiveReport, Scope};
use super::service;
use super::summary::{self, Summary};
use crate::db::paging::{decode_cursor, encode_cursor};
use crate::error::AppError;
use crate::events::graphql::Event;
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
    /// Money given back by refunds (full and partial), in minor units.
    refunded_cents: Cents,
    /// Money kept from cancelled reservations under the cancellation policy (paid − refunded),
    /// in minor units; part of `revenueCents`.
    kept_cents: Cents,
    /// Share of seats sold, from 0.0 to 1.0.
    occupancy: f64,
    /// Payment attempts that failed (declined, insufficient funds, expired hold, errors).
    failed_payments: i32,
    /// Valid tickets admitted at the door.
    checked_in: i32,
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
            kept_cents: Cents(s.kept_cents),
            occupancy: s.occupancy(),
            failed_payments: int(s.failed_payments),
            checked_in: int(s.checked_in),
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
        Ok((&summary::summary(&ctx.state().db, event.id).await?).into())
    }

    /// Every payment, failed payment and refund of the event, newest first. Its organizer or an
    /// admin only.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
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
        Ok(page.map(crate::payments::graphql::Transaction::new).into())
    }
}

/// One transaction of an event, as it happened, with the event's numbers at that moment.
pub struct TransactionReport(pub Arc<LiveReport>);

/// One transaction of an event, as it happened, with the event's numbers at that moment.
#[Object]
impl TransactionReport {
    /// Pass it as `after` when subscribing again to receive exactly the reports that followed.
    async fn cursor(&self) -> String {
        report_cursor(self.0.position)
    }
    /// The payment, failed payment or refund; `buyer` is the buyer at that moment.
    async fn transaction(&self) -> crate::payments::graphql::Transaction {
        crate::payments::graphql::Transaction::with_buyer(
            self.0.transaction.clone(),
            self.0.buyer.as_user(),
        )
    }
    /// The event as it was at the moment of the transaction.
    async fn event(&self) -> Event {
        Event(self.0.event.clone())
    }
    /// The event's summary right after this transaction.
    async fn summary(&self) -> EventSummary {
        (&self.0.summary).into()
    }
}

fn report_cursor(position: i64) -> String {
    encode_cursor(&format!("report:{position}"))
}

fn parse_report_cursor(cursor: &str) -> Result<i64, AppError> {
    decode_cursor(cursor)?
        .strip_prefix("report:")
        .and_then(|p| p.parse().ok())
        .filter(|p: &i64| *p >= 0)
        .ok_or_else(|| {
            AppError::bad_input("`after` is not a cursor returned by `transactionReports`")
        })
}

#[derive(Default)]
pub struct ReportsSubscription;

#[Subscription]
impl ReportsSubscription {
    /// Every payment, failed payment and refund of one event (or, without `eventId`, of all the
    /// caller's events), live, each with the event's summary at that moment. With `after`, first
    /// every stored report after that cursor, in order, then live ones: none missed, none twice.
    /// For the event's organizer or an admin.
    async fn transaction_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event to watch; all of the caller's events when omitted.")] event_id: Option<ID>,
        #[graphql(desc = "Cursor of the last report already received.")] after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TransactionReport>>> {
        let viewer = ctx.require_viewer()?;
        let scope = match &event_id {
            Some(id) => {
                let event =
                    service::managed_event(ctx.state(), viewer, parse_id(id, "eventId")?).await?;
                Scope::Event(event.id)
            }
            None if viewer.role == crate::auth::Role::User => {
                return Err(AppError::Forbidden(
                    "only organizers and admins can watch transaction reports".into(),
                )
                .into());
            }
            None => Scope::Organizer(viewer.user_id),
        };
        let after = after.as_deref().map(parse_report_cursor).transpose()?;
        let stream = live::stream(ctx.state().live.reports.clone(), scope, after);
        Ok(crate::metrics::counted(
            ctx.state().metrics.clone(),
            stream.map(|r| r.map(TransactionReport).map_err(async_graphql::Error::from)),
        )
        .boxed())
    }
}
