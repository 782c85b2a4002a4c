//! After the sale (issue 13) through the real server: the waitlist and its offers (first come
//! first served, across two instances), the live position, refunds under a cancellation policy
//! (wallet and card, exact to the cent), and ticket transfers.

use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::ws::WsClient;
use crate::helpers::{
    Account, CANCEL, TestApp, TestDb, error_code, eventually, id_of, new_key, nodes, register_many,
    spawn_app_with, spawn_instance, spawn_on, str_of, test_settings, uuid, wait_until_past,
};
use chrono::{DateTime, Utc};
use entity::card_charge;
use entity::reservation::{self, ReservationStatus};
use entity::ticket_type;
use entity::waitlist_entry::{self, WaitlistStatus};
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

const JOIN: &str = "mutation($tt: ID!, $q: Int!) { joinWaitlist(ticketTypeId: $tt, quantity: $q) {
  id status position quantity offerExpiresAt offer { id status quantity expiresAt } ticketType { id } user { username } } }";
const LEAVE: &str = "mutation($id: ID!) { leaveWaitlist(id: $id) { id status position } }";
const MY_ENTRIES: &str = "{ myWaitlistEntries(first: 50) { totalCount edges { node {
  id status position quantity offerExpiresAt offer { id status } } } } }";
const QUEUE: &str = "query($tt: ID!, $after: String) { waitlist(ticketTypeId: $tt, first: 100, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id status position quantity user { username } offer { id } } } } }";
const UPDATES: &str = "subscription($id: ID!) { waitlistUpdates(entryId: $id) {
  id status position offer { id status } offerExpiresAt } }";
const CREATE_EVENT: &str =
    "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }";
const PUBLISH: &str = "mutation($id: ID!) { publishEvent(id: $id) { status } }";
const SET_POLICY: &str = "mutation($id: ID!, $input: CancellationPolicyInput!) {
  setCancellationPolicy(eventId: $id, input: $input) { id cancellationPolicy { feeCents rules { hoursBeforeStart refundPercent } } } }";
const QUOTE: &str = "query($id: ID!) { refundQuote(reservationId: $id) {
  allowed refundCents feeCents keptCents refundPercent validUntil reason } }";
const REPORT: &str = "query($id: ID!) { eventReport(eventId: $id) {
  ticketsSold ticketsAvailable revenueCents refundedCents keptCents } }";
const PAY: &str = "mutation($input: PayInput!) { pay(input: $input) {
  reservation { id status tickets { id code } } } }";
const TRANSFER: &str =
    "mutation($id: ID!, $to: String!) { transferTicket(ticketId: $id, toUsername: $to) {
  id code status holder { username } holderName event { id } ticketType { id } } }";
const HOLDER_NAME: &str =
    "mutation($id: ID!, $name: String!) { setTicketHolderName(ticketId: $id, name: $name) {
  id holderName } }";
const MY_TICKETS: &str = "{ myTickets(first: 50) { totalCount edges { node {
  id code status holder { username } holderName event { id } } } } }";
const UPDATE_EVENT: &str = "mutation($id: ID!, $input: UpdateEventInput!) { updateEvent(id: $id, input: $input) { allowTransfers } }";

/// A published general-admission event starting at `starts_at`; its id and ticket type id.
async fn event_at(
    app: &TestApp,
    organizer: &Account,
    starts_at: DateTime<Utc>,
    price: i64,
    capacity: i32,
) -> (String, String) {
    let data = app
        .ok(
            Some(&organizer.access),
            CREATE_EVENT,
            json!({ "input": { "title": "After the sale", "startsAt": starts_at.to_rfc3339(),
                "ticketTypes": [{ "name": "GA", "priceCents": price, "capacity": capacity }] } }),
        )
        .await;
    let id = str_of(&data["createEvent"]["id"]);
    app.ok(Some(&organizer.access), PUBLISH, json!({ "id": id }))
        .await;
    let tt = str_of(&data["createEvent"]["ticketTypes"][0]["id"]);
    (id, tt)
}

async fn join(app: &TestApp, who: &Account, tt: &str, quantity: i64) -> Value {
    let res = app
        .gql(Some(&who.access), JOIN, json!({ "tt": tt, "q": quantity }))
        .await;
    assert!(res.get("errors").is_none(), "joinWaitlist failed: {res:#}");
    res["data"]["joinWaitlist"].clone()
}

async fn entry(app: &TestApp, id: &str) -> waitlist_entry::Model {
    waitlist_entry::Entity::find_by_id(uuid(id))
        .one(&app.state.db)
        .await
        .unwrap()
        .expect("waitlist entry")
}

async fn ticket_type_row(app: &TestApp, tt: &str) -> ticket_type::Model {
    ticket_type::Entity::find_by_id(uuid(tt))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

/// A wallet payment that must succeed; its tickets.
async fn pay_wallet(app: &TestApp, who: &Account, reservation: &str) -> Vec<Value> {
    let res = app
        .gql(
            Some(&who.access),
            PAY,
            json!({ "input": { "reservationId": reservation, "idempotencyKey": new_key() } }),
        )
        .await;
    assert!(res.get("errors").is_none(), "pay failed: {res:#}");
    res["data"]["pay"]["reservation"]["tickets"]
        .as_array()
        .unwrap()
        .clone()
}

// ---------------------------------------------------------------------------------------------
// The waitlist.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn returned_seats_go_to_the_first_entry_that_fits_and_pass_on_when_the_offer_lapses() {
    let app = spawn_app_with(&[
        ("WAITLIST_OFFER_SECONDS", "2"),
        ("SWEEP_INTERVAL_SECONDS", "1"),
    ])
    .await;
    let organizer = app.register("wl_org", "ORGANIZER").await;
    let buyers = register_many(&app, "wl_buyer", 2).await;
    let people = register_many(&app, "wl_person", 4).await;
    let (event, types) = app
        .published_event(&organizer, "Sold out", &[("GA", 1_000, 4)])
        .await;
    let tt = &types[0];

    // While seats are free, the waitlist is refused: reserve instead.
    let early = app
        .gql(Some(&people[0].access), JOIN, json!({ "tt": tt, "q": 2 }))
        .await;
    assert_eq!(error_code(&early), "CONFLICT", "{early:#}");

    for b in &buyers {
        app.top_up(b, 10_000).await;
    }
    let first_sale = app.hold(&buyers[0], tt, 2).await;
    app.paid(&buyers[0], &first_sale).await;
    let second_sale = app.hold(&buyers[1], tt, 2).await;
    app.paid(&buyers[1], &second_sale).await;

    // Sold out: three people queue, in order; one entry per person and ticket type.
    let a = join(&app, &people[0], tt, 2).await;
    let b = join(&app, &people[1], tt, 2).await;
    let c = join(&app, &people[2], tt, 1).await;
    assert_eq!(
        [&a, &b, &c].map(|e| e["position"].as_i64().unwrap()),
        [1, 2, 3]
    );
    assert_eq!(a["status"], "WAITING");
    let again = app
        .gql(Some(&people[0].access), JOIN, json!({ "tt": tt, "q": 1 }))
        .await;
    assert_eq!(error_code(&again), "CONFLICT", "{again:#}");

    // A buyer cancels 2 seats: the first entry (quantity 2) gets them, held for it.
    app.cancel(&buyers[0], &first_sale).await;
    let offered = entry(&app, &str_of(&a["id"])).await;
    assert_eq!(offered.status, WaitlistStatus::Offered);
    let offer = reservation::Entity::find_by_id(offered.offer_reservation_id.unwrap())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(offer.user_id, uuid(&people[0].id));
    assert_eq!(
        (offer.status, offer.quantity),
        (ReservationStatus::Pending, 2)
    );
    assert_eq!(
        entry(&app, &str_of(&b["id"])).await.status,
        WaitlistStatus::Waiting
    );
    assert_eq!(
        entry(&app, &str_of(&c["id"])).await.status,
        WaitlistStatus::Waiting
    );
    // The others moved up; the offer shows on the owner's entry; the public cannot take seats.
    let mine = app.ok(Some(&people[1].access), MY_ENTRIES, json!({})).await;
    assert_eq!(nodes(&mine["myWaitlistEntries"])[0]["position"], 1);
    let theirs = app.ok(Some(&people[0].access), MY_ENTRIES, json!({})).await;
    let theirs = &nodes(&theirs["myWaitlistEntries"])[0];
    assert_eq!(theirs["status"], "OFFERED");
    assert_eq!(theirs["offer"]["id"], json!(offer.id.to_string()));
    assert!(theirs["position"].is_null());
    let (_, notes) = app.notifications(&people[0], false).await;
    assert!(
        notes.iter().any(|n| n["kind"] == "WAITLIST_OFFER"),
        "{notes:#?}"
    );
    app.top_up(&people[3], 10_000).await;
    let public = app.reserve(&people[3], tt, 1, &new_key()).await;
    assert_eq!(error_code(&public), "SOLD_OUT", "{public:#}");

    // Not paid in time: the offer expires and the seats go to the next entry that fits.
    wait_until_past(offer.expires_at).await;
    let b_entry = eventually(
        Duration::from_secs(10),
        "the offer to pass to B",
        || async {
            let e = entry(&app, &str_of(&b["id"])).await;
            (e.status == WaitlistStatus::Offered).then_some(e)
        },
    )
    .await;
    assert_eq!(
        entry(&app, &str_of(&a["id"])).await.status,
        WaitlistStatus::Expired
    );
    assert_eq!(
        entry(&app, &str_of(&c["id"])).await.status,
        WaitlistStatus::Waiting
    );

    // B pays its offer like any reservation: FULFILLED.
    app.top_up(&people[1], 10_000).await;
    let offer_b = b_entry.offer_reservation_id.unwrap().to_string();
    let tickets = pay_wallet(&app, &people[1], &offer_b).await;
    assert_eq!(tickets.len(), 2);
    assert_eq!(
        entry(&app, &str_of(&b["id"])).await.status,
        WaitlistStatus::Fulfilled
    );

    // C leaves; nobody waits any more, so returned seats are public again.
    let left = app
        .ok(Some(&people[2].access), LEAVE, json!({ "id": c["id"] }))
        .await;
    assert_eq!(left["leaveWaitlist"]["status"], "LEFT");
    assert_eq!(ticket_type_row(&app, tt).await.waiting, 0);
    app.cancel(&buyers[1], &second_sale).await;
    let public = app.reserve(&people[3], tt, 2, &new_key()).await;
    assert!(public.get("errors").is_none(), "{public:#}");

    // The organizer reads the queue in order.
    let queue = app
        .ok(Some(&organizer.access), QUEUE, json!({ "tt": tt }))
        .await;
    let statuses: Vec<Value> = nodes(&queue["waitlist"])
        .iter()
        .map(|n| n["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("EXPIRED"), json!("FULFILLED"), json!("LEFT")]
    );
    let stranger = app
        .gql(Some(&people[3].access), QUEUE, json!({ "tt": tt }))
        .await;
    assert_eq!(error_code(&stranger), "FORBIDDEN");
    let _ = event;
}

#[tokio::test]
async fn an_entry_too_large_for_what_is_free_keeps_its_place_and_a_smaller_one_behind_is_served() {
    let app = spawn_app_with(&[]).await;
    let organizer = app.register("wl2_org", "ORGANIZER").await;
    let people = register_many(&app, "wl2_p", 3).await;
    let (_, types) = app
        .published_event(&organizer, "Three seats", &[("GA", 500, 3)])
        .await;
    let tt = &types[0];
    app.top_up(&people[0], 10_000).await;
    let sale = app.hold(&people[0], tt, 3).await;
    app.paid(&people[0], &sale).await;
    let big = join(&app, &people[1], tt, 3).await;
    let small = join(&app, &people[2], tt, 1).await;
    assert_eq!(small["position"], 2);
    // Cancelling returns 3 seats: the first entry fits and takes them all.
    app.cancel(&people[0], &sale).await;
    assert_eq!(
        entry(&app, &str_of(&big["id"])).await.status,
        WaitlistStatus::Offered
    );
    assert_eq!(
        entry(&app, &str_of(&small["id"])).await.status,
        WaitlistStatus::Waiting
    );
    // The big entry declines: of its 3 seats the small entry gets 1; nobody waits after that,
    // so the other 2 are public.
    app.ok(Some(&people[1].access), LEAVE, json!({ "id": big["id"] }))
        .await;
    assert_eq!(
        entry(&app, &str_of(&small["id"])).await.status,
        WaitlistStatus::Offered
    );
    let tt_row = ticket_type_row(&app, tt).await;
    assert_eq!((tt_row.available, tt_row.waiting), (2, 0));
}

#[tokio::test]
async fn seats_held_back_for_a_large_entry_are_offered_to_a_smaller_one_that_joins_later() {
    let app = spawn_app_with(&[]).await;
    let organizer = app.register("wl3_org", "ORGANIZER").await;
    let people = register_many(&app, "wl3_p", 4).await;
    let (_, types) = app
        .published_event(&organizer, "Four seats", &[("GA", 500, 4)])
        .await;
    let tt = &types[0];
    app.top_up(&people[0], 10_000).await;
    let one = app.hold(&people[0], tt, 1).await;
    app.paid(&people[0], &one).await;
    let three = app.hold(&people[0], tt, 3).await;
    app.paid(&people[0], &three).await;
    let big = join(&app, &people[1], tt, 3).await;
    // One seat comes back: too few for the first entry, which keeps its place; the seat is
    // held back from the public…
    app.cancel(&people[0], &one).await;
    assert_eq!(
        entry(&app, &str_of(&big["id"])).await.status,
        WaitlistStatus::Waiting
    );
    let public = app.reserve(&people[3], tt, 1, &new_key()).await;
    assert_eq!(error_code(&public), "SOLD_OUT", "{public:#}");
    // …and offered to the next entry that fits, even one that joins now.
    let small = join(&app, &people[2], tt, 1).await;
    assert_eq!(small["status"], "OFFERED", "{small:#}");
    assert!(small["offer"]["id"].is_string());
    assert_eq!(
        entry(&app, &str_of(&big["id"])).await.status,
        WaitlistStatus::Waiting
    );
}

/// 50 seats sold out (25 paid, 25 held), 30 people queue; then 25 cancellations through two
/// instances race 25 hold expiries (both instances sweep) and a public buyer who keeps trying.
#[tokio::test]
async fn racing_returns_across_two_instances_offer_each_seat_once_in_queue_order() {
    let db = TestDb::new().await;
    // Holds are long (the set-up must not see one lapse under load); the 25 to race are made
    // due at the start of the race, and both instances' sweepers (every second) release them.
    let vars = [("HOLD_SECONDS", "600"), ("SWEEP_INTERVAL_SECONDS", "1")];
    let (s1, s2) = (test_settings(&db, &vars), test_settings(&db, &vars));
    let one = spawn_on(db, s1).await;
    let two = spawn_instance(s2).await;
    let organizer = one.register("race_org", "ORGANIZER").await;
    let (event, types) = one
        .published_event(&organizer, "Race", &[("GA", 700, 50)])
        .await;
    let tt = types[0].clone();
    let buyers = register_many(&one, "race_buyer", 50).await;
    let queue = register_many(&one, "race_queue", 30).await;
    let public = one.register("race_public", "USER").await;
    one.top_up(&public, 100_000).await;

    // 25 paid seats and 25 holds that will lapse.
    let paid: Vec<String> = join_all(buyers[..25].iter().map(|b| async {
        one.top_up(b, 1_000).await;
        let r = one.hold(b, &tt, 1).await;
        one.paid(b, &r).await;
        r
    }))
    .await;
    let held: Vec<String> = join_all(buyers[25..].iter().map(|b| one.hold(b, &tt, 1))).await;
    assert_eq!(ticket_type_row(&one, &tt).await.available, 0);
    let mut entries = Vec::new();
    for (i, p) in queue.iter().enumerate() {
        let app = if i % 2 == 0 { &one } else { &two };
        entries.push(str_of(&join(app, p, &tt, 1).await["id"]));
    }
    let due = reservation::Entity::update_many()
        .col_expr(
            reservation::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(Utc::now() + chrono::Duration::milliseconds(500)),
        )
        .filter(reservation::Column::Id.is_in(held.iter().map(|h| uuid(h))))
        .exec(&one.state.db)
        .await
        .unwrap();
    assert_eq!(due.rows_affected, 25);
    let deadline = Utc::now() + chrono::Duration::milliseconds(500);

    // The public buyer tries all along; whatever it gets must come after the queue emptied.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let public_try = {
        let stop = stop.clone();
        let api = crate::helpers::Api::of(&two);
        let tt = tt.clone();
        async move {
            let mut got = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let res = api.reserve(&public, &tt, 1, &new_key()).await;
                if res.get("errors").is_none() {
                    got.push(id_of(&res["data"]["reserve"]));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            got
        }
    };
    let cancels = join_all(paid.iter().enumerate().map(|(i, r)| {
        let app = if i % 2 == 0 { &one } else { &two };
        let who = &buyers[i];
        async move {
            let res = app.gql(Some(&who.access), CANCEL, json!({ "id": r })).await;
            assert!(res.get("errors").is_none(), "cancel failed: {res:#}");
        }
    }));
    let settle = async {
        cancels.await;
        wait_until_past(deadline).await;
        eventually(
            Duration::from_secs(20),
            "every hold to lapse and be re-offered",
            || async {
                let rows = reservation::Entity::find()
                    .filter(reservation::Column::Id.is_in(held.iter().map(|h| uuid(h))))
                    .filter(reservation::Column::Status.eq(ReservationStatus::Pending))
                    .all(&one.state.db)
                    .await
                    .unwrap();
                rows.is_empty().then_some(())
            },
        )
        .await;
        // Let the public buyer take a few seats after the queue emptied.
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let (public_got, ()) = tokio::join!(public_try, settle);

    // Every entry got exactly one offer of its own, in queue order.
    let rows = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::TicketTypeId.eq(uuid(&tt)))
        .order_by_asc(waitlist_entry::Column::CreatedAt)
        .order_by_asc(waitlist_entry::Column::Id)
        .all(&one.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 30);
    assert!(
        rows.iter().all(|e| e.status == WaitlistStatus::Offered),
        "{rows:#?}"
    );
    let offers: Vec<reservation::Model> = join_all(rows.iter().map(|e| async {
        reservation::Entity::find_by_id(e.offer_reservation_id.unwrap())
            .one(&one.state.db)
            .await
            .unwrap()
            .unwrap()
    }))
    .await;
    let distinct: HashSet<_> = offers.iter().map(|o| o.id).collect();
    assert_eq!(distinct.len(), 30, "no reservation serves two entries");
    for (e, o) in rows.iter().zip(&offers) {
        assert_eq!(o.user_id, e.user_id);
        assert_eq!(o.status, ReservationStatus::Pending);
    }
    let mut order = offers.clone();
    order.sort_by_key(|o| (o.created_at, o.id));
    assert_eq!(
        order.iter().map(|o| o.id).collect::<Vec<_>>(),
        offers.iter().map(|o| o.id).collect::<Vec<_>>(),
        "offers were made in queue order"
    );
    // The public got seats only after the last offer, and never more than was left.
    assert!(
        !public_got.is_empty(),
        "the public buyer got the seats left once the queue emptied"
    );
    let last_offer = offers.iter().map(|o| o.created_at).max().unwrap();
    for r in &public_got {
        let row = reservation::Entity::find_by_id(uuid(r))
            .one(&one.state.db)
            .await
            .unwrap()
            .unwrap();
        assert!(
            row.created_at > last_offer,
            "a public reserve took a returned seat while people waited"
        );
    }
    // Every seat is accounted for exactly once.
    let t = ticket_type_row(&one, &tt).await;
    assert_eq!(t.waiting, 0);
    assert_eq!(t.available as usize, 20 - public_got.len());
    let live = reservation::Entity::find()
        .filter(reservation::Column::TicketTypeId.eq(uuid(&tt)))
        .filter(
            reservation::Column::Status
                .is_in([ReservationStatus::Pending, ReservationStatus::Confirmed]),
        )
        .all(&one.state.db)
        .await
        .unwrap();
    assert_eq!(
        live.iter().map(|r| r.quantity).sum::<i32>() + t.available,
        50,
        "held + sold + available = capacity"
    );
    let _ = event;
}

#[tokio::test]
async fn a_waitlist_subscriber_sees_its_position_fall_and_then_its_offer() {
    let app = spawn_app_with(&[]).await;
    let organizer = app.register("wls_org", "ORGANIZER").await;
    let people = register_many(&app, "wls_p", 4).await;
    let (_, types) = app
        .published_event(&organizer, "Live queue", &[("GA", 500, 1)])
        .await;
    let tt = &types[0];
    app.top_up(&people[0], 1_000).await;
    let sale = app.hold(&people[0], tt, 1).await;
    app.paid(&people[0], &sale).await;
    let a = join(&app, &people[1], tt, 1).await;
    let b = join(&app, &people[2], tt, 1).await;
    let c = join(&app, &people[3], tt, 1).await;

    let mut ws = WsClient::connected(app.api.addr, Some(&people[3].access)).await;
    ws.subscribe("w", UPDATES, json!({ "id": c["id"] })).await;
    let first = ws.next_data("w", Duration::from_secs(5)).await;
    assert_eq!(first["waitlistUpdates"]["position"], 3);
    app.ok(Some(&people[1].access), LEAVE, json!({ "id": a["id"] }))
        .await;
    let second = ws.next_data("w", Duration::from_secs(5)).await;
    assert_eq!(second["waitlistUpdates"]["position"], 2);
    app.ok(Some(&people[2].access), LEAVE, json!({ "id": b["id"] }))
        .await;
    let third = ws.next_data("w", Duration::from_secs(5)).await;
    assert_eq!(third["waitlistUpdates"]["position"], 1);
    app.cancel(&people[0], &sale).await;
    let offer = ws.next_data("w", Duration::from_secs(5)).await;
    assert_eq!(offer["waitlistUpdates"]["status"], "OFFERED", "{offer:#}");
    assert!(offer["waitlistUpdates"]["position"].is_null());
    assert_eq!(offer["waitlistUpdates"]["offer"]["status"], "PENDING");
    // Someone else's entry is not theirs to watch.
    let mut other = WsClient::connected(app.api.addr, Some(&people[1].access)).await;
    other.start("x", UPDATES, json!({ "id": c["id"] })).await;
    let errors = other.next_error("x", Duration::from_secs(5)).await;
    assert_eq!(crate::helpers::ws::first_code(&errors), "NOT_FOUND");
}

// ---------------------------------------------------------------------------------------------
// Cancellation policies and refunds.
// ---------------------------------------------------------------------------------------------

async fn card_charge_of(app: &TestApp, reservation: &str) -> card_charge::Model {
    let t = crate::helpers::transactions_of_reservation(app, reservation).await;
    let charge = t
        .iter()
        .find_map(|t| t.gateway_charge_id)
        .expect("a card payment");
    card_charge::Entity::find_by_id(charge)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

/// The product's example, for wallet and card: rules [{72,100},{24,50},{0,0}], paid 3,001.
#[tokio::test]
async fn refunds_follow_the_policy_to_the_cent_for_wallet_and_card_payments() {
    let app = spawn_app_with(&[]).await;
    let organizer = app.register("pol_org", "ORGANIZER").await;
    let buyer = app.register("pol_buyer", "USER").await;
    app.top_up(&buyer, 100_000).await;
    let policy = json!({ "rules": [
        { "hoursBeforeStart": 24, "refundPercent": 50 },
        { "hoursBeforeStart": 72, "refundPercent": 100 },
        { "hoursBeforeStart": 0, "refundPercent": 0 } ] });
    let now = Utc::now();
    // (hours before the start, expected refund)
    for (hours, expected) in [(100, 3_001), (30, 1_500), (2, 0)] {
        let starts = now + chrono::Duration::hours(hours);
        let (event, tt) = event_at(&app, &organizer, starts, 3_001, 10).await;
        let set = app
            .ok(
                Some(&organizer.access),
                SET_POLICY,
                json!({ "id": event, "input": policy }),
            )
            .await;
        assert_eq!(
            set["setCancellationPolicy"]["cancellationPolicy"]["rules"][0]["hoursBeforeStart"], 72,
            "rules come back largest first"
        );
        let wallet_paid = app.hold(&buyer, &tt, 1).await;
        app.paid(&buyer, &wallet_paid).await;
        let card_paid = app.hold(&buyer, &tt, 1).await;
        let res = app
            .pay_card(&buyer, &card_paid, &new_key(), "tok_visa")
            .await;
        assert!(res.get("errors").is_none(), "{res:#}");

        for r in [&wallet_paid, &card_paid] {
            let q = app.ok(Some(&buyer.access), QUOTE, json!({ "id": r })).await;
            let q = &q["refundQuote"];
            assert_eq!(q["allowed"], true, "{hours} h: {q:#}");
            assert_eq!(q["refundCents"], expected, "{hours} h: {q:#}");
            assert_eq!(q["keptCents"], 3_001 - expected);
            assert!(q["validUntil"].is_string());
        }
        let before = app.balance(&buyer).await;
        app.cancel(&buyer, &wallet_paid).await;
        assert_eq!(
            app.balance(&buyer).await - before,
            expected,
            "{hours} h, wallet"
        );
        app.cancel(&buyer, &card_paid).await;
        assert_eq!(
            app.balance(&buyer).await - before,
            expected,
            "{hours} h: a card refund goes to the card, not the wallet"
        );
        let charge = card_charge_of(&app, &card_paid).await;
        assert_eq!(charge.refunded_cents, expected, "{hours} h, card");
        let report = app
            .ok(Some(&organizer.access), REPORT, json!({ "id": event }))
            .await;
        let report = &report["eventReport"];
        assert_eq!(report["refundedCents"], 2 * expected);
        assert_eq!(report["keptCents"], 2 * (3_001 - expected));
        assert_eq!(report["revenueCents"], 2 * (3_001 - expected));
        assert_eq!(report["ticketsAvailable"], 10);
    }
}

#[tokio::test]
async fn past_the_last_rule_cancelling_is_refused_and_fees_are_kept_per_ticket() {
    let app = spawn_app_with(&[]).await;
    let organizer = app.register("fee_org", "ORGANIZER").await;
    let buyer = app.register("fee_buyer", "USER").await;
    app.top_up(&buyer, 100_000).await;

    // Within 48 hours nothing applies: refused, and nothing moves.
    let (event, tt) = event_at(
        &app,
        &organizer,
        Utc::now() + chrono::Duration::hours(10),
        2_000,
        5,
    )
    .await;
    app.ok(
        Some(&organizer.access),
        SET_POLICY,
        json!({ "id": event, "input": { "rules": [{ "hoursBeforeStart": 48, "refundPercent": 80 }] } }),
    )
    .await;
    let r = app.hold(&buyer, &tt, 1).await;
    app.paid(&buyer, &r).await;
    let q = app.ok(Some(&buyer.access), QUOTE, json!({ "id": r })).await;
    assert_eq!(q["refundQuote"]["allowed"], false);
    assert!(q["refundQuote"]["reason"].is_string());
    let before = app.balance(&buyer).await;
    let refused = app
        .gql(Some(&buyer.access), CANCEL, json!({ "id": r }))
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    assert_eq!(app.balance(&buyer).await, before);
    let row = crate::helpers::reservation_row(&app, &r).await;
    assert_eq!(row.status, ReservationStatus::Confirmed);

    // A fee per ticket: 3 tickets of 999, 80 % minus 3 × 150.
    let (event, tt) = event_at(
        &app,
        &organizer,
        Utc::now() + chrono::Duration::days(5),
        999,
        5,
    )
    .await;
    app.ok(
        Some(&organizer.access),
        SET_POLICY,
        json!({ "id": event, "input": { "rules": [{ "hoursBeforeStart": 48, "refundPercent": 80 }], "feeCents": 150 } }),
    )
    .await;
    let r = app.hold(&buyer, &tt, 3).await;
    app.paid(&buyer, &r).await;
    let expected = 2_997 * 80 / 100 - 450;
    let q = app.ok(Some(&buyer.access), QUOTE, json!({ "id": r })).await;
    assert_eq!(q["refundQuote"]["refundCents"], expected);
    assert_eq!(q["refundQuote"]["feeCents"], 450);
    let before = app.balance(&buyer).await;
    app.cancel(&buyer, &r).await;
    assert_eq!(app.balance(&buyer).await - before, expected);

    // Bad policies are refused as input errors.
    let bad = app
        .gql(
            Some(&organizer.access),
            SET_POLICY,
            json!({ "id": event, "input": { "rules": [{ "hoursBeforeStart": 10, "refundPercent": 120 }] } }),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    let stranger = app
        .gql(
            Some(&buyer.access),
            SET_POLICY,
            json!({ "id": event, "input": { "rules": [] } }),
        )
        .await;
    assert!(
        ["FORBIDDEN", "NOT_FOUND"].contains(&error_code(&stranger)),
        "{stranger:#}"
    );
}

#[tokio::test]
async fn an_organizer_cancelling_the_event_refunds_in_full_whatever_the_policy() {
    let app = spawn_app_with(&[]).await;
    let organizer = app.register("full_org", "ORGANIZER").await;
    let buyer = app.register("full_buyer", "USER").await;
    app.top_up(&buyer, 10_000).await;
    let (event, tt) = event_at(
        &app,
        &organizer,
        Utc::now() + chrono::Duration::hours(5),
        1_234,
        5,
    )
    .await;
    app.ok(
        Some(&organizer.access),
        SET_POLICY,
        json!({ "id": event, "input": { "rules": [{ "hoursBeforeStart": 0, "refundPercent": 0 }] } }),
    )
    .await;
    let wallet = app.hold(&buyer, &tt, 1).await;
    app.paid(&buyer, &wallet).await;
    let card = app.hold(&buyer, &tt, 2).await;
    let res = app.pay_card(&buyer, &card, &new_key(), "tok_visa").await;
    assert!(res.get("errors").is_none(), "{res:#}");
    let before = app.balance(&buyer).await;
    app.ok(
        Some(&organizer.access),
        "mutation($id: ID!) { cancelEvent(id: $id) { status } }",
        json!({ "id": event }),
    )
    .await;
    assert_eq!(app.balance(&buyer).await - before, 1_234);
    let charge = card_charge_of(&app, &card).await;
    assert_eq!(charge.refunded_cents, 2_468);
    assert_eq!(charge.status, card_charge::ChargeStatus::Refunded);
}

// ---------------------------------------------------------------------------------------------
// Transfers.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_transferred_ticket_gets_a_new_code_and_shows_in_the_new_holders_tickets() {
    let app = spawn_app_with(&[]).await;
    let organizer = app.register("tr_org", "ORGANIZER").await;
    let buyer = app.register("tr_buyer", "USER").await;
    let friend = app.register("tr_friend", "USER").await;
    app.top_up(&buyer, 10_000).await;
    let (event, types) = app
        .published_event(&organizer, "Pass it on", &[("GA", 800, 5)])
        .await;
    let r = app.hold(&buyer, &types[0], 2).await;
    let tickets = pay_wallet(&app, &buyer, &r).await;
    let ticket = str_of(&tickets[0]["id"]);
    let old_code = str_of(&tickets[0]["code"]);

    let named = app
        .ok(
            Some(&buyer.access),
            HOLDER_NAME,
            json!({ "id": ticket, "name": "  Ada Buyer " }),
        )
        .await;
    assert_eq!(named["setTicketHolderName"]["holderName"], "Ada Buyer");

    let moved = app
        .ok(
            Some(&buyer.access),
            TRANSFER,
            json!({ "id": ticket, "to": "tr_friend" }),
        )
        .await;
    let moved = &moved["transferTicket"];
    assert_eq!(moved["holder"]["username"], "tr_friend");
    assert_ne!(moved["code"], json!(old_code), "the ticket gets a new code");
    assert!(moved["holderName"].is_null(), "the new holder names it");
    assert_eq!(moved["event"]["id"], json!(event));

    // At the door the old code is REVOKED and the new one admits.
    const CHECK_IN: &str =
        "mutation($e: ID!, $c: String!) { checkIn(eventId: $e, code: $c) { status } }";
    let scan = |code: Value| {
        let (app, organizer, event) = (&app, &organizer, event.clone());
        async move {
            app.ok(
                Some(&organizer.access),
                CHECK_IN,
                json!({ "e": event, "c": code }),
            )
            .await["checkIn"]["status"]
                .clone()
        }
    };
    assert_eq!(scan(json!(old_code)).await, "REVOKED");

    let theirs = app.ok(Some(&friend.access), MY_TICKETS, json!({})).await;
    let theirs = nodes(&theirs["myTickets"]);
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["id"], json!(ticket));
    assert_eq!(theirs[0]["code"], moved["code"]);
    let mine = app.ok(Some(&buyer.access), MY_TICKETS, json!({})).await;
    assert_eq!(mine["myTickets"]["totalCount"], 1);
    let (_, notes) = app.notifications(&friend, false).await;
    assert!(notes.iter().any(|n| n["kind"] == "TICKET_TRANSFERRED"));

    // It is no longer the buyer's to pass on or rename; the friend may.
    let again = app
        .gql(
            Some(&buyer.access),
            TRANSFER,
            json!({ "id": ticket, "to": "tr_buyer" }),
        )
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND");
    let rename = app
        .gql(
            Some(&buyer.access),
            HOLDER_NAME,
            json!({ "id": ticket, "name": "x" }),
        )
        .await;
    assert_eq!(error_code(&rename), "NOT_FOUND");
    app.ok(
        Some(&friend.access),
        HOLDER_NAME,
        json!({ "id": ticket, "name": "Friend" }),
    )
    .await;
    let unknown = app
        .gql(
            Some(&friend.access),
            TRANSFER,
            json!({ "id": ticket, "to": "nobody_here" }),
        )
        .await;
    assert_eq!(error_code(&unknown), "BAD_USER_INPUT");
    // Once it got someone in, it cannot change hands.
    assert_eq!(scan(moved["code"].clone()).await, "ADMITTED");
    let spent = app
        .gql(
            Some(&friend.access),
            TRANSFER,
            json!({ "id": ticket, "to": "tr_buyer" }),
        )
        .await;
    assert_eq!(error_code(&spent), "CONFLICT", "{spent:#}");

    // The organizer forbids transfers.
    let off = app
        .ok(
            Some(&organizer.access),
            UPDATE_EVENT,
            json!({ "id": event, "input": { "allowTransfers": false } }),
        )
        .await;
    assert_eq!(off["updateEvent"]["allowTransfers"], false);
    let other = str_of(&tickets[1]["id"]);
    let forbidden = app
        .gql(
            Some(&buyer.access),
            TRANSFER,
            json!({ "id": other, "to": "tr_friend" }),
        )
        .await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN");
}

// ---------------------------------------------------------------------------------------------
// A seated waitlist: offers are best-available runs of adjacent seats.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_seated_waitlist_is_offered_adjacent_seats_and_a_pair_waits_for_a_pair() {
    let app = spawn_app_with(&[]).await;
    let org = app.register("seatwl_org", "ORGANIZER").await;
    let buyers = register_many(&app, "seatwl_b", 3).await;
    let (pair, single, public) = (
        app.register("seatwl_pair", "USER").await,
        app.register("seatwl_single", "USER").await,
        app.register("seatwl_public", "USER").await,
    );
    let venue = app
        .ok(
            Some(&org.access),
            "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id } }",
            json!({ "input": { "name": "Four seats", "sections": [{ "name": "Hall", "rows": [{ "label": "A", "seats": 4 }] }] } }),
        )
        .await["createVenue"]["id"]
        .clone();
    let starts_at = (Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let created = app
        .ok(
            Some(&org.access),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id }
               seatMap { sections { rows { seats { id label } } } } } }",
            json!({ "input": { "title": "Seated queue", "startsAt": starts_at, "venueId": venue,
                "ticketTypes": [{ "name": "Hall", "priceCents": 1_000, "sections": ["Hall"] }] } }),
        )
        .await;
    let event = str_of(&created["createEvent"]["id"]);
    app.publish(&org, &event).await;
    let tt = str_of(&created["createEvent"]["ticketTypes"][0]["id"]);
    let seat: std::collections::HashMap<String, String> =
        created["createEvent"]["seatMap"]["sections"][0]["rows"][0]["seats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (str_of(&s["label"]), str_of(&s["id"])))
            .collect();
    const RESERVE_SEATS: &str = "mutation($input: ReserveInput!) { reserve(input: $input) { id } }";
    let buy = |who: &Account, labels: &[&str]| {
        let ids: Vec<String> = labels.iter().map(|l| seat[*l].clone()).collect();
        let (app, who, tt) = (&app, who.clone(), tt.clone());
        async move {
            app.top_up(&who, 10_000).await;
            let r = app
                .ok(
                    Some(&who.access),
                    RESERVE_SEATS,
                    json!({ "input": { "ticketTypeId": tt, "seatIds": ids, "quantity": ids.len() } }),
                )
                .await;
            let r = str_of(&r["reserve"]["id"]);
            app.paid(&who, &r).await;
            r
        }
    };
    let one = buy(&buyers[0], &["A-1"]).await;
    let middle = buy(&buyers[1], &["A-2", "A-3"]).await;
    let four = buy(&buyers[2], &["A-4"]).await;

    let p = join(&app, &pair, &tt, 2).await;
    let s = join(&app, &single, &tt, 1).await;
    // A-1 comes back: no pair fits, the pair keeps its place; the single behind it gets A-1.
    app.cancel(&buyers[0], &one).await;
    assert_eq!(
        entry(&app, &str_of(&p["id"])).await.status,
        WaitlistStatus::Waiting
    );
    let single_offer = entry(&app, &str_of(&s["id"])).await;
    assert_eq!(single_offer.status, WaitlistStatus::Offered);
    let seats_of = |r: String| {
        let (app, org) = (&app, &org);
        async move {
            let data = app
                .ok(
                    Some(&org.access),
                    "query($id: ID!) { reservation(id: $id) { seats { label status } } }",
                    json!({ "id": r }),
                )
                .await;
            data["reservation"]["seats"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| str_of(&s["label"]))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        seats_of(single_offer.offer_reservation_id.unwrap().to_string()).await,
        ["A-1"]
    );
    // A-4 comes back: still no pair; it is held back from the public for the pair.
    app.cancel(&buyers[2], &four).await;
    assert_eq!(
        entry(&app, &str_of(&p["id"])).await.status,
        WaitlistStatus::Waiting
    );
    app.top_up(&public, 10_000).await;
    let taken = app
        .gql(
            Some(&public.access),
            RESERVE_SEATS,
            json!({ "input": { "ticketTypeId": tt, "seatIds": [seat["A-4"]], "quantity": 1 } }),
        )
        .await;
    assert_eq!(error_code(&taken), "SOLD_OUT", "{taken:#}");
    // come back: the pair gets the best adjacent run, A-2 + A-3 (the row's centre).
    app.cancel(&buyers[1], &middle).await;
    let pair_offer = entry(&app, &str_of(&p["id"])).await;
    assert_eq!(pair_offer.status, WaitlistStatus::Offered);
    let mut got = seats_of(pair_offer.offer_reservation_id.unwrap().to_string()).await;
    got.sort();
    assert_eq!(got, ["A-2", "A-3"]);
    // Nobody waits any more: A-4 is public again.
    let taken = app
        .gql(
            Some(&public.access),
            RESERVE_SEATS,
            json!({ "input": { "ticketTypeId": tt, "seatIds": [seat["A-4"]], "quantity": 1 } }),
        )
        .await;
    assert!(taken.get("errors").is_none(), "{taken:#}");
}

#[tokio::test]
async fn once_the_event_starts_the_people_still_waiting_expire() {
    let app = spawn_app_with(&[("SWEEP_INTERVAL_SECONDS", "1")]).await;
    let org = app.register("start_org", "ORGANIZER").await;
    let buyer = app.register("start_buyer", "USER").await;
    let waiting = app.register("start_waiting", "USER").await;
    let starts = Utc::now() + chrono::Duration::seconds(4);
    let (_, tt) = event_at(&app, &org, starts, 100, 1).await;
    app.top_up(&buyer, 1_000).await;
    let r = app.hold(&buyer, &tt, 1).await;
    app.paid(&buyer, &r).await;
    let e = join(&app, &waiting, &tt, 1).await;
    assert_eq!(e["status"], "WAITING");
    wait_until_past(starts).await;
    eventually(Duration::from_secs(10), "the entry to expire", || async {
        (entry(&app, &str_of(&e["id"])).await.status == WaitlistStatus::Expired).then_some(())
    })
    .await;
    assert_eq!(ticket_type_row(&app, &tt).await.waiting, 0);
}
