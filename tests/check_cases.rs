//! Golden cases for `mvtopo check`: one test per `tests/cases/check-*/` directory. Each holds
//! `topology.toml` and `expected.txt`: the plain rendering of the check error, or `ok`.
//! `UPDATE_GOLDEN=1 cargo test --test check_cases` rewrites the expected files.

use std::path::{Path, PathBuf};

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
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir()
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("check-"))
                })
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no check-* cases under {}",
        root.display()
    );
    let trials = dirs
        .into_iter()
        .map(|dir| {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Trial::test(name, move || run(&dir))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
