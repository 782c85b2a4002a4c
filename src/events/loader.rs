//! Batch-loads the ticket types, sessions and rows of many events in one query each.

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

/// Key: an event id. Value: the event (whatever its status: callers decide visibility).
pub struct EventLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for EventLoader {
    type Value = entity::event::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = entity::event::Entity::find()
            .filter(entity::event::Column::Id.is_in(keys.iter().copied()))
            .all(&self.db)
            .await
            .map_err(AppError::from)?;
        Ok(rows.into_iter().map(|e| (e.id, e)).collect())
    }
}

/// Key: a ticket type id. Value: the ticket type.
pub struct TicketTypeLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for TicketTypeLoader {
    type Value = ticket_type::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = ticket_type::Entity::find()
            .filter(ticket_type::Column::Id.is_in(keys.iter().copied()))
            .all(&self.db)
            .await
            .map_err(AppError::from)?;
        Ok(rows.into_iter().map(|t| (t.id, t)).collect())
    }
}

/// Key: an event id. Value: its sessions, soonest first.
pub struct SessionsLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for SessionsLoader {
    type Value = Vec<entity::event_session::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        use entity::event_session::{Column, Entity};
        let rows = Entity::find()
            .filter(Column::EventId.is_in(keys.iter().copied()))
            .order_by_asc(Column::EventId)
            .order_by_asc(Column::StartsAt)
            .order_by_asc(Column::Id)
            .all(&self.db)
            .await
            .map_err(AppError::from)?;
        let mut by_event: HashMap<Uuid, Self::Value> = HashMap::new();
        for row in rows {
            by_event.entry(row.event_id).or_default().push(row);
        }
        for key in keys {
            by_event.entry(*key).or_default();
        }
        Ok(by_event)
    }
}
