//! The GraphQL API: schema assembly, per-request context, HTTP transport, shared types.

pub mod apq;
pub mod context;
pub mod extensions;
pub mod http;
pub mod input;
pub mod pagination;
pub mod scalars;
pub mod schema;
pub mod ws;
