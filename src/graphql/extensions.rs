//! Every GraphQL request passes through `Guard`, which:
//! - gives every error an `extensions.code` from the fixed list (errors that no resolver produced
//!   — syntax, validation, variable coercion — become `BAD_USER_INPUT`), and turns the depth and
//!   complexity refusals into messages that name the limit and its value;
//! - refuses documents with more aliased fields than `MAX_ALIASES` (an alias bomb);
//! - charges each mutation of a logged-in user to the `MUTATIONS_PER_MINUTE` budget;
//! - counts the operation by name and outcome and logs it with its duration.
//!
//! The transport adds the `requestId` to errors (`stamp_request_id`).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextSubscribe,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Request, Response, ServerError, ServerResult, Value, Variables};

use crate::auth::Viewer;
use crate::error::AppError;
use crate::ratelimit::Limit;
use crate::state::AppState;

pub struct ErrorShape;

impl ExtensionFactory for ErrorShape {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guard::default())
    }
}

#[derive(Default)]
struct Guard {
    operation: Mutex<Option<String>>,
    /// The response keys of the operation's root fields, in the order the document asks for
    /// them (the merged root objects resolve domain by domain, not in that order).
    root_keys: Mutex<Vec<String>>,
}

/// The response keys (alias or name) of a selection set's fields, fragments expanded, in order.
/// Each fragment is expanded once (`expanded`): this runs before validation, so a fragment may
/// still spread itself, several times over.
fn response_keys<'a>(
    set: &'a SelectionSet,
    doc: &'a ExecutableDocument,
    out: &mut Vec<String>,
    expanded: &mut std::collections::HashSet<&'a str>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                let key = f.node.response_key().node.to_string();
                if !out.contains(&key) {
                    out.push(key);
                }
            }
            Selection::InlineFragment(f) => {
                response_keys(&f.node.selection_set.node, doc, out, expanded)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if expanded.insert(name)
                    && let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node)
                {
                    response_keys(&fragment.node.selection_set.node, doc, out, expanded);
                }
            }
        }
    }
}

/// Puts the root fields of `data` in the document's order.
fn order_root(data: &mut Value, keys: &[String]) {
    let Value::Object(fields) = data else { return };
    if keys.is_empty() {
        return;
    }
    let mut ordered = async_graphql::indexmap::IndexMap::with_capacity(fields.len());
    for key in keys {
        if let Some((name, value)) = fields.shift_remove_entry(key.as_str()) {
            ordered.insert(name, value);
        }
    }
    ordered.extend(std::mem::take(fields));
    *fields = ordered;
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => {
                usize::from(f.node.alias.is_some()) + count_aliases(&f.node.selection_set.node)
            }
            Selection::InlineFragment(f) => count_aliases(&f.node.selection_set.node),
            // Fragments are counted where they are defined, once.
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

fn aliases(doc: &ExecutableDocument) -> usize {
    let in_operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| count_aliases(&op.node.selection_set.node))
        .sum();
    let in_fragments: usize = doc
        .fragments
        .values()
        .map(|f| count_aliases(&f.node.selection_set.node))
        .sum();
    in_operations + in_fragments
}

/// A refusal that belongs to the whole document, so it carries no source location.
fn refuse(err: AppError) -> ServerError {
    let err = async_graphql::Error::from(err);
    let mut server_error = ServerError::new(err.message, None);
    server_error.extensions = err.extensions;
    server_error
}

/// Every error gets a code from the fixed list; depth and complexity refusals name their limit.
fn shape_errors(errors: &mut [ServerError], state: Option<&AppState>) {
    for error in errors {
        let ext = error.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_some() {
            continue;
        }
        ext.set("code", "BAD_USER_INPUT");
        if let Some(line) = super::input::one_line_syntax_error(&error.message) {
            error.message = line;
        }
        if let Some(state) = state {
            let s = &state.settings;
            if error.message == "Query is nested too deep." {
                error.message = format!(
                    "the query is nested too deep; the limit is {} (MAX_QUERY_DEPTH)",
                    s.max_query_depth
                );
            } else if error.message == "Query is too complex." {
                error.message = format!(
                    "the query is too complex (lists count as many items as they may return); the limit is {} (MAX_QUERY_COMPLEXITY)",
                    s.max_query_complexity
                );
            }
        }
    }
}

/// Operation names are chosen by clients; past this many distinct ones, metrics count them
/// together as "other" so a client cannot grow the series without bound.
const MAX_OPERATION_LABELS: usize = 500;
/// Longer operation names are counted as "other".
const MAX_OPERATION_NAME: usize = 64;

/// A GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`) of at most `MAX_OPERATION_NAME` characters.
fn is_plain_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_OPERATION_NAME
        && bytes
            .next()
            .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

#[async_graphql::async_trait::async_trait]
impl Extension for Guard {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        *self.operation.lock().unwrap_or_else(|e| e.into_inner()) = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        // Before the parser recurses: a deeply nested document would overflow the stack.
        super::input::check_nesting(query, super::input::MAX_NESTING)
            .map_err(|msg| refuse(AppError::bad_input(msg)))?;
        let doc = next.run(ctx, query, variables).await?;
        super::input::check_strings(&doc, variables)
            .map_err(|msg| refuse(AppError::bad_input(msg)))?;
        let Some(state) = ctx.data_opt::<AppState>() else {
            return Ok(doc);
        };
        let max = state.settings.max_aliases;
        let found = aliases(&doc);
        if found > max {
            return Err(refuse(AppError::bad_input(format!(
                "the document has {found} aliased fields; the limit is {max} (MAX_ALIASES)"
            ))));
        }
        let mut operation = self
            .operation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let selected = match &operation {
            Some(name) => doc
                .operations
                .iter()
                .find(|(n, _)| n.map(|n| n.as_str()) == Some(name.as_str())),
            None => doc.operations.iter().next(),
        };
        if operation.is_none() {
            operation = selected.and_then(|(n, _)| n.map(|n| n.to_string()));
            *self.operation.lock().unwrap_or_else(|e| e.into_inner()) = operation;
        }
        if let Some((_, op)) = selected {
            super::input::check_variables(
                &ctx.schema_env.registry,
                &op.node.variable_definitions,
                variables,
            )
            .map_err(|msg| refuse(AppError::bad_input(msg)))?;
            let mut keys = Vec::new();
            response_keys(
                &op.node.selection_set.node,
                &doc,
                &mut keys,
                &mut Default::default(),
            );
            *self.root_keys.lock().unwrap_or_else(|e| e.into_inner()) = keys;
        }
        let is_mutation = selected.is_some_and(|(_, op)| op.node.ty == OperationType::Mutation);
        if is_mutation
            && let Some(viewer) = ctx.data_opt::<Viewer>()
            && let Err(err) = state
                .rate
                .hit(Limit::Mutations, &viewer.user_id.to_string())
                .await
        {
            state.metrics.rate_limited.inc(&[Limit::Mutations.name()]);
            return Err(refuse(err));
        }
        Ok(doc)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: futures::stream::BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> futures::stream::BoxStream<'s, Response> {
        use futures::StreamExt;
        let state = ctx.data_opt::<AppState>().cloned();
        next.run(ctx, stream)
            .map(move |mut response| {
                shape_errors(&mut response.errors, state.as_ref());
                response
            })
            .boxed()
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let mut response = next.run(ctx).await;
        order_root(
            &mut response.data,
            &self.root_keys.lock().unwrap_or_else(|e| e.into_inner()),
        );
        let state = ctx.data_opt::<AppState>();
        shape_errors(&mut response.errors, state);
        let operation = self
            .operation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "anonymous".into());
        let outcome = response
            .errors
            .first()
            .and_then(|e| e.extensions.as_ref())
            .and_then(|ext| ext.get("code"))
            .and_then(|code| match code {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "ok".into());
        // Clients choose operation names: only a plain GraphQL name of bounded length, among a
        // bounded set of names, becomes a metric label (or reaches the log as is).
        let plain = is_plain_name(&operation);
        let label = match state {
            Some(state) => {
                let counter = &state.metrics.graphql_operations;
                let label = if plain
                    && (counter.distinct() < MAX_OPERATION_LABELS
                        || counter.has_label(0, &operation))
                {
                    operation.as_str()
                } else {
                    "other"
                };
                counter.inc(&[label, &outcome]);
                label
            }
            None if plain => operation.as_str(),
            None => "other",
        };
        tracing::info!(
            operation = %label,
            outcome = %outcome,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "graphql operation"
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_in_operations_and_fragments() {
        let doc = async_graphql::parser::parse_query(
            "query { a: me { id } b: me { id } ...F } fragment F on Query { c: me { x: id } }",
        )
        .unwrap();
        assert_eq!(aliases(&doc), 4);
    }

    #[test]
    fn root_keys_expand_each_fragment_once_even_when_fragments_spread_themselves() {
        let doc = async_graphql::parser::parse_query(
            "query { b ...A c } fragment A on Query { a ...A ...A ...A ...B } fragment B on Query { d ...A }",
        )
        .unwrap();
        let (_, op) = doc.operations.iter().next().unwrap();
        let mut keys = Vec::new();
        response_keys(
            &op.node.selection_set.node,
            &doc,
            &mut keys,
            &mut Default::default(),
        );
        assert_eq!(keys, ["b", "a", "d", "c"]);
    }

    #[test]
    fn only_plain_short_operation_names_become_labels() {
        assert!(is_plain_name("GetEvents"));
        assert!(is_plain_name("_x1"));
        assert!(is_plain_name("anonymous"));
        assert!(!is_plain_name("Evil\nevenntify_fake_total 1"));
        assert!(!is_plain_name("1abc"));
        assert!(!is_plain_name(""));
        assert!(!is_plain_name(&"a".repeat(65)));
    }
}
