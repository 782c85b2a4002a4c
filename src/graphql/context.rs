//! What every resolver can reach: the app state, the viewer, the request's DataLoaders.

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache};

use crate::app::AppState;
use crate::auth::Viewer;
use crate::auth::loader::UserLoader;
use crate::error::{AppError, AppResult};
use crate::events::loader::TicketTypesLoader;

/// The id that ties a request's log lines to the error a client reports.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// DataLoaders are built per request, so their caches never cross users or requests. The cache
/// lets a list resolver prime a whole page with one query that its items' fields then reuse.
pub struct Loaders {
    pub users: DataLoader<UserLoader, HashMapCache>,
    pub ticket_types: DataLoader<TicketTypesLoader, HashMapCache>,
}

impl Loaders {
    pub fn new(state: &AppState) -> Self {
        Loaders {
            users: DataLoader::with_cache(
                UserLoader {
                    db: state.db.clone(),
                },
                tokio::spawn,
                HashMapCache::default(),
            ),
            ticket_types: DataLoader::with_cache(
                TicketTypesLoader {
                    db: state.db.clone(),
                },
                tokio::spawn,
                HashMapCache::default(),
            ),
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
            AppError::Unauthenticated(
                "log in first: send `Authorization: Bearer <accessToken>`".into(),
            )
        })
    }
    fn users(&self) -> &DataLoader<UserLoader, HashMapCache> {
        &self.data_unchecked::<std::sync::Arc<Loaders>>().users
    }
    fn ticket_types(&self) -> &DataLoader<TicketTypesLoader, HashMapCache> {
        &self
            .data_unchecked::<std::sync::Arc<Loaders>>()
            .ticket_types
    }
}
