//! GraphQL face of managing events after creation: `updateTicketType`, `removeTicketType`
//! (rules in `events::ticket_types`), `deleteEvent` and `cloneEvent` (rules in `events::drafts`).

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use super::Event;
use super::ticket_types::{TicketType, parse_id};
use crate::events::ticket_types::{self as service, TicketTypeChanges};
use crate::graphql::context::ContextExt;
use crate::graphql::scalars::Cents;

/// Changes to a ticket type; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateTicketTypeInput {
    /// New name, 1–100 characters, unique within the event.
    name: Option<String>,
    /// New price of one ticket in minor units, 0 or more; holds already made keep their amount.
    price_cents: Option<Cents>,
    /// New number of seats, 1 to 1,000,000 and never below what is sold and held (`CONFLICT`);
    /// seats a raise adds go to the waitlist first. Not for numbered seats.
    capacity: Option<i32>,
}

#[derive(Default)]
pub struct TicketTypesMutation;

#[Object]
impl TicketTypesMutation {
    /// Changes a ticket type's name, price or capacity. The event's organizer or an admin; not
    /// once the event is cancelled.
    async fn update_ticket_type(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket type to change.")] id: ID,
        #[graphql(desc = "The fields to change.")] input: UpdateTicketTypeInput,
    ) -> async_graphql::Result<TicketType> {
        let viewer = ctx.require_viewer()?;
        let changes = TicketTypeChanges {
            name: input.name,
            price_cents: input.price_cents.map(|c| c.0),
            capacity: input.capacity,
        };
        let id = parse_id(&id, "id")?;
        Ok(TicketType(
            service::update(ctx.state(), viewer, &ctx.actor(), id, changes).await?,
        ))
    }

    /// Removes a ticket type nobody ever reserved (`CONFLICT` otherwise, or when it is the
    /// event's last one). The event's organizer or an admin.
    async fn remove_ticket_type(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket type to remove.")] id: ID,
    ) -> async_graphql::Result<bool> {
        let viewer = ctx.require_viewer()?;
        Ok(service::remove(ctx.state(), viewer, &ctx.actor(), parse_id(&id, "id")?).await?)
    }

    /// Deletes a DRAFT event that never sold anything. `CONFLICT` otherwise: cancel it instead.
    /// The event's organizer or an admin.
    async fn delete_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The draft to delete.")] id: ID,
    ) -> async_graphql::Result<bool> {
        let viewer = ctx.require_viewer()?;
        Ok(
            crate::events::drafts::delete(ctx.state(), viewer, &ctx.actor(), parse_id(&id, "id")?)
                .await?,
        )
    }

    /// Copies an event into a new DRAFT owned by the caller, starting at `startsAt` (the end
    /// moves with it): details, cancellation policy, ticket types at full capacity and the seat
    /// map, and nothing of its sales. The event's organizer or an admin.
    async fn clone_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event to copy.")] id: ID,
        #[graphql(desc = "When the copy starts; in the future.")] starts_at: DateTime<Utc>,
    ) -> async_graphql::Result<Event> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&id, "id")?;
        Ok(Event(
            crate::events::drafts::clone_event(ctx.state(), viewer, &ctx.actor(), id, starts_at)
                .await?,
        ))
    }
}
