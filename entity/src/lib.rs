//! SeaORM entities for Evenntify: table shapes only, no GraphQL and no business rules.

pub mod app_setting;
pub mod card_charge;
pub mod card_charge_refund;
pub mod card_refund;
pub mod event;
pub mod event_category;
pub mod event_seat;
pub mod feedback;
pub mod ledger_entry;
pub mod notification;
pub mod refresh_token;
pub mod report_sequence;
pub mod reservation;
pub mod reservation_seat;
pub mod session;
pub mod ticket;
pub mod ticket_transfer;
pub mod ticket_type;
pub mod transaction;
pub mod transaction_report;
pub mod user;
pub mod venue;
pub mod waitlist_entry;
pub mod wallet;
