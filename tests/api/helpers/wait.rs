//! Waiting for a condition, always with a bound. The sleeps here only pace polls of a real
//! condition; none of them is the wait itself.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Polls `probe` until it yields a value; panics after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    tokio::time::timeout(limit, async {
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            // Pacing between polls, not a wait: the loop ends on the condition.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up after {limit:?} waiting for {what}"))
}

/// Holds run on the clock: the only way to see one lapse is to let the time pass. Waits until
/// `instant` (plus a little margin) is behind us, bounded by a timeout.
pub async fn wait_until_past(instant: DateTime<Utc>) {
    let margin = chrono::Duration::milliseconds(100);
    eventually(
        Duration::from_secs(30),
        &format!("{instant} to pass"),
        || async { (Utc::now() > instant + margin).then_some(()) },
    )
    .await
}
