//! Rollback on the real kernel, end to end with the binary: a step the kernel carries out
//! as several requests, refused partway, is undone exactly as far as it got. Each case is
//! one of those reported against the step-level undo, and each compares full `ip -j -d`
//! dumps (links, modes, MACs, MTUs, aliases, ifindexes, addresses, routes, every lab
//! namespace) before the failed apply and after it: identical.
//!
//! Runs the binary inside a lab namespace (`nsenter --net`) like tests/e2e.rs; not root:
//! "SKIPPED: ..." and a failure, unless MVTOPO_ALLOW_SKIP=1.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod e2e_support;

use e2e_support::*;

/// Two hand-made veth parents, up: `ex0` (MTU 1500) and `ex1` (MTU `ex1_mtu`).
fn parents(e: &E2e, ex1_mtu: u32) {
    for (p, mtu) in [("ex0", 1500), ("ex1", ex1_mtu)] {
        let peer = format!("{p}p");
        e.lab.ip(
            "host",
            &[
                "link",
                "add",
                p,
                "mtu",
                &mtu.to_string(),
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ],
        );
        e.lab.ip("host", &["link", "set", p, "up"]);
        e.lab.ip("host", &["link", "set", &peer, "up"]);
    }
}

/// The dump with each namespace's routes sorted: a route table lists routes in the order
/// they were inserted, and a link made again inserts its kernel routes (fe80::/64, ff00::/8)
/// after its siblings'. Everything else, link order and ifindexes included, is compared
/// as the kernel lists it.
fn in_order(mut d: Dump) -> Dump {
    for parts in d.per_ns.values_mut() {
        for routes in &mut parts[2..] {
            if let Some(a) = routes.as_array_mut() {
                a.sort_by_key(|r| r.to_string());
            }
        }
    }
    d
}

/// The applied topology every case starts from: two macvlans in namespace a, with
/// addresses and a route, fixed MACs and MTUs.
fn base() -> Topo {
    Topo::default()
        .ns("a")
        .existing("ex0", None)
        .existing("ex1", None)
        .mv(Mv::new(Some("a"), "mv1", "ex0", "bridge")
            .mac("02:e7:00:00:00:01")
            .mtu(1400)
            .addrs(&["10.70.0.1/24", "fd70::1/64"])
            .route("10.71.0.0/16", Some("10.70.0.254")))
        .mv(Mv::new(Some("a"), "mv2", "ex0", "bridge")
            .mac("02:e7:00:00:00:02")
            .mtu(1400)
            .addrs(&["10.72.0.1/24"]))
}

/// Apply `good`, then `bad`, which must fail on the kernel's `errno` text; the lab's dump
/// after the failure must equal the one before it. Returns the failed run's output.
fn fails_and_restores(e: &E2e, good: &Topo, bad: &Topo, refused: &str) -> Out {
    let f = e.write_topo("lab.toml", good);
    e.expect(0, &["apply"], &f);
    assert_kernel_matches(&e.lab, good);
    let before = settled_dump(&e.lab);
    e.write_topo("lab.toml", bad);
    let out = e.expect(1, &["apply"], &f);
    let err = out.err();
    assert!(err.contains(refused), "expected {refused:?}: {out}");
    assert!(err.contains("undone:"), "what was undone: {out}");
    assert!(err.contains("the system is as it was found"), "{out}");
    let after = settled_dump(&e.lab);
    assert_same_dump(
        &in_order(before),
        &in_order(after),
        "after the failed apply",
    );
    assert_kernel_matches(&e.lab, good);
    // And it is still the applied topology: nothing pending.
    e.write_topo("lab.toml", good);
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
    out
}

/// An update of MAC and MTU where the MTU (above the parent's) is refused: the MAC,
/// already changed by the request before, is set back.
#[test]
fn mac_and_mtu_update_refused_at_the_mtu_restores_the_mac() {
    let Some(e) = E2e::new() else { return };
    parents(&e, 1500);
    let good = base();
    let mut bad = good.clone();
    let m = bad.get(Some("a"), "mv1");
    m.mac = Some("02:e7:00:00:00:11".into());
    m.mtu = Some(9000);
    let out = fails_and_restores(&e, &good, &bad, "set mtu");
    assert!(
        out.err().contains("set mac"),
        "the MAC change was undone: {out}"
    );
}

/// Mode bridge → private plus such an MTU: the mode goes back to bridge.
#[test]
fn mode_and_mtu_update_refused_at_the_mtu_restores_the_mode() {
    let Some(e) = E2e::new() else { return };
    parents(&e, 1500);
    let good = base();
    let mut bad = good.clone();
    let m = bad.get(Some("a"), "mv1");
    m.mode = Some("private".into());
    m.mtu = Some(9000);
    let out = fails_and_restores(&e, &good, &bad, "set mtu");
    assert!(
        out.err().contains("set mode"),
        "the mode change was undone: {out}"
    );
}

/// A parent change (a replace) whose create is refused because a macvlan made by hand on
/// the new parent, up, holds the MAC: the old macvlan comes back with its ifindex, MAC,
/// MTU, mode, alias, addresses and route.
#[test]
fn replace_refused_by_a_mac_held_on_the_new_parent_restores_the_old_link() {
    let Some(e) = E2e::new() else { return };
    parents(&e, 1500);
    let good = base();
    let f = e.write_topo("lab.toml", &good);
    e.expect(0, &["apply"], &f);
    // Made after the first apply, by hand, on ex1: foreign, and holding mv1's MAC.
    e.lab.ip(
        "host",
        &[
            "link",
            "add",
            "hm0",
            "link",
            "ex1",
            "address",
            "02:e7:00:00:00:01",
            "type",
            "macvlan",
        ],
    );
    e.lab.ip("host", &["link", "set", "hm0", "up"]);
    let mut bad = good.clone();
    bad.get(Some("a"), "mv1").parent = "ex1".into();
    fails_and_restores(&e, &good, &bad, "address already in use");
}

/// The same replace refused because the new parent's MTU is below the macvlan's.
#[test]
fn replace_refused_by_a_lower_parent_mtu_restores_the_old_link() {
    let Some(e) = E2e::new() else { return };
    parents(&e, 1300);
    let good = base();
    let mut bad = good.clone();
    bad.get(Some("a"), "mv1").parent = "ex1".into();
    fails_and_restores(&e, &good, &bad, "invalid argument");
}

/// Two steps: the first (mv1's MTU) succeeds, the second (mv2's MAC, then an MTU above the
/// parent's) is refused after its first request. Both are undone, the second's MAC too.
#[test]
fn second_step_refused_partway_undoes_both() {
    let Some(e) = E2e::new() else { return };
    parents(&e, 1500);
    let good = base();
    let mut bad = good.clone();
    bad.get(Some("a"), "mv1").mtu = Some(1300);
    let m = bad.get(Some("a"), "mv2");
    m.mac = Some("02:e7:00:00:00:22".into());
    m.mtu = Some(9000);
    let out = fails_and_restores(&e, &good, &bad, "set mtu");
    let err = out.err();
    assert!(err.contains("step 2 of 2"), "the second step failed: {out}");
    assert!(err.contains("set mac"), "{out}");
}
