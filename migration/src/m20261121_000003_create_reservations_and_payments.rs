//! Reservations (seat holds), tickets, wallets, the ledger, payment transactions, and the sandbox
//! card gateway's own book of charges.

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
    UserId,
    EventId,
    TicketTypeId,
    Quantity,
    AmountCents,
    Status,
    ExpiresAt,
    IdempotencyKey,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    ReservationId,
    EventId,
    TicketTypeId,
    UserId,
    Code,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Wallets {
    Table,
    UserId,
    BalanceCents,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Transactions {
    Table,
    Id,
    UserId,
    EventId,
    ReservationId,
    Kind,
    Status,
    Method,
    AmountCents,
    FailureReason,
    IdempotencyKey,
    SuccessKey,
    GatewayChargeId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    UserId,
    TransactionId,
    AmountCents,
    BalanceAfterCents,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CardCharges {
    Table,
    Id,
    IdempotencyKey,
    Token,
    AmountCents,
    Status,
    CreatedAt,
    RefundedAt,
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

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: Vec<Alias>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(col);
    }
    if unique {
        stmt.unique();
    }
    manager.create_index(stmt.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Reservations::Table)
                    .col(pk_uuid(Reservations::Id))
                    .col(uuid(Reservations::UserId))
                    .col(uuid(Reservations::EventId))
                    .col(uuid(Reservations::TicketTypeId))
                    .col(integer(Reservations::Quantity))
                    .col(big_integer(Reservations::AmountCents))
                    .col(string_len(Reservations::Status, 16))
                    .col(timestamp_with_time_zone(Reservations::ExpiresAt))
                    .col(string_len_null(Reservations::IdempotencyKey, 100))
                    .col(timestamp_with_time_zone(Reservations::CreatedAt))
                    .col(timestamp_with_time_zone(Reservations::UpdatedAt))
                    .check(Expr::col(Reservations::Quantity).gt(0))
                    .check(Expr::col(Reservations::AmountCents).gte(0))
                    .check(Expr::col(Reservations::Status).is_in([
                        "PENDING",
                        "CONFIRMED",
                        "CANCELLED",
                        "EXPIRED",
                    ]))
                    .foreign_key(&mut fk(
                        "fk_reservations_user",
                        Reservations::Table,
                        Reservations::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_reservations_event",
                        Reservations::Table,
                        Reservations::EventId,
                        Events::Table,
                        Events::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_reservations_ticket_type",
                        Reservations::Table,
                        Reservations::TicketTypeId,
                        TicketTypes::Table,
                        TicketTypes::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        // Same key from the same user = same reservation (NULL keys never collide).
        index(
            manager,
            "ux_reservations_user_key",
            Reservations::Table,
            vec![Alias::new("user_id"), Alias::new("idempotency_key")],
            true,
        )
        .await?;
        // The expiry sweeper's scan, and "my reservations" newest first.
        index(
            manager,
            "idx_reservations_status_expires",
            Reservations::Table,
            vec![Alias::new("status"), Alias::new("expires_at")],
            false,
        )
        .await?;
        index(
            manager,
            "idx_reservations_user_created",
            Reservations::Table,
            vec![Alias::new("user_id"), Alias::new("created_at")],
            false,
        )
        .await?;
        index(
            manager,
            "idx_reservations_event",
            Reservations::Table,
            vec![Alias::new("event_id"), Alias::new("status")],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    .col(pk_uuid(Tickets::Id))
                    .col(uuid(Tickets::ReservationId))
                    .col(uuid(Tickets::EventId))
                    .col(uuid(Tickets::TicketTypeId))
                    .col(uuid(Tickets::UserId))
                    .col(string_len_uniq(Tickets::Code, 32))
                    .col(string_len(Tickets::Status, 16))
                    .col(timestamp_with_time_zone(Tickets::CreatedAt))
                    .check(Expr::col(Tickets::Status).is_in(["VALID", "VOID"]))
                    .foreign_key(&mut fk(
                        "fk_tickets_reservation",
                        Tickets::Table,
                        Tickets::ReservationId,
                        Reservations::Table,
                        Reservations::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_tickets_reservation",
            Tickets::Table,
            vec![Alias::new("reservation_id")],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Wallets::Table)
                    .col(uuid(Wallets::UserId).primary_key())
                    .col(big_integer(Wallets::BalanceCents))
                    .col(timestamp_with_time_zone(Wallets::UpdatedAt))
                    // The backstop: no code path can overdraw a wallet.
                    .check(Expr::col(Wallets::BalanceCents).gte(0))
                    .foreign_key(&mut fk(
                        "fk_wallets_user",
                        Wallets::Table,
                        Wallets::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Transactions::Table)
                    .col(pk_uuid(Transactions::Id))
                    .col(uuid(Transactions::UserId))
                    .col(uuid_null(Transactions::EventId))
                    .col(uuid_null(Transactions::ReservationId))
                    .col(string_len(Transactions::Kind, 16))
                    .col(string_len(Transactions::Status, 16))
                    .col(string_len_null(Transactions::Method, 16))
                    .col(big_integer(Transactions::AmountCents))
                    .col(string_len_null(Transactions::FailureReason, 500))
                    .col(string_len_null(Transactions::IdempotencyKey, 100))
                    // Set only on SUCCEEDED rows; unique per user and kind, so one key can never
                    // succeed twice (a refund uses "refund:<reservation>", so one refund each).
                    .col(string_len_null(Transactions::SuccessKey, 150))
                    .col(uuid_null(Transactions::GatewayChargeId))
                    .col(timestamp_with_time_zone(Transactions::CreatedAt))
                    .check(Expr::col(Transactions::Kind).is_in(["TOP_UP", "PAYMENT", "REFUND"]))
                    .check(Expr::col(Transactions::Status).is_in(["SUCCEEDED", "FAILED"]))
                    .check(Expr::col(Transactions::AmountCents).gte(0))
                    .foreign_key(&mut fk(
                        "fk_transactions_user",
                        Transactions::Table,
                        Transactions::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_transactions_success_key",
            Transactions::Table,
            vec![
                Alias::new("user_id"),
                Alias::new("kind"),
                Alias::new("success_key"),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "idx_transactions_event_created",
            Transactions::Table,
            vec![
                Alias::new("event_id"),
                Alias::new("created_at"),
                Alias::new("id"),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "idx_transactions_user_created",
            Transactions::Table,
            vec![
                Alias::new("user_id"),
                Alias::new("created_at"),
                Alias::new("id"),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "idx_transactions_reservation",
            Transactions::Table,
            vec![Alias::new("reservation_id")],
            false,
        )
        .await?;
        index(
            manager,
            "idx_transactions_charge",
            Transactions::Table,
            vec![Alias::new("gateway_charge_id")],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(LedgerEntries::Table)
                    .col(pk_uuid(LedgerEntries::Id))
                    .col(uuid(LedgerEntries::UserId))
                    .col(uuid(LedgerEntries::TransactionId))
                    .col(big_integer(LedgerEntries::AmountCents))
                    .col(big_integer(LedgerEntries::BalanceAfterCents))
                    .col(timestamp_with_time_zone(LedgerEntries::CreatedAt))
                    .check(Expr::col(LedgerEntries::BalanceAfterCents).gte(0))
                    .foreign_key(&mut fk(
                        "fk_ledger_user",
                        LedgerEntries::Table,
                        LedgerEntries::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_ledger_transaction",
                        LedgerEntries::Table,
                        LedgerEntries::TransactionId,
                        Transactions::Table,
                        Transactions::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_ledger_user",
            LedgerEntries::Table,
            vec![Alias::new("user_id"), Alias::new("created_at")],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CardCharges::Table)
                    .col(pk_uuid(CardCharges::Id))
                    .col(string_len_uniq(CardCharges::IdempotencyKey, 200))
                    .col(string_len(CardCharges::Token, 64))
                    .col(big_integer(CardCharges::AmountCents))
                    .col(string_len(CardCharges::Status, 16))
                    .col(timestamp_with_time_zone(CardCharges::CreatedAt))
                    .col(timestamp_with_time_zone_null(CardCharges::RefundedAt))
                    .check(Expr::col(CardCharges::Status).is_in(["SUCCEEDED", "REFUNDED"]))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_card_charges_status",
            CardCharges::Table,
            vec![Alias::new("status"), Alias::new("created_at")],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CardCharges::Table.into_iden(),
            LedgerEntries::Table.into_iden(),
            Transactions::Table.into_iden(),
            Wallets::Table.into_iden(),
            Tickets::Table.into_iden(),
            Reservations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
