//! The hold sweeper: every `SWEEP_INTERVAL_SECONDS` it marks expired PENDING reservations
//! EXPIRED and gives their seats back, and refunds card charges that never became a payment
//! (the process died between charging and committing).
//!
//! Safe with any number of instances: each release is a conditional status update that only one
//! of them can win, and on PostgreSQL `FOR UPDATE SKIP LOCKED` keeps sweepers off each other's rows.

use entity::reservation::{self, ReservationStatus};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::watch;

use super::service::release_hold;
use crate::app::AppState;
use crate::db::begin_write;
use crate::error::AppResult;

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
        if let Err(err) = crate::payments::service::refund_orphaned_charges(&state).await {
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
            query = query.lock_with_behavior(
                sea_orm::sea_query::LockType::Update,
                sea_orm::sea_query::LockBehavior::SkipLocked,
            );
        }
        let due = query.all(&txn).await?;
        let mut this_batch = 0;
        for r in &due {
            if release_hold(&txn, r, ReservationStatus::Expired, Some(now)).await? {
                this_batch += 1;
            }
        }
        txn.commit().await?;
        released += this_batch;
        if (due.len() as u64) < BATCH {
            return Ok(released);
        }
    }
}
