//! Who may read an event's reports. The summary itself is computed in `summary.rs`.

use entity::event;
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The event, if the viewer manages it (its organizer or an admin).
pub async fn managed_event(
    state: &AppState,
    viewer: &Viewer,
    event_id: Uuid,
) -> AppResult<event::Model> {
    let event = event::Entity::find_by_id(event_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {event_id} not found")))?;
    if event.organizer_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::Forbidden(
            "only the event's organizer or an admin can see its reports".into(),
        ));
    }
    Ok(event)
}
