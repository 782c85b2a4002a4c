//! Buying against cancelEvent: buyers reserve and pay (wallet and card) while the organizer
//! cancels the event, round after round. Whatever the interleaving, no hold may outlive the
//! event, no payment for it may stay unrefunded, and no money may move without a ticket.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::helpers::{Account, TestApp, error_code, error_message, register_many};
use entity::card_charge::{self, ChargeStatus};
use entity::reservation::{self, ReservationStatus};
use entity::ticket::{self, TicketStatus};
use entity::transaction::{self, PaymentMethod, TransactionKind, TransactionStatus};
use entity::{event, ledger_entry, ticket_type, wallet};
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

const ROUNDS: usize = 200;
/// Rounds run this many at a time, each with its own event and its own buyers.
const AT_ONCE: usize = 20;
/// Buyers per round; even ones pay from their wallet, odd ones by card.
const BUYERS: usize = 4;
const PRICE: i64 = 1_000;
const CAPACITY: i32 = 10;

const RESERVE: &str = "mutation($input: ReserveInput!) { reserve(input: $input) { id status } }";
const PAY: &str = "mutation($input: PayInput!) { pay(input: $input) {
  reservation { id status } transaction { id status amountCents } } }";
const CANCEL_EVENT: &str = "mutation($id: ID!) { cancelEvent(id: $id) { status } }";
const TOP_UP: &str = "mutation($amount: Cents!, $key: String!) {
  topUpWallet(amountCents: $amount, idempotencyKey: $key, cardToken: \"tok_visa\") { balanceCents } }";
const BALANCE: &str = "query { wallet { balanceCents } }";

fn new_key() -> String {
    Uuid::new_v4().to_string()
}

/// How one buyer's attempt ended, with the refusal's message when it was refused.
fn refusal(stage: &str, res: &Value) -> String {
    assert_eq!(
        error_code(res),
        "CONFLICT",
        "{stage} racing cancelEvent may only be refused as a CONFLICT: {res:#}"
    );
    format!("{stage} refused: {}", error_message(res))
}

/// Reserves one seat and pays for it. `reserved` hears once the reserve has answered, so the
/// organizer can cancel at different points of the buyers' progress without sleeping.
async fn buy(
    app: &TestApp,
    who: &Account,
    ticket_type: &str,
    by_card: bool,
    reserved: mpsc::UnboundedSender<()>,
) -> String {
    let res = app
        .gql(
            Some(&who.access),
            RESERVE,
            json!({ "input": { "ticketTypeId": ticket_type, "quantity": 1, "idempotencyKey": new_key() } }),
        )
        .await;
    let _ = reserved.send(());
    if res.get("errors").is_some() {
        return refusal("reserve", &res);
    }
    let hold = res["data"]["reserve"]["id"].as_str().unwrap().to_string();
    let input = if by_card {
        json!({ "reservationId": hold, "idempotencyKey": new_key(), "method": "CARD", "cardToken": "tok_visa" })
    } else {
        json!({ "reservationId": hold, "idempotencyKey": new_key(), "method": "WALLET" })
    };
    let res = app
        .gql(Some(&who.access), PAY, json!({ "input": input }))
        .await;
    if res.get("errors").is_some() {
        return refusal(if by_card { "card pay" } else { "wallet pay" }, &res);
    }
    assert_eq!(res["data"]["pay"]["transaction"]["status"], "SUCCEEDED");
    if by_card {
        "paid by card".into()
    } else {
        "paid from the wallet".into()
    }
}

/// One event, `buyers` buying from it, and its organizer cancelling it once `cancel_after` of
/// the buyers' reserves have answered (0: right away). Returns the event and the outcomes.
async fn round(app: &TestApp, org: &Account, buyers: &[Account], n: usize) -> (Uuid, Vec<String>) {
    let (event, types) = app
        .published_event(org, &format!("Race {n}"), &[("GA", PRICE, CAPACITY)])
        .await;
    let cancel_after = n % (buyers.len() + 1);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel = async {
        for _ in 0..cancel_after {
            rx.recv().await.expect("a buyer's reserve answers");
        }
        let data = app
            .ok(Some(&org.access), CANCEL_EVENT, json!({ "id": event }))
            .await;
        assert_eq!(data["cancelEvent"]["status"], "CANCELLED");
    };
    let buys = join_all(
        buyers
            .iter()
            .enumerate()
            .map(|(i, b)| buy(app, b, &types[0], i % 2 == 1, tx.clone())),
    );
    let ((), outcomes) = tokio::join!(cancel, buys);
    (Uuid::parse_str(&event).unwrap(), outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buying_while_the_event_is_cancelled_leaves_no_hold_no_unrefunded_payment_and_no_lost_money()
 {
    let app = crate::helpers::spawn_app().await;
    let org = app.register("canceller", "ORGANIZER").await;
    let buyers = register_many(&app, "racer", AT_ONCE * BUYERS).await;
    let top_up = PRICE * (ROUNDS / AT_ONCE) as i64;
    join_all(buyers.iter().map(|b| {
        app.ok(
            Some(&b.access),
            TOP_UP,
            json!({ "amount": top_up, "key": new_key() }),
        )
    }))
    .await;

    let mut events = Vec::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for group in 0..ROUNDS / AT_ONCE {
        // A buyer takes part in one round at a time.
        let rounds = (0..AT_ONCE).map(|slot| {
            let mine = &buyers[slot * BUYERS..(slot + 1) * BUYERS];
            round(&app, &org, mine, group * AT_ONCE + slot)
        });
        for (event, outcomes) in join_all(rounds).await {
            events.push(event);
            for outcome in outcomes {
                *tally.entry(outcome).or_default() += 1;
            }
        }
    }
    eprintln!("{ROUNDS} rounds: {tally:#?}");

    assert_every_event_is_cancelled_with_nothing_kept(&app, &events).await;
    assert_no_money_moved_without_a_ticket(&app, &buyers, top_up).await;
}

/// Every event is CANCELLED; none of its reservations is still held or confirmed; every paid one
/// was refunded once, in full; no ticket of it is valid and every seat is back.
async fn assert_every_event_is_cancelled_with_nothing_kept(app: &TestApp, events: &[Uuid]) {
    let db = &app.state.db;
    let ids: HashSet<Uuid> = events.iter().copied().collect();
    for e in event::Entity::find().all(db).await.unwrap() {
        if ids.contains(&e.id) {
            assert_eq!(e.status, event::EventStatus::Cancelled, "{e:?}");
        }
    }
    let reservations = reservation::Entity::find()
        .filter(reservation::Column::EventId.is_in(ids.iter().copied()))
        .all(db)
        .await
        .unwrap();
    let transactions = transaction::Entity::find().all(db).await.unwrap();
    let of = |r: &reservation::Model, kind: TransactionKind| -> Vec<&transaction::Model> {
        transactions
            .iter()
            .filter(|t| {
                t.reservation_id == Some(r.id)
                    && t.kind == kind
                    && t.status == TransactionStatus::Succeeded
            })
            .collect()
    };
    for r in &reservations {
        let payments = of(r, TransactionKind::Payment);
        let refunds = of(r, TransactionKind::Refund);
        assert!(
            r.status != ReservationStatus::Pending,
            "a hold outlived its cancelled event: {r:?}"
        );
        assert!(
            r.status != ReservationStatus::Confirmed,
            "a reservation of a cancelled event is still confirmed: {r:?}, paid by {payments:?}"
        );
        assert!(payments.len() <= 1, "paid twice: {payments:?}");
        if let Some(payment) = payments.first() {
            assert_eq!(
                refunds.len(),
                1,
                "the payment {payment:?} of {r:?} was refunded {} times",
                refunds.len()
            );
            assert_eq!(refunds[0].amount_cents, payment.amount_cents);
            assert_eq!(refunds[0].user_id, payment.user_id);
        } else {
            assert!(
                refunds.is_empty(),
                "refunded without a payment: {refunds:?}"
            );
        }
    }
    let valid = ticket::Entity::find()
        .filter(ticket::Column::EventId.is_in(ids.iter().copied()))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        .all(db)
        .await
        .unwrap();
    assert!(
        valid.is_empty(),
        "valid tickets for cancelled events: {valid:?}"
    );
    for t in ticket_type::Entity::find()
        .filter(ticket_type::Column::EventId.is_in(ids.iter().copied()))
        .all(db)
        .await
        .unwrap()
    {
        assert_eq!(t.available, t.capacity, "seats not all back: {t:?}");
    }
}

/// Every wallet holds its top-up − its wallet payments + its refunds (through the API as in the
/// database, and equal to its ledger), and the card gateway keeps exactly the charges of
/// SUCCEEDED card payments (which the check above found refunded); every other charge was given
/// back.
async fn assert_no_money_moved_without_a_ticket(app: &TestApp, buyers: &[Account], top_up: i64) {
    let db = &app.state.db;
    let transactions = transaction::Entity::find().all(db).await.unwrap();
    let entries = ledger_entry::Entity::find().all(db).await.unwrap();
    let wallets: HashMap<Uuid, i64> = wallet::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.user_id, w.balance_cents))
        .collect();
    for b in buyers {
        let user = Uuid::parse_str(&b.id).unwrap();
        let sum = |kind: TransactionKind, method: Option<PaymentMethod>| -> i64 {
            transactions
                .iter()
                .filter(|t| {
                    t.user_id == user
                        && t.kind == kind
                        && t.status == TransactionStatus::Succeeded
                        && (method.is_none() || t.method == method)
                })
                .map(|t| t.amount_cents)
                .sum()
        };
        let top_ups = sum(TransactionKind::TopUp, None);
        assert_eq!(top_ups, top_up);
        let expected = top_ups - sum(TransactionKind::Payment, Some(PaymentMethod::Wallet))
            + sum(TransactionKind::Refund, Some(PaymentMethod::Wallet));
        let api = app.ok(Some(&b.access), BALANCE, json!({})).await["wallet"]["balanceCents"]
            .as_i64()
            .unwrap();
        let ledger: i64 = entries
            .iter()
            .filter(|e| e.user_id == user)
            .map(|e| e.amount_cents)
            .sum();
        assert_eq!(
            (api, wallets.get(&user).copied(), ledger),
            (expected, Some(expected), expected),
            "wallet of {} (API, database, ledger) against top-ups − wallet payments + refunds",
            b.username
        );
    }

    let card_payments: HashSet<Uuid> = transactions
        .iter()
        .filter(|t| {
            t.kind == TransactionKind::Payment
                && t.status == TransactionStatus::Succeeded
                && t.method == Some(PaymentMethod::Card)
        })
        .map(|t| t.gateway_charge_id.expect("a card payment has its charge"))
        .collect();
    // Reservation payments' charges (top-ups are charged to cards too: `topup:…`).
    let charges = card_charge::Entity::find()
        .filter(card_charge::Column::IdempotencyKey.starts_with("pay:"))
        .all(db)
        .await
        .unwrap();
    // The event was cancelled: every card payment was refunded in full to its card, through a
    // REFUND transaction that names the charge.
    let refunded_to_card: HashSet<Uuid> = transactions
        .iter()
        .filter(|t| t.kind == TransactionKind::Refund && t.method == Some(PaymentMethod::Card))
        .map(|t| t.gateway_charge_id.expect("a card refund names its charge"))
        .collect();
    assert_eq!(
        refunded_to_card, card_payments,
        "every card payment refunded to its card"
    );
    for c in charges.iter().filter(|c| card_payments.contains(&c.id)) {
        assert_eq!(
            (c.status, c.refunded_cents),
            (ChargeStatus::Refunded, c.amount_cents),
            "{c:?}"
        );
    }
    for c in charges.iter().filter(|c| !card_payments.contains(&c.id)) {
        assert!(
            transactions.iter().any(|t| t.gateway_charge_id == Some(c.id)
                && t.status == TransactionStatus::Failed),
            "a refunded charge without its FAILED payment on record: {c:?}"
        );
    }
}
