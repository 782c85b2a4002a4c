//! What a newcomer met with Python `gql`, Apollo Client and urql (issue 11): field order, request
//! errors for bad variables, readable syntax errors, a WebSocket-aware login hint.

use std::time::Duration;

use crate::helpers::{TestApp, error_code, spawn_app, ws};
use serde_json::{Value, json};

async fn post_text(app: &TestApp, body: Value, accept: &str) -> (u16, String) {
    let res = app
        .client
        .post(app.url("/graphql"))
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn response_fields_come_back_in_the_order_of_the_selection_set() {
    let app = spawn_app().await;
    let query = "query { b: events(first: 1) { totalCount edges { cursor } pageInfo { hasNextPage } } me { id } ...F } fragment F on Query { a: me { id } }";
    let (_, text) = post_text(&app, json!({ "query": query }), "application/json").await;
    let at = |key: &str| {
        text.find(key)
            .unwrap_or_else(|| panic!("{key} missing in {text}"))
    };
    assert!(at("\"b\"") < at("\"me\""), "{text}");
    assert!(at("\"me\"") < at("\"a\""), "{text}");
    assert!(at("\"totalCount\"") < at("\"edges\""), "{text}");
    assert!(at("\"edges\"") < at("\"pageInfo\""), "{text}");
}

#[tokio::test]
async fn a_variable_of_the_wrong_type_for_a_custom_scalar_is_a_request_error() {
    let app = spawn_app().await;
    let top_up = "mutation($a: Cents!) { topUpWallet(amountCents: $a, idempotencyKey: \"k\", cardToken: \"tok_visa\") { balanceCents } }";
    let create = "mutation($i: CreateEventInput!) { createEvent(input: $i) { id } }";
    let cases = [
        json!({ "query": top_up, "variables": { "a": "5000" } }),
        json!({ "query": top_up, "variables": { "a": 1.5 } }),
        json!({ "query": create, "variables": { "i": { "title": "x", "startsAt": "tomorrow", "ticketTypes": [] } } }),
        json!({ "query": create, "variables": { "i": { "title": "x", "startsAt": "2030-01-01T00:00:00Z", "ticketTypes": [{ "name": "GA", "priceCents": "9", "capacity": 1 }] } } }),
    ];
    for body in cases {
        let (status, text) =
            post_text(&app, body.clone(), "application/graphql-response+json").await;
        let res: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(status, 400, "{body}: {text}");
        assert!(
            res.get("data").is_none(),
            "a request error has no data: {text}"
        );
        assert_eq!(error_code(&res), "BAD_USER_INPUT", "{text}");
        assert!(
            res["errors"][0].get("path").is_none(),
            "no resolver ran: {text}"
        );
    }
}

#[tokio::test]
async fn syntax_errors_are_one_line_with_their_position() {
    let app = spawn_app().await;
    let res = app
        .gql(None, "{ events(first: 1) { 12 } }", json!({}))
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    assert_eq!(
        res["errors"][0]["message"],
        "Syntax error at 1:22: expected selection"
    );
    assert_eq!(
        res["errors"][0]["locations"],
        json!([{ "line": 1, "column": 22 }])
    );
}

#[tokio::test]
async fn over_websocket_the_login_hint_names_the_connection_init_payload() {
    let app = spawn_app().await;
    let mut socket = ws::WsClient::connected(app.addr, None).await;
    socket
        .start("w", "{ wallet { balanceCents } }", json!({}))
        .await;
    let errors = socket.next_error("w", Duration::from_secs(10)).await;
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("connection_init"), "{message}");
    let res = app
        .gql(None, "{ wallet { balanceCents } }", json!({}))
        .await;
    let message = res["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Authorization: Bearer"), "{message}");
}
