//! Relays notifications published by any instance to this instance's subscribers.

use std::sync::Arc;

use entity::notification;
use tokio::sync::{broadcast, watch};

use crate::pubsub::{PubSub, topic};

pub struct NotificationHub {
    tx: broadcast::Sender<Arc<notification::Model>>,
    /// Ids already delivered: a notification made here arrives both directly and through Redis.
    seen: std::sync::Mutex<(
        std::collections::HashSet<uuid::Uuid>,
        std::collections::VecDeque<uuid::Uuid>,
    )>,
}

const REMEMBERED: usize = 10_000;

impl NotificationHub {
    pub fn start(pubsub: Arc<dyn PubSub>, stop: watch::Receiver<bool>) -> Arc<Self> {
        let hub = Arc::new(NotificationHub {
            tx: broadcast::channel(1024).0,
            seen: Default::default(),
        });
        tokio::spawn(hub.clone().run(pubsub, stop));
        hub
    }

    /// Hands a notification to this instance's subscribers, once per id.
    pub fn deliver(&self, n: notification::Model) {
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let (set, order) = &mut *seen;
            if !set.insert(n.id) {
                return;
            }
            order.push_back(n.id);
            if order.len() > REMEMBERED
                && let Some(old) = order.pop_front()
            {
                set.remove(&old);
            }
        }
        let _ = self.tx.send(Arc::new(n));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<notification::Model>> {
        self.tx.subscribe()
    }

    async fn run(self: Arc<Self>, pubsub: Arc<dyn PubSub>, mut stop: watch::Receiver<bool>) {
        let mut rx = pubsub.subscribe();
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Ok(m) if m.topic == topic::NOTIFICATIONS => {
                        if let Ok(n) = serde_json::from_str::<notification::Model>(&m.payload) {
                            self.deliver(n);
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = stop.changed() => return,
            }
        }
    }
}
