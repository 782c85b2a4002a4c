//! What every resolver can reach: the app state, the viewer, the request's DataLoaders.

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache};

use crate::auth::Viewer;
use crate::auth::loader::UserLoader;
use crate::error::{AppError, AppResult};
use crate::events::loader::{EventLoader, SessionsLoader, TicketTypeLoader, TicketTypesLoader};
use crate::reservations::loader::TicketsLoader;
use crate::state::AppState;

/// The client's address: the peer, or `X-Forwarded-For` when the peer is a trusted proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);

/// Present in operations that arrived over a WebSocket (where a token goes in the
/// `connection_init` payload, not in a header).
#[derive(Debug, Clone, Copy)]
pub struct OverWebSocket;

/// The id that ties a request's log lines to the error a client reports.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// DataLoaders are built per request, so their caches never cross users or requests. The cache
/// lets a list resolver prime a whole page with one query that its items' fields then reuse.
pub struct Loaders {
    pub users: DataLoader<UserLoader, HashMapCache>,
    pub ticket_types: DataLoader<TicketTypesLoader, HashMapCache>,
    pub events: DataLoader<EventLoader, HashMapCache>,
    pub ticket_type: DataLoader<TicketTypeLoader, HashMapCache>,
    pub tickets: DataLoader<TicketsLoader, HashMapCache>,
    pub sessions: DataLoader<SessionsLoader, HashMapCache>,
}

impl Loaders {
    /// For long-lived WebSocket connections: batching without caching, so data stays current.
    pub fn uncached(state: &AppState) -> Self {
        let loaders = Loaders::new(state);
        loaders.users.enable_all_cache(false);
        loaders.ticket_types.enable_all_cache(false);
        loaders.events.enable_all_cache(false);
        loaders.ticket_type.enable_all_cache(false);
        loaders.tickets.enable_all_cache(false);
        loaders.sessions.enable_all_cache(false);
        loaders
    }
}

fn cached<T: Send + Sync + 'static>(loader: T) -> DataLoader<T, HashMapCache> {
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
}

impl Loaders {
    pub fn new(state: &AppState) -> Self {
        let db = || state.db.clone();
        Loaders {
            users: cached(UserLoader { db: db() }),
            ticket_types: cached(TicketTypesLoader { db: db() }),
            events: cached(EventLoader { db: db() }),
            ticket_type: cached(TicketTypeLoader { db: db() }),
            tickets: cached(TicketsLoader { db: db() }),
            sessions: cached(SessionsLoader { db: db() }),
        }
    }
}

pub trait ContextExt {
    fn state(&self) -> &AppState;
    fn viewer(&self) -> Option<&Viewer>;
    /// The viewer, or `UNAUTHENTICATED`.
    fn require_viewer(&self) -> AppResult<&Viewer>;
    fn users(&self) -> &DataLoader<UserLoader, HashMapCache>;
    fn ticket_types(&self) -> &DataLoader<TicketTypesLoader, HashMapCache>;
    fn events(&self) -> &DataLoader<EventLoader, HashMapCache>;
    fn ticket_type(&self) -> &DataLoader<TicketTypeLoader, HashMapCache>;
    fn tickets(&self) -> &DataLoader<TicketsLoader, HashMapCache>;
    /// Key: an event id. Value: its sessions, soonest first.
    fn sessions(&self) -> &DataLoader<SessionsLoader, HashMapCache>;
    /// Who is acting and from where, for the audit log.
    fn actor(&self) -> crate::audit::Actor;
}

impl ContextExt for Context<'_> {
    fn state(&self) -> &AppState {
        self.data_unchecked::<AppState>()
    }
    fn viewer(&self) -> Option<&Viewer> {
        self.data_opt::<Viewer>()
    }
    fn require_viewer(&self) -> AppResult<&Viewer> {
        self.viewer().ok_or_else(|| {
            let how = if self.data_opt::<OverWebSocket>().is_some() {
                "put `{\"Authorization\": \"Bearer <accessToken>\"}` in the connection_init payload"
            } else {
                "send `Authorization: Bearer <accessToken>`"
            };
            AppError::Unauthenticated(format!("log in first: {how}"))
        })
    }
    fn users(&self) -> &DataLoader<UserLoader, HashMapCache> {
        &loaders(self).users
    }
    fn ticket_types(&self) -> &DataLoader<TicketTypesLoader, HashMapCache> {
        &loaders(self).ticket_types
    }
    fn events(&self) -> &DataLoader<EventLoader, HashMapCache> {
        &loaders(self).events
    }
    fn ticket_type(&self) -> &DataLoader<TicketTypeLoader, HashMapCache> {
        &loaders(self).ticket_type
    }
    fn tickets(&self) -> &DataLoader<TicketsLoader, HashMapCache> {
        &loaders(self).tickets
    }
    fn sessions(&self) -> &DataLoader<SessionsLoader, HashMapCache> {
        &loaders(self).sessions
    }
    fn actor(&self) -> crate::audit::Actor {
        crate::audit::Actor {
            user_id: self.viewer().map(|v| v.user_id),
            request_id: self.data_opt::<RequestId>().map(|r| r.0.clone()),
            client_address: self.data_opt::<ClientIp>().map(|ip| ip.0.to_string()),
        }
    }
}

fn loaders<'a>(ctx: &'a Context<'_>) -> &'a Loaders {
    ctx.data_unchecked::<std::sync::Arc<Loaders>>()
}
