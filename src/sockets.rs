//! The WebSockets open on this instance: how many each client address holds (capped by
//! `WS_MAX_SOCKETS_PER_ADDRESS`), and which login session each belongs to, so that revoking a
//! session (logout, refresh-token reuse, suspension, password change) closes its sockets at once
//! on every instance: the revocation is published, and each instance closes its own sockets.
//! Pub/sub may drop the message (Redis restarting); sockets also re-check their session at every
//! server ping, so a missed message delays the close by one ping interval at most.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::pubsub::{PubSub, topic};

pub struct Sockets {
    max_per_address: usize,
    inner: Mutex<Inner>,
    pubsub: Arc<dyn PubSub>,
}

#[derive(Default)]
struct Inner {
    per_address: HashMap<IpAddr, usize>,
    by_session: HashMap<Uuid, Vec<(u64, watch::Sender<bool>)>>,
    next: u64,
}

/// One socket's place in its address's budget; dropping it frees the place.
pub struct AddressSlot {
    sockets: Arc<Sockets>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut inner = self.sockets.lock();
        if let Some(n) = inner.per_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                inner.per_address.remove(&self.ip);
            }
        }
    }
}

/// Changes to `true` when the socket's session is revoked; dropping it unregisters the socket.
pub struct SessionWatch {
    sockets: Arc<Sockets>,
    session: Uuid,
    id: u64,
    pub revoked: watch::Receiver<bool>,
}

impl Drop for SessionWatch {
    fn drop(&mut self) {
        let mut inner = self.sockets.lock();
        if let Some(list) = inner.by_session.get_mut(&self.session) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                inner.by_session.remove(&self.session);
            }
        }
    }
}

impl Sockets {
    /// Starts listening for revocations published by any instance; runs until `stop` changes.
    pub fn start(
        pubsub: Arc<dyn PubSub>,
        max_per_address: usize,
        stop: watch::Receiver<bool>,
    ) -> Arc<Self> {
        let sockets = Arc::new(Sockets {
            max_per_address,
            inner: Mutex::new(Inner::default()),
            pubsub: pubsub.clone(),
        });
        tokio::spawn(sockets.clone().listen(pubsub, stop));
        sockets
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more socket from `ip`, or `None` when the address holds its maximum.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let mut inner = self.lock();
        let n = inner.per_address.entry(ip).or_default();
        if *n >= self.max_per_address {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            sockets: self.clone(),
            ip,
        })
    }

    /// Registers a socket authenticated under `session`.
    pub fn watch(self: &Arc<Self>, session: Uuid) -> SessionWatch {
        let (tx, rx) = watch::channel(false);
        let mut inner = self.lock();
        inner.next += 1;
        let id = inner.next;
        inner.by_session.entry(session).or_default().push((id, tx));
        SessionWatch {
            sockets: self.clone(),
            session,
            id,
            revoked: rx,
        }
    }

    /// Closes the session's sockets here and, through pub/sub, on every other instance. Call it
    /// after the revocation committed.
    pub async fn revoke(&self, session: Uuid) {
        self.close_local(session);
        if let Err(err) = self
            .pubsub
            .publish(topic::SESSION_REVOKED, session.to_string())
            .await
        {
            tracing::warn!(error = %err, "publishing a session revocation failed; other instances notice at their next ping");
        }
    }

    fn close_local(&self, session: Uuid) {
        if let Some(list) = self.lock().by_session.get(&session) {
            for (_, tx) in list {
                let _ = tx.send(true);
            }
        }
    }

    async fn listen(self: Arc<Self>, pubsub: Arc<dyn PubSub>, mut stop: watch::Receiver<bool>) {
        let mut rx = pubsub.subscribe();
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Ok(m) if m.topic == topic::SESSION_REVOKED => {
                        if let Ok(session) = m.payload.parse::<Uuid>() {
                            self.close_local(session);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_holds_at_most_its_sockets_and_revocation_reaches_each_watch() {
        let (_stop_tx, stop) = watch::channel(false);
        let pubsub: Arc<dyn PubSub> = Arc::new(crate::pubsub::memory::MemoryPubSub::default());
        let sockets = Sockets::start(pubsub, 2, stop);
        let ip = IpAddr::from([10, 0, 0, 1]);
        let a = sockets.admit(ip).unwrap();
        let _b = sockets.admit(ip).unwrap();
        assert!(sockets.admit(ip).is_none());
        assert!(sockets.admit(IpAddr::from([10, 0, 0, 2])).is_some());
        drop(a);
        assert!(sockets.admit(ip).is_some());

        let session = Uuid::new_v4();
        let mut first = sockets.watch(session);
        let other = sockets.watch(Uuid::new_v4());
        sockets.revoke(session).await;
        first.revoked.changed().await.unwrap();
        assert!(*first.revoked.borrow());
        assert!(!*other.revoked.borrow());
        drop(first);
        assert!(!sockets.lock().by_session.contains_key(&session));
    }
}
