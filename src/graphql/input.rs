//! Checks on what a client sends before it reaches the parser or a resolver, in one place for
//! every transport (POST, GET, WebSocket, persisted queries):
//!
//! - **Nesting.** async-graphql's parser recurses once per level of `[`, `{` and `(`, so a 4 KB
//!   document of 2,000 nested list or object *values* overflows a worker's stack and aborts the
//!   whole process. `check_nesting` is a flat scan of the text (it skips strings, block strings
//!   and comments) that refuses anything nested deeper than `MAX_NESTING` before parsing starts.
//!   JSON variables are already bounded by serde_json's own recursion limit (128).
//! - **Control characters.** A NUL in a string breaks PostgreSQL's text type (an internal error)
//!   and is stored as is by SQLite; no field of this API has a use for control characters other
//!   than tab and line breaks. `check_strings` walks every string in the document's arguments,
//!   variable defaults, directive arguments and in the variables, and refuses the request.

use async_graphql::Variables;
use async_graphql::parser::types::{
    ExecutableDocument, Selection, SelectionSet, VariableDefinition,
};
use async_graphql::{Positioned, Value};

/// The deepest nesting of brackets, braces and parentheses a document may have. Selection sets
/// are limited further by `MAX_QUERY_DEPTH`, and the parser refuses selection sets nested more
/// than 64 deep on its own; GraphiQL's introspection query nests about 13 levels. 128 levels of
/// every kind at once parse in half of a worker thread's stack even in a debug build (a test
/// below checks it).
pub const MAX_NESTING: usize = 128;

/// Refuses a document nested deeper than `max`, without parsing it. Runs in linear time.
pub fn check_nesting(document: &str, max: usize) -> Result<(), String> {
    let bytes = document.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                // Block string: ends at the next `"""` not preceded by a backslash. One that
                // never ends is refused: the parser would not read it as a block string but as
                // `""` followed by more document, whose brackets this scan would have skipped.
                i += 3;
                loop {
                    if i >= bytes.len() {
                        return Err("the document has a block string that never ends".into());
                    }
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                    } else if bytes[i..].starts_with(b"\"\"\"") {
                        i += 3;
                        break;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            b'[' | b'{' | b'(' => {
                depth += 1;
                if depth > max {
                    return Err(format!(
                        "the document is nested more than {max} levels deep (brackets, braces and parentheses count)"
                    ));
                }
            }
            b']' | b'}' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// A string a client may send: no control characters except tab, line feed and carriage return
/// (a line break typed on Windows).
pub fn check_text(s: &str) -> Result<(), String> {
    match s
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        None => Ok(()),
        Some(c) => Err(format!(
            "strings may not contain control characters (found U+{:04X}); only tab and line breaks are allowed",
            c as u32
        )),
    }
}

/// Every string in the document's values and in the variables passes `check_text`.
pub fn check_strings(doc: &ExecutableDocument, variables: &Variables) -> Result<(), String> {
    for value in variables.values() {
        check_const(value)?;
    }
    for (_, op) in doc.operations.iter() {
        check_variable_definitions(&op.node.variable_definitions)?;
        check_directives(&op.node.directives)?;
        check_selection_set(&op.node.selection_set.node)?;
    }
    for fragment in doc.fragments.values() {
        check_directives(&fragment.node.directives)?;
        check_selection_set(&fragment.node.selection_set.node)?;
    }
    Ok(())
}

fn check_variable_definitions(defs: &[Positioned<VariableDefinition>]) -> Result<(), String> {
    for def in defs {
        if let Some(default) = &def.node.default_value {
            check_const(&default.node)?;
        }
        check_directives(&def.node.directives)?;
    }
    Ok(())
}

fn check_directives(
    directives: &[Positioned<async_graphql::parser::types::Directive>],
) -> Result<(), String> {
    for d in directives {
        for (_, value) in &d.node.arguments {
            check_const(&literal(&value.node))?;
        }
    }
    Ok(())
}

/// A value as written in the document, with each variable in it replaced by null (variables are
/// checked on their own).
fn literal(value: &async_graphql_value::Value) -> Value {
    value
        .clone()
        .into_const_with(|_| Ok::<_, std::convert::Infallible>(Value::Null))
        .unwrap_or(Value::Null)
}

fn check_selection_set(set: &SelectionSet) -> Result<(), String> {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                for (_, value) in &f.node.arguments {
                    check_const(&literal(&value.node))?;
                }
                check_directives(&f.node.directives)?;
                check_selection_set(&f.node.selection_set.node)?;
            }
            Selection::InlineFragment(f) => {
                check_directives(&f.node.directives)?;
                check_selection_set(&f.node.selection_set.node)?;
            }
            Selection::FragmentSpread(f) => check_directives(&f.node.directives)?,
        }
    }
    Ok(())
}

fn check_const(value: &Value) -> Result<(), String> {
    match value {
        Value::String(s) => check_text(s),
        Value::List(items) => items.iter().try_for_each(check_const),
        Value::Object(fields) => fields.values().try_for_each(check_const),
        _ => Ok(()),
    }
}

/// Checks the variables of the selected operation against the scalars whose wrong values
/// async-graphql would only notice while resolving (turning a request error into a field error
/// with `data: null`): `DateTime` has no validity check of its own there. Other types and
/// scalars (`Cents` included, see `scalars.rs`) are checked by validation already.
pub fn check_variables(
    registry: &async_graphql::registry::Registry,
    defs: &[Positioned<VariableDefinition>],
    variables: &Variables,
) -> Result<(), String> {
    for def in defs {
        let name = def.node.name.node.as_str();
        if let Some(value) = variables.get(name) {
            let ty = def.node.var_type.node.to_string();
            check_variable(registry, &ty, value).map_err(|(at, why)| {
                let at = if at.is_empty() {
                    String::new()
                } else {
                    format!(" at `{at}`")
                };
                format!("variable `${name}` got an invalid value{at}: {why}")
            })?;
        }
    }
    Ok(())
}

/// `Err((path inside the value, why))`.
fn check_variable(
    registry: &async_graphql::registry::Registry,
    ty: &str,
    value: &Value,
) -> Result<(), (String, String)> {
    use async_graphql::registry::{MetaType, MetaTypeName};
    match MetaTypeName::create(ty) {
        MetaTypeName::NonNull(inner) => check_variable(registry, inner, value),
        MetaTypeName::List(inner) => match value {
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_variable(registry, inner, item)
                        .map_err(|(at, why)| (join(&i.to_string(), &at), why))?;
                }
                Ok(())
            }
            other => check_variable(registry, inner, other),
        },
        MetaTypeName::Named(name) => match (registry.types.get(name), value) {
            (_, Value::Null) => Ok(()),
            (Some(MetaType::Scalar { name, .. }), value) if name == "DateTime" => match value {
                Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => Ok(()),
                other => Err((
                    String::new(),
                    format!(
                        "{other} is not a date-time in RFC 3339 form such as 2030-06-01T18:00:00Z"
                    ),
                )),
            },
            (Some(MetaType::InputObject { input_fields, .. }), Value::Object(fields)) => {
                for (key, field) in input_fields {
                    if let Some(v) = fields.get(key.as_str()) {
                        check_variable(registry, &field.ty, v)
                            .map_err(|(at, why)| (join(key, &at), why))?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        },
    }
}

fn join(head: &str, rest: &str) -> String {
    if rest.is_empty() {
        head.to_string()
    } else {
        format!("{head}.{rest}")
    }
}

/// The parser's multi-line drawing (` --> 1:22 | … ^--- = expected selection`) as one line:
/// "Syntax error at 1:22: expected selection". Other messages pass unchanged.
pub fn one_line_syntax_error(message: &str) -> Option<String> {
    let rest = message.trim_start().strip_prefix("--> ")?;
    let position = rest.split_whitespace().next()?;
    let expected = message
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("= "))
        .unwrap_or("unexpected input");
    Some(format!("Syntax error at {position}: {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_values_are_refused_and_ordinary_documents_pass() {
        let deep = format!(
            "{{ events(filter: {{ search: {}\"x\"{} }}) {{ totalCount }} }}",
            "[".repeat(4000),
            "]".repeat(4000)
        );
        assert!(check_nesting(&deep, MAX_NESTING).is_err());
        let objects = format!("{{ a(x: {}1{}) }}", "{a:".repeat(200), "}".repeat(200));
        assert!(check_nesting(&objects, MAX_NESTING).is_err());
        assert!(check_nesting("{ me { id } }", MAX_NESTING).is_ok());
        let introspection = include_str!("../../tests/fixtures/introspection.graphql");
        assert!(check_nesting(introspection, MAX_NESTING).is_ok());
    }

    /// The limit leaves the parser room: a document at the limit, every kind of nesting at once,
    /// parses on a thread with half of a tokio worker's 2 MiB stack in a debug build, where frames
    /// are largest (it does not in a quarter; release builds need far less).
    #[test]
    fn a_document_at_the_limit_parses_in_half_a_workers_stack() {
        let third = MAX_NESTING / 4;
        let value = format!(
            "{}{}1{}{}",
            "[".repeat(third),
            "{a:".repeat(third),
            "}".repeat(third),
            "]".repeat(third)
        );
        let doc = format!(
            "query($v: T = {value}) {} a(x: {value}) @d(if: {value}) {}",
            "{ f ".repeat(third - 2),
            "}".repeat(third - 2)
        );
        assert!(check_nesting(&doc, MAX_NESTING).is_ok());
        let parsed = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || async_graphql::parser::parse_query(&doc).is_ok())
            .unwrap()
            .join()
            .unwrap();
        assert!(parsed);
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let quoted = format!("{{ a(x: \"{}\") }}", "[".repeat(500));
        assert!(check_nesting(&quoted, 10).is_ok());
        let escaped = format!("{{ a(x: \"\\\"{}\") }}", "{".repeat(500));
        assert!(check_nesting(&escaped, 10).is_ok());
        let block = format!("{{ a(x: \"\"\" \\\"\"\" {} \"\"\") }}", "(".repeat(500));
        assert!(check_nesting(&block, 10).is_ok());
        let comment = format!("# {}\n{{ a }}", "[".repeat(500));
        assert!(check_nesting(&comment, 10).is_ok());
        // An unterminated block string cannot hide what follows it: the parser would read `""`
        // and go on into the brackets.
        let open_block = format!(
            "{{ a(x: [\"\"\" \" {}1{} ]) }}",
            "[".repeat(50),
            "]".repeat(50)
        );
        assert!(check_nesting(&open_block, 10).is_err());
        // An unterminated string cannot hide brackets that follow it on the next line.
        let unterminated = format!("{{ a(x: \"oops\n{}", "[".repeat(50));
        assert!(check_nesting(&unterminated, 10).is_err());
    }

    #[test]
    fn the_parsers_drawing_becomes_one_line() {
        let drawn = " --> 1:22\n  |\n1 | { events(first: 1) { 12 } }\n  |                      ^---\n  |\n  = expected selection";
        assert_eq!(
            one_line_syntax_error(drawn).as_deref(),
            Some("Syntax error at 1:22: expected selection")
        );
        assert_eq!(one_line_syntax_error("Unknown field \"x\""), None);
    }

    #[test]
    fn control_characters_other_than_tab_and_line_breaks_are_refused() {
        assert!(check_text("plain\ttext\r\nwith lines").is_ok());
        assert!(check_text("nul\u{0}").is_err());
        assert!(check_text("bell\u{7}").is_err());
        assert!(check_text("c1\u{85}").is_err());
        assert!(check_text("émoji 🎟").is_ok());
    }

    #[test]
    fn strings_are_checked_everywhere_in_a_document_and_its_variables() {
        let check = |query: &str, vars: serde_json::Value| {
            let doc = async_graphql::parser::parse_query(query).unwrap();
            check_strings(&doc, &Variables::from_json(vars))
        };
        assert!(check("{ a(x: \"ok\") }", serde_json::json!({})).is_ok());
        assert!(check("{ a(x: \"n\\u0000\") }", serde_json::json!({})).is_err());
        assert!(check("{ a(x: {y: [\"\\u0001\"]}) }", serde_json::json!({})).is_err());
        assert!(
            check(
                "query($v: String = \"\\u0000\") { a(x: $v) }",
                serde_json::json!({})
            )
            .is_err()
        );
        assert!(check("{ a @include(if: \"\\u0000\") }", serde_json::json!({})).is_err());
        assert!(
            check(
                "query($v: String) { a(x: $v) }",
                serde_json::json!({ "v": { "k": ["\u{0}"] } })
            )
            .is_err()
        );
    }
}
