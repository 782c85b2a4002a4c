//! Events and their ticket types. `ticket_types.available` is the seat counter that every hold
//! decrements with one conditional UPDATE; the CHECK constraint is the backstop that makes an
//! oversell impossible even if a code path forgot the condition.

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
    OrganizerId,
    Title,
    Description,
    Venue,
    StartsAt,
    EndsAt,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TicketTypes {
    Table,
    Id,
    EventId,
    Position,
    Name,
    PriceCents,
    Capacity,
    Available,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(pk_uuid(Events::Id))
                    .col(uuid(Events::OrganizerId))
                    .col(string_len(Events::Title, 200))
                    .col(text_null(Events::Description))
                    .col(string_len_null(Events::Venue, 200))
                    .col(timestamp_with_time_zone(Events::StartsAt))
                    .col(timestamp_with_time_zone_null(Events::EndsAt))
                    .col(string_len(Events::Status, 16))
                    .col(timestamp_with_time_zone(Events::CreatedAt))
                    .col(timestamp_with_time_zone(Events::UpdatedAt))
                    .check(Expr::col(Events::Status).is_in(["DRAFT", "PUBLISHED", "CANCELLED"]))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_events_organizer")
                            .from(Events::Table, Events::OrganizerId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;

        // The public listing filters on status and pages by (starts_at, id).
        manager
            .create_index(
                Index::create()
                    .name("idx_events_status_starts_at")
                    .table(Events::Table)
                    .col(Events::Status)
                    .col(Events::StartsAt)
                    .col(Events::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_organizer")
                    .table(Events::Table)
                    .col(Events::OrganizerId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketTypes::Table)
                    .col(pk_uuid(TicketTypes::Id))
                    .col(uuid(TicketTypes::EventId))
                    .col(integer(TicketTypes::Position))
                    .col(string_len(TicketTypes::Name, 100))
                    .col(big_integer(TicketTypes::PriceCents))
                    .col(integer(TicketTypes::Capacity))
                    .col(integer(TicketTypes::Available))
                    .check(Expr::col(TicketTypes::Available).gte(0).and(
                        Expr::col(TicketTypes::Available).lte(Expr::col(TicketTypes::Capacity)),
                    ))
                    .check(Expr::col(TicketTypes::PriceCents).gte(0))
                    .check(Expr::col(TicketTypes::Capacity).gt(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ticket_types_event")
                            .from(TicketTypes::Table, TicketTypes::EventId)
                            .to(Events::Table, Events::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_types_event")
                    .table(TicketTypes::Table)
                    .col(TicketTypes::EventId)
                    .col(TicketTypes::Position)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TicketTypes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await
    }
}
