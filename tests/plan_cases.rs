//! Golden plan cases: one test per `tests/cases/plan-*/` directory.
//!
//! Each directory holds `topology.toml`, `live.json` (a `LiveState`) and either
//! `expected.json` (the plan, pretty JSON) or `expected-error.txt` (the plan error, as
//! rendered below). `UPDATE_GOLDEN=1 cargo test --test plan_cases` rewrites the expected
//! files. Every successful plan is also applied to the fake kernel, and the topology must
//! then diff to nothing: a golden plan that does not converge fails.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fmt::Write as _;
use std::path::Path;

use libtest_mimic::{Arguments, Failed};
use miette::Diagnostic;
use mvtopo::diff::diff;
use mvtopo::fake::FakeBackend;
use mvtopo::live::LiveState;

fn main() {
    let args = Arguments::from_args();
    libtest_mimic::run(&args, common::cases::trials("plan-", run)).exit();
}

fn read(path: &Path) -> Result<String, Failed> {
    std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()).into())
}

/// A plan error as plain text: the message, its help, and the same for each related
/// problem, indented. (Spans are left out: they belong to the CLI's rendering.)
fn render(d: &dyn Diagnostic, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let code = d.code().map(|c| format!(" [{c}]")).unwrap_or_default();
    let _ = writeln!(out, "{pad}{d}{code}");
    if let Some(help) = d.help() {
        let _ = writeln!(out, "{pad}  help: {help}");
    }
    if let Some(related) = d.related() {
        for r in related {
            render(r, indent + 2, out);
        }
    }
}

fn run(dir: &Path) -> Result<(), Failed> {
    let text = read(&dir.join("topology.toml"))?;
    let topology = mvtopo::check::load_str("topology.toml", &text, "topology")
        .map_err(|e| format!("topology.toml does not load: {e:?}"))?;
    let live: LiveState = serde_json::from_str(&read(&dir.join("live.json"))?)
        .map_err(|e| format!("live.json: {e}"))?;

    let first = diff(&topology, &live);
    let (actual, file, other) = match &first {
        Ok(plan) => {
            let json = serde_json::to_string_pretty(plan).map_err(|e| e.to_string())?;
            (json + "\n", "expected.json", "expected-error.txt")
        }
        Err(e) => {
            let mut s = String::new();
            render(e, 0, &mut s);
            (s, "expected-error.txt", "expected.json")
        }
    };

    // Same input, same plan, byte for byte.
    let again = match diff(&topology, &live) {
        Ok(p) => serde_json::to_string_pretty(&p).map_err(|e| e.to_string())? + "\n",
        Err(e) => {
            let mut s = String::new();
            render(&e, 0, &mut s);
            s
        }
    };
    if again != actual {
        return Err("two plans of the same input differ".into());
    }

    if let Ok(plan) = &first {
        let mut fake = FakeBackend::new(live.clone());
        for (i, step) in plan.steps.iter().enumerate() {
            use mvtopo::apply::backend::Backend;
            fake.execute(step, &topology.name).map_err(|e| {
                format!("step {i} ({}) fails on the fake kernel: {e}", step.action())
            })?;
        }
        let after = diff(&topology, &fake.state).map_err(|e| format!("re-plan: {e}"))?;
        if !after.in_sync {
            return Err(format!(
                "applying the plan does not converge; still to do: {}",
                serde_json::to_string_pretty(&after.steps).unwrap_or_default()
            )
            .into());
        }
    }

    let path = dir.join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).map_err(|e| format!("write {}: {e}", path.display()))?;
        let _ = std::fs::remove_file(dir.join(other));
        return Ok(());
    }
    if dir.join(other).exists() {
        return Err(format!(
            "expected {other}, got {file}:\n{actual}\n(UPDATE_GOLDEN=1 rewrites the expected files)"
        )
        .into());
    }
    let expected = read(&path)?;
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, &actual)
            .unified_diff()
            .header(file, "actual")
            .to_string();
        return Err(format!("{file} differs (UPDATE_GOLDEN=1 rewrites it):\n{diff}").into());
    }
    Ok(())
}
