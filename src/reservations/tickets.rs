//! Tickets after the sale: the tickets a user holds, the name printed on one, and passing one
//! to someone else (a new code; the old one stops working).

use entity::event::{self, EventStatus};
use entity::notification::NotificationKind;
use entity::ticket::{self, TicketStatus};
use entity::ticket_transfer;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::service::lock_event;
use crate::auth::Viewer;
use crate::db::paging::{Page, newest_first};
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::live::Effects;
use crate::state::AppState;

/// The longest name printed on a ticket.
pub const MAX_HOLDER_NAME: usize = 200;

/// Tickets the viewer holds (bought, or received by transfer), newest first.
pub async fn list_held(
    state: &AppState,
    viewer: &Viewer,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<ticket::Model>> {
    newest_first::<ticket::Entity>(
        &state.db,
        Condition::all().add(ticket::Column::UserId.eq(viewer.user_id)),
        (ticket::Column::CreatedAt, ticket::Column::Id),
        |t| (t.created_at, t.id),
        first,
        after,
    )
    .await
}

/// A ticket its holder may act on; any other caller gets `NOT_FOUND` (a ticket's existence is
/// not revealed to strangers).
async fn held(state: &AppState, viewer: &Viewer, id: Uuid) -> AppResult<ticket::Model> {
    ticket::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|t| t.user_id == viewer.user_id)
        .ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))
}

/// Passes a valid ticket from its holder to `to_username`, before the event starts and before
/// check-in, when the organizer allows transfers. The ticket gets a new code at once (the old one admits nobody),
/// the printed name is cleared for the new holder to set, and both are notified. The conditional
/// UPDATE (`user_id` still the holder, still VALID) decides, so two racing transfers of one
/// ticket cannot both succeed.
pub async fn transfer(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
    to_username: &str,
) -> AppResult<ticket::Model> {
    let t = held(state, viewer, id).await?;
    let name = crate::auth::service::normalize_username(to_username)
        .map_err(|_| AppError::bad_input("toUsername is not a valid username"))?;
    let to = crate::auth::service::find_by_username(&state.db, &name)
        .await?
        .ok_or_else(|| AppError::bad_input(format!("no user is called `{name}`")))?;
    if to.id == viewer.user_id {
        return Err(AppError::bad_input("you already hold this ticket"));
    }
    let from = entity::user::Entity::find_by_id(viewer.user_id)
        .one(&state.db)
        .await?
        .map_or_else(|| "another user".to_string(), |u| u.username);
    let txn = begin_write(&state.db).await?;
    // Shared lock: a cancelEvent cannot slip in between (it would void the ticket).
    let ev = lock_event(&txn, t.event_id).await?;
    transferable(&ev)?;
    let done = ticket::Entity::update_many()
        .col_expr(ticket::Column::UserId, Expr::value(to.id))
        .col_expr(
            ticket::Column::HolderName,
            Expr::value(Option::<String>::None),
        )
        .filter(ticket::Column::Id.eq(t.id))
        .filter(ticket::Column::UserId.eq(viewer.user_id))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        // Before check-in only: a ticket that got someone in is spent.
        .filter(ticket::Column::CheckedInAt.is_null())
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        let current = ticket::Entity::find_by_id(t.id).one(&txn).await?;
        return Err(if current.is_some_and(|c| c.checked_in_at.is_some()) {
            AppError::Conflict("this ticket was already used at the door".into())
        } else {
            AppError::Conflict(
                "this ticket is no longer yours to transfer, or no longer valid".into(),
            )
        });
    }
    // A new version of the signed code: the old one scans REVOKED.
    let old_code = crate::tickets::service::code_of(&state.tickets, &t);
    crate::tickets::service::reissue_code(&txn, t.id).await?;
    ticket_transfer::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_id: Set(t.id),
        from_user_id: Set(viewer.user_id),
        to_user_id: Set(to.id),
        old_code: Set(old_code),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await?;
    let notify = |user, message: String| {
        crate::notifications::service::notify(
            &txn,
            user,
            NotificationKind::TicketTransferred,
            message,
            Some(t.reservation_id),
            Some(ev.id),
        )
    };
    let given = notify(
        viewer.user_id,
        format!(
            "You transferred a ticket for {} to {}; its old code no longer admits anyone.",
            ev.title, to.username
        ),
    )
    .await?;
    let received = notify(
        to.id,
        format!(
            "You received a ticket for {} from {}. It is in your tickets.",
            ev.title, from
        ),
    )
    .await?;
    let updated = ticket::Entity::find_by_id(t.id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))?;
    let detail = serde_json::json!({ "to": to.username, "toUserId": to.id.to_string() });
    crate::audit::service::log(
        &txn,
        actor,
        "ticket.transfer",
        "ticket",
        t.id,
        Some(t.event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    state.live.announce(Effects {
        notifications: vec![given, received],
        ..Default::default()
    });
    Ok(updated)
}

/// Whether tickets of the event may change hands now.
fn transferable(ev: &event::Model) -> AppResult<()> {
    if ev.status == EventStatus::Cancelled {
        return Err(AppError::Conflict("the event was cancelled".into()));
    }
    if ev.starts_at <= now() {
        return Err(AppError::Conflict(
            "the event has started; its tickets can no longer be transferred".into(),
        ));
    }
    if !ev.allow_transfers {
        return Err(AppError::Forbidden(
            "the organizer does not allow ticket transfers for this event".into(),
        ));
    }
    Ok(())
}

/// Sets the name printed on a ticket (its holder).
pub async fn set_holder_name(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    id: Uuid,
    name: &str,
) -> AppResult<ticket::Model> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_HOLDER_NAME {
        return Err(AppError::bad_input(format!(
            "name must be 1 to {MAX_HOLDER_NAME} characters"
        )));
    }
    let t = held(state, viewer, id).await?;
    let txn = begin_write(&state.db).await?;
    let done = ticket::Entity::update_many()
        .col_expr(ticket::Column::HolderName, Expr::value(name.to_string()))
        .filter(ticket::Column::Id.eq(t.id))
        .filter(ticket::Column::UserId.eq(viewer.user_id))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::NotFound(format!("ticket {id} not found")));
    }
    let detail = serde_json::json!({ "name": name });
    crate::audit::service::log(
        &txn,
        actor,
        "ticket.set_holder_name",
        "ticket",
        t.id,
        Some(t.event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(ticket::Model {
        holder_name: Some(name.to_string()),
        ..t
    })
}
