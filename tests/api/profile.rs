//! A user's own account: `updateProfile` and `changePassword`.

use serde_json::json;

use crate::helpers::{error_code, spawn_app, str_of};

const LOGIN: &str = "mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) { accessToken refreshToken user { id username } } }";
const UPDATE: &str = "mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { id email displayName suspended } }";
const CHANGE: &str = "mutation($old: String!, $new: String!) {
  changePassword(currentPassword: $old, newPassword: $new) }";
const ME: &str = "{ me { username email displayName } }";
const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }";

#[tokio::test]
async fn update_profile_changes_only_the_given_fields_and_refuses_a_bad_address() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;

    let set = app
        .ok(
            Some(&ann.access),
            UPDATE,
            json!({ "input": { "email": "Ann@Example.com", "displayName": "  Ann A.  " } }),
        )
        .await;
    let only_reminders = app
        .ok(
            Some(&ann.access),
            UPDATE,
            json!({ "input": { "emailReminders": false } }),
        )
        .await;
    let bad = app
        .gql(
            Some(&ann.access),
            UPDATE,
            json!({ "input": { "email": "not-an-address" } }),
        )
        .await;

    assert_eq!(set["updateProfile"]["email"], "ann@example.com");
    assert_eq!(set["updateProfile"]["displayName"], "Ann A.");
    assert_eq!(set["updateProfile"]["suspended"], false);
    assert_eq!(only_reminders["updateProfile"]["displayName"], "Ann A.");
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    let me = app.ok(Some(&ann.access), ME, json!({})).await;
    assert_eq!(me["me"]["email"], "ann@example.com");
    let anonymous = app.gql(None, UPDATE, json!({ "input": {} })).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn change_password_needs_the_current_one_and_ends_every_other_session() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;
    let other = app
        .ok(
            None,
            LOGIN,
            json!({ "u": "ann", "p": "correct horse battery" }),
        )
        .await;
    let other_access = str_of(&other["login"]["accessToken"]);
    let other_refresh = str_of(&other["login"]["refreshToken"]);

    let wrong = app
        .gql(
            Some(&ann.access),
            CHANGE,
            json!({ "old": "not my password", "new": "a brand new secret" }),
        )
        .await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    let changed = app
        .ok(
            Some(&ann.access),
            CHANGE,
            json!({ "old": "correct horse battery", "new": "a brand new secret" }),
        )
        .await;

    assert_eq!(changed["changePassword"], true);
    // This session goes on; the other one is over, access and refresh alike.
    app.ok(Some(&ann.access), ME, json!({})).await;
    let other_me = app.gql(Some(&other_access), ME, json!({})).await;
    assert_eq!(error_code(&other_me), "UNAUTHENTICATED", "{other_me:#}");
    let other_refreshed = app.gql(None, REFRESH, json!({ "t": other_refresh })).await;
    assert_eq!(error_code(&other_refreshed), "UNAUTHENTICATED");
    let old = app
        .gql(
            None,
            LOGIN,
            json!({ "u": "ann", "p": "correct horse battery" }),
        )
        .await;
    assert_eq!(error_code(&old), "UNAUTHENTICATED");
    app.ok(
        None,
        LOGIN,
        json!({ "u": "ann", "p": "a brand new secret" }),
    )
    .await;
}
