//! Gives every GraphQL error an `extensions.code` from the fixed list: errors that no resolver
//! produced (syntax, validation, variable coercion) become `BAD_USER_INPUT`. The transport adds
//! the `requestId` (see `stamp_request_id`), because request data is not visible here yet.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest};
use async_graphql::{Response, ServerError, Value};

pub struct ErrorShape;

impl ExtensionFactory for ErrorShape {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorShapeExtension)
    }
}

struct ErrorShapeExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorShapeExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            let ext = error.extensions.get_or_insert_with(Default::default);
            if ext.get("code").is_none() {
                ext.set("code", "BAD_USER_INPUT");
            }
        }
        response
    }
}

/// Adds `extensions.requestId` to every error, so a client can quote it and an operator can find
/// the matching log lines.
pub fn stamp_request_id<'a>(
    errors: impl IntoIterator<Item = &'a mut ServerError>,
    request_id: &str,
) {
    for error in errors {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("requestId", Value::String(request_id.to_string()));
    }
}
