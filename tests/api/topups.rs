//! Paid top-ups: money enters a wallet only when a card paid for it, with the card payment's
//! saga guarantees (one charge per key, an uncredited charge is refunded).

use entity::card_charge::{self, ChargeStatus};
use entity::transaction::{self, TransactionKind, TransactionStatus};
use evenntify::faults::Fault;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, error_code, new_key, spawn_app, uuid};

const TOP_UP_WITH: &str = "mutation($amount: Cents!, $key: String!, $card: String) {
  topUpWallet(amountCents: $amount, idempotencyKey: $key, cardToken: $card) { balanceCents } }";

async fn top_up_with(
    app: &TestApp,
    who: &Account,
    amount: i64,
    key: &str,
    card: Option<&str>,
) -> Value {
    app.gql(
        Some(&who.access),
        TOP_UP_WITH,
        json!({ "amount": amount, "key": key, "card": card }),
    )
    .await
}

async fn charges(app: &TestApp) -> Vec<card_charge::Model> {
    card_charge::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
}

async fn top_ups_of(app: &TestApp, who: &Account) -> Vec<transaction::Model> {
    transaction::Entity::find()
        .filter(transaction::Column::UserId.eq(uuid(&who.id)))
        .filter(transaction::Column::Kind.eq(TransactionKind::TopUp))
        .all(&app.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_top_up_without_a_card_token_is_refused_and_adds_nothing() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;

    let res = top_up_with(&app, &ann, 5_000, &new_key(), None).await;

    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res:#}");
    assert_eq!(app.balance(&ann).await, 0);
    assert!(charges(&app).await.is_empty());
}

#[tokio::test]
async fn a_top_up_with_a_declined_card_adds_nothing() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;

    let res = top_up_with(&app, &ann, 5_000, &new_key(), Some("tok_chargeDeclined")).await;

    assert_eq!(error_code(&res), "PAYMENT_DECLINED", "{res:#}");
    assert_eq!(app.balance(&ann).await, 0);
    assert!(top_ups_of(&app, &ann).await.is_empty());
}

#[tokio::test]
async fn a_top_up_charges_the_card_once_and_credits_once_however_often_its_key_is_sent() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;
    let key = new_key();

    for _ in 0..3 {
        let res = top_up_with(&app, &ann, 2_500, &key, Some("tok_visa")).await;
        assert_eq!(res["data"]["topUpWallet"]["balanceCents"], 2_500, "{res:#}");
    }

    let charges = charges(&app).await;
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].amount_cents, 2_500);
    assert_eq!(charges[0].status, ChargeStatus::Succeeded);
    let top_ups = top_ups_of(&app, &ann).await;
    assert_eq!(top_ups.len(), 1);
    assert_eq!(top_ups[0].gateway_charge_id, Some(charges[0].id));
}

#[tokio::test]
async fn a_top_up_that_fails_after_the_charge_refunds_the_card_and_adds_nothing() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;
    app.state.faults.arm(Fault::TopUpBeforeCommit);

    let res = top_up_with(&app, &ann, 4_000, &new_key(), Some("tok_visa")).await;

    assert_eq!(error_code(&res), "INTERNAL_SERVER_ERROR", "{res:#}");
    assert_eq!(app.balance(&ann).await, 0);
    let charges = charges(&app).await;
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].status, ChargeStatus::Refunded);
    let top_ups = top_ups_of(&app, &ann).await;
    assert_eq!(top_ups.len(), 1);
    assert_eq!(top_ups[0].status, TransactionStatus::Failed);
    assert_eq!(top_ups[0].gateway_charge_id, Some(charges[0].id));
}
