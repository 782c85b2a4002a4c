//! Imports between the files of `src/` flow one way (ARCHITECTURE.md, "Who imports whom"):
//! the shared state, config, db and errors at the bottom; domain services above them; the
//! GraphQL layer (`graphql/` and each domain's `graphql.rs`) above the services; `app.rs` at the
//! top. This test reads the module graph from the source text and fails on an import cycle
//! between files, or on an import that points up a layer, naming the files and lines involved.
//!
//! It needs no server, no database and no extra crate: it lexes `src/**/*.rs` (comments and
//! string literals blanked), takes every path that starts with `crate::`, `$crate::`,
//! `super::`, `self::` or a child module declared in the same file (in `use` trees and in code),
//! and resolves it to the file that defines the longest existing module prefix (`src/a/b.rs` or
//! `src/a/b/mod.rs`). A file declaring `mod x;` does not import `x` by that alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Imports that point up a layer on purpose, each with its reason. Keep this list short.
const ALLOWED_UPWARD: &[(&str, &str, &str)] = &[(
    "state.rs",
    "graphql/apq.rs",
    "the state owns the persisted-query store; apq.rs imports nothing from the crate",
)];

#[test]
fn no_two_files_of_src_import_each_other_even_through_others() {
    let graph = Graph::from_sources(&read_src());
    let cycles = graph.cycles();
    assert!(
        cycles.is_empty(),
        "import cycles between files of src/ (break each by moving the shared item down a \
         layer; see ARCHITECTURE.md):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn services_never_import_the_graphql_layer_and_nothing_imports_the_app() {
    let graph = Graph::from_sources(&read_src());
    let mut wrong = Vec::new();
    for ((from, to), at) in &graph.edges {
        let allowed = ALLOWED_UPWARD.iter().any(|(f, t, _)| f == from && t == to);
        if is_graphql_layer(to) && !is_graphql_layer(from) && !is_top(from) && !allowed {
            wrong.push(format!(
                "{from} imports the GraphQL layer ({to}) at {at}; services must not"
            ));
        }
        if to == "app.rs" && from != "cli.rs" {
            wrong.push(format!(
                "{from} imports app.rs at {at}; only the CLI may (app.rs is the top)"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The transport and schema: `src/graphql/` and every domain's `graphql.rs` (or `graphql/`
/// folder, when a domain's GraphQL types are split over files).
fn is_graphql_layer(file: &str) -> bool {
    file.starts_with("graphql/") || file.ends_with("/graphql.rs") || file.contains("/graphql/")
}

/// The files above everything: they assemble and start the application.
fn is_top(file: &str) -> bool {
    matches!(file, "app.rs" | "cli.rs" | "main.rs")
}

/// Every `.rs` file under `src/`, keyed by its path relative to `src/` with `/` separators.
/// `main.rs` is the binary's own crate (it imports `evenntify::…`, not `crate::…`): left out.
fn read_src() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path.strip_prefix(root).expect("under src/");
                let rel: Vec<_> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect();
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                out.insert(rel.join("/"), text);
            }
        }
    }
    // MODULE_GRAPH_SRC points the check at another tree (e.g. an old checkout's src/).
    let root = match std::env::var_os("MODULE_GRAPH_SRC") {
        Some(dir) => dir.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    };
    let mut files = BTreeMap::new();
    walk(&root, &root, &mut files);
    files.remove("main.rs");
    assert!(files.contains_key("lib.rs"), "src/lib.rs not found");
    files
}

/// The file-level import graph: for each (importer, imported) pair, where the first such
/// import is (`file:line`).
struct Graph {
    edges: BTreeMap<(String, String), String>,
}

impl Graph {
    fn from_sources(files: &BTreeMap<String, String>) -> Graph {
        // Module path (`["payments", "ledger"]`) → the file that defines it.
        let modules: BTreeMap<Vec<String>, String> =
            files.keys().map(|f| (module_path(f), f.clone())).collect();
        // `#[macro_export]` macros live at the crate root by name, but are defined in a file.
        let mut macros = BTreeMap::new();
        for (file, text) in files {
            let tokens = lex(text);
            for (i, t) in tokens.iter().enumerate() {
                // `#[macro_export] macro_rules! name`
                if t.text == "macro_rules"
                    && tokens[i.saturating_sub(4)..i]
                        .iter()
                        .any(|p| p.text == "macro_export")
                    && let Some(name) = tokens.get(i + 2)
                {
                    macros.insert(name.text.clone(), file.clone());
                }
            }
        }
        let mut edges = BTreeMap::new();
        for (file, text) in files {
            for (line, path) in paths_in(&module_path(file), &lex(text)) {
                let target = resolve(&path, &modules, &macros);
                if let Some(target) = target
                    && &target != file
                {
                    edges
                        .entry((file.clone(), target))
                        .or_insert_with(|| format!("src/{file}:{line}"));
                }
            }
        }
        Graph { edges }
    }

    /// Each strongly connected group of files, as one concrete cycle plus the imports in it.
    fn cycles(&self) -> Vec<String> {
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, to) in self.edges.keys() {
            next.entry(from).or_default().push(to);
            next.entry(to).or_default();
        }
        let mut found = Vec::new();
        for group in strongly_connected(&next) {
            if group.len() < 2 {
                continue;
            }
            let members: BTreeSet<&str> = group.iter().copied().collect();
            let cycle = shortest_cycle(group[0], &next, &members);
            let mut text = format!("  cycle: {}", cycle.join(" -> "));
            for pair in cycle.windows(2) {
                let at = &self.edges[&(pair[0].to_string(), pair[1].to_string())];
                text.push_str(&format!("\n    {} -> {} at {at}", pair[0], pair[1]));
            }
            if members.len() + 1 > cycle.len() {
                text.push_str(&format!(
                    "\n    (all files caught in this knot: {})",
                    members.iter().copied().collect::<Vec<_>>().join(", ")
                ));
            }
            found.push(text);
        }
        found
    }
}

/// `a/b.rs` and `a/b/mod.rs` → `[a, b]`; `lib.rs` → `[]`.
fn module_path(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file of the longest module prefix of an absolute path; a crate-root name that is an
/// exported macro resolves to the macro's file.
fn resolve(
    path: &[String],
    modules: &BTreeMap<Vec<String>, String>,
    macros: &BTreeMap<String, String>,
) -> Option<String> {
    let n = (0..=path.len())
        .rev()
        .find(|&n| modules.contains_key(&path[..n]))?;
    if n == 0
        && let Some(file) = path.first().and_then(|name| macros.get(name))
    {
        return Some(file.clone());
    }
    modules.get(&path[..n]).cloned()
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    line: usize,
}

/// Identifiers (with `$crate` as one) and punctuation, `::` as one token; comments, strings,
/// chars and numbers dropped.
fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r')) && {
            let j = if c == 'b' { i + 2 } else { i + 1 };
            let mut k = j;
            while at(k) == '#' {
                k += 1;
            }
            at(k) == '"' && (k > j || at(j) == '"')
        } {
            // Raw string: r"…", r#"…"#, br"…".
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#') {
                    j += 1 + hashes;
                    break;
                }
                line += usize::from(chars[j] == '\n');
                j += 1;
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), or else a lifetime / label, which is skipped
            // like an identifier.
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' || (c == '$' && at(i + 1).is_alphabetic()) {
            let start = i;
            i += 1;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            // b"…" and b'…' literals: the `b` is not an identifier.
            if text == "b" && matches!(at(i), '"' | '\'') {
                continue;
            }
            tokens.push(Token { text, line });
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric()
                || at(i) == '_'
                || at(i) == '.' && at(i + 1).is_ascii_digit()
            {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            tokens.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    tokens
}

fn is_ident(t: &str) -> bool {
    t.starts_with(|c: char| c.is_alphabetic() || c == '_' || c == '$')
}

/// Every crate-internal path in a file, made absolute, with its line: from `use` trees and from
/// paths in code. Inline `mod x { … }` blocks shift what `self` and `super` mean inside them.
fn paths_in(file_module: &[String], tokens: &[Token]) -> Vec<(usize, Vec<String>)> {
    // Child modules declared as files (`mod x;`): a path may start with their bare name.
    let children: BTreeSet<&str> = tokens
        .windows(3)
        .filter(|w| w[0].text == "mod" && is_ident(&w[1].text) && w[2].text == ";")
        .map(|w| w[1].text.as_str())
        .collect();
    let mut out = Vec::new();
    // Inline modules open at some brace depth: (depth inside, name).
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i].text;
        let current = || {
            let mut m = file_module.to_vec();
            m.extend(inline.iter().map(|(_, n)| n.clone()));
            m
        };
        match t.as_str() {
            "{" => {
                depth += 1;
                i += 1;
            }
            "}" => {
                if inline.last().is_some_and(|(d, _)| *d == depth) {
                    inline.pop();
                }
                depth -= 1;
                i += 1;
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t.text == "{") => {
                inline.push((depth + 1, tokens[i + 1].text.clone()));
                depth += 1;
                i += 3;
            }
            "use" => {
                let end = (i..tokens.len())
                    .find(|&j| tokens[j].text == ";")
                    .unwrap_or(tokens.len());
                let mut trees = Vec::new();
                expand_use(&tokens[i + 1..end], &mut Vec::new(), &mut trees);
                let here = current();
                let top = inline.is_empty();
                for path in trees {
                    if let Some(abs) = absolute(&path, &here, top.then_some(&children)) {
                        out.push((tokens[i].line, abs));
                    }
                }
                i = end + 1;
            }
            _ if is_ident(t) && (i == 0 || tokens[i - 1].text != "::") => {
                let mut path = vec![t.clone()];
                let mut j = i + 1;
                while j + 1 < tokens.len()
                    && tokens[j].text == "::"
                    && is_ident(&tokens[j + 1].text)
                {
                    path.push(tokens[j + 1].text.clone());
                    j += 2;
                }
                let followed = j < tokens.len() && tokens[j].text == "::";
                if path.len() > 1 || followed {
                    let here = current();
                    let top = inline.is_empty();
                    if let Some(abs) = absolute(&path, &here, top.then_some(&children)) {
                        out.push((tokens[i].line, abs));
                    }
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// A path as written → an absolute module path, or `None` when it is not crate-internal.
fn absolute(
    path: &[String],
    here: &[String],
    children: Option<&BTreeSet<&str>>,
) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" | "$crate" => Vec::new(),
        "self" => here.to_vec(),
        "super" => here[..here.len().saturating_sub(1)].to_vec(),
        name if children.is_some_and(|c| c.contains(name)) => {
            let mut m = here.to_vec();
            m.push(name.to_string());
            m
        }
        _ => return None,
    };
    let mut rest = rest;
    while let Some((s, tail)) = rest.split_first()
        && s == "super"
    {
        base.pop();
        rest = tail;
    }
    base.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(base)
}

/// Expands a `use` tree (`crate::a::{b, c::{self, d}}`, `super::*`, `x as y`) into its paths.
fn expand_use(tokens: &[Token], prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut i = 0;
    let start_len = prefix.len();
    let mut pushed_any = false;
    while i < tokens.len() {
        let t = tokens[i].text.as_str();
        match t {
            "::" => i += 1,
            "{" => {
                // Split the group's contents at top-level commas.
                let mut level = 0;
                let mut item_start = i + 1;
                let mut j = i + 1;
                while j < tokens.len() {
                    match tokens[j].text.as_str() {
                        "{" => level += 1,
                        "}" if level == 0 => break,
                        "}" => level -= 1,
                        "," if level == 0 => {
                            expand_use(&tokens[item_start..j], prefix, out);
                            item_start = j + 1;
                        }
                        _ => {}
                    }
                    j += 1;
                }
                expand_use(&tokens[item_start..j], prefix, out);
                prefix.truncate(start_len);
                return;
            }
            "*" => {
                out.push(prefix.clone());
                prefix.truncate(start_len);
                return;
            }
            "as" => break,
            _ if is_ident(t) => {
                prefix.push(t.to_string());
                pushed_any = true;
                i += 1;
            }
            _ => i += 1,
        }
    }
    if pushed_any {
        out.push(prefix.clone());
    }
    prefix.truncate(start_len);
}

/// Tarjan's strongly connected components, iteratively; each group in discovery order.
fn strongly_connected<'a>(next: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut low: BTreeMap<&str, usize> = BTreeMap::new();
    let mut stack: Vec<&str> = Vec::new();
    let mut on_stack = BTreeSet::new();
    let mut groups = Vec::new();
    for &root in next.keys() {
        if index.contains_key(root) {
            continue;
        }
        let mut work: Vec<(&str, usize)> = vec![(root, 0)];
        while let Some((v, child)) = work.pop() {
            if child == 0 {
                let n = index.len();
                index.insert(v, n);
                low.insert(v, n);
                stack.push(v);
                on_stack.insert(v);
            }
            let succ = &next[v];
            if child < succ.len() {
                work.push((v, child + 1));
                let w = succ[child];
                if !index.contains_key(w) {
                    work.push((w, 0));
                } else if on_stack.contains(w) {
                    let l = low[v].min(index[w]);
                    low.insert(v, l);
                }
                continue;
            }
            // All successors done: fold this node's low into its parent's.
            if let Some(&(parent, _)) = work.last() {
                let l = low[parent].min(low[v]);
                low.insert(parent, l);
            }
            if low[v] == index[v] {
                let mut group = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack.remove(w);
                    group.push(w);
                    if w == v {
                        break;
                    }
                }
                group.reverse();
                groups.push(group);
            }
        }
    }
    groups
}

/// The shortest path from `start` back to itself inside `members` (breadth-first).
fn shortest_cycle<'a>(
    start: &'a str,
    next: &BTreeMap<&'a str, Vec<&'a str>>,
    members: &BTreeSet<&'a str>,
) -> Vec<&'a str> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &next[v] {
            if !members.contains(w) {
                continue;
            }
            if w == start {
                let mut path = vec![start, v];
                let mut at = v;
                while at != start {
                    at = came_from[at];
                    path.push(at);
                }
                // start, v, v's parent, …, start: reversed, the walk from start back to it.
                path.reverse();
                return path;
            }
            if !came_from.contains_key(w) && w != start {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

mod detector {
    //! The detector itself: it must find a planted cycle, and must not invent one.

    use super::*;

    fn sources(files: &[(&str, &str)]) -> BTreeMap<String, String> {
        files
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn a_planted_cycle_through_three_files_is_found_and_named() {
        let files = sources(&[
            ("lib.rs", "pub mod app;\npub mod state;\npub mod shop;\n"),
            (
                "state.rs",
                "use crate::shop::service::Cart;\npub struct AppState;\n",
            ),
            ("shop/mod.rs", "pub mod graphql;\npub mod service;\n"),
            (
                "shop/service.rs",
                "// use crate::app::Nothing; a comment is not an import\n\
                 pub fn total(s: &crate::state::AppState) { let _ = \"crate::app::X\"; }\n\
                 pub struct Cart;\n",
            ),
            ("shop/graphql.rs", "use super::service::{self, Cart};\n"),
            ("app.rs", "use crate::{state::AppState, shop::graphql};\n"),
        ]);
        let graph = Graph::from_sources(&files);
        let cycles = graph.cycles();
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert!(
            cycles[0].contains("shop/service.rs -> state.rs at src/shop/service.rs:2"),
            "{}",
            cycles[0]
        );
        assert!(
            cycles[0].contains("state.rs -> shop/service.rs at src/state.rs:1"),
            "{}",
            cycles[0]
        );
        // The comment and the string in shop/service.rs import nothing.
        assert!(
            !graph
                .edges
                .contains_key(&("shop/service.rs".into(), "app.rs".into()))
        );
    }

    #[test]
    fn a_parent_declaring_its_children_and_tests_using_super_make_no_cycle() {
        let files = sources(&[
            ("lib.rs", "pub mod pubsub;\n"),
            (
                "pubsub/mod.rs",
                "pub mod memory;\npub trait PubSub {}\n\
                 #[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
            ),
            (
                "pubsub/memory.rs",
                "use super::PubSub;\npub struct Memory;\nimpl PubSub for Memory {}\n",
            ),
        ]);
        let graph = Graph::from_sources(&files);
        assert!(graph.cycles().is_empty(), "{:?}", graph.cycles());
        assert!(
            graph
                .edges
                .contains_key(&("pubsub/memory.rs".into(), "pubsub/mod.rs".into()))
        );
        // `pub mod memory;` declares the child; it does not import it.
        assert!(
            !graph
                .edges
                .contains_key(&("pubsub/mod.rs".into(), "pubsub/memory.rs".into()))
        );
    }

    #[test]
    fn a_parent_using_a_child_that_uses_the_parent_is_a_cycle() {
        let files = sources(&[
            ("lib.rs", "pub mod pubsub;\n"),
            (
                "pubsub/mod.rs",
                "pub mod memory;\npub fn default() -> memory::Memory { todo!() }\n",
            ),
            ("pubsub/memory.rs", "pub struct Memory(super::Topic);\n"),
        ]);
        let cycles = Graph::from_sources(&files).cycles();
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert!(
            cycles[0].contains("pubsub/mod.rs -> pubsub/memory.rs at src/pubsub/mod.rs:2"),
            "{}",
            cycles[0]
        );
    }

    #[test]
    fn deep_paths_in_code_and_exported_macros_resolve_to_their_files() {
        let files = sources(&[
            ("lib.rs", "pub mod db;\npub mod graphql;\npub mod events;\n"),
            ("db/mod.rs", "pub mod paging;\n"),
            ("db/paging.rs", "pub struct Page;\n"),
            ("graphql/mod.rs", "pub mod pagination;\n"),
            (
                "graphql/pagination.rs",
                "#[macro_export]\nmacro_rules! connection { () => { $crate::db::paging::Page } }\n",
            ),
            (
                "events/graphql.rs",
                "use crate::connection;\nfn f() -> crate::db::paging::Page { todo!() }\n",
            ),
        ]);
        let graph = Graph::from_sources(&files);
        let edge = |a: &str, b: &str| graph.edges.contains_key(&(a.into(), b.into()));
        assert!(edge("events/graphql.rs", "graphql/pagination.rs"));
        assert!(edge("events/graphql.rs", "db/paging.rs"));
        assert!(edge("graphql/pagination.rs", "db/paging.rs"));
    }
}
