//! What a new ticket type is made of: used by the events service (which creates it) and the
//! seating service (which plans its seats), so it sits below both.

pub struct NewTicketType {
    pub name: String,
    pub price_cents: i64,
    /// Required for general admission; for a seated type, the number of seats in `sections`.
    pub capacity: Option<i32>,
    /// The venue sections whose seats this type sells (seated events only).
    pub sections: Option<Vec<String>>,
}
