//! The built `mvtopo` binary, driven as a user would, against the real kernel.
//!
//! Each test runs the binary inside its own lab namespace (`nsenter --net`, which switches
//! only the network namespace) with a topology file generated for it: the topology is named
//! after the lab's unique prefix (`mvt<pid>-<n>`), and so is every namespace in it, so tests
//! running in parallel threads (or processes) never see each other's objects as theirs. The
//! lab guard deletes every namespace with the prefix, even when the test panics. iproute2
//! (`ip -j`) is the independent check of what the kernel holds. Not root: "SKIPPED: ..." and
//! a failure, unless MVTOPO_ALLOW_SKIP=1.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod e2e_support;

use std::path::Path;
use std::process::Command;

use e2e_support::*;
use serde_json::Value;

/// The topology most tests use: a veth parent whose peer is in a switch namespace, macvlans
/// in several namespaces in bridge, vepa, private and source modes, a passthru on a second
/// veth parent, explicit MAC/MTU on some, a down one, IPv4 and IPv6 addresses and routes
/// (default via, a network via, one straight onto the link).
fn rich() -> Topo {
    Topo::default()
        .ns("red")
        .ns("blue")
        .ns("green")
        .ns("sw")
        .veth("up0", "up0-sw", Some("sw"))
        .veth("up1", "up1-sw", Some("sw"))
        .mv(Mv::new(Some("red"), "mv-br", "up0", "bridge")
            .mac("02:e2:00:00:00:02")
            .mtu(1400)
            .addrs(&["10.9.0.2/24", "fd09::2/64"])
            .route("default", Some("10.9.0.1"))
            .route("10.10.0.0/16", Some("10.9.0.254"))
            .route("default", Some("fd09::1"))
            .route("fd10::/48", Some("fd09::fe")))
        .mv(Mv::new(Some("blue"), "mv-br", "up0", "bridge")
            .addrs(&["10.9.0.3/24", "fd09::3/64"])
            .route("default", Some("10.9.0.1"))
            .route("10.12.0.0/16", None))
        .mv(Mv::new(Some("green"), "mv-vepa", "up0", "vepa").addrs(&["10.9.0.4/24"]))
        .mv(Mv::new(Some("green"), "mv-priv", "up0", "private")
            .mac("02:e2:00:00:00:05")
            .mtu(1300))
        .mv(Mv::new(Some("red"), "mv-src", "up0", "source")
            .sources(&["02:e2:00:00:00:aa", "02:e2:00:00:00:bb"]))
        .mv(Mv::new(Some("blue"), "mv-pass", "up1", "passthru").addrs(&["10.11.0.2/24"]))
        .mv(Mv::new(None, "mv-host", "up0", "bridge").mtu(1280).down())
}

/// Some line of `text` contains every needle.
fn assert_line(text: &str, needles: &[&str]) {
    assert!(
        text.lines().any(|l| needles.iter().all(|n| l.contains(n))),
        "no line contains all of {needles:?} in:\n{text}"
    );
}

/// Ping from lab namespace `short`, a few tries (the first may go to neighbour discovery).
fn pings(e: &E2e, short: &str, addr: &str) -> bool {
    (0..5).any(|_| e.lab.ping(short, addr))
}

fn apply_rich(e: &E2e) -> (Topo, std::path::PathBuf) {
    let t = rich();
    let f = e.write_topo("lab.toml", &t);
    e.expect(0, &["check"], &f);
    e.expect(0, &["apply"], &f);
    (t, f)
}

// 1 ------------------------------------------------------------------------------------

#[test]
fn apply_from_scratch_builds_exactly_the_file() {
    let Some(e) = E2e::new() else { return };
    let t = rich();
    let f = e.write_topo("lab.toml", &t);
    e.expect(0, &["check"], &f);
    // Before: the plan wants changes, and nothing of it exists.
    e.expect(2, &["plan", "--detailed-exitcode"], &f);
    e.expect(2, &["apply", "--dry-run", "--detailed-exitcode"], &f);
    let dry = e.expect(0, &["apply", "--dry-run", "--format", "json"], &f);
    let plan = e.expect(0, &["plan", "--format", "json"], &f);
    assert_eq!(dry.stdout, plan.stdout, "apply --dry-run prints the plan");
    assert!(!e.lab.has_ns("red"), "--dry-run created a namespace");

    let out = e.expect(0, &["apply"], &f);
    assert_line(&out.stdout, &["create macvlan", &e.lab.ns("red"), "mv-br"]);
    assert_kernel_matches(&e.lab, &t);

    // The lab parents: veth pairs owned by the topology, the peers in the switch namespace.
    let alias = format!("mvtopo:{}", e.name());
    for (parent, peer) in [("up0", "up0-sw"), ("up1", "up1-sw")] {
        let p = e.lab.link("host", parent);
        assert_eq!(p["linkinfo"]["info_kind"], "veth", "{parent}");
        assert_eq!(p["ifalias"], alias.as_str(), "{parent} alias");
        assert!(is_up(&p), "{parent} is up");
        let peer_link = e.lab.link("sw", peer);
        assert_eq!(p["link_index"], peer_link["ifindex"], "{parent}'s peer");
    }
    // The namespaces the file names exist, and nothing else of the lab was made.
    let mut want: Vec<String> = ["blue", "green", "host", "red", "sw"]
        .iter()
        .map(|s| e.lab.ns(s))
        .collect();
    want.sort();
    let mut got = e.lab.all_namespaces();
    got.sort();
    assert_eq!(got, want);

    // Bridge mode switches between siblings inside the kernel.
    assert!(pings(&e, "red", "10.9.0.3"), "red -> blue (bridge)");
    assert!(pings(&e, "blue", "10.9.0.2"), "blue -> red (bridge)");
    assert!(
        pings(&e, "red", "fd09::3"),
        "red -> blue over IPv6 (bridge)"
    );
}

// 2 ------------------------------------------------------------------------------------

#[test]
fn second_apply_changes_nothing_and_sends_no_change_request() {
    let Some(e) = E2e::new() else { return };
    let (t, f) = apply_rich(&e);
    // Let DAD and link-watch events of the first apply pass before listening.
    settled_dump(&e.lab);
    let monitors: Vec<Monitor> = shorts(&e.lab)
        .iter()
        .map(|s| Monitor::start(&e.lab.ns(s)))
        .collect();
    // A first sentinel proves each monitor listens before the apply starts.
    for m in &monitors {
        m.through_sentinel("e2eq");
    }
    let out = e.expect(0, &["apply"], &f);
    assert!(
        out.stdout.contains("no changes"),
        "second apply must say no changes: {out}"
    );
    for m in &monitors {
        let seen = m.through_sentinel("e2ez");
        assert!(
            seen.is_empty(),
            "the second apply changed something in {}:\n{}",
            m.ns,
            seen.join("\n")
        );
    }
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
    assert_kernel_matches(&e.lab, &t);
}

// 3 ------------------------------------------------------------------------------------

#[test]
fn drift_made_by_hand_is_planned_by_field_and_repaired() {
    let Some(e) = E2e::new() else { return };
    let (t, f) = apply_rich(&e);
    let l = &e.lab;
    l.ip("red", &["link", "set", "mv-br", "mtu", "1450"]);
    l.ip(
        "red",
        &["link", "set", "mv-br", "address", "02:e2:00:00:00:99"],
    );
    l.ip(
        "green",
        &[
            "link", "set", "mv-vepa", "type", "macvlan", "mode", "bridge",
        ],
    );
    l.ip("green", &["link", "set", "mv-priv", "down"]);
    l.ip(
        "red",
        &[
            "link",
            "set",
            "dev",
            "mv-src",
            "type",
            "macvlan",
            "macaddr",
            "set",
            "02:e2:00:00:00:aa",
            "02:e2:00:00:00:cc",
        ],
    );
    l.ip(
        "red",
        &[
            "link",
            "set",
            "dev",
            "mv-src",
            "type",
            "macvlan",
            "macaddr",
            "add",
            "02:e2:00:00:00:dd",
        ],
    );
    l.ip("blue", &["addr", "add", "10.9.0.99/24", "dev", "mv-br"]);
    l.ip("blue", &["addr", "del", "fd09::3/64", "dev", "mv-br"]);
    l.ip("red", &["route", "del", "10.10.0.0/16"]);
    l.ip(
        "blue",
        &[
            "route",
            "add",
            "10.13.0.0/16",
            "via",
            "10.9.0.1",
            "dev",
            "mv-br",
        ],
    );
    // The drift is real before the tool looks at it.
    assert_eq!(l.link("red", "mv-br")["mtu"], 1450);
    assert_eq!(
        source_macs(&l.link("red", "mv-src")),
        [
            "02:e2:00:00:00:aa",
            "02:e2:00:00:00:cc",
            "02:e2:00:00:00:dd"
        ]
    );

    // The oracle sees every hand change too (so its "matches" after apply means something).
    let seen = kernel_mismatches(l, &t);
    for field in [
        "red/mv-br mtu",
        "red/mv-br mac",
        "red/mv-br routes",
        "green/mv-vepa mode",
        "green/mv-priv up",
        "red/mv-src source macs",
        "blue/mv-br addresses",
        "blue/mv-br routes",
    ] {
        assert!(
            seen.iter().any(|m| m.starts_with(field)),
            "the ip -j check misses {field}: {seen:#?}"
        );
    }

    let out = e.expect(2, &["plan", "--detailed-exitcode"], &f);
    let (red, blue, green) = (l.ns("red"), l.ns("blue"), l.ns("green"));
    let red_br = format!("{red}/mv-br");
    let p = &out.stdout;
    assert_line(p, &["update macvlan", &red_br, "mtu 1450 → 1400"]);
    assert_line(
        p,
        &[
            "update macvlan",
            &red_br,
            "mac 02:e2:00:00:00:99 → 02:e2:00:00:00:02",
        ],
    );
    assert_line(
        p,
        &[
            "update macvlan",
            &format!("{green}/mv-vepa"),
            "mode bridge → vepa",
        ],
    );
    assert_line(
        p,
        &[
            "update macvlan",
            &format!("{green}/mv-priv"),
            "up false → true",
        ],
    );
    assert_line(
        p,
        &[
            "update macvlan",
            &format!("{red}/mv-src"),
            "source-macs [",
            "02:e2:00:00:00:dd",
            "→ [02:e2:00:00:00:aa, 02:e2:00:00:00:bb]",
        ],
    );
    assert_line(
        p,
        &["create address", &format!("fd09::3/64 on {blue}/mv-br")],
    );
    assert_line(
        p,
        &["delete address", &format!("10.9.0.99/24 on {blue}/mv-br")],
    );
    assert_line(
        p,
        &[
            "create route",
            &format!("10.10.0.0/16 via 10.9.0.254 on {red_br}"),
        ],
    );
    assert_line(
        p,
        &[
            "delete route",
            &format!("10.13.0.0/16 via 10.9.0.1 on {blue}/mv-br"),
        ],
    );
    // JSON says the same: changes pending.
    let json = e.expect(0, &["plan", "--format", "json"], &f);
    let v: Value = serde_json::from_str(&json.stdout).expect("plan json");
    assert_eq!(v["in_sync"], false);

    e.expect(0, &["apply"], &f);
    assert_kernel_matches(&e.lab, &t);
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
}

// 4 ------------------------------------------------------------------------------------

#[test]
fn removed_macvlan_is_pruned_and_foreign_interfaces_are_left_alone() {
    let Some(e) = E2e::new() else { return };
    let (t, f) = apply_rich(&e);
    let l = &e.lab;
    let (red, green) = (l.ns("red"), l.ns("green"));
    // Foreign macvlans named like owned ones, without an alias, beside them.
    l.ip(
        "host",
        &[
            "link", "add", "mv-privx", "link", "up0", "netns", &green, "type", "macvlan",
        ],
    );
    l.ip(
        "host",
        &["link", "add", "mv-hostx", "link", "up0", "type", "macvlan"],
    );
    let foreign_before = (l.link("green", "mv-privx"), l.link("host", "mv-hostx"));

    let t2 = t.clone().without(Some("green"), "mv-priv");
    e.write_topo("lab.toml", &t2);
    let out = e.expect(0, &["apply"], &f);
    assert_line(
        &out.stdout,
        &["delete macvlan", &format!("{green}/mv-priv")],
    );
    assert!(!l.has_link("green", "mv-priv"), "mv-priv was not pruned");
    assert_kernel_matches(l, &t2);
    assert_eq!(
        (l.link("green", "mv-privx"), l.link("host", "mv-hostx")),
        foreign_before,
        "a foreign interface was touched"
    );
    e.expect(0, &["plan", "--detailed-exitcode"], &f);

    // A foreign interface with the name of one the file wants: apply fails before any
    // change, even though the plan also has work in other namespaces.
    l.ip(
        "host",
        &[
            "link", "add", "mv-new", "link", "up0", "netns", &red, "type", "macvlan",
        ],
    );
    let mut t3 = t2
        .clone()
        .ns("extra")
        .mv(Mv::new(Some("red"), "mv-new", "up0", "bridge").addrs(&["10.9.0.20/24"]))
        .mv(Mv::new(Some("extra"), "mv-x", "up0", "bridge").addrs(&["10.9.0.21/24"]));
    t3.get(Some("blue"), "mv-br").mtu = Some(1420);
    t3.get(Some("green"), "mv-vepa")
        .addrs
        .push("10.9.0.44/24".into());
    e.write_topo("lab.toml", &t3);
    let before = settled_dump(l);
    let out = e.expect(1, &["apply"], &f);
    assert!(
        out.err().contains(&format!("{red}/mv-new")),
        "stderr must name the foreign interface: {out}"
    );
    let after = settled_dump(l);
    assert_same_dump(&before, &after, "apply blocked by a foreign interface");
    assert!(!l.has_ns("extra"));
}

// 5 ------------------------------------------------------------------------------------

#[test]
fn destroy_leaves_nothing_owned_and_keeps_existing_parent() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    // An existing parent made by hand, declared without `create` and without `mtu`.
    l.ip(
        "host",
        &[
            "link", "add", "ex0", "mtu", "1480", "type", "veth", "peer", "name", "ex0p",
        ],
    );
    l.ip("host", &["link", "set", "ex0p", "up"]);
    let t = Topo::default()
        .ns("red")
        .ns("blue")
        .ns("sw")
        .veth("up0", "up0-sw", Some("sw"))
        .existing("ex0", None)
        .mv(Mv::new(Some("red"), "mv-a", "up0", "bridge").addrs(&["10.9.0.2/24"]))
        .mv(Mv::new(Some("blue"), "mv-b", "ex0", "vepa").addrs(&["10.8.0.2/24", "fd08::2/64"]))
        .mv(Mv::new(None, "mv-c", "ex0", "bridge").mtu(1400))
        .mv(Mv::new(Some("red"), "mv-d", "ex0", "private")
            .addrs(&["10.8.0.3/24"])
            .route("default", Some("10.8.0.1")));
    let f = e.write_topo("lab.toml", &t);
    e.expect(0, &["apply"], &f);
    assert_kernel_matches(l, &t);
    // Something foreign in a namespace the topology created: that namespace must stay.
    l.ip(
        "blue",
        &["link", "add", "fx0", "type", "veth", "peer", "name", "fx1"],
    );

    let out = e.expect(0, &["destroy"], &f);
    let all = format!("{}{}", out.stdout, out.err());
    assert!(
        all.contains(&format!("namespace {} is kept", l.ns("blue"))),
        "destroy must say it keeps the namespace holding a foreign interface: {out}"
    );
    for short in shorts(l) {
        let owned: Vec<String> = l
            .links(&short)
            .iter()
            .filter(|x| {
                x["ifalias"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("mvtopo:"))
            })
            .map(|x| x["ifname"].to_string())
            .collect();
        assert!(owned.is_empty(), "{short} still holds {owned:?}");
    }
    assert!(!l.has_ns("red"), "red was not deleted");
    assert!(!l.has_ns("sw"), "sw was not deleted");
    assert!(
        l.has_ns("blue"),
        "blue holds a foreign interface and must stay"
    );
    assert!(l.has_link("blue", "fx0") && l.has_link("blue", "fx1"));
    assert!(!l.has_link("host", "up0"), "the lab parent was not deleted");
    let ex0 = l.link("host", "ex0");
    assert_eq!(ex0["mtu"], 1480, "the existing parent's mtu changed");
    assert!(l.has_link("host", "ex0p"));
    // Nothing is left to destroy.
    let again = e.expect(0, &["destroy"], &f);
    assert!(again.stdout.contains("no changes"), "{again}");
}

// 6 ------------------------------------------------------------------------------------

/// Five macvlans on an existing veth `ex0` (mtu 1500, made by hand): the file cannot know its
/// MTU, so `check` accepts an MTU above it, and only the kernel refuses.
fn rollback_topo(mv5_mtu: u32) -> Topo {
    Topo::default()
        .ns("a")
        .ns("b")
        .ns("z")
        .existing("ex0", None)
        .mv(Mv::new(None, "mv1", "ex0", "bridge").addrs(&["10.20.0.1/24"]))
        .mv(Mv::new(Some("a"), "mv2", "ex0", "vepa")
            .mtu(1400)
            .addrs(&["10.20.0.2/24"])
            .route("10.21.0.0/16", Some("10.20.0.254")))
        .mv(Mv::new(Some("b"), "mv3", "ex0", "private").mac("02:e2:00:00:01:03"))
        .mv(Mv::new(Some("b"), "mv4", "ex0", "source").sources(&["02:e2:00:00:01:aa"]))
        .mv(Mv::new(Some("z"), "mv5", "ex0", "bridge").mtu(mv5_mtu))
}

fn hand_made_parent(e: &E2e) {
    e.lab.ip(
        "host",
        &["link", "add", "ex0", "type", "veth", "peer", "name", "ex0p"],
    );
    e.lab.ip("host", &["link", "set", "ex0", "up"]);
    e.lab.ip("host", &["link", "set", "ex0p", "up"]);
}

fn assert_failed_and_undone(out: &Out, step: &str) {
    let s = &out.err();
    assert_line(s, &["failed step", step]);
    assert!(s.contains("invalid argument"), "the kernel's errno: {out}");
    assert!(
        s.contains("hint:") && s.contains("MTU"),
        "errno hint: {out}"
    );
    assert!(s.contains("undone:"), "what was undone: {out}");
    // The failure came after other steps had been done, or this tests nothing.
    let undone = s
        .lines()
        .find_map(|l| Some(&l[l.find("undone: ")? + "undone: ".len()..]))
        .and_then(|r| r.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no count of undone steps: {out}"));
    assert!(undone >= 3, "only {undone} steps were undone: {out}");
    assert!(s.contains("the system is as it was found"), "{out}");
}

#[test]
fn failed_apply_from_scratch_is_undone_completely() {
    let Some(e) = E2e::new() else { return };
    hand_made_parent(&e);
    let t = rollback_topo(9000);
    let f = e.write_topo("lab.toml", &t);
    e.expect(0, &["check"], &f);
    let before = settled_dump(&e.lab);
    let out = e.expect(1, &["apply"], &f);
    assert_failed_and_undone(&out, &format!("create macvlan {}/mv5", e.lab.ns("z")));
    let after = settled_dump(&e.lab);
    assert_same_dump(&before, &after, "failed apply");
}

#[test]
fn failed_change_of_an_applied_topology_restores_it() {
    let Some(e) = E2e::new() else { return };
    hand_made_parent(&e);
    let good = rollback_topo(1400);
    let f = e.write_topo("lab.toml", &good);
    e.expect(0, &["apply"], &f);
    assert_kernel_matches(&e.lab, &good);
    let before = settled_dump(&e.lab);

    let mut bad = good.clone().ns("y");
    bad.get(Some("a"), "mv2").mtu = Some(1300);
    bad.get(None, "mv1").addrs.push("10.22.0.1/24".into());
    bad.get(Some("b"), "mv4")
        .source_macs
        .push("02:e2:00:00:01:bb".into());
    let bad = bad
        .mv(Mv::new(Some("y"), "mv6", "ex0", "bridge").addrs(&["10.20.0.6/24"]))
        .mv(Mv::new(Some("z"), "mv7", "ex0", "bridge").mtu(9000));
    e.write_topo("lab.toml", &bad);
    let out = e.expect(1, &["apply"], &f);
    assert_failed_and_undone(&out, &format!("create macvlan {}/mv7", e.lab.ns("z")));
    let after = settled_dump(&e.lab);
    assert_same_dump(&before, &after, "failed change");
    assert_kernel_matches(&e.lab, &good);
}

// 7 ------------------------------------------------------------------------------------

fn plan_json(e: &E2e, args: &[&str], f: &Path) -> Value {
    let mut all = vec!["plan", "--format", "json"];
    all.extend_from_slice(args);
    let out = e.expect(0, &all, f);
    serde_json::from_str(&out.stdout).unwrap_or_else(|err| panic!("plan json: {err}: {out}"))
}

#[test]
fn show_output_round_trips_through_plan() {
    let Some(e) = E2e::new() else { return };
    let (_, f) = apply_rich(&e);
    let l = &e.lab;
    let round_trip = |what: &str| {
        // The TOML of `show FILE`, planned on the same system: in sync.
        let shown = e.expect(0, &["show"], &f);
        let sf = e.write("shown.toml", &shown.stdout);
        let p = e.mvtopo(&["plan", "--detailed-exitcode", sf.to_str().unwrap()]);
        assert_eq!(
            p.code, 0,
            "{what}: show's TOML is not in sync:\n{}\n{p}",
            shown.stdout
        );
        // The JSON of `show` (everything, and only what FILE owns) as `plan --state`.
        let kernel = plan_json(&e, &[], &f);
        for args in [
            &["show", "--format", "json"][..],
            &["show", "--format", "json", f.to_str().unwrap()],
        ] {
            let state = e.mvtopo(args);
            assert_eq!(state.code, 0, "{state}");
            let s = e.write("state.json", &state.stdout);
            let from_state = plan_json(&e, &["--state", s.to_str().unwrap()], &f);
            assert_eq!(from_state, kernel, "{what}: mvtopo {}", args.join(" "));
        }
        kernel
    };
    let in_sync = round_trip("in sync");
    assert_eq!(in_sync["in_sync"], true);

    // Drift, so the plans compared have steps.
    l.ip("red", &["link", "set", "mv-br", "mtu", "1450"]);
    l.ip("blue", &["addr", "add", "10.9.0.99/24", "dev", "mv-br"]);
    l.ip("green", &["link", "set", "mv-priv", "down"]);
    let drifted = round_trip("drifted");
    assert_eq!(drifted["in_sync"], false);
    assert!(
        drifted["steps"].as_array().is_some_and(|s| s.len() >= 3),
        "{drifted}"
    );
}

// 8 ------------------------------------------------------------------------------------

#[test]
fn namespace_move_recreates_the_macvlan_in_the_new_namespace() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    let t = Topo::default()
        .ns("red")
        .ns("blue")
        .ns("sw")
        .veth("up0", "up0-sw", Some("sw"))
        .mv(Mv::new(Some("red"), "mv-a", "up0", "bridge")
            .addrs(&["10.9.0.2/24"])
            .route("default", Some("10.9.0.1")))
        .mv(Mv::new(Some("red"), "mv-b", "up0", "bridge").mac("02:e2:00:00:02:0b"))
        .mv(Mv::new(Some("blue"), "mv-c", "up0", "bridge").addrs(&["10.9.0.3/24"]))
        .ns("green")
        .mv(Mv::new(Some("green"), "mv-d", "up0", "bridge").addrs(&["10.9.0.4/24"]));
    let f = e.write_topo("lab.toml", &t);
    e.expect(0, &["apply"], &f);
    let old_a = l.link("red", "mv-a");

    let mut moved = t.clone();
    moved.get(Some("red"), "mv-a").ns = Some("blue".into());
    moved.get(Some("red"), "mv-b").ns = Some("blue".into());
    e.write_topo("lab.toml", &moved);
    // Identity is (namespace, name) (spec/TOPOLOGY.md): a move is the old link deleted and a
    // new one created in the new namespace (no kernel move). The create carries the file's
    // MAC, and when the file gives none, the MAC the kernel picked for the old link: "the
    // kernel picks one and it is kept" (src/diff.rs, keep_moved_macs).
    let plan = plan_json(&e, &[], &f);
    let steps = plan["steps"].as_array().expect("steps");
    let step = |action: &str, short: &str, name: &str| {
        steps
            .iter()
            .find(|s| {
                s["action"] == action
                    && s["object"]["kind"] == "macvlan"
                    && s["object"]["namespace"] == l.ns(short).as_str()
                    && s["object"]["name"] == name
            })
            .unwrap_or_else(|| panic!("no {action} of {short}/{name} in {plan}"))
    };
    step("delete", "red", "mv-a");
    step("delete", "red", "mv-b");
    assert_eq!(
        step("create", "blue", "mv-a")["object"]["mac"],
        old_a["address"],
        "the kernel-picked MAC is kept across the move"
    );
    assert_eq!(
        step("create", "blue", "mv-b")["object"]["mac"],
        "02:e2:00:00:02:0b"
    );
    assert!(
        !steps.iter().any(|s| s["action"] == "replace"),
        "a move is not a replace: {plan}"
    );

    e.expect(0, &["apply"], &f);
    assert!(!l.has_link("red", "mv-a") && !l.has_link("red", "mv-b"));
    assert_kernel_matches(l, &moved);
    assert_eq!(l.link("blue", "mv-b")["address"], "02:e2:00:00:02:0b");
    let new_a = l.link("blue", "mv-a");
    assert_eq!(new_a["address"], old_a["address"], "mv-a kept its MAC");
    assert!(pings(&e, "green", "10.9.0.2"), "green/mv-d -> blue/mv-a");
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
}

// 9 ------------------------------------------------------------------------------------

const QS_NAMESPACES: [&str; 3] = ["mvtopo-qs-red", "mvtopo-qs-blue", "mvtopo-qs-sw"];

/// Deletes the quickstart's fixed-name namespaces (and their markers), even on panic. Made
/// only after checking that none of them existed before.
struct QuickstartGuard;

impl Drop for QuickstartGuard {
    fn drop(&mut self) {
        for n in QS_NAMESPACES {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            let _ = std::fs::remove_file(Path::new(mvtopo::kernel::MARKER_DIR).join(n));
        }
    }
}

/// An exclusive lock across processes: the quickstart's names are fixed, so two runs of
/// this test (two `cargo test` in two worktrees) must not overlap.
struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    #[allow(unsafe_code)]
    fn take(path: &str) -> FileLock {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .expect("open lock file");
        // SAFETY: flock on a descriptor we own; blocks until the lock is ours.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(r, 0, "flock {path}");
        FileLock { _file: f }
    }
}

#[test]
fn quickstart_example_applies_and_destroys_cleanly() {
    let Some(e) = E2e::new() else { return };
    let _lock = FileLock::take("/run/mvtopo-e2e-quickstart.lock");
    if let Some(n) = QS_NAMESPACES
        .iter()
        .find(|n| Path::new("/run/netns").join(n).exists())
    {
        common::skip(&format!(
            "quickstart: namespace {n} already exists (another quickstart run?)"
        ));
        return;
    }
    let _guard = QuickstartGuard;
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.toml");
    e.expect(0, &["check"], &f);
    let out = e.expect(0, &["apply"], &f);
    assert!(!out.stdout.contains("no changes"), "{out}");
    for n in QS_NAMESPACES {
        assert!(
            Path::new("/run/netns").join(n).exists(),
            "{n} was not created"
        );
    }
    let ping = |from: &str, to: &str| {
        (0..5).any(|_| {
            Command::new("ip")
                .args(["netns", "exec", from, "ping", "-c1", "-W1", to])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    };
    assert!(ping("mvtopo-qs-red", "10.77.0.3"), "red -> blue");
    assert!(ping("mvtopo-qs-red", "10.77.0.1"), "red -> host shim");
    let again = e.expect(0, &["apply"], &f);
    assert!(again.stdout.contains("no changes"), "{again}");
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
    e.expect(0, &["destroy"], &f);
    for n in QS_NAMESPACES {
        assert!(
            !Path::new("/run/netns").join(n).exists(),
            "{n} is left behind"
        );
    }
    let owned: Vec<Value> = e
        .lab
        .links("host")
        .into_iter()
        .filter(|x| {
            x["ifalias"]
                .as_str()
                .is_some_and(|a| a.starts_with("mvtopo:"))
        })
        .collect();
    assert!(owned.is_empty(), "left behind in the lab host: {owned:?}");
    e.expect(2, &["plan", "--detailed-exitcode"], &f);
}

// More: objects deleted by hand, invalid input, replacements, two topologies side by side.

#[test]
fn objects_deleted_by_hand_are_recreated() {
    let Some(e) = E2e::new() else { return };
    let (t, f) = apply_rich(&e);
    let l = &e.lab;
    let (red, blue) = (l.ns("red"), l.ns("blue"));
    run_ok(&["netns", "del", &blue]);
    l.ip("red", &["link", "del", "mv-src"]);
    l.ip("host", &["link", "set", "up0", "down"]);
    assert!(!kernel_mismatches(l, &t).is_empty());
    let out = e.expect(2, &["plan", "--detailed-exitcode"], &f);
    let p = &out.stdout;
    assert_line(p, &["create namespace", &blue]);
    assert_line(p, &["create macvlan", &format!("{blue}/mv-br")]);
    assert_line(p, &["create macvlan", &format!("{blue}/mv-pass")]);
    assert_line(p, &["create macvlan", &format!("{red}/mv-src")]);
    assert_line(p, &["up0", "up false → true"]);
    e.expect(0, &["apply"], &f);
    assert_kernel_matches(l, &t);
    assert!(is_up(&l.link("host", "up0")), "up0 is up again");
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
    assert!(pings(&e, "red", "10.9.0.3"), "red -> blue again");
}

fn run_ok(args: &[&str]) {
    common::run("ip", args);
}

#[test]
fn invalid_input_exits_65_and_changes_nothing() {
    let Some(e) = E2e::new() else { return };
    let (_, f) = apply_rich(&e);
    let before = settled_dump(&e.lab);
    // A source macvlan without its list, a typo'd key, and a new macvlan that would be
    // created if the file were taken half-valid.
    let mut text = rich().toml(&e.lab);
    text = text.replace(
        "source-macs = [\"02:e2:00:00:00:aa\", \"02:e2:00:00:00:bb\"]\n",
        "",
    );
    text.push_str(&format!(
        "\n[[macvlan]]\nname = \"mv-new\"\nparent = \"up0\"\nnamespace = {:?}\nmtuu = 1400\n",
        e.lab.ns("red")
    ));
    let bad = e.write("bad.toml", &text);
    for cmd in [
        &["check"][..],
        &["plan"],
        &["plan", "--detailed-exitcode"],
        &["apply"],
        &["apply", "--dry-run"],
        &["destroy"],
        &["graph"],
    ] {
        let out = e.expect(65, cmd, &bad);
        assert!(
            out.err().contains("source-macs") && out.err().contains("mtuu"),
            "mvtopo {cmd:?} must report every problem: {out}"
        );
    }
    let missing = e.dir.path().join("missing.toml");
    e.expect(64, &["apply"], &missing);
    let after = settled_dump(&e.lab);
    assert_same_dump(&before, &after, "invalid input");
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
}

#[test]
fn parent_and_passthru_changes_replace_the_macvlan_keeping_its_mac() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    let t = Topo::default()
        .ns("red")
        .ns("sw")
        .veth("up0", "up0-sw", Some("sw"))
        .veth("up2", "up2-sw", Some("sw"))
        .veth("up3", "up3-sw", Some("sw"))
        .mv(Mv::new(Some("red"), "mv-a", "up0", "vepa")
            .addrs(&["10.9.0.2/24"])
            .route("default", Some("10.9.0.1")))
        .mv(Mv::new(Some("red"), "mv-p", "up3", "bridge").addrs(&["10.30.0.2/24"]));
    let f = e.write_topo("lab.toml", &t);
    e.expect(0, &["apply"], &f);
    let old_a = l.link("red", "mv-a");
    let old_p = l.link("red", "mv-p");

    let mut t2 = t.clone();
    t2.get(Some("red"), "mv-a").parent = "up2".into();
    t2.get(Some("red"), "mv-p").mode = Some("passthru".into());
    e.write_topo("lab.toml", &t2);
    let plan = e.expect(2, &["plan", "--detailed-exitcode"], &f);
    let red = l.ns("red");
    assert_line(
        &plan.stdout,
        &[
            "replace macvlan",
            &format!("{red}/mv-a"),
            "parent changes from up0 to up2",
        ],
    );
    assert_line(
        &plan.stdout,
        &[
            "replace macvlan",
            &format!("{red}/mv-p"),
            "mode changes from bridge to passthru",
        ],
    );
    e.expect(0, &["apply"], &f);
    assert_kernel_matches(l, &t2);
    let new_a = l.link("red", "mv-a");
    assert_ne!(new_a["ifindex"], old_a["ifindex"], "mv-a was not recreated");
    // src/diff.rs: a replacement keeps the MAC the kernel picked; a passthru link takes its
    // parent's.
    assert_eq!(new_a["address"], old_a["address"], "mv-a lost its MAC");
    let new_p = l.link("red", "mv-p");
    assert_eq!(new_p["address"], l.link("host", "up3")["address"]);
    assert_ne!(new_p["ifindex"], old_p["ifindex"]);
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
}

#[test]
fn two_topologies_on_one_host_never_touch_each_other() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    let other = format!("{}-b", e.name());
    // Both use namespace "shared"; A declares it first and so creates (owns) it.
    let a = Topo::default()
        .ns("shared")
        .ns("sw")
        .veth("ua0", "ua0-sw", Some("sw"))
        .mv(Mv::new(Some("shared"), "mv-a", "ua0", "bridge").addrs(&["10.40.0.1/24"]))
        .mv(Mv::new(None, "mv-ha", "ua0", "bridge"));
    let b = Topo::default()
        .named(&other)
        .ns("shared")
        .ns("swb")
        .veth("ub0", "ub0-sw", Some("swb"))
        .mv(Mv::new(Some("shared"), "mv-b", "ub0", "bridge").addrs(&["10.41.0.1/24"]))
        .mv(Mv::new(None, "mv-hb", "ub0", "vepa"));
    let fa = e.write_topo("a.toml", &a);
    let fb = e.write_topo("b.toml", &b);
    e.expect(0, &["apply"], &fa);
    e.expect(0, &["apply"], &fb);
    // Neither prunes the other's objects.
    e.expect(0, &["plan", "--detailed-exitcode"], &fa);
    e.expect(0, &["plan", "--detailed-exitcode"], &fb);
    assert_kernel_matches(l, &a);
    assert_kernel_matches(l, &b);
    let show_a = e.expect(0, &["show"], &fa);
    assert!(
        show_a.stdout.contains("mv-a") && !show_a.stdout.contains("mv-b"),
        "show FILE lists only what FILE owns: {show_a}"
    );
    let show_all = e.mvtopo(&["show"]);
    assert!(
        show_all.stdout.contains("mv-a") && show_all.stdout.contains("mv-b"),
        "show lists every macvlan: {show_all}"
    );

    // Destroying A keeps the shared namespace (it holds B's interface) and all of B.
    let out = e.expect(0, &["destroy"], &fa);
    let said = format!("{}{}", out.stdout, out.err());
    assert!(
        said.contains(&format!("namespace {} is kept", l.ns("shared"))),
        "{out}"
    );
    assert!(l.has_ns("shared"));
    assert!(!l.has_link("shared", "mv-a") && !l.has_link("host", "mv-ha"));
    assert!(!l.has_ns("sw"));
    assert_kernel_matches(l, &b);
    e.expect(0, &["plan", "--detailed-exitcode"], &fb);

    // B goes; the namespace is A's, so only A's destroy removes it.
    e.expect(0, &["destroy"], &fb);
    assert!(!l.has_ns("swb") && !l.has_link("shared", "mv-b"));
    e.expect(0, &["destroy"], &fa);
    assert!(
        !l.has_ns("shared"),
        "the emptied namespace of A is left behind"
    );
}

#[test]
fn failed_change_that_pruned_first_restores_what_it_deleted() {
    let Some(e) = E2e::new() else { return };
    hand_made_parent(&e);
    let l = &e.lab;
    let good = rollback_topo(1400);
    let f = e.write_topo("lab.toml", &good);
    e.expect(0, &["apply"], &f);
    let macs: Vec<(String, Value)> = good
        .macvlans
        .iter()
        .map(|m| {
            let short = m.ns.clone().unwrap_or_else(|| "host".into());
            let mac = l.link(&short, &m.name)["address"].clone();
            (format!("{short}/{}", m.name), mac)
        })
        .collect();

    // Drop mv2 (address, route, mtu) and all of namespace b (mv3 with a fixed MAC, mv4 with
    // a source list), then fail on mv7: everything deleted must come back as it was.
    let mut bad = good
        .clone()
        .without(Some("a"), "mv2")
        .without(Some("b"), "mv3")
        .without(Some("b"), "mv4")
        .mv(Mv::new(Some("z"), "mv7", "ex0", "bridge").mtu(9000));
    bad.namespaces.retain(|n| n != "b");
    e.write_topo("lab.toml", &bad);
    let plan = e.expect(2, &["plan", "--detailed-exitcode"], &f);
    assert_line(&plan.stdout, &["delete namespace", &l.ns("b")]);
    let out = e.expect(1, &["apply"], &f);
    assert_failed_and_undone(&out, &format!("create macvlan {}/mv7", l.ns("z")));
    assert!(l.has_ns("b"), "namespace b was not restored: {out}");
    assert_kernel_matches(l, &good);
    for (at, mac) in macs {
        let (short, name) = at.split_once('/').unwrap();
        assert_eq!(
            l.link(short, name)["address"],
            mac,
            "{at} came back with another MAC"
        );
    }
    e.write_topo("lab.toml", &good);
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
}

// Taking a macvlan down. The kernel drops a link's IPv6 addresses when it goes down
// (net.ipv6.conf.*.keep_addr_on_down = 0, the default) and flushes every route through it.

#[test]
fn taking_a_macvlan_down_keeps_its_addresses() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    let t = Topo::default()
        .ns("red")
        .veth("up0", "up0p", None)
        .mv(Mv::new(Some("red"), "mv-d", "up0", "bridge").addrs(&["10.50.0.2/24", "fd50::2/64"]));
    let f = e.write_topo("lab.toml", &t);
    e.expect(0, &["apply"], &f);
    assert_kernel_matches(l, &t);
    let mut down = t.clone();
    down.get(Some("red"), "mv-d").up = false;
    e.write_topo("lab.toml", &down);
    let before = settled_dump(l);
    let out = e.mvtopo(&["apply", f.to_str().unwrap()]);
    if out.code != 0 {
        // Whatever went wrong, the undo must have put everything back as it says.
        assert_same_dump(&before, &settled_dump(l), "failed apply of up = false");
        panic!("apply of up = false failed: {out}");
    }
    assert_kernel_matches(l, &down);
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
    // And back up: the addresses are still there.
    e.write_topo("lab.toml", &t);
    e.expect(0, &["apply"], &f);
    assert_kernel_matches(l, &t);
}

/// Every file `check` accepts is one apply can make. Routes on a macvlan with `up = false`
/// cannot be made (the kernel refuses a route through a down link and flushes routes when a
/// link goes down), so check rejects that file (exit 65) and apply changes nothing.
#[test]
fn a_file_check_accepts_is_one_apply_can_make() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    // A down macvlan with a route: the kernel refuses a route through a down link
    // (ENETUNREACH) and flushes routes when a link goes down.
    let t = Topo::default()
        .ns("red")
        .veth("up0", "up0p", None)
        .mv(Mv::new(Some("red"), "mv-d", "up0", "bridge")
            .addrs(&["10.50.0.2/24"])
            .route("10.51.0.0/16", Some("10.50.0.1")));
    let f = e.write_topo("lab.toml", &t);
    e.expect(0, &["apply"], &f);
    let mut down = t.clone();
    down.get(Some("red"), "mv-d").up = false;
    e.write_topo("lab.toml", &down);
    let before = settled_dump(l);
    let checked = e.mvtopo(&["check", f.to_str().unwrap()]);
    let out = e.mvtopo(&["apply", f.to_str().unwrap()]);
    if out.code != 0 {
        assert_same_dump(
            &before,
            &settled_dump(l),
            "failed apply of up = false with a route",
        );
    }
    assert!(
        checked.code != 0 || out.code == 0,
        "check accepts the file but apply cannot make it:\n{checked}\n{out}"
    );
}

#[test]
fn taking_a_macvlan_down_and_dropping_its_routes() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    let t = Topo::default()
        .ns("red")
        .veth("up0", "up0p", None)
        .mv(Mv::new(Some("red"), "mv-d", "up0", "bridge")
            .addrs(&["10.50.0.2/24", "fd50::2/64"])
            .route("10.51.0.0/16", Some("10.50.0.1"))
            .route("fd51::/64", Some("fd50::1")));
    let f = e.write_topo("lab.toml", &t);
    e.expect(0, &["apply"], &f);
    let mut down = t.clone();
    let m = down.get(Some("red"), "mv-d");
    m.up = false;
    m.routes.clear();
    e.write_topo("lab.toml", &down);
    e.expect(0, &["apply"], &f);
    assert_kernel_matches(l, &down);
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
    e.write_topo("lab.toml", &t);
    e.expect(0, &["apply"], &f);
    assert_kernel_matches(l, &t);
}

#[test]
fn destroying_a_lab_parent_spares_another_topologys_macvlans_on_it() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    let other = format!("{}-b", e.name());
    let a = Topo::default()
        .ns("red")
        .veth("ua0", "ua0p", None)
        .mv(Mv::new(Some("red"), "mv-a", "ua0", "bridge").addrs(&["10.40.0.1/24"]));
    // B hangs a macvlan off A's lab parent, which it declares as an existing interface.
    let b = Topo::default()
        .named(&other)
        .ns("blue")
        .existing("ua0", None)
        .mv(Mv::new(Some("blue"), "mv-b", "ua0", "bridge").addrs(&["10.40.0.2/24"]));
    let fa = e.write_topo("a.toml", &a);
    let fb = e.write_topo("b.toml", &b);
    e.expect(0, &["apply"], &fa);
    e.expect(0, &["apply"], &fb);
    assert_kernel_matches(l, &b);
    let before_b = l.link("blue", "mv-b");
    // Replacing the parent (its peer moves) would delete B's macvlan too: refused, before
    // any change, naming it.
    let mut a2 = a.clone();
    a2.parents[0].1 = ParentSpec::Veth {
        peer: "ua0p".into(),
        peer_ns: Some("red".into()),
        mtu: None,
    };
    e.write_topo("a2.toml", &a2.named(&e.name()));
    let fa2 = e.dir.path().join("a2.toml");
    let before = settled_dump(l);
    let out = e.expect(1, &["apply"], &fa2);
    assert!(
        out.err().contains(&format!("{}/mv-b", l.ns("blue"))),
        "apply must name the macvlan in the way: {out}"
    );
    assert_same_dump(&before, &settled_dump(l), "refused parent replacement");
    // Destroying A must not take B's macvlan with it (deleting the veth would), so A's
    // parent stays, or destroy refuses; either way B is untouched.
    let out = e.mvtopo(&["destroy", fa.to_str().unwrap()]);
    assert!(
        l.has_link("blue", "mv-b"),
        "destroying topology A deleted topology B's macvlan:\n{out}"
    );
    assert_eq!(l.link("blue", "mv-b"), before_b);
    let said = format!("{}{}", out.stdout, out.err());
    assert!(
        said.contains("ua0 is kept"),
        "destroy must say it keeps ua0: {out}"
    );
    e.expect(0, &["plan", "--detailed-exitcode"], &fb);
    // Once B is gone, destroying A again removes the parent it kept.
    e.expect(0, &["destroy"], &fb);
    e.expect(0, &["destroy"], &fa);
    assert!(!l.has_link("host", "ua0"), "A's parent is left behind");
}

// Ownership edges: what mvtopo did not create (or no longer recognizes as its own).

#[test]
fn an_interface_whose_owner_alias_was_removed_is_foreign() {
    let Some(e) = E2e::new() else { return };
    let (_, f) = apply_rich(&e);
    let l = &e.lab;
    l.ip("red", &["link", "set", "dev", "mv-src", "alias", ""]);
    l.ip("red", &["link", "set", "mv-src", "mtu", "1400"]);
    let before = settled_dump(l);
    let out = e.expect(1, &["apply"], &f);
    assert!(
        out.err().contains(&format!("{}/mv-src", l.ns("red"))),
        "apply must name the interface in the way: {out}"
    );
    assert_same_dump(
        &before,
        &settled_dump(l),
        "apply blocked by a disowned interface",
    );
    // destroy leaves it alone too.
    e.expect(0, &["destroy"], &f);
    assert!(l.has_ns("red") && l.has_link("red", "mv-src"));
    assert!(!l.has_link("red", "mv-br"));
}

#[test]
fn a_namespace_made_by_hand_is_used_but_never_deleted() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    l.add_ns("red");
    let t = Topo::default()
        .ns("red")
        .ns("blue")
        .veth("up0", "up0p", None)
        .mv(Mv::new(Some("red"), "mv-a", "up0", "bridge").addrs(&["10.9.0.2/24"]))
        .mv(Mv::new(Some("blue"), "mv-b", "up0", "bridge").addrs(&["10.9.0.3/24"]));
    let f = e.write_topo("lab.toml", &t);
    let out = e.expect(0, &["apply"], &f);
    assert!(
        !out.stdout
            .contains(&format!("create namespace {}", l.ns("red"))),
        "{out}"
    );
    assert_kernel_matches(l, &t);
    assert!(pings(&e, "red", "10.9.0.3"));
    e.expect(0, &["destroy"], &f);
    assert!(
        l.has_ns("red"),
        "destroy deleted a namespace it did not create"
    );
    assert!(!l.has_ns("blue"), "destroy left the namespace it created");
    assert!(!l.has_link("red", "mv-a"));
}

#[test]
fn a_missing_existing_parent_fails_before_any_change() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    let t = Topo::default()
        .ns("red")
        .veth("up0", "up0p", None)
        .existing("nope0", None)
        .mv(Mv::new(Some("red"), "mv-a", "up0", "bridge"))
        .mv(Mv::new(Some("red"), "mv-b", "nope0", "bridge"));
    let f = e.write_topo("lab.toml", &t);
    let before = settled_dump(l);
    let out = e.expect(1, &["apply"], &f);
    assert!(out.err().contains("nope0"), "{out}");
    assert_same_dump(&before, &settled_dump(l), "apply with a missing parent");
}

/// Two applies of one file at the same time: `apply` holds an exclusive lock for the whole
/// read-plan-execute-verify, so the second waits, finds the work done, and changes nothing;
/// both succeed and the kernel matches the file.
#[test]
fn concurrent_applies_serialize() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    let mut t = Topo::default()
        .ns("red")
        .ns("blue")
        .veth("up0", "up0p", None);
    for i in 0..20 {
        let ns = if i % 2 == 0 { "red" } else { "blue" };
        t = t.mv(Mv::new(Some(ns), &format!("mv{i}"), "up0", "bridge")
            .addrs(&[&format!("10.60.0.{}/24", i + 1)]));
    }
    let f = e.write_topo("lab.toml", &t);
    let file = f.to_str().expect("utf-8 path").to_owned();
    let (a, b) = std::thread::scope(|s| {
        let one = s.spawn(|| e.mvtopo(&["apply", &file]));
        let two = s.spawn(|| e.mvtopo(&["apply", &file]));
        (
            one.join().expect("first apply"),
            two.join().expect("second apply"),
        )
    });
    assert_eq!(a.code, 0, "{a}");
    assert_eq!(b.code, 0, "{b}");
    let said = format!("{}{}", a.stdout, b.stdout);
    assert!(
        said.contains("no changes"),
        "one of the two must have found the work done:\n{a}\n{b}"
    );
    assert_kernel_matches(l, &t);
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
}

// The macvlan driver's keys through the binary --------------------------------------------

/// A macvtap with flags and the broadcast queue: applied, `show` (TOML and JSON) in sync
/// with the kernel, drift of its queue length planned and undone in place, destroyed.
#[test]
fn macvtap_and_broadcast_queue_round_trip_through_show_and_plan() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    let vm = l.ns("vm");
    let f = e.write(
        "vms.toml",
        &format!(
            r#"name = "{owner}"
[namespace."{vm}"]
[parent.tp0]
create = "veth"
[parent.tp1]
create = "veth"

[[macvlan]]
name = "vm1-net0"
parent = "tp0"
namespace = "{vm}"
kind = "macvtap"
mode = "bridge"
mac = "52:54:00:00:01:01"
bcqueuelen = 2000
bc-cutoff = 2

[[macvlan]]
name = "src0"
parent = "tp1"
namespace = "{vm}"
mode = "source"
flags = ["nodst"]
source-macs = ["02:00:00:00:00:aa"]
"#,
            owner = e.name()
        ),
    );
    e.expect(0, &["apply"], &f);
    let tap = l.link("vm", "vm1-net0");
    assert_eq!(tap["linkinfo"]["info_kind"], "macvtap");
    assert_eq!(info(&tap)["bcqueuelen"], 2000);
    assert_eq!(info(&l.link("vm", "src0"))["nodst"], true);
    e.expect(0, &["plan", "--detailed-exitcode"], &f);

    let round_trip = |what: &str| {
        let shown = e.expect(0, &["show"], &f);
        assert!(
            shown.stdout.contains("kind = \"macvtap\"")
                && shown.stdout.contains("flags = [\"nodst\"]")
                && shown.stdout.contains("bc-cutoff = 2"),
            "{what}: {shown}"
        );
        let sf = e.write("shown.toml", &shown.stdout);
        let p = e.mvtopo(&["plan", "--detailed-exitcode", sf.to_str().unwrap()]);
        assert_eq!(
            p.code, 0,
            "{what}: show's TOML is not in sync:\n{shown}\n{p}"
        );
        let kernel = plan_json(&e, &[], &f);
        let state = e.expect(0, &["show", "--format", "json"], &f);
        let s = e.write("state.json", &state.stdout);
        let from_state = plan_json(&e, &["--state", s.to_str().unwrap()], &f);
        assert_eq!(from_state, kernel, "{what}: plan --state");
        kernel
    };
    assert_eq!(round_trip("in sync")["in_sync"], true);

    // Drift of the queue length: an update of exactly that, made in place.
    let index = l.link("vm", "vm1-net0")["ifindex"].clone();
    l.ip(
        "vm",
        &[
            "link",
            "set",
            "vm1-net0",
            "type",
            "macvtap",
            "bcqueuelen",
            "300",
        ],
    );
    let drifted = round_trip("drifted");
    assert_eq!(
        drifted["steps"][0]["changes"][0]["field"], "bcqueuelen",
        "{drifted}"
    );
    assert_eq!(drifted["steps"][0]["changes"][0]["from"], 300, "{drifted}");
    e.expect(0, &["apply"], &f);
    let tap = l.link("vm", "vm1-net0");
    assert_eq!(info(&tap)["bcqueuelen"], 2000);
    assert_eq!(tap["ifindex"], index, "changed in place");

    e.expect(0, &["destroy"], &f);
    assert!(!l.has_ns("vm"));
    assert!(!l.has_link("host", "tp0"));
}
