//! The shape of `host/src`, checked: the top-level modules form the layers
//! of [`LAYERS`], and a module uses only modules of the layers below its own
//! (so no two modules import each other, directly or through others);
//! `sqlx` appears only in `store/`, `wasmtime` only in `runtime/`; the pure
//! modules do no I/O and never read the clock. The README's Layout section
//! lists the modules in the same order. Plain Rust reading the sources: no
//! tool to install, comments and string literals are not code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `host/src`'s top-level modules, top layer first. A module may use the
/// modules of the layers below its own, and nothing else of the crate.
const LAYERS: &[&[&str]] = &[
    // The edges: the command line, wiring a serving host, its configuration.
    &["cli"],
    &["serve"],
    &["api"],
    // The web console: static pages, a client of the API.
    &["console"],
    &["config"],
    // Turning due tasks into runs; claiming, running and recording them.
    // Delay callbacks due: claiming, calling, recording. Following up what
    // ended (chains, workflow steps); alerts: looking and sending.
    &[
        "scheduler",
        "dispatch",
        "retention",
        "delays",
        "followups",
        "alerts",
    ],
    // Job modules; the other hosts of a cluster.
    &["plugins", "cluster", "secrets"],
    // The boundaries: the only SQL, the only wasmtime, the only outbound
    // HTTP; the counters.
    &["store", "runtime", "egress", "metrics"],
    // Shared vocabulary, when tasks fire, and leaf words: pure but `clock`.
    &["vocab"],
    &["schedule"],
    &["units", "labels", "digest", "clock", "panics", "repeats"],
];

/// Modules that do no I/O and never read the clock: time comes in as an
/// argument, so every rule in them is testable without waiting.
const PURE: &[&str] = &["vocab", "schedule", "units", "labels", "digest"];

/// Crates that only one module may use.
const BOUNDARIES: &[(&str, &str)] = &[
    ("sqlx", "store"),
    ("wasmtime", "runtime"),
    ("wasmtime_wasi", "runtime"),
    ("wasmtime_wasi_http", "runtime"),
    ("wasmparser", "runtime"),
    ("ring", "secrets"),
    ("hyper", "egress"),
    ("hyper_util", "egress"),
    ("rustls", "egress"),
    ("tokio_rustls", "egress"),
    ("lettre", "egress"),
];

/// Paths a pure module may not start with: I/O, threads, processes.
const IMPURE_ROOTS: &[&[&str]] = &[
    &["std", "fs"],
    &["std", "io"],
    &["std", "net"],
    &["std", "env"],
    &["std", "process"],
    &["std", "thread"],
    &["tokio"],
    &["sqlx"],
    &["notify"],
];

/// Runs of segments a pure module may not have anywhere in a path: clocks.
const IMPURE_SEGMENTS: &[&[&str]] = &[
    &["SystemTime"],
    &["Instant"],
    &["Utc", "now"],
    &["Local", "now"],
    &["chrono", "Local"],
];

/// The module a pure module may not use: it reads the clock.
const CLOCK: &str = "clock";

/// Macros a pure module may not call: they write to the terminal.
const IMPURE_MACROS: &[&str] = &["print", "println", "eprint", "eprintln", "dbg"];

/// Files of `src/` that are the crate root or this check, not a module.
const ROOT_FILES: &[&str] = &["lib.rs", "main.rs", "layering.rs"];

/// One source file: the top-level module it belongs to, its path, its text.
#[derive(Debug)]
struct Source {
    module: String,
    path: String,
    text: String,
}

impl Source {
    /// The path of the module the file is, from the crate root:
    /// `src/store/fire.rs` is `store::fire`, `src/store/mod.rs` is `store`.
    fn module_path(&self) -> Vec<String> {
        let relative = self.path.trim_start_matches("src/").trim_end_matches(".rs");
        let mut parts: Vec<String> = relative.split('/').map(str::to_owned).collect();
        if parts.last().is_some_and(|last| last == "mod") {
            parts.pop();
        }
        parts
    }
}

/// Every `.rs` file under `src`.
fn read_tree(src: &Path) -> Vec<Source> {
    let mut sources = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if ROOT_FILES.contains(&relative.as_str()) {
                continue;
            }
            let module = relative
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned();
            sources.push(Source {
                module,
                text: std::fs::read_to_string(&path).unwrap(),
                path: format!("src/{relative}"),
            });
        }
    }
    sources.sort_by(|a, b| a.path.cmp(&b.path));
    sources
}

/// A token of code: an identifier or a punctuation character, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    text: String,
    line: usize,
}

/// The code of `text` as tokens, without comments, string and character
/// literals (a path named in a doc comment or a message is not a use).
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
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
        } else if c == '"' || ((c == 'r' || c == 'b') && starts_string(&chars, i)) {
            // b"…", r"…", r#"…"#, br#"…"#: skip to the matching end.
            let mut j = i;
            if chars[j] == 'b' {
                j += 1;
            }
            let raw = chars[j] == 'r';
            if raw {
                j += 1;
            }
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1; // the opening quote
            loop {
                if j >= chars.len() {
                    break;
                }
                let d = chars[j];
                if d == '\n' {
                    line += 1;
                }
                if !raw && d == '\\' {
                    j += 2;
                    continue;
                }
                if d == '"' && (0..hashes).all(|h| at(j + 1 + h) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if c == '\'' {
            // A character literal ('a', '\n', '\''), or a lifetime ('a).
            if at(i + 1) == '\\' {
                // Past the backslash and the escaped character.
                let mut j = i + 3;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token {
                text: chars[start..i].iter().collect(),
                line,
            });
        } else if c.is_whitespace() {
            i += 1;
        } else if c == ':' && at(i + 1) == ':' {
            tokens.push(Token {
                text: "::".to_owned(),
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

/// Whether a `b` or `r` at `i` opens a string literal rather than a name.
fn starts_string(chars: &[char], i: usize) -> bool {
    let before = i.checked_sub(1).map(|j| chars[j]);
    if before.is_some_and(|b| b.is_alphanumeric() || b == '_') {
        return false;
    }
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
    }
    if chars.get(j) == Some(&'r') {
        j += 1;
        while chars.get(j) == Some(&'#') {
            j += 1;
        }
    }
    j > i && chars.get(j) == Some(&'"')
}

/// A path in the code, e.g. `crate::store::Store`, with the line it starts
/// on. Use groups are expanded: `use std::{fs, env}` is `std::fs` and
/// `std::env`; a leading `::` is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CodePath {
    segments: Vec<String>,
    line: usize,
}

/// Whether `text` is an identifier (not a number).
fn is_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Keywords, which start no path (but `crate`, `self`, `super`).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "type", "unsafe", "use", "where", "while",
];

/// Every path in `tokens`.
fn paths(tokens: &[Token]) -> Vec<CodePath> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let before = i.checked_sub(1).map(|j| tokens[j].text.as_str());
        let start = match tokens[i].text.as_str() {
            // `::std::fs`: a leading `::` (not `Vec::<u8>::new`'s).
            "::" if !before.is_some_and(|b| is_name(b) || b == ">" || b == ")") => i + 1,
            // A name that does not continue a path or name a field or method.
            name if is_name(name)
                && !KEYWORDS.contains(&name)
                && !matches!(before, Some("::") | Some(".")) =>
            {
                i
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let line = tokens[i].line;
        let (expanded, end) = parse_path(tokens, start, Vec::new());
        found.extend(
            expanded
                .into_iter()
                .filter(|segments| !segments.is_empty())
                .map(|segments| CodePath { segments, line }),
        );
        i = end.max(i + 1);
    }
    found
}

/// The path(s) starting at `i` after `prefix`, and where they end.
fn parse_path(tokens: &[Token], mut i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let text = |i: usize| tokens.get(i).map(|t| t.text.as_str());
    let mut segments = prefix;
    loop {
        match text(i) {
            Some("{") => return parse_group(tokens, i, segments),
            // `use crate::store::{self, Store}`: `self` is the prefix itself.
            Some("self") if !segments.is_empty() => i += 1,
            Some(name) if is_name(name) && !KEYWORDS.contains(&name) => {
                segments.push(name.to_owned());
                i += 1;
            }
            _ => break,
        }
        if text(i) == Some("::") {
            i += 1;
        } else {
            break;
        }
    }
    (vec![segments], i)
}

/// The paths of the group `{a, b::c, d as e}` at `i`, each after `prefix`.
fn parse_group(tokens: &[Token], mut i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut found = Vec::new();
    i += 1; // the `{`
    while i < tokens.len() && tokens[i].text != "}" {
        let (paths, end) = parse_path(tokens, i, prefix.clone());
        found.extend(paths);
        // Past what the path did not take (`as e`, `*`) to the next item.
        let mut depth = 0;
        i = end.max(i + 1);
        while i < tokens.len() {
            match tokens[i].text.as_str() {
                "{" => depth += 1,
                "}" if depth == 0 => break,
                "}" => depth -= 1,
                "," if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    (found, i + 1)
}

/// The top-level module `path` reaches from the module at `from` (its path
/// from the crate root), if it reaches one by `crate::` or `super::`.
fn top_level_target(path: &[String], from: &[String]) -> Option<String> {
    let (first, rest) = path.split_first()?;
    match first.as_str() {
        "crate" => rest.first().cloned(),
        "super" => {
            let mut at = from.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                at.pop();
                rest = &rest[1..];
            }
            match at.first() {
                Some(module) => Some(module.clone()),
                None => rest.first().cloned(),
            }
        }
        _ => None,
    }
}

/// Whether `segments` holds `run` somewhere, in order.
fn contains_run(segments: &[String], run: &[&str]) -> bool {
    segments
        .windows(run.len())
        .any(|window| window.iter().zip(run).all(|(a, b)| a == b))
}

/// The layer of each module, 0 at the top.
fn layer_of() -> BTreeMap<&'static str, usize> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(layer, modules)| modules.iter().map(move |m| (*m, layer)))
        .collect()
}

/// Everything wrong with `sources`, one message each.
fn problems(sources: &[Source]) -> Vec<String> {
    let layers = layer_of();
    let mut problems = Vec::new();
    let modules: BTreeSet<&str> = sources.iter().map(|s| s.module.as_str()).collect();
    for module in &modules {
        if !layers.contains_key(module) {
            problems.push(format!(
                "`{module}` is in no layer: add it to LAYERS in src/layering.rs (and to the README's Layout) where it belongs"
            ));
        }
    }
    // module → used module → first place of use.
    let mut graph: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for source in sources {
        let tokens = tokens(&source.text);
        let paths = paths(&tokens);
        let module = source.module.as_str();
        let from = source.module_path();
        for path in &paths {
            let Some(used) = top_level_target(&path.segments, &from) else {
                continue;
            };
            if used == module || used == "self" || used == "super" {
                continue;
            }
            graph
                .entry(module)
                .or_default()
                .entry(used)
                .or_insert_with(|| format!("{} line {}", source.path, path.line));
        }
        for (krate, owner) in BOUNDARIES {
            if module == *owner {
                continue;
            }
            if let Some(path) = paths.iter().find(|p| p.segments[0] == *krate) {
                problems.push(format!(
                    "`{krate}` is used in {} line {}: only `{owner}` may use it; \
                     give `{owner}` a function for what `{module}` needs",
                    source.path, path.line
                ));
            }
        }
        if PURE.contains(&module) {
            let impure = |path: &CodePath| {
                let segments = &path.segments;
                let rooted = IMPURE_ROOTS
                    .iter()
                    .find(|root| {
                        segments
                            .starts_with(&root.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    })
                    .map(|root| root.join("::"));
                let anywhere = IMPURE_SEGMENTS
                    .iter()
                    .find(|run| contains_run(segments, run))
                    .map(|run| run.join("::"));
                let clock = (top_level_target(segments, &from).as_deref() == Some(CLOCK))
                    .then(|| format!("crate::{CLOCK}"));
                rooted.or(anywhere).or(clock)
            };
            for path in &paths {
                if let Some(what) = impure(path) {
                    problems.push(format!(
                        "`{module}` must be pure (no I/O, no clock), but {} line {} uses `{what}`; \
                         take what it needs (the time, say) as an argument",
                        source.path, path.line
                    ));
                }
            }
            for (k, token) in tokens.iter().enumerate() {
                if IMPURE_MACROS.contains(&token.text.as_str())
                    && tokens.get(k + 1).is_some_and(|t| t.text == "!")
                {
                    problems.push(format!(
                        "`{module}` must be pure (no I/O), but {} line {} calls `{}!`",
                        source.path, token.line, token.text
                    ));
                }
            }
        }
    }
    for cycle in cycles(&graph) {
        problems.push(format!(
            "modules import each other: {} (move the shared words down, into `vocab` or a module below both)",
            cycle.join(" → ")
        ));
    }
    for (module, uses) in &graph {
        for (used, place) in uses {
            match (layers.get(module), layers.get(used.as_str())) {
                (Some(own), Some(other)) if other <= own => problems.push(format!(
                    "`{module}` uses `{used}` ({place}), which is {} it in LAYERS; \
                     a module may use only the layers below its own",
                    if other == own {
                        "in the same layer as"
                    } else {
                        "above"
                    }
                )),
                _ => {}
            }
        }
    }
    problems
}

/// Each cycle of `graph` once, as the modules along it, first one repeated
/// at the end.
fn cycles(graph: &BTreeMap<&str, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    let mut found: Vec<Vec<String>> = Vec::new();
    let mut seen_sets: BTreeSet<Vec<String>> = BTreeSet::new();
    for start in graph.keys() {
        let mut path = vec![start.to_string()];
        walk(graph, &mut path, &mut found, &mut seen_sets);
    }
    found
}

fn walk(
    graph: &BTreeMap<&str, BTreeMap<String, String>>,
    path: &mut Vec<String>,
    found: &mut Vec<Vec<String>>,
    seen_sets: &mut BTreeSet<Vec<String>>,
) {
    let Some(last) = path.last().cloned() else {
        return;
    };
    for next in graph
        .get(last.as_str())
        .into_iter()
        .flat_map(|uses| uses.keys())
    {
        if *next == path[0] {
            let mut members = path.clone();
            members.sort();
            if seen_sets.insert(members) {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                found.push(cycle);
            }
        } else if !path.contains(next) && path.len() < 16 {
            path.push(next.clone());
            walk(graph, path, found, seen_sets);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str, text: &str) -> Source {
        Source {
            module: path
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned(),
            path: format!("src/{path}"),
            text: text.to_owned(),
        }
    }

    #[test]
    fn the_module_graph_of_host_src_flows_one_way() {
        let sources = read_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
        assert!(sources.len() > 40, "read {} files", sources.len());
        let problems = problems(&sources);
        assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
    }

    #[test]
    fn the_readme_layout_lists_the_layers_in_order() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let layout = readme
            .split("## Layout")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("README.md has a `## Layout` section");
        let listed: Vec<&str> = layout
            .lines()
            .filter_map(|line| line.trim_start().strip_prefix("src/"))
            .map(|rest| {
                rest.split(|c: char| c == '/' || c == '.' || c.is_whitespace())
                    .next()
                    .unwrap_or("")
            })
            .collect();
        let layers: Vec<&str> = LAYERS
            .iter()
            .flat_map(|layer| layer.iter().copied())
            .collect();
        assert_eq!(
            listed, layers,
            "README.md's Layout lists host/src's modules in another order than LAYERS in src/layering.rs"
        );
    }

    #[test]
    fn a_module_using_one_above_it_is_caught_and_so_is_the_cycle() {
        let sources = [
            source("plugins/mod.rs", "use crate::scheduler::Scheduler;\n"),
            source(
                "scheduler/mod.rs",
                "use crate::{plugins::ModuleRegistry, store};\n",
            ),
            source("store/mod.rs", "pub struct Store;\n"),
        ];
        let problems = problems(&sources);
        assert!(
            problems.contains(
                &"modules import each other: plugins → scheduler → plugins (move the shared words down, into `vocab` or a module below both)"
                    .to_owned()
            ),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with(
                "`plugins` uses `scheduler` (src/plugins/mod.rs line 1), which is above it"
            )),
            "{problems:#?}"
        );
        assert_eq!(problems.len(), 2, "{problems:#?}");
    }

    #[test]
    fn sql_and_wasm_stay_behind_their_boundaries() {
        let sources = [
            source("cluster/notify.rs", "use sqlx::postgres::PgListener;\n"),
            source(
                "dispatch/mod.rs",
                "\n#[derive(sqlx::FromRow)]\nstruct Row;\n",
            ),
            source("plugins/mod.rs", "fn f(e: &wasmtime::Engine) {}\n"),
            source("store/mod.rs", "use sqlx::AnyPool;\n"),
            source("runtime/mod.rs", "use wasmtime::Engine;\n"),
        ];
        let problems = problems(&sources);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with(
            "`sqlx` is used in src/cluster/notify.rs line 1: only `store` may use it"
        ));
        assert!(problems[1].starts_with("`sqlx` is used in src/dispatch/mod.rs line 2"));
        assert!(
            problems[2]
                .starts_with("`wasmtime` is used in src/plugins/mod.rs line 1: only `runtime`")
        );
    }

    #[test]
    fn pure_modules_do_no_io_and_read_no_clock() {
        let sources = [
            source(
                "schedule/mod.rs",
                "fn now() -> i64 { chrono::Utc::now().timestamp() }\n",
            ),
            source(
                "schedule/cron.rs",
                "use std::fs;\nfn f() { println!(\"x\"); }\n",
            ),
            source("vocab/task.rs", "use crate::clock::now_ms;\n"),
            source("units.rs", "fn f() -> std::time::Instant { todo!() }\n"),
            source(
                "labels.rs",
                "use std::collections::BTreeMap; use std::fmt;\n",
            ),
        ];
        let problems = problems(&sources);
        let expected = [
            "src/schedule/mod.rs line 1 uses `Utc::now`",
            "src/schedule/cron.rs line 1 uses `std::fs`",
            "src/schedule/cron.rs line 2 calls `println!`",
            "src/vocab/task.rs line 1 uses `crate::clock`",
            "src/units.rs line 1 uses `Instant`",
        ];
        for text in expected {
            assert!(
                problems.iter().any(|p| p.contains(text)),
                "{text}: {problems:#?}"
            );
        }
        assert!(
            !problems.iter().any(|p| p.contains("labels")),
            "{problems:#?}"
        );
    }

    #[test]
    fn comments_and_string_literals_are_not_code() {
        let sources = [source(
            "plugins/mod.rs",
            "//! Unlike [`crate::scheduler`], this uses no sqlx.\n\
             /* use crate::scheduler; /* nested */ */\n\
             const A: &str = \"crate::scheduler and wasmtime::Engine\";\n\
             const B: &str = r#\"use sqlx::\"#;\n\
             const C: char = '\"';\n\
             fn f<'a>(x: &'a str) -> &'a str { x }\n\
             use crate::store::Store;\n",
        )];
        let crate_paths: Vec<(String, usize)> = paths(&tokens(&sources[0].text))
            .into_iter()
            .filter(|p| p.segments[0] == "crate")
            .map(|p| (p.segments[1].clone(), p.line))
            .collect();
        assert_eq!(crate_paths, [("store".to_owned(), 7)]);
        let problems = problems(&sources);
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn groups_super_and_leading_colons_are_followed() {
        let uses = |text: &str| -> Vec<String> {
            paths(&tokens(text))
                .into_iter()
                .map(|p| p.segments.join("::"))
                .collect()
        };
        assert_eq!(
            uses("use crate::{clock::now_ms, store::{self, Store as S}, vocab::*};"),
            [
                "crate::clock::now_ms",
                "crate::store",
                "crate::store::Store",
                "crate::vocab"
            ]
        );
        assert_eq!(
            uses("fn f() { ::std::fs::read(x); }"),
            ["f", "std::fs::read", "x"]
        );
        // A compact `'\''` does not swallow the code after it.
        assert_eq!(
            uses("const Q: [char; 2] = ['\\'','\"'];\nuse crate::scheduler;"),
            ["Q", "char", "crate::scheduler"]
        );
        let sources = [
            source("store/fire.rs", "use super::super::scheduler::Planner;\n"),
            source(
                "schedule/mod.rs",
                "use std::{fmt, fs};\nuse crate::{clock::now_ms};\n",
            ),
            source(
                "vocab/cancel.rs",
                "fn f(t: &Notify, z: Tz) { t.notify(); let _ = Tz::Local; }\n",
            ),
        ];
        let problems = problems(&sources);
        assert!(
            problems.iter().any(|p| p.starts_with(
                "`store` uses `scheduler` (src/store/fire.rs line 1), which is above it"
            )),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("line 1 uses `std::fs`")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("line 2 uses `crate::clock`")),
            "{problems:#?}"
        );
        assert_eq!(problems.len(), 3, "{problems:#?}");
    }
}
