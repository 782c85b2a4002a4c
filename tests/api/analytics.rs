//! Analytics (issue 16, point 8) through the real server: every figure equals what the test
//! computes from its own purchases (wallet and card), a free RSVP, a cancellation under a policy,
//! a check-in and ratings; buckets include the empty ones; organizers see only their own events.

use chrono::{DateTime, Datelike, Duration, DurationRound, Utc};
use serde_json::{Value, json};

use crate::helpers::{
    Account, TestApp, admin, error_code, new_key, spawn_app, str_of, wait_until_past,
};

const ANALYTICS: &str = "query($f: AnalyticsFilter, $b: TimeBucket!, $limit: Int) {
  analytics(filter: $f) { revenueCents refundedCents feesKeptCents ticketsSold ticketsCancelled
    cancellationRate occupancy checkInRate averageRating
    salesOverTime(bucket: $b) { start ticketsSold revenueCents }
    byTicketType { ticketType { id name } ticketsSold revenueCents }
    topEvents(limit: $limit) { event { id title } ticketsSold revenueCents } } }";
const CREATE: &str =
    "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }";
const POLICY: &str = "mutation($id: ID!) { setCancellationPolicy(eventId: $id, input: {
  rules: [{ hoursBeforeStart: 0, refundPercent: 50 }], feeCents: 100 }) { id } }";
const CHECK_IN: &str =
    "mutation($e: ID!, $c: String!) { checkIn(eventId: $e, code: $c) { status } }";
const RATE: &str =
    "mutation($id: ID!, $r: Int!) { submitFeedback(eventId: $id, rating: $r) { id } }";
const MOVE: &str =
    "mutation($id: ID!, $at: DateTime!) { updateEvent(id: $id, input: { startsAt: $at }) { id } }";
const TX_TIMES: &str = "query($id: ID!) { transactions(eventId: $id, first: 100) {
  edges { node { kind status amountCents createdAt } } } }";

/// One payment or refund as the test saw it happen.
#[derive(Clone, Debug)]
struct Money {
    at: DateTime<Utc>,
    payment: bool,
    tickets: i64,
    cents: i64,
}

async fn analytics(app: &TestApp, who: &Account, filter: Value, bucket: &str) -> Value {
    app.ok(
        Some(&who.access),
        ANALYTICS,
        json!({ "f": filter, "b": bucket, "limit": 10 }),
    )
    .await["analytics"]
        .clone()
}

/// The time the server recorded for each succeeded transaction of the event, oldest first,
/// matched by kind and amount to what the test did.
async fn times(app: &TestApp, org: &Account, event: &str) -> Vec<(String, i64, DateTime<Utc>)> {
    let data = app
        .ok(Some(&org.access), TX_TIMES, json!({ "id": event }))
        .await;
    let mut out: Vec<_> = data["transactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["status"] == "SUCCEEDED")
        .map(|n| {
            (
                str_of(&n["kind"]),
                n["amountCents"].as_i64().unwrap(),
                n["createdAt"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    out.sort_by_key(|t| t.2);
    out
}

fn week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let day = t.duration_trunc(Duration::days(1)).unwrap();
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// What `salesOverTime` must answer: every bucket from `from`'s to the one before `to`.
fn expected_buckets(
    money: &[Money],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    start: impl Fn(DateTime<Utc>) -> DateTime<Utc>,
    width: Duration,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut b = start(from);
    let last = start(to - Duration::microseconds(1));
    while b <= last {
        let in_bucket = money
            .iter()
            .filter(|m| m.payment && m.at >= from && m.at < to && start(m.at) == b);
        let (t, c) = in_bucket.fold((0, 0), |(t, c), m| (t + m.tickets, c + m.cents));
        out.push(json!({ "start": b.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true), "ticketsSold": t, "revenueCents": c }));
        b += width;
    }
    out
}

fn normalised(buckets: &Value) -> Vec<Value> {
    buckets
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let start: DateTime<Utc> = b["start"].as_str().unwrap().parse().unwrap();
            json!({ "start": start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    "ticketsSold": b["ticketsSold"], "revenueCents": b["revenueCents"] })
        })
        .collect()
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9
}

#[tokio::test]
async fn analytics_equal_what_the_test_did_including_empty_buckets_and_stay_with_their_organizer() {
    let app = spawn_app().await;
    let org = app.register("ana_org", "ORGANIZER").await;
    let rival = app.register("ana_rival", "ORGANIZER").await;
    let fans = crate::helpers::register_many(&app, "ana_fan", 4).await;
    let root = admin(&app).await;

    // Event 1 (moved to start in a moment once sold, since ratings open at the start); event 2
    // in ten days; a draft whose capacity must not count; and the rival's event.
    let starts = Utc::now() + Duration::days(1);
    let created = app
        .ok(
            Some(&org.access),
            CREATE,
            json!({ "input": { "title": "Analytics Night", "startsAt": starts.to_rfc3339(),
                "ticketTypes": [
                    { "name": "Std", "priceCents": 1_500, "capacity": 50 },
                    { "name": "VIP", "priceCents": 4_000, "capacity": 10 },
                    { "name": "Free", "priceCents": 0, "capacity": 20 }] } }),
        )
        .await;
    let e1 = str_of(&created["createEvent"]["id"]);
    let t1: Vec<String> = created["createEvent"]["ticketTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| str_of(&t["id"]))
        .collect();
    let (std, vip, free) = (&t1[0], &t1[1], &t1[2]);
    app.ok(Some(&org.access), POLICY, json!({ "id": e1 })).await;
    app.publish(&org, &e1).await;
    let (e2, t2) = app
        .published_event(&org, "Analytics Matinee", &[("GA", 1_000, 30)])
        .await;
    app.draft_event(&org, "Analytics Draft", &[("GA", 1_000, 99)])
        .await;
    let (rival_event, rival_types) = app
        .published_event(&rival, "Rival Show", &[("GA", 700, 5)])
        .await;

    let mut money: Vec<Money> = Vec::new();
    for fan in &fans {
        app.top_up(fan, 50_000).await;
    }
    // Wallet: 2 Std; card: 1 VIP; wallet: 3 Std, cancelled later; RSVP: 1 Free; wallet: 2 GA.
    let r_keep = app.hold(&fans[0], std, 2).await;
    let paid_keep = app.pay(&fans[0], &r_keep, &new_key()).await;
    assert!(paid_keep.get("errors").is_none(), "{paid_keep:#}");
    let r_vip = app.hold(&fans[1], vip, 1).await;
    let card = app.pay_card(&fans[1], &r_vip, &new_key(), "tok_visa").await;
    assert!(card.get("errors").is_none(), "{card:#}");
    let r_cancel = app.hold(&fans[2], std, 3).await;
    app.paid(&fans[2], &r_cancel).await;
    let rsvp = app.reserved(&fans[3], free, 1).await;
    assert_eq!(rsvp["status"], "CONFIRMED");
    let r_ga = app.hold(&fans[0], &t2[0], 2).await;
    app.paid(&fans[0], &r_ga).await;
    app.cancel(&fans[2], &r_cancel).await;
    // Under the policy: half of 4,500 back, minus a fee of 100 per ticket.
    let refund = 4_500 * 50 / 100 - 3 * 100;
    let kept = 4_500 - refund;
    let rival_hold = app.hold(&fans[3], &rival_types[0], 1).await;
    app.paid(&fans[3], &rival_hold).await;

    // The server's times for each movement, so buckets and windows can be computed here.
    let e1_times = times(&app, &org, &e1).await;
    let e2_times = times(&app, &org, &e2).await;
    let find = |list: &[(String, i64, DateTime<Utc>)], kind: &str, cents: i64| {
        list.iter()
            .find(|(k, c, _)| k == kind && *c == cents)
            .unwrap_or_else(|| panic!("no {kind} of {cents} in {list:?}"))
            .2
    };
    money.push(Money {
        at: find(&e1_times, "PAYMENT", 3_000),
        payment: true,
        tickets: 2,
        cents: 3_000,
    });
    money.push(Money {
        at: find(&e1_times, "PAYMENT", 4_000),
        payment: true,
        tickets: 1,
        cents: 4_000,
    });
    money.push(Money {
        at: find(&e1_times, "PAYMENT", 4_500),
        payment: true,
        tickets: 3,
        cents: 4_500,
    });
    money.push(Money {
        at: find(&e2_times, "PAYMENT", 2_000),
        payment: true,
        tickets: 2,
        cents: 2_000,
    });
    let refund_at = find(&e1_times, "REFUND", refund);
    money.push(Money {
        at: refund_at,
        payment: false,
        tickets: 3,
        cents: refund,
    });

    // A check-in of one of the kept Std tickets.
    let code = str_of(&paid_keep["data"]["pay"]["reservation"]["tickets"][0]["code"]);
    let scan = app
        .ok(Some(&org.access), CHECK_IN, json!({ "e": e1, "c": code }))
        .await;
    assert_eq!(scan["checkIn"]["status"], "ADMITTED");

    // Ratings open at the start: 5 and 2 stars.
    let starts = Utc::now() + Duration::seconds(2);
    app.ok(
        Some(&org.access),
        MOVE,
        json!({ "id": e1, "at": starts.to_rfc3339() }),
    )
    .await;
    wait_until_past(starts).await;
    app.ok(Some(&fans[0].access), RATE, json!({ "id": e1, "r": 5 }))
        .await;
    app.ok(Some(&fans[1].access), RATE, json!({ "id": e1, "r": 2 }))
        .await;

    // Everything, open window, by day.
    let a = analytics(&app, &org, json!({}), "DAY").await;
    let sold = 2 + 1 + 3 + 2;
    let active = sold - 3;
    assert_eq!(a["revenueCents"], 3_000 + 4_000 + 4_500 + 2_000, "{a:#}");
    assert_eq!(a["refundedCents"], refund);
    assert_eq!(a["feesKeptCents"], kept);
    assert_eq!(a["ticketsSold"], sold);
    assert_eq!(a["ticketsCancelled"], 3);
    assert!(close(&a["cancellationRate"], 3.0 / sold as f64), "{a:#}");
    // Capacity: event 1 (50 + 10 + 20) and event 2 (30); the draft is left out.
    assert!(close(&a["occupancy"], active as f64 / 110.0), "{a:#}");
    assert!(close(&a["checkInRate"], 1.0 / active as f64), "{a:#}");
    assert!(close(&a["averageRating"], 3.5), "{a:#}");
    let first_sale = money.iter().map(|m| m.at).min().unwrap();
    let day = |t: DateTime<Utc>| t.duration_trunc(Duration::days(1)).unwrap();
    // From the first sale to now (the bucket of "now" was read after the query, so allow that
    // the day turned in between only by comparing against both).
    let got = normalised(&a["salesOverTime"]);
    let expected = expected_buckets(&money, first_sale, Utc::now(), day, Duration::days(1));
    assert!(
        got == expected || got[..] == expected[..expected.len() - 1],
        "{got:#?} vs {expected:#?}"
    );
    assert_eq!(
        a["byTicketType"],
        json!([
            { "ticketType": { "id": std, "name": "Std" }, "ticketsSold": 5, "revenueCents": 7_500 },
            { "ticketType": { "id": t2[0], "name": "GA" }, "ticketsSold": 2, "revenueCents": 2_000 },
            { "ticketType": { "id": vip, "name": "VIP" }, "ticketsSold": 1, "revenueCents": 4_000 },
        ])
    );
    assert_eq!(
        a["topEvents"],
        json!([
            { "event": { "id": e1, "title": "Analytics Night" }, "ticketsSold": 6, "revenueCents": 11_500 },
            { "event": { "id": e2, "title": "Analytics Matinee" }, "ticketsSold": 2, "revenueCents": 2_000 },
        ])
    );

    // A fixed window with empty buckets on both sides, in each bucket width.
    let now = Utc::now();
    for (bucket, from, to, start, width) in [
        (
            "HOUR",
            now - Duration::hours(5),
            now + Duration::hours(2),
            Box::new(|t: DateTime<Utc>| t.duration_trunc(Duration::hours(1)).unwrap())
                as Box<dyn Fn(DateTime<Utc>) -> DateTime<Utc>>,
            Duration::hours(1),
        ),
        (
            "DAY",
            now - Duration::days(3),
            now + Duration::days(2),
            Box::new(day),
            Duration::days(1),
        ),
        (
            "WEEK",
            now - Duration::days(20),
            now + Duration::days(9),
            Box::new(week_start),
            Duration::weeks(1),
        ),
    ] {
        let a = analytics(
            &app,
            &org,
            json!({ "from": from.to_rfc3339(), "to": to.to_rfc3339() }),
            bucket,
        )
        .await;
        let expected = expected_buckets(&money, from, to, &start, width);
        assert!(expected.len() >= 3, "{bucket}: {expected:#?}");
        assert_eq!(normalised(&a["salesOverTime"]), expected, "{bucket}");
        if bucket == "WEEK" {
            assert_eq!(
                week_start(from).weekday(),
                chrono::Weekday::Mon,
                "weeks start on Monday"
            );
        }
    }

    // A window ending at the refund: every payment counts, the refund does not.
    let before_refund = analytics(
        &app,
        &org,
        json!({ "eventId": e1, "to": refund_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true) }),
        "HOUR",
    )
    .await;
    assert_eq!(before_refund["ticketsSold"], 6, "{before_refund:#}");
    assert_eq!(before_refund["revenueCents"], 11_500);
    assert_eq!(before_refund["refundedCents"], 0);
    assert_eq!(before_refund["feesKeptCents"], 0);
    assert_eq!(before_refund["ticketsCancelled"], 0);
    // The 3 paid in the window were cancelled since: 3 of event 1's 80 seats remain sold.
    assert!(
        close(&before_refund["occupancy"], 3.0 / 80.0),
        "{before_refund:#}"
    );
    assert!(close(&before_refund["checkInRate"], 1.0 / 3.0));
    // A window starting at the refund: only the refund (and its kept fee).
    let from_refund = analytics(
        &app,
        &org,
        json!({ "eventId": e1, "from": refund_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true) }),
        "HOUR",
    )
    .await;
    assert_eq!(from_refund["ticketsSold"], 0, "{from_refund:#}");
    assert_eq!(from_refund["refundedCents"], refund);
    assert_eq!(from_refund["feesKeptCents"], kept);
    assert_eq!(from_refund["ticketsCancelled"], 3);
    assert_eq!(
        from_refund["cancellationRate"], 0.0,
        "0 when none were sold"
    );

    // Organizers see only their own events; users none; admins all.
    let theirs = analytics(&app, &rival, json!({}), "DAY").await;
    assert_eq!(theirs["revenueCents"], 700, "{theirs:#}");
    assert_eq!(theirs["ticketsSold"], 1);
    assert_eq!(theirs["topEvents"][0]["event"]["id"], json!(rival_event));
    let res = app
        .gql(
            Some(&rival.access),
            ANALYTICS,
            json!({ "f": { "eventId": e1 }, "b": "DAY" }),
        )
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN", "{res:#}");
    let res = app
        .gql(Some(&fans[0].access), ANALYTICS, json!({ "b": "DAY" }))
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN", "{res:#}");
    let all = analytics(&app, &root, json!({}), "DAY").await;
    assert_eq!(all["revenueCents"], 13_500 + 700, "{all:#}");
    assert_eq!(all["ticketsSold"], sold + 1);
    let one = analytics(&app, &root, json!({ "eventId": e2 }), "DAY").await;
    assert_eq!(one["revenueCents"], 2_000);

    // Bad input.
    let res = app
        .gql(
            Some(&org.access),
            ANALYTICS,
            json!({ "f": { "from": "2020-01-01T00:00:00Z" }, "b": "HOUR" }),
        )
        .await;
    assert_eq!(
        error_code(&res),
        "BAD_USER_INPUT",
        "too many buckets: {res:#}"
    );
    let res = app
        .gql(
            Some(&org.access),
            ANALYTICS,
            json!({ "b": "DAY", "limit": 0 }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res:#}");
    let res = app
        .gql(
            Some(&org.access),
            ANALYTICS,
            json!({ "f": { "from": now.to_rfc3339(), "to": (now - Duration::hours(1)).to_rfc3339() }, "b": "DAY" }),
        )
        .await;
    assert_eq!(error_code(&res), "BAD_USER_INPUT", "{res:#}");
}
