//! The GraphQL `TicketType`, and `parse_id`: below `Event` (in `mod.rs`) and the seat map's
//! types, which both show ticket types.

use async_graphql::{ID, Object};
use entity::ticket_type;

use crate::error::AppError;
use crate::graphql::scalars::Cents;

/// Parses a GraphQL `ID` that must be a UUID.
pub fn parse_id(id: &ID, what: &str) -> Result<uuid::Uuid, AppError> {
    id.parse()
        .map_err(|_| AppError::bad_input(format!("{what} `{}` is not a valid id", id.as_str())))
}

pub struct TicketType(pub ticket_type::Model);

/// A kind of ticket for an event, with its own price and seats.
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
}
