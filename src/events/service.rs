//! Event rules: who may create and change events, the DRAFT → PUBLISHED → CANCELLED lifecycle,
//! who sees what, and keyset-paged search.

use chrono::{DateTime, Utc};
use entity::event::{self, EventStatus};
use entity::ticket_type;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, QueryTrait, Set,
};
use uuid::Uuid;

pub use super::input::NewTicketType;
pub use super::schedule::NewSession;
use super::schedule::check_times;
pub use super::schedule::{MAX_CAPACITY, MAX_PRICE_CENTS, MAX_TICKET_TYPES};

use crate::auth::{Role, Viewer};
use crate::db::paging::Page;
use crate::db::{begin_write, now, truncate_micros};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub struct NewEvent {
    pub title: String,
    pub description: Option<String>,
    pub venue: Option<String>,
    /// With `ends_at` and `ticket_types`: the event's one session. Absent when `sessions` is
    /// given (one or the other, never both).
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub ticket_types: Vec<NewTicketType>,
    /// The event's sessions, each with its own ticket types.
    pub sessions: Option<Vec<NewSession>>,
    /// A venue of the organizer's: the event then gets its own copy of the venue's seats.
    pub venue_id: Option<Uuid>,
    /// Normalised by `discovery::clean_categories`.
    pub categories: Vec<String>,
}

/// Changes to an event. For the optional fields: `None` keeps, `Some(None)` clears.
#[derive(Default)]
pub struct EventChanges {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub venue: Option<Option<String>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub allow_transfers: Option<bool>,
    /// Replaces the categories.
    pub categories: Option<Vec<String>>,
}

#[derive(Default)]
pub struct EventFilter {
    pub search: Option<String>,
    pub starts_after: Option<DateTime<Utc>>,
    pub starts_before: Option<DateTime<Utc>>,
    pub only_available: bool,
    pub organizer_id: Option<Uuid>,
    pub categories: Option<Vec<String>>,
    pub min_price_cents: Option<i64>,
    pub max_price_cents: Option<i64>,
    pub venue: Option<String>,
    pub ticket_type_name: Option<String>,
}

fn clean_title(title: &str) -> AppResult<String> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(AppError::bad_input(
            "title must be 1 to 200 characters long",
        ));
    }
    Ok(title.to_string())
}

/// Blank optional text counts as absent.
fn clean_optional(value: Option<String>, field: &str, max: usize) -> AppResult<Option<String>> {
    let Some(v) = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(AppError::bad_input(format!(
            "{field} must be at most {max} characters long"
        )));
    }
    Ok(Some(v))
}

fn require_organizer(viewer: &Viewer) -> AppResult<()> {
    match viewer.role {
        Role::Organizer | Role::Admin => Ok(()),
        Role::User => Err(AppError::Forbidden(
            "only organizers can create events".into(),
        )),
    }
}

/// Creates a DRAFT event with its ticket types, owned by the viewer.
pub async fn create(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    mut input: NewEvent,
) -> AppResult<event::Model> {
    require_organizer(viewer)?;
    let mut sessions = match input.sessions {
        Some(_) if input.starts_at.is_some() || input.ends_at.is_some() => {
            return Err(AppError::bad_input(
                "give either sessions or startsAt/endsAt/ticketTypes, not both",
            ));
        }
        Some(_) if !input.ticket_types.is_empty() => {
            return Err(AppError::bad_input(
                "with sessions, ticket types belong in each session, not in ticketTypes",
            ));
        }
        Some(sessions) => {
            if sessions.is_empty() || sessions.len() > super::schedule::MAX_SESSIONS {
                return Err(AppError::bad_input(format!(
                    "an event needs 1 to {} sessions",
                    super::schedule::MAX_SESSIONS
                )));
            }
            sessions
        }
        None => vec![NewSession {
            starts_at: input
                .starts_at
                .ok_or_else(|| AppError::bad_input("startsAt is required without sessions"))?,
            ends_at: input.ends_at,
            ticket_types: std::mem::take(&mut input.ticket_types),
        }],
    };
    // Numbered seats are copied per event, so a seated event has one session.
    if input.venue_id.is_some() && sessions.len() > 1 {
        return Err(AppError::bad_input(
            "an event with a venueId (numbered seats) has exactly one session",
        ));
    }
    let seating =
        crate::seating::service::plan(state, viewer, input.venue_id, &mut sessions[0].ticket_types)
            .await?;
    if input.venue_id.is_none() {
        for s in &sessions[1..] {
            if let Some(t) = s.ticket_types.iter().find(|t| t.sections.is_some()) {
                return Err(AppError::bad_input(format!(
                    "ticket type `{}` sells sections but the event has no venueId",
                    t.name.trim()
                )));
            }
        }
    }
    let title = clean_title(&input.title)?;
    let description = clean_optional(input.description, "description", 10_000)?;
    let venue = clean_optional(input.venue, "venue", 200)?;
    let sessions = sessions
        .into_iter()
        .map(super::schedule::check)
        .collect::<AppResult<Vec<_>>>()?;
    let (starts_at, ends_at) =
        super::schedule::span(sessions.iter().map(|s| (s.starts_at, s.ends_at)))
            .ok_or_else(|| AppError::bad_input("an event needs a session"))?;
    let categories = super::discovery::clean_categories(input.categories)?;

    let at = now();
    let event_id = Uuid::now_v7();
    let txn = begin_write(&state.db).await?;
    let event = event::ActiveModel {
        id: Set(event_id),
        organizer_id: Set(viewer.user_id),
        title: Set(title),
        description: Set(description),
        venue: Set(venue),
        starts_at: Set(starts_at),
        ends_at: Set(ends_at),
        status: Set(EventStatus::Draft),
        created_at: Set(at),
        updated_at: Set(at),
        cancellation_policy: Set(None),
        allow_transfers: Set(true),
    }
    .insert(&txn)
    .await?;
    let mut position = 0;
    let mut first_types = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let (_, ids) = super::schedule::insert(&txn, event_id, session, position).await?;
        position += ids.len() as i32;
        if i == 0 {
            first_types = ids;
        }
    }
    super::discovery::set_categories(&txn, event_id, &categories).await?;
    if let Some(plan) = seating {
        plan.copy(&txn, event_id, &first_types).await?;
    }
    let detail = serde_json::json!({ "title": event.title });
    crate::audit::service::log(
        &txn,
        actor,
        "event.create",
        "event",
        event_id,
        Some(event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(event)
}

/// The event, if the viewer may change it: `NOT_FOUND` when it does not exist, `FORBIDDEN` when
/// it belongs to another organizer.
async fn owned(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<event::Model> {
    let event = event::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {id} not found")))?;
    if event.organizer_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::Forbidden(
            "only the event's organizer or an admin can change it".into(),
        ));
    }
    Ok(event)
}

pub async fn update(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
    changes: EventChanges,
) -> AppResult<event::Model> {
    let event = owned(state, viewer, id).await?;
    if event.status == EventStatus::Cancelled {
        return Err(AppError::Conflict(
            "a cancelled event cannot be changed".into(),
        ));
    }
    let mut model: event::ActiveModel = event.clone().into();
    if let Some(title) = changes.title {
        model.title = Set(clean_title(&title)?);
    }
    if let Some(description) = changes.description {
        model.description = Set(clean_optional(description, "description", 10_000)?);
    }
    if let Some(venue) = changes.venue {
        model.venue = Set(clean_optional(venue, "venue", 200)?);
    }
    let starts_at = changes
        .starts_at
        .map(truncate_micros)
        .unwrap_or(event.starts_at);
    let ends_at = match changes.ends_at {
        Some(v) => v.map(truncate_micros),
        None => event.ends_at,
    };
    let moved = changes.starts_at.is_some() || changes.ends_at.is_some();
    if moved {
        check_times(starts_at, ends_at)?;
        model.starts_at = Set(starts_at);
        model.ends_at = Set(ends_at);
    }
    if let Some(allow) = changes.allow_transfers {
        model.allow_transfers = Set(allow);
    }
    let categories = changes
        .categories
        .map(super::discovery::clean_categories)
        .transpose()?;
    model.updated_at = Set(now());
    let txn = begin_write(&state.db).await?;
    // The status condition in the UPDATE itself closes the gap between the check above and this
    // write: a cancelEvent that lands in between makes this a CONFLICT, not an edit.
    let updated = event::Entity::update(model)
        .validate()?
        .filter(event::Column::Status.ne(EventStatus::Cancelled))
        .exec(&txn)
        .await
        .map_err(|err| match err {
            sea_orm::DbErr::RecordNotUpdated => {
                AppError::Conflict("a cancelled event cannot be changed".into())
            }
            other => other.into(),
        })?;
    if let Some(categories) = categories {
        super::discovery::set_categories(&txn, id, &categories).await?;
    }
    if moved {
        super::schedule::move_single(&txn, id, starts_at, ends_at).await?;
    }
    let detail = serde_json::json!({ "title": updated.title });
    crate::audit::service::log(&txn, actor, "event.update", "event", id, Some(id), detail).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Moves an event from `from` to `to` with one conditional UPDATE, so two racing calls cannot
/// both succeed and a stale read cannot overwrite a newer status.
async fn transition(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
    from: &[EventStatus],
    to: EventStatus,
) -> AppResult<event::Model> {
    let event = owned(state, viewer, id).await?;
    if to == EventStatus::Published && event.starts_at <= Utc::now() {
        return Err(AppError::bad_input(
            "an event that has already started cannot be published",
        ));
    }
    let txn = begin_write(&state.db).await?;
    let mut effects = crate::live::Effects::default();
    let result = event::Entity::update_many()
        .col_expr(event::Column::Status, Expr::value(to))
        .col_expr(event::Column::UpdatedAt, Expr::value(now()))
        .filter(event::Column::Id.eq(id))
        .filter(event::Column::Status.is_in(from.iter().copied()))
        .exec(&txn)
        .await?;
    if result.rows_affected == 1 && to == EventStatus::Cancelled {
        // Nobody keeps a hold on, or money paid for, an event that will not happen: in the same
        // transaction as the status change, so there is no moment where it is half done.
        effects =
            crate::reservations::service::cancel_all_for_event(&txn, &state.settings, id).await?;
    }
    if result.rows_affected == 1 {
        let action = match to {
            EventStatus::Published => "event.publish",
            EventStatus::Cancelled => "event.cancel",
            EventStatus::Draft => "event.draft",
        };
        crate::audit::service::record(
            &txn,
            actor,
            crate::audit::service::Entry {
                action,
                target_type: "event",
                target_id: Some(id.to_string()),
                event_id: Some(id),
                detail: serde_json::json!({ "from": format!("{:?}", event.status), "title": event.title }),
            },
        )
        .await?;
    }
    let current = event::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {id} not found")))?;
    txn.commit().await?;
    crate::payments::refunds::announce(state, effects).await;
    if result.rows_affected == 0 {
        let now_status = match current.status {
            EventStatus::Draft => "a draft",
            EventStatus::Published => "already published",
            EventStatus::Cancelled => "cancelled",
        };
        return Err(AppError::Conflict(format!("the event is {now_status}")));
    }
    Ok(current)
}

/// Sets the event's cancellation policy (its organizer or an admin; not once cancelled). It
/// applies to every later cancellation, including of tickets bought before.
pub async fn set_cancellation_policy(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
    policy: crate::events::policy::Policy,
) -> AppResult<event::Model> {
    owned(state, viewer, id).await?;
    let policy_json = policy.to_json();
    let txn = begin_write(&state.db).await?;
    let done = event::Entity::update_many()
        .col_expr(
            event::Column::CancellationPolicy,
            Expr::value(Some(policy_json.clone())),
        )
        .col_expr(event::Column::UpdatedAt, Expr::value(now()))
        .filter(event::Column::Id.eq(id))
        .filter(event::Column::Status.ne(EventStatus::Cancelled))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::Conflict(
            "a cancelled event cannot be changed".into(),
        ));
    }
    let detail = serde_json::from_str(&policy_json).unwrap_or(serde_json::Value::Null);
    crate::audit::service::log(
        &txn,
        actor,
        "event.set_policy",
        "event",
        id,
        Some(id),
        detail,
    )
    .await?;
    let updated = event::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {id} not found")))?;
    txn.commit().await?;
    Ok(updated)
}

pub async fn publish(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
) -> AppResult<event::Model> {
    transition(
        state,
        viewer,
        actor,
        id,
        &[EventStatus::Draft],
        EventStatus::Published,
    )
    .await
}

pub async fn cancel(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
) -> AppResult<event::Model> {
    transition(
        state,
        viewer,
        actor,
        id,
        &[EventStatus::Draft, EventStatus::Published],
        EventStatus::Cancelled,
    )
    .await
}

/// What the viewer may see: the public sees published events; an organizer also sees their own
/// events in any status; an admin sees everything.
fn visible_to(viewer: Option<&Viewer>) -> Condition {
    let published = Condition::all().add(event::Column::Status.eq(EventStatus::Published));
    match viewer {
        Some(v) if v.is_admin() => Condition::all(),
        Some(v) if v.role == Role::Organizer => Condition::any()
            .add(published)
            .add(event::Column::OrganizerId.eq(v.user_id)),
        _ => published,
    }
}

/// One event, or `None` when it does not exist or the viewer may not see it.
pub async fn find_visible(
    state: &AppState,
    viewer: Option<&Viewer>,
    id: Uuid,
) -> AppResult<Option<event::Model>> {
    Ok(event::Entity::find_by_id(id)
        .filter(visible_to(viewer))
        .one(&state.db)
        .await?)
}

/// The search's words, when it has any text (`BAD_USER_INPUT` when too long or wordless).
fn search_words(filter: &EventFilter) -> AppResult<Option<Vec<String>>> {
    let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    if search.chars().count() > 100 {
        return Err(AppError::bad_input(
            "search must be at most 100 characters long",
        ));
    }
    super::ordering::terms(search).map(Some)
}

/// The events `filter` matches that the viewer may see, as one condition on `events` (the
/// calendar joins it to the sessions).
pub(super) fn matching(
    backend: sea_orm::DbBackend,
    viewer: Option<&Viewer>,
    filter: &EventFilter,
) -> AppResult<Condition> {
    filter_condition(backend, viewer, filter, search_words(filter)?.as_deref())
}

fn filter_condition(
    backend: sea_orm::DbBackend,
    viewer: Option<&Viewer>,
    filter: &EventFilter,
    words: Option<&[String]>,
) -> AppResult<Condition> {
    let mut cond = Condition::all().add(visible_to(viewer));
    if let Some(words) = words {
        // Full text, with the database's own index (`ordering::search_condition`).
        cond = cond.add(super::ordering::search_condition(backend, words));
    }
    if let Some(after) = filter.starts_after {
        cond = cond.add(event::Column::StartsAt.gte(truncate_micros(after)));
    }
    if let Some(before) = filter.starts_before {
        cond = cond.add(event::Column::StartsAt.lt(truncate_micros(before)));
    }
    if let Some(organizer) = filter.organizer_id {
        cond = cond.add(event::Column::OrganizerId.eq(organizer));
    }
    cond = cond.add(super::discovery::condition(&super::discovery::Discovery {
        categories: filter.categories.as_deref(),
        min_price_cents: filter.min_price_cents,
        max_price_cents: filter.max_price_cents,
        venue: filter.venue.as_deref(),
        ticket_type_name: filter.ticket_type_name.as_deref(),
    })?);
    if filter.only_available {
        cond = cond.add(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(ticket_type::Entity)
                .and_where(
                    Expr::col((ticket_type::Entity, ticket_type::Column::EventId))
                        .equals((event::Entity, event::Column::Id)),
                )
                .and_where(Expr::col((ticket_type::Entity, ticket_type::Column::Available)).gt(0))
                .to_owned(),
        ));
    }
    Ok(cond)
}

/// One page of the events the viewer may see that match the filter, in `order`; keyset-paged
/// (`ordering`), so pages stay exact while events are added or removed.
pub async fn list(
    state: &AppState,
    viewer: Option<&Viewer>,
    filter: &EventFilter,
    order: super::ordering::EventOrder,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<event::Model>> {
    use super::ordering::{EventOrder, Key};
    use sea_orm::{ConnectionTrait, FromQueryResult};
    let backend = state.db.get_database_backend();
    let words = search_words(filter)?;
    let cond = filter_condition(backend, viewer, filter, words.as_deref())?;
    let ordered = super::ordering::order(
        backend,
        event::Entity::find().filter(cond.clone()),
        order,
        words.as_deref(),
        after,
    )?;
    let total_count = event::Entity::find().filter(cond).count(&state.db).await? as i64;
    let rows = if first == 0 {
        Vec::new()
    } else {
        let stmt = ordered.select.limit(first + 1).build(backend);
        let mut rows = Vec::new();
        for row in state.db.query_all_raw(stmt).await? {
            let e = event::Model::from_query_result(&row, "")?;
            let key = match order {
                EventOrder::StartsAt => Key::Time(e.starts_at),
                EventOrder::Newest => Key::Time(e.created_at),
                EventOrder::Popularity => {
                    Key::Popularity(row.try_get::<i64>("", "order_key")?, ordered.asof)
                }
                EventOrder::Relevance => Key::Rank(row.try_get::<f64>("", "order_key")?),
            };
            rows.push((e, key));
        }
        rows
    };
    Ok(
        Page::from_rows(rows, first, after.is_some(), total_count, |(e, key)| {
            super::ordering::cursor(order, key, e.id)
        })
        .map(|(e, _)| e),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::schedule::check_ticket_types;

    #[test]
    fn ticket_types_are_checked() {
        let t = |name: &str, price, capacity| NewTicketType {
            name: name.into(),
            price_cents: price,
            capacity: Some(capacity),
            sections: None,
        };
        assert!(check_ticket_types(&[]).is_err());
        assert!(check_ticket_types(&[t("A", 100, 10), t("a", 100, 10)]).is_err());
        assert!(check_ticket_types(&[t("A", -1, 10)]).is_err());
        assert!(check_ticket_types(&[t("A", 100, 0)]).is_err());
        assert_eq!(
            check_ticket_types(&[t(" A ", 0, 1)]).unwrap(),
            vec!["A".to_string()]
        );
    }
}
