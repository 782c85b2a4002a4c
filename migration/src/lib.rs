//! Database migrations for Evenntify: one set that runs on PostgreSQL and SQLite.
//!
//! Migrations define their own identifiers and never import the `entity` crate, so an old
//! migration keeps meaning what it meant when it shipped. Never edit a migration that has
//! shipped; add a new one.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_accounts;
mod m20261121_000002_create_events;
mod m20261121_000003_create_reservations_and_payments;
mod m20261121_000004_create_live_reports_and_notifications;
mod m20261201_000005_session_addresses;
mod m20261201_000006_create_seating;
mod m20261201_000007_after_the_sale;
mod m20261201_000008_tickets_and_entry;
mod m20261201_000009_accounts_mail_audit;
mod m20261201_000010_events_discovery_feedback;
mod m20261201_000013_search_and_analytics;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_accounts::Migration),
            Box::new(m20261121_000002_create_events::Migration),
            Box::new(m20261121_000003_create_reservations_and_payments::Migration),
            Box::new(m20261121_000004_create_live_reports_and_notifications::Migration),
            Box::new(m20261201_000005_session_addresses::Migration),
            Box::new(m20261201_000006_create_seating::Migration),
            Box::new(m20261201_000007_after_the_sale::Migration),
            Box::new(m20261201_000008_tickets_and_entry::Migration),
            Box::new(m20261201_000009_accounts_mail_audit::Migration),
            Box::new(m20261201_000010_events_discovery_feedback::Migration),
            Box::new(m20261201_000013_search_and_analytics::Migration),
        ]
    }
}
