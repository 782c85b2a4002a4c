//! The per-instance report hub: turns everything this instance hears about new reports (its own
//! sequencer, pub/sub from other instances, a periodic look at the database) into one gap-free,
//! duplicate-free stream in position order, fanned out to local subscribers.
//!
//! Pub/sub may drop messages (Redis restarts) and reorder them across instances; the hub does not
//! care: a position it has seen is skipped, and a position that leaves a gap makes it read the
//! missing ones from the database first. So the stream is exact even while Redis is down; Redis
//! only makes it fast.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, broadcast, mpsc, watch};

use super::outbox::{self, LiveReport, Scope};
use crate::error::AppResult;
use crate::pubsub::{PubSub, topic};

/// Reports buffered per subscriber; one that falls further behind re-reads from the database.
pub const SUBSCRIBER_BUFFER: usize = 1024;
/// How often the hub looks at the database even when pub/sub is silent.
const POLL: Duration = Duration::from_millis(1000);
/// How often the sequencer runs even when nothing kicked it (reports left by a crashed instance).
const SEQUENCE_EVERY: Duration = Duration::from_millis(500);

pub struct ReportHub {
    db: DatabaseConnection,
    pubsub: Arc<dyn PubSub>,
    tx: broadcast::Sender<Arc<LiveReport>>,
    /// Highest position emitted to local subscribers.
    last: AtomicI64,
    kick: Notify,
}

impl ReportHub {
    /// Starts the hub's sequencer and intake tasks; they run until `stop` changes.
    pub async fn start(
        db: DatabaseConnection,
        pubsub: Arc<dyn PubSub>,
        stop: watch::Receiver<bool>,
    ) -> AppResult<Arc<Self>> {
        let last = outbox::last_position(&db).await?;
        let hub = Arc::new(ReportHub {
            db,
            pubsub,
            tx: broadcast::channel(SUBSCRIBER_BUFFER).0,
            last: AtomicI64::new(last),
            kick: Notify::new(),
        });
        let (local_tx, local_rx) = mpsc::unbounded_channel();
        tokio::spawn(hub.clone().sequencer(local_tx, stop.clone()));
        tokio::spawn(hub.clone().intake(local_rx, stop));
        Ok(hub)
    }

    /// Tells the sequencer that new reports were committed.
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// A receiver of live reports and the position it starts after.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<LiveReport>>, i64) {
        let rx = self.tx.subscribe();
        (rx, self.last.load(Ordering::SeqCst))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    async fn sequencer(
        self: Arc<Self>,
        local: mpsc::UnboundedSender<LiveReport>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(SEQUENCE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redis_down_until = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = self.kick.notified() => {}
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            loop {
                let batch = match outbox::sequence(&self.db, 500).await {
                    Ok(batch) => batch,
                    Err(err) => {
                        tracing::warn!(error = ?err, "report sequencing failed; retrying");
                        break;
                    }
                };
                if batch.is_empty() {
                    break;
                }
                for report in batch {
                    // After a failure, skip Redis for a second rather than wait on it for every
                    // report; other instances read what they missed from the database.
                    if tokio::time::Instant::now() >= redis_down_until {
                        match serde_json::to_string(&report) {
                            Ok(json) => {
                                if let Err(err) = self.pubsub.publish(topic::REPORTS, json).await {
                                    tracing::warn!(error = %err, "publishing a report failed; instances will catch up from the database");
                                    redis_down_until =
                                        tokio::time::Instant::now() + Duration::from_secs(1);
                                }
                            }
                            Err(err) => tracing::error!(error = %err, "cannot serialize a report"),
                        }
                    }
                    let _ = local.send(report);
                }
            }
        }
    }

    async fn intake(
        self: Arc<Self>,
        mut local: mpsc::UnboundedReceiver<LiveReport>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut remote = self.pubsub.subscribe();
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let candidate = tokio::select! {
                r = local.recv() => match r { Some(r) => Some(r), None => return },
                m = remote.recv() => match m {
                    Ok(m) if m.topic == topic::REPORTS => serde_json::from_str::<LiveReport>(&m.payload).ok(),
                    Ok(m) if m.topic == topic::RESUBSCRIBED => None,
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = poll.tick() => None,
                _ = stop.changed() => return,
            };
            let last = self.last.load(Ordering::SeqCst);
            match candidate {
                Some(r) if r.position <= last => {}
                Some(r) if r.position == last + 1 => self.emit(r),
                // A gap, a resubscription, a lag or a poll: read what is missing, in order.
                _ => {
                    if let Err(err) = self.catch_up().await {
                        tracing::warn!(error = ?err, "reading missed reports failed; retrying");
                    }
                }
            }
        }
    }

    async fn catch_up(&self) -> AppResult<()> {
        loop {
            let last = self.last.load(Ordering::SeqCst);
            let missing = outbox::after(&self.db, None, last, 500).await?;
            let done = missing.len() < 500;
            for r in missing {
                self.emit(r);
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Sends, then advances `last`: a subscriber joining in between reads `last` as the
    /// position before this report and finds the report in the database, so it cannot fall
    /// between the two.
    fn emit(&self, report: LiveReport) {
        let position = report.position;
        let _ = self.tx.send(Arc::new(report));
        self.last.store(position, Ordering::SeqCst);
    }
}

/// A subscriber's stream: what is stored after `after` (when given), then live reports, in
/// position order, each exactly once. A subscriber too slow for its buffer re-reads what it
/// missed from the database instead of holding up the others or growing memory.
pub fn stream(
    hub: Arc<ReportHub>,
    scope: Scope,
    after: Option<i64>,
) -> impl futures::Stream<Item = AppResult<Arc<LiveReport>>> {
    async_stream::try_stream! {
        // Subscribe before reading the database, so nothing falls between the two.
        let (mut rx, live_from) = hub.subscribe();
        let mut last = after.unwrap_or(live_from);
        loop {
            let stored = outbox::after(hub.db(), Some(scope), last, 500).await?;
            let done = stored.len() < 500;
            for r in stored {
                last = r.position;
                yield Arc::new(r);
            }
            if done {
                break;
            }
        }
        loop {
            match rx.recv().await {
                Ok(r) => {
                    if r.position <= last {
                        continue;
                    }
                    last = r.position;
                    if scope.matches(&r) {
                        yield r;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => loop {
                    let missed = outbox::after(hub.db(), Some(scope), last, 500).await?;
                    let done = missed.len() < 500;
                    for r in missed {
                        last = r.position;
                        yield Arc::new(r);
                    }
                    if done {
                        break;
                    }
                },
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
}
