//! One line of the audit log: who did what, to what, from where. Never updated or deleted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub at: DateTimeUtc,
    /// None for an anonymous actor (a failed login, a reset request).
    pub actor_id: Option<Uuid>,
    /// Dotted lower-case: `event.publish`, `wallet.adjust`, `auth.login_failed`…
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    /// The event it concerns, when it concerns one (organizers see their events' entries).
    pub event_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub client_address: Option<String>,
    /// A small JSON object.
    pub detail: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
