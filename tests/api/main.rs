//! The API tests, one binary: each module is a domain, all of them share `helpers`.
//!
//! Every test starts a real server on port 0 with a database of its own (SQLite by default;
//! PostgreSQL and Redis when `TEST_DATABASE_URL` / `TEST_REDIS_URL` are set) and talks to it as
//! clients do. `TEST_LOG=1` shows the servers' logs. Tests that need a service this run may not
//! have are `#[ignore = "needs …"]`; `.ci/run` runs them where the services are.

mod helpers;

mod accounts;
mod admin;
mod after_sale;
mod analytics;
mod audit;
mod catalog;
mod discovery;
mod drafts;
mod events;
mod feedback;
mod guardrails;
mod hardening;
mod http;
mod mail;
mod newcomer;
mod payments;
mod profile;
mod race;
mod reservations;
mod reset;
mod resilience;
mod rsvp;
mod schema;
mod seating;
mod seed;
mod subscriptions;
mod tickets;
mod topups;
