//! Notifications for users about their reservations and money: stored, then pushed live.

pub mod graphql;
pub mod live;
pub mod service;
