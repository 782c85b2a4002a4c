//! Assembles the schema from each domain's query and mutation roots.

use async_graphql::{MergedObject, MergedSubscription, SDLExportOptions, Schema};

use super::extensions::ErrorShape;
use crate::analytics::graphql::AnalyticsQuery;
use crate::audit::graphql::AuditQuery;
use crate::auth::graphql::{AdminMutation, AdminQuery, AuthMutation, AuthQuery};
use crate::events::graphql::feedback::FeedbackMutation;
use crate::events::graphql::manage::TicketTypesMutation;
use crate::events::graphql::{EventsMutation, EventsQuery, EventsSubscription};
use crate::notifications::graphql::{
    NotificationsMutation, NotificationsQuery, NotificationsSubscription,
};
use crate::payments::graphql::{PaymentsMutation, PaymentsQuery};
use crate::reports::graphql::{ReportsQuery, ReportsSubscription};
use crate::reservations::graphql::{ReservationsMutation, ReservationsQuery};
use crate::seating::graphql::{SeatingMutation, SeatingQuery, SeatingSubscription};
use crate::state::AppState;
use crate::tickets::graphql::{TicketsMutation, TicketsQuery, TicketsSubscription};
use crate::waitlist::graphql::{WaitlistMutation, WaitlistQuery, WaitlistSubscription};

/// Everything a client can read.
#[derive(MergedObject, Default)]
pub struct Query(
    AuthQuery,
    EventsQuery,
    ReservationsQuery,
    PaymentsQuery,
    ReportsQuery,
    NotificationsQuery,
    SeatingQuery,
    WaitlistQuery,
    TicketsQuery,
    AuditQuery,
    AdminQuery,
    AnalyticsQuery,
);

/// Everything a client can change.
#[derive(MergedObject, Default)]
pub struct Mutation(
    AuthMutation,
    EventsMutation,
    TicketTypesMutation,
    FeedbackMutation,
    ReservationsMutation,
    PaymentsMutation,
    NotificationsMutation,
    SeatingMutation,
    WaitlistMutation,
    TicketsMutation,
    AdminMutation,
);

/// Everything a client can watch live (over WebSocket).
#[derive(MergedSubscription, Default)]
pub struct Subscription(
    ReportsSubscription,
    EventsSubscription,
    NotificationsSubscription,
    SeatingSubscription,
    WaitlistSubscription,
    TicketsSubscription,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// What the HTTP handlers see: the shared state and the schema built on it. It lives here, below
/// `app.rs`, so that the transports (`http.rs`, `ws.rs`) never import the application that
/// mounts them.
#[derive(Clone)]
pub struct ServerState {
    pub app: AppState,
    pub schema: AppSchema,
}

/// The schema, wired to the app state when serving (without it when only printing the SDL).
pub fn build_schema(state: Option<AppState>) -> AppSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .extension(ErrorShape);
    if let Some(state) = state {
        builder = builder
            .limit_depth(state.settings.max_query_depth)
            .limit_complexity(state.settings.max_query_complexity)
            .data(state);
    }
    builder.finish()
}

/// The SDL, sorted so that `schema.graphql` diffs only when the API really changes.
pub fn sdl() -> String {
    build_schema(None).sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items()
            .include_specified_by(),
    )
}
