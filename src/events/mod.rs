//! Events and their ticket types: creation, lifecycle, visibility, search, paging, live seats.

pub mod discovery;
pub mod drafts;
pub mod feedback;
pub mod graphql;
pub mod input;
pub mod live;
pub mod loader;
pub mod ordering;
pub mod policy;
pub mod schedule;
pub mod service;
pub mod sessions;
pub mod ticket_types;
