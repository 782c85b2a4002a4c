//! Free events (RSVP, issue 16 point 5) through the real server: a ticket type priced 0 is
//! confirmed at reserve with its tickets and no payment, never beyond capacity even when many
//! race for it, idempotent by key, and cancelling frees the seat without moving money.

use crate::helpers::{
    CANCEL, available, error_code, new_key, register_many, spawn_app, tickets_of_event,
    transactions_of_reservation,
};
use entity::ticket::TicketStatus;
use futures::future::join_all;
use serde_json::json;

#[tokio::test]
async fn a_free_ticket_type_is_confirmed_at_reserve_with_tickets_and_no_payment() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let guest = app.register("gus", "USER").await;
    let (event, types) = app
        .published_event(&org, "Open day", &[("RSVP", 0, 5)])
        .await;

    let key = new_key();
    let res = app.reserve(&guest, &types[0], 2, &key).await;
    assert!(res.get("errors").is_none(), "{res:#}");
    let r = &res["data"]["reserve"];
    assert_eq!(r["status"], "CONFIRMED");
    assert_eq!(r["amountCents"], 0);
    assert_eq!(r["tickets"].as_array().unwrap().len(), 2);
    assert!(
        r["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "VALID")
    );
    let id = r["id"].as_str().unwrap().to_string();
    assert!(transactions_of_reservation(&app, &id).await.is_empty());

    // The same key answers with the same confirmed reservation and issues nothing more.
    let again = app.reserve(&guest, &types[0], 2, &key).await;
    assert_eq!(again["data"]["reserve"]["id"], id.as_str());
    assert_eq!(again["data"]["reserve"]["status"], "CONFIRMED");
    assert_eq!(tickets_of_event(&app, &event).await.len(), 2);
    assert_eq!(available(&app, &types[0]).await, 3);

    // Paying it is refused: it is already confirmed.
    let pay = app.pay(&guest, &id, &new_key()).await;
    assert_eq!(error_code(&pay), "CONFLICT", "{pay:#}");

    // Cancelling frees the seats and voids the tickets; no money moves.
    let res = app
        .ok(Some(&guest.access), CANCEL, json!({ "id": id }))
        .await;
    assert_eq!(res["cancelReservation"]["status"], "CANCELLED");
    assert_eq!(available(&app, &types[0]).await, 5);
    assert!(
        tickets_of_event(&app, &event)
            .await
            .iter()
            .all(|t| t.status == TicketStatus::Void)
    );
    assert!(transactions_of_reservation(&app, &id).await.is_empty());
}

#[tokio::test]
async fn a_free_ticket_type_never_confirms_more_than_its_capacity_under_concurrency() {
    let app = spawn_app().await;
    let org = app.register("olga", "ORGANIZER").await;
    let guests = register_many(&app, "guest", 20).await;
    let (event, types) = app.published_event(&org, "Meetup", &[("RSVP", 0, 7)]).await;

    let keys: Vec<String> = guests.iter().map(|_| new_key()).collect();
    let results = join_all(
        guests
            .iter()
            .zip(&keys)
            .map(|(g, k)| app.reserve(g, &types[0], 1, k)),
    )
    .await;
    let confirmed = results
        .iter()
        .filter(|r| r.get("errors").is_none())
        .inspect(|r| assert_eq!(r["data"]["reserve"]["status"], "CONFIRMED"))
        .count();
    for r in results.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(error_code(r), "SOLD_OUT", "{r:#}");
    }
    assert_eq!(confirmed, 7);
    assert_eq!(tickets_of_event(&app, &event).await.len(), 7);
    assert_eq!(available(&app, &types[0]).await, 0);
}
