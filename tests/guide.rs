//! The user guide (docs/guide/) holds together: every relative link in it, and in the
//! README, leads to a file of the repository (and, with `#anchor`, to a heading of that
//! page); the mode pictures are what their Graphviz sources draw; and no page a user reads
//! cites files users do not have.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The guide's pages, plus the other Markdown pages users read.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&root().join("docs/guide"), &mut v);
    for extra in ["README.md", "docs/TOPOLOGY.md", "docs/MODES.md"] {
        v.push(root().join(extra));
    }
    v.sort();
    v
}

/// Link targets of `[text](target)` in Markdown, outside code blocks and inline code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop inline code spans, which may hold `[x](y)`-looking text.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// Written on another branch (the NixOS module's own page); linked from the index.
const ELSEWHERE: &[&str] = &["docs/guide/nixos.md"];

#[test]
fn every_relative_link_leads_to_a_file_and_heading() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("read page");
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let file = if path.is_empty() {
                page.clone()
            } else {
                page.parent().expect("page dir").join(path)
            };
            let rel = file
                .canonicalize()
                .ok()
                .and_then(|f| f.strip_prefix(root()).ok().map(Path::to_path_buf));
            let shown = format!(
                "{}: ({target})",
                page.strip_prefix(root()).unwrap().display()
            );
            let Some(rel) = rel else {
                let lexical = normalize(&file);
                if !ELSEWHERE.iter().any(|e| lexical.ends_with(e)) {
                    broken.push(format!("{shown}: no such file"));
                }
                continue;
            };
            if let Some(a) = anchor
                && rel.extension().is_some_and(|x| x == "md")
            {
                let t = std::fs::read_to_string(root().join(&rel)).expect("read target");
                if !anchors(&t).contains(a) {
                    broken.push(format!("{shown}: no heading #{a} in {}", rel.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(p: &Path) -> String {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            other => parts.push(other.as_os_str()),
        }
    }
    parts
        .iter()
        .map(|s| s.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_guide_lists_every_mode_and_recipe_page() {
    let index = std::fs::read_to_string(root().join("docs/guide/README.md")).expect("index");
    let listed: BTreeSet<String> = links(&index)
        .into_iter()
        .map(|l| l.split('#').next().unwrap_or_default().to_owned())
        .collect();
    for dir in ["modes", "recipes", "reference"] {
        for e in std::fs::read_dir(root().join("docs/guide").join(dir)).expect("guide dir") {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            if name.ends_with(".md") && name != "README.md" {
                let page = format!("{dir}/{name}");
                assert!(
                    listed.contains(&page),
                    "docs/guide/README.md does not link {page}"
                );
            }
        }
    }
}

#[test]
fn the_mode_pictures_are_current() {
    if Command::new("dot").arg("-V").output().is_err() {
        common::skip(
            "Graphviz is not installed: docs/guide/modes/render.sh --check needs `dot` (Debian: apt-get install graphviz)",
        );
        return;
    }
    let out = Command::new("bash")
        .arg(root().join("docs/guide/modes/render.sh"))
        .arg("--check")
        .output()
        .expect("run render.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for mode in ["vepa", "bridge", "private", "passthru", "source"] {
        let page = std::fs::read_to_string(root().join(format!("docs/guide/modes/{mode}.md")))
            .expect("mode page");
        assert!(
            page.contains(&format!("({mode}.svg)")),
            "{mode}.md does not show {mode}.svg"
        );
    }
}

/// Files users have that are not Markdown pages: examples, the systemd unit, the Nix files
/// (their descriptions and option texts), the scripts the README points at.
fn other_user_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("flake.nix")];
    for dir in [
        "docs",
        "examples",
        "dist/systemd",
        "dist/systemd/examples",
        "nix",
        "scripts",
    ] {
        for e in std::fs::read_dir(root().join(dir)).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_file() {
                files.push(p);
            }
        }
    }
    files
}

/// What the binary prints for people: `--help` of every command, the man page, the schema
/// (its descriptions show in editors).
fn binary_texts() -> Vec<(String, String)> {
    let bin = env!("CARGO_BIN_EXE_mvtopo");
    let run = |args: &[&str]| {
        let out = Command::new(bin).args(args).output().expect("run mvtopo");
        assert!(out.status.success(), "mvtopo {}", args.join(" "));
        (
            format!("`mvtopo {}`", args.join(" ")),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let mut texts = vec![run(&["--help"]), run(&["man"]), run(&["schema"])];
    for sub in mvtopo::cli::command().get_subcommands() {
        texts.push(run(&[sub.get_name(), "--help"]));
    }
    texts
}

/// Whether `line` cites a file users do not have (the specification, machine notes and
/// style rules the project is developed with) or an issue of the project's tracker
/// ("issue 3", "issue #3").
fn cites_what_users_lack(line: &str) -> bool {
    const FILES: [&str; 5] = [
        "shared/",
        "spec/",
        "ENVIRONMENT.md",
        "NETLINK.md",
        "STYLE.md",
    ];
    if FILES.iter().any(|w| line.contains(w)) {
        return true;
    }
    let lower = line.to_lowercase();
    lower.match_indices("issue").any(|(i, w)| {
        let rest = lower[i + w.len()..].trim_start_matches('s').trim_start();
        rest.trim_start_matches('#')
            .starts_with(|c: char| c.is_ascii_digit())
    })
}

#[test]
fn the_citation_check_catches_what_it_should() {
    for bad in [
        "see spec/TOPOLOGY.md",
        "(ENVIRONMENT.md)",
        "Benchmark W1 (issue 3)",
        "fixed in Issue #12",
        "issues 4 and 5",
    ] {
        assert!(cites_what_users_lack(bad), "{bad}");
    }
    for good in [
        "[docs/TOPOLOGY.md](docs/TOPOLOGY.md)",
        "the issue persists",
        "docs/guide/reference/file-format.md",
    ] {
        assert!(!cites_what_users_lack(good), "{good}");
    }
}

#[test]
fn user_facing_text_cites_no_file_users_lack() {
    let mut texts: Vec<(String, String)> = pages()
        .into_iter()
        .chain(other_user_files())
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            (f.strip_prefix(root()).unwrap().display().to_string(), text)
        })
        .collect();
    texts.extend(binary_texts());
    let mut bad = Vec::new();
    for (name, text) in &texts {
        for (n, line) in text.lines().enumerate() {
            if cites_what_users_lack(line) {
                bad.push(format!("{name}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(texts.len() > 40, "only {} texts read", texts.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
