//! Looking behind the API's back: rows straight from a test server's database.

use entity::{reservation, ticket, ticket_type, transaction};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::api::uuid;
use super::app::TestApp;

/// A ticket type's free seats.
pub async fn available(app: &TestApp, ticket_type: &str) -> i32 {
    ticket_type::Entity::find_by_id(uuid(ticket_type))
        .one(&app.state.db)
        .await
        .unwrap()
        .expect("ticket type row")
        .available
}

pub async fn reservation_row(app: &TestApp, id: &str) -> reservation::Model {
    reservation::Entity::find_by_id(uuid(id))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no reservation row {id}"))
}

pub async fn reservations_of_event(app: &TestApp, event: &str) -> Vec<reservation::Model> {
    reservation::Entity::find()
        .filter(reservation::Column::EventId.eq(uuid(event)))
        .all(&app.state.db)
        .await
        .unwrap()
}

pub async fn tickets_of_event(app: &TestApp, event: &str) -> Vec<ticket::Model> {
    ticket::Entity::find()
        .filter(ticket::Column::EventId.eq(uuid(event)))
        .all(&app.state.db)
        .await
        .unwrap()
}

pub async fn tickets_of_reservation(app: &TestApp, reservation_id: &str) -> Vec<ticket::Model> {
    ticket::Entity::find()
        .filter(ticket::Column::ReservationId.eq(uuid(reservation_id)))
        .all(&app.state.db)
        .await
        .unwrap()
}

pub async fn transactions_of_reservation(app: &TestApp, id: &str) -> Vec<transaction::Model> {
    transaction::Entity::find()
        .filter(transaction::Column::ReservationId.eq(uuid(id)))
        .all(&app.state.db)
        .await
        .unwrap()
}
