//! The audit log: who did what, to what, from where — appended in the same transaction as the
//! change, never updated or deleted by the application.

pub mod graphql;
pub mod service;

/// Who is acting and from where, as the audit log records it. Built by the GraphQL layer from
/// the request (viewer, request id, client address) and handed down to services.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<uuid::Uuid>,
    pub request_id: Option<String>,
    pub client_address: Option<String>,
}
