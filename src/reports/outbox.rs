//! The report outbox: a report is stored in the same transaction as the money movement it
//! reports, and later given its position (the subscribers' cursor) by the sequencer.

use entity::report_sequence;
use entity::transaction;
use entity::transaction_report;
use entity::{event, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::summary::{Summary, summary_in};
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};

/// What a report says, as stored and as sent between instances.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveReport {
    pub position: i64,
    pub event_id: Uuid,
    pub organizer_id: Uuid,
    pub transaction: transaction::Model,
    pub buyer: Buyer,
    /// The event as it was at the moment of the transaction.
    pub event: event::Model,
    /// The event's summary at the moment of the transaction, computed once.
    pub summary: Summary,
}

/// The buyer's public fields (never the password hash or e-mail), captured once so that a
/// thousand subscribers do not look the buyer up a thousand times.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Buyer {
    pub id: Uuid,
    pub username: String,
    pub role: user::Role,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Buyer {
    /// A user model carrying only the public fields.
    pub fn as_user(&self) -> user::Model {
        user::Model {
            id: self.id,
            username: self.username.clone(),
            email: None,
            password_hash: String::new(),
            role: self.role,
            created_at: self.created_at,
            display_name: None,
            email_reminders: true,
            suspended_at: None,
            suspended_reason: None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    transaction: transaction::Model,
    buyer: Buyer,
    event: event::Model,
    summary: Summary,
}

/// Stores the report of `t` (a payment, failed payment or refund of an event) in the caller's
/// transaction, with the event's summary as that transaction sees it.
pub async fn record(db: &impl ConnectionTrait, t: &transaction::Model) -> AppResult<()> {
    let Some(event_id) = t.event_id else {
        return Ok(());
    };
    let event = event::Entity::find_by_id(event_id)
        .one(db)
        .await?
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "event {event_id} of a transaction is missing"
            ))
        })?;
    let buyer = user::Entity::find_by_id(t.user_id)
        .one(db)
        .await?
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "buyer {} of a transaction is missing",
                t.user_id
            ))
        })?;
    let buyer = Buyer {
        id: buyer.id,
        username: buyer.username,
        role: buyer.role,
        created_at: buyer.created_at,
    };
    let summary = summary_in(db, event_id).await?;
    let organizer_id = event.organizer_id;
    let payload = serde_json::to_string(&Payload {
        transaction: t.clone(),
        buyer,
        event,
        summary,
    })
    .map_err(AppError::internal)?;
    transaction_report::ActiveModel {
        id: Set(Uuid::now_v7()),
        position: Set(None),
        event_id: Set(event_id),
        organizer_id: Set(organizer_id),
        transaction_id: Set(t.id),
        payload: Set(payload),
        created_at: Set(now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

fn to_live(row: transaction_report::Model) -> AppResult<LiveReport> {
    let payload: Payload = serde_json::from_str(&row.payload).map_err(AppError::internal)?;
    Ok(LiveReport {
        position: row.position.unwrap_or_default(),
        event_id: row.event_id,
        organizer_id: row.organizer_id,
        transaction: payload.transaction,
        buyer: payload.buyer,
        event: payload.event,
        summary: payload.summary,
    })
}

/// Gives every unsequenced report its position, in one transaction that holds the sequence row's
/// lock: positions are assigned and committed strictly in order, so a reader that sees position
/// N also sees every position below it. Returns the newly sequenced reports, in order.
pub async fn sequence(db: &DatabaseConnection, batch: u64) -> AppResult<Vec<LiveReport>> {
    let txn = begin_write(db).await?;
    let counter = report_sequence::Entity::find_by_id(1)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("report_sequence row is missing")))?;
    let rows = transaction_report::Entity::find()
        .filter(transaction_report::Column::Position.is_null())
        .order_by_asc(transaction_report::Column::Id)
        .limit(batch)
        .all(&txn)
        .await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let mut position = counter.last_position;
    let mut sequenced = Vec::with_capacity(rows.len());
    for mut row in rows {
        position += 1;
        transaction_report::Entity::update_many()
            .col_expr(transaction_report::Column::Position, Expr::value(position))
            .filter(transaction_report::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        row.position = Some(position);
        sequenced.push(row);
    }
    report_sequence::Entity::update_many()
        .col_expr(report_sequence::Column::LastPosition, Expr::value(position))
        .filter(report_sequence::Column::Id.eq(1))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    sequenced.into_iter().map(to_live).collect()
}

/// Whose reports a subscriber wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Event(Uuid),
    Organizer(Uuid),
}

impl Scope {
    pub fn matches(&self, r: &LiveReport) -> bool {
        match self {
            Scope::Event(id) => r.event_id == *id,
            Scope::Organizer(id) => r.organizer_id == *id,
        }
    }
}

/// Stored reports after `position`, in order (all scopes when `scope` is None).
pub async fn after(
    db: &impl ConnectionTrait,
    scope: Option<Scope>,
    position: i64,
    limit: u64,
) -> AppResult<Vec<LiveReport>> {
    let mut query = transaction_report::Entity::find()
        .filter(transaction_report::Column::Position.gt(position))
        .order_by_asc(transaction_report::Column::Position)
        .limit(limit);
    query = match scope {
        Some(Scope::Event(id)) => query.filter(transaction_report::Column::EventId.eq(id)),
        Some(Scope::Organizer(id)) => query.filter(transaction_report::Column::OrganizerId.eq(id)),
        None => query,
    };
    query.all(db).await?.into_iter().map(to_live).collect()
}

/// The highest position assigned so far.
pub async fn last_position(db: &impl ConnectionTrait) -> AppResult<i64> {
    Ok(report_sequence::Entity::find_by_id(1)
        .one(db)
        .await?
        .map_or(0, |c| c.last_position))
}
