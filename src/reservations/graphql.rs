//! GraphQL face of reservations: `reserve`, `cancelReservation`, `myReservations`, `reservation`.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::reservation::{self, ReservationStatus};
use entity::ticket::{self, TicketStatus};

use super::service::{self, NewReservation};
use crate::auth::graphql::User;
use crate::connection;
use crate::error::AppError;
use crate::events::graphql::{Event, TicketType, parse_id};
use crate::graphql::context::ContextExt;
use crate::graphql::pagination::page_size;
use crate::graphql::scalars::Cents;

/// Where a reservation is in its life.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ReservationStatus")]
pub enum ReservationStatusGql {
    /// Seats are held until `expiresAt`, awaiting payment.
    Pending,
    /// Paid; the tickets are valid.
    Confirmed,
    /// Cancelled by its owner or an admin; seats were released (and paid ones refunded).
    Cancelled,
    /// The hold ran out before payment; seats were released.
    Expired,
}

/// Whether a ticket admits its holder.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "TicketStatus")]
pub enum TicketStatusGql {
    /// Admits its holder.
    Valid,
    /// Its reservation was cancelled.
    Void,
}

/// Seats of one ticket type held for, or bought by, one user.
pub struct Reservation(pub reservation::Model);

/// Seats of one ticket type held for, or bought by, one user.
#[Object]
impl Reservation {
    /// Stable identifier of the reservation.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Pending, confirmed, cancelled or expired.
    async fn status(&self) -> ReservationStatusGql {
        match self.0.status {
            ReservationStatus::Pending => ReservationStatusGql::Pending,
            ReservationStatus::Confirmed => ReservationStatusGql::Confirmed,
            ReservationStatus::Cancelled => ReservationStatusGql::Cancelled,
            ReservationStatus::Expired => ReservationStatusGql::Expired,
        }
    }
    /// Number of seats.
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    /// Price of all seats, fixed when reserving, in minor units.
    async fn amount_cents(&self) -> Cents {
        Cents(self.0.amount_cents)
    }
    /// When an unpaid hold lapses and its seats are released.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    /// When the reservation was made.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The event the seats are for.
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Event> {
        let event = ctx.events().load_one(self.0.event_id).await?;
        event
            .map(Event)
            .ok_or_else(|| missing("event", self.0.event_id))
    }
    /// The kind of ticket held.
    async fn ticket_type(&self, ctx: &Context<'_>) -> async_graphql::Result<TicketType> {
        let ticket_type = ctx.ticket_type().load_one(self.0.ticket_type_id).await?;
        ticket_type
            .map(TicketType)
            .ok_or_else(|| missing("ticket type", self.0.ticket_type_id))
    }
    /// The seats held or bought, for a seated ticket type (still listed once cancelled or
    /// expired); empty for general admission.
    async fn seats(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::seating::graphql::Seat>> {
        crate::seating::graphql::reservation_seats(ctx, self.0.id).await
    }
    /// One ticket per seat once paid; empty before.
    async fn tickets(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Ticket>> {
        Ok(ctx
            .tickets()
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Ticket)
            .collect())
    }
}

fn missing(what: &str, id: uuid::Uuid) -> async_graphql::Error {
    AppError::internal(anyhow::anyhow!("{what} {id} of a reservation is missing")).into()
}

/// One seat, with the code that admits its holder.
pub struct Ticket(pub ticket::Model);

/// One seat, with the code that admits its holder.
#[Object]
impl Ticket {
    /// Stable identifier of the ticket.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The code shown at the door: `base64url(payload).base64url(signature)`, an Ed25519
    /// signature over the ticket id, event id and version, verifiable offline with
    /// `ticketVerificationKey`. A transfer, cancellation or refund revokes it.
    async fn code(&self, ctx: &Context<'_>) -> String {
        crate::tickets::service::code_of(&ctx.state().tickets, &self.0)
    }
    /// The code as an SVG image of a QR code.
    async fn qr_svg(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let code = crate::tickets::service::code_of(&ctx.state().tickets, &self.0);
        Ok(crate::tickets::qr::svg(&code).map_err(AppError::internal)?)
    }
    /// When the ticket was admitted at the door; null until then.
    async fn checked_in_at(&self) -> Option<DateTime<Utc>> {
        self.0.checked_in_at
    }
    /// Who holds it now: the buyer, or whoever it was last transferred to.
    async fn holder(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        ctx.users()
            .load_one(self.0.user_id)
            .await?
            .map(User::public)
            .ok_or_else(|| missing("holder", self.0.user_id))
    }
    /// The name printed on the ticket, if its holder set one (`setTicketHolderName`).
    async fn holder_name(&self) -> Option<&str> {
        self.0.holder_name.as_deref()
    }
    /// The event it admits to.
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Event> {
        ctx.events()
            .load_one(self.0.event_id)
            .await?
            .map(Event)
            .ok_or_else(|| missing("event", self.0.event_id))
    }
    /// Its kind of ticket.
    async fn ticket_type(&self, ctx: &Context<'_>) -> async_graphql::Result<TicketType> {
        ctx.ticket_type()
            .load_one(self.0.ticket_type_id)
            .await?
            .map(TicketType)
            .ok_or_else(|| missing("ticket type", self.0.ticket_type_id))
    }
    /// Valid, or void after a cancellation.
    async fn status(&self) -> TicketStatusGql {
        match self.0.status {
            TicketStatus::Valid => TicketStatusGql::Valid,
            TicketStatus::Void => TicketStatusGql::Void,
        }
    }
    /// The seat it admits to; null for general admission.
    async fn seat(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::seating::graphql::Seat>> {
        crate::seating::graphql::ticket_seat(ctx, self.0.seat_id).await
    }
}

connection!(
    ReservationConnection,
    ReservationEdge,
    Reservation,
    "A page of reservations, newest first.",
    "A reservation in a page, with its cursor."
);

connection!(
    TicketConnection,
    TicketEdge,
    Ticket,
    "A page of tickets, newest first.",
    "A ticket in a page, with its cursor."
);

/// What cancelling a reservation would return now.
#[derive(SimpleObject)]
pub struct RefundQuote {
    /// Whether it can be cancelled now.
    allowed: bool,
    /// What cancelling now refunds, back the way it was paid (wallet or card).
    refund_cents: Cents,
    /// The cancellation fee the policy charges (its per-ticket fee × tickets).
    fee_cents: Cents,
    /// What the organizer keeps: paid − refund.
    kept_cents: Cents,
    /// The share of the amount paid the applicable rule refunds, 0 to 100.
    refund_percent: i32,
    /// The last moment this figure holds (the applicable rule's deadline); null when
    /// cancelling is not allowed. A quote never binds: `cancelReservation` refunds what the
    /// policy gives at the moment it commits.
    valid_until: Option<DateTime<Utc>>,
    /// Why cancelling is refused (or, for an unpaid hold, that nothing is refunded).
    reason: Option<String>,
}

impl From<crate::events::policy::Quote> for RefundQuote {
    fn from(q: crate::events::policy::Quote) -> Self {
        RefundQuote {
            allowed: q.allowed,
            refund_cents: Cents(q.refund_cents),
            fee_cents: Cents(q.fee_cents),
            kept_cents: Cents(q.kept_cents),
            refund_percent: q.refund_percent,
            valid_until: q.valid_until,
            reason: q.reason,
        }
    }
}

/// Seats to hold.
#[derive(InputObject)]
pub struct ReserveInput {
    /// The ticket type to hold seats of.
    ticket_type_id: ID,
    /// Number of seats, 1 up to the configured maximum (10 by default).
    #[graphql(default = 1)]
    quantity: i32,
    /// Optional, 1–100 characters: sending the same key again returns the same reservation.
    idempotency_key: Option<String>,
    /// For a seated ticket type: exactly these seats, all or nothing (`SOLD_OUT` naming the
    /// taken ones); `quantity` is then their number.
    seat_ids: Option<Vec<ID>>,
    /// For a seated ticket type: `quantity` adjacent seats in one row, the front-most row that
    /// has them, nearest its centre; `SOLD_OUT` when no row has them.
    best_available: Option<bool>,
}

#[derive(Default)]
pub struct ReservationsQuery;

#[Object]
impl ReservationsQuery {
    /// The logged-in user's reservations, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn my_reservations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last reservation already seen.")] after: Option<String>,
    ) -> async_graphql::Result<ReservationConnection> {
        let viewer = ctx.require_viewer()?;
        let page =
            service::list_mine(ctx.state(), viewer, page_size(first)?, after.as_deref()).await?;
        Ok(page.map(Reservation).into())
    }

    /// What cancelling the reservation would refund now, and until when that figure holds.
    async fn refund_quote(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The reservation.")] reservation_id: ID,
    ) -> async_graphql::Result<RefundQuote> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&reservation_id, "reservationId")?;
        Ok(service::refund_quote(ctx.state(), viewer, id).await?.into())
    }

    /// The tickets the logged-in user holds (bought, or received by transfer), newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn my_tickets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last ticket already seen.")] after: Option<String>,
    ) -> async_graphql::Result<TicketConnection> {
        let viewer = ctx.require_viewer()?;
        let page =
            super::tickets::list_held(ctx.state(), viewer, page_size(first)?, after.as_deref())
                .await?;
        Ok(page.map(Ticket).into())
    }

    /// One reservation: for its owner, the event's organizer or an admin (`FORBIDDEN` for anyone
    /// else); null if it does not exist.
    async fn reservation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The reservation's id.")] id: ID,
    ) -> async_graphql::Result<Option<Reservation>> {
        let viewer = ctx.require_viewer()?;
        Ok(
            service::find_for_viewer(ctx.state(), viewer, parse_id(&id, "id")?)
                .await?
                .map(Reservation),
        )
    }
}

#[derive(Default)]
pub struct ReservationsMutation;

#[Object]
impl ReservationsMutation {
    /// Holds seats of a published event's ticket type until `expiresAt`. `SOLD_OUT` when not
    /// enough seats are left.
    async fn reserve(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to hold.")] input: ReserveInput,
    ) -> async_graphql::Result<Reservation> {
        let viewer = ctx.require_viewer()?;
        use crate::seating::service::SeatRequest;
        let (quantity, seats) = match (input.seat_ids, input.best_available.unwrap_or(false)) {
            (Some(_), true) => {
                return Err(AppError::bad_input("give seatIds or bestAvailable, not both").into());
            }
            (Some(ids), false) => {
                let ids = ids
                    .iter()
                    .map(|id| parse_id(id, "seatIds"))
                    .collect::<Result<Vec<_>, _>>()?;
                if ids.iter().collect::<std::collections::HashSet<_>>().len() != ids.len() {
                    return Err(AppError::bad_input("seatIds lists a seat twice").into());
                }
                (ids.len() as i32, Some(SeatRequest::Chosen(ids)))
            }
            (None, true) => (input.quantity, Some(SeatRequest::BestAvailable)),
            (None, false) => (input.quantity, None),
        };
        let request = NewReservation {
            ticket_type_id: parse_id(&input.ticket_type_id, "ticketTypeId")?,
            quantity,
            idempotency_key: input.idempotency_key,
            seats,
        };
        let result = service::reserve(ctx.state(), viewer, request).await;
        let outcome = result.as_ref().map_or_else(|e| e.code(), |_| "ok");
        ctx.state().metrics.reservations.inc(&[outcome]);
        Ok(Reservation(result?))
    }

    /// Cancels a reservation: a hold releases its seats at once; a paid reservation is refunded
    /// what the event's cancellation policy gives at this moment (see `refundQuote`; by default
    /// everything until the start), back the way it was paid, and its tickets are voided.
    /// `BAD_USER_INPUT` when the policy allows no cancellation any more.
    async fn cancel_reservation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The reservation to cancel.")] id: ID,
    ) -> async_graphql::Result<Reservation> {
        let viewer = ctx.require_viewer()?;
        Ok(Reservation(
            service::cancel(ctx.state(), viewer, &ctx.actor(), parse_id(&id, "id")?).await?,
        ))
    }

    /// Passes a ticket you hold to another user, before the event starts and before check-in,
    /// when the organizer allows it. The ticket gets a new code (the old one stops working);
    /// both of you are notified.
    async fn transfer_ticket(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket to pass on.")] ticket_id: ID,
        #[graphql(desc = "Who receives it.")] to_username: String,
    ) -> async_graphql::Result<Ticket> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&ticket_id, "ticketId")?;
        Ok(Ticket(
            super::tickets::transfer(ctx.state(), viewer, &ctx.actor(), id, &to_username).await?,
        ))
    }

    /// Sets the name printed on a ticket you hold (1–200 characters).
    async fn set_ticket_holder_name(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket.")] ticket_id: ID,
        #[graphql(desc = "The name to print.")] name: String,
    ) -> async_graphql::Result<Ticket> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&ticket_id, "ticketId")?;
        Ok(Ticket(
            super::tickets::set_holder_name(ctx.state(), viewer, &ctx.actor(), id, &name).await?,
        ))
    }
}
