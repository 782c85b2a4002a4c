//! Feedback on an event: a rating of 1–5 stars and an optional plain-text comment, by a user who
//! holds a *paid* ticket of the event (issue 16): a valid ticket of a confirmed reservation that
//! cost money. A free RSVP does not count; a ticket cancelled or refunded is void and no longer
//! counts; a transferred ticket counts for its current holder (who attends), not for the buyer
//! who gave it away. From its start until 30 days after its end (its start when
//! it has no end); one per user and event (a unique index), editable by submitting again. The
//! rating's average, count and histogram come from one grouped query.

use chrono::Duration;
use entity::event;
use entity::feedback;
use entity::reservation::{self, ReservationStatus};
use entity::ticket::{self, TicketStatus};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

use crate::auth::Viewer;
use crate::db::now;
use crate::db::paging::{Page, newest_first};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The longest comment, in characters.
pub const MAX_COMMENT: usize = 2_000;
/// How long after the event's end feedback is accepted.
pub const FEEDBACK_DAYS: i64 = 30;

/// An event's rating: `histogram[0]` counts 1 star … `histogram[4]` 5 stars.
pub struct Rating {
    pub average: Option<f64>,
    pub count: i64,
    pub histogram: [i64; 5],
}

/// Plain text: trimmed, blank = none, no control characters but line breaks and tabs.
fn clean_comment(comment: Option<String>) -> AppResult<Option<String>> {
    let Some(c) = comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
    else {
        return Ok(None);
    };
    if c.chars().count() > MAX_COMMENT {
        return Err(AppError::bad_input(format!(
            "comment must be at most {MAX_COMMENT} characters long"
        )));
    }
    if c.chars()
        .any(|ch| ch.is_control() && !matches!(ch, '\n' | '\r' | '\t'))
    {
        return Err(AppError::bad_input("comment must be plain text"));
    }
    Ok(Some(c))
}

/// Rates an event (or changes the viewer's earlier rating of it).
pub async fn submit(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    event_id: Uuid,
    rating: i32,
    comment: Option<String>,
) -> AppResult<feedback::Model> {
    if !(1..=5).contains(&rating) {
        return Err(AppError::bad_input("rating must be between 1 and 5"));
    }
    let comment = clean_comment(comment)?;
    let ev = event::Entity::find_by_id(event_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {event_id} not found")))?;
    let holds = ticket::Entity::find()
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(ticket::Column::UserId.eq(viewer.user_id))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        .filter(
            ticket::Column::ReservationId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(reservation::Column::Id)
                    .from(reservation::Entity)
                    .and_where(reservation::Column::EventId.eq(event_id))
                    .and_where(reservation::Column::Status.eq(ReservationStatus::Confirmed))
                    .and_where(reservation::Column::AmountCents.gt(0))
                    .to_owned(),
            ),
        )
        .count(&state.db)
        .await?;
    if holds == 0 {
        return Err(AppError::Forbidden(
            "only attendees holding a paid ticket of this event can rate it".into(),
        ));
    }
    let at = now();
    let closes = ev.ends_at.unwrap_or(ev.starts_at) + Duration::days(FEEDBACK_DAYS);
    if at < ev.starts_at {
        return Err(AppError::bad_input("feedback opens when the event starts"));
    }
    if at > closes {
        return Err(AppError::bad_input(format!(
            "feedback closes {FEEDBACK_DAYS} days after the event"
        )));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    // One row per (event, user): a second submission edits the first, atomically.
    feedback::Entity::insert(feedback::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_id: Set(event_id),
        user_id: Set(viewer.user_id),
        rating: Set(rating),
        comment: Set(comment),
        created_at: Set(at),
        updated_at: Set(at),
    })
    .on_conflict(
        OnConflict::columns([feedback::Column::EventId, feedback::Column::UserId])
            .update_columns([
                feedback::Column::Rating,
                feedback::Column::Comment,
                feedback::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(&txn)
    .await?;
    let saved = feedback::Entity::find()
        .filter(feedback::Column::EventId.eq(event_id))
        .filter(feedback::Column::UserId.eq(viewer.user_id))
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("feedback vanished after upsert")))?;
    let detail = serde_json::json!({ "rating": rating });
    crate::audit::service::log(
        &txn,
        actor,
        "feedback.submit",
        "feedback",
        saved.id,
        Some(event_id),
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// The event's feedback, newest first.
pub async fn list(
    state: &AppState,
    event_id: Uuid,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<feedback::Model>> {
    newest_first::<feedback::Entity>(
        &state.db,
        Condition::all().add(feedback::Column::EventId.eq(event_id)),
        (feedback::Column::CreatedAt, feedback::Column::Id),
        |f| (f.created_at, f.id),
        first,
        after,
    )
    .await
}

/// Average, count and histogram of the event's ratings, from one grouped query.
pub async fn rating(state: &AppState, event_id: Uuid) -> AppResult<Rating> {
    let rows: Vec<(i32, i64)> = feedback::Entity::find()
        .select_only()
        .column(feedback::Column::Rating)
        .column_as(feedback::Column::Id.count(), "n")
        .filter(feedback::Column::EventId.eq(event_id))
        .group_by(feedback::Column::Rating)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut histogram = [0i64; 5];
    for (stars, n) in rows {
        if (1..=5).contains(&stars) {
            histogram[(stars - 1) as usize] = n;
        }
    }
    let count: i64 = histogram.iter().sum();
    let total: i64 = histogram
        .iter()
        .enumerate()
        .map(|(i, n)| (i as i64 + 1) * n)
        .sum();
    Ok(Rating {
        average: (count > 0).then(|| total as f64 / count as f64),
        count,
        histogram,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_plain_text_and_bounded() {
        assert_eq!(clean_comment(Some("  ".into())).unwrap(), None);
        assert_eq!(
            clean_comment(Some(" great\nshow ".into())).unwrap(),
            Some("great\nshow".into())
        );
        assert!(clean_comment(Some("x".repeat(MAX_COMMENT + 1))).is_err());
        assert!(clean_comment(Some("bell\u{7}".into())).is_err());
    }
}
