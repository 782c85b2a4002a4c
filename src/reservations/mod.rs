//! Reservations: seat holds with an expiry, their release, and the background sweeper.

pub mod batch;
pub mod expiry;
pub mod graphql;
pub mod issue;
pub mod loader;
pub mod rules;
pub mod service;
pub mod tickets;
