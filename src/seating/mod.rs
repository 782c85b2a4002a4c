//! Seated events (issue 12): venues with sections and rows, each event's own copy of the seats,
//! seat-level holds (chosen seats or best available), blocking, and the live seat map.

pub mod graphql;
pub mod layout;
pub mod service;
