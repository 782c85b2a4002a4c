//! Batch-loads the tickets of many reservations in one query.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::ticket;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::error::AppError;

/// Key: a reservation id. Value: its tickets.
pub struct TicketsLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for TicketsLoader {
    type Value = Vec<ticket::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = ticket::Entity::find()
            .filter(ticket::Column::ReservationId.is_in(keys.iter().copied()))
            .order_by_asc(ticket::Column::Id)
            .all(&self.db)
            .await
            .map_err(AppError::from)?;
        let mut by_reservation: HashMap<Uuid, Vec<ticket::Model>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            by_reservation
                .entry(row.reservation_id)
                .or_default()
                .push(row);
        }
        Ok(by_reservation)
    }
}
