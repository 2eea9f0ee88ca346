//! Golden cases for `mvtopo check`: one test per `tests/cases/check-*/` directory. Each holds
//! `topology.toml` and `expected.txt`: the plain rendering of the check error, or `ok`.
//! `UPDATE_GOLDEN=1 cargo test --test check_cases` rewrites the expected files. And per
//! case, `exit_code::CASE`: the binary's exit status and output streams agree with it.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};
use mvtopo::check::load_str;
use mvtopo::load::render_plain;

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
    let mut trials = common::cases::trials("check-", run);
    trials.extend(common::cases::dirs("check-").into_iter().map(|dir| {
        let name = common::cases::name(&dir);
        Trial::test(format!("exit_code::{name}"), move || exit_code(&name, &dir))
    }));
    trials.push(Trial::test("there_is_a_case_per_rule", || {
        let n = common::cases::dirs("check-").len();
        if n >= 40 {
            Ok(())
        } else {
            Err(format!("only {n} check cases").into())
        }
    }));
    libtest_mimic::run(&args, trials).exit();
}

/// `mvtopo check` on the case: 0 and "valid" where the golden output is `ok`, otherwise 65
/// with a diagnostic on stderr and nothing on stdout.
fn exit_code(name: &str, dir: &Path) -> Result<(), Failed> {
    let expected = std::fs::read_to_string(dir.join("expected.txt"))
        .map_err(|e| format!("{name}/expected.txt: {e}"))?;
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mvtopo"))
        .args(["check", &dir.join("topology.toml").display().to_string()])
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| format!("run mvtopo: {e}"))?;
    let (code, stdout, stderr) = (common::code(&o), common::stdout(&o), common::stderr(&o));
    let ok = if expected.trim() == "ok" {
        code == 0 && stdout.contains("valid")
    } else {
        code == 65 && stderr.contains("mvtopo::check") && stdout.is_empty()
    };
    if ok {
        return Ok(());
    }
    Err(format!("{name}: exit {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}").into())
}
