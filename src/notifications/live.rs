//! Relays notifications published by any instance to this instance's subscribers.

use std::sync::Arc;

use entity::notification;
use tokio::sync::{broadcast, watch};

use crate::pubsub::{PubSub, topic};

pub struct NotificationHub {
    tx: broadcast::Sender<Arc<notification::Model>>,
}

impl NotificationHub {
    pub fn start(pubsub: Arc<dyn PubSub>, stop: watch::Receiver<bool>) -> Arc<Self> {
        let hub = Arc::new(NotificationHub {
            tx: broadcast::channel(1024).0,
        });
        tokio::spawn(hub.clone().run(pubsub, stop));
        hub
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
                            let _ = self.tx.send(Arc::new(n));
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
