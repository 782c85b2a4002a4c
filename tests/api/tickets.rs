//! Tickets and entry (issue 14) through the real server: signed codes verified with the
//! published key alone, exactly one ADMITTED under 50 concurrent scans, revoked and foreign
//! codes, door staff, undo, the QR in `qrSvg` and in the PDF decoded by a real QR decoder, the
//! attendee list and CSV, the live `checkIns` stream and the `.ics` calendars.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use futures::future::join_all;
use icalendar::Component;
use serde_json::{Value, json};

use crate::helpers::ws::WsClient;
use crate::helpers::{Account, TestApp, admin, error_code, spawn_app, str_of, uuid};

const CHECK_IN: &str = "mutation($e: ID!, $c: String!) { checkIn(eventId: $e, code: $c) {
  status checkedInAt message ticket { id checkedInAt } } }";
const UNDO: &str = "mutation($t: ID!) { undoCheckIn(ticketId: $t) { id checkedInAt } }";
const ADD_STAFF: &str =
    "mutation($e: ID!, $u: String!) { addEventStaff(eventId: $e, username: $u) { id } }";
const REMOVE_STAFF: &str =
    "mutation($e: ID!, $u: String!) { removeEventStaff(eventId: $e, username: $u) { id } }";
const ATTENDEES: &str = "query($e: ID!, $s: String, $first: Int, $after: String) {
  attendees(eventId: $e, search: $s, first: $first, after: $after) { totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { holder { username } holderName ticketType { name } seat { id } checkedInAt
      ticket { id code } } } } }";
const MY_TICKETS: &str =
    "query($id: ID!) { reservation(id: $id) { tickets { id code qrSvg checkedInAt } } }";
const CHECKED_IN: &str = "query($id: ID!) { eventReport(eventId: $id) { checkedIn } }";

/// A ticket bought by `buyer` for `event`'s first ticket type: (ticket id, code, reservation).
async fn ticket_of(app: &TestApp, buyer: &Account, ticket_type: &str) -> (String, String, String) {
    app.top_up(buyer, 10_000).await;
    let reservation = app.hold(buyer, ticket_type, 1).await;
    app.paid(buyer, &reservation).await;
    let data = app
        .ok(
            Some(&buyer.access),
            MY_TICKETS,
            json!({ "id": reservation }),
        )
        .await;
    let t = &data["reservation"]["tickets"][0];
    (str_of(&t["id"]), str_of(&t["code"]), reservation)
}

/// An organizer, a published event with one ticket type, and a holder with one paid ticket.
struct Door {
    organizer: Account,
    holder: Account,
    event: String,
    ticket_type: String,
    ticket: String,
    code: String,
    reservation: String,
}

async fn door(app: &TestApp, prefix: &str) -> Door {
    let organizer = app.register(&format!("{prefix}org"), "ORGANIZER").await;
    let holder = app.register(&format!("{prefix}fan"), "USER").await;
    let (event, types) = app
        .published_event(
            &organizer,
            &format!("{prefix} Night"),
            &[("Standard", 1_500, 100)],
        )
        .await;
    let (ticket, code, reservation) = ticket_of(app, &holder, &types[0]).await;
    Door {
        organizer,
        holder,
        event,
        ticket_type: types[0].clone(),
        ticket,
        code,
        reservation,
    }
}

async fn check_in(app: &TestApp, who: &Account, event: &str, code: &str) -> Value {
    app.gql(
        Some(&who.access),
        CHECK_IN,
        json!({ "e": event, "c": code }),
    )
    .await
}

async fn status_of(app: &TestApp, who: &Account, event: &str, code: &str) -> String {
    let res = check_in(app, who, event, code).await;
    assert!(res.get("errors").is_none(), "checkIn failed: {res:#}");
    str_of(&res["data"]["checkIn"]["status"])
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("GET")
}

#[tokio::test]
async fn a_paid_tickets_code_verifies_with_the_published_key_alone_and_a_tampered_one_does_not() {
    let app = spawn_app().await;
    let d = door(&app, "sig").await;

    // The key, as a door app would fetch it once, both ways.
    let published = get(&app, "/.well-known/ticket-key", None).await;
    assert_eq!(published.status(), 200);
    let key_text = published.text().await.unwrap();
    let data = app.ok(None, "{ ticketVerificationKey }", json!({})).await;
    assert_eq!(str_of(&data["ticketVerificationKey"]), key_text);

    // From here on, no server: only the key and the code.
    let raw: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&key_text)
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&raw).unwrap();
    let verify = |code: &str| -> Option<Vec<u8>> {
        let (payload, signature) = code.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let signature: [u8; 64] = URL_SAFE_NO_PAD.decode(signature).ok()?.try_into().ok()?;
        key.verify_strict(&payload, &Signature::from_bytes(&signature))
            .ok()
            .map(|_| payload)
    };
    let payload = verify(&d.code).expect("the code verifies with the published key");
    // The payload names the ticket and the event.
    assert_eq!(&payload[1..17], uuid(&d.ticket).as_bytes());
    assert_eq!(&payload[17..33], uuid(&d.event).as_bytes());
    assert!(
        d.code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
        "URL-safe, unpadded: {}",
        d.code
    );

    // Flip one bit of the payload (the version), keep the signature: it no longer verifies.
    let (p, s) = d.code.split_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(p).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let tampered = format!("{}.{s}", URL_SAFE_NO_PAD.encode(&bytes));
    assert!(
        verify(&tampered).is_none(),
        "a tampered code must not verify"
    );
    // And the server agrees.
    assert_eq!(
        status_of(&app, &d.organizer, &d.event, &tampered).await,
        "INVALID"
    );
    assert_eq!(
        status_of(&app, &d.organizer, &d.event, "garbage").await,
        "INVALID"
    );
}

#[tokio::test]
async fn the_signing_key_survives_a_restart_and_comes_from_ticket_signing_key_when_set() {
    let app = spawn_app().await;
    let d = door(&app, "key").await;
    let key = get(&app, "/.well-known/ticket-key", None)
        .await
        .text()
        .await
        .unwrap();
    let db = app.stop().await.expect("the app owns its database");
    let settings = crate::helpers::test_settings(&db, &[]);
    let again = crate::helpers::spawn_on(db, settings).await;
    let after = get(&again, "/.well-known/ticket-key", None)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(key, after, "the generated key is stored, not regenerated");
    assert_eq!(
        status_of(&again, &d.organizer, &d.event, &d.code).await,
        "ADMITTED"
    );

    let seed = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let own = crate::helpers::spawn_app_with(&[("TICKET_SIGNING_KEY", &seed)]).await;
    let expected = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    assert_eq!(
        get(&own, "/.well-known/ticket-key", None)
            .await
            .text()
            .await
            .unwrap(),
        URL_SAFE_NO_PAD.encode(expected.as_bytes())
    );
}

#[tokio::test]
async fn fifty_concurrent_check_ins_of_one_code_admit_exactly_once() {
    let app = spawn_app().await;
    let d = door(&app, "race").await;
    let scans = join_all((0..50).map(|_| check_in(&app, &d.organizer, &d.event, &d.code))).await;
    let mut by_status: HashMap<String, Vec<Value>> = HashMap::new();
    for res in scans {
        assert!(res.get("errors").is_none(), "checkIn failed: {res:#}");
        let r = res["data"]["checkIn"].clone();
        by_status.entry(str_of(&r["status"])).or_default().push(r);
    }
    assert_eq!(
        by_status.get("ADMITTED").map(Vec::len),
        Some(1),
        "{by_status:#?}"
    );
    assert_eq!(by_status.get("ALREADY_CHECKED_IN").map(Vec::len), Some(49));
    let first = &by_status["ADMITTED"][0]["checkedInAt"];
    assert!(first.is_string());
    for r in &by_status["ALREADY_CHECKED_IN"] {
        assert_eq!(&r["checkedInAt"], first, "each repeat names the first time");
    }
    // Every scan is recorded, with who scanned it.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let rows = entity::check_in_scan::Entity::find()
        .filter(entity::check_in_scan::Column::EventId.eq(uuid(&d.event)))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 50);
    assert!(rows.iter().all(|r| r.scanned_by == uuid(&d.organizer.id)));
    let data = app
        .ok(
            Some(&d.organizer.access),
            CHECKED_IN,
            json!({ "id": d.event }),
        )
        .await;
    assert_eq!(data["eventReport"]["checkedIn"], 1);
}

#[tokio::test]
async fn refunded_and_reissued_codes_are_revoked_and_another_events_code_is_wrong_event() {
    let app = spawn_app().await;
    let d = door(&app, "rev").await;

    // Re-issuing a code (what a transfer does) revokes the old one; the new one admits.
    let t = evenntify::tickets::service::reissue_code(&app.state.db, uuid(&d.ticket))
        .await
        .unwrap();
    let new_code = evenntify::tickets::service::code_of(&app.state.tickets, &t);
    assert_ne!(new_code, d.code);
    let data = app
        .ok(
            Some(&d.holder.access),
            MY_TICKETS,
            json!({ "id": d.reservation }),
        )
        .await;
    assert_eq!(str_of(&data["reservation"]["tickets"][0]["code"]), new_code);
    assert_eq!(
        status_of(&app, &d.organizer, &d.event, &d.code).await,
        "REVOKED"
    );

    // A ticket of another event, scanned here.
    let (other, types) = app
        .published_event(&d.organizer, "Other Night", &[("Standard", 1_000, 10)])
        .await;
    let (_, other_code, other_reservation) = ticket_of(&app, &d.holder, &types[0]).await;
    assert_eq!(
        status_of(&app, &d.organizer, &d.event, &other_code).await,
        "WRONG_EVENT"
    );

    // Refunded (a paid reservation cancelled before the event): its code is revoked.
    app.cancel(&d.holder, &other_reservation).await;
    assert_eq!(
        status_of(&app, &d.organizer, &other, &other_code).await,
        "REVOKED"
    );

    // The new code of the first ticket still admits once.
    assert_eq!(
        status_of(&app, &d.organizer, &d.event, &new_code).await,
        "ADMITTED"
    );
    let _ = d.ticket_type;
}

#[tokio::test]
async fn staff_may_check_in_and_read_attendees_but_nothing_else() {
    let app = spawn_app().await;
    let d = door(&app, "staff").await;
    let staff = app.register("staffdoor", "USER").await;

    let res = check_in(&app, &staff, &d.event, &d.code).await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    let res = app
        .gql(Some(&staff.access), ATTENDEES, json!({ "e": d.event }))
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    // Only the organizer (or an admin) names staff.
    let res = app
        .gql(
            Some(&d.holder.access),
            ADD_STAFF,
            json!({ "e": d.event, "u": "staffdoor" }),
        )
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");

    app.ok(
        Some(&d.organizer.access),
        ADD_STAFF,
        json!({ "e": d.event, "u": "staffdoor" }),
    )
    .await;
    assert_eq!(status_of(&app, &staff, &d.event, &d.code).await, "ADMITTED");
    let list = app
        .ok(Some(&staff.access), ATTENDEES, json!({ "e": d.event }))
        .await;
    assert_eq!(list["attendees"]["totalCount"], 1);
    // …and nothing else.
    let res = app
        .gql(Some(&staff.access), UNDO, json!({ "t": d.ticket }))
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    let res = app
        .gql(
            Some(&staff.access),
            ADD_STAFF,
            json!({ "e": d.event, "u": "staffdoor" }),
        )
        .await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    let csv = get(
        &app,
        &format!("/events/{}/attendees.csv", d.event),
        Some(&staff.access),
    )
    .await;
    assert_eq!(csv.status(), 403);

    app.ok(
        Some(&d.organizer.access),
        REMOVE_STAFF,
        json!({ "e": d.event, "u": "staffdoor" }),
    )
    .await;
    let res = check_in(&app, &staff, &d.event, &d.code).await;
    assert_eq!(error_code(&res), "FORBIDDEN");
    // An admin works every door.
    let root = admin(&app).await;
    assert_eq!(
        status_of(&app, &root, &d.event, &d.code).await,
        "ALREADY_CHECKED_IN"
    );
}

#[tokio::test]
async fn undo_check_in_lets_the_ticket_in_again() {
    let app = spawn_app().await;
    let d = door(&app, "undo").await;
    let report = |app: &TestApp| {
        let (token, event) = (d.organizer.access.clone(), d.event.clone());
        let api = app.api.clone();
        async move {
            api.ok(Some(&token), CHECKED_IN, json!({ "id": event }))
                .await["eventReport"]["checkedIn"]
                .clone()
        }
    };
    assert_eq!(report(&app).await, 0);
    let res = check_in(&app, &d.organizer, &d.event, &d.code).await;
    assert_eq!(res["data"]["checkIn"]["status"], "ADMITTED");
    assert!(res["data"]["checkIn"]["ticket"]["checkedInAt"].is_string());
    assert_eq!(report(&app).await, 1);

    let undone = app
        .ok(Some(&d.organizer.access), UNDO, json!({ "t": d.ticket }))
        .await;
    assert!(undone["undoCheckIn"]["checkedInAt"].is_null());
    assert_eq!(report(&app).await, 0);
    assert_eq!(
        status_of(&app, &d.organizer, &d.event, &d.code).await,
        "ADMITTED"
    );
}

/// Rasterizes the SVG that `qrcode` writes (a background rect and one path of
/// `M{x} {y}h{w}v{h}H{x}V{y}` rectangles) at `scale` pixels per unit; panics on anything else,
/// so a change of format fails loudly rather than decoding something else.
fn rasterize_qr_svg(svg: &str, scale: usize) -> (usize, Vec<u8>) {
    let attr = |name: &str| -> String {
        let start = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        svg[start..].split('"').next().unwrap().to_string()
    };
    let side: usize = attr("width").parse().unwrap();
    assert_eq!(side, attr("height").parse::<usize>().unwrap());
    let path = attr("d");
    let px = side * scale;
    let mut pixels = vec![255u8; px * px];
    for rect in path.split('M').filter(|r| !r.is_empty()) {
        let nums: Vec<usize> = rect
            .split(|c: char| c == ' ' || c.is_ascii_alphabetic())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(nums.len(), 6, "unexpected path segment M{rect}");
        let (x, y, w, h) = (nums[0], nums[1], nums[2], nums[3]);
        for yy in y * scale..(y + h) * scale {
            pixels[yy * px + x * scale..yy * px + (x + w) * scale].fill(0);
        }
    }
    (px, pixels)
}

fn decode_qr(side: usize, pixels: &[u8]) -> String {
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| pixels[y * side + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("the QR decodes").1
}

#[tokio::test]
async fn the_qr_in_qr_svg_and_in_the_pdf_decode_to_the_code_and_strangers_get_404() {
    let app = spawn_app().await;
    let d = door(&app, "pdf").await;

    let data = app
        .ok(
            Some(&d.holder.access),
            MY_TICKETS,
            json!({ "id": d.reservation }),
        )
        .await;
    let svg = str_of(&data["reservation"]["tickets"][0]["qrSvg"]);
    let (side, pixels) = rasterize_qr_svg(&svg, 2);
    assert_eq!(decode_qr(side, &pixels), d.code);

    let path = format!("/tickets/{}.pdf", d.ticket);
    let res = get(&app, &path, Some(&d.holder.access)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let bytes = res.bytes().await.unwrap();
    let pdf = lopdf::Document::load_mem(&bytes).expect("a well-formed PDF");
    let pages = pdf.get_pages();
    assert_eq!(pages.len(), 1, "one page per ticket");
    let text = pdf.extract_text(&[1]).expect("the text extracts");
    assert!(text.contains("pdf Night"), "the title in {text:?}");
    assert!(text.contains("pdffan"), "the holder in {text:?}");
    // The QR image on the page, decoded from its pixels.
    let page_id = pages[&1];
    let images = pdf.get_page_images(page_id).expect("the page's images");
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.color_space.as_deref(), Some("DeviceGray"));
    let (w, h) = (image.width as usize, image.height as usize);
    assert_eq!(w, h);
    assert_eq!(decode_qr(w, image.content), d.code);

    // The organizer and an admin may download it too.
    assert_eq!(
        get(&app, &path, Some(&d.organizer.access)).await.status(),
        200
    );
    let root = admin(&app).await;
    assert_eq!(get(&app, &path, Some(&root.access)).await.status(), 200);
    // Anyone else, with or without a token, learns nothing: 404 like an unknown ticket.
    let stranger = app.register("pdfstranger", "USER").await;
    assert_eq!(get(&app, &path, Some(&stranger.access)).await.status(), 404);
    assert_eq!(get(&app, &path, None).await.status(), 404);
    assert_eq!(get(&app, &path, Some("not-a-token")).await.status(), 404);
    let unknown = format!("/tickets/{}.pdf", uuid::Uuid::now_v7());
    assert_eq!(
        get(&app, &unknown, Some(&d.holder.access)).await.status(),
        404
    );
}

#[tokio::test]
async fn attendees_are_searchable_and_the_csv_parses_and_lists_every_attendee() {
    let app = spawn_app().await;
    let d = door(&app, "csv").await;
    let mut codes = HashMap::from([(d.holder.username.clone(), d.code.clone())]);
    for name in ["csvann", "csvbob"] {
        let who = app.register(name, "USER").await;
        let (ticket, code, _) = ticket_of(&app, &who, &d.ticket_type).await;
        codes.insert(who.username.clone(), code);
        if name == "csvbob" {
            // The printed name is searchable and survives CSV quoting.
            app.ok(
                Some(&who.access),
                "mutation($id: ID!, $n: String!) { setTicketHolderName(ticketId: $id, name: $n) { id } }",
                json!({ "id": ticket, "n": "Robert \"Bob\", Jr." }),
            )
            .await;
        }
    }
    assert_eq!(
        status_of(&app, &d.organizer, &d.event, &codes["csvann"]).await,
        "ADMITTED"
    );

    let all = app
        .ok(
            Some(&d.organizer.access),
            ATTENDEES,
            json!({ "e": d.event, "first": 2 }),
        )
        .await;
    assert_eq!(all["attendees"]["totalCount"], 3);
    assert_eq!(all["attendees"]["pageInfo"]["hasNextPage"], true);
    let ann = app
        .ok(
            Some(&d.organizer.access),
            ATTENDEES,
            json!({ "e": d.event, "s": "ANN" }),
        )
        .await;
    assert_eq!(ann["attendees"]["totalCount"], 1);
    let node = &ann["attendees"]["edges"][0]["node"];
    assert_eq!(node["holder"]["username"], "csvann");
    assert_eq!(node["ticketType"]["name"], "Standard");
    assert!(node["checkedInAt"].is_string());
    assert_eq!(node["ticket"]["code"], codes["csvann"].as_str());
    let robert = app
        .ok(
            Some(&d.organizer.access),
            ATTENDEES,
            json!({ "e": d.event, "s": "robert" }),
        )
        .await;
    assert_eq!(robert["attendees"]["totalCount"], 1);
    assert_eq!(
        robert["attendees"]["edges"][0]["node"]["holderName"],
        "Robert \"Bob\", Jr."
    );

    let res = get(
        &app,
        &format!("/events/{}/attendees.csv", d.event),
        Some(&d.organizer.access),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "ticket_id",
            "holder",
            "holder_name",
            "ticket_type",
            "seat",
            "code",
            "checked_in_at"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(&row[5], codes[&row[1]].as_str(), "{row:?}");
        assert_eq!(&row[3], "Standard");
        assert_eq!(row[6].is_empty(), &row[1] != "csvann", "{row:?}");
        let printed = if &row[1] == "csvbob" {
            "Robert \"Bob\", Jr."
        } else {
            ""
        };
        assert_eq!(&row[2], printed, "{row:?}");
    }
    // The holder of a ticket is not the organizer: no CSV, and no token is 401.
    let res = get(
        &app,
        &format!("/events/{}/attendees.csv", d.event),
        Some(&d.holder.access),
    )
    .await;
    assert_eq!(res.status(), 403);
    let res = get(&app, &format!("/events/{}/attendees.csv", d.event), None).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_check_ins_subscriber_sees_each_scan_within_a_second() {
    let app = spawn_app().await;
    let d = door(&app, "live").await;
    let mut ws = WsClient::connected(app.addr, Some(&d.organizer.access)).await;
    ws.subscribe(
        "door",
        "subscription($e: ID!) { checkIns(eventId: $e) { status checkedInAt message ticket { id } } }",
        json!({ "e": d.event }),
    )
    .await;
    for expected in ["ADMITTED", "ALREADY_CHECKED_IN"] {
        assert_eq!(
            status_of(&app, &d.organizer, &d.event, &d.code).await,
            expected
        );
        let data = ws.next_data("door", Duration::from_secs(1)).await;
        assert_eq!(data["checkIns"]["status"], expected);
        assert_eq!(data["checkIns"]["ticket"]["id"], d.ticket.as_str());
        assert!(data["checkIns"]["checkedInAt"].is_string());
    }
    assert_eq!(
        status_of(&app, &d.organizer, &d.event, "nonsense").await,
        "INVALID"
    );
    let data = ws.next_data("door", Duration::from_secs(1)).await;
    assert_eq!(data["checkIns"]["status"], "INVALID");
    assert!(data["checkIns"]["ticket"].is_null());
    ws.close().await;

    // A stranger may not watch the door.
    let mut ws = WsClient::connected(app.addr, Some(&d.holder.access)).await;
    ws.start(
        "peek",
        "subscription($e: ID!) { checkIns(eventId: $e) { status } }",
        json!({ "e": d.event }),
    )
    .await;
    let errors = ws.next_error("peek", Duration::from_secs(5)).await;
    assert_eq!(crate::helpers::ws::first_code(&errors), "FORBIDDEN");
}

fn parse_ics(text: &str) -> Vec<icalendar::Event> {
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
    assert!(
        text.contains("\r\nVERSION:2.0\r\n") && text.contains("\r\nPRODID:"),
        "{text}"
    );
    let calendar: icalendar::Calendar = text.parse().expect("the .ics parses");
    calendar
        .components
        .into_iter()
        .filter_map(|c| match c {
            icalendar::CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn utc(d: Option<icalendar::DatePerhapsTime>) -> chrono::DateTime<chrono::Utc> {
    match d.expect("a date") {
        icalendar::DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(dt)) => dt,
        other => panic!("expected a date-time, got {other:?}"),
    }
}

#[tokio::test]
async fn event_and_personal_ics_parse_with_the_right_start_end_and_status() {
    let app = spawn_app().await;
    let organizer = app.register("icsorg", "ORGANIZER").await;
    let fan = app.register("icsfan", "USER").await;
    let starts = chrono::DateTime::parse_from_rfc3339("2031-05-01T19:30:00Z").unwrap();
    let ends = chrono::DateTime::parse_from_rfc3339("2031-05-01T22:00:00Z").unwrap();
    let data = app
        .ok(
            Some(&organizer.access),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id ticketTypes { id } } }",
            json!({ "input": { "title": "Calendar Gala", "venue": "Opera", "startsAt": starts.to_rfc3339(),
                "endsAt": ends.to_rfc3339(), "ticketTypes": [{ "name": "Stalls", "priceCents": 500, "capacity": 5 }] } }),
        )
        .await;
    let event = str_of(&data["createEvent"]["id"]);
    let ticket_type = str_of(&data["createEvent"]["ticketTypes"][0]["id"]);
    let path = format!("/events/{event}.ics");
    assert_eq!(
        get(&app, &path, None).await.status(),
        404,
        "a draft has no calendar"
    );
    app.publish(&organizer, &event).await;

    let res = get(&app, &path, None).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let events = parse_ics(&res.text().await.unwrap());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].get_summary(), Some("Calendar Gala"));
    assert_eq!(utc(events[0].get_start()), starts);
    assert_eq!(utc(events[0].get_end()), ends);
    assert_eq!(
        events[0].get_status(),
        Some(icalendar::EventStatus::Confirmed)
    );

    // The personal feed lists the events the user holds tickets for.
    ticket_of(&app, &fan, &ticket_type).await;
    let url = str_of(
        &app.ok(Some(&fan.access), "{ myCalendarUrl }", json!({}))
            .await["myCalendarUrl"],
    );
    let feed = url
        .split_once("/calendar/")
        .map(|(_, t)| format!("/calendar/{t}"))
        .unwrap();
    assert!(feed.ends_with(".ics"), "{url}");
    let events = parse_ics(&get(&app, &feed, None).await.text().await.unwrap());
    assert_eq!(events.len(), 1);
    assert_eq!(utc(events[0].get_start()), starts);

    // A cancelled event stays in both, as CANCELLED.
    app.ok(
        Some(&organizer.access),
        "mutation($id: ID!) { cancelEvent(id: $id) { status } }",
        json!({ "id": event }),
    )
    .await;
    for p in [path.as_str(), feed.as_str()] {
        let events = parse_ics(&get(&app, p, None).await.text().await.unwrap());
        assert_eq!(events.len(), 1, "{p}");
        assert_eq!(
            events[0].get_status(),
            Some(icalendar::EventStatus::Cancelled),
            "{p}"
        );
    }

    // Rotating the token retires the old feed.
    let rotated = str_of(
        &app.ok(
            Some(&fan.access),
            "mutation { rotateCalendarToken }",
            json!({}),
        )
        .await["rotateCalendarToken"],
    );
    assert_ne!(rotated, url);
    assert_eq!(get(&app, &feed, None).await.status(), 404);
    let fresh = rotated
        .split_once("/calendar/")
        .map(|(_, t)| format!("/calendar/{t}"))
        .unwrap();
    assert_eq!(get(&app, &fresh, None).await.status(), 200);
}

#[tokio::test]
async fn a_ticket_whose_reservation_is_not_paid_is_not_valid_yet() {
    let app = spawn_app().await;
    let d = door(&app, "unpaid").await;
    // No API path leaves a valid ticket on an unpaid reservation today; set one up behind the
    // API's back (as a settlement that has not completed would) to pin the answer.
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let mut r: entity::reservation::ActiveModel =
        crate::helpers::reservation_row(&app, &d.reservation)
            .await
            .into();
    r.status = Set(entity::reservation::ReservationStatus::Pending);
    r.update(&app.state.db).await.unwrap();
    let res = check_in(&app, &d.organizer, &d.event, &d.code).await;
    assert_eq!(res["data"]["checkIn"]["status"], "NOT_VALID_YET", "{res:#}");
    assert!(res["data"]["checkIn"]["checkedInAt"].is_null());
    assert_eq!(res["data"]["checkIn"]["ticket"]["id"], d.ticket.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs TEST_REDIS_URL (pub/sub across instances): run with --ignored"]
async fn two_instances_sign_alike_and_a_door_watching_one_sees_scans_made_through_the_other() {
    assert!(
        std::env::var("TEST_REDIS_URL").is_ok_and(|v| !v.is_empty()),
        "set TEST_REDIS_URL: without Redis, instances do not share live signals"
    );
    let app = spawn_app().await;
    let settings = crate::helpers::test_settings(app.db.as_ref().expect("own database"), &[]);
    let second = crate::helpers::spawn_instance(settings).await;
    assert_eq!(
        get_text_of(&app, "/.well-known/ticket-key").await,
        get_text_of(&second, "/.well-known/ticket-key").await,
        "one key per deployment"
    );

    let d = door(&app, "twin").await;
    let mut ws = WsClient::connected(second.addr, Some(&d.organizer.access)).await;
    ws.subscribe(
        "door",
        "subscription($e: ID!) { checkIns(eventId: $e) { status ticket { id } } }",
        json!({ "e": d.event }),
    )
    .await;
    // A code issued by the first instance admits through it; the second's door hears it.
    assert_eq!(
        status_of(&app, &d.organizer, &d.event, &d.code).await,
        "ADMITTED"
    );
    let data = ws.next_data("door", Duration::from_secs(1)).await;
    assert_eq!(data["checkIns"]["status"], "ADMITTED");
    assert_eq!(data["checkIns"]["ticket"]["id"], d.ticket.as_str());
    // And the second instance knows the code too.
    assert_eq!(
        status_of(&second, &d.organizer, &d.event, &d.code).await,
        "ALREADY_CHECKED_IN"
    );
    ws.close().await;
    second.stop().await;
}

async fn get_text_of(app: &TestApp, path: &str) -> String {
    get(app, path, None).await.text().await.unwrap()
}
