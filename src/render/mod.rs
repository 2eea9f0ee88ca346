//! Everything mvtopo prints for a person: topology TOML, the live view and drift diff, plan
//! step lines and summaries, JSON. Rendering only formats values; it makes no decisions.

mod doc;
mod dot;
mod steps;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt::Write as _;

use similar::{Algorithm, ChangeTag};

use crate::live::LiveState;
use crate::model::Topology;
use crate::plan::{Action, Plan};

pub(crate) use doc::{key as toml_key, string as toml_string};
pub use dot::to_dot;
pub use steps::step_line;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";

/// Canonical topology TOML in the spec's format for a validated Topology. Must parse back with
/// `check::load_str` into an equal Topology (round trip).
pub fn topology_toml(t: &Topology) -> String {
    doc::from_topology(t).into_toml()
}

/// The live counterpart of `t`, in the same format and canonical order, so a line diff of the
/// two shows exactly the drift: for each object in `t`, what the kernel has under that identity
/// (fields the file leaves unset, like `mac`/`mtu` when omitted, are left out so they never
/// show as a difference); objects owned by `t.name` that are not in the file are included
/// (they will be pruned); objects missing live are left out.
pub fn live_view_toml(t: &Topology, live: &LiveState) -> String {
    doc::live_view(t, live).into_toml()
}

/// `mvtopo show [FILE]`: the live state as a topology file: named namespaces, the parents that
/// macvlans use (owned veth/dummy/vlan rendered with create=...; others as plain existing
/// parents), and all macvlans (or, with `owner = Some(name)`, only those owned by that
/// topology) with every field the kernel reports. With an owner, every namespace and lab parent
/// it owns is included too, so loading the output (as `name = owner`) and diffing it against
/// the same live state is in sync. Without one, `name` is left out (the file's stem applies).
pub fn show_toml(live: &LiveState, owner: Option<&str>) -> String {
    doc::show(live, owner).into_toml()
}

fn paint(out: &mut String, color: Option<&str>, line: &str) {
    match color {
        Some(c) => {
            // The escape closes before the newline so a pager never carries color over.
            let (body, nl) = match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            };
            let _ = write!(out, "{c}{body}{RESET}{nl}");
        }
        None => out.push_str(line),
    }
}

/// What a line may be matched against in a diff: only lines of the same TOML table (its
/// header and, for a `[[macvlan]]` entry, its `name` and `namespace`). A blank line after a
/// `[[...]]` entry belongs to that entry; one after a `[kind.NAME]` table to any table of that
/// kind, so the separator of a group of tables is common to both sides. Without this a removed
/// `[[macvlan]]` entry and a changed one would interleave on their common `up = true`, and the
/// diff would no longer say which object drifted. Text without table headers is one table, so
/// it diffs line by line as usual.
///
/// Each table is named by a small integer (`ids` interns the names, shared by both sides of
/// a diff), so matching a line costs a hash of the line and an integer, not of its table's
/// name: the diff of a 10,000-macvlan plan has hundreds of thousands of lines.
fn table_keys(lines: &[&str], ids: &mut HashMap<String, u32>) -> Vec<u32> {
    let mut intern = |name: String| -> u32 {
        let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        *ids.entry(name).or_insert(next)
    };
    let mut keys = Vec::with_capacity(lines.len());
    let mut table = intern(String::new());
    let mut after = table;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("[[") {
            // An array-of-tables entry is named by its keys, not its header.
            let mut name = line.trim_end().to_owned();
            for l in lines[i + 1..].iter().take_while(|l| !l.starts_with('[')) {
                if l.starts_with("name =") || l.starts_with("namespace =") {
                    name.push('\n');
                    name.push_str(l.trim_end());
                }
            }
            table = intern(name);
            after = table;
        } else if line.starts_with('[') {
            let name = line.trim_end();
            let kind = name.split('.').next().unwrap_or_default().to_owned();
            table = intern(name.to_owned());
            after = intern(kind);
        }
        keys.push(if line.trim().is_empty() { after } else { table });
    }
    keys
}

/// Unified diff (3 lines of context) with headers `--- OLD_NAME` / `+++ NEW_NAME`; colored
/// (red -, green +, cyan @@, bold headers) only when `color`. Empty when the texts are equal.
/// Lines are matched within their TOML table only (see `table_keys`).
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str, color: bool) -> String {
    // Equal texts (every in-sync plan) diff to nothing: skip the line matching, which
    // for a large topology costs more than making the texts.
    if old == new {
        return String::new();
    }
    let pick = |c: &'static str| color.then_some(c);
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    // Each (table, line) pair becomes one integer, equal exactly when the pairs are: the
    // diff then hashes and compares integers, not text, and finds the same matching.
    fn keyed<'s>(
        lines: &[&'s str],
        tables: &mut HashMap<String, u32>,
        seen: &mut foldhash::HashMap<(u32, &'s str), usize>,
    ) -> Vec<usize> {
        let keys = table_keys(lines, tables);
        let mut out = Vec::with_capacity(lines.len());
        for (table, line) in keys.into_iter().zip(lines.iter().copied()) {
            let next = seen.len();
            out.push(*seen.entry((table, line)).or_insert(next));
        }
        out
    }
    let mut tables = HashMap::new();
    // A fast hash, not a DoS-resistant one: the lines are the tool's own rendering.
    let mut seen = foldhash::HashMap::default();
    let old_keyed = keyed(&old_lines, &mut tables, &mut seen);
    let new_keyed = keyed(&new_lines, &mut tables, &mut seen);
    // Patience anchors on lines that occur once, which table headers mostly do.
    let ops = similar::capture_diff_slices(Algorithm::Patience, &old_keyed, &new_keyed);
    let mut out = String::new();
    let hunks = similar::group_diff_ops(ops, 3);
    for (i, hunk) in hunks.iter().filter(|h| !h.is_empty()).enumerate() {
        if i == 0 {
            paint(
                &mut out,
                pick(BOLD),
                &format!("--- {}\n", steps::printable(old_name)),
            );
            paint(
                &mut out,
                pick(BOLD),
                &format!("+++ {}\n", steps::printable(new_name)),
            );
        }
        let header = similar::udiff::UnifiedHunkHeader::new(hunk);
        paint(&mut out, pick(CYAN), &format!("{header}\n"));
        for op in hunk {
            for change in op.iter_changes(&old_lines, &new_lines) {
                let (sign, c) = match change.tag() {
                    ChangeTag::Delete => ('-', pick(RED)),
                    ChangeTag::Insert => ('+', pick(GREEN)),
                    ChangeTag::Equal => (' ', None),
                };
                let value = change.value();
                match (value.strip_suffix('\n'), c) {
                    // The common case, without a line's worth of temporary string.
                    (Some(_), None) => {
                        out.push(sign);
                        out.push_str(value);
                    }
                    (Some(_), Some(_)) => paint(&mut out, c, &format!("{sign}{value}")),
                    (None, _) => {
                        paint(&mut out, c, &format!("{sign}{value}\n"));
                        out.push_str("\\ No newline at end of file\n");
                    }
                }
            }
        }
    }
    out
}

fn marker_color(step: &crate::plan::Step) -> &'static str {
    use crate::plan::Step;
    match step {
        Step::Create { .. } => GREEN,
        Step::Update { .. } => YELLOW,
        Step::Replace { .. } => MAGENTA,
        Step::Delete { .. } => RED,
    }
}

/// Numbered steps, notes and the summary line; `in_sync` is the summary when the plan is in sync.
fn steps_body(plan: &Plan, color: bool, in_sync: &str) -> String {
    let mut out = String::new();
    let width = plan.steps.len().to_string().len();
    for (i, step) in plan.steps.iter().enumerate() {
        let line = step_line(step);
        let _ = write!(out, "  {:>width$}. ", i + 1);
        match line.split_once(' ') {
            Some((marker, rest)) if color => {
                let _ = writeln!(out, "{}{marker}{RESET} {rest}", marker_color(step));
            }
            _ => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    if !plan.steps.is_empty() {
        out.push('\n');
    }
    for note in &plan.notes {
        let _ = writeln!(out, "note: {}", steps::printable(note));
    }
    if plan.in_sync {
        let _ = writeln!(out, "{}", steps::printable(in_sync));
    } else {
        let count = |a: Action| plan.steps.iter().filter(|s| s.action() == a).count();
        let _ = writeln!(
            out,
            "plan: {} to create, {} to update, {} to replace, {} to delete",
            count(Action::Create),
            count(Action::Update),
            count(Action::Replace),
            count(Action::Delete)
        );
    }
    out
}

/// The whole human output of `plan` / `apply --dry-run`: the unified diff of the live view vs
/// the file (omitted when identical), then numbered steps `  1. + create ...` (colored marker
/// when `color`), plan notes, and a summary line: `plan: 3 to create, 1 to update, 0 to
/// replace, 2 to delete`, or `no changes: the live state matches lab` when in sync.
pub fn plan_text(
    plan: &Plan,
    t: &Topology,
    live: &LiveState,
    file_name: &str,
    color: bool,
) -> String {
    let body = steps_body(
        plan,
        color,
        &format!("no changes: the live state matches {}", plan.topology),
    );
    // In sync, the live view renders as the file does (what the plan compares is what the
    // view shows): rendering both and diffing them would print nothing, at the cost of two
    // whole documents (a third of a no-op re-apply's time at 10,000 macvlans).
    if plan.in_sync {
        return body;
    }
    let diff = unified_diff(
        &live_view_toml(t, live),
        &topology_toml(t),
        "live",
        file_name,
        color,
    );
    if diff.is_empty() {
        body
    } else {
        format!("{diff}\n{body}")
    }
}

/// `--format json`: the Plan as one pretty JSON object, as docs/TOPOLOGY.md says:
/// `{"topology": ..., "in_sync": bool, "steps": [{"action": ...}, ...], "notes": [...]}`,
/// without a final newline (the caller prints it with `println!`).
pub fn plan_json(plan: &Plan) -> String {
    match serde_json::to_string_pretty(plan) {
        Ok(s) => s,
        // A Plan has only string map keys, so this cannot happen; if it ever did, the output
        // is still one JSON object, and it says what went wrong.
        Err(e) => format!(
            "{{\"error\": {}}}",
            serde_json::Value::String(format!("serializing the plan: {e}"))
        ),
    }
}

/// The output for destroy's human plan: numbered steps, notes and the summary, no diff.
pub fn steps_text(plan: &Plan, color: bool) -> String {
    steps_body(
        plan,
        color,
        &format!("no changes: nothing to do for {}", plan.topology),
    )
}

/// Whether to color: stdout is a TTY and NO_COLOR is unset or empty (https://no-color.org).
pub fn use_color(is_tty: bool) -> bool {
    color_wanted(is_tty, std::env::var_os("NO_COLOR").as_deref())
}

/// `use_color` without the environment, so it can be tested.
fn color_wanted(is_tty: bool, no_color: Option<&OsStr>) -> bool {
    is_tty && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_wins_unless_empty() {
        assert!(color_wanted(true, None));
        assert!(color_wanted(true, Some(OsStr::new(""))));
        assert!(!color_wanted(true, Some(OsStr::new("1"))));
        assert!(!color_wanted(false, None));
        assert!(!color_wanted(false, Some(OsStr::new(""))));
    }

    #[test]
    fn toml_strings_escape_what_toml_requires() {
        assert_eq!(doc::string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(doc::string("a\nb\t\u{7f}\u{1}"), r#""a\nb\t\u007F\u0001""#);
        assert_eq!(doc::string("rød"), "\"rød\"");
        assert_eq!(doc::key("eth1"), "eth1");
        assert_eq!(doc::key("my_ns-2"), "my_ns-2");
        assert_eq!(doc::key("eth1.10"), "\"eth1.10\"");
        assert_eq!(doc::key("a b"), "\"a b\"");
        assert_eq!(doc::key(""), "\"\"");
    }

    proptest::proptest! {
        #[test]
        fn any_string_survives_toml(s in "\\PC*|[\\x00-\\x20\"\\\\.\u{7f}-\u{a0}]*") {
            let text = format!("{} = {}\n", doc::key(&s), doc::string(&s));
            let table: toml::Table = toml::from_str(&text).map_err(|e| {
                proptest::test_runner::TestCaseError::fail(format!("{text:?}: {e}"))
            })?;
            proptest::prop_assert_eq!(table.get(&s).and_then(|v| v.as_str()), Some(s.as_str()));
        }
    }
}
