//! Money through the real server: top-ups, wallet and card payments, idempotency under races,
//! rollback after injected faults, refunds, event reports and transaction lists, and the ledger
//! invariants after a randomized run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::helpers::{
    Account, CANCEL, PAY, REPORT, RESERVATION, TOP_UP, TRANSACTIONS, TestApp, admin, available,
    error_code, error_message, id_of, new_key, nodes, register_many, reservation_row, spawn_app,
    spawn_app_with, tickets_of_reservation, transactions_of_reservation, uuid,
};
use chrono::Utc;
use entity::card_charge::{self, ChargeStatus};
use entity::ledger_entry;
use entity::reservation::{self, ReservationStatus};
use entity::ticket::{self, TicketStatus};
use entity::transaction::{self, PaymentMethod, TransactionKind, TransactionStatus};
use entity::wallet;
use evenntify::faults::Fault;
use futures::future::join_all;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Operations and helpers only this module uses (the shared ones live in `helpers`).
// ---------------------------------------------------------------------------------------------

const WALLET: &str = "query($first: Int, $after: String) { wallet { balanceCents
  transactions(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind status amountCents failureReason createdAt method reservationId eventId } } } } }";

fn cents(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not Cents: {v}"))
}

/// A payment that must succeed; returns the `PayPayload`.
fn paid(res: &Value) -> &Value {
    assert!(res.get("errors").is_none(), "pay failed: {res:#}");
    &res["data"]["pay"]
}

/// The viewer's wallet transactions, newest first (one page of up to 100).
async fn wallet_history(app: &TestApp, who: &Account) -> Vec<Value> {
    let data = app
        .ok(Some(&who.access), WALLET, json!({ "first": 100 }))
        .await;
    nodes(&data["wallet"]["transactions"])
}

/// The card charges of reservation payments (top-ups are charged to cards too: `topup:…`).
async fn card_charges(app: &TestApp) -> Vec<card_charge::Model> {
    card_charge::Entity::find()
        .filter(card_charge::Column::IdempotencyKey.starts_with("pay:"))
        .all(&app.state.db)
        .await
        .unwrap()
}

fn sorted_by_id<T, K: Ord>(mut rows: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    rows.sort_by_key(|r| key(r));
    rows
}

/// The two ledger invariants, checked on the database itself:
/// every wallet's balance is the sum of its ledger entries, and all balances together equal
/// top-ups + adjustments − wallet payments + refunds (SUCCEEDED transactions). Also: every ledger entry belongs
/// to a SUCCEEDED transaction of the same user, and each wallet-moving transaction has exactly one.
pub(crate) async fn assert_ledger_invariants(app: &TestApp) {
    let db = &app.state.db;
    let wallets = wallet::Entity::find().all(db).await.unwrap();
    let entries = ledger_entry::Entity::find().all(db).await.unwrap();
    let transactions = transaction::Entity::find().all(db).await.unwrap();

    let mut by_user: HashMap<Uuid, i64> = HashMap::new();
    for e in &entries {
        *by_user.entry(e.user_id).or_default() += e.amount_cents;
    }
    for w in &wallets {
        assert_eq!(
            w.balance_cents,
            by_user.get(&w.user_id).copied().unwrap_or(0),
            "wallet of {} differs from its ledger",
            w.user_id
        );
        assert!(w.balance_cents >= 0);
    }
    let with_wallet: HashSet<Uuid> = wallets.iter().map(|w| w.user_id).collect();
    for (user, sum) in &by_user {
        assert!(
            with_wallet.contains(user) || *sum == 0,
            "ledger entries without a wallet for {user}"
        );
    }

    let succeeded = |kind: TransactionKind| {
        transactions
            .iter()
            .filter(move |t| t.kind == kind && t.status == TransactionStatus::Succeeded)
    };
    let top_ups: i64 = succeeded(TransactionKind::TopUp)
        .map(|t| t.amount_cents)
        .sum();
    let wallet_payments: i64 = succeeded(TransactionKind::Payment)
        .filter(|t| t.method == Some(PaymentMethod::Wallet))
        .map(|t| t.amount_cents)
        .sum();
    // Card refunds go back to the card, not into a wallet.
    let refunds: i64 = succeeded(TransactionKind::Refund)
        .filter(|t| t.method == Some(PaymentMethod::Wallet))
        .map(|t| t.amount_cents)
        .sum();
    // Signed: an admin's debit is a negative adjustment.
    let adjustments: i64 = succeeded(TransactionKind::Adjustment)
        .map(|t| t.amount_cents)
        .sum();
    let total: i64 = wallets.iter().map(|w| w.balance_cents).sum();
    assert_eq!(
        total,
        top_ups + adjustments - wallet_payments + refunds,
        "balances {total} != top-ups {top_ups} + adjustments {adjustments} − wallet payments {wallet_payments} + wallet refunds {refunds}"
    );

    let by_id: HashMap<Uuid, &transaction::Model> =
        transactions.iter().map(|t| (t.id, t)).collect();
    let mut entries_per_tx: HashMap<Uuid, usize> = HashMap::new();
    for e in &entries {
        let t = by_id
            .get(&e.transaction_id)
            .unwrap_or_else(|| panic!("ledger entry {} has no transaction", e.id));
        assert_eq!(
            t.status,
            TransactionStatus::Succeeded,
            "ledger entry for a FAILED transaction: {t:?}"
        );
        assert_eq!(t.user_id, e.user_id);
        let signed = match t.kind {
            TransactionKind::Payment => -t.amount_cents,
            TransactionKind::TopUp | TransactionKind::Refund | TransactionKind::Adjustment => {
                t.amount_cents
            }
        };
        assert_eq!(e.amount_cents, signed, "ledger entry {e:?} for {t:?}");
        *entries_per_tx.entry(t.id).or_default() += 1;
    }
    for t in &transactions {
        // Top-ups, adjustments, and payments and refunds by wallet, move a wallet; card ones
        // the card.
        let moves_wallet = t.status == TransactionStatus::Succeeded
            && (matches!(t.kind, TransactionKind::TopUp | TransactionKind::Adjustment)
                || t.method == Some(PaymentMethod::Wallet));
        // (A zero amount moves nothing and needs no entry.)
        let expected = usize::from(moves_wallet && t.amount_cents != 0);
        assert_eq!(
            entries_per_tx.get(&t.id).copied().unwrap_or(0),
            expected,
            "ledger entries of {t:?}"
        );
    }
}

/// Everything a failed payment must leave exactly as it was.
#[derive(Debug, PartialEq)]
struct MoneySnapshot {
    balance: i64,
    tickets: Vec<ticket::Model>,
    succeeded: Vec<transaction::Model>,
    ledger: Vec<ledger_entry::Model>,
    wallets: Vec<wallet::Model>,
    history_succeeded: Vec<Value>,
}

impl MoneySnapshot {
    async fn take(app: &TestApp, who: &Account) -> Self {
        let db = &app.state.db;
        MoneySnapshot {
            balance: app.balance(who).await,
            tickets: sorted_by_id(ticket::Entity::find().all(db).await.unwrap(), |t| t.id),
            succeeded: sorted_by_id(
                transaction::Entity::find()
                    .filter(transaction::Column::Status.eq(TransactionStatus::Succeeded))
                    .all(db)
                    .await
                    .unwrap(),
                |t| t.id,
            ),
            ledger: sorted_by_id(ledger_entry::Entity::find().all(db).await.unwrap(), |e| {
                e.id
            }),
            wallets: sorted_by_id(wallet::Entity::find().all(db).await.unwrap(), |w| w.user_id),
            history_succeeded: wallet_history(app, who)
                .await
                .into_iter()
                .filter(|t| t["status"] == "SUCCEEDED")
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wallet payments.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_short_wallet_is_refused_with_nothing_moved_and_the_retry_after_a_top_up_succeeds() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Recital", &[("GA", 400, 10)])
        .await;
    let alice = app.register("alice", "USER").await;
    assert_eq!(app.top_up(&alice, 500).await, 500);
    let hold = app.reserved(&alice, &types[0], 2).await;
    let id = id_of(&hold);
    assert_eq!(hold["amountCents"], 800);
    let key = new_key();

    let res = app.pay(&alice, &id, &key).await;
    assert_eq!(error_code(&res), "INSUFFICIENT_FUNDS");
    assert_eq!(app.balance(&alice).await, 500, "balance unchanged");
    let seen = app
        .ok(Some(&alice.access), RESERVATION, json!({ "id": id }))
        .await;
    assert_eq!(
        seen["reservation"]["status"], "PENDING",
        "still held for a retry"
    );
    assert_eq!(seen["reservation"]["tickets"], json!([]));
    assert!(tickets_of_reservation(&app, &id).await.is_empty());
    assert_eq!(available(&app, &types[0]).await, 8);

    // The failed attempt is on record, for the buyer and for the organizer.
    let history = wallet_history(&app, &alice).await;
    assert_eq!(history.len(), 2, "{history:#?}");
    let failed = &history[0];
    assert_eq!(failed["kind"], "PAYMENT");
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["amountCents"], 800);
    assert_eq!(failed["reservationId"], id);
    assert!(
        failed["failureReason"].is_string(),
        "a FAILED transaction says why: {failed:#}"
    );
    assert_eq!(history[1]["kind"], "TOP_UP");
    let listed = app
        .ok(
            Some(&org.access),
            TRANSACTIONS,
            json!({ "id": event, "first": 10 }),
        )
        .await;
    let listed = nodes(&listed["transactions"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], failed["id"]);
    assert_eq!(listed[0]["status"], "FAILED");
    assert_eq!(listed[0]["buyer"]["username"], "alice");
    let summary = app.report(&org, &event).await;
    assert_eq!(summary["failedPayments"], 1);
    assert_eq!(summary["ticketsHeld"], 2);
    assert_eq!(summary["ticketsSold"], 0);
    assert_eq!(summary["revenueCents"], 0);
    assert_ledger_invariants(&app).await;

    // Topped up, the retry (same key) goes through.
    assert_eq!(app.top_up(&alice, 300).await, 800);
    let res = app.pay(&alice, &id, &key).await;
    let payload = paid(&res);
    assert_eq!(payload["reservation"]["status"], "CONFIRMED");
    let tx = &payload["transaction"];
    assert_eq!(tx["kind"], "PAYMENT");
    assert_eq!(tx["status"], "SUCCEEDED");
    assert_eq!(tx["method"], "WALLET");
    assert_eq!(tx["amountCents"], 800);
    assert!(tx["failureReason"].is_null());
    assert_ne!(tx["id"], failed["id"]);
    let tickets = payload["reservation"]["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2, "one ticket per seat");
    let codes: HashSet<&str> = tickets
        .iter()
        .map(|t| t["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 2, "ticket codes are unique");
    assert!(codes.iter().all(|c| c.len() >= 10), "{codes:?}");
    assert!(tickets.iter().all(|t| t["status"] == "VALID"));
    assert_eq!(app.balance(&alice).await, 0);
    assert_eq!(tickets_of_reservation(&app, &id).await.len(), 2);

    let summary = app.report(&org, &event).await;
    assert_eq!(summary["ticketsSold"], 2);
    assert_eq!(summary["ticketsHeld"], 0);
    assert_eq!(summary["revenueCents"], 800);
    assert_eq!(summary["failedPayments"], 1);
    assert_eq!(wallet_history(&app, &alice).await.len(), 4);
    assert_ledger_invariants(&app).await;
}

#[tokio::test]
async fn a_failure_injected_after_the_debit_leaves_money_tickets_and_history_untouched() {
    let app = spawn_app().await;
    let org = app.register("fay", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Faults", &[("GA", 1500, 10)])
        .await;
    let alice = app.register("alice", "USER").await;
    app.top_up(&alice, 10_000).await;
    // An earlier purchase, so there are tickets and transactions to keep intact.
    let earlier = app.hold(&alice, &types[0], 1).await;
    paid(&app.pay(&alice, &earlier, &new_key()).await);
    let hold = app.hold(&alice, &types[0], 2).await;
    let before = MoneySnapshot::take(&app, &alice).await;
    assert_eq!(before.balance, 8_500);

    app.state.faults.arm(Fault::PayAfterDebit);
    let key = new_key();
    let res = app.pay(&alice, &hold, &key).await;
    assert_eq!(error_code(&res), "INTERNAL_SERVER_ERROR");

    let after = MoneySnapshot::take(&app, &alice).await;
    assert_eq!(after.balance, before.balance, "balance");
    assert_eq!(after.tickets, before.tickets, "tickets");
    assert_eq!(after.succeeded, before.succeeded, "SUCCEEDED transactions");
    assert_eq!(after.ledger, before.ledger, "ledger entries");
    assert_eq!(after.wallets, before.wallets, "wallet rows");
    assert_eq!(
        after.history_succeeded, before.history_succeeded,
        "wallet history"
    );
    assert_eq!(
        reservation_row(&app, &hold).await.status,
        ReservationStatus::Pending
    );
    let attempts = transactions_of_reservation(&app, &hold).await;
    assert_eq!(
        attempts.len(),
        1,
        "the failed attempt is recorded: {attempts:?}"
    );
    assert_eq!(attempts[0].status, TransactionStatus::Failed);
    assert_eq!(attempts[0].kind, TransactionKind::Payment);
    assert!(attempts[0].failure_reason.is_some());
    let summary = app.report(&org, &event).await;
    assert_eq!(summary["failedPayments"], 1);
    assert_eq!(summary["ticketsSold"], 1);
    assert_eq!(summary["ticketsHeld"], 2);
    assert_eq!(summary["revenueCents"], 1500);
    assert_ledger_invariants(&app).await;

    // A client that saw the error retries with the same key, and this time it goes through, once.
    let retry = app.pay(&alice, &hold, &key).await;
    assert_eq!(paid(&retry)["reservation"]["status"], "CONFIRMED");
    assert_eq!(app.balance(&alice).await, 8_500 - 3_000);
    assert_eq!(tickets_of_reservation(&app, &hold).await.len(), 2);
    let again = app.pay(&alice, &hold, &key).await;
    assert_eq!(
        paid(&again)["transaction"]["id"],
        paid(&retry)["transaction"]["id"]
    );
    assert_eq!(app.balance(&alice).await, 5_500);
    assert_ledger_invariants(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_identical_pay_calls_charge_once_and_share_one_transaction() {
    let app = spawn_app().await;
    let org = app.register("tara", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Stampede", &[("GA", 1200, 10)])
        .await;
    let alice = app.register("alice", "USER").await;
    app.top_up(&alice, 10_000).await;
    let hold = app.hold(&alice, &types[0], 3).await;
    let key = new_key();

    let results = join_all((0..20).map(|_| app.pay(&alice, &hold, &key))).await;
    let mut tx_ids = HashSet::new();
    let mut code_sets = HashSet::new();
    for res in &results {
        let payload = paid(res);
        assert_eq!(payload["reservation"]["status"], "CONFIRMED");
        tx_ids.insert(id_of(&payload["transaction"]));
        let mut codes: Vec<String> = payload["reservation"]["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["code"].as_str().unwrap().to_string())
            .collect();
        codes.sort();
        code_sets.insert(codes);
    }
    assert_eq!(
        tx_ids.len(),
        1,
        "all 20 callers got the same transaction: {tx_ids:?}"
    );
    assert_eq!(code_sets.len(), 1, "all 20 callers saw the same tickets");

    assert_eq!(app.balance(&alice).await, 10_000 - 3_600, "charged once");
    assert_eq!(
        tickets_of_reservation(&app, &hold).await.len(),
        3,
        "one set of tickets"
    );
    let payments: Vec<_> = transactions_of_reservation(&app, &hold)
        .await
        .into_iter()
        .filter(|t| t.status == TransactionStatus::Succeeded)
        .collect();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].id.to_string(), *tx_ids.iter().next().unwrap());
    let summary = app.report(&org, &event).await;
    assert_eq!(summary["ticketsSold"], 3);
    assert_eq!(summary["revenueCents"], 3_600);
    assert_ledger_invariants(&app).await;
}

#[tokio::test]
async fn paying_someone_elses_reservation_is_forbidden_and_charges_no_one() {
    let app = spawn_app().await;
    let org = app.register("nora", "ORGANIZER").await;
    let (_, types) = app.published_event(&org, "Mine", &[("GA", 1000, 5)]).await;
    let alice = app.register("alice", "USER").await;
    let bob = app.register("bob", "USER").await;
    app.top_up(&alice, 5_000).await;
    app.top_up(&bob, 5_000).await;
    let hold = app.hold(&alice, &types[0], 1).await;

    assert_eq!(
        error_code(&app.pay(&bob, &hold, &new_key()).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&app.pay(&org, &hold, &new_key()).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&app.pay_card(&bob, &hold, &new_key(), "tok_visa").await),
        "FORBIDDEN"
    );
    let anonymous = app
        .gql(
            None,
            PAY,
            json!({ "input": { "reservationId": hold, "idempotencyKey": new_key() } }),
        )
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

    assert_eq!(app.balance(&alice).await, 5_000);
    assert_eq!(app.balance(&bob).await, 5_000);
    assert!(card_charges(&app).await.is_empty(), "no card was charged");
    assert_eq!(
        reservation_row(&app, &hold).await.status,
        ReservationStatus::Pending
    );
    assert!(tickets_of_reservation(&app, &hold).await.is_empty());

    // The owner still can.
    paid(&app.pay(&alice, &hold, &new_key()).await);
    assert_eq!(app.balance(&alice).await, 4_000);
    assert_ledger_invariants(&app).await;
}

#[tokio::test]
async fn a_paid_reservation_answers_its_key_again_and_conflicts_under_another() {
    let app = spawn_app().await;
    let org = app.register("kim", "ORGANIZER").await;
    let (_, types) = app.published_event(&org, "Twice", &[("GA", 1000, 5)]).await;
    let alice = app.register("alice", "USER").await;
    app.top_up(&alice, 5_000).await;
    let hold = app.hold(&alice, &types[0], 1).await;
    let key = new_key();

    let first = app.pay(&alice, &hold, &key).await;
    let first = paid(&first).clone();
    assert_eq!(app.balance(&alice).await, 4_000);

    let replay = app.pay(&alice, &hold, &key).await;
    let replay = paid(&replay);
    assert_eq!(
        replay["transaction"]["id"], first["transaction"]["id"],
        "same key, same transaction"
    );
    assert_eq!(
        replay["reservation"]["tickets"],
        first["reservation"]["tickets"]
    );
    assert_eq!(app.balance(&alice).await, 4_000, "no second charge");

    assert_eq!(
        error_code(&app.pay(&alice, &hold, &new_key()).await),
        "CONFLICT"
    );
    assert_eq!(
        error_code(&app.pay_card(&alice, &hold, &new_key(), "tok_visa").await),
        "CONFLICT"
    );
    assert_eq!(app.balance(&alice).await, 4_000);
    assert!(
        card_charges(&app)
            .await
            .iter()
            .all(|c| c.status != ChargeStatus::Succeeded),
        "the card was not charged for a paid reservation"
    );
    let succeeded = transactions_of_reservation(&app, &hold)
        .await
        .into_iter()
        .filter(|t| t.status == TransactionStatus::Succeeded)
        .count();
    assert_eq!(succeeded, 1);
    assert_eq!(tickets_of_reservation(&app, &hold).await.len(), 1);
    assert_ledger_invariants(&app).await;
}

// ---------------------------------------------------------------------------------------------
// Card payments.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn card_declines_processing_errors_and_timeouts_charge_nothing_and_are_recorded() {
    let app = spawn_app_with(&[("CARD_TIMEOUT_MS", "200")]).await;
    let org = app.register("cora", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Cards", &[("GA", 1200, 10)])
        .await;
    let alice = app.register("alice", "USER").await;
    app.top_up(&alice, 5_000).await;
    let hold = app.hold(&alice, &types[0], 2).await;

    let refusals = [
        ("tok_chargeDeclined", None),
        ("tok_processingError", Some("processing")),
        ("tok_timeout", Some("time")),
        ("tok_noSuchToken", None),
    ];
    for (token, _) in refusals {
        let res = app.pay_card(&alice, &hold, &new_key(), token).await;
        assert_eq!(error_code(&res), "PAYMENT_DECLINED", "{token}: {res:#}");
        assert!(
            card_charges(&app)
                .await
                .iter()
                .all(|c| c.status != ChargeStatus::Succeeded),
            "{token} left a SUCCEEDED charge"
        );
        assert_eq!(
            app.balance(&alice).await,
            5_000,
            "{token} touched the wallet"
        );
        assert_eq!(
            reservation_row(&app, &hold).await.status,
            ReservationStatus::Pending
        );
        assert!(tickets_of_reservation(&app, &hold).await.is_empty());
    }

    // Each refusal is recorded, newest first, with its reason.
    let history = wallet_history(&app, &alice).await;
    let failures: Vec<&Value> = history.iter().filter(|t| t["status"] == "FAILED").collect();
    assert_eq!(failures.len(), 4, "{history:#?}");
    for (t, (token, reason)) in failures.iter().rev().zip(refusals) {
        assert_eq!(t["kind"], "PAYMENT");
        assert_eq!(t["method"], "CARD");
        assert_eq!(t["amountCents"], 2_400);
        let why = t["failureReason"]
            .as_str()
            .unwrap_or_else(|| panic!("{token}: no failureReason in {t:#}"));
        if let Some(word) = reason {
            assert!(
                why.to_lowercase().contains(word),
                "{token}: reason `{why}` lacks `{word}`"
            );
        }
    }
    assert_eq!(app.report(&org, &event).await["failedPayments"], 4);

    // A card token is required for CARD.
    let missing = app
        .gql(
            Some(&alice.access),
            PAY,
            json!({ "input": { "reservationId": hold, "idempotencyKey": new_key(), "method": "CARD" } }),
        )
        .await;
    assert_eq!(error_code(&missing), "BAD_USER_INPUT");

    // tok_visa goes through, and the wallet is left alone.
    let res = app.pay_card(&alice, &hold, &new_key(), "tok_visa").await;
    let payload = paid(&res);
    assert_eq!(payload["reservation"]["status"], "CONFIRMED");
    assert_eq!(payload["transaction"]["method"], "CARD");
    assert_eq!(payload["transaction"]["status"], "SUCCEEDED");
    assert_eq!(payload["transaction"]["amountCents"], 2_400);
    let charges: Vec<_> = card_charges(&app)
        .await
        .into_iter()
        .filter(|c| c.status == ChargeStatus::Succeeded)
        .collect();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].amount_cents, 2_400);
    assert_eq!(charges[0].token, "tok_visa");
    assert_eq!(
        app.balance(&alice).await,
        5_000,
        "card payments don't touch the wallet"
    );
    assert_eq!(tickets_of_reservation(&app, &hold).await.len(), 2);
    let summary = app.report(&org, &event).await;
    assert_eq!(summary["ticketsSold"], 2);
    assert_eq!(summary["revenueCents"], 2_400);
    assert_ledger_invariants(&app).await;
}

#[tokio::test]
async fn a_card_charge_whose_commit_fails_is_refunded_and_recorded() {
    let app = spawn_app().await;
    let org = app.register("hera", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Compensation", &[("GA", 3_300, 10)])
        .await;
    let alice = app.register("alice", "USER").await;
    let hold = app.hold(&alice, &types[0], 1).await;

    app.state.faults.arm(Fault::PayBeforeCommit);
    let res = app.pay_card(&alice, &hold, &new_key(), "tok_visa").await;
    assert_eq!(error_code(&res), "INTERNAL_SERVER_ERROR");

    let charges = card_charges(&app).await;
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(
        charges[0].status,
        ChargeStatus::Refunded,
        "the charge was given back"
    );
    assert!(charges[0].refunded_at.is_some());
    assert_eq!(charges[0].amount_cents, 3_300);
    assert_eq!(
        reservation_row(&app, &hold).await.status,
        ReservationStatus::Pending
    );
    assert!(tickets_of_reservation(&app, &hold).await.is_empty());
    let attempts = transactions_of_reservation(&app, &hold).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].kind, TransactionKind::Payment);
    assert_eq!(attempts[0].status, TransactionStatus::Failed);
    assert_eq!(attempts[0].method, Some(PaymentMethod::Card));
    let reason = attempts[0].failure_reason.clone().unwrap_or_default();
    assert!(
        reason.to_lowercase().contains("refund"),
        "failureReason `{reason}` mentions the refund"
    );
    assert_eq!(app.balance(&alice).await, 0);
    let summary = app.report(&org, &event).await;
    assert_eq!(summary["failedPayments"], 1);
    assert_eq!(summary["revenueCents"], 0);
    assert_eq!(summary["ticketsHeld"], 1);

    // The buyer may try again; the first charge stays refunded.
    let retry = app.pay_card(&alice, &hold, &new_key(), "tok_visa").await;
    assert_eq!(paid(&retry)["reservation"]["status"], "CONFIRMED");
    let charges = card_charges(&app).await;
    assert_eq!(charges.len(), 2);
    assert_eq!(
        charges
            .iter()
            .filter(|c| c.status == ChargeStatus::Refunded)
            .count(),
        1
    );
    assert_eq!(
        charges
            .iter()
            .filter(|c| c.status == ChargeStatus::Succeeded)
            .count(),
        1
    );
    assert_eq!(app.report(&org, &event).await["revenueCents"], 3_300);
    assert_ledger_invariants(&app).await;
}

/// Money kept by the card gateway equals the card payments on record: every SUCCEEDED CARD
/// payment points at a charge that is still SUCCEEDED, and no other charge is kept.
async fn assert_card_charges_match_payments(app: &TestApp) {
    let charges = card_charges(app).await;
    let payments = transaction::Entity::find()
        .filter(transaction::Column::Kind.eq(TransactionKind::Payment))
        .filter(transaction::Column::Status.eq(TransactionStatus::Succeeded))
        .filter(transaction::Column::Method.eq(PaymentMethod::Card))
        .all(&app.state.db)
        .await
        .unwrap();
    let kept: HashSet<Uuid> = charges
        .iter()
        .filter(|c| c.status == ChargeStatus::Succeeded)
        .map(|c| c.id)
        .collect();
    let paid_with: HashSet<Uuid> = payments
        .iter()
        .map(|t| {
            t.gateway_charge_id
                .unwrap_or_else(|| panic!("card payment without a charge: {t:?}"))
        })
        .collect();
    assert_eq!(
        paid_with.len(),
        payments.len(),
        "two payments share one charge: {payments:?}"
    );
    assert_eq!(
        kept, paid_with,
        "kept charges {charges:?} vs card payments {payments:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_identical_card_payments_charge_the_card_once() {
    let app = spawn_app().await;
    let org = app.register("cara", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Card rush", &[("GA", 1_100, 10)])
        .await;
    let alice = app.register("alice", "USER").await;
    let hold = app.hold(&alice, &types[0], 2).await;
    let key = new_key();

    let results = join_all((0..20).map(|_| app.pay_card(&alice, &hold, &key, "tok_visa"))).await;
    let tx_ids: HashSet<String> = results
        .iter()
        .map(|r| id_of(&paid(r)["transaction"]))
        .collect();
    assert_eq!(
        tx_ids.len(),
        1,
        "all callers got the same transaction: {tx_ids:?}"
    );
    let charges = card_charges(&app).await;
    assert_eq!(charges.len(), 1, "the card was charged once: {charges:?}");
    assert_eq!(charges[0].status, ChargeStatus::Succeeded);
    assert_eq!(charges[0].amount_cents, 2_200);
    assert_eq!(tickets_of_reservation(&app, &hold).await.len(), 2);
    assert_eq!(app.report(&org, &event).await["revenueCents"], 2_200);
    assert_card_charges_match_payments(&app).await;
    assert_ledger_invariants(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_card_payment_failing_among_its_racing_duplicates_never_confirms_on_a_refunded_charge() {
    let app = spawn_app().await;
    let org = app.register("dora", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Card race", &[("GA", 1_700, 10)])
        .await;
    let alice = app.register("alice", "USER").await;
    let hold = app.hold(&alice, &types[0], 1).await;
    let key = new_key();

    // One of ten identical requests fails just before its commit, after the card was charged.
    app.state.faults.arm(Fault::PayBeforeCommit);
    let results = join_all((0..10).map(|_| app.pay_card(&alice, &hold, &key, "tok_visa"))).await;
    let mut succeeded = HashSet::new();
    for res in &results {
        if res.get("errors").is_some() {
            let code = error_code(res);
            assert!(
                code == "INTERNAL_SERVER_ERROR" || code == "PAYMENT_DECLINED",
                "{res:#}"
            );
        } else {
            succeeded.insert(id_of(&paid(res)["transaction"]));
        }
    }
    assert!(succeeded.len() <= 1, "one key, one payment: {succeeded:?}");

    let status = reservation_row(&app, &hold).await.status;
    let charges = card_charges(&app).await;
    if status == ReservationStatus::Confirmed {
        assert_eq!(
            succeeded.len(),
            1,
            "confirmed, so somebody was told it succeeded"
        );
        assert_eq!(app.report(&org, &event).await["revenueCents"], 1_700);
    } else {
        assert_eq!(status, ReservationStatus::Pending);
        assert!(succeeded.is_empty());
        assert!(
            charges.iter().all(|c| c.status == ChargeStatus::Refunded),
            "nothing bought, nothing kept: {charges:?}"
        );
    }
    assert_card_charges_match_payments(&app).await;
    assert_ledger_invariants(&app).await;
}

// ---------------------------------------------------------------------------------------------
// Wallet and top-ups.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn top_ups_are_validated_and_a_repeated_key_credits_once() {
    let app = spawn_app().await;
    let alice = app.register("alice", "USER").await;
    let bob = app.register("bob", "USER").await;

    assert_eq!(
        error_code(&app.gql(None, WALLET, json!({})).await),
        "UNAUTHENTICATED"
    );
    let anonymous = app
        .gql(None, TOP_UP, json!({ "amount": 100, "key": new_key() }))
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

    let empty = app.ok(Some(&alice.access), WALLET, json!({})).await;
    assert_eq!(empty["wallet"]["balanceCents"], 0);
    assert_eq!(empty["wallet"]["transactions"]["totalCount"], 0);

    for amount in [0, -100, 1_000_001] {
        let res = app
            .gql(
                Some(&alice.access),
                TOP_UP,
                json!({ "amount": amount, "key": new_key() }),
            )
            .await;
        assert_eq!(error_code(&res), "BAD_USER_INPUT", "top-up of {amount}");
    }
    assert_eq!(app.balance(&alice).await, 0);

    let key = new_key();
    let credit = |amount: i64, key: &str| {
        app.gql(
            Some(&alice.access),
            TOP_UP,
            json!({ "amount": amount, "key": key }),
        )
    };
    assert_eq!(
        credit(2_500, &key).await["data"]["topUpWallet"]["balanceCents"],
        2_500
    );
    assert_eq!(
        credit(2_500, &key).await["data"]["topUpWallet"]["balanceCents"],
        2_500,
        "the same key credits once"
    );
    assert_eq!(error_code(&credit(999, &key).await), "CONFLICT");
    assert_eq!(
        credit(1_000_000, &new_key()).await["data"]["topUpWallet"]["balanceCents"],
        1_002_500,
        "the maximum itself is allowed"
    );
    // Keys belong to their user.
    let bobs = app
        .ok(
            Some(&bob.access),
            TOP_UP,
            json!({ "amount": 700, "key": key }),
        )
        .await;
    assert_eq!(bobs["topUpWallet"]["balanceCents"], 700);

    let history = wallet_history(&app, &alice).await;
    assert_eq!(history.len(), 2, "{history:#?}");
    assert!(
        history
            .iter()
            .all(|t| t["kind"] == "TOP_UP" && t["status"] == "SUCCEEDED")
    );
    assert_eq!(history[0]["amountCents"], 1_000_000, "newest first");
    assert_eq!(history[1]["amountCents"], 2_500);
    assert_eq!(app.balance(&alice).await, 1_002_500);
    assert_ledger_invariants(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_top_ups_with_one_key_credit_once() {
    let app = spawn_app().await;
    let alice = app.register("alice", "USER").await;
    let key = new_key();
    let results = join_all((0..10).map(|_| {
        app.gql(
            Some(&alice.access),
            TOP_UP,
            json!({ "amount": 1_234, "key": key }),
        )
    }))
    .await;
    for res in &results {
        assert!(res.get("errors").is_none(), "{res:#}");
    }
    assert_eq!(app.balance(&alice).await, 1_234);
    assert_eq!(wallet_history(&app, &alice).await.len(), 1);
    assert_ledger_invariants(&app).await;
}

#[tokio::test]
async fn wallet_transactions_page_newest_first() {
    let app = spawn_app().await;
    let alice = app.register("alice", "USER").await;
    for amount in [100, 200, 300, 400, 500] {
        app.top_up(&alice, amount).await;
    }
    let mut amounts = Vec::new();
    let mut after: Option<String> = None;
    for page in 0.. {
        assert!(page < 3, "too many pages");
        let data = app
            .ok(
                Some(&alice.access),
                WALLET,
                json!({ "first": 2, "after": after }),
            )
            .await;
        let conn = &data["wallet"]["transactions"];
        assert_eq!(conn["totalCount"], 5);
        amounts.extend(nodes(conn).iter().map(|t| cents(&t["amountCents"])));
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    assert_eq!(amounts, vec![500, 400, 300, 200, 100]);
}

#[tokio::test]
async fn amounts_beyond_32_bits_survive_top_ups_payments_and_reports() {
    let app = spawn_app_with(&[("MAX_TOP_UP_CENTS", "5000000000")]).await;
    let org = app.register("gina", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Stadium", &[("Box", 400_000_000, 20)])
        .await;
    let alice = app.register("alice", "USER").await;
    assert_eq!(app.top_up(&alice, 4_000_000_000).await, 4_000_000_000);
    let hold = app.reserved(&alice, &types[0], 10).await;
    assert_eq!(hold["amountCents"], 4_000_000_000i64);
    let res = app.pay(&alice, &id_of(&hold), &new_key()).await;
    assert_eq!(paid(&res)["transaction"]["amountCents"], 4_000_000_000i64);
    assert_eq!(app.balance(&alice).await, 0);
    assert_eq!(
        app.report(&org, &event).await["revenueCents"],
        4_000_000_000i64
    );
    assert_ledger_invariants(&app).await;
}

// ---------------------------------------------------------------------------------------------
// Cancelling paid reservations.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cancelling_a_paid_reservation_refunds_the_wallet_and_voids_its_tickets() {
    let app = spawn_app().await;
    let org = app.register("rita", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Refunds", &[("GA", 2_000, 5)])
        .await;
    let tt = &types[0];
    let alice = app.register("alice", "USER").await;
    let bob = app.register("bob", "USER").await;
    let carol = app.register("carol", "USER").await;
    app.top_up(&alice, 10_000).await;

    let hold = app.hold(&alice, tt, 2).await;
    paid(&app.pay(&alice, &hold, &new_key()).await);
    assert_eq!(app.balance(&alice).await, 6_000);
    assert_eq!(
        error_code(
            &app.gql(Some(&bob.access), CANCEL, json!({ "id": hold }))
                .await
        ),
        "FORBIDDEN"
    );

    let done = app
        .ok(Some(&alice.access), CANCEL, json!({ "id": hold }))
        .await;
    let r = &done["cancelReservation"];
    assert_eq!(r["status"], "CANCELLED");
    assert_eq!(r["ticketType"]["available"], 5, "seats back");
    let tickets = r["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2);
    assert!(
        tickets.iter().all(|t| t["status"] == "VOID"),
        "{tickets:#?}"
    );
    assert!(
        tickets_of_reservation(&app, &hold)
            .await
            .iter()
            .all(|t| t.status == TicketStatus::Void)
    );
    assert_eq!(app.balance(&alice).await, 10_000, "full refund");
    let refund = &wallet_history(&app, &alice).await[0];
    assert_eq!(refund["kind"], "REFUND");
    assert_eq!(refund["status"], "SUCCEEDED");
    assert_eq!(refund["amountCents"], 4_000);
    assert_eq!(refund["reservationId"], hold);

    // Twice is a conflict, and refunds nothing more.
    assert_eq!(
        error_code(
            &app.gql(Some(&alice.access), CANCEL, json!({ "id": hold }))
                .await
        ),
        "CONFLICT"
    );
    assert_eq!(app.balance(&alice).await, 10_000);
    assert_eq!(available(&app, tt).await, 5);

    // A card payment is refunded to the card, not the wallet.
    let bobs = app.hold(&bob, tt, 1).await;
    paid(&app.pay_card(&bob, &bobs, &new_key(), "tok_visa").await);
    assert_eq!(app.balance(&bob).await, 0);
    app.ok(Some(&bob.access), CANCEL, json!({ "id": bobs }))
        .await;
    assert_eq!(app.balance(&bob).await, 0);
    let charge = &card_charges(&app).await[0];
    assert_eq!(charge.status, ChargeStatus::Refunded);
    assert_eq!(charge.refunded_cents, 2_000);

    let summary = app.report(&org, &event).await;
    assert_eq!(summary["ticketsSold"], 0);
    assert_eq!(summary["ticketsAvailable"], 5);
    assert_eq!(summary["revenueCents"], 0, "net of refunds");
    assert_eq!(summary["refundedCents"], 6_000);
    assert_ledger_invariants(&app).await;

    // Once the event has started, a paid reservation is no longer refundable.
    app.top_up(&carol, 2_000).await;
    let carols = app.hold(&carol, tt, 1).await;
    paid(&app.pay(&carol, &carols, &new_key()).await);
    entity::event::Entity::update_many()
        .col_expr(
            entity::event::Column::StartsAt,
            Expr::value(Utc::now() - chrono::Duration::minutes(5)),
        )
        .filter(entity::event::Column::Id.eq(uuid(&event)))
        .exec(&app.state.db)
        .await
        .unwrap();
    let late = app
        .gql(Some(&carol.access), CANCEL, json!({ "id": carols }))
        .await;
    assert!(
        late.get("errors").is_some(),
        "cancelled after the start: {late:#}"
    );
    assert_eq!(app.balance(&carol).await, 0);
    assert_eq!(
        reservation_row(&app, &carols).await.status,
        ReservationStatus::Confirmed
    );
    assert!(
        tickets_of_reservation(&app, &carols)
            .await
            .iter()
            .all(|t| t.status == TicketStatus::Valid)
    );
    assert_ledger_invariants(&app).await;
}

// ---------------------------------------------------------------------------------------------
// Reports and transaction lists.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn event_reports_and_transactions_add_up_after_a_known_sequence() {
    let app = spawn_app().await;
    let org = app.register("omar", "ORGANIZER").await;
    let root = admin(&app).await;
    let (event, types) = app
        .published_event(&org, "Known", &[("GA", 1_000, 10), ("VIP", 3_000, 2)])
        .await;
    let (ga, vip) = (&types[0], &types[1]);
    let alice = app.register("alice", "USER").await;
    let bob = app.register("bob", "USER").await;
    let carol = app.register("carol", "USER").await;
    app.top_up(&alice, 10_000).await;
    app.top_up(&bob, 500).await;

    let a1 = app.hold(&alice, ga, 2).await;
    paid(&app.pay(&alice, &a1, &new_key()).await); // +2000
    let b1 = app.hold(&bob, vip, 1).await;
    assert_eq!(
        error_code(&app.pay(&bob, &b1, &new_key()).await),
        "INSUFFICIENT_FUNDS"
    ); // failed
    let c1 = app.hold(&carol, ga, 3).await;
    assert_eq!(
        error_code(
            &app.pay_card(&carol, &c1, &new_key(), "tok_chargeDeclined")
                .await
        ),
        "PAYMENT_DECLINED"
    ); // failed
    paid(&app.pay_card(&carol, &c1, &new_key(), "tok_visa").await); // +3000
    let a2 = app.hold(&alice, ga, 1).await;
    paid(&app.pay(&alice, &a2, &new_key()).await); // +1000
    app.ok(Some(&alice.access), CANCEL, json!({ "id": a2 }))
        .await; // refund 1000

    for viewer in [&org, &root] {
        let s = app.report(viewer, &event).await;
        assert_eq!(s["ticketsSold"], 5, "{s:#}");
        assert_eq!(s["ticketsHeld"], 1);
        assert_eq!(s["ticketsAvailable"], 6);
        assert_eq!(s["capacity"], 12);
        assert_eq!(s["revenueCents"], 5_000);
        assert_eq!(s["refundedCents"], 1_000);
        assert_eq!(s["failedPayments"], 2);
        let occupancy = s["occupancy"].as_f64().unwrap();
        assert!(
            (occupancy - 5.0 / 12.0).abs() < 1e-9,
            "occupancy {occupancy}"
        );
    }

    // Newest first, two pages of four and two.
    let expected = [
        ("REFUND", "SUCCEEDED", 1_000, &a2, "alice", Some("WALLET")),
        ("PAYMENT", "SUCCEEDED", 1_000, &a2, "alice", Some("WALLET")),
        ("PAYMENT", "SUCCEEDED", 3_000, &c1, "carol", Some("CARD")),
        ("PAYMENT", "FAILED", 3_000, &c1, "carol", Some("CARD")),
        ("PAYMENT", "FAILED", 3_000, &b1, "bob", Some("WALLET")),
        ("PAYMENT", "SUCCEEDED", 2_000, &a1, "alice", Some("WALLET")),
    ];
    let first = app
        .ok(
            Some(&org.access),
            TRANSACTIONS,
            json!({ "id": event, "first": 4 }),
        )
        .await;
    let conn = &first["transactions"];
    assert_eq!(conn["totalCount"], 6, "top-ups are no event's transactions");
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    let mut listed = nodes(conn);
    let second = app
        .ok(
            Some(&org.access),
            TRANSACTIONS,
            json!({ "id": event, "first": 4, "after": conn["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(second["transactions"]["pageInfo"]["hasNextPage"], false);
    listed.extend(nodes(&second["transactions"]));
    assert_eq!(listed.len(), expected.len());
    for (t, (kind, status, amount, reservation, buyer, method)) in listed.iter().zip(expected) {
        let what = format!("{t:#}");
        assert_eq!(t["kind"], kind, "{what}");
        assert_eq!(t["status"], status, "{what}");
        assert_eq!(t["amountCents"], amount, "{what}");
        assert_eq!(t["reservationId"], *reservation, "{what}");
        assert_eq!(t["eventId"], event, "{what}");
        assert_eq!(t["buyer"]["username"], buyer, "{what}");
        if let Some(method) = method {
            assert_eq!(t["method"], method, "{what}");
        }
        assert_eq!(t["failureReason"].is_string(), status == "FAILED", "{what}");
    }
    let ids: HashSet<String> = listed.iter().map(id_of).collect();
    assert_eq!(ids.len(), 6, "no transaction twice");

    // The admin sees the same list.
    let by_admin = app
        .ok(
            Some(&root.access),
            TRANSACTIONS,
            json!({ "id": event, "first": 10 }),
        )
        .await;
    assert_eq!(by_admin["transactions"]["totalCount"], 6);
    assert_ledger_invariants(&app).await;
}

/// A top-up is charged to a card; with this run's 200 ms CARD_TIMEOUT_MS a busy machine can time
/// the sandbox gateway out. Retrying with the same key is safe (one charge, one credit) and is
/// what a client does.
async fn top_up_riding_out_timeouts(
    app: &TestApp,
    user: &Account,
    amount: i64,
    key: &str,
) -> Value {
    for _ in 0..20 {
        let res = app
            .gql(
                Some(&user.access),
                TOP_UP,
                json!({ "amount": amount, "key": key }),
            )
            .await;
        let timed_out = res.get("errors").is_some()
            && error_code(&res) == "PAYMENT_DECLINED"
            && error_message(&res).contains("did not answer in time");
        if !timed_out {
            assert!(res.get("errors").is_none(), "top-up failed: {res:#}");
            return res["data"].clone();
        }
    }
    panic!("the card gateway timed out 20 times in a row");
}

#[tokio::test]
async fn event_reports_and_transactions_are_for_the_organizer_and_admins_only() {
    let app = spawn_app().await;
    let org = app.register("uma", "ORGANIZER").await;
    let rival = app.register("ugo", "ORGANIZER").await;
    let alice = app.register("alice", "USER").await;
    let (event, types) = app
        .published_event(&org, "Private numbers", &[("GA", 1_000, 5)])
        .await;
    app.top_up(&alice, 1_000).await;
    let hold = app.hold(&alice, &types[0], 1).await;
    paid(&app.pay(&alice, &hold, &new_key()).await);

    for who in [&rival, &alice] {
        let res = app
            .gql(Some(&who.access), REPORT, json!({ "id": event }))
            .await;
        assert_eq!(
            error_code(&res),
            "FORBIDDEN",
            "eventReport for {}",
            who.username
        );
        let res = app
            .gql(Some(&who.access), TRANSACTIONS, json!({ "id": event }))
            .await;
        assert_eq!(
            error_code(&res),
            "FORBIDDEN",
            "transactions for {}",
            who.username
        );
    }
    for query in [REPORT, TRANSACTIONS] {
        let res = app.gql(None, query, json!({ "id": event })).await;
        let code = error_code(&res);
        assert!(code == "UNAUTHENTICATED" || code == "FORBIDDEN", "{res:#}");
    }
    assert_eq!(app.report(&org, &event).await["ticketsSold"], 1);
}

// ---------------------------------------------------------------------------------------------
// A randomized run, then the invariants.
// ---------------------------------------------------------------------------------------------

/// A small deterministic generator (Knuth's MMIX LCG), so a failing run can be replayed.
struct Lcg(u64);

impl Lcg {
    /// The seed is scrambled (SplitMix64's finalizer) so that nearby seeds give unrelated runs.
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Lcg(z ^ (z >> 31))
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Held {
    Pending,
    Confirmed,
    Cancelled,
}

#[derive(Debug)]
struct Booking {
    id: String,
    ticket_type: usize,
    quantity: i64,
    amount: i64,
    state: Held,
    paid: bool,
    by_card: bool,
}

/// What one simulated user expects the server to hold for them after their run.
#[derive(Debug, Default)]
struct Expected {
    balance: i64,
    bookings: Vec<Booking>,
    top_ups: Vec<(String, i64)>,
    card_paid: i64,
    /// Given back to cards by cancellations (refunds go back the way the money came).
    card_refunded: i64,
    internal_errors: usize,
    /// How often each kind of outcome happened, to show what the run exercised.
    tally: BTreeMap<String, usize>,
}

impl Expected {
    fn saw(&mut self, what: impl Into<String>) {
        *self.tally.entry(what.into()).or_default() += 1;
    }
}

const TOKENS: [&str; 7] = [
    "tok_visa",
    "tok_visa",
    "tok_visa",
    "tok_chargeDeclined",
    "tok_processingError",
    "tok_timeout",
    "tok_mystery",
];

/// One user's run of `ops` random operations. Only this user touches their wallet, so the
/// expected outcome of every wallet operation is known exactly; seat counts depend on the other
/// users running at the same time, so SOLD_OUT is accepted for reserves.
async fn random_run(
    app: &TestApp,
    user: &Account,
    seed: u64,
    ops: usize,
    types: &[(String, i64)],
    armed: &AtomicUsize,
) -> Expected {
    let mut rng = Lcg::new(seed);
    let mut me = Expected::default();
    for step in 0..ops {
        let ctx = format!("seed {seed}, {} step {step}", user.username);
        let pending: Vec<usize> = (0..me.bookings.len())
            .filter(|&i| me.bookings[i].state == Held::Pending)
            .collect();
        let roll = rng.below(100);
        match roll {
            // Top up: mostly fresh keys, sometimes a replay (credits nothing) or a clash.
            0..=17 => {
                if !me.top_ups.is_empty() && rng.below(4) == 0 {
                    let (key, amount) =
                        me.top_ups[rng.below(me.top_ups.len() as u64) as usize].clone();
                    if rng.below(3) == 0 {
                        let res = app
                            .gql(
                                Some(&user.access),
                                TOP_UP,
                                json!({ "amount": amount + 1, "key": key }),
                            )
                            .await;
                        assert_eq!(error_code(&res), "CONFLICT", "{ctx}");
                        me.saw("top-up key clash");
                    } else {
                        let data = top_up_riding_out_timeouts(app, user, amount, &key).await;
                        assert_eq!(
                            data["topUpWallet"]["balanceCents"], me.balance,
                            "{ctx}: replayed top-up"
                        );
                        me.saw("top-up replayed");
                    }
                } else {
                    let (key, amount) = (new_key(), 500 + rng.below(5_500) as i64);
                    let data = top_up_riding_out_timeouts(app, user, amount, &key).await;
                    me.balance += amount;
                    me.top_ups.push((key, amount));
                    assert_eq!(
                        data["topUpWallet"]["balanceCents"], me.balance,
                        "{ctx}: top-up"
                    );
                    me.saw("top-up");
                }
            }
            // Pay from the wallet (some wallets are short).
            18..=44 if !pending.is_empty() => {
                let b = &mut me.bookings[pending[rng.below(pending.len() as u64) as usize]];
                let res = app.pay(user, &b.id, &new_key()).await;
                if me.balance >= b.amount {
                    if res.get("errors").is_some() && error_code(&res) == "INTERNAL_SERVER_ERROR" {
                        me.internal_errors += 1; // an armed fault: nothing may have changed
                        me.saw("wallet pay hit a fault");
                    } else {
                        assert_eq!(paid(&res)["reservation"]["status"], "CONFIRMED", "{ctx}");
                        me.balance -= b.amount;
                        b.state = Held::Confirmed;
                        b.paid = true;
                        me.saw("wallet pay");
                    }
                } else {
                    assert_eq!(
                        error_code(&res),
                        "INSUFFICIENT_FUNDS",
                        "{ctx}: {} < {}",
                        me.balance,
                        b.amount
                    );
                    me.saw("wallet pay short");
                }
            }
            // Pay by card with one of the sandbox tokens.
            45..=62 if !pending.is_empty() => {
                let b = &mut me.bookings[pending[rng.below(pending.len() as u64) as usize]];
                let token = TOKENS[rng.below(TOKENS.len() as u64) as usize];
                let res = app.pay_card(user, &b.id, &new_key(), token).await;
                if token == "tok_visa" {
                    if res.get("errors").is_some() && error_code(&res) == "INTERNAL_SERVER_ERROR" {
                        me.internal_errors += 1;
                        me.saw("card pay hit a fault");
                    } else {
                        assert_eq!(paid(&res)["transaction"]["method"], "CARD", "{ctx}");
                        b.state = Held::Confirmed;
                        b.paid = true;
                        b.by_card = true;
                        me.card_paid += b.amount;
                        me.saw("card pay");
                    }
                } else {
                    assert_eq!(error_code(&res), "PAYMENT_DECLINED", "{ctx}: {token}");
                    me.saw(format!("card refused ({token})"));
                }
            }
            // Cancel one of my reservations, whatever its state.
            63..=77 if !me.bookings.is_empty() => {
                let pick = rng.below(me.bookings.len() as u64) as usize;
                let b = &mut me.bookings[pick];
                let res = app
                    .gql(Some(&user.access), CANCEL, json!({ "id": b.id }))
                    .await;
                match b.state {
                    Held::Cancelled => {
                        assert_eq!(error_code(&res), "CONFLICT", "{ctx}");
                        me.saw("cancel again");
                    }
                    was => {
                        assert!(res.get("errors").is_none(), "{ctx}: cancel failed: {res:#}");
                        assert_eq!(res["data"]["cancelReservation"]["status"], "CANCELLED");
                        b.state = Held::Cancelled;
                        if was == Held::Confirmed {
                            // Refunds go back the way the money came.
                            if b.by_card {
                                me.card_refunded += b.amount;
                            } else {
                                me.balance += b.amount;
                            }
                            me.saw("cancel with refund");
                        } else {
                            me.saw("cancel hold");
                        }
                    }
                }
            }
            // Arm a fault for whichever payment comes next (possibly another user's).
            78..=79 => {
                let fault = if rng.below(2) == 0 {
                    Fault::PayAfterDebit
                } else {
                    Fault::PayBeforeCommit
                };
                app.state.faults.arm(fault);
                armed.fetch_add(1, Ordering::SeqCst);
                me.saw("fault armed");
            }
            // Otherwise: reserve 1 to 3 seats of a random ticket type.
            _ => {
                let t = rng.below(types.len() as u64) as usize;
                let quantity = 1 + rng.below(3) as i64;
                let res = app.reserve(user, &types[t].0, quantity, &new_key()).await;
                if res.get("errors").is_some() {
                    assert_eq!(error_code(&res), "SOLD_OUT", "{ctx}");
                    me.saw("reserve sold out");
                } else {
                    me.saw("reserve");
                    let r = &res["data"]["reserve"];
                    assert_eq!(r["amountCents"], types[t].1 * quantity, "{ctx}");
                    me.bookings.push(Booking {
                        id: id_of(r),
                        ticket_type: t,
                        quantity,
                        amount: types[t].1 * quantity,
                        state: Held::Pending,
                        paid: false,
                        by_card: false,
                    });
                }
            }
        }
    }
    me
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_randomized_run_keeps_every_ledger_and_every_seat_count_consistent() {
    let seed: u64 = std::env::var("RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_121);
    eprintln!("randomized run with RANDOM_SEED={seed}");
    let app = spawn_app_with(&[("CARD_TIMEOUT_MS", "200")]).await;
    let org = app.register("rand", "ORGANIZER").await;
    let (event_a, a_types) = app
        .published_event(&org, "Alpha", &[("GA", 700, 30), ("VIP", 2_500, 8)])
        .await;
    let (event_b, b_types) = app.published_event(&org, "Beta", &[("GA", 300, 20)]).await;
    let types = vec![
        (a_types[0].clone(), 700),
        (a_types[1].clone(), 2_500),
        (b_types[0].clone(), 300),
    ];
    let capacities = [30, 8, 20];
    let users = register_many(&app, "rnd", 10).await;
    let armed = AtomicUsize::new(0);

    let runs = join_all(users.iter().enumerate().map(|(i, u)| {
        random_run(
            &app,
            u,
            seed.wrapping_add(i as u64 * 7_919),
            15,
            &types,
            &armed,
        )
    }))
    .await;

    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for run in &runs {
        for (what, n) in &run.tally {
            *tally.entry(what.clone()).or_default() += n;
        }
    }
    eprintln!("seed {seed} exercised: {tally:#?}");
    assert_eq!(
        tally.values().sum::<usize>(),
        150,
        "seed {seed}: every operation was counted"
    );

    let db = &app.state.db;
    // Faults: every INTERNAL_SERVER_ERROR came from an armed fault.
    let internal: usize = runs.iter().map(|r| r.internal_errors).sum();
    assert!(
        internal <= armed.load(Ordering::SeqCst),
        "seed {seed}: {internal} internal errors"
    );

    // Each user's wallet holds exactly what their own operations say.
    for (user, run) in users.iter().zip(&runs) {
        assert_eq!(
            app.balance(user).await,
            run.balance,
            "seed {seed}: {}'s balance",
            user.username
        );
    }
    assert_ledger_invariants(&app).await;

    // Reservations and tickets are in the states the responses announced.
    let all_tickets = ticket::Entity::find().all(db).await.unwrap();
    let codes: HashSet<&str> = all_tickets.iter().map(|t| t.code.as_str()).collect();
    assert_eq!(
        codes.len(),
        all_tickets.len(),
        "seed {seed}: ticket codes are unique"
    );
    for run in &runs {
        for b in &run.bookings {
            let status = reservation_row(&app, &b.id).await.status;
            let expected = match b.state {
                Held::Pending => ReservationStatus::Pending,
                Held::Confirmed => ReservationStatus::Confirmed,
                Held::Cancelled => ReservationStatus::Cancelled,
            };
            assert_eq!(status, expected, "seed {seed}: reservation {b:?}");
            let tickets: Vec<_> = all_tickets
                .iter()
                .filter(|t| t.reservation_id == uuid(&b.id))
                .collect();
            let (count, state) = match (b.state, b.paid) {
                (Held::Confirmed, _) => (b.quantity, Some(TicketStatus::Valid)),
                (Held::Cancelled, true) => (b.quantity, Some(TicketStatus::Void)),
                _ => (0, None),
            };
            assert_eq!(tickets.len() as i64, count, "seed {seed}: tickets of {b:?}");
            assert!(
                tickets.iter().all(|t| Some(t.status) == state),
                "seed {seed}: tickets of {b:?}"
            );
        }
    }

    // Seats: sold + held + available = capacity for every ticket type, and sold matches.
    let reservations = reservation::Entity::find().all(db).await.unwrap();
    for (i, (tt, _)) in types.iter().enumerate() {
        let seats = |status: ReservationStatus| -> i64 {
            reservations
                .iter()
                .filter(|r| r.ticket_type_id == uuid(tt) && r.status == status)
                .map(|r| r.quantity as i64)
                .sum()
        };
        let (sold, held) = (
            seats(ReservationStatus::Confirmed),
            seats(ReservationStatus::Pending),
        );
        let free = available(&app, tt).await as i64;
        assert_eq!(
            sold + held + free,
            capacities[i],
            "seed {seed}: ticket type {i}: {sold} + {held} + {free}"
        );
        let expected_sold: i64 = runs
            .iter()
            .flat_map(|r| &r.bookings)
            .filter(|b| b.ticket_type == i && b.state == Held::Confirmed)
            .map(|b| b.quantity)
            .sum();
        assert_eq!(sold, expected_sold, "seed {seed}: ticket type {i} sold");
    }
    for (event, capacity) in [(&event_a, 38), (&event_b, 20)] {
        let s = app.report(&org, event).await;
        let sold = s["ticketsSold"].as_i64().unwrap();
        let held = s["ticketsHeld"].as_i64().unwrap();
        let free = s["ticketsAvailable"].as_i64().unwrap();
        assert_eq!(s["capacity"], capacity, "seed {seed}");
        assert_eq!(sold + held + free, capacity, "seed {seed}: {s:#}");
        // Revenue is net of refunds, straight from the SUCCEEDED transactions.
        let transactions = transaction::Entity::find()
            .filter(transaction::Column::EventId.eq(uuid(event)))
            .all(db)
            .await
            .unwrap();
        let sum = |kind: TransactionKind| -> i64 {
            transactions
                .iter()
                .filter(|t| t.kind == kind && t.status == TransactionStatus::Succeeded)
                .map(|t| t.amount_cents)
                .sum()
        };
        let failed = transactions
            .iter()
            .filter(|t| t.kind == TransactionKind::Payment && t.status == TransactionStatus::Failed)
            .count();
        assert_eq!(
            cents(&s["revenueCents"]),
            sum(TransactionKind::Payment) - sum(TransactionKind::Refund),
            "seed {seed}"
        );
        assert_eq!(
            cents(&s["refundedCents"]),
            sum(TransactionKind::Refund),
            "seed {seed}"
        );
        assert_eq!(s["failedPayments"], failed, "seed {seed}");
    }

    // The card gateway kept exactly the successful card payments that were not cancelled;
    // nothing else stuck to a card.
    let charges = card_charges(&app).await;
    let kept: i64 = charges
        .iter()
        .filter(|c| c.status == ChargeStatus::Succeeded)
        .map(|c| c.amount_cents - c.refunded_cents)
        .sum();
    let card_payments: i64 = transaction::Entity::find()
        .filter(transaction::Column::Kind.eq(TransactionKind::Payment))
        .filter(transaction::Column::Status.eq(TransactionStatus::Succeeded))
        .filter(transaction::Column::Method.eq(PaymentMethod::Card))
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|t| t.amount_cents)
        .sum();
    let expected_card: i64 = runs.iter().map(|r| r.card_paid).sum();
    let card_refunded: i64 = runs.iter().map(|r| r.card_refunded).sum();
    assert_eq!(
        kept,
        expected_card - card_refunded,
        "seed {seed}: kept card charges"
    );
    assert_eq!(card_payments, expected_card, "seed {seed}: card payments");
    // Charges refunded for a fault (not by a cancellation's partial refunds).
    let by_cancellation: HashSet<Uuid> = entity::card_charge_refund::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.charge_id)
        .collect();
    let refunded = charges
        .iter()
        .filter(|c| c.status == ChargeStatus::Refunded && !by_cancellation.contains(&c.id))
        .count();
    assert!(
        refunded <= internal,
        "seed {seed}: {refunded} refunded charges, {internal} faults hit"
    );
    assert!(
        charges
            .iter()
            .all(|c| (c.status == ChargeStatus::Refunded) == c.refunded_at.is_some())
    );
}
