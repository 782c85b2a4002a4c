//! The hold sweeper: every `SWEEP_INTERVAL_SECONDS` it marks expired PENDING reservations
//! EXPIRED and gives their seats back, reminds holders two minutes before a hold lapses, and
//! refunds card charges that never became a payment (the process died between charging and
//! committing).
//!
//! Safe with any number of instances: each release is a conditional status update that only one
//! of them can win, and on PostgreSQL `FOR UPDATE SKIP LOCKED` keeps sweepers off each other's rows.

use entity::notification::NotificationKind;
use entity::reservation::{self, ReservationStatus};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::watch;

use super::service::release_hold;
use crate::db::begin_write;
use crate::error::AppResult;
use crate::live::Effects;
use crate::notifications::service::notify;
use crate::state::AppState;

/// Holds released per transaction: keeps each sweep transaction short.
const BATCH: u64 = 200;

/// Runs until `stop` changes.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.settings.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match sweep(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "released expired holds"),
            Err(err) => tracing::warn!(error = ?err, "hold sweep failed; retrying next tick"),
        }
        if let Err(err) = warn_expiring(&state).await {
            tracing::warn!(error = ?err, "expiry reminders failed; retrying next tick");
        }
        if let Err(err) = crate::waitlist::service::offer_stalled(&state).await {
            tracing::warn!(error = ?err, "offering free seats to waitlists failed; retrying next tick");
        }
        if let Err(err) = crate::payments::refunds::settle_stale(&state).await {
            tracing::warn!(error = ?err, "settling card refunds failed; retrying next tick");
        }
        if let Err(err) = crate::payments::orphans::refund_orphaned_charges(&state).await {
            tracing::warn!(error = ?err, "orphaned card charge check failed; retrying next tick");
        }
    }
}

/// Releases every hold that has expired by now; returns how many.
pub async fn sweep(state: &AppState) -> AppResult<usize> {
    let mut released = 0;
    loop {
        let now = crate::db::now();
        let txn = begin_write(&state.db).await?;
        let mut query = reservation::Entity::find()
            .filter(reservation::Column::Status.eq(ReservationStatus::Pending))
            .filter(reservation::Column::ExpiresAt.lte(now))
            .order_by_asc(reservation::Column::ExpiresAt)
            .limit(BATCH);
        if state.db.get_database_backend() == DbBackend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let mut due = query.all(&txn).await?;
        // Ticket type rows in one order (their ids), so two sweepers (or a sweeper and a
        // cancelEvent) releasing holds of the same ticket types cannot deadlock.
        due.sort_by_key(|r| (r.ticket_type_id, r.id));
        let mut effects = Effects::default();
        for r in &due {
            if let Some(done) = release_hold(
                &txn,
                &state.settings,
                r,
                ReservationStatus::Expired,
                Some(now),
            )
            .await?
            {
                effects.merge(done);
                released += 1;
            }
        }
        txn.commit().await?;
        state.live.announce(effects);
        if (due.len() as u64) < BATCH {
            return Ok(released);
        }
    }
}

/// Holds expiring within this window get one reminder.
pub const WARN_BEFORE: chrono::Duration = chrono::Duration::minutes(2);

/// Sends "your hold expires soon" once per reservation; the conditional update on
/// `expiry_warned_at` keeps it to one however many instances sweep.
pub async fn warn_expiring(state: &AppState) -> AppResult<usize> {
    let now = crate::db::now();
    let soon = reservation::Entity::find()
        .filter(reservation::Column::Status.eq(ReservationStatus::Pending))
        .filter(reservation::Column::ExpiryWarnedAt.is_null())
        .filter(reservation::Column::ExpiresAt.gt(now))
        .filter(reservation::Column::ExpiresAt.lte(now + WARN_BEFORE))
        .limit(BATCH)
        .all(&state.db)
        .await?;
    let mut sent = 0;
    for r in soon {
        let txn = begin_write(&state.db).await?;
        let claimed = reservation::Entity::update_many()
            .col_expr(reservation::Column::ExpiryWarnedAt, Expr::value(now))
            .filter(reservation::Column::Id.eq(r.id))
            .filter(reservation::Column::ExpiryWarnedAt.is_null())
            .filter(reservation::Column::Status.eq(ReservationStatus::Pending))
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let left = (r.expires_at - now).num_seconds().max(0);
        let message = format!(
            "Your hold on {} seat(s) expires in {left} seconds; pay now to keep them.",
            r.quantity
        );
        let n = notify(
            &txn,
            r.user_id,
            NotificationKind::HoldExpiring,
            message,
            Some(r.id),
            Some(r.event_id),
        )
        .await?;
        txn.commit().await?;
        state.live.announce(Effects {
            notifications: vec![n],
            ..Default::default()
        });
        sent += 1;
    }
    Ok(sent)
}
