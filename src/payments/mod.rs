//! Money: wallets and their ledger, the card gateway, and paying for reservations.

pub mod gateway;
pub mod graphql;
pub mod ledger;
pub mod service;
