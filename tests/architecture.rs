//! The shape of the source tree, as docs/DESIGN.md states it: the modules' `crate::`
//! imports run one way (no circle between top-level modules), every module opens with the
//! line that says what it owns, DESIGN.md's module table names every source file and only
//! files that exist, no product file is over 800 lines, and no function over 80 without
//! its reason beside it.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under src/, relative to the repository (`src/diff/mod.rs`), sorted.
fn sources() -> Vec<String> {
    let mut out: Vec<String> = common::rust_files(&root().join("src"))
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(root()).unwrap();
            rel.to_string_lossy().replace('\\', "/")
        })
        .collect();
    out.sort();
    out
}

/// The top-level module a source file belongs to (`src/diff/order.rs` → `diff`); `None` for
/// the crate roots and binaries.
fn top_module(file: &str) -> Option<String> {
    let rest = file.strip_prefix("src/")?;
    if rest.starts_with("bin/") || rest == "lib.rs" || rest == "main.rs" {
        return None;
    }
    let first = rest.split('/').next()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

/// A file's product code: without its `#[cfg(test)]` unit-test module (tests may reach
/// for any fixture) and without comments.
fn product_code(text: &str) -> String {
    product_lines(text)
        .into_iter()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` names through `crate::`: `crate::a::B`, and each item of a
/// `use crate::{a::B, c, d::{E, F}}` group.
fn crate_imports(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The group's top-level entries, up to its closing brace.
            let (mut depth, mut start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(group[start..i].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(group[start..i].trim()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

/// Top-level module → the other top-level modules its product code imports.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in product_files() {
        let Some(module) = top_module(&file) else {
            continue;
        };
        let mut imports = crate_imports(&product_code(&text));
        imports.remove(&module);
        graph.entry(module).or_default().extend(imports);
    }
    graph
}

/// A circle in `graph`, as the modules along it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // Depth-first search with the path on a stack: an edge back into the path closes a circle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut vec![], &mut done))
}

#[test]
fn the_module_graph_has_no_circle() {
    let graph = module_graph();
    // The check sees the imports it must: a few arrows the design states.
    for (from, to) in [
        ("diff", "graph"),
        ("check", "resolve"),
        ("apply", "plan"),
        ("kernel", "apply"),
        ("cli", "kernel"),
    ] {
        assert!(
            graph.get(from).is_some_and(|t| t.contains(to)),
            "{from} should import {to}; the import scan missed it: {graph:?}"
        );
    }
    if let Some(circle) = find_circle(&graph) {
        panic!(
            "the modules import each other in a circle: {}",
            circle.join(" → ")
        );
    }
}

#[test]
fn the_circle_check_finds_a_circle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        find_circle(&graph),
        Some(
            vec!["a", "b", "c", "a"]
                .into_iter()
                .map(String::from)
                .collect()
        )
    );
    graph.get_mut("c").unwrap().clear();
    assert_eq!(find_circle(&graph), None);
    assert_eq!(
        crate_imports("use crate::{a::B, c, d::{E, F}};\nlet x = crate::e::f();"),
        ["a", "c", "d", "e"].into_iter().map(String::from).collect()
    );
}

#[test]
fn every_module_says_what_it_owns_on_its_first_line() {
    let silent: Vec<String> = sources()
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(root().join(f)).unwrap();
            !text.starts_with("//!")
        })
        .collect();
    assert!(
        silent.is_empty(),
        "these files do not open with a `//!` line: {silent:?}"
    );
}

/// The `src/…` paths DESIGN.md names, and the file names it gives in parentheses or
/// backquotes beside a directory (`requests.rs`), per directory row.
fn design_paths(design: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut paths = BTreeSet::new();
    let mut named_in_dirs = BTreeSet::new();
    for line in design.lines().filter(|l| l.starts_with('|')) {
        let quoted: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        let dirs: Vec<&str> = quoted
            .iter()
            .copied()
            .filter(|q| q.starts_with("src/") && q.ends_with('/'))
            .collect();
        for q in &quoted {
            if q.starts_with("src/") {
                paths.insert(q.to_string());
            } else if q.ends_with(".rs") && !q.contains('/') {
                for d in &dirs {
                    named_in_dirs.insert(format!("{d}{q}"));
                }
            }
        }
    }
    (paths, named_in_dirs)
}

#[test]
fn the_design_table_names_every_source_file_and_only_real_ones() {
    let design = std::fs::read_to_string(root().join("docs/DESIGN.md")).unwrap();
    let (paths, named) = design_paths(&design);
    let files = sources();
    let missing: Vec<&String> = paths
        .iter()
        .chain(named.iter())
        .filter(|p| !root().join(PathBuf::from(p.as_str())).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "docs/DESIGN.md names files that do not exist: {missing:?}"
    );
    // A file is covered when the table names it, or names its directory (a directory row
    // speaks for its `mod.rs` and the files it lists).
    let uncovered: Vec<&String> = files
        .iter()
        .filter(|f| top_module(f).is_some() || f.starts_with("src/bin/"))
        .filter(|f| {
            let dir = f.rsplit_once('/').map(|(d, _)| format!("{d}/"));
            let covered_by_dir = dir.as_ref().is_some_and(|d| {
                paths.contains(d) && (f.ends_with("/mod.rs") || named.contains(*f))
            });
            !paths.contains(*f) && !covered_by_dir
        })
        .collect();
    assert!(
        uncovered.is_empty(),
        "docs/DESIGN.md's module table does not name these files: {uncovered:?}"
    );
}

/// A file's product lines: up to its `#[cfg(test)]` unit-test module.
fn product_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod "))
        .unwrap_or(lines.len());
    lines[..end].to_vec()
}

/// The product files with their text: a unit-test module in a file of its own (`mod
/// tests;` under `#[cfg(test)]`, `tests.rs`) is test code, like an inline one.
fn product_files() -> Vec<(String, String)> {
    sources()
        .into_iter()
        .filter(|f| !f.ends_with("/tests.rs"))
        .map(|f| {
            let text = std::fs::read_to_string(root().join(&f)).unwrap();
            (f, text)
        })
        .collect()
}

#[test]
fn no_product_file_is_over_800_lines() {
    let long: Vec<String> = product_files()
        .iter()
        .filter_map(|(f, text)| {
            let n = product_lines(text).len();
            (n > 800).then(|| format!("{f}: {n}"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these files (product lines, unit tests left out): {long:?}"
    );
}

/// Functions of `lines` longer than `limit` lines without a reason (a comment within the 8
/// lines above the `fn` saying "long:" or "Long because"), as (name, first line, length).
/// A function runs from its `fn` line to the closing brace at its indentation.
fn unexplained_long_functions(lines: &[&str], limit: usize) -> Vec<(String, usize, usize)> {
    let mut out = vec![];
    for (i, line) in lines.iter().enumerate() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let after_vis = body
            .strip_prefix("pub(crate) ")
            .or_else(|| body.strip_prefix("pub(super) "))
            .or_else(|| body.strip_prefix("pub "))
            .unwrap_or(body);
        let after_quals = ["const ", "async ", "unsafe "]
            .iter()
            .fold(after_vis, |s, q| s.strip_prefix(q).unwrap_or(s));
        let Some(sig) = after_quals.strip_prefix("fn ") else {
            continue;
        };
        if line.trim_end().ends_with(';') {
            continue;
        }
        let close = format!("{indent}}}");
        let Some(end) = lines[i..].iter().position(|l| *l == close) else {
            continue;
        };
        let length = end + 1;
        let reason = lines[i.saturating_sub(8)..i]
            .iter()
            .any(|a| a.contains("long:") || a.contains("Long because"));
        if length > limit && !reason {
            let name: String = sig
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push((name, i + 1, length));
        }
    }
    out
}

#[test]
fn no_product_function_is_over_80_lines_without_a_reason() {
    let long: Vec<String> = product_files()
        .iter()
        .flat_map(|(f, text)| {
            unexplained_long_functions(&product_lines(text), 80)
                .into_iter()
                .map(move |(name, line, n)| format!("{f}:{line} {name}: {n} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these functions, or say beside them why they are long (a comment with \
         \"long:\"): {long:?}"
    );
    // The scan finds a long function when there is one.
    let mut sample = vec!["pub fn f() {"];
    sample.extend(std::iter::repeat_n("    x();", 81));
    sample.push("}");
    assert_eq!(
        unexplained_long_functions(&sample, 80),
        [("f".to_owned(), 1, 83)]
    );
    // And in the tree: without its reason, `cli::run`'s dispatch is found.
    let cli = std::fs::read_to_string(root().join("src/cli/mod.rs")).unwrap();
    let bare: Vec<&str> = product_lines(&cli)
        .into_iter()
        .filter(|l| !l.contains("long:") && !l.contains("Long because"))
        .collect();
    assert!(
        unexplained_long_functions(&bare, 80)
            .iter()
            .any(|(name, ..)| name == "run")
    );
    let mut explained = vec!["// long: one arm per kind"];
    explained.extend(sample);
    assert!(unexplained_long_functions(&explained, 80).is_empty());
}
