//! The plain-HTTP side of tickets: the verification key, a ticket's PDF, an event's attendee
//! CSV, an event's `.ics` and a user's personal calendar feed. Handlers take the `AppState`
//! and call the tickets service, like the GraphQL resolvers do.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use uuid::Uuid;

use super::{calendar, exports, pdf};
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The routes, for `app.rs` to merge.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/ticket-key", get(ticket_key))
        .route("/tickets/{file}", get(ticket_pdf))
        .route("/events/{file}", get(event_ics))
        .route("/events/{id}/attendees.csv", get(attendees_csv))
        .route("/calendar/{file}", get(calendar_feed))
}

async fn ticket_key(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.tickets.public_key(),
    )
        .into_response()
}

/// `GET /tickets/{id}.pdf`: the holder, the event's organizer or an admin; 404 for anyone else.
async fn ticket_pdf(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let id = id_with_suffix(&file, ".pdf")?;
        // A bad or missing token is a 404 as well: the URL must not say whether the ticket exists.
        let viewer = viewer(&state, &headers).await.ok().flatten();
        let sheet = exports::printable(&state, viewer.as_ref(), id).await?;
        pdf::render(&[exports::pdf_page(&state.tickets, &sheet)]).map_err(AppError::internal)
    }
    .await;
    match result {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/pdf")], bytes).into_response(),
        Err(err) => error_response(err),
    }
}

/// `GET /events/{id}/attendees.csv`: the organizer or an admin.
async fn attendees_csv(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let id = parse_uuid(&id)?;
        let viewer = viewer(&state, &headers)
            .await?
            .ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))?;
        let rows = exports::attendee_list(&state, &viewer, id).await?;
        exports::attendees_csv(&state.tickets, &rows)
    }
    .await;
    match result {
        Ok(bytes) => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response(),
        Err(err) => error_response(err),
    }
}

/// `GET /events/{id}.ics`: a published or cancelled event, for anyone.
async fn event_ics(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let result = async {
        let id = id_with_suffix(&file, ".ics")?;
        let event = exports::public_event(&state, id).await?;
        let title = event.title.clone();
        Ok(calendar::render(
            &title,
            &exports::event_entries(&state, event).await?,
        ))
    }
    .await;
    ics_response(result)
}

/// `GET /calendar/{token}.ics`: the token's owner's events.
async fn calendar_feed(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let result = async {
        let token = file
            .strip_suffix(".ics")
            .ok_or_else(|| AppError::NotFound("no such calendar".into()))?;
        let events = exports::calendar_feed(&state, token).await?;
        Ok(calendar::render("My Evenntify tickets", &events))
    }
    .await;
    ics_response(result)
}

fn ics_response(result: AppResult<String>) -> Response {
    match result {
        Ok(text) => (
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            text,
        )
            .into_response(),
        Err(err) => error_response(err),
    }
}

fn id_with_suffix(file: &str, suffix: &str) -> AppResult<Uuid> {
    file.strip_suffix(suffix)
        .ok_or_else(|| AppError::NotFound(format!("no such file `{file}`")))
        .and_then(parse_uuid)
}

fn parse_uuid(id: &str) -> AppResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| AppError::NotFound(format!("no such id `{id}`")))
}

async fn viewer(state: &AppState, headers: &HeaderMap) -> AppResult<Option<Viewer>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            AppError::Unauthenticated("Authorization must be `Bearer <accessToken>`".into())
        })?;
    crate::auth::service::authenticate(state, token)
        .await
        .map(Some)
}

/// A plain-text error with the status that matches its code; internal details are logged,
/// never sent.
fn error_response(err: AppError) -> Response {
    let status = match err.code() {
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "BAD_USER_INPUT" => StatusCode::BAD_REQUEST,
        "SERVICE_UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR || status == StatusCode::SERVICE_UNAVAILABLE {
        tracing::error!(error = ?err, "a tickets download failed");
        return (status, "internal error").into_response();
    }
    (status, err.message()).into_response()
}
