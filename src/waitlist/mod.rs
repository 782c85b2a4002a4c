//! Waitlists: people queueing for seats of a sold-out ticket type, and returned seats offered to
//! them first come first served before the public can take them.

pub mod graphql;
pub mod offers;
pub mod service;
