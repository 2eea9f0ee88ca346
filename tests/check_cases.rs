//! Golden cases for `mvtopo check`: one test per `tests/cases/check-*/` directory. Each holds
//! `topology.toml` and `expected.txt`: the plain rendering of the check error, or `ok`.
//! `UPDATE_GOLDEN=1 cargo test --test check_cases` rewrites the expected files.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use libtest_mimic::{Arguments, Failed};
use mvtopo::load::{load_str, render_plain};

fn run(dir: &Path) -> Result<(), Failed> {
    let input = dir.join("topology.toml");
    let text =
        std::fs::read_to_string(&input).map_err(|e| format!("read {}: {e}", input.display()))?;
    // A fixed source name keeps the output independent of where the tests run.
    let actual = match load_str("topology.toml", &text, "topology") {
        Ok(_) => "ok\n".to_owned(),
        Err(e) => render_plain(&e),
    };
    let expected_path = dir.join("expected.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &actual)
            .map_err(|e| format!("write {}: {e}", expected_path.display()))?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(&expected_path).map_err(|e| {
        format!(
            "read {}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            expected_path.display()
        )
    })?;
    if expected == actual {
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(&expected, &actual);
    let mut out = format!(
        "{} differs from the actual output:\n",
        expected_path.display()
    );
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "-",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Equal => " ",
        };
        out.push_str(sign);
        out.push_str(change.as_str().unwrap_or(""));
        if change.missing_newline() {
            out.push('\n');
        }
    }
    Err(out.into())
}

fn main() {
    let args = Arguments::from_args();
    libtest_mimic::run(&args, common::cases::trials("check-", run)).exit();
}
