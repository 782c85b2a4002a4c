//! Seating rules: venues and who owns them; copying a venue's seats into an event; holding
//! chosen or best-available seats without ever holding one twice; releasing and selling a
//! reservation's seats; blocking seats; the seat map.
//!
//! The guard is the database's: a seat moves to HELD only through one conditional
//! `UPDATE event_seats … WHERE status = 'AVAILABLE'` whose affected-row count must equal the
//! number of seats asked for, and CHECK constraints tie `status` to `reservation_id`. The ticket
//! type's `available` counter moves in the same transaction (reserve's conditional decrement),
//! so for a seated type `available` always equals its AVAILABLE seats, and summaries, reports
//! and `eventAvailability` need no change.

use std::collections::{HashMap, HashSet};

use entity::event_seat::{self, SeatStatus};
use entity::{event, reservation, reservation_seat, ticket_type, venue};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::layout::{self, Place, Section};
use crate::auth::{Role, Viewer};
use crate::db::{begin_write, now};
use crate::error::{AppError, AppResult};
use crate::events::input::NewTicketType;
// Paging helpers: being moved to `crate::db`; this is the only place seating imports them.
use crate::db::paging::{Page, newest_first};
use crate::live::Effects;
use crate::state::AppState;

/// Seats per INSERT: far below SQLite's and PostgreSQL's bound-parameter limits.
const INSERT_CHUNK: usize = 1_000;

// ---------------------------------------------------------------------------------------------
// Venues.
// ---------------------------------------------------------------------------------------------

pub fn sections_of(v: &venue::Model) -> AppResult<Vec<Section>> {
    serde_json::from_str(&v.layout)
        .map_err(|e| AppError::internal(anyhow::anyhow!("venue {} has a bad layout: {e}", v.id)))
}

/// Creates a venue owned by the viewer (organizers and admins).
pub async fn create_venue(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    name: &str,
    sections: Vec<Section>,
) -> AppResult<venue::Model> {
    if viewer.role == Role::User {
        return Err(AppError::Forbidden(
            "only organizers can create venues".into(),
        ));
    }
    let (name, sections, capacity) = layout::check(name, sections)?;
    let json =
        serde_json::to_string(&sections).map_err(|e| AppError::internal(anyhow::Error::from(e)))?;
    let txn = begin_write(&state.db).await?;
    let created = venue::ActiveModel {
        id: Set(Uuid::now_v7()),
        organizer_id: Set(viewer.user_id),
        name: Set(name),
        capacity: Set(capacity),
        layout: Set(json),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await?;
    let detail = serde_json::json!({ "name": created.name, "capacity": capacity });
    crate::audit::service::log(
        &txn,
        actor,
        "venue.create",
        "venue",
        created.id,
        None,
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// The viewer's venues (an admin's: all), newest first.
pub async fn list_venues(
    state: &AppState,
    viewer: &Viewer,
    first: u64,
    after: Option<&str>,
) -> AppResult<Page<venue::Model>> {
    let scope = if viewer.is_admin() {
        Condition::all()
    } else {
        Condition::all().add(venue::Column::OrganizerId.eq(viewer.user_id))
    };
    newest_first::<venue::Entity>(
        &state.db,
        scope,
        (venue::Column::CreatedAt, venue::Column::Id),
        |v| (v.created_at, v.id),
        first,
        after,
    )
    .await
}

/// A venue its owner or an admin may see; `None` for anyone else or when it does not exist.
pub async fn find_venue(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<venue::Model>> {
    Ok(venue::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|v| v.organizer_id == viewer.user_id || viewer.is_admin()))
}

// ---------------------------------------------------------------------------------------------
// An event's copy of the seats.
// ---------------------------------------------------------------------------------------------

/// Which venue sections each ticket type of a new event sells.
pub struct Plan {
    sections: Vec<Section>,
    /// Section index in the venue → ticket type index in the event.
    sold_by: HashMap<usize, usize>,
}

/// Checks the seated ticket types of a new event against its venue and fills in their
/// capacities (the number of seats in their sections). `None` for a general-admission event.
pub async fn plan(
    state: &AppState,
    viewer: &Viewer,
    venue_id: Option<Uuid>,
    types: &mut [NewTicketType],
) -> AppResult<Option<Plan>> {
    let Some(venue_id) = venue_id else {
        if let Some(t) = types.iter().find(|t| t.sections.is_some()) {
            return Err(AppError::bad_input(format!(
                "ticket type `{}` sells sections but the event has no venueId",
                t.name.trim()
            )));
        }
        return Ok(None);
    };
    let venue = find_venue(state, viewer, venue_id).await?.ok_or_else(|| {
        AppError::bad_input(format!("venueId `{venue_id}` is not one of your venues"))
    })?;
    let sections = sections_of(&venue)?;
    let index: HashMap<String, usize> = sections
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.to_lowercase(), i))
        .collect();
    let mut sold_by = HashMap::new();
    for (t_index, t) in types.iter_mut().enumerate() {
        let Some(names) = &t.sections else { continue };
        let name = t.name.trim();
        if names.is_empty() {
            return Err(AppError::bad_input(format!(
                "ticket type `{name}` must sell at least one section"
            )));
        }
        let mut seats = 0;
        for s in names {
            let i = *index.get(&s.trim().to_lowercase()).ok_or_else(|| {
                AppError::bad_input(format!(
                    "section `{}` is not in venue `{}`",
                    s.trim(),
                    venue.name
                ))
            })?;
            if sold_by.insert(i, t_index).is_some() {
                return Err(AppError::bad_input(format!(
                    "section `{}` is sold by more than one ticket type",
                    sections[i].name
                )));
            }
            seats += sections[i].rows.iter().map(|r| r.seats).sum::<i32>();
        }
        match t.capacity {
            Some(c) if c != seats => {
                return Err(AppError::bad_input(format!(
                    "capacity of `{name}` must be its {seats} seats, or be omitted"
                )));
            }
            _ => t.capacity = Some(seats),
        }
    }
    Ok(Some(Plan { sections, sold_by }))
}

impl Plan {
    /// Inserts the event's seats, in the caller's transaction. Only sections a ticket type sells
    /// are copied: a seat that nothing sells has no place on the event's map.
    pub async fn copy(
        &self,
        db: &impl ConnectionTrait,
        event_id: Uuid,
        ticket_type_ids: &[Uuid],
    ) -> AppResult<()> {
        let mut rows = Vec::new();
        for (s_index, section) in self.sections.iter().enumerate() {
            let Some(&t_index) = self.sold_by.get(&s_index) else {
                continue;
            };
            for (r_index, row) in section.rows.iter().enumerate() {
                for number in 1..=row.seats {
                    rows.push(event_seat::ActiveModel {
                        id: Set(Uuid::now_v7()),
                        event_id: Set(event_id),
                        ticket_type_id: Set(ticket_type_ids[t_index]),
                        section: Set(section.name.clone()),
                        section_index: Set(s_index as i32),
                        row_label: Set(row.label.clone()),
                        row_index: Set(r_index as i32),
                        number: Set(number),
                        label: Set(format!("{}-{number}", row.label)),
                        status: Set(SeatStatus::Available),
                        reservation_id: Set(None),
                    });
                }
            }
        }
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(INSERT_CHUNK));
            event_seat::Entity::insert_many(std::mem::replace(&mut rows, rest))
                .exec(db)
                .await?;
        }
        Ok(())
    }
}

/// Whether a ticket type sells seats (rather than general admission).
pub async fn is_seated(db: &impl ConnectionTrait, ticket_type_id: Uuid) -> AppResult<bool> {
    Ok(event_seat::Entity::find()
        .select_only()
        .column(event_seat::Column::Id)
        .filter(event_seat::Column::TicketTypeId.eq(ticket_type_id))
        .limit(1)
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .is_some())
}

// ---------------------------------------------------------------------------------------------
// Holding, releasing, selling.
// ---------------------------------------------------------------------------------------------

/// Which seats a seated reservation wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatRequest {
    /// Exactly these seats, all or nothing.
    Chosen(Vec<Uuid>),
    /// The best `quantity` adjacent seats.
    BestAvailable,
}

/// Holds the seats of a reservation just inserted in the caller's transaction, which has
/// already decremented the ticket type's `available` by `r.quantity` — that conditional UPDATE
/// also locks the ticket type's row on PostgreSQL, so best-available requests for one ticket
/// type run one at a time and each reads the seats its predecessor committed. Either way the
/// conditional UPDATE below is the guard: a seat that is not AVAILABLE is never taken.
pub async fn hold(
    db: &impl ConnectionTrait,
    r: &reservation::Model,
    ticket_type: &ticket_type::Model,
    request: &SeatRequest,
) -> AppResult<Vec<Uuid>> {
    let wanted = match request {
        SeatRequest::Chosen(ids) => {
            let found: Vec<Uuid> = event_seat::Entity::find()
                .select_only()
                .column(event_seat::Column::Id)
                .filter(event_seat::Column::Id.is_in(ids.iter().copied()))
                .filter(event_seat::Column::TicketTypeId.eq(ticket_type.id))
                .into_tuple()
                .all(db)
                .await?;
            let found: HashSet<Uuid> = found.into_iter().collect();
            if let Some(missing) = ids.iter().find(|id| !found.contains(id)) {
                return Err(AppError::bad_input(format!(
                    "seat `{missing}` is not a seat of `{}`",
                    ticket_type.name
                )));
            }
            ids.clone()
        }
        SeatRequest::BestAvailable => best_available(db, ticket_type, r.quantity)
            .await?
            .ok_or_else(|| {
                AppError::SoldOut(format!(
                    "no row of `{}` has {} adjacent free seats",
                    ticket_type.name, r.quantity
                ))
            })?,
    };
    let held = event_seat::Entity::update_many()
        .col_expr(event_seat::Column::Status, Expr::value(SeatStatus::Held))
        .col_expr(event_seat::Column::ReservationId, Expr::value(r.id))
        .filter(event_seat::Column::Id.is_in(wanted.iter().copied()))
        .filter(event_seat::Column::EventId.eq(r.event_id))
        .filter(event_seat::Column::TicketTypeId.eq(ticket_type.id))
        .filter(event_seat::Column::Status.eq(SeatStatus::Available))
        .exec(db)
        .await?;
    if held.rows_affected != wanted.len() as u64 {
        // The caller rolls back; name what someone else has (or what is blocked).
        let taken: Vec<String> = event_seat::Entity::find()
            .select_only()
            .column(event_seat::Column::Label)
            .filter(event_seat::Column::Id.is_in(wanted.iter().copied()))
            .filter(
                Condition::any()
                    .add(event_seat::Column::ReservationId.is_null())
                    .add(event_seat::Column::ReservationId.ne(r.id)),
            )
            .order_by_asc(event_seat::Column::Label)
            .into_tuple()
            .all(db)
            .await?;
        return Err(AppError::SoldOut(format!(
            "seats no longer available: {}",
            taken.join(", ")
        )));
    }
    let history = wanted.iter().map(|&seat| reservation_seat::ActiveModel {
        reservation_id: Set(r.id),
        seat_id: Set(seat),
    });
    reservation_seat::Entity::insert_many(history)
        .exec(db)
        .await?;
    Ok(wanted)
}

/// The best `quantity` adjacent free seats of a seated ticket type (see `layout::best_available`),
/// or `None` when no row has them.
pub async fn best_available(
    db: &impl ConnectionTrait,
    ticket_type: &ticket_type::Model,
    quantity: i32,
) -> AppResult<Option<Vec<Uuid>>> {
    let seats: Vec<(Uuid, i32, i32, i32, SeatStatus)> = event_seat::Entity::find()
        .select_only()
        .columns([
            event_seat::Column::Id,
            event_seat::Column::SectionIndex,
            event_seat::Column::RowIndex,
            event_seat::Column::Number,
            event_seat::Column::Status,
        ])
        .filter(event_seat::Column::TicketTypeId.eq(ticket_type.id))
        .into_tuple()
        .all(db)
        .await?;
    let places: Vec<Place<Uuid>> = seats
        .into_iter()
        .map(|(id, section_index, row_index, number, status)| Place {
            id,
            section_index,
            row_index,
            number,
            free: status == SeatStatus::Available,
        })
        .collect();
    Ok(layout::best_available(&places, quantity as usize))
}

/// For a replayed idempotency key: chosen seats must be the ones the first request held
/// (`CONFLICT` otherwise). Best-available and general admission compare by quantity only, as
/// before.
pub async fn same_seats(
    db: &impl ConnectionTrait,
    existing: &reservation::Model,
    request: Option<&SeatRequest>,
) -> AppResult<()> {
    let Some(SeatRequest::Chosen(ids)) = request else {
        return Ok(());
    };
    let held: HashSet<Uuid> = reservation_seat::Entity::find()
        .select_only()
        .column(reservation_seat::Column::SeatId)
        .filter(reservation_seat::Column::ReservationId.eq(existing.id))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    if held == ids.iter().copied().collect() {
        Ok(())
    } else {
        Err(AppError::Conflict(
            "this idempotencyKey was already used for different seats".into(),
        ))
    }
}

/// Gives a reservation's seats back (expiry, cancellation, event cancellation), in the caller's
/// transaction, which also gives the ticket type's counter back. A no-op for general admission.
pub async fn release(db: &impl ConnectionTrait, reservation_id: Uuid) -> Result<(), DbErr> {
    event_seat::Entity::update_many()
        .col_expr(
            event_seat::Column::Status,
            Expr::value(SeatStatus::Available),
        )
        .col_expr(
            event_seat::Column::ReservationId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(event_seat::Column::ReservationId.eq(reservation_id))
        .exec(db)
        .await?;
    Ok(())
}

/// HELD → SOLD for a reservation being paid, in the caller's transaction; returns the seats in
/// label order (empty for general admission), one ticket each.
pub async fn sell(db: &impl ConnectionTrait, r: &reservation::Model) -> AppResult<Vec<Uuid>> {
    let seats: Vec<Uuid> = event_seat::Entity::find()
        .select_only()
        .column(event_seat::Column::Id)
        .filter(event_seat::Column::ReservationId.eq(r.id))
        .order_by_asc(event_seat::Column::SectionIndex)
        .order_by_asc(event_seat::Column::RowIndex)
        .order_by_asc(event_seat::Column::Number)
        .into_tuple()
        .all(db)
        .await?;
    if seats.is_empty() {
        return Ok(seats);
    }
    let sold = event_seat::Entity::update_many()
        .col_expr(event_seat::Column::Status, Expr::value(SeatStatus::Sold))
        .filter(event_seat::Column::ReservationId.eq(r.id))
        .filter(event_seat::Column::Status.eq(SeatStatus::Held))
        .exec(db)
        .await?;
    if sold.rows_affected != seats.len() as u64 || seats.len() != r.quantity as usize {
        return Err(AppError::internal(anyhow::anyhow!(
            "reservation {} holds {} of its {} seats",
            r.id,
            sold.rows_affected,
            r.quantity
        )));
    }
    Ok(seats)
}

// ---------------------------------------------------------------------------------------------
// Blocking.
// ---------------------------------------------------------------------------------------------

/// Takes seats off sale (`blocked`) or puts them back, for the event's organizer or an admin.
///
/// A blocked seat leaves the ticket type's inventory: blocking `n` free seats lowers both its
/// `capacity` and its `available` by `n` (unblocking raises both), so `sold + held + available =
/// capacity` keeps holding in summaries and reports, and occupancy counts only sellable seats.
/// Seats already blocked (or already free, when unblocking) are left as they are; a HELD or SOLD
/// seat is a `CONFLICT`. The ticket type rows are locked first, in id order, as reserve locks
/// them, so the two cannot deadlock on PostgreSQL.
pub async fn block(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    event_id: Uuid,
    seat_ids: &[Uuid],
    blocked: bool,
) -> AppResult<Vec<event_seat::Model>> {
    if seat_ids.is_empty() || seat_ids.len() > 1_000 {
        return Err(AppError::bad_input("seatIds must list 1 to 1,000 seats"));
    }
    let event = event::Entity::find_by_id(event_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("event {event_id} not found")))?;
    if event.organizer_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::Forbidden(
            "only the event's organizer or an admin can block seats".into(),
        ));
    }
    let ids: Vec<Uuid> = {
        let mut seen = HashSet::new();
        seat_ids
            .iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect()
    };
    let txn = begin_write(&state.db).await?;
    let seats = event_seat::Entity::find()
        .filter(event_seat::Column::Id.is_in(ids.iter().copied()))
        .filter(event_seat::Column::EventId.eq(event.id))
        .all(&txn)
        .await?;
    if let Some(missing) = ids.iter().find(|id| !seats.iter().any(|s| s.id == **id)) {
        return Err(AppError::bad_input(format!(
            "seat `{missing}` is not a seat of this event"
        )));
    }
    let mut types: Vec<Uuid> = seats.iter().map(|s| s.ticket_type_id).collect();
    types.sort();
    types.dedup();
    ticket_type::Entity::find()
        .filter(ticket_type::Column::Id.is_in(types.iter().copied()))
        .order_by_asc(ticket_type::Column::Id)
        .lock_exclusive()
        .all(&txn)
        .await?;
    // Re-read under the locks: a hold may have landed since the first read.
    let seats = event_seat::Entity::find()
        .filter(event_seat::Column::Id.is_in(ids.iter().copied()))
        .all(&txn)
        .await?;
    let busy: Vec<&str> = seats
        .iter()
        .filter(|s| matches!(s.status, SeatStatus::Held | SeatStatus::Sold))
        .map(|s| s.label.as_str())
        .collect();
    if !busy.is_empty() {
        return Err(AppError::Conflict(format!(
            "held or sold seats cannot be blocked or unblocked: {}",
            busy.join(", ")
        )));
    }
    let (from, to) = if blocked {
        (SeatStatus::Available, SeatStatus::Blocked)
    } else {
        (SeatStatus::Blocked, SeatStatus::Available)
    };
    for t in &types {
        let moving: Vec<Uuid> = seats
            .iter()
            .filter(|s| s.ticket_type_id == *t && s.status == from)
            .map(|s| s.id)
            .collect();
        if moving.is_empty() {
            continue;
        }
        let n = moving.len() as i32;
        let changed = event_seat::Entity::update_many()
            .col_expr(event_seat::Column::Status, Expr::value(to))
            .filter(event_seat::Column::Id.is_in(moving))
            .filter(event_seat::Column::Status.eq(from))
            .exec(&txn)
            .await?;
        let delta = if blocked { -n } else { n };
        let counted = ticket_type::Entity::update_many()
            .col_expr(
                ticket_type::Column::Available,
                Expr::col(ticket_type::Column::Available).add(delta),
            )
            .col_expr(
                ticket_type::Column::Capacity,
                Expr::col(ticket_type::Column::Capacity).add(delta),
            )
            .filter(ticket_type::Column::Id.eq(*t))
            .filter(ticket_type::Column::Capacity.gt(-delta))
            .exec(&txn)
            .await?;
        if changed.rows_affected != n as u64 {
            return Err(AppError::Conflict(
                "some of these seats changed meanwhile; try again".into(),
            ));
        }
        if counted.rows_affected != 1 {
            return Err(AppError::Conflict(
                "a ticket type must keep at least one seat on sale".into(),
            ));
        }
    }
    let seats = event_seat::Entity::find()
        .filter(event_seat::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(event_seat::Column::SectionIndex)
        .order_by_asc(event_seat::Column::RowIndex)
        .order_by_asc(event_seat::Column::Number)
        .all(&txn)
        .await?;
    let action = if blocked {
        "seats.block"
    } else {
        "seats.unblock"
    };
    let labels: Vec<&str> = seats.iter().map(|s| s.label.as_str()).take(50).collect();
    let detail = serde_json::json!({ "seats": seats.len(), "labels": labels });
    crate::audit::service::log(
        &txn,
        actor,
        action,
        "event",
        event.id,
        Some(event.id),
        detail,
    )
    .await?;
    txn.commit().await?;
    state.live.announce(Effects::seats(event.id));
    Ok(seats)
}

// ---------------------------------------------------------------------------------------------
// Reading.
// ---------------------------------------------------------------------------------------------

/// Every seat of an event in map order (section, row front to back, number): one statement
/// whatever the venue's size. Empty for general admission.
pub async fn seats_of_event(
    db: &impl ConnectionTrait,
    event_id: Uuid,
) -> AppResult<Vec<event_seat::Model>> {
    Ok(event_seat::Entity::find()
        .filter(event_seat::Column::EventId.eq(event_id))
        .order_by_asc(event_seat::Column::SectionIndex)
        .order_by_asc(event_seat::Column::RowIndex)
        .order_by_asc(event_seat::Column::Number)
        .all(db)
        .await?)
}

/// The seats a reservation held or holds, even after it was cancelled or expired.
pub async fn seats_of_reservation(
    db: &impl ConnectionTrait,
    reservation_id: Uuid,
) -> AppResult<Vec<event_seat::Model>> {
    Ok(event_seat::Entity::find()
        .filter(
            event_seat::Column::Id.in_subquery(
                Query::select()
                    .column(reservation_seat::Column::SeatId)
                    .from(reservation_seat::Entity)
                    .and_where(reservation_seat::Column::ReservationId.eq(reservation_id))
                    .to_owned(),
            ),
        )
        .order_by_asc(event_seat::Column::SectionIndex)
        .order_by_asc(event_seat::Column::RowIndex)
        .order_by_asc(event_seat::Column::Number)
        .all(db)
        .await?)
}

pub async fn seat(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<event_seat::Model>> {
    Ok(event_seat::Entity::find_by_id(id).one(db).await?)
}
