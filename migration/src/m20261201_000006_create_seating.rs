//! Seated events (issue 12): venues owned by organizers, each event's own copy of its seats, the
//! seats each reservation held, and the seat a ticket admits to.
//!
//! The guard against selling a seat twice lives here, not only in code: a seat row carries its
//! status and the reservation holding it, CHECKs keep the two consistent, and every hold is one
//! conditional `UPDATE … WHERE status = 'AVAILABLE'` whose affected-row count decides.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TicketTypes {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Reservations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    SeatId,
}

#[derive(DeriveIden)]
enum Venues {
    Table,
    Id,
    OrganizerId,
    Name,
    Capacity,
    /// Sections and rows as JSON: a layout is always read and written whole, and events copy it
    /// into `event_seats`, where seat-level state lives.
    Layout,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EventSeats {
    Table,
    Id,
    EventId,
    TicketTypeId,
    Section,
    SectionIndex,
    RowLabel,
    RowIndex,
    Number,
    Label,
    Status,
    ReservationId,
}

#[derive(DeriveIden)]
enum ReservationSeats {
    Table,
    ReservationId,
    SeatId,
}

fn fk(
    name: &str,
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from_table, from_col)
        .to(to_table, to_col)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Venues::Table)
                    .col(pk_uuid(Venues::Id))
                    .col(uuid(Venues::OrganizerId))
                    .col(string_len(Venues::Name, 200))
                    .col(integer(Venues::Capacity))
                    .col(text(Venues::Layout))
                    .col(timestamp_with_time_zone(Venues::CreatedAt))
                    .check(Expr::col(Venues::Capacity).gt(0))
                    .foreign_key(&mut fk(
                        "fk_venues_organizer",
                        Venues::Table,
                        Venues::OrganizerId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_venues_organizer_created")
                    .table(Venues::Table)
                    .col(Venues::OrganizerId)
                    .col(Venues::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EventSeats::Table)
                    .col(pk_uuid(EventSeats::Id))
                    .col(uuid(EventSeats::EventId))
                    .col(uuid(EventSeats::TicketTypeId))
                    .col(string_len(EventSeats::Section, 100))
                    .col(integer(EventSeats::SectionIndex))
                    .col(string_len(EventSeats::RowLabel, 20))
                    .col(integer(EventSeats::RowIndex))
                    .col(integer(EventSeats::Number))
                    .col(string_len(EventSeats::Label, 40))
                    .col(string_len(EventSeats::Status, 16))
                    .col(uuid_null(EventSeats::ReservationId))
                    .check(Expr::col(EventSeats::Status).is_in([
                        "AVAILABLE",
                        "HELD",
                        "SOLD",
                        "BLOCKED",
                    ]))
                    // A seat is held or sold by exactly one reservation, and free or blocked by none.
                    .check(Expr::cust(
                        "(reservation_id IS NULL) = (status IN ('AVAILABLE', 'BLOCKED'))",
                    ))
                    .check(Expr::col(EventSeats::Number).gt(0))
                    .foreign_key(&mut fk(
                        "fk_event_seats_event",
                        EventSeats::Table,
                        EventSeats::EventId,
                        Events::Table,
                        Events::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_event_seats_ticket_type",
                        EventSeats::Table,
                        EventSeats::TicketTypeId,
                        TicketTypes::Table,
                        TicketTypes::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_event_seats_reservation",
                        EventSeats::Table,
                        EventSeats::ReservationId,
                        Reservations::Table,
                        Reservations::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        // One seat per place in an event; also the seat map's order.
        manager
            .create_index(
                Index::create()
                    .name("ux_event_seats_place")
                    .table(EventSeats::Table)
                    .col(EventSeats::EventId)
                    .col(EventSeats::SectionIndex)
                    .col(EventSeats::RowIndex)
                    .col(EventSeats::Number)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Best-available scans one ticket type's seats.
        manager
            .create_index(
                Index::create()
                    .name("idx_event_seats_ticket_type")
                    .table(EventSeats::Table)
                    .col(EventSeats::TicketTypeId)
                    .col(EventSeats::Status)
                    .to_owned(),
            )
            .await?;
        // Releasing and selling a reservation's seats.
        manager
            .create_index(
                Index::create()
                    .name("idx_event_seats_reservation")
                    .table(EventSeats::Table)
                    .col(EventSeats::ReservationId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ReservationSeats::Table)
                    .col(uuid(ReservationSeats::ReservationId))
                    .col(uuid(ReservationSeats::SeatId))
                    .primary_key(
                        Index::create()
                            .col(ReservationSeats::ReservationId)
                            .col(ReservationSeats::SeatId),
                    )
                    .foreign_key(&mut fk(
                        "fk_reservation_seats_reservation",
                        ReservationSeats::Table,
                        ReservationSeats::ReservationId,
                        Reservations::Table,
                        Reservations::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_reservation_seats_seat",
                        ReservationSeats::Table,
                        ReservationSeats::SeatId,
                        EventSeats::Table,
                        EventSeats::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(uuid_null(Tickets::SeatId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .drop_column(Tickets::SeatId)
                    .to_owned(),
            )
            .await?;
        for table in [
            ReservationSeats::Table.into_iden(),
            EventSeats::Table.into_iden(),
            Venues::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
