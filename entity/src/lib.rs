//! SeaORM entities for Evenntify: table shapes only, no GraphQL and no business rules.

pub mod app_setting;
pub mod audit_entry;
pub mod card_charge;
pub mod event;
pub mod event_seat;
pub mod ledger_entry;
pub mod mail_outbox;
pub mod notification;
pub mod password_reset;
pub mod refresh_token;
pub mod report_sequence;
pub mod reservation;
pub mod reservation_seat;
pub mod session;
pub mod ticket;
pub mod ticket_type;
pub mod transaction;
pub mod transaction_report;
pub mod user;
pub mod venue;
pub mod wallet;
