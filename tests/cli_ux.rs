//! The command line's conveniences, as a user drives them: completions, the man page, the
//! JSON Schema (validated against every example and golden case), JSON output and errors,
//! saved plans (without a kernel, through `--state`), standard input, `--color`, `-q`, and
//! `fmt` with its golden cases (`tests/cases/fmt-*`).

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::cases::{dirs as cases, file as case};
use common::{code, root, stderr, stdout, tmp};
use libtest_mimic::{Arguments, Trial};
use serde_json::Value;

fn main() {
    let args = Arguments::from_args();
    let mut trials = common::cases::plain(&[
        ("completions_for_every_shell", completions_for_every_shell),
        ("the_man_page_is_roff", the_man_page_is_roff),
        ("help_lists_the_exit_codes", help_lists_the_exit_codes),
        (
            "every_example_and_valid_case_validates_against_the_schema",
            every_example_and_valid_case_validates_against_the_schema,
        ),
        (
            "invalid_cases_the_schema_can_express_do_not_validate",
            invalid_cases_the_schema_can_express_do_not_validate,
        ),
        (
            "check_json_carries_every_diagnostic_with_its_spans",
            check_json_carries_every_diagnostic_with_its_spans,
        ),
        (
            "every_failure_with_format_json_is_one_error_object",
            every_failure_with_format_json_is_one_error_object,
        ),
        (
            "plan_json_carries_the_format_version_and_state_files_may_omit_it",
            plan_json_carries_the_format_version_and_state_files_may_omit_it,
        ),
        (
            "state_errors_point_into_the_file_in_its_own_words",
            state_errors_point_into_the_file_in_its_own_words,
        ),
        (
            "plan_out_saves_the_plan_and_what_it_was_planned_against",
            plan_out_saves_the_plan_and_what_it_was_planned_against,
        ),
        (
            "a_saved_plan_is_refused_when_what_it_depends_on_changed",
            a_saved_plan_is_refused_when_what_it_depends_on_changed,
        ),
        (
            "a_damaged_or_edited_saved_plan_is_refused",
            a_damaged_or_edited_saved_plan_is_refused,
        ),
        (
            "a_dash_reads_the_topology_from_stdin",
            a_dash_reads_the_topology_from_stdin,
        ),
        (
            "color_follows_the_flag_then_the_terminal_and_no_color",
            color_follows_the_flag_then_the_terminal_and_no_color,
        ),
        ("quiet_prints_errors_only", quiet_prints_errors_only),
        (
            "verbose_and_quiet_do_not_go_together",
            verbose_and_quiet_do_not_go_together,
        ),
        ("fmt_golden_cases", fmt_golden_cases),
        (
            "fmt_rewrites_in_place_and_check_changes_nothing",
            fmt_rewrites_in_place_and_check_changes_nothing,
        ),
    ]);
    for (check, run, dirs) in [
        (
            "check_json_carries_every_diagnostic_with_its_spans",
            check_json_of_an_invalid_case as fn(&Path),
            invalid_check_cases(),
        ),
        ("fmt_golden_cases", fmt_golden_case, cases("fmt-")),
    ] {
        for dir in dirs {
            let name = format!("{check}::{}", common::cases::name(&dir));
            trials.push(Trial::test(name, move || {
                run(&dir);
                Ok(())
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn run(args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mvtopo"));
    cmd.args(args)
        .env_remove("NO_COLOR")
        .envs(envs.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run mvtopo");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for mvtopo")
}

fn mvtopo(args: &[&str]) -> Output {
    run(args, None, &[])
}

/// stdout as exactly one JSON object (serde_json rejects anything after the first value).
fn one_object(o: &Output) -> Value {
    let v: Value = serde_json::from_str(&stdout(o)).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\n{}\n{}",
            stdout(o),
            stderr(o)
        )
    });
    assert!(v.is_object(), "{v}");
    assert_eq!(v["format_version"], 1, "{v}");
    v
}

// ---------------------------------------------------------------------------------------
// completions, man, help

fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = mvtopo(&["completions", shell]);
        assert_eq!(code(&o), 0, "{shell}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("mvtopo"), "{shell}");
        assert!(text.contains("detailed-exitcode"), "{shell}");
    }
    // bash can at least parse its own.
    if Path::new("/bin/bash").exists() {
        let (_d, p) = tmp("mvtopo.bash", &stdout(&mvtopo(&["completions", "bash"])));
        let o = Command::new("bash").args(["-n", &p]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(code(&mvtopo(&["completions", "tcsh"])), 64);
}

fn the_man_page_is_roff() {
    let o = mvtopo(&["man"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let page = stdout(&o);
    assert!(page.contains(".TH mvtopo 1"), "{page}");
    assert!(page.contains("EXIT STATUS"));
    assert!(page.contains("apply"));
    // man(1) renders it without complaint where it is installed.
    if Path::new("/usr/bin/man").exists() {
        let (_d, p) = tmp("mvtopo.1", &page);
        let o = Command::new("man")
            .args(["--warnings", "-l", &p])
            .env("MANWIDTH", "100")
            .env("MAN_KEEP_FORMATTING", "0")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success());
        // Without a terminal man overstrikes bold text ("m\bm"): strip that.
        let mut text = String::new();
        for c in String::from_utf8_lossy(&o.stdout).chars() {
            if c == '\u{8}' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        assert!(text.contains("mvtopo plan"), "{text}");
        assert!(text.contains("EXIT STATUS"), "{text}");
    }
}

fn help_lists_the_exit_codes() {
    for args in [&["--help"][..], &["plan", "--help"], &["apply", "--help"]] {
        let o = mvtopo(args);
        assert_eq!(code(&o), 0);
        let text = stdout(&o);
        assert!(text.contains("Exit status:"), "{args:?}: {text}");
        for c in ["  0 ", "  1 ", "  2 ", "  64 ", "  65 "] {
            assert!(text.contains(c), "{args:?}: {c} missing");
        }
    }
    let o = mvtopo(&["fmt", "--help"]);
    assert!(stdout(&o).contains("canonical layout"), "{}", stdout(&o));
}

// ---------------------------------------------------------------------------------------
// schema

/// The schema as draft 2020-12 (what it declares) and as draft 7: it uses no keyword that
/// draft 7 lacks, so editors whose validator stops at draft 7 (taplo's) read it the same.
fn schema_validators() -> Vec<(&'static str, jsonschema::Validator)> {
    let o = mvtopo(&["schema"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let schema: Value = serde_json::from_str(&stdout(&o)).expect("the schema is JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let v2020 = jsonschema::draft202012::options()
        .build(&schema)
        .expect("a valid draft 2020-12 schema");
    let mut as7 = schema.clone();
    as7["$schema"] = "http://json-schema.org/draft-07/schema#".into();
    let v7 = jsonschema::draft7::options()
        .build(&as7)
        .expect("a valid draft 7 schema");
    vec![("2020-12", v2020), ("draft 7", v7)]
}

/// The file as the JSON value an editor's TOML support validates, or `None` when the TOML
/// has no JSON counterpart (a syntax error, an integer beyond 64 bits).
fn toml_as_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    serde_json::to_value(table).ok()
}

fn every_example_and_valid_case_validates_against_the_schema() {
    let validators = schema_validators();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.extend(
        cases("check-valid-")
            .into_iter()
            .map(|d| d.join("topology.toml")),
    );
    files.extend(cases("fmt-").into_iter().map(|d| d.join("expected.toml")));
    assert!(files.len() >= 5, "{files:?}");
    for f in &files {
        let doc = toml_as_json(f).unwrap_or_else(|| panic!("{} is not TOML", f.display()));
        for (draft, v) in &validators {
            let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{draft}: {}: {errors:?}", f.display());
        }
    }
}

/// Invalid golden cases whose every problem is one a schema can express: keys, types,
/// enums, ranges, shapes, keys that need another key.
const SCHEMA_CATCHES: [&str; 17] = [
    "check-create-unknown",
    "check-interface-name",
    "check-key-not-allowed",
    "check-mac-invalid",
    "check-missing-keys",
    "check-mode-unknown",
    "check-namespace-name",
    "check-routes-on-down-link",
    "check-source-macs-missing",
    "check-source-macs-wrong-mode",
    "check-topology-name",
    "check-type-errors",
    "check-type-tables",
    "check-unknown-key-macvlan",
    "check-unknown-key-parent",
    "check-unknown-key-route",
    "check-unknown-key-top",
];

fn invalid_cases_the_schema_can_express_do_not_validate() {
    let validators = schema_validators();
    for name in SCHEMA_CATCHES {
        let f = common::cases::root().join(name).join("topology.toml");
        let doc = toml_as_json(&f).unwrap_or_else(|| panic!("{name} is not TOML"));
        for (draft, v) in &validators {
            assert!(
                !v.is_valid(&doc),
                "{draft}: {name} validates but check rejects it"
            );
        }
        // ... and check does reject it.
        assert_eq!(code(&mvtopo(&["check", &f.display().to_string()])), 65);
    }
    // Each rule on its own, so that one file's other errors cannot hide a missing rule.
    let base = "[parent.eth1]\n[[macvlan]]\nname = \"mv0\"\nparent = \"eth1\"\n";
    let bad = [
        "mtu = 67\n",
        "mtu = 65536\n",
        "mode = \"brigde\"\n",
        "mac = \"01:00:5e:00:00:01\"\n",
        "mac = \"00:00:00:00:00:00\"\n",
        "up = \"yes\"\n",
        "nmae = \"x\"\n",
        "source-macs = [\"02:00:00:00:00:01\"]\n",
        "mode = \"source\"\n",
        "mode = \"source\"\nsource-macs = []\n",
        "up = false\nroutes = [{ to = \"default\", via = \"10.0.0.1\" }]\n",
        "routes = [{ via = \"10.0.0.1\" }]\n",
    ];
    let good = toml::from_str::<toml::Table>(base).unwrap();
    for (draft, v) in &validators {
        assert!(v.is_valid(&serde_json::to_value(&good).unwrap()), "{draft}");
    }
    for extra in bad {
        let text = format!("{base}{extra}");
        let t: toml::Table = toml::from_str(&text).unwrap();
        for (draft, v) in &validators {
            assert!(
                !v.is_valid(&serde_json::to_value(&t).unwrap()),
                "{draft}: schema accepts {extra:?}"
            );
        }
        let (_d, p) = tmp("t.toml", &text);
        assert_eq!(code(&mvtopo(&["check", &p])), 65, "check accepts {extra:?}");
    }
}

// ---------------------------------------------------------------------------------------
// JSON output and errors

/// `file:line:col` of each problem in a golden case's human rendering.
fn golden_positions(expected: &str) -> Vec<(u64, u64)> {
    expected
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("╭─[topology.toml:"))
        .filter_map(|rest| {
            let (line, col) = rest.trim_end_matches(']').split_once(':')?;
            Some((line.parse().ok()?, col.parse().ok()?))
        })
        .collect()
}

fn check_json_carries_every_diagnostic_with_its_spans() {
    let o = mvtopo(&[
        "check",
        &case("check-valid-minimal", "topology.toml"),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0);
    let v = one_object(&o);
    assert_eq!(v["valid"], true);
    assert_eq!(v["topology"], "topology");
    let n = invalid_check_cases().len();
    assert!(n >= 30, "only {n} invalid cases");
}

/// The golden check cases whose expected output is an error.
fn invalid_check_cases() -> Vec<PathBuf> {
    cases("check-")
        .into_iter()
        .filter(|d| {
            let expected = std::fs::read_to_string(d.join("expected.txt")).unwrap();
            expected.trim() != "ok"
        })
        .collect()
}

/// `check --format json` of one invalid golden case: every problem of its human rendering,
/// with its code, help and spans at the places that rendering points at.
fn check_json_of_an_invalid_case(dir: &Path) {
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let name = common::cases::name(dir);
    let file = dir.join("topology.toml").display().to_string();
    let o = mvtopo(&["check", &file, "--format", "json"]);
    assert_eq!(code(&o), 65, "{name}");
    let v = one_object(&o);
    let e = &v["error"];
    assert_eq!(e["exit_code"], 65, "{name}");
    assert_eq!(e["code"], "mvtopo::check", "{name}");
    let diags = e["diagnostics"].as_array().unwrap();
    let problems = expected
        .lines()
        .filter(|l| l.starts_with("Error: mvtopo::check::"))
        .count();
    assert_eq!(diags.len(), problems, "{name}: {v}");
    let positions = golden_positions(&expected);
    for d in diags {
        assert!(
            d["code"].as_str().unwrap().starts_with("mvtopo::check::"),
            "{name}"
        );
        assert_eq!(d["severity"], "error");
        assert!(!d["message"].as_str().unwrap().is_empty());
        assert!(d.get("help").is_some());
        let primary = d["labels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["primary"] == true)
            .unwrap_or_else(|| panic!("{name}: no primary label: {d}"));
        for k in ["offset", "length", "line", "column"] {
            assert!(primary[k].is_u64(), "{name}: {k} in {primary}");
        }
        // The same places the human rendering points at (it heads each snippet with
        // the position of the first label in it).
        let at = |l: &Value| (l["line"].as_u64().unwrap(), l["column"].as_u64().unwrap());
        assert!(
            d["labels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| positions.contains(&at(l))),
            "{name}: {d} not at any of {positions:?}"
        );
    }
}

fn every_failure_with_format_json_is_one_error_object() {
    let (_d, bad) = tmp("bad.toml", "name = 7\n");
    let state = case("plan-empty-live", "live.json");
    let failures: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec!["plan".into(), bad.clone(), "--state".into(), state.clone()],
            65,
            "mvtopo::check",
        ),
        (
            vec![
                "plan".into(),
                case("plan-foreign-one-blocker", "topology.toml"),
                "--state".into(),
                case("plan-foreign-one-blocker", "live.json"),
            ],
            1,
            "mvtopo::plan::foreign-object",
        ),
        (
            vec!["plan".into(), "/nonexistent.toml".into()],
            64,
            "mvtopo::input::read",
        ),
        (vec!["apply".into(), bad.clone()], 65, "mvtopo::check"),
        (
            vec!["apply".into(), "--plan".into(), bad.clone()],
            65,
            "mvtopo::input::json",
        ),
        (vec!["destroy".into(), bad.clone()], 65, "mvtopo::check"),
        (vec!["show".into(), bad.clone()], 65, "mvtopo::check"),
        (vec!["check".into(), bad.clone()], 65, "mvtopo::check"),
    ];
    for (args, expected, error_code) in failures {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--format", "json"]);
        if args[0] == "show" {
            let n = args.len();
            args[n - 1] = "json";
        }
        let o = mvtopo(&args);
        assert_eq!(code(&o), expected, "{args:?}: {}", stderr(&o));
        let v = one_object(&o);
        assert_eq!(v["error"]["exit_code"], expected, "{args:?}: {v}");
        assert_eq!(v["error"]["code"], error_code, "{args:?}: {v}");
        assert!(v["error"]["message"].is_string(), "{args:?}");
        assert!(v["error"]["diagnostics"].is_array(), "{args:?}");
        // The person reading stderr still gets the report.
        assert!(!stderr(&o).is_empty(), "{args:?}");
    }
    // A usage error too, as far as the command line says JSON was wanted.
    let o = mvtopo(&["plan", &bad, "--format", "json", "--bogus"]);
    assert_eq!(code(&o), 64);
    assert_eq!(one_object(&o)["error"]["exit_code"], 64);
    // The blocked plan names its blocker in the JSON too.
    let o = mvtopo(&[
        "plan",
        &case("plan-foreign-one-blocker", "topology.toml"),
        "--state",
        &case("plan-foreign-one-blocker", "live.json"),
        "--format",
        "json",
    ]);
    let v = one_object(&o);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not owned"),
        "{v}"
    );
}

fn plan_json_carries_the_format_version_and_state_files_may_omit_it() {
    let topo = case("plan-drift-mtu", "topology.toml");
    let live = case("plan-drift-mtu", "live.json");
    let o = mvtopo(&["plan", &topo, "--state", &live, "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = one_object(&o);
    let text = stdout(&o);
    assert!(
        text.trim_start().starts_with("{\n  \"format_version\": 1,"),
        "{text}"
    );
    // The same plan from a state file that says its version.
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&live).unwrap()).unwrap();
    assert!(state.get("format_version").is_none());
    state["format_version"] = 1.into();
    let (_d, p) = tmp("state.json", &state.to_string());
    let o2 = mvtopo(&["plan", &topo, "--state", &p, "--format", "json"]);
    assert_eq!(code(&o2), 0, "{}", stderr(&o2));
    assert_eq!(one_object(&o2), v);
    // A version from the future is refused, pointing at it.
    state["format_version"] = 2.into();
    let (_d2, p) = tmp("state.json", &state.to_string());
    let o3 = mvtopo(&["plan", &topo, "--state", &p]);
    assert_eq!(code(&o3), 65);
    assert!(stderr(&o3).contains("newer"), "{}", stderr(&o3));
}

fn state_errors_point_into_the_file_in_its_own_words() {
    let topo = case("plan-empty-live", "topology.toml");
    let text = "{\n  \"links\": [\n    {\"name\": \"eth1\", \"kind\": \"device\", \"mtu\": \"1500\", \"up\": true}\n  ]\n}\n";
    let (_d, p) = tmp("state.json", text);
    let o = mvtopo(&["plan", &topo, "--state", &p]);
    assert_eq!(code(&o), 65);
    let err = stderr(&o);
    assert!(!err.contains("u32"), "{err}");
    assert!(err.contains("a whole number"), "{err}");
    assert!(err.contains("state.json:3:"), "no position: {err}");
    let o = mvtopo(&["plan", &topo, "--state", &p, "--format", "json"]);
    let v = one_object(&o);
    let label = &v["error"]["diagnostics"][0]["labels"][0];
    assert_eq!(label["line"], 3, "{v}");
    let offset = label["offset"].as_u64().unwrap() as usize;
    let length = label["length"].as_u64().unwrap() as usize;
    assert_eq!(&text[offset..offset + length], "\"1500\"");
}

// ---------------------------------------------------------------------------------------
// saved plans

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn plan_out_saves_the_plan_and_what_it_was_planned_against() {
    let topo = case("plan-drift-mtu", "topology.toml");
    let live = case("plan-drift-mtu", "live.json");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json").display().to_string();
    let o = mvtopo(&["plan", &topo, "--state", &live, "--out", &out]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("~ update"),
        "still printed: {}",
        stdout(&o)
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(saved["format_version"], 1);
    let json = one_object(&mvtopo(&[
        "plan", &topo, "--state", &live, "--format", "json",
    ]));
    for k in ["topology", "in_sync", "steps"] {
        assert_eq!(saved[k], json[k], "{k}");
    }
    let against = &saved["planned_against"];
    assert_eq!(against["file"], topo);
    let text = std::fs::read_to_string(&topo).unwrap();
    assert_eq!(against["file_sha256"], sha256(text.as_bytes()));
    assert_eq!(against["source"], text);
    let links = against["state"]["links"].as_array().unwrap();
    assert!(!links.is_empty());

    // Still valid against the same state: apply --dry-run --plan says so, as plan does.
    let o = mvtopo(&[
        "apply",
        "--plan",
        &out,
        "--dry-run",
        "--state",
        &live,
        "--detailed-exitcode",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stdout(&o).contains("~ update"), "{}", stdout(&o));

    // A blocked plan saves nothing.
    let blocked = dir.path().join("blocked.json");
    let o = mvtopo(&[
        "plan",
        &case("plan-foreign-one-blocker", "topology.toml"),
        "--state",
        &case("plan-foreign-one-blocker", "live.json"),
        "--out",
        &blocked.display().to_string(),
    ]);
    assert_eq!(code(&o), 1);
    assert!(!blocked.exists());
}

fn a_saved_plan_is_refused_when_what_it_depends_on_changed() {
    let topo = case("plan-drift-mtu", "topology.toml");
    let live = case("plan-drift-mtu", "live.json");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json").display().to_string();
    assert_eq!(
        code(&mvtopo(&["plan", &topo, "--state", &live, "--out", &out])),
        0
    );
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&live).unwrap()).unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    // Change one link the plan depends on (one of its own).
    let planned = saved["planned_against"]["state"]["links"]
        .as_array()
        .unwrap();
    let target = planned
        .iter()
        .find(|l| l.get("owner").is_some())
        .expect("an owned link");
    let links = state["links"].as_array_mut().unwrap();
    let link = links
        .iter_mut()
        .find(|l| l["name"] == target["name"] && l.get("namespace") == target.get("namespace"))
        .unwrap();
    let mtu = link["mtu"].as_u64().unwrap();
    link["mtu"] = (mtu - 8).into();
    let (_d, changed) = tmp("changed.json", &state.to_string());
    let o = mvtopo(&["apply", "--plan", &out, "--dry-run", "--state", &changed]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("changed since"), "{err}");
    assert!(err.contains(&format!("mtu {mtu} → {}", mtu - 8)), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    let o = mvtopo(&[
        "apply",
        "--plan",
        &out,
        "--dry-run",
        "--state",
        &changed,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    let v = one_object(&o);
    assert_eq!(v["refused"], true);
    assert_eq!(v["error"]["code"], "mvtopo::saved-plan::state-changed");
    assert_eq!(v["changed"].as_array().unwrap().len(), 1, "{v}");

    // Something the plan does not depend on may change.
    let mut unrelated =
        serde_json::from_str::<Value>(&std::fs::read_to_string(&live).unwrap()).unwrap();
    unrelated["links"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"name": "elsewhere0", "kind": "device", "mtu": 1500, "up": true}
        ));
    let (_d2, unrelated) = tmp("unrelated.json", &unrelated.to_string());
    let o = mvtopo(&["apply", "--plan", &out, "--dry-run", "--state", &unrelated]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

fn a_damaged_or_edited_saved_plan_is_refused() {
    let topo = case("plan-drift-mtu", "topology.toml");
    let live = case("plan-drift-mtu", "live.json");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json").display().to_string();
    assert_eq!(
        code(&mvtopo(&["plan", &topo, "--state", &live, "--out", &out])),
        0
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();

    // The topology text no longer matches its digest.
    let mut bad = saved.clone();
    bad["planned_against"]["source"] = "name = \"other\"\n".into();
    let (_d1, p) = tmp("bad.json", &bad.to_string());
    let o = mvtopo(&["apply", "--plan", &p, "--dry-run", "--state", &live]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("mvtopo::saved-plan::damaged"),
        "{}",
        stderr(&o)
    );

    // Steps edited by hand: not what was planned.
    let mut edited = saved.clone();
    edited["steps"].as_array_mut().unwrap().clear();
    let (_d2, p) = tmp("edited.json", &edited.to_string());
    let o = mvtopo(&["apply", "--plan", &p, "--dry-run", "--state", &live]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not what its topology plans")
            && stderr(&o).contains("mvtopo::saved-plan::steps-differ"),
        "{}",
        stderr(&o)
    );

    // Not a saved plan at all: a plan's JSON lacks what it was planned against.
    let plain = stdout(&mvtopo(&[
        "plan", &topo, "--state", &live, "--format", "json",
    ]));
    let (_d3, p) = tmp("plain.json", &plain);
    let o = mvtopo(&["apply", "--plan", &p, "--dry-run", "--state", &live]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(stderr(&o).contains("planned_against"), "{}", stderr(&o));

    // --plan and FILE together is a usage error.
    assert_eq!(code(&mvtopo(&["apply", &topo, "--plan", &out])), 64);
}

// ---------------------------------------------------------------------------------------
// stdin, --color, -q

fn a_dash_reads_the_topology_from_stdin() {
    let text = std::fs::read_to_string(case("check-valid-minimal", "topology.toml")).unwrap();
    let o = run(&["check", "-"], Some(&text), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("<stdin>: valid (topology \"stdin\""),
        "{}",
        stdout(&o)
    );
    let o = run(&["check", "-"], Some("name = 7\n"), &[]);
    assert_eq!(code(&o), 65);
    assert!(stderr(&o).contains("<stdin>:1:8"), "{}", stderr(&o));
    let topo = std::fs::read_to_string(case("plan-empty-live", "topology.toml")).unwrap();
    let file = mvtopo(&[
        "plan",
        &case("plan-empty-live", "topology.toml"),
        "--state",
        &case("plan-empty-live", "live.json"),
        "--format",
        "json",
    ]);
    let piped = run(
        &[
            "plan",
            "-",
            "--state",
            &case("plan-empty-live", "live.json"),
            "--format",
            "json",
        ],
        Some(&topo),
        &[],
    );
    assert_eq!(code(&piped), 0, "{}", stderr(&piped));
    assert_eq!(stdout(&piped), stdout(&file), "same file, same plan");
}

fn color_follows_the_flag_then_the_terminal_and_no_color() {
    let args = |c: &'static str| {
        vec![
            "plan".to_owned(),
            case("plan-empty-live", "topology.toml"),
            "--state".into(),
            case("plan-empty-live", "live.json"),
            "--color".into(),
            c.into(),
        ]
    };
    let esc = |o: &Output| stdout(o).contains('\u{1b}');
    let go = |c: &'static str, env: &[(&str, &str)]| {
        let a = args(c);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&a, None, env)
    };
    assert!(esc(&go("always", &[])), "always colors a pipe");
    assert!(
        esc(&go("always", &[("NO_COLOR", "1")])),
        "always wins over NO_COLOR"
    );
    assert!(!esc(&go("never", &[])));
    assert!(!esc(&go("auto", &[])), "auto: stdout is a pipe here");
    // Diagnostics on stderr follow the same flag.
    let o = run(
        &["check", "-", "--color", "always"],
        Some("name = 7\n"),
        &[],
    );
    assert!(stderr(&o).contains('\u{1b}'), "{}", stderr(&o));
    let o = run(&["check", "-", "--color", "never"], Some("name = 7\n"), &[]);
    assert!(!stderr(&o).contains('\u{1b}'), "{}", stderr(&o));
    assert_eq!(code(&mvtopo(&["check", "x", "--color", "blue"])), 64);
}

fn quiet_prints_errors_only() {
    let valid = case("check-valid-minimal", "topology.toml");
    let o = mvtopo(&["-q", "check", &valid]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).is_empty() && stderr(&o).is_empty(),
        "{}",
        stdout(&o)
    );
    let o = mvtopo(&[
        "plan",
        "-q",
        &case("plan-empty-live", "topology.toml"),
        "--state",
        &case("plan-empty-live", "live.json"),
        "--detailed-exitcode",
    ]);
    assert_eq!(code(&o), 2, "the exit code still tells");
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    // JSON asked for is still written.
    let o = mvtopo(&["check", "--quiet", &valid, "--format", "json"]);
    assert_eq!(one_object(&o)["valid"], true);
    // Errors are.
    let o = run(&["check", "-q", "-"], Some("name = 7\n"), &[]);
    assert_eq!(code(&o), 65);
    assert!(stderr(&o).contains("mvtopo::check::type"), "{}", stderr(&o));
}

/// `-v` and `-q` together are a usage error, and the help says so; `-v` on a command that
/// makes no kernel request changes nothing of its output.
fn verbose_and_quiet_do_not_go_together() {
    let valid = case("check-valid-minimal", "topology.toml");
    for args in [["-q", "-v"], ["--verbose", "--quiet"]] {
        let mut all = args.to_vec();
        all.extend(["check", valid.as_str()]);
        let o = mvtopo(&all);
        assert_eq!(code(&o), 64, "{}", stderr(&o));
        assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    }
    let help = stdout(&mvtopo(&["apply", "--help"]));
    assert!(help.contains("-v, --verbose"), "{help}");
    assert!(help.contains("Not together with -q"), "{help}");
    let o = mvtopo(&["-v", "check", &valid]);
    assert_eq!(code(&o), 0);
    assert!(!stderr(&o).contains("request "), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------
// fmt

/// Each `tests/cases/fmt-*/` holds `topology.toml` and `expected.toml`, its canonical form
/// (`UPDATE_GOLDEN=1` rewrites it; review the diff).
fn fmt_golden_cases() {
    let dirs = cases("fmt-");
    assert!(dirs.len() >= 5, "{dirs:?}");
}

/// One `tests/cases/fmt-*/`: formatted, kept idempotent, comments and plan unchanged.
fn fmt_golden_case(dir: &Path) {
    let name = common::cases::name(dir);
    let input = std::fs::read_to_string(dir.join("topology.toml")).unwrap();
    let o = run(&["fmt", "-"], Some(&input), &[]);
    assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
    let actual = stdout(&o);
    let expected_path = dir.join("expected.toml");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap();
    assert_eq!(actual, expected, "{name}");
    // Idempotent: the canonical form is canonical.
    let o = mvtopo(&["fmt", "--check", &expected_path.display().to_string()]);
    assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
    // Every comment is kept.
    for line in input.lines() {
        if let Some(i) = line.find('#') {
            let comment = line[i..].trim_end();
            assert!(expected.contains(comment), "{name}: lost {comment:?}");
        }
    }
    // The same topology: the same plan against the same state.
    let live = case("plan-empty-live", "live.json");
    let before = run(
        &["plan", "-", "--state", &live, "--format", "json"],
        Some(&input),
        &[],
    );
    let after = run(
        &["plan", "-", "--state", &live, "--format", "json"],
        Some(&expected),
        &[],
    );
    assert_eq!(stdout(&before), stdout(&after), "{name}");
}

fn fmt_rewrites_in_place_and_check_changes_nothing() {
    let input = std::fs::read_to_string(case("fmt-reorder", "topology.toml")).unwrap();
    let expected = std::fs::read_to_string(case("fmt-reorder", "expected.toml")).unwrap();
    assert_ne!(input, expected);
    let (_d, p) = tmp("lab.toml", &input);
    let o = mvtopo(&["fmt", "--check", &p]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("not in the canonical layout")
            && stderr(&o).contains("mvtopo::fmt::not-canonical"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        input,
        "--check changed the file"
    );
    let o = mvtopo(&["fmt", &p]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), expected);
    let o = mvtopo(&["fmt", "--check", &p]);
    assert_eq!(code(&o), 0);
    // stdin with --check: exit status only.
    let o = run(&["fmt", "--check", "-"], Some(&input), &[]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).is_empty());

    // An invalid file is not formatted, and not touched.
    let (_d2, bad) = tmp("bad.toml", "[[macvlan]]\nname =   7\n");
    let o = mvtopo(&["fmt", &bad]);
    assert_eq!(code(&o), 65);
    assert_eq!(
        std::fs::read_to_string(&bad).unwrap(),
        "[[macvlan]]\nname =   7\n"
    );
}
