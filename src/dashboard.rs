//! The organizer's live dashboard at `/dashboard` and the buyer's tickets page at
//! `/dashboard/tickets`, served from the binary like the playground: the bundle in
//! `dashboard/dist` (TypeScript with types generated from `schema.graphql`, built from npm
//! packages pinned by `dashboard/package-lock.json`, see `dashboard/README.md`) is compiled in
//! with `include_bytes!`, so the page needs nothing but this server. The page is the same for
//! both paths; it signs in with `login`, talks to `/graphql` over HTTP and WebSocket only, and
//! reads the platform currency from a `<meta>` tag filled in here.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;

/// One embedded file of `dashboard/dist`.
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
            bytes: include_bytes!(concat!("../dashboard/dist/", $name)),
        }),*]
    };
}

/// Every file that `dashboard/build.mjs` writes, except `index.html` (the page itself).
const ASSETS: &[Asset] = dist![
    "dashboard.js" => "text/javascript; charset=utf-8",
    "dashboard.css" => "text/css; charset=utf-8",
    "LICENSES.txt" => "text/plain; charset=utf-8",
];

const INDEX_HTML: &str = include_str!("../dashboard/dist/index.html");

/// Only this origin: scripts, styles, fetches and WebSockets (`'self'` covers `ws:` and `wss:`
/// to the same host). uPlot and the gauges set inline styles; QR codes are SVG data URLs and a
/// downloaded PDF is a blob URL.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /dashboard`, `/dashboard/tickets` and `/dashboard/assets/{file}`, compressed with gzip
/// when the client accepts it. `currency` is the platform's ISO 4217 code (`CURRENCY`, already
/// checked to be three upper-case letters), which the page uses to format amounts.
pub fn router<S: Clone + Send + Sync + 'static>(currency: &str) -> Router<S> {
    let page: Arc<str> = page_html(currency).into();
    let serve = move || {
        let page = page.clone();
        async move {
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
                ],
                page.to_string(),
            )
                .into_response()
        }
    };
    Router::new()
        .route("/dashboard", get(serve.clone()))
        .route("/dashboard/", get(serve.clone()))
        .route("/dashboard/tickets", get(serve.clone()))
        .route("/dashboard/tickets/", get(serve))
        .route("/dashboard/assets/{file}", get(asset))
        .layer(CompressionLayer::new())
}

/// The page with the platform currency in `<meta name="evenntify-currency">`.
fn page_html(currency: &str) -> String {
    // CURRENCY is validated at startup; anything else would not be a safe attribute value.
    let currency = if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        currency
    } else {
        "USD"
    };
    INDEX_HTML.replace("{{CURRENCY}}", currency)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_bundle_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard/dist");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "index.html")
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.name.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "update ASSETS in src/dashboard.rs");
    }

    #[test]
    fn the_page_loads_only_embedded_assets() {
        let mut found = 0;
        for reference in INDEX_HTML.split("/dashboard/assets/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "{name} is not embedded"
            );
            found += 1;
        }
        assert_eq!(
            found, 2,
            "the page should load dashboard.js and dashboard.css"
        );
    }

    #[test]
    fn the_page_names_the_platform_currency() {
        assert!(page_html("EUR").contains(r#"<meta name="evenntify-currency" content="EUR" />"#));
        assert!(page_html("\"><script>").contains(r#"content="USD""#));
        assert!(!page_html("GBP").contains("{{CURRENCY}}"));
    }
}
