//! Live seat availability: every instance coalesces "seats of event X changed" signals into at
//! most one database read and one message per event per 100 ms, fanned out to local subscribers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use entity::ticket_type;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::error::AppResult;
use crate::pubsub::{PubSub, topic};

pub const COALESCE: Duration = Duration::from_millis(100);

/// An event's ticket types as they are now.
#[derive(Debug, Clone)]
pub struct Availability {
    pub event_id: Uuid,
    pub ticket_types: Vec<ticket_type::Model>,
}

pub struct AvailabilityHub {
    db: DatabaseConnection,
    tx: broadcast::Sender<Arc<Availability>>,
    /// Changes made on this instance, so they need no round trip through Redis (or survive it
    /// being down).
    local: tokio::sync::mpsc::UnboundedSender<Uuid>,
}

impl AvailabilityHub {
    pub fn start(
        db: DatabaseConnection,
        pubsub: Arc<dyn PubSub>,
        stop: watch::Receiver<bool>,
    ) -> Arc<Self> {
        let (local, local_rx) = tokio::sync::mpsc::unbounded_channel();
        let hub = Arc::new(AvailabilityHub {
            db,
            tx: broadcast::channel(1024).0,
            local,
        });
        tokio::spawn(hub.clone().run(pubsub, local_rx, stop));
        hub
    }

    /// Seats of `event` changed on this instance.
    pub fn changed(&self, event: Uuid) {
        let _ = self.local.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Availability>> {
        self.tx.subscribe()
    }

    pub async fn current(&self, event_id: Uuid) -> AppResult<Availability> {
        let ticket_types = ticket_type::Entity::find()
            .filter(ticket_type::Column::EventId.eq(event_id))
            .order_by_asc(ticket_type::Column::Position)
            .all(&self.db)
            .await?;
        Ok(Availability {
            event_id,
            ticket_types,
        })
    }

    async fn run(
        self: Arc<Self>,
        pubsub: Arc<dyn PubSub>,
        mut local: tokio::sync::mpsc::UnboundedReceiver<Uuid>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut rx = pubsub.subscribe();
        let mut dirty: HashSet<Uuid> = HashSet::new();
        let mut flush = tokio::time::interval(COALESCE);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                Some(id) = local.recv() => {
                    dirty.insert(id);
                }
                m = rx.recv() => match m {
                    Ok(m) if m.topic == topic::AVAILABILITY => {
                        if let Ok(id) = m.payload.parse() {
                            dirty.insert(id);
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = flush.tick() => {
                    // Nobody listening: nothing to read.
                    if self.tx.receiver_count() == 0 {
                        dirty.clear();
                        continue;
                    }
                    for event_id in dirty.drain() {
                        match self.current(event_id).await {
                            Ok(a) => {
                                let _ = self.tx.send(Arc::new(a));
                            }
                            Err(err) => tracing::warn!(error = ?err, "reading availability failed"),
                        }
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }
}
