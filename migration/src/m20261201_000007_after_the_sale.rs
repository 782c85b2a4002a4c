//! After the sale (issue 13): a waitlist per ticket type, cancellation policies with partial
//! refunds (paid back the way the money came, card refunds settled through the gateway), and
//! tickets passed on to another holder.
//!
//! Guards that live here: one live waitlist entry per user and ticket type (a partial unique
//! index), a ticket type's count of WAITING entries that never goes negative (public `reserve`
//! only takes seats while it is 0), one offer per reservation, one settlement per card refund,
//! and a sandbox charge that is never refunded beyond what it charged.

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
    CancellationPolicy,
    AllowTransfers,
}

#[derive(DeriveIden)]
enum TicketTypes {
    Table,
    Id,
    Waiting,
}

#[derive(DeriveIden)]
enum Reservations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    HolderName,
}

#[derive(DeriveIden)]
enum Transactions {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CardCharges {
    Table,
    Id,
    RefundedCents,
}

#[derive(DeriveIden)]
enum WaitlistEntries {
    Table,
    Id,
    TicketTypeId,
    EventId,
    UserId,
    Quantity,
    Status,
    OfferReservationId,
    OfferExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TicketTransfers {
    Table,
    Id,
    TicketId,
    FromUserId,
    ToUserId,
    OldCode,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CardRefunds {
    Table,
    /// The REFUND transaction it settles.
    TransactionId,
    ChargeId,
    AmountCents,
    CreatedAt,
    SettledAt,
    Attempts,
    LastError,
}

/// The sandbox gateway's own book of (partial) refunds, keyed by the caller's refund id.
#[derive(DeriveIden)]
enum CardChargeRefunds {
    Table,
    Id,
    ChargeId,
    AmountCents,
    CreatedAt,
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
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    // JSON `{ "rules": [{ "hoursBeforeStart", "refundPercent" }], "feeCents" }`;
                    // NULL = a full refund until the start.
                    .add_column(text_null(Events::CancellationPolicy))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(boolean(Events::AllowTransfers).default(true))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TicketTypes::Table)
                    // How many entries are WAITING: public reserve takes seats only while 0.
                    .add_column(
                        integer(TicketTypes::Waiting)
                            .default(0)
                            .check(Expr::col(TicketTypes::Waiting).gte(0)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(string_len_null(Tickets::HolderName, 200))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CardCharges::Table)
                    .add_column(
                        big_integer(CardCharges::RefundedCents)
                            .default(0)
                            .check(Expr::col(CardCharges::RefundedCents).gte(0)),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WaitlistEntries::Table)
                    .col(pk_uuid(WaitlistEntries::Id))
                    .col(uuid(WaitlistEntries::TicketTypeId))
                    .col(uuid(WaitlistEntries::EventId))
                    .col(uuid(WaitlistEntries::UserId))
                    .col(integer(WaitlistEntries::Quantity))
                    .col(string_len(WaitlistEntries::Status, 16))
                    .col(uuid_null(WaitlistEntries::OfferReservationId))
                    .col(timestamp_with_time_zone_null(WaitlistEntries::OfferExpiresAt))
                    .col(timestamp_with_time_zone(WaitlistEntries::CreatedAt))
                    .col(timestamp_with_time_zone(WaitlistEntries::UpdatedAt))
                    .check(Expr::col(WaitlistEntries::Quantity).gt(0))
                    .check(Expr::col(WaitlistEntries::Status).is_in([
                        "WAITING",
                        "OFFERED",
                        "FULFILLED",
                        "EXPIRED",
                        "LEFT",
                    ]))
                    // An entry that was offered seats names the reservation holding them.
                    .check(Expr::cust(
                        "status NOT IN ('OFFERED', 'FULFILLED') OR offer_reservation_id IS NOT NULL",
                    ))
                    .foreign_key(&mut fk(
                        "fk_waitlist_ticket_type",
                        WaitlistEntries::Table,
                        WaitlistEntries::TicketTypeId,
                        TicketTypes::Table,
                        TicketTypes::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_waitlist_event",
                        WaitlistEntries::Table,
                        WaitlistEntries::EventId,
                        Events::Table,
                        Events::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_waitlist_user",
                        WaitlistEntries::Table,
                        WaitlistEntries::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_waitlist_offer",
                        WaitlistEntries::Table,
                        WaitlistEntries::OfferReservationId,
                        Reservations::Table,
                        Reservations::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        // One live entry per user and ticket type (partial unique index, both backends).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_waitlist_live ON waitlist_entries (user_id, ticket_type_id) \
                 WHERE status IN ('WAITING', 'OFFERED')",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_waitlist_offer")
                    .table(WaitlistEntries::Table)
                    .col(WaitlistEntries::OfferReservationId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The queue: a ticket type's entries by status in arrival order.
        manager
            .create_index(
                Index::create()
                    .name("idx_waitlist_queue")
                    .table(WaitlistEntries::Table)
                    .col(WaitlistEntries::TicketTypeId)
                    .col(WaitlistEntries::Status)
                    .col(WaitlistEntries::CreatedAt)
                    .col(WaitlistEntries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_waitlist_user_created")
                    .table(WaitlistEntries::Table)
                    .col(WaitlistEntries::UserId)
                    .col(WaitlistEntries::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketTransfers::Table)
                    .col(pk_uuid(TicketTransfers::Id))
                    .col(uuid(TicketTransfers::TicketId))
                    .col(uuid(TicketTransfers::FromUserId))
                    .col(uuid(TicketTransfers::ToUserId))
                    .col(string_len(TicketTransfers::OldCode, 200))
                    .col(timestamp_with_time_zone(TicketTransfers::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_ticket_transfers_ticket",
                        TicketTransfers::Table,
                        TicketTransfers::TicketId,
                        Tickets::Table,
                        Tickets::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_transfers_ticket")
                    .table(TicketTransfers::Table)
                    .col(TicketTransfers::TicketId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CardRefunds::Table)
                    .col(pk_uuid(CardRefunds::TransactionId))
                    .col(uuid(CardRefunds::ChargeId))
                    .col(big_integer(CardRefunds::AmountCents))
                    .col(timestamp_with_time_zone(CardRefunds::CreatedAt))
                    .col(timestamp_with_time_zone_null(CardRefunds::SettledAt))
                    .col(integer(CardRefunds::Attempts).default(0))
                    .col(string_len_null(CardRefunds::LastError, 500))
                    .check(Expr::col(CardRefunds::AmountCents).gt(0))
                    .foreign_key(&mut fk(
                        "fk_card_refunds_transaction",
                        CardRefunds::Table,
                        CardRefunds::TransactionId,
                        Transactions::Table,
                        Transactions::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_card_refunds_unsettled")
                    .table(CardRefunds::Table)
                    .col(CardRefunds::SettledAt)
                    .col(CardRefunds::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CardChargeRefunds::Table)
                    .col(pk_uuid(CardChargeRefunds::Id))
                    .col(uuid(CardChargeRefunds::ChargeId))
                    .col(big_integer(CardChargeRefunds::AmountCents))
                    .col(timestamp_with_time_zone(CardChargeRefunds::CreatedAt))
                    .check(Expr::col(CardChargeRefunds::AmountCents).gt(0))
                    .foreign_key(&mut fk(
                        "fk_card_charge_refunds_charge",
                        CardChargeRefunds::Table,
                        CardChargeRefunds::ChargeId,
                        CardCharges::Table,
                        CardCharges::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CardChargeRefunds::Table.into_iden(),
            CardRefunds::Table.into_iden(),
            TicketTransfers::Table.into_iden(),
            WaitlistEntries::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(CardCharges::Table)
                    .drop_column(CardCharges::RefundedCents)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .drop_column(Tickets::HolderName)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TicketTypes::Table)
                    .drop_column(TicketTypes::Waiting)
                    .to_owned(),
            )
            .await?;
        for column in [Events::AllowTransfers, Events::CancellationPolicy] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Events::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
