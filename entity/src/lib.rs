//! SeaORM entities for Evenntify: table shapes only, no GraphQL and no business rules.

pub mod app_setting;
pub mod event;
pub mod refresh_token;
pub mod session;
pub mod ticket_type;
pub mod user;
