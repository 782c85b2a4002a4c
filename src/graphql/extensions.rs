//! Gives every GraphQL error the shape the API promises: an `extensions.code` from the fixed list
//! (parse and validation errors become `BAD_USER_INPUT`) and the request's `requestId`.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest};
use async_graphql::{Response, Value};

use super::context::RequestId;

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
        let request_id = ctx.data_opt::<RequestId>().map(|r| r.0.clone());
        for error in &mut response.errors {
            let ext = error.extensions.get_or_insert_with(Default::default);
            if ext.get("code").is_none() {
                // Errors that no resolver produced: syntax, validation, variable coercion.
                ext.set("code", "BAD_USER_INPUT");
            }
            if let Some(id) = &request_id {
                ext.set("requestId", Value::String(id.clone()));
            }
        }
        response
    }
}
