//! Redis pub/sub: one supervised subscriber connection per instance (pattern `evenntify:*`),
//! re-established with exponential backoff whenever Redis goes away; publishing goes through the
//! instance's shared command connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{broadcast, watch};

use super::{LOCAL_BUFFER, Message, PubSub, topic};
use crate::metrics::Metrics;

const TIMEOUT: Duration = Duration::from_secs(2);

/// A connection manager for commands: one multiplexed connection shared by all its clones,
/// re-established by itself after an error, connecting lazily (a Redis that is down at startup
/// does not stop the instance). Every command gives up after half a second.
pub fn command_connection(client: redis::Client) -> anyhow::Result<redis::aio::ConnectionManager> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_millis(500)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    Ok(redis::aio::ConnectionManager::new_lazy_with_config(
        client, config,
    )?)
}

pub struct RedisPubSub {
    client: redis::Client,
    /// `evenntify:<deployment>:`: deployments (databases) sharing one Redis never hear each
    /// other, which matters because report positions are only meaningful within one database.
    prefix: String,
    /// The instance's shared command connection.
    publisher: redis::aio::ConnectionManager,
    tx: broadcast::Sender<Message>,
}

impl RedisPubSub {
    /// Starts the subscriber task; it runs until `stop` changes.
    pub fn start(
        client: redis::Client,
        publisher: redis::aio::ConnectionManager,
        deployment: &str,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> Arc<Self> {
        let pubsub = Arc::new(RedisPubSub {
            client,
            prefix: format!("evenntify:{deployment}:"),
            publisher,
            tx: broadcast::channel(LOCAL_BUFFER).0,
        });
        tokio::spawn(subscriber(
            pubsub.client.clone(),
            pubsub.prefix.clone(),
            pubsub.tx.clone(),
            metrics,
            stop,
        ));
        pubsub
    }
}

#[async_trait]
impl PubSub for RedisPubSub {
    async fn publish(&self, topic: &str, payload: String) -> anyhow::Result<()> {
        // A clone of the shared manager: no lock is held across the round trip.
        let mut conn = self.publisher.clone();
        tokio::time::timeout(
            TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(format!("{}{topic}", self.prefix))
                .arg(payload)
                .query_async::<i64>(&mut conn),
        )
        .await??;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.tx.subscribe()
    }
}

/// Holds the subscription open; when the stream ends (Redis restarted, network cut) it waits
/// 100 ms, 200 ms, … up to 5 s between attempts and subscribes again.
async fn subscriber(
    client: redis::Client,
    prefix: String,
    tx: broadcast::Sender<Message>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        let attempt = async {
            let mut pubsub = tokio::time::timeout(TIMEOUT, client.get_async_pubsub()).await??;
            pubsub.psubscribe(format!("{prefix}*")).await?;
            anyhow::Ok(pubsub)
        };
        let connected = tokio::select! {
            r = attempt => r,
            _ = stop.changed() => return,
        };
        match connected {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                if !first {
                    metrics.pubsub_reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("redis pub/sub subscription re-established");
                }
                // Listeners catch up from the database for what was published meanwhile.
                let _ = tx.send(Message {
                    topic: topic::RESUBSCRIBED.into(),
                    payload: String::new(),
                });
                first = false;
                let mut messages = pubsub.into_on_message();
                loop {
                    let next = tokio::select! {
                        m = messages.next() => m,
                        _ = stop.changed() => return,
                    };
                    let Some(msg) = next else { break };
                    let Some(topic) = msg.get_channel_name().strip_prefix(prefix.as_str()) else {
                        continue;
                    };
                    if let Ok(payload) = msg.get_payload::<String>() {
                        let _ = tx.send(Message {
                            topic: topic.to_string(),
                            payload,
                        });
                    }
                }
                tracing::warn!("redis pub/sub subscription ended; reconnecting");
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "redis pub/sub unavailable");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
