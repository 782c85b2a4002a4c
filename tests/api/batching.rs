//! Group-committed holds (issue 18, `reservations::batch`): concurrent reserves of one
//! general-admission ticket type share one transaction per batch, and that must be invisible:
//! exactly the capacity is held across instances, each caller gets its own answer, keys replay,
//! seats are shared out in arrival order, and a failed batch writes nothing and fails every
//! caller in it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::helpers::{
    Account, Api, TestApp, TestDb, available, error_code, eventually, register_many, spawn_app,
    spawn_instance, spawn_on, str_of, test_settings, uuid,
};
use entity::reservation::{self, ReservationStatus};
use entity::{audit_entry, ticket_type};
use evenntify::faults::Fault;
use futures::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Database, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
};
use serde_json::{Value, json};
use uuid::Uuid;

const RESERVE: &str =
    "mutation($input: ReserveInput!) { reserve(input: $input) { id quantity status } }";

/// 2,000 buyers, 1,000 seats, two instances.
const SEATS: i32 = 1_000;
const BUYERS: usize = 2_000;
/// Accounts the buyers are spread over: 10 reserves and 10 replays each, far below
/// `MUTATIONS_PER_MINUTE` (600); every reserve asks for 1 seat (≤ MAX_TICKETS_PER_RESERVATION).
const USERS: usize = 200;
/// Requests in flight at once, over both instances (more only measures the pool's queue: each
/// request also reads its session, key and ticket type, 5 s at most waiting for a connection).
const IN_FLIGHT: usize = 200;

async fn reserve(api: &Api, who: &Account, ticket_type: &str, quantity: i32, key: &str) -> Value {
    api.gql(
        Some(&who.access),
        RESERVE,
        json!({ "input": { "ticketTypeId": ticket_type, "quantity": quantity, "idempotencyKey": key } }),
    )
    .await
}

/// A caller's answer: its reservation id, or the error code.
fn answer(res: &Value) -> Result<String, String> {
    if res.get("errors").is_some() {
        Err(error_code(res).to_string())
    } else {
        Ok(str_of(&res["data"]["reserve"]["id"]))
    }
}

async fn reservations_of(db: &DatabaseConnection, ticket_type: &str) -> Vec<reservation::Model> {
    reservation::Entity::find()
        .filter(reservation::Column::TicketTypeId.eq(uuid(ticket_type)))
        .all(db)
        .await
        .unwrap()
}

async fn audit_of(db: &DatabaseConnection, event: &str) -> Vec<audit_entry::Model> {
    audit_entry::Entity::find()
        .filter(audit_entry::Column::EventId.eq(uuid(event)))
        .filter(audit_entry::Column::Action.eq("reservation.create"))
        .all(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_reserves_across_two_instances_hold_exactly_the_seats_and_answer_each_caller() {
    let db = TestDb::new().await;
    let vars = [("DB_MAX_CONNECTIONS", "20")];
    let (s1, s2) = (test_settings(&db, &vars), test_settings(&db, &vars));
    let one = spawn_on(db, s1).await;
    let two = spawn_instance(s2).await;
    let organizer = one.register("batch_org", "ORGANIZER").await;
    let (event, types) = one
        .published_event(&organizer, "On sale", &[("GA", 2_500, SEATS)])
        .await;
    let tt = types[0].clone();
    let users = register_many(&one, "batch_buyer", USERS).await;
    let instances = [&one.api, &two.api];

    // Buyer i is account i mod USERS, with its own key, on instance i mod 2.
    let buyers: Vec<(usize, String)> = (0..BUYERS)
        .map(|i| (i, Uuid::new_v4().to_string()))
        .collect();
    let race = |replay_on_other: bool| {
        let buyers = &buyers;
        let users = &users;
        let tt = &tt;
        async move {
            futures::stream::iter(buyers.iter().map(|(i, key)| async move {
                let api = instances[(i + usize::from(replay_on_other)) % 2];
                let res = reserve(api, &users[i % USERS], tt, 1, key).await;
                (*i, answer(&res))
            }))
            .buffer_unordered(IN_FLIGHT)
            .collect::<HashMap<usize, Result<String, String>>>()
            .await
        }
    };
    let first = race(false).await;

    let won: Vec<(usize, &String)> = first
        .iter()
        .filter_map(|(i, a)| a.as_ref().ok().map(|id| (*i, id)))
        .collect();
    let refused: HashMap<&str, usize> = first.values().filter_map(|a| a.as_ref().err()).fold(
        HashMap::new(),
        |mut by_code, code| {
            *by_code.entry(code.as_str()).or_default() += 1;
            by_code
        },
    );
    assert_eq!(
        won.len(),
        SEATS as usize,
        "winners; refusals by code: {refused:?}"
    );
    assert_eq!(
        refused,
        HashMap::from([("SOLD_OUT", BUYERS - SEATS as usize)]),
        "every loser is SOLD_OUT"
    );
    assert_eq!(available(&one, &tt).await, 0);

    // Each winner holds its own reservation: distinct ids, its owner, one seat, its key.
    let rows = reservations_of(&one.state.db, &tt).await;
    assert_eq!(rows.len(), SEATS as usize, "one row per hold, no more");
    let by_id: HashMap<Uuid, &reservation::Model> = rows.iter().map(|r| (r.id, r)).collect();
    let ids: HashSet<&String> = won.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), SEATS as usize, "reservation ids are distinct");
    for (i, id) in &won {
        let r = by_id[&uuid(id)];
        assert_eq!(
            r.user_id,
            uuid(&users[i % USERS].id),
            "owner of buyer {i}'s hold"
        );
        assert_eq!(r.quantity, 1);
        assert_eq!(r.status, ReservationStatus::Pending);
        assert_eq!(r.idempotency_key.as_deref(), Some(buyers[*i].1.as_str()));
    }

    // One `reservation.create` audit entry per hold, with its owner, request and address.
    let audit = audit_of(&one.state.db, &event).await;
    assert_eq!(audit.len(), SEATS as usize);
    for entry in &audit {
        let r = by_id[&uuid(entry.target_id.as_deref().unwrap())];
        assert_eq!(entry.actor_id, Some(r.user_id));
        assert!(entry.request_id.is_some(), "{entry:?}");
        assert_eq!(entry.client_address.as_deref(), Some("127.0.0.1"));
    }

    // The holds were group-committed: fewer transactions than holds.
    let batches: u64 = [&one, &two]
        .iter()
        .map(|a| a.state.metrics.reserve_batches.load(Ordering::Relaxed))
        .sum();
    let batched: u64 = [&one, &two]
        .iter()
        .map(|a| {
            a.state
                .metrics
                .reserve_batched_holds
                .load(Ordering::Relaxed)
        })
        .sum();
    eprintln!("{BUYERS} reserves in {batches} batches");
    assert_eq!(
        batched, BUYERS as u64,
        "every paid general-admission hold is batched"
    );
    assert!(batches < batched, "{batches} batches for {batched} holds");

    // Every key again, each on the other instance: the same reservation, or SOLD_OUT again.
    let again = race(true).await;
    for (i, a) in &again {
        match (&first[i], a) {
            (Ok(id), Ok(replayed)) => assert_eq!(replayed, id, "buyer {i}'s replay"),
            (Err(code), Err(replayed)) => {
                assert_eq!((code.as_str(), replayed.as_str()), ("SOLD_OUT", "SOLD_OUT"))
            }
            (was, now) => panic!("buyer {i}: first {was:?}, replayed {now:?}"),
        }
    }
    assert_eq!(available(&one, &tt).await, 0);
    assert_eq!(
        reservations_of(&one.state.db, &tt).await.len(),
        SEATS as usize
    );
    two.stop().await;
}

/// Takes the database's write lock on `ticket_type` from outside the server (the ticket type's
/// row on PostgreSQL, the whole database on SQLite), so the batch in flight waits in the
/// database while the next one gathers.
async fn block_writes(
    app: &TestApp,
    ticket_type: &str,
) -> (DatabaseConnection, DatabaseTransaction) {
    let conn = Database::connect(app.db.as_ref().unwrap().url())
        .await
        .unwrap();
    let txn = evenntify::db::begin_write(&conn).await.unwrap();
    ticket_type::Entity::update_many()
        .col_expr(
            ticket_type::Column::Available,
            Expr::col(ticket_type::Column::Available),
        )
        .filter(ticket_type::Column::Id.eq(uuid(ticket_type)))
        .exec(&txn)
        .await
        .unwrap();
    (conn, txn)
}

/// Sends a reserve in a task of its own and waits until it is queued for the next batch
/// (`queued` holds are waiting behind the batch in flight).
async fn queue(
    app: &TestApp,
    who: &Account,
    ticket_type: &str,
    quantity: i32,
    key: &str,
    queued: usize,
) -> tokio::task::JoinHandle<Value> {
    let (api, who, tt, key) = (
        app.api.clone(),
        who.clone(),
        ticket_type.to_string(),
        key.to_string(),
    );
    let task = tokio::spawn(async move { reserve(&api, &who, &tt, quantity, &key).await });
    let lanes = app.state.holds.clone();
    let id = uuid(ticket_type);
    eventually(
        Duration::from_secs(10),
        "the reserve to be queued",
        || async { (lanes.queued(id) == Some(queued)).then_some(()) },
    )
    .await;
    task
}

#[tokio::test]
async fn a_batch_shares_seats_out_in_arrival_order_answers_repeated_keys_and_fails_whole() {
    let app = spawn_app().await;
    let organizer = app.register("arrival_org", "ORGANIZER").await;
    let (event, types) = app
        .published_event(&organizer, "Small hall", &[("GA", 500, 10)])
        .await;
    let tt = types[0].clone();
    let u = register_many(&app, "arrival", 6).await;
    let batches = || app.state.metrics.reserve_batches.load(Ordering::Relaxed);

    // 1. A batch that fails writes nothing and fails every caller in it. One reserve is in the
    //    database (blocked) while five queue behind it; both batches then fail before commit.
    let (_conn, block) = block_writes(&app, &tt).await;
    let head = queue(&app, &u[0], &tt, 1, "k0", 0).await;
    let mut behind = Vec::new();
    for (i, user) in u.iter().enumerate().skip(1).take(5) {
        behind.push(queue(&app, user, &tt, 1, &format!("k{i}"), i).await);
    }
    app.state.faults.arm(Fault::ReserveBatchBeforeCommit);
    app.state.faults.arm(Fault::ReserveBatchBeforeCommit);
    block.rollback().await.unwrap();
    assert_eq!(error_code(&head.await.unwrap()), "INTERNAL_SERVER_ERROR");
    for task in behind {
        assert_eq!(error_code(&task.await.unwrap()), "INTERNAL_SERVER_ERROR");
    }
    assert_eq!(
        batches(),
        2,
        "one batch in the database, the five behind it in the next"
    );
    assert_eq!(available(&app, &tt).await, 10);
    assert!(reservations_of(&app.state.db, &tt).await.is_empty());
    assert!(audit_of(&app.state.db, &event).await.is_empty());

    // 2. The same again without the fault. The batch behind the blocked one holds, in arrival
    //    order: 9 seats are left after the head's 1.
    let (conn, block) = block_writes(&app, &tt).await;
    // The head's key failed above, so it was never used: now it holds.
    let head = queue(&app, &u[0], &tt, 1, "k0", 0).await;
    let arrivals: [(usize, i32, &str); 8] = [
        (1, 2, "k1"), // 2 of 9: 7 left
        (2, 5, "k2"), // 5 of 7: 2 left
        (1, 2, "k1"), // the same user and key in the same batch: the first one's answer
        (3, 3, "k3"), // 3 > 2: SOLD_OUT
        (4, 2, "k4"), // 2 of 2, though an earlier, larger one was refused: 0 left
        (2, 1, "k2"), // k2 again, for another quantity: CONFLICT
        (5, 1, "k5"), // SOLD_OUT
        (0, 1, "k0"), // the head's key, committed in the batch before: the head's reservation
    ];
    let mut behind = Vec::new();
    for (n, (who, quantity, key)) in arrivals.iter().enumerate() {
        behind.push(queue(&app, &u[*who], &tt, *quantity, key, n + 1).await);
    }
    block.rollback().await.unwrap();
    drop(conn);
    let head = answer(&head.await.unwrap());
    let mut answers = Vec::new();
    for task in behind {
        answers.push(answer(&task.await.unwrap()));
    }
    assert_eq!(batches(), 4);
    let head = head.expect("the head holds");
    let ok = |n: usize| {
        answers[n]
            .clone()
            .unwrap_or_else(|e| panic!("arrival {n}: {e}"))
    };
    let err = |n: usize| answers[n].clone().expect_err("a refusal");
    assert_eq!(
        ok(2),
        ok(0),
        "a key repeated in the batch answers with the first hold"
    );
    assert_eq!(err(3), "SOLD_OUT");
    assert_eq!(err(5), "CONFLICT");
    assert_eq!(err(6), "SOLD_OUT");
    assert_eq!(
        ok(7),
        head,
        "a key committed by the batch before answers with its hold"
    );
    assert_eq!(available(&app, &tt).await, 0);

    // Exactly four holds, each its caller's: owner and quantity.
    let expected = HashMap::from([
        (uuid(&head), (&u[0], 1)),
        (uuid(&ok(0)), (&u[1], 2)),
        (uuid(&ok(1)), (&u[2], 5)),
        (uuid(&ok(4)), (&u[4], 2)),
    ]);
    let rows = reservations_of(&app.state.db, &tt).await;
    assert_eq!(rows.len(), 4, "{rows:#?}");
    for r in &rows {
        let (owner, quantity) = expected[&r.id];
        assert_eq!(
            (r.user_id, r.quantity),
            (uuid(&owner.id), quantity),
            "{r:?}"
        );
        assert_eq!(r.amount_cents, 500 * i64::from(quantity));
    }
    let audit = audit_of(&app.state.db, &event).await;
    assert_eq!(audit.len(), 4);
    for entry in &audit {
        let (owner, _) = expected[&uuid(entry.target_id.as_deref().unwrap())];
        assert_eq!(entry.actor_id, Some(uuid(&owner.id)));
    }
}
