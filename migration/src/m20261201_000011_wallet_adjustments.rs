//! Wallet adjustments (issue 15): an admin credits or debits a wallet, and the ledger records it
//! as a transaction of its own kind, `ADJUSTMENT`, whose `amount_cents` is signed (positive
//! credits, negative debits). Every other kind keeps `amount_cents >= 0`.
//!
//! PostgreSQL: the two CHECKs are dropped and added again. SQLite cannot change a CHECK, so the
//! table is rebuilt from its own `CREATE TABLE` text with only the two CHECKs rewritten (every
//! column, foreign key and the other CHECKs stay byte for byte), and its indexes are created again
//! from their stored definitions. The rebuild runs in one transaction with foreign keys deferred:
//! dropping the old table orphans the ledger entries, card refunds and reports that point at it,
//! and copying the rows back resolves them again before the commit checks.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const OLD_KIND: &str = r#"CHECK ("kind" IN ('TOP_UP', 'PAYMENT', 'REFUND'))"#;
const NEW_KIND: &str = r#"CHECK ("kind" IN ('TOP_UP', 'PAYMENT', 'REFUND', 'ADJUSTMENT'))"#;
const OLD_AMOUNT: &str = r#"CHECK ("amount_cents" >= 0)"#;
const NEW_AMOUNT: &str = r#"CHECK ("amount_cents" >= 0 OR "kind" = 'ADJUSTMENT')"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        change_checks(manager, &[(OLD_KIND, NEW_KIND), (OLD_AMOUNT, NEW_AMOUNT)]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Fails while adjustment rows exist: the old CHECKs cannot hold them.
        change_checks(manager, &[(NEW_KIND, OLD_KIND), (NEW_AMOUNT, OLD_AMOUNT)]).await
    }

    // SQLite's rebuild must be all or nothing, and the deferred foreign keys need one connection.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

async fn change_checks(
    manager: &SchemaManager<'_>,
    swaps: &[(&str, &str); 2],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match db.get_database_backend() {
        DbBackend::Postgres => {
            // PostgreSQL named the unnamed CHECKs of the first migration `<table>_<column>_check`;
            // the new ones get names of their own.
            let (kind, amount) = (swaps[0].1, swaps[1].1);
            let (kind_name, amount_name) = if kind == NEW_KIND {
                (
                    ["transactions_kind_check", "ck_transactions_kind"],
                    ["transactions_amount_cents_check", "ck_transactions_amount"],
                )
            } else {
                (
                    ["ck_transactions_kind", "transactions_kind_check"],
                    ["ck_transactions_amount", "transactions_amount_cents_check"],
                )
            };
            db.execute_unprepared(&format!(
                "ALTER TABLE transactions DROP CONSTRAINT {}, DROP CONSTRAINT {}, \
                 ADD CONSTRAINT {} {kind}, ADD CONSTRAINT {} {amount}",
                kind_name[0], amount_name[0], kind_name[1], amount_name[1]
            ))
            .await?;
            Ok(())
        }
        DbBackend::Sqlite => rebuild_sqlite(db, swaps).await,
        other => Err(DbErr::Migration(format!("unsupported backend {other:?}"))),
    }
}

async fn rebuild_sqlite(
    db: &(impl ConnectionTrait + ?Sized),
    swaps: &[(&str, &str); 2],
) -> Result<(), DbErr> {
    let text = |sql: &str| Statement::from_string(DbBackend::Sqlite, sql.to_owned());
    let table = db
        .query_one_raw(text(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'transactions'",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("no transactions table".into()))?
        .try_get::<String>("", "sql")?;
    let mut create = table.clone();
    for (from, to) in swaps {
        if !create.contains(from) {
            return Err(DbErr::Migration(format!(
                "transactions has no `{from}` to change: {table}"
            )));
        }
        create = create.replacen(from, to, 1);
    }
    let indexes = db
        .query_all_raw(text(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'transactions' AND sql IS NOT NULL",
        ))
        .await?
        .into_iter()
        .map(|row| row.try_get::<String>("", "sql"))
        .collect::<Result<Vec<_>, _>>()?;
    db.execute_unprepared("PRAGMA defer_foreign_keys = ON")
        .await?;
    db.execute_unprepared("CREATE TABLE transactions_rebuild AS SELECT * FROM transactions")
        .await?;
    db.execute_unprepared("DROP TABLE transactions").await?;
    db.execute_unprepared(&create).await?;
    db.execute_unprepared("INSERT INTO transactions SELECT * FROM transactions_rebuild")
        .await?;
    db.execute_unprepared("DROP TABLE transactions_rebuild")
        .await?;
    for index in indexes {
        db.execute_unprepared(&index).await?;
    }
    Ok(())
}
