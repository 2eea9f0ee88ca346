//! The test targets that run without libtest's harness (`harness = false` in Cargo.toml:
//! libtest-mimic, one trial per case) list their trials themselves: a `#[test]` function
//! written into one would compile and never run. None has one.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

#[test]
fn no_test_target_without_the_harness_has_a_test_attribute() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let targets = manifest["test"].as_array().expect("[[test]] targets");
    let mut checked = 0;
    for t in targets {
        if t.get("harness").and_then(toml::Value::as_bool) != Some(false) {
            continue;
        }
        let name = t["name"].as_str().unwrap();
        let path = t
            .get("path")
            .and_then(toml::Value::as_str)
            .map_or_else(|| format!("tests/{name}.rs"), str::to_owned);
        let text = std::fs::read_to_string(root.join(&path)).unwrap();
        let found: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with("#[test]"))
            .map(|(i, _)| i + 1)
            .collect();
        assert!(
            found.is_empty(),
            "{path} runs without the harness: its #[test] at lines {found:?} never runs; \
             add them to its trials in main()"
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} targets without the harness");
}
