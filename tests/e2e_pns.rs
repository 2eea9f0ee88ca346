//! The built `mvtopo` binary against the real kernel, for parents that live in a named
//! namespace (`[parent.X] namespace = "ns"`): a veth made there and an existing interface
//! in a namespace the file did not create, macvlans on them in that namespace, in another
//! one and in mvtopo's own, checked with `ip -j -d`, planned again in sync, `show`
//! round-tripped through `plan`, moved, and destroyed. Not root: "SKIPPED: ..." and a
//! failure, unless MVTOPO_ALLOW_SKIP=1.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod e2e_support;

use e2e_support::*;
use serde_json::Value;

/// Namespace a (made by the file) holds parent p0, a veth whose peer p0p stays in the
/// host; namespace x (made by the test) holds e0, an existing veth end. Macvlans: a/m0 and
/// b/m0 on p0 (its own namespace and another), m1 on p0 from the host, x/m2 on e0.
/// `m1_on` moves m1 to another parent.
fn lab_toml(e: &E2e, m1_on: &str) -> String {
    let (a, b, x) = (e.lab.ns("a"), e.lab.ns("b"), e.lab.ns("x"));
    format!(
        r#"name = "{name}"

[namespace."{a}"]
[namespace."{b}"]
[namespace."{x}"]

[parent.p0]
namespace = "{a}"
create = "veth"
peer = "p0p"

[parent.e0]
namespace = "{x}"

[[macvlan]]
name = "m0"
parent = "p0"
namespace = "{a}"
mode = "bridge"
addresses = ["10.40.0.1/24"]

[[macvlan]]
name = "m0"
parent = "p0"
namespace = "{b}"
mode = "bridge"
addresses = ["10.40.0.2/24"]

[[macvlan]]
name = "m1"
parent = "{m1_on}"
mode = "private"

[[macvlan]]
name = "m2"
parent = "e0"
namespace = "{x}"
"#,
        name = e.name()
    )
}

fn pings(e: &E2e, short: &str, addr: &str) -> bool {
    (0..5).any(|_| e.lab.ping(short, addr))
}

/// Whether `l` sits on `parent`: iproute2 names a lower link in the same namespace, and
/// gives the ifindex and IFLA_LINK_NETNSID of one in another.
fn on(l: &Value, parent: &Value, elsewhere: bool) -> bool {
    if elsewhere {
        l["link_index"] == parent["ifindex"] && l.get("link_netnsid").is_some()
    } else {
        l["link"] == parent["ifname"] && l.get("link_netnsid").is_none()
    }
}

#[test]
fn macvlans_on_parents_inside_namespaces_apply_in_sync_and_destroy() {
    let Some(e) = E2e::new() else { return };
    // An existing namespace with an interface mvtopo did not make: a veth pair, both ends
    // there, brought up by hand.
    e.lab.add_ns("x");
    e.lab.ip(
        "x",
        &["link", "add", "e0", "type", "veth", "peer", "name", "e0p"],
    );
    e.lab.ip("x", &["link", "set", "e0p", "up"]);
    let e0_before = e.lab.link("x", "e0");

    let f = e.write("lab.toml", &lab_toml(&e, "p0"));
    e.expect(0, &["check"], &f);
    let plan = e.expect(0, &["plan"], &f);
    let a = e.lab.ns("a");
    assert!(
        plan.stdout.contains(&format!("create veth {a}/p0")),
        "{plan}"
    );
    assert!(
        plan.stdout
            .contains(&format!("create macvlan m1 on {a}/p0")),
        "{plan}"
    );
    e.expect(0, &["apply"], &f);

    // The parent where the file puts it, its peer in the host, all of it owned.
    let owner = format!("mvtopo:{}", e.name());
    let p0 = e.lab.link("a", "p0");
    assert_eq!(p0["linkinfo"]["info_kind"], "veth");
    assert_eq!(p0["ifalias"], owner.as_str());
    assert!(e.lab.has_link("host", "p0p"), "the peer stays in the host");
    assert!(!e.lab.has_link("host", "p0"), "p0 is not in the host");
    // Macvlans on it: in its namespace, in another, and in mvtopo's own.
    let am0 = e.lab.link("a", "m0");
    let bm0 = e.lab.link("b", "m0");
    let m1 = e.lab.link("host", "m1");
    for (l, elsewhere, mode) in [
        (&am0, false, "bridge"),
        (&bm0, true, "bridge"),
        (&m1, true, "private"),
    ] {
        assert_eq!(l["linkinfo"]["info_kind"], "macvlan", "{l}");
        assert_eq!(l["linkinfo"]["info_data"]["mode"], mode, "{l}");
        assert_eq!(l["ifalias"], owner.as_str());
        assert!(on(l, &p0, elsewhere), "{l} sits on a/p0 ({p0})");
    }
    // On the existing parent in the existing namespace: e0 is used, not claimed.
    let m2 = e.lab.link("x", "m2");
    let e0 = e.lab.link("x", "e0");
    assert!(on(&m2, &e0, false), "{m2} sits on x/e0");
    assert_eq!(e0["ifindex"], e0_before["ifindex"]);
    assert!(
        e0.get("ifalias").is_none_or(Value::is_null),
        "e0 is not claimed: {e0}"
    );
    // Traffic between the two namespaces goes through the parent in a.
    assert!(pings(&e, "a", "10.40.0.2"), "a/m0 -> b/m0 over a/p0");

    // In sync, and so is what `show` says about it.
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
    let shown = e.expect(0, &["show"], &f);
    assert!(
        shown.stdout.contains(&format!(
            "[parent.p0]\nnamespace = \"{a}\"\ncreate = \"veth\""
        )),
        "{}",
        shown.stdout
    );
    let g = e.write("shown.toml", &shown.stdout);
    e.expect(0, &["check"], &g);
    e.expect(0, &["plan", "--detailed-exitcode"], &g);
    // The state file gives the same plan as the kernel.
    let state = e.expect(0, &["show", "--format", "json"], &f);
    let s = e.write("state.json", &state.stdout);
    let s = s.to_str().unwrap();
    e.expect(0, &["plan", "--detailed-exitcode", "--state", s], &f);

    // A macvlan moved from the parent in a to the one in x is replaced there.
    let moved = e.write("moved.toml", &lab_toml(&e, "e0"));
    let plan = e.expect(0, &["plan"], &moved);
    assert!(plan.stdout.contains("replace macvlan m1"), "{plan}");
    e.expect(0, &["apply"], &moved);
    let m1 = e.lab.link("host", "m1");
    assert!(on(&m1, &e.lab.link("x", "e0"), true), "{m1} sits on x/e0");
    e.expect(0, &["plan", "--detailed-exitcode"], &moved);

    // Destroy leaves nothing it made, and the existing namespace and interface in place.
    e.expect(0, &["destroy"], &moved);
    assert!(!e.lab.has_link("host", "m1"));
    assert!(
        !e.lab.has_link("host", "p0p"),
        "the veth went with its pair"
    );
    for n in ["a", "b"] {
        assert!(!e.lab.has_ns(n), "namespace {n} left over");
    }
    assert!(e.lab.has_ns("x"), "x was not made by mvtopo");
    assert!(!e.lab.has_link("x", "m2"));
    assert_eq!(e.lab.link("x", "e0")["ifindex"], e0_before["ifindex"]);
}
