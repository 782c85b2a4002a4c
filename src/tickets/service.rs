//! The rules of the door: the ticket's signed code and its re-issue, who may scan and list
//! attendees, checking a code in exactly once, undoing a check-in, door staff, attendees.
//!
//! Exactly one ADMITTED per ticket is decided by the database, not by a read: one conditional
//! `UPDATE tickets SET checked_in_at = … WHERE id = … AND checked_in_at IS NULL AND …`, whose
//! affected-row count says whether this scan admitted the ticket; every other concurrent scan
//! finds the row taken and answers ALREADY_CHECKED_IN with the first time.

use chrono::{DateTime, Utc};
use entity::check_in_scan::{self, CheckInStatus};
use entity::event;
use entity::event_staff;
use entity::reservation::{self, ReservationStatus};
use entity::ticket::{self, TicketStatus};
use entity::user;
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use super::signing::{CodeClaims, TicketSigner};
use crate::auth::Viewer;
use crate::db::paging::Page;
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::pubsub::topic;
use crate::state::AppState;

/// What a scan answered (also what the `checkIns` subscription streams).
#[derive(Debug, Clone)]
pub struct Scan {
    pub record: check_in_scan::Model,
    pub ticket: Option<ticket::Model>,
    /// When the ticket was admitted: now for ADMITTED, the first time for ALREADY_CHECKED_IN.
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// The `checkIns` message on pub/sub: the stored scan's id and its check-in time.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ScanAnnouncement {
    pub event_id: Uuid,
    pub scan_id: Uuid,
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// The signed code of a ticket at its current version.
pub fn code_of(signer: &TicketSigner, t: &ticket::Model) -> String {
    signer.sign(&CodeClaims {
        ticket_id: t.id,
        event_id: t.event_id,
        version: t.code_version,
    })
}

/// Re-issues a ticket's code (e.g. on transfer): the version goes up by one, so every code
/// signed before no longer matches and scans as REVOKED. Call it inside the caller's
/// transaction; the new code is `code_of` the returned row.
pub async fn reissue_code(db: &impl ConnectionTrait, ticket_id: Uuid) -> AppResult<ticket::Model> {
    ticket::Entity::update_many()
        .col_expr(
            ticket::Column::CodeVersion,
            Expr::col(ticket::Column::CodeVersion).add(1),
        )
        .filter(ticket::Column::Id.eq(ticket_id))
        .exec(db)
        .await?;
    ticket::Entity::find_by_id(ticket_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("ticket {ticket_id} not found")))
}

async fn find_event(state: &AppState, event_id: Uuid) -> AppResult<event::Model> {
    event::Entity::find_by_id(event_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {event_id} not found")))
}

/// The event, if the viewer is its organizer or an admin.
pub async fn managed_event(
    state: &AppState,
    viewer: &Viewer,
    event_id: Uuid,
) -> AppResult<event::Model> {
    let event = find_event(state, event_id).await?;
    if event.organizer_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::Forbidden(
            "only the event's organizer or an admin can do this".into(),
        ));
    }
    Ok(event)
}

/// The event, if the viewer works its door: organizer, admin or staff.
pub async fn door_event(
    state: &AppState,
    viewer: &Viewer,
    event_id: Uuid,
) -> AppResult<event::Model> {
    let event = find_event(state, event_id).await?;
    if event.organizer_id == viewer.user_id || viewer.is_admin() {
        return Ok(event);
    }
    let staff = event_staff::Entity::find_by_id((event_id, viewer.user_id))
        .one(&state.db)
        .await?;
    if staff.is_none() {
        return Err(AppError::Forbidden(
            "only the event's organizer, an admin or its staff can do this".into(),
        ));
    }
    Ok(event)
}

/// Checks a scanned code in at `event_id`'s door, records the scan and announces it.
pub async fn check_in(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    event_id: Uuid,
    code: &str,
) -> AppResult<Scan> {
    door_event(state, viewer, event_id).await?;
    let txn = begin_write(&state.db).await?;
    let verdict = decide(&txn, &state.tickets, event_id, code, viewer.user_id).await?;
    let (status, message, ticket, checked_in_at) = verdict;
    let record = check_in_scan::Model {
        id: Uuid::now_v7(),
        event_id,
        ticket_id: ticket.as_ref().map(|t| t.id),
        scanned_by: viewer.user_id,
        status,
        message,
        at: now(),
    };
    check_in_scan::Entity::insert(check_in_scan::ActiveModel {
        id: Set(record.id),
        event_id: Set(record.event_id),
        ticket_id: Set(record.ticket_id),
        scanned_by: Set(record.scanned_by),
        status: Set(record.status),
        message: Set(record.message.clone()),
        at: Set(record.at),
    })
    .exec_without_returning(&txn)
    .await?;
    let detail = serde_json::json!({ "status": format!("{:?}", record.status), "ticketId": record.ticket_id.map(|id| id.to_string()) });
    crate::audit::service::log(
        &txn,
        actor,
        "ticket.check_in",
        "check_in_scan",
        record.id,
        Some(event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    announce(state, &record, checked_in_at);
    Ok(Scan {
        record,
        ticket,
        checked_in_at,
    })
}

type Verdict = (
    CheckInStatus,
    String,
    Option<ticket::Model>,
    Option<DateTime<Utc>>,
);

async fn decide(
    db: &impl ConnectionTrait,
    signer: &TicketSigner,
    event_id: Uuid,
    code: &str,
    by: Uuid,
) -> AppResult<Verdict> {
    use CheckInStatus::*;
    let Some(claims) = signer.verify(code) else {
        return Ok((
            Invalid,
            "the code is not a valid ticket code".into(),
            None,
            None,
        ));
    };
    let Some(t) = ticket::Entity::find_by_id(claims.ticket_id).one(db).await? else {
        return Ok((Invalid, "no such ticket".into(), None, None));
    };
    if t.event_id != event_id {
        return Ok((
            WrongEvent,
            "the ticket is for another event".into(),
            Some(t),
            None,
        ));
    }
    if t.status == TicketStatus::Void || claims.version != t.code_version {
        let why = if t.status == TicketStatus::Void {
            "the ticket was cancelled or refunded"
        } else {
            "the code was replaced by a newer one"
        };
        return Ok((Revoked, why.into(), Some(t), None));
    }
    let paid = reservation::Entity::find_by_id(t.reservation_id)
        .one(db)
        .await?
        .is_some_and(|r| r.status == ReservationStatus::Confirmed);
    if !paid {
        return Ok((
            NotValidYet,
            "the reservation is not paid".into(),
            Some(t),
            None,
        ));
    }
    let at = now();
    let admitted = ticket::Entity::update_many()
        .col_expr(ticket::Column::CheckedInAt, Expr::value(at))
        .col_expr(ticket::Column::CheckedInBy, Expr::value(by))
        .filter(ticket::Column::Id.eq(t.id))
        .filter(ticket::Column::CheckedInAt.is_null())
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        .filter(ticket::Column::CodeVersion.eq(claims.version))
        .exec(db)
        .await?
        .rows_affected
        == 1;
    // Read back what the update (ours or a concurrent one) left.
    let t = ticket::Entity::find_by_id(t.id)
        .one(db)
        .await?
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("ticket {} vanished", claims.ticket_id))
        })?;
    if admitted {
        return Ok((Admitted, "welcome".into(), Some(t), Some(at)));
    }
    match t.checked_in_at {
        Some(first) => Ok((
            AlreadyCheckedIn,
            format!("already checked in at {}", first.format("%H:%M:%S UTC")),
            Some(t),
            Some(first),
        )),
        None => Ok((Revoked, "the code was revoked".into(), Some(t), None)),
    }
}

fn announce(state: &AppState, record: &check_in_scan::Model, checked_in_at: Option<DateTime<Utc>>) {
    let message = ScanAnnouncement {
        event_id: record.event_id,
        scan_id: record.id,
        checked_in_at,
    };
    let Ok(json) = serde_json::to_string(&message) else {
        return;
    };
    let pubsub = state.live.pubsub.clone();
    tokio::spawn(async move {
        if let Err(err) = pubsub.publish(topic::CHECK_INS, json).await {
            tracing::debug!(error = %err, "publishing a check-in failed; the scan stays stored");
        }
    });
}

/// The scan an announcement names, as the subscription shows it.
pub async fn announced_scan(state: &AppState, a: &ScanAnnouncement) -> AppResult<Option<Scan>> {
    let Some(record) = check_in_scan::Entity::find_by_id(a.scan_id)
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    let ticket = match record.ticket_id {
        Some(id) => ticket::Entity::find_by_id(id).one(&state.db).await?,
        None => None,
    };
    Ok(Some(Scan {
        record,
        ticket,
        checked_in_at: a.checked_in_at,
    }))
}

/// Clears a ticket's check-in (a mistake at the door). The organizer or an admin.
pub async fn undo_check_in(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    ticket_id: Uuid,
) -> AppResult<ticket::Model> {
    let t = ticket::Entity::find_by_id(ticket_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("ticket {ticket_id} not found")))?;
    managed_event(state, viewer, t.event_id).await?;
    let txn = begin_write(&state.db).await?;
    ticket::Entity::update_many()
        .col_expr(
            ticket::Column::CheckedInAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            ticket::Column::CheckedInBy,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(ticket::Column::Id.eq(ticket_id))
        .exec(&txn)
        .await?;
    let detail = serde_json::json!({ "wasCheckedInAt": t.checked_in_at });
    crate::audit::service::log(
        &txn,
        actor,
        "ticket.undo_check_in",
        "ticket",
        ticket_id,
        Some(t.event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(ticket::Model {
        checked_in_at: None,
        checked_in_by: None,
        ..t
    })
}

async fn user_named(state: &AppState, username: &str) -> AppResult<user::Model> {
    let name = crate::auth::service::normalize_username(username)?;
    user::Entity::find()
        .filter(user::Column::Username.eq(name))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user named `{}`", username.trim())))
}

/// Lets `username` check tickets in and read attendees at the event. The organizer or an admin.
pub async fn add_staff(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    event_id: Uuid,
    username: &str,
) -> AppResult<event::Model> {
    let event = managed_event(state, viewer, event_id).await?;
    let user = user_named(state, username).await?;
    let txn = begin_write(&state.db).await?;
    event_staff::Entity::insert(event_staff::ActiveModel {
        event_id: Set(event_id),
        user_id: Set(user.id),
        created_at: Set(now()),
    })
    .on_conflict(
        OnConflict::columns([event_staff::Column::EventId, event_staff::Column::UserId])
            .do_nothing()
            .to_owned(),
    )
    .try_insert()
    .exec(&txn)
    .await?;
    let detail = serde_json::json!({ "username": user.username });
    crate::audit::service::log(
        &txn,
        actor,
        "event.add_staff",
        "user",
        user.id,
        Some(event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(event)
}

/// Takes door rights back. The organizer or an admin.
pub async fn remove_staff(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    event_id: Uuid,
    username: &str,
) -> AppResult<event::Model> {
    let event = managed_event(state, viewer, event_id).await?;
    let user = user_named(state, username).await?;
    let txn = begin_write(&state.db).await?;
    event_staff::Entity::delete_by_id((event_id, user.id))
        .exec(&txn)
        .await?;
    let detail = serde_json::json!({ "username": user.username });
    crate::audit::service::log(
        &txn,
        actor,
        "event.remove_staff",
        "user",
        user.id,
        Some(event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(event)
}

/// The valid tickets of an event whose holder's username or printed name contains `search`,
/// newest first.
pub async fn attendees(
    state: &AppState,
    viewer: &Viewer,
    event_id: Uuid,
    search: Option<&str>,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<ticket::Model>> {
    door_event(state, viewer, event_id).await?;
    let mut scope = Condition::all()
        .add(ticket::Column::EventId.eq(event_id))
        .add(ticket::Column::Status.eq(TicketStatus::Valid));
    if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", like_escape(&search.to_lowercase()));
        scope = scope.add(
            Condition::any()
                .add(
                    ticket::Column::UserId.in_subquery(
                        Query::select()
                            .column(user::Column::Id)
                            .from(user::Entity)
                            .and_where(Expr::col(user::Column::Username).like(
                                sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'),
                            ))
                            .to_owned(),
                    ),
                )
                .add(
                    Expr::expr(Func::lower(Expr::col(ticket::Column::HolderName)))
                        .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')),
                ),
        );
    }
    crate::db::paging::newest_first::<ticket::Entity>(
        &state.db,
        scope,
        (ticket::Column::CreatedAt, ticket::Column::Id),
        |t| (t.created_at, t.id),
        first,
        after,
    )
    .await
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
