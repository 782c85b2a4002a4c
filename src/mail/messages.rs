//! Which e-mail a notification brings, and its context: read inside the notification's own
//! transaction, so the message shows the state that was committed with it (the tickets just
//! issued, the refund just recorded).

use entity::event::{self, EventStatus};
use entity::notification::{self, NotificationKind};
use entity::reservation;
use entity::ticket;
use entity::transaction::{self, TransactionKind, TransactionStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use super::outbox::Mail;
use crate::error::AppResult;

/// The e-mail that goes with `n`, if its kind has one.
pub async fn for_notification(
    db: &impl ConnectionTrait,
    n: &notification::Model,
) -> AppResult<Option<Mail>> {
    let template = match n.kind {
        NotificationKind::ReservationConfirmed => "booking_confirmation",
        NotificationKind::PaymentFailed => "payment_failed",
        NotificationKind::HoldExpiring => "hold_expiring",
        NotificationKind::RefundIssued => "cancellation",
        NotificationKind::WaitlistOffer => "waitlist_offer",
        NotificationKind::TicketTransferred => "ticket_transferred",
        // The hold simply lapsed; the in-app notification is enough.
        NotificationKind::HoldExpired => return Ok(None),
    };
    let event = match n.event_id {
        Some(id) => event::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let reservation = match n.reservation_id {
        Some(id) => reservation::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let mut context = json!({
        "message": n.message,
        "event": event.as_ref().map(event_context),
        "reservation": reservation.as_ref().map(|r| json!({
            "id": r.id,
            "quantity": r.quantity,
            "amount_cents": r.amount_cents,
            "expires_at": when(r.expires_at),
        })),
    });
    let mut template = template;
    match n.kind {
        NotificationKind::ReservationConfirmed => {
            if let Some(r) = &reservation {
                let tickets = ticket::Entity::find()
                    .filter(ticket::Column::ReservationId.eq(r.id))
                    .order_by_asc(ticket::Column::Code)
                    .all(db)
                    .await?;
                // The signed codes are shown in the app (`myTickets`) and on the PDF tickets;
                // the message names each ticket.
                context["tickets"] = tickets
                    .iter()
                    .map(|t| json!({ "id": t.id }))
                    .collect::<Vec<_>>()
                    .into();
            }
        }
        NotificationKind::RefundIssued => {
            if let Some(r) = &reservation {
                // The refund as recorded (a refund policy may keep part of the price).
                let refund = transaction::Entity::find()
                    .filter(transaction::Column::ReservationId.eq(r.id))
                    .filter(transaction::Column::Kind.eq(TransactionKind::Refund))
                    .filter(transaction::Column::Status.eq(TransactionStatus::Succeeded))
                    .order_by_desc(transaction::Column::CreatedAt)
                    .one(db)
                    .await?;
                context["refund_to_card"] = refund
                    .as_ref()
                    .is_some_and(|t| t.method == Some(entity::transaction::PaymentMethod::Card))
                    .into();
                context["refund_cents"] = refund
                    .map(|t| t.amount_cents)
                    .unwrap_or(r.amount_cents)
                    .into();
            }
            if event
                .as_ref()
                .is_some_and(|e| e.status == EventStatus::Cancelled)
            {
                template = "event_cancelled";
            }
        }
        _ => {}
    }
    Ok(Some(Mail::new(template, context)))
}

fn event_context(e: &event::Model) -> Value {
    json!({
        "id": e.id,
        "title": e.title,
        "venue": e.venue,
        "starts_at": when(e.starts_at),
    })
}

/// A time as people read it in a message (always UTC: the server does not know the reader's zone).
pub fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%a %-d %b %Y, %H:%M UTC").to_string()
}
