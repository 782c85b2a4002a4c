//! `adjustWallet`: an admin credits or debits a wallet; the adjustment is a ledger entry of its
//! own kind and an audit entry, and a debit never takes a wallet below zero, even racing.

use entity::transaction::{self, TransactionKind};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, admin, error_code, nodes, spawn_app, uuid};
use crate::payments::assert_ledger_invariants;

const ADJUST: &str = "mutation($user: ID!, $amount: Cents!, $reason: String!) {
  adjustWallet(userId: $user, amountCents: $amount, reason: $reason) { balanceCents } }";

const AUDIT: &str = "query { auditLog(filter: { action: \"wallet.adjust\" }) {
  edges { node { action targetType targetId requestId clientAddress detail actor { id } } } } }";

const WALLET: &str =
    "query { wallet { balanceCents transactions { edges { node { kind status amountCents } } } } }";

async fn adjust(app: &TestApp, by: &Account, user: &Account, amount: i64, reason: &str) -> Value {
    app.gql(
        Some(&by.access),
        ADJUST,
        json!({ "user": user.id, "amount": amount, "reason": reason }),
    )
    .await
}

async fn adjustments_of(app: &TestApp, who: &Account) -> Vec<transaction::Model> {
    transaction::Entity::find()
        .filter(transaction::Column::UserId.eq(uuid(&who.id)))
        .filter(transaction::Column::Kind.eq(TransactionKind::Adjustment))
        .all(&app.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_credit_and_debit_appear_in_the_ledger_and_the_audit_log() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;
    let root = admin(&app).await;

    let credit = adjust(&app, &root, &ann, 5_000, "goodwill for the late doors").await;
    let debit = adjust(&app, &root, &ann, -2_000, "duplicate goodwill").await;

    assert_eq!(
        credit["data"]["adjustWallet"]["balanceCents"], 5_000,
        "{credit:#}"
    );
    assert_eq!(
        debit["data"]["adjustWallet"]["balanceCents"], 3_000,
        "{debit:#}"
    );
    assert_eq!(app.balance(&ann).await, 3_000);
    let wallet = app.ok(Some(&ann.access), WALLET, json!({})).await;
    let kinds: Vec<(Value, Value)> = nodes(&wallet["wallet"]["transactions"])
        .iter()
        .map(|t| (t["kind"].clone(), t["amountCents"].clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (json!("ADJUSTMENT"), json!(-2_000)),
            (json!("ADJUSTMENT"), json!(5_000))
        ]
    );
    let audit = app.ok(Some(&root.access), AUDIT, json!({})).await;
    let entries = nodes(&audit["auditLog"]);
    assert_eq!(entries.len(), 2, "{audit:#}");
    let newest = &entries[0];
    assert_eq!(newest["targetType"], "wallet");
    assert_eq!(newest["targetId"], json!(ann.id));
    assert_eq!(newest["actor"]["id"], json!(root.id));
    assert!(newest["requestId"].is_string(), "{newest:#}");
    assert!(newest["clientAddress"].is_string(), "{newest:#}");
    let detail: Value = serde_json::from_str(newest["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["amountCents"], -2_000);
    assert_eq!(detail["reason"], "duplicate goodwill");
    assert_ledger_invariants(&app).await;
}

#[tokio::test]
async fn a_debit_below_zero_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;
    let root = admin(&app).await;
    adjust(&app, &root, &ann, 1_000, "opening credit").await;

    let res = adjust(&app, &root, &ann, -1_001, "too much").await;

    assert_eq!(error_code(&res), "CONFLICT", "{res:#}");
    assert_eq!(app.balance(&ann).await, 1_000);
    assert_eq!(adjustments_of(&app, &ann).await.len(), 1);
    let audit = app.ok(Some(&root.access), AUDIT, json!({})).await;
    assert_eq!(nodes(&audit["auditLog"]).len(), 1, "{audit:#}");
    assert_ledger_invariants(&app).await;
}

#[tokio::test]
async fn only_an_admin_adjusts_and_only_with_an_amount_and_a_reason() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;
    let org = app.register("org", "ORGANIZER").await;
    let root = admin(&app).await;

    let by_organizer = adjust(&app, &org, &ann, 1_000, "a gift").await;
    let by_self = adjust(&app, &ann, &ann, 1_000, "a gift to me").await;
    let zero = adjust(&app, &root, &ann, 0, "nothing").await;
    let no_reason = adjust(&app, &root, &ann, 1_000, "   ").await;

    assert_eq!(error_code(&by_organizer), "FORBIDDEN", "{by_organizer:#}");
    assert_eq!(error_code(&by_self), "FORBIDDEN", "{by_self:#}");
    assert_eq!(error_code(&zero), "BAD_USER_INPUT", "{zero:#}");
    assert_eq!(error_code(&no_reason), "BAD_USER_INPUT", "{no_reason:#}");
    assert_eq!(app.balance(&ann).await, 0);
    assert!(adjustments_of(&app, &ann).await.is_empty());
}

#[tokio::test]
async fn debits_racing_for_the_same_money_never_overdraw_the_wallet() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;
    let root = admin(&app).await;
    adjust(&app, &root, &ann, 1_000, "opening credit").await;

    let racing = (0..6).map(|i| {
        let (app, root, ann) = (&app, &root, &ann);
        async move { adjust(app, root, ann, -300, &format!("debit {i}")).await }
    });
    let results = futures::future::join_all(racing).await;

    let won = results
        .iter()
        .filter(|r| r["data"]["adjustWallet"].is_object())
        .count();
    let refused = results
        .iter()
        .filter(|r| r["errors"][0]["extensions"]["code"] == "CONFLICT")
        .count();
    assert_eq!((won, refused), (3, 3), "{results:#?}");
    assert_eq!(app.balance(&ann).await, 100);
    assert_eq!(adjustments_of(&app, &ann).await.len(), 4);
    assert_ledger_invariants(&app).await;
}

#[tokio::test]
async fn the_rebuilt_transactions_table_keeps_its_checks_indexes_and_foreign_keys() {
    use entity::transaction::TransactionStatus;
    use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, Set, Statement};
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;
    let db = &app.state.db;
    let row = |user: uuid::Uuid, kind: TransactionKind, amount: i64| transaction::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(user),
        event_id: Set(None),
        reservation_id: Set(None),
        kind: Set(kind),
        status: Set(TransactionStatus::Succeeded),
        method: Set(None),
        amount_cents: Set(amount),
        failure_reason: Set(None),
        idempotency_key: Set(None),
        success_key: Set(None),
        gateway_charge_id: Set(None),
        created_at: Set(chrono::Utc::now()),
    };

    let negative_adjustment = row(uuid(&ann.id), TransactionKind::Adjustment, -1)
        .insert(db)
        .await;
    let negative_top_up = row(uuid(&ann.id), TransactionKind::TopUp, -1)
        .insert(db)
        .await;
    let no_such_user = row(uuid::Uuid::now_v7(), TransactionKind::Adjustment, 1)
        .insert(db)
        .await;
    let unknown_kind = db
        .execute_unprepared("UPDATE transactions SET kind = 'GIFT'")
        .await;
    let orphan_entry = entity::ledger_entry::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(uuid(&ann.id)),
        transaction_id: Set(uuid::Uuid::now_v7()),
        amount_cents: Set(1),
        balance_after_cents: Set(1),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(db)
    .await;

    assert!(negative_adjustment.is_ok(), "{negative_adjustment:?}");
    assert!(negative_top_up.is_err(), "a negative TOP_UP was stored");
    assert!(no_such_user.is_err(), "the foreign key to users is gone");
    assert!(unknown_kind.is_err(), "an unknown kind was stored");
    assert!(
        orphan_entry.is_err(),
        "ledger entries lost their foreign key"
    );
    let backend = db.get_database_backend();
    if backend == DbBackend::Sqlite {
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'transactions' AND sql IS NOT NULL ORDER BY name",
            ))
            .await
            .unwrap();
        let names: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "name").unwrap())
            .collect();
        assert_eq!(
            names,
            [
                // Added by the analytics migration (000013), after the rebuild.
                "idx_transactions_analytics",
                "idx_transactions_charge",
                "idx_transactions_event_created",
                // Added by the analytics migration (000013), after the rebuild.
                "idx_transactions_kind_created",
                "idx_transactions_reservation",
                "idx_transactions_user_created",
                "ux_transactions_success_key"
            ]
        );
    }
}
