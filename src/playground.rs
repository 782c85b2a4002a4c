//! The GraphiQL playground at `/graphiql`, served from the binary with no request leaving the
//! machine: the bundle in `playground/dist` (built from npm packages pinned by
//! `playground/package-lock.json`, see `playground/README.md`) and the saved operations in
//! `playground/*.graphql` are compiled in with `include_bytes!`/`include_str!`, so
//! `cargo run --release` serves the playground with nothing else installed.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;

/// One embedded file of `playground/dist`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! dist {
    ($($name:literal => $content_type:literal),* $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../playground/dist/", $name)),
        }),*]
    };
}

/// Every file that `playground/build.mjs` writes, except `index.html` (the page itself).
const ASSETS: &[Asset] = dist![
    "graphiql.js" => "text/javascript; charset=utf-8",
    "graphiql.css" => "text/css; charset=utf-8",
    "editor.worker.js" => "text/javascript; charset=utf-8",
    "json.worker.js" => "text/javascript; charset=utf-8",
    "graphql.worker.js" => "text/javascript; charset=utf-8",
    "LICENSES.txt" => "text/plain; charset=utf-8",
];

const INDEX_HTML: &str = include_str!("../playground/dist/index.html");

macro_rules! operations {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../playground/", $file)))),*]
    };
}

/// The saved example operations, listed in the playground's "Examples" panel. A test checks
/// that this list names every `playground/*.graphql` file.
const OPERATIONS: &[(&str, &str)] = operations![
    "register.graphql",
    "login.graphql",
    "refreshToken.graphql",
    "logout.graphql",
    "me.graphql",
    "events.graphql",
    "event.graphql",
    "createEvent.graphql",
    "updateEvent.graphql",
    "publishEvent.graphql",
    "cancelEvent.graphql",
    "topUpWallet.graphql",
    "wallet.graphql",
    "reserve.graphql",
    "pay.graphql",
    "myReservations.graphql",
    "reservation.graphql",
    "cancelReservation.graphql",
    "eventReport.graphql",
    "transactions.graphql",
    "transactionReports.graphql",
    "eventAvailability.graphql",
    "myNotifications.graphql",
    "notifications.graphql",
    "markNotificationsRead.graphql",
    "createVenue.graphql",
    "venues.graphql",
    "seatMap.graphql",
    "blockSeats.graphql",
    "seatMapUpdates.graphql",
    "joinWaitlist.graphql",
    "myWaitlistEntries.graphql",
    "leaveWaitlist.graphql",
    "waitlistUpdates.graphql",
    "setCancellationPolicy.graphql",
    "refundQuote.graphql",
    "transferTicket.graphql",
    "myTickets.graphql",
    "checkIn.graphql",
    "attendees.graphql",
    "checkIns.graphql",
    "adjustWallet.graphql",
    "addSession.graphql",
    "cancelSession.graphql",
    "calendar.graphql",
    "eventsByRelevance.graphql",
    "analytics.graphql",
];

/// Only this origin: scripts, styles, workers, fetches and WebSockets (`'self'` covers `ws:`
/// and `wss:` to the same host). Monaco sets inline styles and the fonts are data URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
     worker-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'";

/// `GET /graphiql`, `/graphiql/assets/{file}` and `/graphiql/operations.json`, compressed
/// with gzip when the client accepts it.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/graphiql", get(page))
        .route("/graphiql/", get(page))
        .route("/graphiql/assets/{file}", get(asset))
        .route("/graphiql/operations.json", get(operations))
        .layer(CompressionLayer::new())
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// Strong ETags, one per asset, computed once: file names carry no hash, so browsers
/// revalidate (`no-cache`) and get a 304 while the binary is unchanged.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.bytes)[..16])))
        .collect()
});

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let asset = &ASSETS[index];
    let etag = ETAGS[index].as_str();
    let etag_header = HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\""));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_header)]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ETAG, etag_header),
        ],
        asset.bytes,
    )
        .into_response()
}

/// `[{"file": "register.graphql", "source": "…"}, …]`, in walk-through order.
async fn operations() -> Response {
    let list: Vec<_> = OPERATIONS
        .iter()
        .map(|(file, source)| serde_json::json!({ "file": file, "source": source }))
        .collect();
    ([(header::CACHE_CONTROL, "no-cache")], axum::Json(list)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &std::path::Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| keep(n))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_saved_operation_is_listed_in_the_playground() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playground");
        let on_disk = files_in(&dir, |n| n.ends_with(".graphql"));
        let mut listed: Vec<String> = OPERATIONS.iter().map(|(f, _)| f.to_string()).collect();
        listed.sort();
        assert_eq!(
            listed, on_disk,
            "add new playground/*.graphql files to OPERATIONS in src/playground.rs"
        );
    }

    #[test]
    fn every_file_of_the_bundle_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playground/dist");
        let on_disk = files_in(&dir, |n| n != "index.html");
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.name.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "update ASSETS in src/playground.rs");
    }

    #[test]
    fn the_page_loads_only_embedded_assets() {
        for reference in INDEX_HTML.split("/graphiql/assets/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "{name} is not embedded"
            );
        }
    }
}
