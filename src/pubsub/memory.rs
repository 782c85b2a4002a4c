//! In-process pub/sub for a single instance (the zero-configuration default).

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{LOCAL_BUFFER, Message, PubSub};

pub struct MemoryPubSub {
    tx: broadcast::Sender<Message>,
}

impl Default for MemoryPubSub {
    fn default() -> Self {
        MemoryPubSub {
            tx: broadcast::channel(LOCAL_BUFFER).0,
        }
    }
}

#[async_trait]
impl PubSub for MemoryPubSub {
    async fn publish(&self, topic: &str, payload: String) -> anyhow::Result<()> {
        // No listener is not an error: nobody is interested right now.
        let _ = self.tx.send(Message {
            topic: topic.to_string(),
            payload,
        });
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.tx.subscribe()
    }
}
