//! What every resolver can reach: the app state, the viewer, the request's DataLoaders.

use async_graphql::Context;
use async_graphql::dataloader::DataLoader;

use crate::app::AppState;
use crate::auth::Viewer;
use crate::auth::loader::UserLoader;
use crate::error::{AppError, AppResult};
use crate::events::loader::TicketTypesLoader;

/// The id that ties a request's log lines to the error a client reports.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// DataLoaders are built per request, so their caches never cross users or requests.
pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub ticket_types: DataLoader<TicketTypesLoader>,
}

impl Loaders {
    pub fn new(state: &AppState) -> Self {
        Loaders {
            users: DataLoader::new(
                UserLoader {
                    db: state.db.clone(),
                },
                tokio::spawn,
            ),
            ticket_types: DataLoader::new(
                TicketTypesLoader {
                    db: state.db.clone(),
                },
                tokio::spawn,
            ),
        }
    }
}

pub trait ContextExt {
    fn state(&self) -> &AppState;
    fn viewer(&self) -> Option<&Viewer>;
    /// The viewer, or `UNAUTHENTICATED`.
    fn require_viewer(&self) -> AppResult<&Viewer>;
    fn users(&self) -> &DataLoader<UserLoader>;
    fn ticket_types(&self) -> &DataLoader<TicketTypesLoader>;
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
    fn users(&self) -> &DataLoader<UserLoader> {
        &self.data_unchecked::<std::sync::Arc<Loaders>>().users
    }
    fn ticket_types(&self) -> &DataLoader<TicketTypesLoader> {
        &self
            .data_unchecked::<std::sync::Arc<Loaders>>()
            .ticket_types
    }
}
