//! GraphQL face of seating: venues, the seat map, `blockSeats` and `seatMapUpdates`.

use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use entity::event_seat::{self, SeatStatus as Status};
use entity::{ticket_type, venue};
use uuid::Uuid;

use super::layout::{Row, Section};
use super::service;
use crate::connection;
use crate::error::AppError;
use crate::events::graphql::ticket_types::{TicketType, parse_id};
use crate::graphql::context::ContextExt;
use crate::graphql::pagination::page_size;

/// A row of seats to create, numbered 1..n.
#[derive(InputObject)]
pub struct VenueRowInput {
    /// 1–20 characters, unique within its section, e.g. "A".
    label: String,
    /// Number of seats, 1 to 500.
    seats: i32,
}

/// A section of a venue to create.
#[derive(InputObject)]
pub struct VenueSectionInput {
    /// 1–100 characters, unique within the venue.
    name: String,
    /// Rows from the front to the back.
    rows: Vec<VenueRowInput>,
}

/// A new venue: at most 100,000 seats in all.
#[derive(InputObject)]
pub struct CreateVenueInput {
    /// 1–200 characters.
    name: String,
    /// At least one section.
    sections: Vec<VenueSectionInput>,
}

/// A row of a venue.
#[derive(SimpleObject)]
pub struct VenueRow {
    /// The row's label; seat labels are `label-number`.
    label: String,
    /// Seats in the row, numbered 1..n.
    seats: i32,
}

/// A section of a venue.
#[derive(SimpleObject)]
pub struct VenueSection {
    /// The section's name, unique within the venue.
    name: String,
    /// Rows from the front to the back.
    rows: Vec<VenueRow>,
}

pub struct Venue(pub venue::Model);

/// A place with numbered seats, owned by an organizer; seated events copy its seats.
#[Object]
impl Venue {
    /// Stable identifier of the venue; pass it as `venueId` when creating an event.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Name of the venue.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Seats in all sections.
    async fn capacity(&self) -> i32 {
        self.0.capacity
    }
    /// Sections in the order they were given.
    async fn sections(&self) -> async_graphql::Result<Vec<VenueSection>> {
        Ok(service::sections_of(&self.0)?
            .into_iter()
            .map(|s| VenueSection {
                name: s.name,
                rows: s
                    .rows
                    .into_iter()
                    .map(|r| VenueRow {
                        label: r.label,
                        seats: r.seats,
                    })
                    .collect(),
            })
            .collect())
    }
}

connection!(
    VenueConnection,
    VenueEdge,
    Venue,
    "A page of venues, newest first.",
    "A venue in a page, with its cursor."
);

/// Whether a seat can be bought.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "SeatStatus")]
pub enum SeatStatusGql {
    /// Free to hold.
    Available,
    /// Held by a reservation awaiting payment.
    Held,
    /// Bought.
    Sold,
    /// Taken off sale by the organizer.
    Blocked,
}

impl From<Status> for SeatStatusGql {
    fn from(s: Status) -> Self {
        match s {
            Status::Available => SeatStatusGql::Available,
            Status::Held => SeatStatusGql::Held,
            Status::Sold => SeatStatusGql::Sold,
            Status::Blocked => SeatStatusGql::Blocked,
        }
    }
}

/// One seat of a seated event. `ticket_type` is filled when already known (the map loads all
/// of an event's ticket types at once); otherwise it is loaded on demand.
pub struct Seat {
    pub seat: event_seat::Model,
    pub ticket_type: Option<ticket_type::Model>,
}

/// One seat of a seated event.
#[Object]
impl Seat {
    /// Stable identifier of the seat; hold it with `reserve(input: { seatIds })`.
    async fn id(&self) -> ID {
        ID(self.seat.id.to_string())
    }
    /// The venue section it is in.
    async fn section(&self) -> &str {
        &self.seat.section
    }
    /// The label of its row.
    async fn row(&self) -> &str {
        &self.seat.row_label
    }
    /// Its number in the row, from 1.
    async fn number(&self) -> i32 {
        self.seat.number
    }
    /// Row label and number, e.g. `A-12`.
    async fn label(&self) -> &str {
        &self.seat.label
    }
    /// Available, held, sold or blocked, right now.
    async fn status(&self) -> SeatStatusGql {
        self.seat.status.into()
    }
    /// The ticket type that sells it.
    async fn ticket_type(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TicketType>> {
        if let Some(t) = &self.ticket_type {
            return Ok(Some(TicketType(t.clone())));
        }
        Ok(ctx
            .ticket_type()
            .load_one(self.seat.ticket_type_id)
            .await?
            .map(TicketType))
    }
}

/// A row on the seat map.
#[derive(SimpleObject)]
pub struct SeatMapRow {
    /// The row's label.
    label: String,
    /// Its seats by number.
    seats: Vec<Seat>,
}

/// A section on the seat map.
#[derive(SimpleObject)]
pub struct SeatMapSection {
    /// The section's name.
    name: String,
    /// The ticket type that sells its seats.
    ticket_type: Option<TicketType>,
    /// Rows from the front to the back.
    rows: Vec<SeatMapRow>,
}

/// Every seat of a seated event with its status, by section and row.
#[derive(SimpleObject)]
pub struct SeatMap {
    /// Sections in the venue's order (those a ticket type sells).
    sections: Vec<SeatMapSection>,
}

/// Seats of an event whose status changed.
#[derive(SimpleObject)]
pub struct SeatMapUpdate {
    /// The event.
    event_id: ID,
    /// The seats that changed, with their new status.
    seats: Vec<Seat>,
}

fn with_types(
    seats: Vec<event_seat::Model>,
    types: &HashMap<Uuid, ticket_type::Model>,
) -> Vec<Seat> {
    seats
        .into_iter()
        .map(|seat| Seat {
            ticket_type: types.get(&seat.ticket_type_id).cloned(),
            seat,
        })
        .collect()
}

/// `Event.seatMap`: two statements (the seats, the ticket types) whatever the venue's size.
pub async fn seat_map(ctx: &Context<'_>, event_id: Uuid) -> async_graphql::Result<Option<SeatMap>> {
    let seats = service::seats_of_event(&ctx.state().db, event_id).await?;
    if seats.is_empty() {
        return Ok(None);
    }
    let types: HashMap<Uuid, ticket_type::Model> = ctx
        .ticket_types()
        .load_one(event_id)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let mut sections: Vec<SeatMapSection> = Vec::new();
    for seat in with_types(seats, &types) {
        let new_section = sections.last().is_none_or(|s| s.name != seat.seat.section);
        if new_section {
            sections.push(SeatMapSection {
                name: seat.seat.section.clone(),
                ticket_type: seat.ticket_type.clone().map(TicketType),
                rows: Vec::new(),
            });
        }
        let Some(section) = sections.last_mut() else {
            continue;
        };
        if section
            .rows
            .last()
            .is_none_or(|r| r.label != seat.seat.row_label)
        {
            section.rows.push(SeatMapRow {
                label: seat.seat.row_label.clone(),
                seats: Vec::new(),
            });
        }
        if let Some(row) = section.rows.last_mut() {
            row.seats.push(seat);
        }
    }
    Ok(Some(SeatMap { sections }))
}

/// `Reservation.seats`.
pub async fn reservation_seats(
    ctx: &Context<'_>,
    reservation_id: Uuid,
) -> async_graphql::Result<Vec<Seat>> {
    Ok(with_types(
        service::seats_of_reservation(&ctx.state().db, reservation_id).await?,
        &HashMap::new(),
    ))
}

/// `Ticket.seat`.
pub async fn ticket_seat(
    ctx: &Context<'_>,
    seat_id: Option<Uuid>,
) -> async_graphql::Result<Option<Seat>> {
    let Some(id) = seat_id else { return Ok(None) };
    Ok(service::seat(&ctx.state().db, id).await?.map(|seat| Seat {
        seat,
        ticket_type: None,
    }))
}

#[derive(Default)]
pub struct SeatingQuery;

#[Object]
impl SeatingQuery {
    /// The caller's venues, newest first (an admin's: every venue). Organizers and admins.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn venues(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last venue already seen.")] after: Option<String>,
    ) -> async_graphql::Result<VenueConnection> {
        let viewer = ctx.require_viewer()?;
        let page =
            service::list_venues(ctx.state(), viewer, page_size(first)?, after.as_deref()).await?;
        Ok(page.map(Venue).into())
    }

    /// One venue, for its owner or an admin; null otherwise or when it does not exist.
    async fn venue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The venue's id.")] id: ID,
    ) -> async_graphql::Result<Option<Venue>> {
        let viewer = ctx.require_viewer()?;
        Ok(
            service::find_venue(ctx.state(), viewer, parse_id(&id, "id")?)
                .await?
                .map(Venue),
        )
    }
}

#[derive(Default)]
pub struct SeatingMutation;

#[Object]
impl SeatingMutation {
    /// Creates a venue with sections, rows and seats. Organizers and admins only;
    /// `BAD_USER_INPUT` naming the offending section or row.
    async fn create_venue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The venue and its layout.")] input: CreateVenueInput,
    ) -> async_graphql::Result<Venue> {
        let viewer = ctx.require_viewer()?;
        let sections = input
            .sections
            .into_iter()
            .map(|s| Section {
                name: s.name,
                rows: s
                    .rows
                    .into_iter()
                    .map(|r| Row {
                        label: r.label,
                        seats: r.seats,
                    })
                    .collect(),
            })
            .collect();
        Ok(Venue(
            service::create_venue(ctx.state(), viewer, &ctx.actor(), &input.name, sections).await?,
        ))
    }

    /// Takes seats off sale (`blocked: true`) or puts them back, for the event's organizer or an
    /// admin. Blocked seats leave their ticket type's capacity and availability. `CONFLICT` for
    /// a held or sold seat.
    async fn block_seats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The seated event.")] event_id: ID,
        #[graphql(desc = "Seats of that event, 1 to 1,000.")] seat_ids: Vec<ID>,
        #[graphql(desc = "true to block, false to unblock.")] blocked: bool,
    ) -> async_graphql::Result<Vec<Seat>> {
        let viewer = ctx.require_viewer()?;
        let ids = seat_ids
            .iter()
            .map(|id| parse_id(id, "seatIds"))
            .collect::<Result<Vec<_>, _>>()?;
        let seats = service::block(
            ctx.state(),
            viewer,
            &ctx.actor(),
            parse_id(&event_id, "eventId")?,
            &ids,
            blocked,
        )
        .await?;
        if !blocked {
            // Unblocked seats go to the waitlist first (the sweeper would get there too).
            let mut types: Vec<uuid::Uuid> = seats.iter().map(|s| s.ticket_type_id).collect();
            types.sort();
            types.dedup();
            for t in types {
                crate::waitlist::service::offer_now(ctx.state(), t).await?;
            }
        }
        Ok(with_types(seats, &HashMap::new()))
    }
}

#[derive(Default)]
pub struct SeatingSubscription;

#[async_graphql::Subscription]
impl SeatingSubscription {
    /// A seated event's seat map, live: every seat with its status first, then (at most one
    /// message per ~100 ms) the seats whose status changed, from any instance.
    async fn seat_map_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The seated event to watch.")] event_id: ID,
    ) -> async_graphql::Result<impl futures::Stream<Item = SeatMapUpdate>> {
        use futures::StreamExt;
        let id = parse_id(&event_id, "eventId")?;
        let state = ctx.state().clone();
        if crate::events::service::find_visible(&state, ctx.viewer(), id)
            .await?
            .is_none()
        {
            return Err(AppError::NotFound(format!("event {id} not found")).into());
        }
        // Rides on the availability hub: it already coalesces "seats of event X changed" from
        // every instance into one signal per 100 ms, and carries the ticket types.
        let hub = state.live.availability.clone();
        // Subscribe before reading, so a change in between is not lost.
        let rx = hub.subscribe();
        let types: HashMap<Uuid, ticket_type::Model> = hub
            .current(id)
            .await?
            .ticket_types
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let seats = service::seats_of_event(&state.db, id).await?;
        if seats.is_empty() {
            return Err(AppError::bad_input("this event has no seat map").into());
        }
        let last: HashMap<Uuid, Status> = seats.iter().map(|s| (s.id, s.status)).collect();
        let first = SeatMapUpdate {
            event_id: ID(id.to_string()),
            seats: with_types(seats, &types),
        };
        let db = state.db.clone();
        let updates = futures::stream::unfold((rx, last), move |(mut rx, mut last)| {
            let db = db.clone();
            async move {
                loop {
                    let a = match rx.recv().await {
                        Ok(a) if a.event_id == id => a,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            continue;
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    };
                    let seats = match service::seats_of_event(&db, id).await {
                        Ok(seats) => seats,
                        Err(err) => {
                            tracing::warn!(error = ?err, "reading a seat map failed");
                            continue;
                        }
                    };
                    let changed: Vec<event_seat::Model> = seats
                        .into_iter()
                        .filter(|s| last.insert(s.id, s.status) != Some(s.status))
                        .collect();
                    if changed.is_empty() {
                        continue;
                    }
                    let types: HashMap<Uuid, ticket_type::Model> =
                        a.ticket_types.iter().map(|t| (t.id, t.clone())).collect();
                    let update = SeatMapUpdate {
                        event_id: ID(id.to_string()),
                        seats: with_types(changed, &types),
                    };
                    return Some((update, (rx, last)));
                }
            }
        });
        let stream = futures::stream::once(async move { first }).chain(updates);
        Ok(crate::metrics::counted(state.metrics.clone(), stream).boxed())
    }
}
