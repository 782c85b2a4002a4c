//! Pub/sub behind one trait: Redis when `REDIS_URL` is set (every instance hears every message),
//! an in-process broadcast otherwise. Each instance holds one subscription and fans messages out
//! locally, so a thousand WebSocket clients cost one Redis connection, not a thousand.
//!
//! Pub/sub is at-most-once: anything that must arrive (transaction reports, notifications) is
//! stored in the database first and recovered from there; pub/sub only makes it fast.

pub mod memory;
pub mod redis;

use async_trait::async_trait;
use tokio::sync::broadcast;

/// Messages buffered per local listener before it counts as lagging.
pub const LOCAL_BUFFER: usize = 4096;

/// Topics (Redis channels are `evenntify:<topic>`).
pub mod topic {
    /// A sequenced transaction report (JSON of `reports::live::LiveReport`).
    pub const REPORTS: &str = "reports";
    /// An event whose seat counts changed (payload: the event id).
    pub const AVAILABILITY: &str = "availability";
    /// A stored notification for one user (JSON of the notification).
    pub const NOTIFICATIONS: &str = "notifications";
    /// A ticket type's waitlist changed (payload: the ticket type id).
    pub const WAITLIST: &str = "waitlist";
    /// A login session was revoked (payload: the session id): close its WebSockets.
    pub const SESSION_REVOKED: &str = "session_revoked";
    /// A scan at an event's door (JSON of `tickets::service::ScanAnnouncement`).
    pub const CHECK_INS: &str = "check_ins";
    /// Local only: the Redis subscription was re-established; listeners should catch up from the
    /// database for anything published while it was down.
    pub const RESUBSCRIBED: &str = "_resubscribed";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: String,
}

#[async_trait]
pub trait PubSub: Send + Sync {
    /// Delivers `payload` on `topic` to every instance, this one included.
    async fn publish(&self, topic: &str, payload: String) -> anyhow::Result<()>;
    /// This instance's local fan-out of every message.
    fn subscribe(&self) -> broadcast::Receiver<Message>;
}
