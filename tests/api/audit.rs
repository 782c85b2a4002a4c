//! The audit log: entries appended with the change; admins read all, organizers their own
//! events' entries, users nothing.

use evenntify::faults::Fault;
use serde_json::{Value, json};

use crate::helpers::{
    Account, TestApp, admin, error_code, id_of, nodes, spawn_app, tickets_of_reservation,
};

const AUDIT: &str = "query($filter: AuditFilter) { auditLog(filter: $filter, first: 50) {
  totalCount edges { node { action targetType targetId eventId requestId clientAddress detail actor { id } } } } }";

#[tokio::test]
async fn an_organizer_reads_the_audit_entries_of_their_own_events_only() {
    let app = spawn_app().await;
    let ann = app.register("ann", "ORGANIZER").await;
    let bob = app.register("bob", "ORGANIZER").await;
    let (anns, _) = app.published_event(&ann, "Ann's", &[("GA", 100, 5)]).await;
    let (bobs, _) = app.published_event(&bob, "Bob's", &[("GA", 100, 5)]).await;

    let seen_by_ann = app.ok(Some(&ann.access), AUDIT, json!({})).await;
    let spying = app
        .ok(
            Some(&ann.access),
            AUDIT,
            json!({ "filter": { "eventId": bobs } }),
        )
        .await;

    let entries = nodes(&seen_by_ann["auditLog"]);
    let actions: Vec<&Value> = entries.iter().map(|e| &e["action"]).collect();
    assert_eq!(
        actions,
        ["event.publish", "event.create"],
        "{seen_by_ann:#}"
    );
    assert!(entries.iter().all(|e| e["eventId"] == json!(anns)));
    assert_eq!(spying["auditLog"]["totalCount"], 0);
    let root = crate::helpers::admin(&app).await;
    let bobs_for_admin = app
        .ok(
            Some(&root.access),
            AUDIT,
            json!({ "filter": { "eventId": bobs } }),
        )
        .await;
    assert_eq!(bobs_for_admin["auditLog"]["totalCount"], 2);
}

#[tokio::test]
async fn a_user_cannot_read_the_audit_log() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;

    let res = app.gql(Some(&ann.access), AUDIT, json!({})).await;

    assert_eq!(error_code(&res), "FORBIDDEN", "{res:#}");
}

/// Every entry with `action`, newest first, as an admin reads them.
async fn entries(app: &TestApp, root: &Account, action: &str) -> Vec<Value> {
    let page = app
        .ok(
            Some(&root.access),
            AUDIT,
            json!({ "filter": { "action": action } }),
        )
        .await;
    nodes(&page["auditLog"])
}

/// Exactly one entry with `action`, by `actor` (None: anonymous), with the request id and the
/// client address; returns it.
async fn the_one(app: &TestApp, root: &Account, action: &str, actor: Option<&Account>) -> Value {
    let found = entries(app, root, action).await;
    assert_eq!(found.len(), 1, "{action}: {found:#?}");
    let e = found[0].clone();
    assert_eq!(
        e["actor"]["id"].as_str(),
        actor.map(|a| a.id.as_str()),
        "{action}: {e:#}"
    );
    assert!(
        e["requestId"].as_str().is_some_and(|r| !r.is_empty()),
        "{action}: {e:#}"
    );
    assert_eq!(e["clientAddress"], "127.0.0.1", "{action}: {e:#}");
    e
}

#[tokio::test]
async fn each_mutation_leaves_exactly_its_entry_with_the_request_id_and_client_address() {
    let app = spawn_app().await;
    let org = app.register("org", "ORGANIZER").await;
    let ann = app.register("ann", "USER").await;
    let bea = app.register("bea", "USER").await;
    let root = admin(&app).await;
    let (event, types) = app
        .published_event(&org, "Audited", &[("GA", 1_000, 10)])
        .await;
    app.ok(
        Some(&org.access),
        "mutation($id: ID!) { updateEvent(id: $id, input: { title: \"Audited!\" }) { id } }",
        json!({ "id": event }),
    )
    .await;
    app.ok(
        Some(&org.access),
        "mutation($id: ID!) { addEventStaff(eventId: $id, username: \"bea\") { id } }",
        json!({ "id": event }),
    )
    .await;
    app.top_up(&ann, 5_000).await;
    let reservation = app.hold(&ann, &types[0], 2).await;
    app.paid(&ann, &reservation).await;
    let tickets = tickets_of_reservation(&app, &reservation).await;
    let ticket = tickets[0].id.to_string();
    app.ok(
        Some(&ann.access),
        "mutation($id: ID!) { setTicketHolderName(ticketId: $id, name: \"Ann A.\") { id } }",
        json!({ "id": ticket }),
    )
    .await;
    app.ok(
        Some(&ann.access),
        "mutation($id: ID!) { transferTicket(ticketId: $id, toUsername: \"bea\") { id } }",
        json!({ "id": ticket }),
    )
    .await;
    app.ok(
        Some(&bea.access),
        "mutation { rotateCalendarToken }",
        json!({}),
    )
    .await;
    let spare = app.hold(&ann, &types[0], 1).await;
    app.cancel(&ann, &spare).await;
    let cancelled = app
        .ok(
            Some(&org.access),
            "mutation($id: ID!) { cancelEvent(id: $id) { id } }",
            json!({ "id": event }),
        )
        .await;
    assert_eq!(id_of(&cancelled["cancelEvent"]), event);

    for (action, actor) in [
        ("event.create", &org),
        ("event.update", &org),
        ("event.publish", &org),
        ("event.add_staff", &org),
        ("wallet.top_up", &ann),
        ("reservation.pay", &ann),
        ("ticket.set_holder_name", &ann),
        ("ticket.transfer", &ann),
        ("calendar.rotate_token", &bea),
        ("reservation.cancel", &ann),
        ("event.cancel", &org),
    ] {
        the_one(&app, &root, action, Some(actor)).await;
    }
    let paid = the_one(&app, &root, "reservation.pay", Some(&ann)).await;
    assert_eq!(paid["targetId"], json!(reservation));
    assert_eq!(paid["eventId"], json!(event));
    let moved = the_one(&app, &root, "ticket.transfer", Some(&ann)).await;
    let detail: Value = serde_json::from_str(moved["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["to"], "bea");
}

#[tokio::test]
async fn sign_in_events_are_audited_and_a_failed_login_is_kept_although_it_fails() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;
    let root = admin(&app).await;
    const LOGIN: &str = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
      accessToken refreshToken user { id } } }";
    const REFRESH: &str =
        "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }";

    let failed = app
        .gql(None, LOGIN, json!({ "u": "ann", "p": "not her password" }))
        .await;
    let login = app
        .ok(
            None,
            LOGIN,
            json!({ "u": "ann", "p": "correct horse battery" }),
        )
        .await;
    let first = login["login"]["refreshToken"].as_str().unwrap().to_string();
    app.ok(None, REFRESH, json!({ "t": first })).await;
    let replayed = app.gql(None, REFRESH, json!({ "t": first })).await;

    assert_eq!(error_code(&failed), "UNAUTHENTICATED", "{failed:#}");
    assert_eq!(error_code(&replayed), "UNAUTHENTICATED", "{replayed:#}");
    let miss = the_one(&app, &root, "auth.login_failed", None).await;
    let detail: Value = serde_json::from_str(miss["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["username"], "ann");
    // Registering logged ann in once; the login above is the other entry.
    let logins = entries(&app, &root, "auth.login").await;
    assert!(
        logins.iter().any(|e| e["actor"]["id"] == json!(ann.id)),
        "{logins:#?}"
    );
    the_one(&app, &root, "auth.refresh_reuse", None).await;

    app.ok(
        None,
        "mutation($t: String!) { logout(refreshToken: $t) }",
        json!({ "t": ann.refresh }),
    )
    .await;
    the_one(&app, &root, "auth.logout", Some(&ann)).await;
}

#[tokio::test]
async fn a_mutation_that_rolls_back_leaves_no_entry() {
    let app = spawn_app().await;
    let org = app.register("org", "ORGANIZER").await;
    let ann = app.register("ann", "USER").await;
    let root = admin(&app).await;
    let (_, types) = app
        .published_event(&org, "Rollback", &[("GA", 1_000, 10)])
        .await;
    app.top_up(&ann, 5_000).await;
    let reservation = app.hold(&ann, &types[0], 1).await;
    app.state.faults.arm(Fault::PayBeforeCommit);

    let res = app.pay(&ann, &reservation, "k1").await;

    assert_eq!(error_code(&res), "INTERNAL_SERVER_ERROR", "{res:#}");
    assert!(entries(&app, &root, "reservation.pay").await.is_empty());
    app.paid(&ann, &reservation).await;
    the_one(&app, &root, "reservation.pay", Some(&ann)).await;
}
