//! What leaves the server as files: the data behind a ticket's PDF page and the attendee CSV,
//! the public event calendar, and the personal calendar feed with its rotating token.

use entity::calendar_token;
use entity::event::{self, EventStatus};
use entity::ticket::{self, TicketStatus};
use entity::{event_seat, event_session, ticket_type, user};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::calendar;
use super::service::{code_of, managed_event};
use super::signing::TicketSigner;
use crate::auth::Viewer;
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Everything one row of the attendee list or one PDF page shows.
pub struct TicketSheet {
    pub ticket: ticket::Model,
    pub event: event::Model,
    pub holder: user::Model,
    pub ticket_type: ticket_type::Model,
    pub seat: Option<event_seat::Model>,
}

async fn sheets(state: &AppState, tickets: Vec<ticket::Model>) -> AppResult<Vec<TicketSheet>> {
    use std::collections::HashMap;
    let ids = |f: fn(&ticket::Model) -> Uuid| tickets.iter().map(f).collect::<Vec<_>>();
    let events: HashMap<Uuid, event::Model> = event::Entity::find()
        .filter(event::Column::Id.is_in(ids(|t| t.event_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    // The holder is the reservation's user until transfers give tickets holders of their own.
    let users: HashMap<Uuid, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(ids(|t| t.user_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let types: HashMap<Uuid, ticket_type::Model> = ticket_type::Entity::find()
        .filter(ticket_type::Column::Id.is_in(ids(|t| t.ticket_type_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let seats: HashMap<Uuid, event_seat::Model> = event_seat::Entity::find()
        .filter(event_seat::Column::Id.is_in(tickets.iter().filter_map(|t| t.seat_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let missing = |what: &str, id: Uuid| {
        AppError::internal(anyhow::anyhow!("{what} {id} of a ticket is missing"))
    };
    tickets
        .into_iter()
        .map(|t| {
            Ok(TicketSheet {
                event: events
                    .get(&t.event_id)
                    .cloned()
                    .ok_or_else(|| missing("event", t.event_id))?,
                holder: users
                    .get(&t.user_id)
                    .cloned()
                    .ok_or_else(|| missing("user", t.user_id))?,
                ticket_type: types
                    .get(&t.ticket_type_id)
                    .cloned()
                    .ok_or_else(|| missing("ticket type", t.ticket_type_id))?,
                seat: t.seat_id.and_then(|s| seats.get(&s).cloned()),
                ticket: t,
            })
        })
        .collect()
}

/// What a ticket's PDF page shows.
pub fn pdf_page(signer: &TicketSigner, sheet: &TicketSheet) -> super::pdf::PdfTicket {
    super::pdf::PdfTicket {
        event_title: sheet.event.title.clone(),
        starts_at: sheet
            .event
            .starts_at
            .format("%A %e %B %Y, %H:%M UTC")
            .to_string(),
        venue: sheet.event.venue.clone(),
        ticket_type: sheet.ticket_type.name.clone(),
        seat: sheet.seat.as_ref().map(|s| s.label.clone()),
        holder: sheet
            .ticket
            .holder_name
            .clone()
            .unwrap_or_else(|| sheet.holder.username.clone()),
        code: code_of(signer, &sheet.ticket),
    }
}

/// One PDF per ticket among `ids` that `holder` still holds and that is still valid, with the
/// ticket's id, oldest code first: the booking confirmation's attachments, rendered when the
/// message is delivered. A ticket transferred or voided since the booking is left out, so a
/// late or retried message never carries a code that now admits someone else (or nobody).
pub async fn held_pdfs(
    state: &AppState,
    holder: Uuid,
    ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Vec<u8>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::Id.is_in(ids.iter().copied()))
        .filter(ticket::Column::UserId.eq(holder))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        .order_by_asc(ticket::Column::Code)
        .all(&state.db)
        .await?;
    sheets(state, tickets)
        .await?
        .iter()
        .map(|sheet| {
            let bytes = super::pdf::render(&[pdf_page(&state.tickets, sheet)])
                .map_err(AppError::internal)?;
            Ok((sheet.ticket.id, bytes))
        })
        .collect()
}

/// A ticket's printable page, for its holder, the event's organizer or an admin; anyone else
/// gets NOT_FOUND, so a ticket id reveals nothing.
pub async fn printable(
    state: &AppState,
    viewer: Option<&Viewer>,
    ticket_id: Uuid,
) -> AppResult<TicketSheet> {
    let not_found = || AppError::NotFound(format!("ticket {ticket_id} not found"));
    let viewer = viewer.ok_or_else(not_found)?;
    let t = ticket::Entity::find_by_id(ticket_id)
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    let sheet = sheets(state, vec![t]).await?.pop().ok_or_else(not_found)?;
    let allowed = sheet.ticket.user_id == viewer.user_id
        || sheet.event.organizer_id == viewer.user_id
        || viewer.is_admin();
    if !allowed {
        return Err(not_found());
    }
    Ok(sheet)
}

/// Every valid ticket of the event, oldest first, for the CSV. The organizer or an admin.
pub async fn attendee_list(
    state: &AppState,
    viewer: &Viewer,
    event_id: Uuid,
) -> AppResult<Vec<TicketSheet>> {
    managed_event(state, viewer, event_id).await?;
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        .order_by_asc(ticket::Column::CreatedAt)
        .order_by_asc(ticket::Column::Id)
        .all(&state.db)
        .await?;
    sheets(state, tickets).await
}

/// The CSV of `attendee_list`, made with a real CSV writer (quoting, embedded commas).
pub fn attendees_csv(signer: &TicketSigner, rows: &[TicketSheet]) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "ticket_id",
        "holder",
        "holder_name",
        "ticket_type",
        "seat",
        "code",
        "checked_in_at",
    ];
    w.write_record(header).map_err(AppError::internal)?;
    for r in rows {
        w.write_record([
            r.ticket.id.to_string(),
            r.holder.username.clone(),
            r.ticket.holder_name.clone().unwrap_or_default(),
            r.ticket_type.name.clone(),
            r.seat.as_ref().map(|s| s.label.clone()).unwrap_or_default(),
            code_of(signer, &r.ticket),
            r.ticket
                .checked_in_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
        ])
        .map_err(AppError::internal)?;
    }
    w.into_inner()
        .map_err(|e| AppError::internal(anyhow::anyhow!("csv: {e}")))
}

/// A published (or cancelled) event, for its public `.ics`; drafts are NOT_FOUND.
pub async fn public_event(state: &AppState, event_id: Uuid) -> AppResult<event::Model> {
    event::Entity::find_by_id(event_id)
        .one(&state.db)
        .await?
        .filter(|e| e.status != EventStatus::Draft)
        .ok_or_else(|| AppError::NotFound(format!("event {event_id} not found")))
}

/// The viewer's calendar token, made on first use.
pub async fn calendar_token(state: &AppState, viewer: &Viewer) -> AppResult<String> {
    calendar_token::Entity::insert(calendar_token::ActiveModel {
        user_id: Set(viewer.user_id),
        token: Set(crate::auth::random_token(24)),
        created_at: Set(now()),
    })
    .on_conflict(
        OnConflict::column(calendar_token::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .try_insert()
    .exec(&state.db)
    .await?;
    calendar_token::Entity::find_by_id(viewer.user_id)
        .one(&state.db)
        .await?
        .map(|t| t.token)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the calendar token vanished")))
}

/// A new calendar token; the old feed URL stops working.
pub async fn rotate_calendar_token(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
) -> AppResult<String> {
    let txn = begin_write(&state.db).await?;
    calendar_token::Entity::delete_by_id(viewer.user_id)
        .exec(&txn)
        .await?;
    let token = crate::auth::random_token(24);
    calendar_token::Entity::insert(calendar_token::ActiveModel {
        user_id: Set(viewer.user_id),
        token: Set(token.clone()),
        created_at: Set(now()),
    })
    .exec_without_returning(&txn)
    .await?;
    let detail = serde_json::Value::Null;
    crate::audit::service::log(
        &txn,
        actor,
        "calendar.rotate_token",
        "user",
        viewer.user_id,
        None,
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// Every session of a public event, soonest first, for its `.ics`: the live ones and, marked
/// cancelled, the ones called off (so calendars that imported them learn of it).
pub async fn event_entries(
    state: &AppState,
    event: event::Model,
) -> AppResult<Vec<calendar::Entry>> {
    let sessions = crate::events::schedule::of_event(&state.db, event.id).await?;
    Ok(sessions
        .into_iter()
        .map(|session| calendar::Entry {
            event: event.clone(),
            session,
        })
        .collect())
}

/// The sessions the token's owner holds valid tickets for, and those they held tickets for that
/// were cancelled (cancelling voids the tickets; the holders still need to hear of it), soonest
/// first, of events that are not drafts; NOT_FOUND for an unknown token.
pub async fn calendar_feed(state: &AppState, token: &str) -> AppResult<Vec<calendar::Entry>> {
    use std::collections::{HashMap, HashSet};
    let owner = calendar_token::Entity::find()
        .filter(calendar_token::Column::Token.eq(token))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound("no such calendar".into()))?;
    let held: Vec<(Uuid, TicketStatus)> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::TicketTypeId)
        .column(ticket::Column::Status)
        .filter(ticket::Column::UserId.eq(owner.user_id))
        .distinct()
        .into_tuple()
        .all(&state.db)
        .await?;
    let types: HashMap<Uuid, Uuid> = ticket_type::Entity::find()
        .filter(ticket_type::Column::Id.is_in(held.iter().map(|(t, _)| *t)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.session_id))
        .collect();
    let mut valid = HashSet::new();
    let mut any = HashSet::new();
    for (t, status) in &held {
        if let Some(session) = types.get(t) {
            any.insert(*session);
            if *status == TicketStatus::Valid {
                valid.insert(*session);
            }
        }
    }
    let sessions = event_session::Entity::find()
        .filter(event_session::Column::Id.is_in(any.iter().copied()))
        .order_by_asc(event_session::Column::StartsAt)
        .order_by_asc(event_session::Column::Id)
        .all(&state.db)
        .await?;
    let events: HashMap<Uuid, event::Model> = event::Entity::find()
        .filter(event::Column::Id.is_in(sessions.iter().map(|s| s.event_id)))
        .filter(event::Column::Status.ne(EventStatus::Draft))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    Ok(sessions
        .into_iter()
        .filter_map(|session| {
            let event = events.get(&session.event_id)?.clone();
            let cancelled =
                session.cancelled_at.is_some() || event.status == EventStatus::Cancelled;
            (valid.contains(&session.id) || cancelled).then_some(calendar::Entry { event, session })
        })
        .collect())
}
