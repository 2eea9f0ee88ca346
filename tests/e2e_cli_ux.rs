//! Saved plans against the real kernel: `plan --out` then `apply --plan` executes exactly
//! the saved plan, and refuses, changing nothing, once something the plan depends on was
//! changed by hand. `-v` prints every kernel request of a run, one line each; without it,
//! off a terminal, nothing of the run's progress is printed. Runs the binary inside a lab namespace like tests/e2e.rs (root; a loud
//! SKIPPED otherwise).

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod e2e_support;

use e2e_support::*;

fn topo(mtu: u32) -> Topo {
    Topo::default()
        .ns("red")
        .ns("sw")
        .veth("up0", "up0-sw", Some("sw"))
        .mv(Mv::new(Some("red"), "mv0", "up0", "bridge")
            .mtu(mtu)
            .addrs(&["10.21.0.2/24"]))
        .mv(Mv::new(Some("red"), "mv1", "up0", "private").addrs(&["10.21.0.3/24"]))
}

#[test]
fn a_saved_plan_is_applied_exactly_or_refused_after_a_change_by_hand() {
    let Some(e) = E2e::new() else { return };
    let plan = |name: &str| e.dir.path().join(name).display().to_string();

    // From nothing: the saved plan builds the topology, and the file is not needed for it.
    let t = topo(1400);
    let f = e.write_topo("lab.toml", &t);
    let p0 = plan("p0.json");
    e.expect(0, &["plan", "--out", &p0], &f);
    std::fs::remove_file(&f).expect("remove the topology file");
    let out = e.mvtopo(&["apply", "--plan", &p0]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("step(s) executed and verified"),
        "{out}"
    );
    assert_kernel_matches(&e.lab, &t);

    // A plan to change the MTU, saved; then the MTU is changed by hand before it is applied.
    let t2 = topo(1300);
    let f = e.write_topo("lab.toml", &t2);
    let p1 = plan("p1.json");
    e.expect(0, &["plan", "--out", &p1], &f);
    e.lab.ip("red", &["link", "set", "mv0", "mtu", "1350"]);
    // Settled first: the link watcher updates operstate for a moment after links come up.
    let before = settled_dump(&e.lab);
    let out = e.mvtopo(&["apply", "--plan", &p1]);
    assert_eq!(out.code, 1, "{out}");
    let err = out.err();
    assert!(err.contains("changed since"), "{out}");
    assert!(err.contains("/mv0: mtu 1400 → 1350"), "{out}");
    assert!(err.contains("nothing was changed"), "{out}");
    assert_same_dump(&before, &dump(&e.lab), "a refused saved plan");
    assert_eq!(e.lab.link("red", "mv0")["mtu"], 1350);

    // In JSON, the refusal is one object that says what changed.
    let out = e.mvtopo(&["apply", "--plan", &p1, "--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON object");
    assert_eq!(v["refused"], true, "{v}");
    assert_eq!(v["error"]["exit_code"], 1);

    // A change the plan does not depend on does not block it: a foreign link elsewhere.
    e.lab.add_ns("other");
    e.lab.ip(
        "other",
        &["link", "add", "d0", "type", "veth", "peer", "d1"],
    );

    // A fresh plan, saved and applied: exactly what the file says.
    let p2 = plan("p2.json");
    e.expect(0, &["plan", "--out", &p2], &f);
    let out = e.mvtopo(&["apply", "--plan", &p2, "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON object");
    assert_eq!(v["format_version"], 1, "{v}");
    assert_eq!(v["verified"], true, "{v}");
    assert!(v["executed"].as_u64().is_some_and(|n| n > 0), "{v}");
    assert_kernel_matches(&e.lab, &t2);
    e.expect(0, &["plan", "--detailed-exitcode"], &f);

    // Applied once, the same saved plan is refused: the state it was made against is gone.
    let out = e.mvtopo(&["apply", "--plan", &p2]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.err().contains("mtu 1350 → 1300"), "{out}");
    assert_kernel_matches(&e.lab, &t2);

    e.expect(0, &["destroy"], &f);
}

/// The "request N/TOTAL: ..." lines of `-v` in `stderr`, checked to be numbered 1..=TOTAL
/// in order with one total; returns the requests' texts.
fn request_lines(stderr: &str) -> Vec<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("request "))
        .collect();
    let total = lines.len();
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (head, what) = l.split_once(": ").unwrap_or_else(|| panic!("{l}"));
            assert_eq!(head, format!("request {}/{total}", i + 1), "{stderr}");
            what.to_owned()
        })
        .collect()
}

#[test]
fn verbose_prints_each_request_and_nothing_is_printed_without_it() {
    let Some(e) = E2e::new() else { return };
    let mut t = topo(1400);
    for i in 2..8 {
        t = t.mv(Mv::new(Some("red"), &format!("mv{i}"), "up0", "bridge"));
    }
    let f = e.write_topo("lab.toml", &t);

    // -v off a terminal: one line per request, in order, and the report after them.
    let out = e.expect(0, &["apply", "-v"], &f);
    let requests = request_lines(&out.stderr);
    // Two namespaces, a veth, eight macvlans (create + claim each), three addresses.
    assert!(requests.len() >= 2 + 1 + 8 * 2 + 2, "{out}");
    for i in 0..8 {
        let mv = format!("create macvlan {}/mv{i}", e.lab.ns("red"));
        assert_eq!(
            requests
                .iter()
                .filter(|r| *r == &mv || r.starts_with(&format!("{mv} ")))
                .count(),
            1,
            "{mv}: {out}"
        );
    }
    assert!(!out.stderr.contains('\r'), "{out}");
    assert!(
        out.stdout.contains("step(s) executed and verified"),
        "{out}"
    );
    assert_kernel_matches(&e.lab, &t);

    // Without -v (stderr is a pipe here): no request lines, no progress line (only, maybe,
    // the notice of waiting for another run's lock).
    let mut t2 = topo(1300);
    for i in 2..8 {
        t2 = t2.mv(Mv::new(Some("red"), &format!("mv{i}"), "up0", "private"));
    }
    let f = e.write_topo("lab.toml", &t2);
    let out = e.expect(0, &["apply"], &f);
    assert!(
        out.stderr
            .lines()
            .all(|l| l.starts_with("waiting for the apply lock")),
        "{out}"
    );
    assert!(!out.stderr.contains('\r'), "{out}");
    assert_kernel_matches(&e.lab, &t2);

    // With --format json, -v writes to stderr only: stdout is still one JSON object.
    let out = e.expect(0, &["destroy", "-v", "--format", "json"], &f);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON object");
    assert_eq!(v["verified"], true, "{v}");
    let requests = request_lines(&out.stderr);
    assert!(
        requests.iter().any(|r| r.starts_with("delete namespace")),
        "{out}"
    );
}
