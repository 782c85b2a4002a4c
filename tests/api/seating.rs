//! Seated events (issue 12) through the real server: venues shared by events, racing holds of
//! chosen and best-available seats, blocking, expiry, the seat map's statement count, the live
//! seat map, and validation.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::helpers::ws::WsClient;
use crate::helpers::{
    Account, TestApp, error_code, error_message, new_key, register_many, spawn_app_with, uuid,
};
use entity::event_seat::{self, SeatStatus};
use entity::reservation::{self, ReservationStatus};
use entity::{reservation_seat, ticket_type};
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

const CREATE_VENUE: &str = "mutation($input: CreateVenueInput!) { createVenue(input: $input) {
  id name capacity sections { name rows { label seats } } } }";
const VENUES: &str = "query($first: Int, $after: String) { venues(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id name capacity } } } }";
const CREATE_EVENT: &str = "mutation($input: CreateEventInput!) {
  createEvent(input: $input) { id capacity ticketTypes { id name capacity available } } }";
const SEAT_MAP: &str = "query($id: ID!) { event(id: $id) { seatMap { sections { name
  ticketType { id name } rows { label seats { id label number row section status ticketType { id } } } } } } }";
const RESERVE: &str = "mutation($input: ReserveInput!) { reserve(input: $input) {
  id status quantity amountCents seats { id label row number status } ticketType { id available } } }";
const PAY: &str = "mutation($input: PayInput!) { pay(input: $input) {
  reservation { id status seats { label status } tickets { id seat { id label status } } } } }";
const TOP_UP: &str = "mutation($amount: Cents!, $key: String!) {
  topUpWallet(amountCents: $amount, idempotencyKey: $key, cardToken: \"tok_visa\") { balanceCents } }";
const BLOCK: &str = "mutation($event: ID!, $seats: [ID!]!, $blocked: Boolean!) {
  blockSeats(eventId: $event, seatIds: $seats, blocked: $blocked) { id label status } }";
const TICKET_TYPES: &str = "query($id: ID!) { event(id: $id) { available capacity ticketTypes { id name capacity available } } }";
const SEAT_MAP_UPDATES: &str = "subscription($id: ID!) { seatMapUpdates(eventId: $id) {
  eventId seats { id label status ticketType { id } } } }";

/// `rows` rows labelled A, B, … (then R26, …) of `seats` seats each.
fn section(name: &str, rows: usize, seats: i32) -> Value {
    let label = |i: usize| {
        if i < 26 {
            ((b'A' + i as u8) as char).to_string()
        } else {
            format!("R{i}")
        }
    };
    json!({ "name": name, "rows": (0..rows).map(|i| json!({ "label": label(i), "seats": seats })).collect::<Vec<_>>() })
}

async fn create_venue(app: &TestApp, org: &Account, name: &str, sections: Vec<Value>) -> Value {
    app.ok(
        Some(&org.access),
        CREATE_VENUE,
        json!({ "input": { "name": name, "sections": sections } }),
    )
    .await["createVenue"]
        .clone()
}

/// A seated event on `venue` (published unless `draft`); `types` are (name, price, sections),
/// an empty section list meaning general admission with 50 seats. Returns the event id and the
/// ticket type ids by name.
async fn seated_event(
    app: &TestApp,
    org: &Account,
    venue: &str,
    title: &str,
    types: &[(&str, i64, &[&str])],
) -> (String, HashMap<String, String>) {
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let types: Vec<Value> = types
        .iter()
        .map(|(name, price, sections)| {
            if sections.is_empty() {
                json!({ "name": name, "priceCents": price, "capacity": 50 })
            } else {
                json!({ "name": name, "priceCents": price, "sections": sections })
            }
        })
        .collect();
    let data = app
        .ok(
            Some(&org.access),
            CREATE_EVENT,
            json!({ "input": { "title": title, "startsAt": starts_at, "venueId": venue, "ticketTypes": types } }),
        )
        .await;
    let event = data["createEvent"]["id"].as_str().unwrap().to_string();
    let ids = data["createEvent"]["ticketTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    app.publish(org, &event).await;
    (event, ids)
}

async fn seat_map(app: &TestApp, who: Option<&Account>, event: &str) -> Value {
    app.ok(
        who.map(|a| a.access.as_str()),
        SEAT_MAP,
        json!({ "id": event }),
    )
    .await["event"]["seatMap"]
        .clone()
}

/// label → (id, status) over the whole map.
fn seats_by_label(map: &Value, section: &str) -> HashMap<String, (String, String)> {
    map["sections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == section)
        .flat_map(|s| s["rows"].as_array().unwrap().iter())
        .flat_map(|r| r["seats"].as_array().unwrap().iter())
        .map(|s| {
            (
                s["label"].as_str().unwrap().to_string(),
                (
                    s["id"].as_str().unwrap().to_string(),
                    s["status"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

async fn reserve_seats(app: &TestApp, who: &Account, tt: &str, seats: &[&str]) -> Value {
    app.gql(
        Some(&who.access),
        RESERVE,
        json!({ "input": { "ticketTypeId": tt, "seatIds": seats } }),
    )
    .await
}

async fn reserve_best(app: &TestApp, who: &Account, tt: &str, quantity: i32) -> Value {
    app.gql(
        Some(&who.access),
        RESERVE,
        json!({ "input": { "ticketTypeId": tt, "quantity": quantity, "bestAvailable": true } }),
    )
    .await
}

async fn ticket_type_row(app: &TestApp, tt: &str) -> ticket_type::Model {
    ticket_type::Entity::find_by_id(uuid(tt))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

async fn seats_of(app: &TestApp, tt: &str) -> Vec<event_seat::Model> {
    event_seat::Entity::find()
        .filter(event_seat::Column::TicketTypeId.eq(uuid(tt)))
        .all(&app.state.db)
        .await
        .unwrap()
}

/// The database's own view: every HELD/SOLD seat belongs to exactly one live reservation, no
/// live reservation shares a seat with another, and `available` counts the free seats.
async fn assert_seats_consistent(app: &TestApp, tt: &str) {
    let seats = seats_of(app, tt).await;
    let live: HashMap<Uuid, reservation::Model> = reservation::Entity::find()
        .filter(reservation::Column::TicketTypeId.eq(uuid(tt)))
        .filter(
            reservation::Column::Status
                .is_in([ReservationStatus::Pending, ReservationStatus::Confirmed]),
        )
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let history = reservation_seat::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    let mut owner: HashMap<Uuid, Uuid> = HashMap::new();
    for h in history
        .iter()
        .filter(|h| live.contains_key(&h.reservation_id))
    {
        if let Some(other) = owner.insert(h.seat_id, h.reservation_id) {
            panic!(
                "seat {} belongs to two live reservations: {other} and {}",
                h.seat_id, h.reservation_id
            );
        }
    }
    for s in &seats {
        match s.status {
            SeatStatus::Held | SeatStatus::Sold => {
                let r = s.reservation_id.expect("a held seat has its reservation");
                assert!(
                    live.contains_key(&r),
                    "seat {} held by a dead reservation",
                    s.label
                );
                assert_eq!(owner.get(&s.id), Some(&r));
            }
            SeatStatus::Available | SeatStatus::Blocked => {
                assert!(s.reservation_id.is_none());
                assert!(
                    !owner.contains_key(&s.id),
                    "free seat {} has a live owner",
                    s.label
                );
            }
        }
    }
    for r in live.values() {
        let n = owner.values().filter(|o| **o == r.id).count();
        assert_eq!(n, r.quantity as usize, "reservation {} has {n} seats", r.id);
    }
    let free = seats
        .iter()
        .filter(|s| s.status == SeatStatus::Available)
        .count();
    let t = ticket_type_row(app, tt).await;
    assert_eq!(
        t.available as usize, free,
        "available equals the free seats"
    );
    let blocked = seats
        .iter()
        .filter(|s| s.status == SeatStatus::Blocked)
        .count();
    assert_eq!(
        t.capacity as usize,
        seats.len() - blocked,
        "capacity counts sellable seats"
    );
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_venue_serves_two_events_and_a_hold_in_one_leaves_the_other_untouched() {
    let app = spawn_app_with(&[]).await;
    let org = app.register("veronica", "ORGANIZER").await;
    let venue = create_venue(
        &app,
        &org,
        "Grand Hall",
        vec![
            section("Stalls", 3, 10),
            section("Circle", 2, 8),
            section("Boxes", 1, 4),
        ],
    )
    .await;
    assert_eq!(venue["capacity"], 30 + 16 + 4);
    assert_eq!(
        venue["sections"][1]["rows"][1],
        json!({ "label": "B", "seats": 8 })
    );
    let venue_id = venue["id"].as_str().unwrap();
    let listed = app
        .ok(Some(&org.access), VENUES, json!({ "first": 10 }))
        .await;
    assert_eq!(listed["venues"]["totalCount"], 1);
    let other = app.register("ottoman", "ORGANIZER").await;
    let theirs = app.ok(Some(&other.access), VENUES, json!({})).await;
    assert_eq!(
        theirs["venues"]["totalCount"], 0,
        "organizers see only their own venues"
    );

    let (first, types1) = seated_event(
        &app,
        &org,
        venue_id,
        "Opera",
        &[
            ("Stalls", 5_000, &["Stalls"]),
            ("Upper", 3_000, &["Circle", "Boxes"]),
            ("Standing", 1_000, &[]),
        ],
    )
    .await;
    let (second, types2) = seated_event(
        &app,
        &org,
        venue_id,
        "Ballet",
        &[("All", 2_000, &["Stalls", "Circle", "Boxes"])],
    )
    .await;

    let numbers = app.ok(None, TICKET_TYPES, json!({ "id": first })).await;
    assert_eq!(numbers["event"]["capacity"], 30 + 20 + 50);
    let t = &numbers["event"]["ticketTypes"];
    assert_eq!(
        (t[0]["capacity"].clone(), t[1]["capacity"].clone()),
        (json!(30), json!(20))
    );
    assert_eq!(
        t[2]["capacity"], 50,
        "a general-admission type beside seated ones"
    );

    let map = seat_map(&app, None, &first).await;
    let names: Vec<&str> = map["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Stalls", "Circle", "Boxes"]);
    assert_eq!(map["sections"][1]["ticketType"]["name"], "Upper");
    let stalls = seats_by_label(&map, "Stalls");
    assert_eq!(stalls.len(), 30);
    let (b5, _) = &stalls["B-5"];

    let buyer = app.register("beatrix", "USER").await;
    let res = reserve_seats(&app, &buyer, &types1["Stalls"], &[b5]).await;
    assert!(res.get("errors").is_none(), "{res:#}");
    let r = &res["data"]["reserve"];
    assert_eq!(r["quantity"], 1);
    assert_eq!(r["amountCents"], 5_000);
    assert_eq!(r["seats"][0]["label"], "B-5");
    assert_eq!(r["seats"][0]["status"], "HELD");
    assert_eq!(r["ticketType"]["available"], 29);

    assert_eq!(
        seats_by_label(&seat_map(&app, None, &first).await, "Stalls")["B-5"].1,
        "HELD"
    );
    let untouched = seat_map(&app, None, &second).await;
    for section in ["Stalls", "Circle", "Boxes"] {
        assert!(
            seats_by_label(&untouched, section)
                .values()
                .all(|(_, s)| s == "AVAILABLE")
        );
    }
    let second_numbers = app.ok(None, TICKET_TYPES, json!({ "id": second })).await;
    assert_eq!(second_numbers["event"]["available"], 50);
    assert_seats_consistent(&app, &types2["All"]).await;

    // Paying issues one ticket per seat, and the seat is SOLD.
    app.ok(
        Some(&buyer.access),
        TOP_UP,
        json!({ "amount": 10_000, "key": new_key() }),
    )
    .await;
    let paid = app
        .ok(
            Some(&buyer.access),
            PAY,
            json!({ "input": { "reservationId": r["id"], "idempotencyKey": new_key() } }),
        )
        .await;
    let tickets = &paid["pay"]["reservation"]["tickets"];
    assert_eq!(tickets.as_array().unwrap().len(), 1);
    assert_eq!(tickets[0]["seat"]["label"], "B-5");
    assert_eq!(tickets[0]["seat"]["status"], "SOLD");
    assert_seats_consistent(&app, &types1["Stalls"]).await;

    // The general-admission type still reserves by quantity; a seated one refuses to.
    let ga = app
        .gql(
            Some(&buyer.access),
            RESERVE,
            json!({ "input": { "ticketTypeId": types1["Standing"], "quantity": 2 } }),
        )
        .await;
    assert!(ga.get("errors").is_none(), "{ga:#}");
    assert_eq!(ga["data"]["reserve"]["seats"], json!([]));
    let plain = app
        .gql(
            Some(&buyer.access),
            RESERVE,
            json!({ "input": { "ticketTypeId": types1["Upper"], "quantity": 2 } }),
        )
        .await;
    assert_eq!(error_code(&plain), "BAD_USER_INPUT");

    // A general-admission event has no seat map.
    let (ga_event, _) = app
        .create_event(&org, "Picnic", 5, &[("Lawn", 0, 10)])
        .await;
    assert!(seat_map(&app, Some(&org), &ga_event).await.is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_buyers_racing_for_overlapping_seats_never_share_one() {
    let app = spawn_app_with(&[]).await;
    let org = app.register("rhea_o", "ORGANIZER").await;
    let venue = create_venue(&app, &org, "Arena", vec![section("Floor", 2, 30)]).await;
    let (event, types) = seated_event(
        &app,
        &org,
        venue["id"].as_str().unwrap(),
        "Finals",
        &[("Floor", 1_000, &["Floor"])],
    )
    .await;
    let tt = &types["Floor"];
    let seats = seats_by_label(&seat_map(&app, None, &event).await, "Floor");
    let mut ids: Vec<(String, String)> = seats.into_iter().map(|(l, (id, _))| (l, id)).collect();
    ids.sort();
    let ids: Vec<String> = ids.into_iter().map(|(_, id)| id).collect();
    let buyers = register_many(&app, "racer", 200).await;

    // Buyer i wants the 3 seats from (7·i) mod 60 on: every seat is wanted by ten buyers.
    let wants: Vec<Vec<String>> = (0..200)
        .map(|i| (0..3).map(|k| ids[(i * 7 + k) % 60].clone()).collect())
        .collect();
    let app = &app;
    let results = join_all(buyers.iter().zip(&wants).map(|(b, w)| async move {
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        reserve_seats(app, b, tt, &w).await
    }))
    .await;

    let mut taken: HashSet<String> = HashSet::new();
    let mut winners = 0;
    let mut losers = Vec::new();
    for (res, want) in results.iter().zip(&wants) {
        if res.get("errors").is_some() {
            assert_eq!(error_code(res), "SOLD_OUT", "{res:#}");
            assert!(
                error_message(res).contains("seats no longer available"),
                "{res:#}"
            );
            losers.push(want);
            continue;
        }
        winners += 1;
        let got: HashSet<String> = res["data"]["reserve"]["seats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            got,
            want.iter().cloned().collect(),
            "all or nothing: exactly the seats asked for"
        );
        for seat in got {
            assert!(taken.insert(seat), "a seat was handed to two winners");
        }
    }
    assert!(winners >= 10, "only {winners} winners for 60 seats");
    // Nobody lost for nothing: each refused set overlaps seats a winner holds.
    for want in losers {
        assert!(
            want.iter().any(|s| taken.contains(s)),
            "refused although free: {want:?}"
        );
    }
    assert_seats_consistent(app, tt).await;
    assert_eq!(
        ticket_type_row(app, tt).await.available as usize,
        60 - taken.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_racing_best_available_pairs_fill_a_ten_by_ten_section_with_adjacent_seats() {
    let app = spawn_app_with(&[]).await;
    let org = app.register("bessie", "ORGANIZER").await;
    let venue = create_venue(&app, &org, "Club", vec![section("Main", 10, 10)]).await;
    let (_, types) = seated_event(
        &app,
        &org,
        venue["id"].as_str().unwrap(),
        "Gig",
        &[("Main", 1_500, &["Main"])],
    )
    .await;
    let tt = &types["Main"];
    let buyers = register_many(&app, "pair", 100).await;

    let app = &app;
    let results = join_all(
        buyers
            .iter()
            .map(|b| async move { reserve_best(app, b, tt, 2).await }),
    )
    .await;
    let mut taken = HashSet::new();
    let mut winners = 0;
    for res in &results {
        if res.get("errors").is_some() {
            assert_eq!(error_code(res), "SOLD_OUT", "{res:#}");
            continue;
        }
        winners += 1;
        let seats = res["data"]["reserve"]["seats"].as_array().unwrap();
        assert_eq!(seats.len(), 2);
        assert_eq!(seats[0]["row"], seats[1]["row"], "one row: {seats:?}");
        let (a, b) = (
            seats[0]["number"].as_i64().unwrap(),
            seats[1]["number"].as_i64().unwrap(),
        );
        assert_eq!((a - b).abs(), 1, "adjacent: {seats:?}");
        for s in seats {
            assert!(
                taken.insert(s["id"].as_str().unwrap().to_string()),
                "a seat twice"
            );
        }
    }
    // Centre-first pairs in a row of ten (5-6, 3-4, 7-8, 1-2, 9-10) leave no gaps, so the section
    // ends exactly full and the other fifty are told SOLD_OUT.
    assert_eq!(winners, 50);
    assert_eq!(ticket_type_row(app, tt).await.available, 0);
    assert_seats_consistent(app, tt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn best_available_takes_the_front_row_centre_first() {
    let app = spawn_app_with(&[]).await;
    let org = app.register("cleopatra", "ORGANIZER").await;
    let venue = create_venue(&app, &org, "Studio", vec![section("Front", 2, 9)]).await;
    let (_, types) = seated_event(
        &app,
        &org,
        venue["id"].as_str().unwrap(),
        "Talk",
        &[("Front", 500, &["Front"])],
    )
    .await;
    let buyer = app.register("dorothy", "USER").await;
    let res = reserve_best(&app, &buyer, &types["Front"], 3).await;
    let labels: Vec<&str> = res["data"]["reserve"]["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["A-4", "A-5", "A-6"]);
    let res = reserve_best(&app, &buyer, &types["Front"], 4).await;
    let labels: Vec<&str> = res["data"]["reserve"]["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["B-3", "B-4", "B-5", "B-6"],
        "row A has no 4 adjacent seats left"
    );
    let res = reserve_best(&app, &buyer, &types["Front"], 6).await;
    assert_eq!(error_code(&res), "SOLD_OUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blocked_seats_are_never_sold_unblocking_frees_them_and_an_expired_hold_releases_its_seats()
{
    let app = spawn_app_with(&[("HOLD_SECONDS", "1"), ("SWEEP_INTERVAL_SECONDS", "1")]).await;
    let org = app.register("boris", "ORGANIZER").await;
    let venue = create_venue(&app, &org, "Theatre", vec![section("Pit", 1, 4)]).await;
    let (event, types) = seated_event(
        &app,
        &org,
        venue["id"].as_str().unwrap(),
        "Play",
        &[("Pit", 800, &["Pit"])],
    )
    .await;
    let tt = &types["Pit"];
    let seats = seats_by_label(&seat_map(&app, None, &event).await, "Pit");
    let id = |l: &str| seats[l].0.clone();
    let buyer = app.register("finnegan", "USER").await;

    let blocked = app
        .ok(
            Some(&org.access),
            BLOCK,
            json!({ "event": event, "seats": [id("A-2"), id("A-3")], "blocked": true }),
        )
        .await;
    assert!(
        blocked["blockSeats"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "BLOCKED")
    );
    let t = ticket_type_row(&app, tt).await;
    assert_eq!(
        (t.capacity, t.available),
        (2, 2),
        "blocked seats leave capacity and availability"
    );
    assert_seats_consistent(&app, tt).await;

    let res = reserve_seats(&app, &buyer, tt, &[&id("A-2")]).await;
    assert_eq!(error_code(&res), "SOLD_OUT");
    assert!(error_message(&res).contains("A-2"), "{res:#}");
    let res = reserve_best(&app, &buyer, tt, 2).await;
    assert_eq!(error_code(&res), "SOLD_OUT", "A-1 and A-4 are not adjacent");
    let res = app
        .gql(
            Some(&buyer.access),
            BLOCK,
            json!({ "event": event, "seats": [id("A-1")], "blocked": true }),
        )
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");

    // A held seat cannot be blocked.
    let held = reserve_seats(&app, &buyer, tt, &[&id("A-1")]).await;
    assert!(held.get("errors").is_none(), "{held:#}");
    let res = app
        .gql(
            Some(&org.access),
            BLOCK,
            json!({ "event": event, "seats": [id("A-1")], "blocked": true }),
        )
        .await;
    assert_eq!(error_code(&res), "CONFLICT");
    assert!(error_message(&res).contains("A-1"));

    app.ok(
        Some(&org.access),
        BLOCK,
        json!({ "event": event, "seats": [id("A-2"), id("A-3")], "blocked": false }),
    )
    .await;
    let t = ticket_type_row(&app, tt).await;
    assert_eq!((t.capacity, t.available), (4, 3));
    let res = reserve_best(&app, &buyer, tt, 3).await;
    assert!(res.get("errors").is_none(), "{res:#}");
    assert_seats_consistent(&app, tt).await;

    // Both holds lapse (HOLD_SECONDS = 1) and the sweeper frees every seat.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let map = seats_by_label(&seat_map(&app, None, &event).await, "Pit");
        if map.values().all(|(_, s)| s == "AVAILABLE") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "holds never expired: {map:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(ticket_type_row(&app, tt).await.available, 4);
    assert_seats_consistent(&app, tt).await;
    // An expired reservation still lists the seats it held.
    let r = app
        .ok(
            Some(&buyer.access),
            "query($id: ID!) { reservation(id: $id) { status seats { label status } } }",
            json!({ "id": held["data"]["reserve"]["id"] }),
        )
        .await;
    assert_eq!(r["reservation"]["status"], "EXPIRED");
    assert_eq!(
        r["reservation"]["seats"],
        json!([{ "label": "A-1", "status": "AVAILABLE" }])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_seat_map_of_a_twenty_thousand_seat_venue_costs_as_many_statements_as_a_small_one() {
    // No sweeper running while statements are counted.
    let app = spawn_app_with(&[("SWEEP_INTERVAL_SECONDS", "3600")]).await;
    let org = app.register("stanley", "ORGANIZER").await;
    let small = create_venue(&app, &org, "Small", vec![section("S", 2, 3)]).await;
    // 40 rows × 500 seats in two sections: 20,000 seats.
    let big = create_venue(
        &app,
        &org,
        "Stadium",
        vec![section("North", 20, 500), section("South", 20, 500)],
    )
    .await;
    assert_eq!(big["capacity"], 20_000);
    let (small_event, _) = seated_event(
        &app,
        &org,
        small["id"].as_str().unwrap(),
        "Small show",
        &[("S", 100, &["S"])],
    )
    .await;
    let (big_event, _) = seated_event(
        &app,
        &org,
        big["id"].as_str().unwrap(),
        "Big show",
        &[("N", 100, &["North"]), ("S", 100, &["South"])],
    )
    .await;

    // Stop this instance's background work (the report hub reads the database every 500 ms):
    // the HTTP server keeps answering, and the statement counter then moves only for requests.
    let _ = app.state.live.stop.send(true);
    let mut last = app.metric("evenntify_db_statements_total").await;
    loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let now = app.metric("evenntify_db_statements_total").await;
        if now == last {
            break;
        }
        last = now;
    }

    const MAP: &str = "query($id: ID!) { event(id: $id) { seatMap { sections { name
      ticketType { id } rows { label seats { id label status ticketType { id } } } } } } }";
    async fn cost(app: &TestApp, event: &str) -> (f64, usize) {
        let before = app.metric("evenntify_db_statements_total").await;
        let map = app.ok(None, MAP, json!({ "id": event })).await;
        let after = app.metric("evenntify_db_statements_total").await;
        let seats = map["event"]["seatMap"]["sections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["rows"].as_array().unwrap())
            .map(|r| r["seats"].as_array().unwrap().len())
            .sum();
        (after - before, seats)
    }
    let (small_cost, small_seats) = cost(&app, &small_event).await;
    let (big_cost, big_seats) = cost(&app, &big_event).await;
    assert_eq!((small_seats, big_seats), (6, 20_000));
    assert_eq!(
        small_cost, big_cost,
        "the map's statements do not grow with the venue"
    );
    assert!(big_cost <= 4.0, "{big_cost} statements for one seat map");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seat_map_subscriber_sees_a_seat_go_held_then_sold() {
    let app = spawn_app_with(&[]).await;
    let org = app.register("liana", "ORGANIZER").await;
    let venue = create_venue(&app, &org, "Hall", vec![section("Main", 2, 5)]).await;
    let (event, types) = seated_event(
        &app,
        &org,
        venue["id"].as_str().unwrap(),
        "Live",
        &[("Main", 700, &["Main"])],
    )
    .await;
    let buyer = app.register("maxim", "USER").await;
    let within = Duration::from_secs(5);

    let mut ws = WsClient::connected(app.addr, None).await;
    ws.subscribe("m", SEAT_MAP_UPDATES, json!({ "id": event }))
        .await;
    let first = ws.next_data("m", within).await;
    let all = first["seatMapUpdates"]["seats"].as_array().unwrap().clone();
    assert_eq!(all.len(), 10, "the whole map first");
    let seat = all.iter().find(|s| s["label"] == "A-3").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let res = reserve_seats(&app, &buyer, &types["Main"], &[&seat]).await;
    assert!(res.get("errors").is_none(), "{res:#}");
    let held = ws.next_data("m", within).await;
    assert_eq!(held["seatMapUpdates"]["eventId"], json!(event));
    assert_eq!(
        held["seatMapUpdates"]["seats"],
        json!([{ "id": seat, "label": "A-3", "status": "HELD", "ticketType": { "id": types["Main"] } }])
    );

    app.ok(
        Some(&buyer.access),
        TOP_UP,
        json!({ "amount": 700, "key": new_key() }),
    )
    .await;
    app.ok(Some(&buyer.access), PAY, json!({ "input": { "reservationId": res["data"]["reserve"]["id"], "idempotencyKey": new_key() } }))
        .await;
    let sold = ws.next_data("m", within).await;
    assert_eq!(sold["seatMapUpdates"]["seats"][0]["label"], "A-3");
    assert_eq!(sold["seatMapUpdates"]["seats"][0]["status"], "SOLD");
    assert_eq!(sold["seatMapUpdates"]["seats"].as_array().unwrap().len(), 1);
    ws.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validation_errors_name_the_offending_item() {
    let app = spawn_app_with(&[]).await;
    let org = app.register("valerie", "ORGANIZER").await;
    let bad = |sections: Value| json!({ "input": { "name": "V", "sections": sections } });
    let cases = [
        (
            json!([section("Left", 1, 5), section("left", 1, 5)]),
            "section `left` appears twice",
        ),
        (
            json!([{ "name": "Left", "rows": [{ "label": "A", "seats": 5 }, { "label": "A", "seats": 2 }] }]),
            "row `A` appears twice in section `Left`",
        ),
        (
            json!([{ "name": "Left", "rows": [{ "label": "Q", "seats": 501 }] }]),
            "row `Q` in section `Left`",
        ),
        (
            json!([{ "name": "Left", "rows": [{ "label": "Q", "seats": 0 }] }]),
            "row `Q` in section `Left`",
        ),
        (json!([section("Huge", 201, 500)]), "at most 100000 seats"),
    ];
    for (sections, expected) in cases {
        let res = app
            .gql(Some(&org.access), CREATE_VENUE, bad(sections))
            .await;
        assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res:#}");
        assert!(
            error_message(&res).contains(expected),
            "`{expected}` not in {res:#}"
        );
    }
    let user = app.register("umaima", "USER").await;
    let res = app
        .gql(
            Some(&user.access),
            CREATE_VENUE,
            bad(json!([section("A", 1, 1)])),
        )
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");

    let venue = create_venue(
        &app,
        &org,
        "Real",
        vec![section("Left", 1, 5), section("Right", 1, 5)],
    )
    .await;
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let event = |types: Value| json!({ "input": { "title": "E", "startsAt": starts_at, "venueId": venue["id"], "ticketTypes": types } });
    let cases = [
        (
            json!([{ "name": "X", "priceCents": 1, "sections": ["Middle"] }]),
            "section `Middle` is not in venue `Real`",
        ),
        (
            json!([{ "name": "X", "priceCents": 1, "sections": ["Left"] }, { "name": "Y", "priceCents": 1, "sections": ["left", "Right"] }]),
            "section `Left` is sold by more than one ticket type",
        ),
        (
            json!([{ "name": "GA", "priceCents": 1 }]),
            "capacity of `GA` is required",
        ),
        (
            json!([{ "name": "X", "priceCents": 1, "capacity": 7, "sections": ["Left"] }]),
            "capacity of `X` must be its 5 seats",
        ),
    ];
    for (types, expected) in cases {
        let res = app.gql(Some(&org.access), CREATE_EVENT, event(types)).await;
        assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res:#}");
        assert!(
            error_message(&res).contains(expected),
            "`{expected}` not in {res:#}"
        );
    }
    // Someone else's venue cannot be used.
    let other = app.register("ozzie", "ORGANIZER").await;
    let res = app
        .gql(
            Some(&other.access),
            CREATE_EVENT,
            event(json!([{ "name": "X", "priceCents": 1, "sections": ["Left"] }])),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");

    // A seat of another ticket type, and a seat twice.
    let (e, types) = seated_event(
        &app,
        &org,
        venue["id"].as_str().unwrap(),
        "Duo",
        &[("L", 1, &["Left"]), ("R", 1, &["Right"])],
    )
    .await;
    let map = seat_map(&app, None, &e).await;
    let right = seats_by_label(&map, "Right")["A-1"].0.clone();
    let res = reserve_seats(&app, &user, &types["L"], &[&right]).await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    assert!(error_message(&res).contains(&right), "{res:#}");
    let left = seats_by_label(&map, "Left")["A-1"].0.clone();
    let res = reserve_seats(&app, &user, &types["L"], &[&left, &left]).await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT");
    assert_seats_consistent(&app, &types["L"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_frees_seats_and_reports_and_idempotency_keys_work_for_seated_types() {
    let app = spawn_app_with(&[]).await;
    let org = app.register("carmen", "ORGANIZER").await;
    let venue = create_venue(&app, &org, "Cave", vec![section("Floor", 1, 6)]).await;
    let (event, types) = seated_event(
        &app,
        &org,
        venue["id"].as_str().unwrap(),
        "Jam",
        &[("Floor", 1_000, &["Floor"])],
    )
    .await;
    let tt = &types["Floor"];
    let buyer = app.register("gustav", "USER").await;
    app.ok(
        Some(&buyer.access),
        TOP_UP,
        json!({ "amount": 10_000, "key": new_key() }),
    )
    .await;

    // The same idempotency key answers with the same reservation and holds nothing more.
    let input = json!({ "input": { "ticketTypeId": tt, "quantity": 2, "bestAvailable": true, "idempotencyKey": "jam-1" } });
    let first = app.ok(Some(&buyer.access), RESERVE, input.clone()).await;
    let again = app.ok(Some(&buyer.access), RESERVE, input).await;
    assert_eq!(first["reserve"]["id"], again["reserve"]["id"]);
    assert_eq!(ticket_type_row(&app, tt).await.available, 4);
    // Chosen seats: the same seats replay, other seats under the same key are a CONFLICT.
    let map = seats_by_label(&seat_map(&app, None, &event).await, "Floor");
    let chosen = |labels: &[&str]| -> Value {
        let ids: Vec<&str> = labels.iter().map(|l| map[*l].0.as_str()).collect();
        json!({ "input": { "ticketTypeId": tt, "seatIds": ids, "idempotencyKey": "jam-2" } })
    };
    let picked = app.ok(Some(&buyer.access), RESERVE, chosen(&["A-1"])).await;
    let replay = app.ok(Some(&buyer.access), RESERVE, chosen(&["A-1"])).await;
    assert_eq!(picked["reserve"]["id"], replay["reserve"]["id"]);
    let other = app
        .gql(Some(&buyer.access), RESERVE, chosen(&["A-6"]))
        .await;
    assert_eq!(error_code(&other), "CONFLICT");
    app.ok(
        Some(&buyer.access),
        "mutation($id: ID!) { cancelReservation(id: $id) { id } }",
        json!({ "id": picked["reserve"]["id"] }),
    )
    .await;
    assert_eq!(ticket_type_row(&app, tt).await.available, 4);

    // Cancelling a hold frees its seats; the reservation still lists them.
    let cancelled = app
        .ok(
            Some(&buyer.access),
            "mutation($id: ID!) { cancelReservation(id: $id) { status seats { label status } } }",
            json!({ "id": first["reserve"]["id"] }),
        )
        .await;
    assert_eq!(cancelled["cancelReservation"]["status"], "CANCELLED");
    let labels: Vec<&str> = cancelled["cancelReservation"]["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["A-3", "A-4"]);
    assert!(
        cancelled["cancelReservation"]["seats"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "AVAILABLE")
    );
    assert_seats_consistent(&app, tt).await;

    // A paid reservation counts in the event's report like any other.
    let held = reserve_best(&app, &buyer, tt, 3).await;
    let id = held["data"]["reserve"]["id"].clone();
    app.ok(
        Some(&buyer.access),
        PAY,
        json!({ "input": { "reservationId": id, "idempotencyKey": new_key() } }),
    )
    .await;
    let report = app
        .ok(Some(&org.access), "query($id: ID!) { eventReport(eventId: $id) { ticketsSold ticketsHeld ticketsAvailable capacity revenueCents } }", json!({ "id": event }))
        .await;
    assert_eq!(
        report["eventReport"],
        json!({ "ticketsSold": 3, "ticketsHeld": 0, "ticketsAvailable": 3, "capacity": 6, "revenueCents": 3_000 })
    );

    // Cancelling the event refunds the buyer and frees every seat.
    app.ok(
        Some(&org.access),
        "mutation($id: ID!) { cancelEvent(id: $id) { status } }",
        json!({ "id": event }),
    )
    .await;
    let map = seats_by_label(&seat_map(&app, Some(&org), &event).await, "Floor");
    assert!(map.values().all(|(_, s)| s == "AVAILABLE"), "{map:?}");
    assert_seats_consistent(&app, tt).await;
    let tickets = app
        .ok(
            Some(&buyer.access),
            "query($id: ID!) { reservation(id: $id) { status tickets { status seat { label } } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(tickets["reservation"]["status"], "CANCELLED");
    assert!(
        tickets["reservation"]["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "VOID")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs TEST_REDIS_URL (pub/sub across instances): run with --ignored"]
async fn a_seat_map_subscriber_on_one_instance_sees_a_hold_made_through_another() {
    assert!(
        std::env::var("TEST_REDIS_URL").is_ok_and(|v| !v.is_empty()),
        "set TEST_REDIS_URL: without Redis, instances do not share live signals"
    );
    let db = crate::helpers::TestDb::new().await;
    let (first_settings, second_settings) = (
        crate::helpers::test_settings(&db, &[]),
        crate::helpers::test_settings(&db, &[]),
    );
    let app = crate::helpers::spawn_on(db, first_settings).await;
    let second = evenntify::app::Application::build(second_settings)
        .await
        .expect("build the second instance");
    let second_addr = second.local_addr();
    let (stop_second, stopped) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(second.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let org = app.register("ines", "ORGANIZER").await;
    let venue = create_venue(&app, &org, "Twin", vec![section("Main", 1, 4)]).await;
    let (event, types) = seated_event(
        &app,
        &org,
        venue["id"].as_str().unwrap(),
        "Twin show",
        &[("Main", 500, &["Main"])],
    )
    .await;
    let buyer = app.register("jonas", "USER").await;
    let within = Duration::from_secs(5);

    let mut ws = WsClient::connected(second_addr, None).await;
    ws.subscribe("m", SEAT_MAP_UPDATES, json!({ "id": event }))
        .await;
    let first = ws.next_data("m", within).await;
    assert_eq!(
        first["seatMapUpdates"]["seats"].as_array().unwrap().len(),
        4
    );

    // Through the first instance; seen on the second.
    let res = reserve_best(&app, &buyer, &types["Main"], 2).await;
    assert!(res.get("errors").is_none(), "{res:#}");
    let held = ws.next_data("m", within).await;
    let mut labels: Vec<&str> = held["seatMapUpdates"]["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(labels, ["A-2", "A-3"]);
    assert!(
        held["seatMapUpdates"]["seats"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "HELD")
    );
    ws.close().await;
    let _ = stop_second.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), second).await;
}
