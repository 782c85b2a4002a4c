//! Redis pub/sub: one supervised subscriber connection per instance (pattern `evenntify:*`),
//! re-established with exponential backoff whenever Redis goes away, and a multiplexed connection
//! for publishing that is rebuilt on error.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{Mutex, broadcast, watch};

use super::{LOCAL_BUFFER, Message, PubSub, topic};
use crate::metrics::Metrics;

const TIMEOUT: Duration = Duration::from_secs(2);

pub struct RedisPubSub {
    client: redis::Client,
    /// `evenntify:<deployment>:`: deployments (databases) sharing one Redis never hear each
    /// other, which matters because report positions are only meaningful within one database.
    prefix: String,
    publisher: Mutex<Option<redis::aio::MultiplexedConnection>>,
    tx: broadcast::Sender<Message>,
}

impl RedisPubSub {
    /// Starts the subscriber task; it runs until `stop` changes.
    pub fn start(
        client: redis::Client,
        deployment: &str,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> Arc<Self> {
        let pubsub = Arc::new(RedisPubSub {
            client,
            prefix: format!("evenntify:{deployment}:"),
            publisher: Mutex::new(None),
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
        let mut guard = self.publisher.lock().await;
        if guard.is_none() {
            let conn =
                tokio::time::timeout(TIMEOUT, self.client.get_multiplexed_async_connection())
                    .await??;
            *guard = Some(conn);
        }
        let Some(conn) = guard.as_mut() else {
            unreachable!("set above")
        };
        let sent = tokio::time::timeout(
            TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(format!("{}{topic}", self.prefix))
                .arg(payload)
                .query_async::<i64>(conn),
        )
        .await;
        match sent {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => {
                *guard = None;
                Err(err.into())
            }
            Err(elapsed) => {
                *guard = None;
                Err(elapsed.into())
            }
        }
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
