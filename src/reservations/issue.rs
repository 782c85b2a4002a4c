//! Issuing a confirmed reservation's tickets: one per seat (a seated reservation's held seats
//! become SOLD), each with its own code. Shared by the payment's confirm step and the free
//! (RSVP) confirm in `reserve`, so it sits below both `reservations::service` and `payments`
//! and imports neither.

use chrono::{DateTime, Utc};
use entity::reservation;
use entity::ticket::{self, TicketStatus};
use rand::Rng;
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use uuid::Uuid;

use crate::error::AppResult;

/// Inserts the reservation's tickets (and sells its held seats), in the caller's transaction.
pub async fn issue_tickets(
    db: &impl ConnectionTrait,
    r: &reservation::Model,
    at: DateTime<Utc>,
) -> AppResult<()> {
    // A seated reservation's seats become SOLD, one ticket each; general admission has none.
    let seats = crate::seating::service::sell(db, r).await?;
    let seat_ids: Vec<Option<Uuid>> = if seats.is_empty() {
        vec![None; r.quantity as usize]
    } else {
        seats.into_iter().map(Some).collect()
    };
    let tickets = seat_ids.into_iter().map(|seat_id| ticket::ActiveModel {
        id: Set(Uuid::now_v7()),
        reservation_id: Set(r.id),
        event_id: Set(r.event_id),
        ticket_type_id: Set(r.ticket_type_id),
        user_id: Set(r.user_id),
        code: Set(ticket_code()),
        status: Set(TicketStatus::Valid),
        created_at: Set(at),
        seat_id: Set(seat_id),
        holder_name: Set(None),
        // The holder's code is signed from the id, event and this version
        // (`tickets::service::code_of`); `code` stays a random internal reference.
        code_version: Set(1),
        checked_in_at: Set(None),
        checked_in_by: Set(None),
    });
    ticket::Entity::insert_many(tickets).exec(db).await?;
    Ok(())
}

/// 12 characters from a 32-letter alphabet without look-alikes (0/O, 1/I): 60 random bits.
pub fn ticket_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticket_codes_are_long_distinct_and_unambiguous() {
        let codes: std::collections::HashSet<String> =
            (0..1000).map(|_| super::ticket_code()).collect();
        assert_eq!(codes.len(), 1000);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 12 && !c.contains(['0', 'O', '1', 'I']))
        );
    }
}
