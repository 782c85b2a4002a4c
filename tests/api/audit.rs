//! The audit log: entries appended with the change; admins read all, organizers their own
//! events' entries, users nothing.

use serde_json::json;

use crate::helpers::{error_code, nodes, spawn_app};

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
    assert_eq!(entries.len(), 1, "{seen_by_ann:#}");
    assert_eq!(entries[0]["action"], "event.publish");
    assert_eq!(entries[0]["eventId"], json!(anns));
    assert_eq!(spying["auditLog"]["totalCount"], 0);
    let root = crate::helpers::admin(&app).await;
    let all = app.ok(Some(&root.access), AUDIT, json!({})).await;
    assert_eq!(all["auditLog"]["totalCount"], 2);
}

#[tokio::test]
async fn a_user_cannot_read_the_audit_log() {
    let app = spawn_app().await;
    let ann = app.register("ann", "USER").await;

    let res = app.gql(Some(&ann.access), AUDIT, json!({})).await;

    assert_eq!(error_code(&res), "FORBIDDEN", "{res:#}");
}
