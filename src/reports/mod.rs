//! Event reports: the summary of an event's sales and its transaction list, for its organizer.

pub mod graphql;
pub mod live;
pub mod outbox;
pub mod service;
pub mod summary;
