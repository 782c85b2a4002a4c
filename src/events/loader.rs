//! Batch-loads the ticket types of many events in one query.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::ticket_type;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::error::AppError;

/// Key: an event id. Value: its ticket types in the organizer's order.
pub struct TicketTypesLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for TicketTypesLoader {
    type Value = Vec<ticket_type::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = ticket_type::Entity::find()
            .filter(ticket_type::Column::EventId.is_in(keys.iter().copied()))
            .order_by_asc(ticket_type::Column::EventId)
            .order_by_asc(ticket_type::Column::Position)
            .all(&self.db)
            .await
            .map_err(AppError::from)?;
        let mut by_event: HashMap<Uuid, Vec<ticket_type::Model>> = HashMap::new();
        for row in rows {
            by_event.entry(row.event_id).or_default().push(row);
        }
        // Every event has ticket types, but answer for each key so a miss is never "not loaded".
        for key in keys {
            by_event.entry(*key).or_default();
        }
        Ok(by_event)
    }
}
