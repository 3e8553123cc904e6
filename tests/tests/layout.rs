//! The house rules a reviewer would otherwise check by hand, held by reading the sources:
//!
//! - **No import circles.** In every crate's `src/`, the graph whose nodes are module files and
//!   whose edges are the paths a file names (`use crate::a::b`, `super::x`, `crate::a::f(…)`) has
//!   no cycle. A module naming its own descendants is not an edge: declaring and re-exporting
//!   children is what a parent is for. So `config` may compose `creatio::config`, but
//!   `creatio::config` may not reach back to `config` through `replies`. The one exception is a
//!   generated table (`domain::phone_codes`, "Do not edit"), which names the type of its rows.
//! - **Deps from settings.** No test, bench or fuzz target spells a `Deps { … }` literal: each
//!   builds a function's deps with its `from_config` over a settings map
//!   (`test_support::config`), so a test runs what a deployment with those settings would run.
//! - **The configuration page is the code's.** docs/configuration.md lists exactly the
//!   environment variables the functions read, one table row each.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("target") && !path.ends_with("node_modules") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and without its `#[cfg(test)] mod tests` (which may use anything).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("a readable source file");
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

type Module = Vec<String>;

/// The crate's module files: `a/b.rs` and `a/b/mod.rs` are module `a::b`; `lib.rs` and
/// `main.rs` are the root.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files
        .into_iter()
        .filter(|f| !f.starts_with(src.join("bin")))
        .map(|f| {
            let rel = f.strip_prefix(src).expect("below src");
            let mut m: Module = rel
                .with_extension("")
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if matches!(m.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                m.pop();
            }
            (m, f)
        })
        .collect()
}

/// The longest prefix of `path` that is a module file.
fn owner(mods: &BTreeMap<Module, PathBuf>, path: &[String]) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| mods.contains_key(m))
        .unwrap_or_default()
}

/// Every path a module names, resolved to the module file that holds it.
fn edges(mods: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, BTreeSet<Module>> {
    let path_re =
        regex_lite::Regex::new(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)(::\{[^;]*?\})?")
            .expect("a valid pattern");
    let mut graph = BTreeMap::new();
    for (m, file) in mods {
        // `super` from module `a::b` (a/b.rs or a/b/mod.rs) is `a`.
        let here: Module = m.clone();
        let code = code_of(file);
        let mut targets = BTreeSet::new();
        let mut add = |start: &str, segs: Vec<String>| {
            let mut base: Module = match start {
                "crate" => Vec::new(),
                _ => {
                    let mut b = here.clone();
                    b.pop();
                    b
                }
            };
            let mut segs = segs.into_iter().peekable();
            while segs.peek().is_some_and(|s| s == "super") {
                segs.next();
                base.pop();
            }
            base.extend(segs.filter(|s| s != "self"));
            targets.insert(owner(mods, &base));
        };
        for c in path_re.captures_iter(&code) {
            let segs: Vec<String> = c[2]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            match c.get(3) {
                None => add(&c[1], segs),
                Some(group) => {
                    let inner = group
                        .as_str()
                        .trim_start_matches("::{")
                        .trim_end_matches('}');
                    for item in inner.split(',') {
                        let item = item.split(" as ").next().unwrap_or("").trim();
                        let item = item.split("::{").next().unwrap_or("");
                        let mut full = segs.clone();
                        full.extend(
                            item.split("::")
                                .map(str::trim)
                                .filter(|s| !s.is_empty() && *s != "*" && *s != "{")
                                .map(str::to_owned),
                        );
                        add(&c[1], full);
                    }
                }
            }
        }
        targets.retain(|t| t != m && !(t.len() > m.len() && t.starts_with(m)));
        // A generated table (its module doc says "Do not edit") names the type of its rows
        // and nothing else; that one edge back is the generator's, not a design choice.
        if std::fs::read_to_string(file)
            .is_ok_and(|t| t.lines().take(5).any(|l| l.contains("Do not edit")))
        {
            targets.clear();
        }
        graph.insert(m.clone(), targets);
    }
    graph
}

/// A cycle of the graph, if it has one.
fn cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let from = stack.iter().position(|m| m == next).unwrap_or(0);
                    let mut c = stack[from..].to_vec();
                    c.push(next.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node) {
            let mut stack = Vec::new();
            if let Some(c) = visit(node, graph, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

fn crate_sources() -> Vec<PathBuf> {
    let root = root();
    let mut dirs = vec![
        root.join("shared/src"),
        root.join("cli/src"),
        root.join("local/src"),
        root.join("sandbox/src"),
        root.join("bench/src"),
        root.join("test-support/src"),
    ];
    for f in std::fs::read_dir(root.join("functions")).expect("functions/") {
        dirs.push(f.expect("an entry").path().join("src"));
    }
    dirs
}

#[test]
fn no_crate_has_an_import_circle() {
    for src in crate_sources() {
        let mods = modules(&src);
        assert!(mods.len() > 1 || src.ends_with("src"), "{src:?}");
        if let Some(c) = cycle(&edges(&mods)) {
            let c: Vec<String> = c.iter().map(name).collect();
            panic!("{}: import circle {}", src.display(), c.join(" -> "));
        }
    }
}

#[test]
fn the_circle_check_finds_a_circle() {
    // GIVEN a crate whose config composes a section that reaches back to config
    let dir = std::env::temp_dir().join(format!("layout-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("creatio")).unwrap();
    std::fs::write(
        dir.join("lib.rs"),
        "pub mod config;\npub mod creatio;\npub mod replies;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("config.rs"),
        "pub use crate::creatio::config::X;\n",
    )
    .unwrap();
    std::fs::write(dir.join("creatio/mod.rs"), "pub mod config;\n").unwrap();
    std::fs::write(
        dir.join("creatio/config.rs"),
        "use crate::replies::{Rules, other::Y};\npub struct X;\n",
    )
    .unwrap();
    std::fs::write(dir.join("replies.rs"), "use crate::config::X;\n").unwrap();
    // WHEN the check reads it THEN it names the circle
    let found = cycle(&edges(&modules(&dir))).map(|c| c.iter().map(name).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).ok();
    let found = found.expect("a circle");
    for m in ["config", "creatio::config", "replies"] {
        assert!(found.contains(&m.to_owned()), "{found:?}");
    }
}

#[test]
fn no_test_or_bench_spells_a_deps_literal() {
    let root = root();
    let literal = regex_lite::Regex::new(r"\b[A-Za-z_:]*Deps\s*\{").expect("a valid pattern");
    let mut files = Vec::new();
    for dir in [
        "tests",
        "bench",
        "cli/tests",
        "shared/tests",
        "local",
        "fuzz",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    for f in std::fs::read_dir(root.join("functions")).expect("functions/") {
        rust_files(&f.expect("an entry").path().join("tests"), &mut files);
    }
    let mut found = Vec::new();
    for file in files {
        let code = std::fs::read_to_string(&file).expect("readable");
        for (n, line) in code.lines().enumerate() {
            let l = line.trim_start();
            if literal.is_match(l)
                && !l.starts_with("//")
                && !l.contains("struct ")
                && !l.contains("impl ")
                && !l.contains("fn ")
                && !l.contains("literal")
            {
                found.push(format!("{}:{}: {}", file.display(), n + 1, l));
            }
        }
    }
    assert!(
        found.is_empty(),
        "build deps with from_config over test_support::config instead:\n{}",
        found.join("\n")
    );
}

/// The variables the functions read: the names the configuration readers are called with
/// (`var(src, "X")`, `secret(src, "X")`, …, `std::env::var("X")`), the AWS endpoint list and the
/// secrets' list (`casebridge::secrets::SECRETS`, with their `_PARAMETER` variables).
fn variables_read() -> BTreeSet<String> {
    let call = regex_lite::Regex::new(
        r#"\b(?:var|secret|guid|guid_or|guid_list|bool_var|positive|lower_list|required|env::var)\(\s*(?:[a-z_]+,\s*)?"([A-Z][A-Z0-9_]+)""#,
    )
    .expect("a valid pattern");
    // The AWS endpoint list, and the secrets with the variables naming their SSM parameters.
    let listed = regex_lite::Regex::new(
        r#"(?:ENDPOINT_VARIABLES: \[&str; \d+\]|SECRETS: \[\(&str, &str\); \d+\]) = \[([^\]]*)\]"#,
    )
    .expect("a valid pattern");
    let quoted = regex_lite::Regex::new(r#""([A-Z][A-Z0-9_]+)""#).expect("a valid pattern");
    let root = root();
    let mut files = Vec::new();
    rust_files(&root.join("shared/src"), &mut files);
    for f in std::fs::read_dir(root.join("functions")).expect("functions/") {
        rust_files(&f.expect("an entry").path().join("src"), &mut files);
    }
    let mut names = BTreeSet::new();
    for file in files {
        let code = code_of(&file);
        names.extend(call.captures_iter(&code).map(|c| c[1].to_owned()));
        for list in listed.captures_iter(&code) {
            names.extend(quoted.captures_iter(&list[1]).map(|c| c[1].to_owned()));
        }
    }
    names
}

/// The variables docs/configuration.md documents: the first cell of each table row.
fn variables_documented() -> BTreeSet<String> {
    let row = regex_lite::Regex::new(r"^\| `([A-Z][A-Z0-9_]+)` \|").expect("a valid pattern");
    let page = std::fs::read_to_string(root().join("docs/configuration.md"))
        .expect("docs/configuration.md");
    page.lines()
        .filter_map(|l| row.captures(l).map(|c| c[1].to_owned()))
        .collect()
}

#[test]
fn the_configuration_page_lists_exactly_the_variables_the_code_reads() {
    let read = variables_read();
    let documented = variables_documented();
    assert!(read.len() > 40, "the readers were not found: {read:?}");
    let undocumented: Vec<_> = read.difference(&documented).collect();
    let unread: Vec<_> = documented.difference(&read).collect();
    assert!(
        undocumented.is_empty() && unread.is_empty(),
        "docs/configuration.md is out of step with the code:\n  read but not documented: {undocumented:?}\n  documented but not read: {unread:?}"
    );
}
