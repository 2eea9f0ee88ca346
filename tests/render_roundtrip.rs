//! Round trips through the loader: what `render` prints, `load` reads back as the same
//! topology, and `show`'s output is a valid file.

mod render_support;

use mvtopo::model::{ParentKind, Topology};
use mvtopo::names::Mode;
use mvtopo::render;
use render_support::*;

fn load(text: &str) -> Topology {
    match mvtopo::check::load_str("lab.toml", text, "lab") {
        Ok(t) => t,
        Err(e) => panic!("loading the rendered file failed: {e:?}\n{text}"),
    }
}

#[test]
fn topology_toml_loads_back_equal() {
    let t = rich();
    let text = render::topology_toml(&t);
    assert_eq!(load(&text), t);
}

#[test]
fn quoted_and_escaped_names_load_back_equal() {
    let mut t = topology(
        "lab.one_2",
        &["my \"ns\"\\", "red"],
        vec![parent("eth1.10", ParentKind::Existing, Some(1500))],
        vec![macvlan(Some("my \"ns\"\\"), "mv0", "eth1.10", Mode::Bridge)],
    );
    t.macvlans[0].up = false;
    assert_eq!(load(&render::topology_toml(&t)), t);
}

/// Every file the project itself calls valid: the examples and the `check` cases whose
/// expected output is `ok`.
fn valid_files() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    for entry in std::fs::read_dir(root.join("tests/cases")).unwrap() {
        let dir = entry.unwrap().path();
        let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap_or_default();
        if expected.trim() == "ok" {
            files.push(dir.join("topology.toml"));
        }
    }
    files.sort();
    assert!(files.len() >= 4, "too few valid files found: {files:?}");
    files
}

#[test]
fn every_valid_file_round_trips() {
    for path in valid_files() {
        let source = std::fs::read_to_string(&path).unwrap();
        let t = match mvtopo::check::load_str(&path.display().to_string(), &source, "lab") {
            Ok(t) => t,
            Err(e) => panic!("{}: {e:?}", path.display()),
        };
        let text = render::topology_toml(&t);
        let again = load(&text);
        assert_eq!(again, t, "{}:\n{text}", path.display());
        // Canonical: printing what was read from canonical text gives the same text.
        assert_eq!(render::topology_toml(&again), text, "{}", path.display());
    }
}

#[test]
fn show_output_loads() {
    for live in [applied(), drifted()] {
        let t = load(&render::show_toml(&live, Some("lab")));
        assert_eq!(t.name, "lab");
        assert!(!t.macvlans.is_empty());
    }
    // Without an owner it is still a valid file (the name comes from the file's stem).
    let t = load(&render::show_toml(&drifted(), None));
    assert_eq!(t.macvlans.len(), 6);
}
