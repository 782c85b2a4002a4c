//! Admins manage accounts: `users`, `setUserRole`, `suspendUser` / `reinstateUser`.

use std::time::Duration;

use serde_json::json;

use crate::helpers::ws::WsClient;
use crate::helpers::{admin, error_code, nodes, spawn_app};

const SUSPEND: &str = "mutation($id: ID!, $reason: String!) {
  suspendUser(userId: $id, reason: $reason) { id suspended } }";
const REINSTATE: &str = "mutation($id: ID!) { reinstateUser(userId: $id) { id suspended } }";
const SET_ROLE: &str =
    "mutation($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { id role } }";
const USERS: &str = "query($filter: UserFilter) { users(filter: $filter, first: 50) {
  totalCount edges { node { username role suspended } } } }";
const LOGIN: &str = "mutation($u: String!) {
  login(username: $u, password: \"correct horse battery\") { accessToken } }";
const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }";
const AUDIT: &str = "query($action: String!) { auditLog(filter: { action: $action }) {
  edges { node { targetId detail actor { id } } } } }";

#[tokio::test]
async fn a_suspended_users_subscription_closes_with_4403_and_they_cannot_log_in_until_reinstated() {
    let app = spawn_app().await;
    let root = admin(&app).await;
    let ann = app.register("ann", "USER").await;
    let mut ws = WsClient::connected(app.addr, Some(&ann.access)).await;
    ws.subscribe("n", "subscription { myNotifications { id } }", json!({}))
        .await;

    let suspended = app
        .ok(
            Some(&root.access),
            SUSPEND,
            json!({ "id": ann.id, "reason": "chargeback fraud" }),
        )
        .await;

    assert_eq!(suspended["suspendUser"]["suspended"], true);
    assert_eq!(ws.next_close(Duration::from_secs(2)).await, Some(4403));
    let login = app.gql(None, LOGIN, json!({ "u": "ann" })).await;
    assert_eq!(error_code(&login), "FORBIDDEN", "{login:#}");
    let refresh = app.gql(None, REFRESH, json!({ "t": ann.refresh })).await;
    assert_eq!(error_code(&refresh), "UNAUTHENTICATED");
    let me = app.gql(Some(&ann.access), "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
    let audit = app
        .ok(
            Some(&root.access),
            AUDIT,
            json!({ "action": "user.suspend" }),
        )
        .await;
    let entries = nodes(&audit["auditLog"]);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["targetId"], json!(ann.id));
    assert!(
        entries[0]["detail"]
            .as_str()
            .unwrap()
            .contains("chargeback fraud")
    );

    app.ok(Some(&root.access), REINSTATE, json!({ "id": ann.id }))
        .await;
    app.ok(None, LOGIN, json!({ "u": "ann" })).await;
}

#[tokio::test]
async fn an_admin_cannot_demote_or_suspend_themselves_and_others_cannot_manage_users() {
    let app = spawn_app().await;
    let root = admin(&app).await;
    let org = app.register("org", "ORGANIZER").await;
    let ann = app.register("ann", "USER").await;

    let demote = app
        .gql(
            Some(&root.access),
            SET_ROLE,
            json!({ "id": root.id, "role": "USER" }),
        )
        .await;
    let suspend = app
        .gql(
            Some(&root.access),
            SUSPEND,
            json!({ "id": root.id, "reason": "oops" }),
        )
        .await;
    assert_eq!(error_code(&demote), "FORBIDDEN");
    assert_eq!(error_code(&suspend), "FORBIDDEN");
    for who in [&org, &ann] {
        let promote = app
            .gql(
                Some(&who.access),
                SET_ROLE,
                json!({ "id": who.id, "role": "ADMIN" }),
            )
            .await;
        assert_eq!(error_code(&promote), "FORBIDDEN");
        let list = app.gql(Some(&who.access), USERS, json!({})).await;
        assert_eq!(error_code(&list), "FORBIDDEN");
        let suspend = app
            .gql(
                Some(&who.access),
                SUSPEND,
                json!({ "id": root.id, "reason": "x" }),
            )
            .await;
        assert_eq!(error_code(&suspend), "FORBIDDEN");
    }
    let me = app
        .ok(Some(&root.access), "{ me { role } }", json!({}))
        .await;
    assert_eq!(me["me"]["role"], "ADMIN");
}

#[tokio::test]
async fn users_filters_by_search_role_and_suspension_and_set_user_role_takes_effect() {
    let app = spawn_app().await;
    let root = admin(&app).await;
    let ann = app.register("ann", "USER").await;
    app.register("annette", "USER").await;
    app.register("bob", "ORGANIZER").await;

    let promoted = app
        .ok(
            Some(&root.access),
            SET_ROLE,
            json!({ "id": ann.id, "role": "ORGANIZER" }),
        )
        .await;
    app.ok(
        Some(&root.access),
        SUSPEND,
        json!({ "id": ann.id, "reason": "spam" }),
    )
    .await;

    assert_eq!(promoted["setUserRole"]["role"], "ORGANIZER");
    let names = |data: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = nodes(&data["users"])
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let search = app
        .ok(
            Some(&root.access),
            USERS,
            json!({ "filter": { "search": "ANN" } }),
        )
        .await;
    assert_eq!(names(&search), ["ann", "annette"]);
    let organizers = app
        .ok(
            Some(&root.access),
            USERS,
            json!({ "filter": { "role": "ORGANIZER" } }),
        )
        .await;
    assert_eq!(names(&organizers), ["ann", "bob"]);
    let suspended = app
        .ok(
            Some(&root.access),
            USERS,
            json!({ "filter": { "suspended": true } }),
        )
        .await;
    assert_eq!(names(&suspended), ["ann"]);
    assert_eq!(nodes(&suspended["users"])[0]["suspended"], true);
    let all = app.ok(Some(&root.access), USERS, json!({})).await;
    assert_eq!(all["users"]["totalCount"], 4);
}
