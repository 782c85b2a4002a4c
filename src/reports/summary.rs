//! An event's summary (seats sold, held and available; revenue and refunds), computed from the
//! database in one consistent snapshot. It needs only a connection, so the payment that writes a
//! report (through the outbox) and the report resolvers share it without importing each other.

use entity::reservation::{self, ReservationStatus};
use entity::ticket::{self, TicketStatus};
use entity::ticket_type;
use entity::transaction::{self, TransactionKind, TransactionStatus};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IsolationLevel,
    PaginatorTrait, QueryFilter, QuerySelect, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use crate::error::AppResult;

/// An event's numbers at one moment. `sold + held + available = capacity` always holds, because
/// all of it is read in one snapshot.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub sold: i64,
    pub held: i64,
    pub available: i64,
    pub capacity: i64,
    /// Succeeded payments minus refunds.
    pub revenue_cents: i64,
    pub refunded_cents: i64,
    /// Paid for reservations that were cancelled, minus what was refunded: the fees and shares
    /// kept under the cancellation policy. (Absent from reports stored before it existed.)
    #[serde(default)]
    pub kept_cents: i64,
    pub failed_payments: i64,
    /// Valid tickets admitted at the door. Reports stored before check-in existed read as 0.
    #[serde(default)]
    pub checked_in: i64,
}

impl Summary {
    /// Share of seats sold, 0.0 to 1.0.
    pub fn occupancy(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            self.sold as f64 / self.capacity as f64
        }
    }
}

/// Reads the summary in a read-only snapshot (REPEATABLE READ on PostgreSQL; a SQLite read
/// transaction is a snapshot already).
pub async fn summary(db: &sea_orm::DatabaseConnection, event_id: Uuid) -> AppResult<Summary> {
    let txn = match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_options(TransactionOptions {
                isolation_level: Some(IsolationLevel::RepeatableRead),
                access_mode: Some(AccessMode::ReadOnly),
                ..Default::default()
            })
            .await?
        }
        _ => db.begin().await?,
    };
    let s = summary_in(&txn, event_id).await?;
    txn.commit().await?;
    Ok(s)
}

/// The summary as seen by an open transaction (so a payment can compute it before committing).
pub async fn summary_in(db: &impl ConnectionTrait, event_id: Uuid) -> AppResult<Summary> {
    let mut s = Summary::default();

    let seats: Vec<(ReservationStatus, Option<i64>)> = reservation::Entity::find()
        .select_only()
        .column(reservation::Column::Status)
        .column_as(Expr::cust("CAST(SUM(quantity) AS BIGINT)"), "seats")
        .filter(reservation::Column::EventId.eq(event_id))
        .filter(
            reservation::Column::Status
                .is_in([ReservationStatus::Pending, ReservationStatus::Confirmed]),
        )
        .group_by(reservation::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    for (status, n) in seats {
        match status {
            ReservationStatus::Pending => s.held = n.unwrap_or(0),
            ReservationStatus::Confirmed => s.sold = n.unwrap_or(0),
            _ => {}
        }
    }

    let (available, capacity): (Option<i64>, Option<i64>) = ticket_type::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(SUM(available) AS BIGINT)"), "available")
        .column_as(Expr::cust("CAST(SUM(capacity) AS BIGINT)"), "capacity")
        .filter(ticket_type::Column::EventId.eq(event_id))
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or_default();
    s.available = available.unwrap_or(0);
    s.capacity = capacity.unwrap_or(0);

    let money: Vec<(TransactionKind, TransactionStatus, Option<i64>, i64)> =
        transaction::Entity::find()
            .select_only()
            .column(transaction::Column::Kind)
            .column(transaction::Column::Status)
            .column_as(Expr::cust("CAST(SUM(amount_cents) AS BIGINT)"), "amount")
            .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "n")
            .filter(transaction::Column::EventId.eq(event_id))
            .group_by(transaction::Column::Kind)
            .group_by(transaction::Column::Status)
            .into_tuple()
            .all(db)
            .await?;
    let mut paid = 0;
    for (kind, status, amount, n) in money {
        match (kind, status) {
            (TransactionKind::Payment, TransactionStatus::Succeeded) => paid = amount.unwrap_or(0),
            (TransactionKind::Payment, TransactionStatus::Failed) => s.failed_payments = n,
            (TransactionKind::Refund, TransactionStatus::Succeeded) => {
                s.refunded_cents = amount.unwrap_or(0)
            }
            _ => {}
        }
    }
    s.revenue_cents = paid - s.refunded_cents;

    // Refunds only follow cancellations, so what cancelled reservations paid minus every refund
    // is what the policy kept.
    let cancelled = Query::select()
        .column(reservation::Column::Id)
        .from(reservation::Entity)
        .and_where(reservation::Column::EventId.eq(event_id))
        .and_where(reservation::Column::Status.eq(ReservationStatus::Cancelled))
        .to_owned();
    let cancelled_paid: Option<i64> = transaction::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(SUM(amount_cents) AS BIGINT)"), "paid")
        .filter(transaction::Column::EventId.eq(event_id))
        .filter(transaction::Column::Kind.eq(TransactionKind::Payment))
        .filter(transaction::Column::Status.eq(TransactionStatus::Succeeded))
        .filter(transaction::Column::ReservationId.in_subquery(cancelled))
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    s.kept_cents = (cancelled_paid.unwrap_or(0) - s.refunded_cents).max(0);
    s.checked_in = ticket::Entity::find()
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        .filter(ticket::Column::CheckedInAt.is_not_null())
        .count(db)
        .await? as i64;
    Ok(s)
}
