//! The e-mail outbox. A message is a row written in the same database transaction as the change
//! that causes it, so a rolled-back payment sends nothing and a committed one cannot lose its
//! message. The delivery worker (`delivery.rs`) claims due rows under a lease — `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, the IMMEDIATE write transaction on SQLite — so several instances share
//! the outbox without sending a message twice.

use chrono::{DateTime, Utc};
use entity::mail_outbox::{self, MailStatus};
use entity::user;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::db::now;
use crate::error::AppResult;

/// One message to write: which template, for whom, with what context.
#[derive(Debug, Clone)]
pub struct Mail {
    /// A template name under `templates/mail/` (see `templates::NAMES`).
    pub template: &'static str,
    /// What the template reads; taken now, inside the caller's transaction.
    pub context: serde_json::Value,
    /// Set for a message that must exist at most once ever (unique in the table).
    pub dedupe_key: Option<String>,
}

impl Mail {
    pub fn new(template: &'static str, context: serde_json::Value) -> Self {
        Mail {
            template,
            context,
            dedupe_key: None,
        }
    }
}

/// Queues `mail` for `user_id` in the caller's transaction, if the user has an e-mail address
/// (users without one get in-app notifications only). Returns the message's id, or `None` when
/// nothing was queued (no address, or a message with the same `dedupe_key` exists).
///
/// This is the one call other domains make: `enqueue(&txn, user, Mail::new("name", json!({…})))`.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    mut mail: Mail,
) -> AppResult<Option<Uuid>> {
    let Some(user) = user::Entity::find_by_id(user_id).one(db).await? else {
        return Ok(None);
    };
    let Some(address) = user.email.as_deref() else {
        return Ok(None);
    };
    // How the message greets them.
    if let Some(map) = mail.context.as_object_mut() {
        let name = user.display_name.as_deref().unwrap_or(&user.username);
        map.entry("name").or_insert_with(|| name.into());
    }
    enqueue_to(db, Some(user_id), address, mail).await
}

/// Queues `mail` to an explicit address (the caller checked it).
pub async fn enqueue_to(
    db: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    address: &str,
    mail: Mail,
) -> AppResult<Option<Uuid>> {
    let id = Uuid::now_v7();
    let at = now();
    let row = mail_outbox::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        recipient: Set(address.to_string()),
        template: Set(mail.template.to_string()),
        context: Set(mail.context.to_string()),
        dedupe_key: Set(mail.dedupe_key.clone()),
        status: Set(MailStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(at),
        claimed_until: Set(None),
        claim_token: Set(None),
        last_error: Set(None),
        created_at: Set(at),
        sent_at: Set(None),
    };
    if let Some(key) = &mail.dedupe_key {
        // A check rather than catching the unique violation: on PostgreSQL a failed INSERT
        // would abort the caller's whole transaction. The unique index still decides races.
        let exists = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::DedupeKey.eq(key.as_str()))
            .one(db)
            .await?
            .is_some();
        if exists {
            return Ok(None);
        }
    }
    row.insert(db).await?;
    Ok(Some(id))
}

/// Claims up to `limit` due messages for `lease`: no other worker touches them until it lapses.
/// Each claim counts as an attempt.
pub async fn claim(
    db: &DatabaseConnection,
    limit: u64,
    lease: chrono::Duration,
) -> AppResult<Vec<mail_outbox::Model>> {
    let at = now();
    let token = Uuid::now_v7();
    let txn = crate::db::begin_write(db).await?;
    let due: Vec<Uuid> = mail_outbox::Entity::find()
        .select_only()
        .column(mail_outbox::Column::Id)
        .filter(mail_outbox::Column::Status.eq(MailStatus::Pending))
        .filter(mail_outbox::Column::NextAttemptAt.lte(at))
        .filter(
            mail_outbox::Column::ClaimedUntil
                .is_null()
                .or(mail_outbox::Column::ClaimedUntil.lt(at)),
        )
        .order_by_asc(mail_outbox::Column::NextAttemptAt)
        .limit(limit)
        // PostgreSQL: rows another instance is claiming are skipped, not waited for. SQLite
        // has no row locks; its IMMEDIATE transaction already serializes claimers.
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(&txn)
        .await?;
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::ClaimedUntil, Expr::value(at + lease))
        .col_expr(mail_outbox::Column::ClaimToken, Expr::value(token))
        .col_expr(
            mail_outbox::Column::Attempts,
            Expr::col(mail_outbox::Column::Attempts).add(1),
        )
        .filter(mail_outbox::Column::Id.is_in(due))
        .exec(&txn)
        .await?;
    let claimed = mail_outbox::Entity::find()
        .filter(mail_outbox::Column::ClaimToken.eq(token))
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(claimed)
}

/// What became of one delivery attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent,
    /// Try again at the given time.
    Retry(DateTime<Utc>, String),
    /// Never try again.
    Failed(String),
}

/// Records the outcome of a claimed message; a no-op if the claim was lost (the lease lapsed
/// and another worker took the row over).
pub async fn settle(
    db: &impl ConnectionTrait,
    m: &mail_outbox::Model,
    outcome: Outcome,
) -> AppResult<bool> {
    let Some(token) = m.claim_token else {
        return Ok(false);
    };
    let mut update = mail_outbox::Entity::update_many()
        .col_expr(
            mail_outbox::Column::ClaimedUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(mail_outbox::Column::ClaimToken, Expr::value(None::<Uuid>));
    update = match outcome {
        Outcome::Sent => update
            .col_expr(mail_outbox::Column::Status, Expr::value(MailStatus::Sent))
            .col_expr(mail_outbox::Column::SentAt, Expr::value(now()))
            .col_expr(mail_outbox::Column::LastError, Expr::value(None::<String>)),
        Outcome::Retry(at, reason) => update
            .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(at))
            .col_expr(mail_outbox::Column::LastError, Expr::value(clip(reason))),
        Outcome::Failed(reason) => update
            .col_expr(mail_outbox::Column::Status, Expr::value(MailStatus::Failed))
            .col_expr(mail_outbox::Column::LastError, Expr::value(clip(reason))),
    };
    let done = update
        .filter(mail_outbox::Column::Id.eq(m.id))
        .filter(mail_outbox::Column::ClaimToken.eq(token))
        .exec(db)
        .await?
        .rows_affected
        == 1;
    Ok(done)
}

fn clip(reason: String) -> String {
    reason.chars().take(1_000).collect()
}
