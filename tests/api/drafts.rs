//! Deleting and cloning events (issue 16, points 2 and 3) through the real server: a draft that
//! never sold is deleted, anything else is a CONFLICT; a clone is a DRAFT of the caller's with
//! the original's details, policy, ticket types at full capacity and seat map, and no sales.

use crate::helpers::{error_code, spawn_app, tickets_of_event};
use chrono::{Duration, Utc};
use entity::event_seat::{self, SeatStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

const DELETE: &str = "mutation($id: ID!) { deleteEvent(id: $id) }";
const CLONE: &str = "mutation($id: ID!, $at: DateTime!) { cloneEvent(id: $id, startsAt: $at) {
  id title description venue startsAt endsAt status allowTransfers organizer { username }
  cancellationPolicy { feeCents rules { hoursBeforeStart refundPercent } }
  ticketTypes { id name priceCents capacity available } } }";
const EVENT: &str = "query($id: ID!) { event(id: $id) { id } }";
const POLICY: &str = "mutation($id: ID!) { setCancellationPolicy(eventId: $id, input: {
  rules: [{ hoursBeforeStart: 48, refundPercent: 50 }], feeCents: 100 }) { id } }";
const NO_TRANSFERS: &str = "mutation($id: ID!) { updateEvent(id: $id, input: { allowTransfers: false, endsAt: \"2099-01-01T03:00:00Z\", startsAt: \"2099-01-01T00:00:00Z\" }) { id } }";

#[tokio::test]
async fn a_draft_that_never_sold_is_deleted_and_anything_else_is_a_conflict() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let rival = app.register("rita", "ORGANIZER").await;
    let buyer = app.register("bea", "USER").await;
    let (draft, _) = app.draft_event(&org, "Draft", &[("GA", 1_000, 10)]).await;
    let (published, types) = app
        .published_event(&org, "Live", &[("GA", 1_000, 10)])
        .await;
    app.hold(&buyer, &types[0], 1).await;

    let res = app
        .gql(Some(&rival.access), DELETE, json!({ "id": draft }))
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    let res = app
        .gql(Some(&org.access), DELETE, json!({ "id": published }))
        .await;
    assert_eq!(error_code(&res), "CONFLICT", "{res:#}");

    let res = app
        .ok(Some(&org.access), DELETE, json!({ "id": draft }))
        .await;
    assert_eq!(res["deleteEvent"], true);
    let gone = app
        .ok(Some(&org.access), EVENT, json!({ "id": draft }))
        .await;
    assert!(gone["event"].is_null());
    let res = app
        .gql(Some(&org.access), DELETE, json!({ "id": draft }))
        .await;
    assert_eq!(error_code(&res), "NOT_FOUND");
}

#[tokio::test]
async fn a_clone_has_the_ticket_types_at_full_capacity_the_policy_and_no_sales() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let buyer = app.register("bea", "USER").await;
    app.top_up(&buyer, 100_000).await;
    let (event, types) = app
        .published_event(
            &org,
            "Monthly workshop",
            &[("Seat", 2_500, 10), ("Free", 0, 5)],
        )
        .await;
    app.ok(Some(&org.access), POLICY, json!({ "id": event }))
        .await;
    app.ok(Some(&org.access), NO_TRANSFERS, json!({ "id": event }))
        .await;
    let r = app.hold(&buyer, &types[0], 3).await;
    app.paid(&buyer, &r).await;
    app.reserved(&buyer, &types[1], 2).await;

    let at = (Utc::now() + Duration::days(40)).to_rfc3339();
    let res = app
        .ok(Some(&org.access), CLONE, json!({ "id": event, "at": at }))
        .await;
    let copy = &res["cloneEvent"];
    assert_ne!(copy["id"], event.as_str());
    assert_eq!(copy["status"], "DRAFT");
    assert_eq!(copy["title"], "Monthly workshop");
    assert_eq!(copy["description"], "All about Monthly workshop");
    assert_eq!(copy["venue"], "Hall 1");
    assert_eq!(copy["allowTransfers"], false);
    assert_eq!(copy["organizer"]["username"], "olga");
    assert_eq!(copy["cancellationPolicy"]["feeCents"], 100);
    assert_eq!(copy["cancellationPolicy"]["rules"][0]["refundPercent"], 50);
    // The three hours between start and end move with the start.
    let starts: chrono::DateTime<Utc> = copy["startsAt"].as_str().unwrap().parse().unwrap();
    let ends: chrono::DateTime<Utc> = copy["endsAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(ends - starts, Duration::hours(3));
    let got: Vec<Value> = copy["ticketTypes"].as_array().unwrap().clone();
    assert_eq!(
        got.iter()
            .map(|t| (
                t["name"].as_str().unwrap().to_string(),
                t["priceCents"].as_i64().unwrap(),
                t["capacity"].as_i64().unwrap(),
                t["available"].as_i64().unwrap()
            ))
            .collect::<Vec<_>>(),
        vec![
            ("Seat".to_string(), 2_500, 10, 10),
            ("Free".to_string(), 0, 5, 5)
        ]
    );
    let copy_id = copy["id"].as_str().unwrap();
    assert!(tickets_of_event(&app, copy_id).await.is_empty());
    assert_eq!(tickets_of_event(&app, &event).await.len(), 5);

    // Only the organizer (or an admin) clones; in the past is refused.
    let res = app
        .gql(Some(&buyer.access), CLONE, json!({ "id": event, "at": at }))
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    let past = (Utc::now() - Duration::days(1)).to_rfc3339();
    let res = app
        .gql(Some(&org.access), CLONE, json!({ "id": event, "at": past }))
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    // The clone, never sold, can be deleted.
    let res = app
        .ok(Some(&org.access), DELETE, json!({ "id": copy_id }))
        .await;
    assert_eq!(res["deleteEvent"], true);
}

#[tokio::test]
async fn a_clone_of_a_seated_event_has_the_whole_seat_map_available() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let buyer = app.register("bea", "USER").await;
    let venue = app
        .ok(
            Some(&org.access),
            "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id } }",
            json!({ "input": { "name": "Club", "sections": [
                { "name": "Main", "rows": [{ "label": "A", "seats": 4 }, { "label": "B", "seats": 4 }] }
            ] } }),
        )
        .await["createVenue"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let starts_at = (Utc::now() + Duration::days(10)).to_rfc3339();
    let created = app
        .ok(
            Some(&org.access),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }",
            json!({ "input": { "title": "Seated", "startsAt": starts_at, "venueId": venue,
                "ticketTypes": [{ "name": "Main", "priceCents": 1_000, "sections": ["Main"] }] } }),
        )
        .await;
    let event = created["createEvent"]["id"].as_str().unwrap().to_string();
    let tt = created["createEvent"]["ticketTypes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.publish(&org, &event).await;
    let res = app
        .gql(
            Some(&buyer.access),
            "mutation($tt: ID!) { reserve(input: { ticketTypeId: $tt, quantity: 2, bestAvailable: true }) { id } }",
            json!({ "tt": tt }),
        )
        .await;
    assert!(res.get("errors").is_none(), "{res:#}");

    let at = (Utc::now() + Duration::days(40)).to_rfc3339();
    let res = app
        .ok(Some(&org.access), CLONE, json!({ "id": event, "at": at }))
        .await;
    let copy = res["cloneEvent"]["id"].as_str().unwrap().to_string();
    let new_tt = res["cloneEvent"]["ticketTypes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let seats = event_seat::Entity::find()
        .filter(event_seat::Column::EventId.eq(crate::helpers::uuid(&copy)))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(seats.len(), 8);
    assert!(seats.iter().all(|s| s.status == SeatStatus::Available
        && s.reservation_id.is_none()
        && s.ticket_type_id.to_string() == new_tt));
    assert_eq!(res["cloneEvent"]["ticketTypes"][0]["available"], 8);
}
