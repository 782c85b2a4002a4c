//! Analytics for organizers (their own events) and admins (all): money, tickets, cancellations,
//! occupancy, check-ins and ratings over a time window, sales per time bucket, per ticket type
//! and per event. Every figure is one SQL aggregate; nothing loops over sales in Rust.

pub mod graphql;
pub mod service;
