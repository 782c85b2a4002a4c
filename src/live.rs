//! Everything live on this instance: the pub/sub connection and the hubs that fan reports,
//! seat availability and notifications out to WebSocket subscribers; and `Effects`, what a
//! committed transaction asks to be announced.

use std::sync::Arc;

use entity::notification;
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::AppResult;
use crate::events::live::AvailabilityHub;
use crate::notifications::live::NotificationHub;
use crate::pubsub::{PubSub, topic};
use crate::reports::live::ReportHub;
use crate::sockets::Sockets;

pub struct Live {
    pub pubsub: Arc<dyn PubSub>,
    pub reports: Arc<ReportHub>,
    pub availability: Arc<AvailabilityHub>,
    pub notifications: Arc<NotificationHub>,
    /// Open WebSockets: per-address caps and revoked sessions.
    pub sockets: Arc<Sockets>,
    /// Changes to `true` when the instance shuts down; background tasks watch it.
    pub stop: watch::Sender<bool>,
}

impl Live {
    pub async fn start(
        db: sea_orm::DatabaseConnection,
        pubsub: Arc<dyn PubSub>,
        stop: watch::Sender<bool>,
        max_sockets_per_address: usize,
    ) -> AppResult<Self> {
        let reports = ReportHub::start(db.clone(), pubsub.clone(), stop.subscribe()).await?;
        let availability = AvailabilityHub::start(db, pubsub.clone(), stop.subscribe());
        let notifications = NotificationHub::start(pubsub.clone(), stop.subscribe());
        let sockets = Sockets::start(pubsub.clone(), max_sockets_per_address, stop.subscribe());
        Ok(Live {
            sockets,
            pubsub,
            reports,
            availability,
            notifications,
            stop,
        })
    }

    /// Announces what a transaction did, after it committed. Never fails the caller: reports
    /// and notifications are stored, so a lost announcement is recovered from the database.
    pub fn announce(&self, effects: Effects) {
        if effects.reports {
            self.reports.kick();
        }
        if effects.availability.is_empty()
            && effects.notifications.is_empty()
            && effects.waitlists.is_empty()
        {
            return;
        }
        // This instance's subscribers hear at once; others through pub/sub.
        for event in &effects.availability {
            self.availability.changed(*event);
        }
        for n in &effects.notifications {
            self.notifications.deliver(n.clone());
        }
        let pubsub = self.pubsub.clone();
        tokio::spawn(async move {
            for event in effects.availability {
                if let Err(err) = pubsub.publish(topic::AVAILABILITY, event.to_string()).await {
                    tracing::debug!(error = %err, "publishing an availability change failed");
                }
            }
            for t in effects.waitlists {
                if let Err(err) = pubsub.publish(topic::WAITLIST, t.to_string()).await {
                    tracing::debug!(error = %err, "publishing a waitlist change failed");
                }
            }
            for n in effects.notifications {
                match serde_json::to_string(&n) {
                    Ok(json) => {
                        if let Err(err) = pubsub.publish(topic::NOTIFICATIONS, json).await {
                            tracing::debug!(error = %err, "publishing a notification failed; it stays stored");
                        }
                    }
                    Err(err) => tracing::error!(error = %err, "cannot serialize a notification"),
                }
            }
        });
    }
}

/// What a committed transaction asks to announce.
#[derive(Debug, Default)]
pub struct Effects {
    /// New transaction reports were stored.
    pub reports: bool,
    /// Events whose seat counts changed.
    pub availability: Vec<Uuid>,
    /// Notifications that were stored.
    pub notifications: Vec<notification::Model>,
    /// Ticket types whose waitlist changed (positions, offers).
    pub waitlists: Vec<Uuid>,
    /// Card refunds recorded in the transaction, for the gateway to carry out after the commit
    /// (`payments::refunds::settle`); the caller takes them out before announcing.
    pub card_refunds: Vec<Uuid>,
}

impl Effects {
    pub fn seats(event: Uuid) -> Self {
        Effects {
            availability: vec![event],
            ..Default::default()
        }
    }

    pub fn merge(&mut self, other: Effects) {
        self.reports |= other.reports;
        for e in other.availability {
            if !self.availability.contains(&e) {
                self.availability.push(e);
            }
        }
        self.notifications.extend(other.notifications);
        for t in other.waitlists {
            if !self.waitlists.contains(&t) {
                self.waitlists.push(t);
            }
        }
        self.card_refunds.extend(other.card_refunds);
    }

    pub fn waitlist(ticket_type: Uuid) -> Self {
        Effects {
            waitlists: vec![ticket_type],
            ..Default::default()
        }
    }
}
