//! Password reset end to end: the link is read from the message the server wrote.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{error_code, eventually, messages_in, spawn_app_with};
use crate::mail::register_with_email;

const REQUEST: &str = "mutation($who: String!) { requestPasswordReset(usernameOrEmail: $who) }";
const RESET: &str = "mutation($t: String!, $p: String!) {
  resetPassword(token: $t, newPassword: $p) { accessToken user { username } } }";
const LOGIN: &str = "mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) { accessToken } }";
const ME: &str = "{ me { username } }";

#[tokio::test]
async fn a_password_reset_works_once_through_the_link_in_the_message_and_ends_older_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(&[
        ("MAIL_DIR", dir.path().to_str().unwrap()),
        ("MAIL_POLL_INTERVAL_MS", "50"),
        ("PUBLIC_URL", "https://tickets.example.com"),
    ])
    .await;
    let ann = register_with_email(&app, "ann").await;

    let asked = app
        .ok(None, REQUEST, json!({ "who": "ANN@example.com" }))
        .await;
    assert_eq!(asked["requestPasswordReset"], true);
    let message = eventually(Duration::from_secs(30), "the reset message", || async {
        messages_in(dir.path()).into_iter().next()
    })
    .await;
    assert_eq!(message.to, "ann@example.com");
    let prefix = "https://tickets.example.com/reset-password?token=";
    let token = message
        .text
        .split_whitespace()
        .find_map(|w| w.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no reset link in {}", message.text))
        .to_string();
    let page = app.get_text("/reset-password").await;
    assert!(
        page.contains("resetPassword"),
        "the page calls resetPassword"
    );

    let reset = app
        .ok(
            None,
            RESET,
            json!({ "t": token, "p": "a fresh new secret" }),
        )
        .await;
    let again = app
        .gql(
            None,
            RESET,
            json!({ "t": token, "p": "yet another secret" }),
        )
        .await;

    assert_eq!(reset["resetPassword"]["user"]["username"], "ann");
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "a token works once");
    let old_session = app.gql(Some(&ann.access), ME, json!({})).await;
    assert_eq!(error_code(&old_session), "UNAUTHENTICATED");
    let new_access = reset["resetPassword"]["accessToken"].as_str().unwrap();
    app.ok(Some(new_access), ME, json!({})).await;
    app.ok(
        None,
        LOGIN,
        json!({ "u": "ann", "p": "a fresh new secret" }),
    )
    .await;
    let old_password = app
        .gql(
            None,
            LOGIN,
            json!({ "u": "ann", "p": "correct horse battery" }),
        )
        .await;
    assert_eq!(error_code(&old_password), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_reset_request_for_an_unknown_account_looks_the_same_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(&[
        ("MAIL_DIR", dir.path().to_str().unwrap()),
        ("MAIL_POLL_INTERVAL_MS", "50"),
    ])
    .await;
    register_with_email(&app, "ann").await;

    let unknown = app
        .post_raw(json!({ "query": REQUEST, "variables": { "who": "nobody@example.com" } }))
        .await;
    let known = app
        .post_raw(json!({ "query": REQUEST, "variables": { "who": "ann" } }))
        .await;

    assert_eq!(unknown, known, "identical status and body");
    // The known account's message arrives; nothing else does.
    eventually(Duration::from_secs(30), "ann's reset message", || async {
        (messages_in(dir.path()).len() == 1).then_some(())
    })
    .await;
    let rows = crate::mail::outbox(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].recipient, "ann@example.com");
    let bogus = app
        .gql(
            None,
            RESET,
            json!({ "t": "not-a-token", "p": "whatever123" }),
        )
        .await;
    assert_eq!(error_code(&bogus), "BAD_USER_INPUT");
}
