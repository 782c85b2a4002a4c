//! Group-committed holds for paid general admission (issue 18).
//!
//! An on-sale is bounded by its ticket type's row: every hold locks it from its UPDATE to its
//! COMMIT. So the holds of one ticket type in flight on this instance share one write
//! transaction per batch:
//! - the event's share lock and the on-sale check (as each hold did alone);
//! - the keys of the batch already used (by another instance, or another ticket type's batch,
//!   since each caller looked): those callers get their first answer;
//! - **one conditional UPDATE** taking the batch's total, `WHERE available >= total AND
//!   waiting = 0`. When it finds too few seats (the batch that sells out, and every one after),
//!   the row is read under its lock, the seats left are shared out in arrival order (a later,
//!   smaller request still gets what an earlier, larger one could not), and one more conditional
//!   UPDATE takes exactly that. The database's condition stays the guard, so instances that
//!   batch on their own never oversell together; the CHECK on `available` backs it up;
//! - one multi-row INSERT of the reservations, one of their `reservation.create` audit entries;
//! - one commit; then every caller gets its own answer, and seat counts are announced once.
//!
//! A batch closes when it holds `RESERVE_BATCH_MAX` holds, or when its first caller has waited
//! `RESERVE_BATCH_WINDOW_MS`. An idle ticket type adds no wait: the first caller goes at once,
//! and whoever arrives while a batch is in the database forms the next one. A caller whose
//! request went away before its batch closed is left out. Any error fails the whole batch
//! (nothing of it is written) and every caller gets it, with its code (`SERVICE_UNAVAILABLE`
//! stays `SERVICE_UNAVAILABLE`).
//!
//! Two callers of one batch with the same key: the later one gets the earlier one's answer.
//! A key another transaction inserted after this one looked makes the INSERT fail on the unique
//! index; the batch is then rolled back and run again, and finds that key's reservation.
//!
//! This module sits below the shared state (which owns the `Batcher`), so it imports neither the
//! state nor the reservation service.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entity::reservation::{self, ReservationStatus};
use entity::{audit_entry, ticket_type};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
    Set,
};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

use super::rules::{bookable, lock_event, same_request};
use crate::audit::Actor;
use crate::db::{begin_write, is_unique_violation, now};
use crate::error::{AppError, AppResult};
use crate::live::{Effects, Live};
use crate::metrics::Metrics;

/// The audit action of a new hold.
pub const AUDIT_ACTION: &str = "reservation.create";

/// Times a batch is run again after a key turned up that another transaction inserted.
const KEY_RETRIES: usize = 3;

/// The audit entry's detail for a new hold (also written by the unbatched path).
pub fn audit_detail(r: &reservation::Model) -> serde_json::Value {
    serde_json::json!({
        "ticketTypeId": r.ticket_type_id,
        "quantity": r.quantity,
        "amountCents": r.amount_cents,
        "status": format!("{:?}", r.status),
    })
}

/// One caller's hold, already checked by `reserve` (quantity, key, the event on sale, general
/// admission, the price).
#[derive(Debug, Clone)]
pub struct Hold {
    pub user_id: Uuid,
    pub quantity: i32,
    pub amount_cents: i64,
    pub idempotency_key: Option<String>,
    /// Who asked, from where: for the audit entry.
    pub actor: Actor,
}

/// What a batch needs besides its holds.
pub struct BatchSettings {
    /// `RESERVE_BATCH_MAX`: holds per batch at most (1 = no batching).
    pub max: usize,
    /// `RESERVE_BATCH_WINDOW_MS`: how long a batch may wait for more holds once a batch of its
    /// ticket type is in the database.
    pub window: Duration,
    /// `HOLD_SECONDS`.
    pub hold: chrono::Duration,
}

/// The per-instance group commit of holds, one lane per ticket type with holds in flight.
pub struct Batcher {
    db: DatabaseConnection,
    live: Arc<Live>,
    metrics: Arc<Metrics>,
    settings: BatchSettings,
    lanes: Mutex<HashMap<Uuid, Lane>>,
    generations: AtomicU64,
    #[cfg(feature = "test-faults")]
    faults: Arc<crate::faults::Faults>,
}

/// The holds of one ticket type waiting for the next batch. A lane exists exactly while its
/// worker task runs.
struct Lane {
    generation: u64,
    queue: VecDeque<Waiter>,
    /// Wakes the worker early when the queue makes a full batch.
    full: Arc<Notify>,
}

struct Waiter {
    hold: Hold,
    arrived: Instant,
    reply: oneshot::Sender<AppResult<reservation::Model>>,
}

impl Batcher {
    pub fn new(
        db: DatabaseConnection,
        live: Arc<Live>,
        metrics: Arc<Metrics>,
        settings: BatchSettings,
        #[cfg(feature = "test-faults")] faults: Arc<crate::faults::Faults>,
    ) -> Self {
        Batcher {
            db,
            live,
            metrics,
            settings: BatchSettings {
                max: settings.max.max(1),
                ..settings
            },
            lanes: Mutex::default(),
            generations: AtomicU64::new(0),
            #[cfg(feature = "test-faults")]
            faults,
        }
    }

    /// Holds seats of `ticket_type` (general admission, paid) in the ticket type's next batch;
    /// answers this caller's hold alone.
    pub async fn reserve(
        self: &Arc<Self>,
        ticket_type: &ticket_type::Model,
        hold: Hold,
    ) -> AppResult<reservation::Model> {
        let (reply, answer) = oneshot::channel();
        let waiter = Waiter {
            hold,
            arrived: Instant::now(),
            reply,
        };
        let start = {
            let mut lanes = self.lanes();
            match lanes.get_mut(&ticket_type.id) {
                Some(lane) => {
                    lane.queue.push_back(waiter);
                    if lane.queue.len() >= self.settings.max {
                        lane.full.notify_one();
                    }
                    None
                }
                None => {
                    let generation = self.generations.fetch_add(1, Ordering::Relaxed);
                    let lane = Lane {
                        generation,
                        queue: VecDeque::from([waiter]),
                        full: Arc::default(),
                    };
                    lanes.insert(ticket_type.id, lane);
                    Some(generation)
                }
            }
        };
        if let Some(generation) = start {
            tokio::spawn(self.clone().run_lane(ticket_type.clone(), generation));
        }
        answer.await.unwrap_or_else(|_| {
            Err(AppError::internal(anyhow::anyhow!(
                "the batch of holds for ticket type {} stopped without an answer",
                ticket_type.id
            )))
        })
    }

    /// Holds waiting for the next batch of `ticket_type`: `None` while no batch of it is in
    /// flight on this instance (for tests and diagnostics).
    pub fn queued(&self, ticket_type: Uuid) -> Option<usize> {
        self.lanes().get(&ticket_type).map(|lane| lane.queue.len())
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Lane>> {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The worker of one lane: batch after batch until nobody waits, then the lane goes away.
    async fn run_lane(self: Arc<Self>, ticket_type: ticket_type::Model, generation: u64) {
        // However this task ends (a panic included), the lane goes, and with it the waiters'
        // reply channels: they answer with an error instead of waiting forever.
        let _end = EndLane {
            batcher: self.clone(),
            ticket_type: ticket_type.id,
            generation,
        };
        let mut first = true;
        loop {
            let Some(batch) = self.next_batch(ticket_type.id, first).await else {
                return;
            };
            first = false;
            self.run_batch(&ticket_type, batch).await;
        }
    }

    /// The next batch: at once for the lane's first batch, a full queue or a waited-out window;
    /// `None` (and the lane removed) when nobody waits.
    async fn next_batch(&self, ticket_type: Uuid, first: bool) -> Option<Vec<Waiter>> {
        loop {
            let (deadline, full) = {
                let mut lanes = self.lanes();
                let lane = lanes.get_mut(&ticket_type)?;
                // Callers whose request went away are not served.
                lane.queue.retain(|w| !w.reply.is_closed());
                let Some(oldest) = lane.queue.front() else {
                    lanes.remove(&ticket_type);
                    return None;
                };
                let deadline = oldest.arrived + self.settings.window;
                if first || lane.queue.len() >= self.settings.max || Instant::now() >= deadline {
                    let n = lane.queue.len().min(self.settings.max);
                    return Some(lane.queue.drain(..n).collect());
                }
                (deadline, lane.full.clone())
            };
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = full.notified() => {}
            }
        }
    }

    async fn run_batch(&self, ticket_type: &ticket_type::Model, batch: Vec<Waiter>) {
        let holds: Vec<&Hold> = batch.iter().map(|w| &w.hold).collect();
        self.metrics.reserve_batches.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .reserve_batched_holds
            .fetch_add(holds.len() as u64, Ordering::Relaxed);
        match self.commit(ticket_type, &holds).await {
            Ok((answers, taken)) => {
                if taken {
                    self.live.announce(Effects::seats(ticket_type.event_id));
                }
                for (waiter, answer) in batch.into_iter().zip(answers) {
                    let _ = waiter.reply.send(answer);
                }
            }
            Err(err) => {
                for waiter in batch {
                    let _ = waiter.reply.send(Err(same_error(&err)));
                }
            }
        }
    }

    /// Runs the batch's transaction, again when a key turned up that another transaction had
    /// inserted meanwhile. Returns each hold's answer and whether seats were taken.
    async fn commit(
        &self,
        ticket_type: &ticket_type::Model,
        holds: &[&Hold],
    ) -> AppResult<(Vec<AppResult<reservation::Model>>, bool)> {
        let mut tries = 0;
        loop {
            let txn = begin_write(&self.db).await?;
            match self.write(&txn, ticket_type, holds).await? {
                Some(done) => {
                    #[cfg(feature = "test-faults")]
                    crate::faults::point(
                        &*self.faults,
                        crate::faults::Fault::ReserveBatchBeforeCommit,
                    )?;
                    txn.commit().await?;
                    return Ok(done);
                }
                None if tries < KEY_RETRIES => {
                    txn.rollback().await?;
                    tries += 1;
                }
                None => {
                    return Err(AppError::internal(anyhow::anyhow!(
                        "idempotency keys kept colliding in a batch of ticket type {}",
                        ticket_type.id
                    )));
                }
            }
        }
    }

    /// The batch's writes in `txn`; `None` when the INSERT met a key inserted meanwhile.
    async fn write(
        &self,
        txn: &DatabaseTransaction,
        ticket_type: &ticket_type::Model,
        holds: &[&Hold],
    ) -> AppResult<Option<(Vec<AppResult<reservation::Model>>, bool)>> {
        // Decided again inside the write, under the event's lock (see `service::reserve`).
        bookable(
            &lock_event(txn, ticket_type.event_id).await?,
            ticket_type.id,
        )?;
        crate::events::schedule::ensure_bookable(txn, ticket_type.session_id).await?;
        let used = used_keys(txn, holds).await?;
        let plan = classify(holds, |user, key| {
            used.iter()
                .position(|r| r.user_id == user && r.idempotency_key.as_deref() == Some(key))
        });
        let fresh: Vec<i32> = plan
            .iter()
            .zip(holds)
            .filter(|(p, _)| matches!(p, Plan::Fresh))
            .map(|(_, h)| h.quantity)
            .collect();
        let (granted, refusal) = take_seats(txn, ticket_type, &fresh).await?;

        // The reservations, stamped after the ticket type's row lock, in arrival order.
        let at = now();
        let expires = at + self.settings.hold;
        let mut created: Vec<Option<reservation::Model>> = Vec::with_capacity(holds.len());
        let mut fresh_index = 0;
        for (p, h) in plan.iter().zip(holds) {
            let model = match p {
                Plan::Fresh => {
                    let won = granted[fresh_index];
                    fresh_index += 1;
                    won.then(|| reservation::Model {
                        id: Uuid::now_v7(),
                        user_id: h.user_id,
                        event_id: ticket_type.event_id,
                        ticket_type_id: ticket_type.id,
                        quantity: h.quantity,
                        amount_cents: h.amount_cents,
                        status: ReservationStatus::Pending,
                        expires_at: expires,
                        idempotency_key: h.idempotency_key.clone(),
                        created_at: at,
                        updated_at: at,
                        expiry_warned_at: None,
                    })
                }
                _ => None,
            };
            created.push(model);
        }
        let mut rows: Vec<&reservation::Model> = created.iter().flatten().collect();
        if !rows.is_empty() {
            // Every batch inserts keys in one global order, so two batches that both insert
            // keys the other holds uncommitted wait in line instead of deadlocking.
            rows.sort_by(|a, b| {
                (a.user_id, &a.idempotency_key).cmp(&(b.user_id, &b.idempotency_key))
            });
            let models = rows.iter().map(|r| reservation::ActiveModel {
                id: Set(r.id),
                user_id: Set(r.user_id),
                event_id: Set(r.event_id),
                ticket_type_id: Set(r.ticket_type_id),
                quantity: Set(r.quantity),
                amount_cents: Set(r.amount_cents),
                status: Set(r.status),
                expires_at: Set(r.expires_at),
                idempotency_key: Set(r.idempotency_key.clone()),
                created_at: Set(r.created_at),
                updated_at: Set(r.updated_at),
                expiry_warned_at: Set(None),
            });
            match reservation::Entity::insert_many(models).exec(txn).await {
                Ok(_) => {}
                Err(err)
                    if is_unique_violation(
                        &err,
                        "ux_reservations_user_key",
                        &["reservations.user_id", "reservations.idempotency_key"],
                    ) =>
                {
                    return Ok(None);
                }
                Err(err) => return Err(err.into()),
            }
            let entries = created
                .iter()
                .zip(holds)
                .filter_map(|(r, h)| r.as_ref().map(|r| audit_row(r, &h.actor, at)));
            audit_entry::Entity::insert_many(entries).exec(txn).await?;
        }

        // Each caller's answer, in arrival order.
        let mut answers: Vec<AppResult<reservation::Model>> = Vec::with_capacity(holds.len());
        for ((p, h), made) in plan.iter().zip(holds).zip(created) {
            let answer = match (p, made) {
                (Plan::Fresh, Some(model)) => Ok(model),
                (Plan::Fresh, None) => Err(sold_out(ticket_type, h.quantity, refusal)),
                (Plan::Used(i), _) => same_request(used[*i].clone(), ticket_type.id, h.quantity),
                (Plan::SameAs(j), _) => match &answers[*j] {
                    Ok(first) => same_request(first.clone(), ticket_type.id, h.quantity),
                    Err(err) => Err(same_error(err)),
                },
            };
            answers.push(answer);
        }
        let taken = granted.iter().any(|g| *g);
        Ok(Some((answers, taken)))
    }
}

/// Removes its lane when the worker ends, unless a newer worker owns it by then.
struct EndLane {
    batcher: Arc<Batcher>,
    ticket_type: Uuid,
    generation: u64,
}

impl Drop for EndLane {
    fn drop(&mut self) {
        let mut lanes = self.batcher.lanes();
        if lanes
            .get(&self.ticket_type)
            .is_some_and(|lane| lane.generation == self.generation)
        {
            lanes.remove(&self.ticket_type);
        }
    }
}

/// How one hold of a batch is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Takes seats, if enough are left for it.
    Fresh,
    /// Its key is already used, by the reservation at this index of the keys found.
    Used(usize),
    /// An earlier hold of the same batch has its user and key: that hold's answer.
    SameAs(usize),
}

/// Decides each hold's plan in arrival order; `used` finds a key's reservation in the database.
fn classify(holds: &[&Hold], used: impl Fn(Uuid, &str) -> Option<usize>) -> Vec<Plan> {
    let mut first_with_key: HashMap<(Uuid, &str), usize> = HashMap::new();
    holds
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let Some(key) = h.idempotency_key.as_deref() else {
                return Plan::Fresh;
            };
            if let Some(found) = used(h.user_id, key) {
                return Plan::Used(found);
            }
            match first_with_key.get(&(h.user_id, key)) {
                Some(&j) => Plan::SameAs(j),
                None => {
                    first_with_key.insert((h.user_id, key), i);
                    Plan::Fresh
                }
            }
        })
        .collect()
}

/// Which of `quantities` (in arrival order) `available` seats serve: each in turn if it still
/// fits, as one reserve after another would.
fn share_out(quantities: &[i32], available: i32) -> Vec<bool> {
    let mut left = Ord::max(available, 0);
    quantities
        .iter()
        .map(|&q| {
            let fits = q <= left;
            if fits {
                left -= q;
            }
            fits
        })
        .collect()
}

/// Why a hold got no seats.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    TooFew,
    Waitlist,
}

/// Takes the seats of the fresh holds (quantities in arrival order) with one conditional
/// UPDATE, or, when not all fit, as many holds as the seats left serve. Returns which holds got
/// theirs, and why the others did not.
async fn take_seats(
    txn: &DatabaseTransaction,
    ticket_type: &ticket_type::Model,
    quantities: &[i32],
) -> AppResult<(Vec<bool>, Refusal)> {
    let total: i32 = quantities.iter().sum();
    if total == 0 {
        return Ok((Vec::new(), Refusal::TooFew));
    }
    if take(txn, ticket_type.id, total).await? {
        return Ok((vec![true; quantities.len()], Refusal::TooFew));
    }
    // Too few for all (or a waitlist): read the counter under the row's lock and share it out.
    let Some(row) = ticket_type::Entity::find_by_id(ticket_type.id)
        .lock_exclusive()
        .one(txn)
        .await?
    else {
        return Err(AppError::NotFound(format!(
            "ticket type {} not found",
            ticket_type.id
        )));
    };
    // While anyone waits, free seats belong to the waitlist (`waitlist::offers`).
    if row.waiting > 0 {
        return Ok((vec![false; quantities.len()], Refusal::Waitlist));
    }
    let granted = share_out(quantities, row.available);
    let part: i32 = quantities
        .iter()
        .zip(&granted)
        .filter(|(_, g)| **g)
        .map(|(q, _)| q)
        .sum();
    if part > 0 && !take(txn, ticket_type.id, part).await? {
        return Err(AppError::internal(anyhow::anyhow!(
            "ticket type {} changed under its own lock while sharing out seats",
            ticket_type.id
        )));
    }
    Ok((granted, Refusal::TooFew))
}

/// The guard: `available -= n` only if that many are free and nobody waits.
async fn take(txn: &DatabaseTransaction, ticket_type: Uuid, n: i32) -> AppResult<bool> {
    let taken = ticket_type::Entity::update_many()
        .col_expr(
            ticket_type::Column::Available,
            Expr::col(ticket_type::Column::Available).sub(n),
        )
        .filter(ticket_type::Column::Id.eq(ticket_type))
        .filter(ticket_type::Column::Available.gte(n))
        .filter(ticket_type::Column::Waiting.eq(0))
        .exec(txn)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Reservations already holding one of the batch's keys (read inside the batch's transaction).
async fn used_keys(
    txn: &DatabaseTransaction,
    holds: &[&Hold],
) -> AppResult<Vec<reservation::Model>> {
    let keys: Vec<&str> = holds
        .iter()
        .filter_map(|h| h.idempotency_key.as_deref())
        .collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let users: Vec<Uuid> = holds
        .iter()
        .filter(|h| h.idempotency_key.is_some())
        .map(|h| h.user_id)
        .collect();
    let found = reservation::Entity::find()
        .filter(reservation::Column::IdempotencyKey.is_in(keys.iter().copied()))
        .filter(reservation::Column::UserId.is_in(users.iter().copied()))
        .all(txn)
        .await?;
    // Users × keys may pair a user with another's key: keep the exact pairs.
    Ok(found
        .into_iter()
        .filter(|r| {
            holds.iter().any(|h| {
                h.user_id == r.user_id
                    && h.idempotency_key.as_deref() == r.idempotency_key.as_deref()
            })
        })
        .collect())
}

fn sold_out(ticket_type: &ticket_type::Model, quantity: i32, why: Refusal) -> AppError {
    match why {
        Refusal::Waitlist => AppError::SoldOut(format!(
            "`{}` has a waitlist: seats that come back go to it first; join it with joinWaitlist",
            ticket_type.name
        )),
        Refusal::TooFew => AppError::SoldOut(format!(
            "not enough seats left for `{}` ({quantity} requested)",
            ticket_type.name
        )),
    }
}

fn audit_row(
    r: &reservation::Model,
    actor: &Actor,
    at: chrono::DateTime<chrono::Utc>,
) -> audit_entry::ActiveModel {
    audit_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        at: Set(at),
        actor_id: Set(actor.user_id.or(Some(r.user_id))),
        action: Set(AUDIT_ACTION.to_string()),
        target_type: Set("reservation".to_string()),
        target_id: Set(Some(r.id.to_string())),
        event_id: Set(Some(r.event_id)),
        request_id: Set(actor.request_id.clone()),
        client_address: Set(actor.client_address.clone()),
        detail: Set(Some(audit_detail(r).to_string())),
    }
}

/// The batch's error, once for each of its callers: the same code and message (the detail of an
/// internal or unavailable error is kept as text for the log).
fn same_error(err: &AppError) -> AppError {
    match err {
        AppError::Unauthenticated(m) => AppError::Unauthenticated(m.clone()),
        AppError::Forbidden(m) => AppError::Forbidden(m.clone()),
        AppError::NotFound(m) => AppError::NotFound(m.clone()),
        AppError::BadUserInput(m) => AppError::BadUserInput(m.clone()),
        AppError::Conflict(m) => AppError::Conflict(m.clone()),
        AppError::SoldOut(m) => AppError::SoldOut(m.clone()),
        AppError::HoldExpired(m) => AppError::HoldExpired(m.clone()),
        AppError::InsufficientFunds(m) => AppError::InsufficientFunds(m.clone()),
        AppError::PaymentDeclined(m) => AppError::PaymentDeclined(m.clone()),
        AppError::RateLimited {
            message,
            retry_after_seconds,
        } => AppError::RateLimited {
            message: message.clone(),
            retry_after_seconds: *retry_after_seconds,
        },
        AppError::Unavailable {
            detail,
            retry_after_seconds,
        } => AppError::Unavailable {
            detail: anyhow::anyhow!("{detail:#}"),
            retry_after_seconds: *retry_after_seconds,
        },
        AppError::Internal(detail) => AppError::Internal(anyhow::anyhow!("{detail:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(user: u128, key: Option<&str>, quantity: i32) -> Hold {
        Hold {
            user_id: Uuid::from_u128(user),
            quantity,
            amount_cents: 100 * i64::from(quantity),
            idempotency_key: key.map(str::to_string),
            actor: Actor::default(),
        }
    }

    #[test]
    fn seats_left_are_shared_out_in_arrival_order_as_one_reserve_after_another() {
        assert_eq!(share_out(&[1, 1, 1], 5), vec![true, true, true]);
        assert_eq!(share_out(&[1, 1, 1], 2), vec![true, true, false]);
        // The larger request that no longer fits is refused; a later smaller one still fits.
        assert_eq!(share_out(&[2, 3, 1], 4), vec![true, false, true]);
        assert_eq!(share_out(&[3, 2], 0), vec![false, false]);
        assert_eq!(share_out(&[], 7), Vec::<bool>::new());
    }

    #[test]
    fn a_key_already_used_or_repeated_in_the_batch_gets_the_first_answer() {
        let a = hold(1, Some("k"), 1);
        let a_again = hold(1, Some("k"), 1);
        let other_user_same_key = hold(2, Some("k"), 1);
        let no_key = hold(1, None, 1);
        let stored = hold(3, Some("old"), 2);
        let holds = [&a, &no_key, &a_again, &other_user_same_key, &stored];
        let plan = classify(&holds, |user, key| {
            (user == Uuid::from_u128(3) && key == "old").then_some(0)
        });
        assert_eq!(
            plan,
            vec![
                Plan::Fresh,
                Plan::Fresh,
                Plan::SameAs(0),
                Plan::Fresh,
                Plan::Used(0)
            ]
        );
    }

    #[test]
    fn every_caller_of_a_failed_batch_gets_the_same_code() {
        let unavailable = AppError::Unavailable {
            detail: anyhow::anyhow!("connection refused"),
            retry_after_seconds: 2,
        };
        let copy = same_error(&unavailable);
        assert_eq!(copy.code(), "SERVICE_UNAVAILABLE");
        assert_eq!(copy.message(), unavailable.message());
        assert!(matches!(
            copy,
            AppError::Unavailable {
                retry_after_seconds: 2,
                ..
            }
        ));
        let internal = AppError::internal(anyhow::anyhow!("boom"));
        assert_eq!(same_error(&internal).code(), "INTERNAL_SERVER_ERROR");
        let sold = AppError::SoldOut("gone".into());
        assert_eq!(same_error(&sold).message(), "gone");
        let conflict = crate::reservations::rules::event_cancelled();
        assert_eq!(same_error(&conflict).code(), "CONFLICT");
    }
}
