//! Events and their ticket types: creation, lifecycle, visibility, search and paging.

pub mod graphql;
pub mod loader;
pub mod service;
