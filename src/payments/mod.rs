//! Money: wallets and their ledger, the card gateway, and paying for reservations.

pub mod adjust;
mod attempt;
mod card;
pub mod gateway;
pub mod graphql;
pub mod ledger;
pub mod orphans;
pub mod refunds;
pub mod service;
pub mod top_up;
mod wallet;
