//! The GraphQL `TicketType` (its struct; the fields are in `mod.rs`), and `parse_id`: below
//! `Event` (in `mod.rs`) and the seat map's types, which both show ticket types.

use async_graphql::ID;
use entity::ticket_type;

use crate::error::AppError;

/// Parses a GraphQL `ID` that must be a UUID.
pub fn parse_id(id: &ID, what: &str) -> Result<uuid::Uuid, AppError> {
    id.parse()
        .map_err(|_| AppError::bad_input(format!("{what} `{}` is not a valid id", id.as_str())))
}

/// A kind of ticket; its GraphQL fields are resolved in `mod.rs`, beside `EventSession`
/// (which `TicketType.session` returns and which returns `Event`), so the files do not import
/// each other in a circle.
pub struct TicketType(pub ticket_type::Model);
