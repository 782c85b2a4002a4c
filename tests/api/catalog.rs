//! Managing ticket types after creation (issue 16, point 4) through the real server: renaming,
//! repricing, resizing (never below what is sold and held, decided in the database, also under
//! concurrent reserves; a raise feeds the waitlist first) and removing an unused ticket type.

use crate::helpers::{TestApp, error_code, id_of, new_key, register_many, spawn_app, str_of, uuid};
use entity::reservation::{self, ReservationStatus};
use entity::ticket_type;
use entity::waitlist_entry::{self, WaitlistStatus};
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

const UPDATE: &str = "mutation($id: ID!, $input: UpdateTicketTypeInput!) {
  updateTicketType(id: $id, input: $input) { id name priceCents capacity available } }";
const REMOVE: &str = "mutation($id: ID!) { removeTicketType(id: $id) }";
const JOIN: &str =
    "mutation($tt: ID!, $q: Int!) { joinWaitlist(ticketTypeId: $tt, quantity: $q) { id status } }";

async fn update(app: &TestApp, token: &str, id: &str, input: Value) -> Value {
    app.gql(Some(token), UPDATE, json!({ "id": id, "input": input }))
        .await
}

async fn row(app: &TestApp, id: &str) -> ticket_type::Model {
    ticket_type::Entity::find_by_id(uuid(id))
        .one(&app.state.db)
        .await
        .unwrap()
        .expect("ticket type row")
}

/// Seats held or sold of a ticket type, counted from its reservations.
async fn taken(app: &TestApp, id: &str) -> i32 {
    reservation::Entity::find()
        .filter(reservation::Column::TicketTypeId.eq(uuid(id)))
        .filter(
            reservation::Column::Status
                .is_in([ReservationStatus::Pending, ReservationStatus::Confirmed]),
        )
        .all(&app.state.db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.quantity)
        .sum()
}

#[tokio::test]
async fn update_ticket_type_renames_reprices_and_keeps_the_amount_of_existing_holds() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let buyer = app.register("bea", "USER").await;
    let (_, types) = app
        .published_event(&org, "Jazz", &[("Standard", 1_000, 10), ("VIP", 5_000, 2)])
        .await;
    let held = app.hold(&buyer, &types[0], 2).await;

    let res = update(
        &app,
        &org.access,
        &types[0],
        json!({ "name": " Early bird ", "priceCents": 1_500 }),
    )
    .await;
    assert!(res.get("errors").is_none(), "{res:#}");
    let t = &res["data"]["updateTicketType"];
    assert_eq!(t["name"], "Early bird");
    assert_eq!(t["priceCents"], 1_500);
    assert_eq!(t["capacity"], 10);
    assert_eq!(t["available"], 8);

    // The hold made at the old price keeps its amount; a new hold pays the new one.
    let old = crate::helpers::reservation_row(&app, &held).await;
    assert_eq!(old.amount_cents, 2_000);
    let fresh = app.reserved(&buyer, &types[0], 1).await;
    assert_eq!(fresh["amountCents"], 1_500);

    // Names stay unique within the event (case-insensitive).
    let clash = update(&app, &org.access, &types[0], json!({ "name": "vip" })).await;
    assert_eq!(error_code(&clash), "BAD_USER_INPUT");
    let negative = update(&app, &org.access, &types[0], json!({ "priceCents": -1 })).await;
    assert_eq!(error_code(&negative), "BAD_USER_INPUT");

    // Only the organizer (or an admin) manages ticket types.
    let rival = app.register("rita", "ORGANIZER").await;
    let res = update(&app, &rival.access, &types[0], json!({ "capacity": 50 })).await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    let res = app
        .gql(Some(&buyer.access), REMOVE, json!({ "id": types[1] }))
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");
}

#[tokio::test]
async fn capacity_can_be_lowered_to_exactly_what_is_sold_and_held_but_not_below() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let buyer = app.register("bea", "USER").await;
    app.top_up(&buyer, 10_000).await;
    let (_, types) = app
        .published_event(&org, "Workshop", &[("Seat", 1_000, 10)])
        .await;
    let paid = app.hold(&buyer, &types[0], 2).await;
    app.paid(&buyer, &paid).await;
    app.hold(&buyer, &types[0], 1).await;

    let res = update(&app, &org.access, &types[0], json!({ "capacity": 2 })).await;
    assert_eq!(error_code(&res), "CONFLICT", "{res:#}");
    assert_eq!(row(&app, &types[0]).await.capacity, 10);

    let res = update(&app, &org.access, &types[0], json!({ "capacity": 3 })).await;
    assert!(res.get("errors").is_none(), "{res:#}");
    assert_eq!(res["data"]["updateTicketType"]["available"], 0);
    let res = app.reserve(&buyer, &types[0], 1, &new_key()).await;
    assert_eq!(error_code(&res), "SOLD_OUT");

    let res = update(&app, &org.access, &types[0], json!({ "capacity": 7 })).await;
    assert_eq!(res["data"]["updateTicketType"]["available"], 4);
    assert_eq!(row(&app, &types[0]).await.available, 4);
}

#[tokio::test]
async fn capacity_never_drops_below_sold_and_held_under_concurrent_reserves() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let buyers = register_many(&app, "racer", 16).await;
    let (_, types) = app
        .published_event(&org, "Race", &[("Seat", 1_000, 16)])
        .await;
    let tt = types[0].clone();

    // Sixteen buyers race each other and the organizer, who tries to lower capacity to 4..=12.
    let keys: Vec<String> = buyers.iter().map(|_| new_key()).collect();
    let reserves = join_all(
        buyers
            .iter()
            .zip(&keys)
            .map(|(b, k)| app.reserve(b, &tt, 1, k))
            .collect::<Vec<_>>(),
    );
    let lowers = join_all(
        (4..=12)
            .rev()
            .map(|c| update(&app, &org.access, &tt, json!({ "capacity": c })))
            .collect::<Vec<_>>(),
    );
    let (reserves, lowers) = tokio::join!(reserves, lowers);

    let held = reserves
        .iter()
        .filter(|r| r.get("errors").is_none())
        .count() as i32;
    for r in reserves.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(error_code(r), "SOLD_OUT", "{r:#}");
    }
    for r in &lowers {
        if r.get("errors").is_some() {
            assert_eq!(error_code(r), "CONFLICT", "{r:#}");
        }
    }
    let t = row(&app, &tt).await;
    assert_eq!(taken(&app, &tt).await, held);
    assert!(held <= t.capacity, "{held} held of {}", t.capacity);
    assert_eq!(t.capacity - t.available, held);
}

#[tokio::test]
async fn raising_capacity_offers_the_new_seats_to_the_waitlist_before_the_public() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let users = register_many(&app, "fan", 3).await;
    let (_, types) = app
        .published_event(&org, "Tiny", &[("Seat", 1_000, 1)])
        .await;
    app.hold(&users[0], &types[0], 1).await;
    let joined = app
        .ok(
            Some(&users[1].access),
            JOIN,
            json!({ "tt": types[0], "q": 1 }),
        )
        .await;
    let entry = id_of(&joined["joinWaitlist"]);

    let res = update(&app, &org.access, &types[0], json!({ "capacity": 2 })).await;
    assert!(res.get("errors").is_none(), "{res:#}");
    assert_eq!(res["data"]["updateTicketType"]["available"], 0);

    let e = waitlist_entry::Entity::find_by_id(uuid(&entry))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.status, WaitlistStatus::Offered);
    let res = app.reserve(&users[2], &types[0], 1, &new_key()).await;
    assert_eq!(error_code(&res), "SOLD_OUT");
}

#[tokio::test]
async fn a_ticket_type_can_be_removed_only_while_nobody_ever_reserved_it() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let buyer = app.register("bea", "USER").await;
    let (event, types) = app
        .published_event(
            &org,
            "Gala",
            &[("Seat", 1_000, 10), ("Box", 9_000, 4), ("Spare", 1, 1)],
        )
        .await;
    let r = app.hold(&buyer, &types[0], 1).await;
    app.cancel(&buyer, &r).await;

    let res = app
        .gql(Some(&org.access), REMOVE, json!({ "id": types[0] }))
        .await;
    assert_eq!(error_code(&res), "CONFLICT", "{res:#}");

    let res = app
        .ok(Some(&org.access), REMOVE, json!({ "id": types[1] }))
        .await;
    assert_eq!(res["removeTicketType"], true);
    let res = app
        .gql(Some(&org.access), REMOVE, json!({ "id": types[1] }))
        .await;
    assert_eq!(error_code(&res), "NOT_FOUND");

    let res = app
        .ok(Some(&org.access), REMOVE, json!({ "id": types[2] }))
        .await;
    assert_eq!(res["removeTicketType"], true);
    let left = app
        .ok(
            None,
            "query($id: ID!) { event(id: $id) { ticketTypes { id } } }",
            json!({ "id": event }),
        )
        .await;
    let ids: Vec<String> = left["event"]["ticketTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| str_of(&t["id"]))
        .collect();
    assert_eq!(ids, vec![types[0].clone()]);
}

#[tokio::test]
async fn the_last_ticket_type_of_an_event_stays() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let (_, types) = app.draft_event(&org, "Solo", &[("Seat", 1_000, 10)]).await;
    let res = app
        .gql(Some(&org.access), REMOVE, json!({ "id": types[0] }))
        .await;
    assert_eq!(error_code(&res), "CONFLICT", "{res:#}");
}
