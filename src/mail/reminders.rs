//! The event reminder: one e-mail per ticket holder and event, 24 hours before the start. The
//! outbox row's `dedupe_key` (`reminder:<event>:<user>`, unique) is what makes it once, however
//! many instances look and however often they restart: a second insert does nothing.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use entity::event::{self, EventStatus};
use entity::mail_outbox::{self, MailStatus};
use entity::ticket::{self, TicketStatus};
use entity::user;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use super::messages::when;
use crate::db::now;
use crate::error::AppResult;
use crate::state::AppState;

const AHEAD: i64 = 24;

/// Queues the reminders that are due; returns how many were new.
pub async fn queue_due(state: &AppState) -> AppResult<usize> {
    let at = Utc::now();
    let soon = event::Entity::find()
        .filter(event::Column::Status.eq(EventStatus::Published))
        .filter(event::Column::StartsAt.gt(at))
        .filter(event::Column::StartsAt.lte(at + Duration::hours(AHEAD)))
        .all(&state.db)
        .await?;
    let mut queued = 0;
    for e in soon {
        let tickets = ticket::Entity::find()
            .filter(ticket::Column::EventId.eq(e.id))
            .filter(ticket::Column::Status.eq(TicketStatus::Valid))
            .all(&state.db)
            .await?;
        let mut per_holder: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
        for t in tickets {
            per_holder.entry(t.user_id).or_default().push(t.code);
        }
        if per_holder.is_empty() {
            continue;
        }
        let holders = user::Entity::find()
            .filter(user::Column::Id.is_in(per_holder.keys().copied()))
            .filter(user::Column::EmailReminders.eq(true))
            .filter(user::Column::Email.is_not_null())
            .all(&state.db)
            .await?;
        for u in holders {
            let Some(address) = u.email.clone() else {
                continue;
            };
            let codes = per_holder.remove(&u.id).unwrap_or_default();
            let context = json!({
                "name": u.display_name.as_deref().unwrap_or(&u.username),
                "event": { "id": e.id, "title": e.title, "venue": e.venue, "starts_at": when(e.starts_at) },
                "tickets": codes.iter().map(|c| json!({ "code": c })).collect::<Vec<_>>(),
            });
            let row = mail_outbox::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(Some(u.id)),
                recipient: Set(address),
                template: Set("event_reminder".into()),
                context: Set(context.to_string()),
                dedupe_key: Set(Some(format!("reminder:{}:{}", e.id, u.id))),
                status: Set(MailStatus::Pending),
                attempts: Set(0),
                next_attempt_at: Set(now()),
                claimed_until: Set(None),
                claim_token: Set(None),
                last_error: Set(None),
                created_at: Set(now()),
                sent_at: Set(None),
            };
            let inserted = mail_outbox::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(mail_outbox::Column::DedupeKey)
                        .do_nothing()
                        .to_owned(),
                )
                .try_insert()
                .exec(&state.db)
                .await?;
            if matches!(inserted, sea_orm::TryInsertResult::Inserted(_)) {
                queued += 1;
            }
        }
    }
    Ok(queued)
}
