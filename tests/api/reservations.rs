//! Reservations through the real server: seat holds under contention, idempotent reserves,
//! validation, hold expiry (the sweeper and `pay` on a lapsed hold), cancellation, who may see a
//! reservation, and paging through one's own.

use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::{
    Account, CANCEL, PAY, RESERVATION, RESERVE, TestApp, admin, available, error_code, eventually,
    id_of, new_key, register_many, reservation_row, reservations_of_event, spawn_app,
    spawn_app_with, tickets_of_event, transactions_of_reservation, uuid, wait_until_past,
};
use chrono::{DateTime, Utc};
use entity::reservation::{self, ReservationStatus};
use entity::transaction::{TransactionKind, TransactionStatus};
use futures::future::join_all;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Operations and helpers only this module uses (the shared ones live in `helpers`).
// ---------------------------------------------------------------------------------------------

const MY_RESERVATIONS: &str = "query($first: Int, $after: String) { myReservations(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id status quantity createdAt } } } }";
const EVENT_AVAILABILITY: &str =
    "query($id: ID!) { event(id: $id) { available ticketTypes { id available } } }";

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a DateTime: {v}")))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// Moves an event's start (and its session's) into the past behind the API's back (the API
/// refuses past dates).
async fn start_event_now(app: &TestApp, event: &str) {
    let started = Utc::now() - chrono::Duration::minutes(5);
    entity::event::Entity::update_many()
        .col_expr(entity::event::Column::StartsAt, Expr::value(started))
        .filter(entity::event::Column::Id.eq(uuid(event)))
        .exec(&app.state.db)
        .await
        .unwrap();
    entity::event_session::Entity::update_many()
        .col_expr(
            entity::event_session::Column::StartsAt,
            Expr::value(started),
        )
        .filter(entity::event_session::Column::EventId.eq(uuid(event)))
        .exec(&app.state.db)
        .await
        .unwrap();
}

fn assert_accounts_add_up(report: &Value, capacity: i64) {
    let sold = report["ticketsSold"].as_i64().unwrap();
    let held = report["ticketsHeld"].as_i64().unwrap();
    let free = report["ticketsAvailable"].as_i64().unwrap();
    assert_eq!(report["capacity"], capacity, "{report:#}");
    assert_eq!(
        sold + held + free,
        capacity,
        "sold + held + available = capacity: {report:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// Contention: never oversold.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_buyers_racing_for_fifty_seats_get_exactly_fifty_holds() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Arena", &[("GA", 1000, 50)])
        .await;
    let tt = &types[0];
    let buyers = register_many(&app, "racer", 200).await;

    let app = &app;
    let results = join_all(
        buyers
            .iter()
            .map(|b| async move { app.reserve(b, tt, 1, &new_key()).await }),
    )
    .await;

    let mut held = HashSet::new();
    let mut sold_out = 0;
    for res in &results {
        if res.get("errors").is_some() {
            assert_eq!(error_code(res), "SOLD_OUT", "{res:#}");
            assert!(res["data"].is_null() || res["data"]["reserve"].is_null());
            sold_out += 1;
        } else {
            let r = &res["data"]["reserve"];
            assert_eq!(r["status"], "PENDING");
            assert_eq!(r["quantity"], 1);
            assert!(held.insert(id_of(r)), "one reservation id handed out twice");
        }
    }
    assert_eq!(held.len(), 50, "exactly 50 holds");
    assert_eq!(sold_out, 150, "everyone else is told SOLD_OUT");

    assert_eq!(available(app, tt).await, 0);
    let public = app
        .ok(None, EVENT_AVAILABILITY, json!({ "id": event }))
        .await;
    assert_eq!(public["event"]["available"], 0);
    let rows = reservations_of_event(app, &event).await;
    assert_eq!(rows.len(), 50, "refused requests leave no rows behind");
    assert!(
        rows.iter()
            .all(|r| r.status == ReservationStatus::Pending && r.quantity == 1)
    );
    let holders: HashSet<Uuid> = rows.iter().map(|r| r.user_id).collect();
    assert_eq!(holders.len(), 50, "each hold belongs to a different buyer");

    let summary = app.report(&org, &event).await;
    assert_eq!(summary["ticketsHeld"], 50);
    assert_eq!(summary["ticketsSold"], 0);
    assert_eq!(summary["ticketsAvailable"], 0);
    assert_accounts_add_up(&summary, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_reserves_of_mixed_quantities_never_oversell() {
    let app = spawn_app().await;
    let org = app.register("mona", "ORGANIZER").await;
    let (event, types) = app.published_event(&org, "Club", &[("GA", 700, 50)]).await;
    let tt = &types[0];
    let buyers = register_many(&app, "mixer", 100).await;

    // 200 calls at once: every buyer asks twice, for 1 to 4 seats each time.
    let asks: Vec<(&Account, i64)> = buyers
        .iter()
        .enumerate()
        .flat_map(|(i, b)| [(b, (i % 4) as i64 + 1), (b, ((i + 2) % 4) as i64 + 1)])
        .collect();
    let app = &app;
    let results = join_all(
        asks.iter()
            .map(|&(b, q)| async move { app.reserve(b, tt, q, &new_key()).await }),
    )
    .await;

    let mut granted = 0i64;
    let mut refused = Vec::new();
    for ((_, q), res) in asks.iter().zip(&results) {
        if res.get("errors").is_some() {
            assert_eq!(error_code(res), "SOLD_OUT", "{res:#}");
            refused.push(*q);
        } else {
            let r = &res["data"]["reserve"];
            assert_eq!(r["quantity"], *q);
            assert_eq!(r["amountCents"], 700 * q);
            granted += q;
        }
    }
    let left = available(app, tt).await as i64;
    assert!(granted <= 50, "{granted} seats held out of 50");
    assert_eq!(
        granted + left,
        50,
        "held {granted}, {left} left, capacity 50"
    );
    // Nothing was released during the race, so a refusal means the seats really were not there.
    for q in &refused {
        assert!(
            *q > left,
            "a request for {q} was refused although {left} seats are still free"
        );
    }
    let rows = reservations_of_event(app, &event).await;
    assert_eq!(rows.iter().map(|r| r.quantity as i64).sum::<i64>(), granted);
    assert_eq!(rows.len(), asks.len() - refused.len());

    let summary = app.report(&org, &event).await;
    assert_eq!(summary["ticketsHeld"], granted);
    assert_eq!(summary["ticketsAvailable"], left);
    assert_accounts_add_up(&summary, 50);
}

// ---------------------------------------------------------------------------------------------
// Expiry.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_buyers_paying_while_holds_expire_leave_every_seat_accounted_for() {
    let app = spawn_app_with(&[("HOLD_SECONDS", "2"), ("SWEEP_INTERVAL_SECONDS", "1")]).await;
    let org = app.register("hana", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Festival", &[("GA", 1500, 100)])
        .await;
    let tt = &types[0];
    let buyers = register_many(&app, "buyer", 100).await;
    join_all(buyers.iter().map(|b| app.top_up(b, 1500))).await;
    let (late, prompt) = buyers.split_at(50);

    // The late half take their holds first and let them lapse ...
    let late_holds = join_all(late.iter().map(|b| app.reserved(b, tt, 1))).await;
    let last_expiry = late_holds
        .iter()
        .map(|h| time(&h["expiresAt"]))
        .max()
        .unwrap();
    wait_until_past(last_expiry).await;

    // ... then, all at once, they try to pay while the prompt half reserve and pay straight away
    // (and the sweeper returns lapsed seats in the background).
    let app = &app;
    let late_pays = join_all(
        late.iter()
            .zip(&late_holds)
            .map(|(b, h)| async move { app.pay(b, &id_of(h), &new_key()).await }),
    );
    let prompt_runs = join_all(prompt.iter().map(|b| async move {
        let hold = app.reserved(b, tt, 1).await;
        let res = app.pay(b, &id_of(&hold), &new_key()).await;
        (hold, res, Utc::now())
    }));
    let (late_results, prompt_results) = tokio::join!(late_pays, prompt_runs);

    let mut failed_pays = 0;
    for res in &late_results {
        assert_eq!(
            error_code(res),
            "HOLD_EXPIRED",
            "paying a lapsed hold: {res:#}"
        );
        failed_pays += 1;
    }
    let mut confirmed = HashSet::new();
    for (hold, res, answered_at) in &prompt_results {
        if res.get("errors").is_some() {
            // Timing never decides the outcome of this test, but HOLD_EXPIRED must be the truth.
            assert_eq!(error_code(res), "HOLD_EXPIRED", "{res:#}");
            assert!(
                *answered_at > time(&hold["expiresAt"]),
                "HOLD_EXPIRED answered at {answered_at}, before the hold ran out at {}",
                hold["expiresAt"]
            );
            failed_pays += 1;
        } else {
            let r = &res["data"]["pay"]["reservation"];
            assert_eq!(r["status"], "CONFIRMED");
            assert_eq!(r["tickets"].as_array().unwrap().len(), 1);
            confirmed.insert(id_of(hold));
        }
    }

    // Every reservation ended CONFIRMED (exactly the paid ones) or EXPIRED.
    let rows = reservations_of_event(app, &event).await;
    assert_eq!(rows.len(), 100);
    for row in &rows {
        let expected = if confirmed.contains(&row.id.to_string()) {
            ReservationStatus::Confirmed
        } else {
            ReservationStatus::Expired
        };
        assert_eq!(row.status, expected, "reservation {}", row.id);
    }
    let sold = confirmed.len() as i64;
    assert_eq!(available(app, tt).await as i64, 100 - sold);
    let summary = app.report(&org, &event).await;
    assert_eq!(summary["ticketsSold"], sold);
    assert_eq!(summary["ticketsHeld"], 0);
    assert_eq!(summary["ticketsAvailable"], 100 - sold);
    assert_eq!(summary["revenueCents"], 1500 * sold);
    assert_eq!(summary["failedPayments"], failed_pays);
    assert_accounts_add_up(&summary, 100);

    // Money and tickets: only the confirmed paid, each got one ticket.
    let tickets = tickets_of_event(app, &event).await;
    assert_eq!(tickets.len() as i64, sold);
    assert_eq!(
        tickets
            .iter()
            .map(|t| &t.code)
            .collect::<HashSet<_>>()
            .len() as i64,
        sold,
        "ticket codes are unique"
    );
    let balances = join_all(buyers.iter().map(|b| app.balance(b))).await;
    assert_eq!(balances.iter().sum::<i64>(), 1500 * (100 - sold));
    assert!(
        balances.iter().all(|b| *b == 0 || *b == 1500),
        "{balances:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_holds_seats_come_back_and_paying_it_is_refused_without_charge() {
    let app = spawn_app_with(&[("HOLD_SECONDS", "1"), ("SWEEP_INTERVAL_SECONDS", "1")]).await;
    let org = app.register("edda", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Tiny room", &[("GA", 800, 2)])
        .await;
    let tt = &types[0];
    let alice = app.register("alice", "USER").await;
    let bob = app.register("bob", "USER").await;
    app.top_up(&alice, 5000).await;
    app.top_up(&bob, 5000).await;

    let started = std::time::Instant::now();
    let hold = app.reserved(&alice, tt, 2).await;
    let expires = time(&hold["expiresAt"]);
    assert_eq!(
        error_code(&app.reserve(&bob, tt, 1, &new_key()).await),
        "SOLD_OUT"
    );

    // HOLD_SECONDS (1) + the sweep interval (1), with a little slack for a busy machine.
    let limit = Duration::from_secs(4).saturating_sub(started.elapsed());
    let app = &app;
    let back_at = eventually(limit, "the sweeper to return the seats", || async move {
        (available(app, tt).await == 2).then(Utc::now)
    })
    .await;
    assert!(
        back_at >= expires,
        "seats came back at {back_at}, before the hold expired at {expires}"
    );
    let seen = app
        .ok(
            Some(&alice.access),
            RESERVATION,
            json!({ "id": id_of(&hold) }),
        )
        .await;
    assert_eq!(seen["reservation"]["status"], "EXPIRED");

    // Someone else can have them now.
    let bobs = app.reserved(&bob, tt, 2).await;
    assert_eq!(bobs["ticketType"]["available"], 0);

    // Paying the lapsed hold is refused, charges nothing, takes no seat, and is on record.
    let res = app.pay(&alice, &id_of(&hold), &new_key()).await;
    assert_eq!(error_code(&res), "HOLD_EXPIRED");
    assert_eq!(app.balance(&alice).await, 5000);
    assert_eq!(
        reservation_row(app, &id_of(&hold)).await.status,
        ReservationStatus::Expired
    );
    assert_eq!(
        available(app, tt).await,
        0,
        "the seats were not released a second time"
    );
    assert_eq!(
        reservation_row(app, &id_of(&bobs)).await.status,
        ReservationStatus::Pending
    );
    let attempts = transactions_of_reservation(app, &id_of(&hold)).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].kind, TransactionKind::Payment);
    assert_eq!(attempts[0].status, TransactionStatus::Failed);
    assert!(tickets_of_event(app, &event).await.is_empty());

    let summary = app.report(&org, &event).await;
    assert_eq!(summary["failedPayments"], 1);
    assert_eq!(summary["ticketsHeld"], 2);
    assert_eq!(summary["ticketsSold"], 0);
    assert_accounts_add_up(&summary, 2);

    // Bob's hold is still good.
    let paid = app
        .ok(
            Some(&bob.access),
            PAY,
            json!({ "input": { "reservationId": id_of(&bobs), "idempotencyKey": new_key() } }),
        )
        .await;
    assert_eq!(paid["pay"]["reservation"]["status"], "CONFIRMED");
    assert_eq!(app.balance(&bob).await, 5000 - 1600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paying_a_lapsed_hold_before_the_sweeper_gets_to_it_releases_it_at_once() {
    // The sweeper runs once at most (at start-up), long before the hold lapses.
    let app = spawn_app_with(&[("HOLD_SECONDS", "1"), ("SWEEP_INTERVAL_SECONDS", "3600")]).await;
    let org = app.register("ines", "ORGANIZER").await;
    let (event, types) = app.published_event(&org, "Loft", &[("GA", 800, 2)]).await;
    let tt = &types[0];
    let alice = app.register("alice", "USER").await;
    let bob = app.register("bob", "USER").await;
    app.top_up(&alice, 5000).await;

    let hold = app.reserved(&alice, tt, 2).await;
    let id = id_of(&hold);
    wait_until_past(time(&hold["expiresAt"])).await;
    assert_eq!(
        available(&app, tt).await,
        0,
        "precondition: nothing has released the hold yet"
    );

    let res = app.pay(&alice, &id, &new_key()).await;
    assert_eq!(error_code(&res), "HOLD_EXPIRED");
    assert_eq!(
        available(&app, tt).await,
        2,
        "the lapsed hold's seats are back at once"
    );
    assert_eq!(
        reservation_row(&app, &id).await.status,
        ReservationStatus::Expired
    );
    assert_eq!(app.balance(&alice).await, 5000, "nothing charged");
    assert!(tickets_of_event(&app, &event).await.is_empty());

    // A second attempt is refused the same way and does not release the seats again.
    let again = app.pay(&alice, &id, &new_key()).await;
    assert_eq!(error_code(&again), "HOLD_EXPIRED");
    assert_eq!(available(&app, tt).await, 2);

    app.reserved(&bob, tt, 2).await;
    assert_eq!(available(&app, tt).await, 0);
    let summary = app.report(&org, &event).await;
    assert_eq!(summary["ticketsHeld"], 2);
    assert_eq!(summary["failedPayments"], 2);
    assert_accounts_add_up(&summary, 2);
}

// ---------------------------------------------------------------------------------------------
// Reserve: the happy path, idempotency and validation.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_reservation_holds_seats_at_the_ticket_price_until_its_expiry() {
    let app = spawn_app_with(&[("HOLD_SECONDS", "120")]).await;
    let org = app.register("rosa", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Opera", &[("GA", 2500, 3), ("VIP", 9000, 1)])
        .await;
    let (ga, vip) = (&types[0], &types[1]);
    let alice = app.register("alice", "USER").await;

    let before = Utc::now();
    let r = app.reserved(&alice, ga, 2).await;
    let after = Utc::now();
    assert_eq!(r["status"], "PENDING");
    assert_eq!(r["quantity"], 2);
    assert_eq!(r["amountCents"], 5000, "price × quantity");
    assert_eq!(r["event"]["id"], event);
    assert_eq!(r["ticketType"]["id"], *ga);
    assert_eq!(r["ticketType"]["available"], 1);
    assert_eq!(r["tickets"], json!([]), "no tickets before payment");
    let expires = time(&r["expiresAt"]);
    let slack = chrono::Duration::seconds(1);
    let hold = chrono::Duration::seconds(120);
    assert!(
        expires >= before + hold - slack && expires <= after + hold + slack,
        "expiresAt {expires} is not HOLD_SECONDS after {before}"
    );
    let created = time(&r["createdAt"]);
    assert!(created >= before - slack && created <= after + slack);

    let res = app.reserve(&alice, ga, 2, &new_key()).await;
    assert_eq!(error_code(&res), "SOLD_OUT");
    assert_eq!(
        available(&app, ga).await,
        1,
        "a refused request takes nothing"
    );
    assert_eq!(
        available(&app, vip).await,
        1,
        "other ticket types are untouched"
    );
    app.reserved(&alice, ga, 1).await;
    assert_eq!(available(&app, ga).await, 0);

    let summary = app.report(&org, &event).await;
    assert_eq!(summary["ticketsHeld"], 3);
    assert_eq!(summary["ticketsSold"], 0);
    assert_eq!(summary["ticketsAvailable"], 1);
    assert_eq!(summary["occupancy"].as_f64(), Some(0.0));
    assert_accounts_add_up(&summary, 4);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_reservation_and_other_input_conflicts() {
    let app = spawn_app().await;
    let org = app.register("ida", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&org, "Keys", &[("GA", 1000, 10), ("VIP", 5000, 5)])
        .await;
    let (ga, vip) = (&types[0], &types[1]);
    let alice = app.register("alice", "USER").await;
    let bob = app.register("bob", "USER").await;
    let key = new_key();

    let first = app.reserve(&alice, ga, 2, &key).await;
    let second = app.reserve(&alice, ga, 2, &key).await;
    assert!(
        first.get("errors").is_none() && second.get("errors").is_none(),
        "{first:#} {second:#}"
    );
    assert_eq!(
        first["data"]["reserve"]["id"],
        second["data"]["reserve"]["id"]
    );
    assert_eq!(available(&app, ga).await, 8, "seats taken once");

    assert_eq!(
        error_code(&app.reserve(&alice, ga, 3, &key).await),
        "CONFLICT"
    );
    assert_eq!(
        error_code(&app.reserve(&alice, vip, 2, &key).await),
        "CONFLICT"
    );
    assert_eq!(available(&app, ga).await, 8);
    assert_eq!(available(&app, vip).await, 5);

    // Keys belong to their user: Bob's identical key is his own reservation.
    let bobs = app.reserve(&bob, ga, 2, &key).await;
    assert!(bobs.get("errors").is_none(), "{bobs:#}");
    assert_ne!(
        bobs["data"]["reserve"]["id"],
        first["data"]["reserve"]["id"]
    );
    assert_eq!(available(&app, ga).await, 6);
    assert_eq!(reservations_of_event(&app, &event).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_reserves_racing_with_one_key_take_the_seats_once() {
    let app = spawn_app().await;
    let org = app.register("rhea", "ORGANIZER").await;
    let (event, types) = app.published_event(&org, "Race", &[("GA", 1000, 10)]).await;
    let alice = app.register("alice", "USER").await;
    let key = new_key();

    let results = join_all((0..10).map(|_| app.reserve(&alice, &types[0], 2, &key))).await;
    let ids: HashSet<String> = results
        .iter()
        .map(|res| {
            assert!(
                res.get("errors").is_none(),
                "a retry with the same key failed: {res:#}"
            );
            id_of(&res["data"]["reserve"])
        })
        .collect();
    assert_eq!(ids.len(), 1, "all callers got the same reservation");
    assert_eq!(available(&app, &types[0]).await, 8);
    assert_eq!(reservations_of_event(&app, &event).await.len(), 1);
}

#[tokio::test]
async fn reserve_rejects_bad_quantities_unreservable_events_and_anonymous_callers() {
    let app = spawn_app().await;
    let org = app.register("vera", "ORGANIZER").await;
    let alice = app.register("alice", "USER").await;
    let (open, open_types) = app.published_event(&org, "Open", &[("GA", 1000, 20)]).await;
    let (_, draft_types) = app
        .create_event(&org, "Draft", 10, &[("GA", 1000, 20)])
        .await;
    let (cancelled, cancelled_types) = app
        .published_event(&org, "Called off", &[("GA", 1000, 20)])
        .await;
    app.ok(
        Some(&org.access),
        "mutation($id: ID!) { cancelEvent(id: $id) { status } }",
        json!({ "id": cancelled }),
    )
    .await;
    let (started, started_types) = app
        .published_event(&org, "Begun", &[("GA", 1000, 20)])
        .await;
    start_event_now(&app, &started).await;
    let tt = &open_types[0];

    for quantity in [0, -1, 11] {
        let res = app.reserve(&alice, tt, quantity, &new_key()).await;
        assert_eq!(error_code(&res), "BAD_USER_INPUT", "quantity {quantity}");
    }
    let res = app.reserve(&alice, &draft_types[0], 1, &new_key()).await;
    assert_eq!(error_code(&res), "NOT_FOUND", "a draft is not reservable");
    let res = app
        .reserve(&alice, &Uuid::new_v4().to_string(), 1, &new_key())
        .await;
    assert_eq!(error_code(&res), "NOT_FOUND", "unknown ticket type");
    let res = app
        .reserve(&alice, &cancelled_types[0], 1, &new_key())
        .await;
    assert_eq!(error_code(&res), "CONFLICT", "a cancelled event");
    let res = app.reserve(&alice, &started_types[0], 1, &new_key()).await;
    assert!(
        res.get("errors").is_some(),
        "an event that has started: {res:#}"
    );
    let res = app
        .gql(
            None,
            RESERVE,
            json!({ "input": { "ticketTypeId": tt, "quantity": 1, "idempotencyKey": new_key() } }),
        )
        .await;
    assert_eq!(error_code(&res), "UNAUTHENTICATED");

    // The refusals took nothing and left nothing behind.
    for t in [tt, &draft_types[0], &cancelled_types[0], &started_types[0]] {
        assert_eq!(available(&app, t).await, 20);
    }
    assert!(
        reservation::Entity::find()
            .all(&app.state.db)
            .await
            .unwrap()
            .is_empty()
    );

    // The upper bound itself is allowed.
    let ten = app.reserved(&alice, tt, 10).await;
    assert_eq!(ten["quantity"], 10);
    assert_eq!(reservations_of_event(&app, &open).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Cancel, visibility, paging.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cancelling_a_pending_reservation_returns_its_seats_at_once() {
    let app = spawn_app().await;
    let org = app.register("cleo", "ORGANIZER").await;
    let (event, types) = app.published_event(&org, "Gala", &[("GA", 1000, 4)]).await;
    let tt = &types[0];
    let alice = app.register("alice", "USER").await;
    let bob = app.register("bob", "USER").await;
    let root = admin(&app).await;
    app.top_up(&alice, 5000).await;

    let hold = app.reserved(&alice, tt, 3).await;
    let id = id_of(&hold);
    for (who, whom) in [(&bob, "another user"), (&org, "the organizer")] {
        let res = app
            .gql(Some(&who.access), CANCEL, json!({ "id": id }))
            .await;
        assert_eq!(error_code(&res), "FORBIDDEN", "{whom}");
    }
    assert_eq!(
        error_code(&app.gql(None, CANCEL, json!({ "id": id })).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(available(&app, tt).await, 1);
    assert_eq!(
        reservation_row(&app, &id).await.status,
        ReservationStatus::Pending
    );

    let done = app
        .ok(Some(&alice.access), CANCEL, json!({ "id": id }))
        .await;
    assert_eq!(done["cancelReservation"]["status"], "CANCELLED");
    assert_eq!(done["cancelReservation"]["ticketType"]["available"], 4);
    assert_eq!(available(&app, tt).await, 4);

    let twice = app
        .gql(Some(&alice.access), CANCEL, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&twice), "CONFLICT");
    assert_eq!(available(&app, tt).await, 4, "seats are returned once");

    // A cancelled reservation cannot be paid.
    let res = app.pay(&alice, &id, &new_key()).await;
    assert!(
        res.get("errors").is_some(),
        "paid a cancelled reservation: {res:#}"
    );
    assert_eq!(app.balance(&alice).await, 5000);
    assert_eq!(
        reservation_row(&app, &id).await.status,
        ReservationStatus::Cancelled
    );

    // An admin may cancel anyone's.
    let bobs = app.reserved(&bob, tt, 2).await;
    let by_admin = app
        .ok(Some(&root.access), CANCEL, json!({ "id": id_of(&bobs) }))
        .await;
    assert_eq!(by_admin["cancelReservation"]["status"], "CANCELLED");
    assert_eq!(available(&app, tt).await, 4);

    let summary = app.report(&org, &event).await;
    assert_eq!(summary["ticketsHeld"], 0);
    assert_eq!(summary["ticketsAvailable"], 4);
    assert_accounts_add_up(&summary, 4);
}

#[tokio::test]
async fn a_reservation_is_visible_to_its_owner_the_organizer_and_admins_only() {
    let app = spawn_app().await;
    let org = app.register("otto", "ORGANIZER").await;
    let rival = app.register("rolf", "ORGANIZER").await;
    let alice = app.register("alice", "USER").await;
    let bob = app.register("bob", "USER").await;
    let root = admin(&app).await;
    let (event, types) = app.published_event(&org, "Seen", &[("GA", 1000, 5)]).await;
    let id = app.hold(&alice, &types[0], 1).await;

    for who in [&alice, &org, &root] {
        let data = app
            .ok(Some(&who.access), RESERVATION, json!({ "id": id }))
            .await;
        let r = &data["reservation"];
        assert_eq!(r["id"], id, "{} sees it", who.username);
        assert_eq!(r["status"], "PENDING");
        assert_eq!(r["event"]["id"], event);
    }
    for who in [&bob, &rival] {
        let res = app
            .gql(Some(&who.access), RESERVATION, json!({ "id": id }))
            .await;
        assert_eq!(
            error_code(&res),
            "FORBIDDEN",
            "{} must not see it",
            who.username
        );
    }
    let anonymous = app.gql(None, RESERVATION, json!({ "id": id })).await;
    let code = error_code(&anonymous);
    assert!(
        code == "UNAUTHENTICATED" || code == "FORBIDDEN",
        "{anonymous:#}"
    );

    let unknown = app
        .ok(
            Some(&alice.access),
            RESERVATION,
            json!({ "id": Uuid::new_v4() }),
        )
        .await;
    assert!(unknown["reservation"].is_null());
}

#[tokio::test]
async fn my_reservations_pages_newest_first_and_shows_only_mine() {
    let app = spawn_app().await;
    let org = app.register("pia", "ORGANIZER").await;
    let (_, types) = app
        .published_event(&org, "Pages", &[("GA", 1000, 20), ("VIP", 3000, 5)])
        .await;
    let alice = app.register("alice", "USER").await;
    let bob = app.register("bob", "USER").await;

    let mut mine = Vec::new();
    for i in 0..5 {
        let r = app.reserved(&alice, &types[i % 2], 1).await;
        mine.push(id_of(&r));
    }
    let bobs = app.hold(&bob, &types[0], 1).await;
    // A cancelled one is still listed.
    app.ok(Some(&alice.access), CANCEL, json!({ "id": mine[1] }))
        .await;

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let data = app
            .ok(
                Some(&alice.access),
                MY_RESERVATIONS,
                json!({ "first": 2, "after": after }),
            )
            .await;
        let conn = &data["myReservations"];
        assert_eq!(conn["totalCount"], 5);
        let edges = conn["edges"].as_array().unwrap();
        assert!(edges.len() <= 2);
        seen.extend(edges.iter().map(|e| id_of(&e["node"])));
        pages += 1;
        assert!(pages <= 3, "too many pages");
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    let newest_first: Vec<String> = mine.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    assert!(!seen.contains(&bobs));

    let bob_view = app.ok(Some(&bob.access), MY_RESERVATIONS, json!({})).await;
    assert_eq!(bob_view["myReservations"]["totalCount"], 1);
    assert_eq!(bob_view["myReservations"]["edges"][0]["node"]["id"], bobs);

    let bad = app
        .gql(
            Some(&alice.access),
            MY_RESERVATIONS,
            json!({ "first": 2, "after": "garbage" }),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
}
