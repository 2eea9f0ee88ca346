//! The built `mvtopo` binary against the real kernel, for route metrics, on-link routes and
//! bridge parents: each key applied in lab namespaces and checked with `ip -j -d`, planned
//! again in sync, `show` round-tripped through `plan`, changed in place where the kernel
//! allows it (same ifindex), and destroyed. Not root: "SKIPPED: ..." and a failure, unless
//! MVTOPO_ALLOW_SKIP=1.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod e2e_support;

use e2e_support::*;
use serde_json::Value;

/// A lab switch made by mvtopo: bridge br0 whose ports are the far ends of veths v0 and v1;
/// macvlan a/m0 sits on v0, b/m0 on v1, and c/m0 on the bridge itself, so frames between
/// them cross the bridge. a/m0 has a route with a metric and an on-link one (IPv4 and IPv6).
fn lab_toml(e: &E2e, ports: &str, metric: u32) -> String {
    let (a, b, c) = (e.lab.ns("a"), e.lab.ns("b"), e.lab.ns("c"));
    format!(
        r#"name = "{name}"

[namespace."{a}"]
[namespace."{b}"]
[namespace."{c}"]

[parent.v0]
create = "veth"
peer = "v0p"

[parent.v1]
create = "veth"
peer = "v1p"

[parent.br0]
create = "bridge"
ports = {ports}

[[macvlan]]
name = "m0"
parent = "v0"
namespace = "{a}"
mode = "bridge"
addresses = ["10.20.0.1/24", "fd20::1/64"]
routes = [
  {{ to = "10.30.0.0/16", via = "10.20.0.2", metric = {metric} }},
  {{ to = "10.30.0.0/16", via = "10.20.0.3" }},
  {{ to = "10.31.0.0/16", metric = 50 }},
  {{ to = "fd31::/64", via = "fd20::2", metric = 7 }},
  {{ to = "fd32::/64" }},
]

[[macvlan]]
name = "m0"
parent = "v1"
namespace = "{b}"
mode = "bridge"
addresses = ["10.20.0.2/24", "fd20::2/64"]

[[macvlan]]
name = "m0"
parent = "br0"
namespace = "{c}"
mode = "bridge"
addresses = ["10.20.0.3/24"]
"#,
        name = e.name()
    )
}

fn pings(e: &E2e, short: &str, addr: &str) -> bool {
    (0..5).any(|_| e.lab.ping(short, addr))
}

/// (dst, gateway, metric) of a/m0's routes that are not the kernel's own, sorted.
fn routes(e: &E2e, family: &str) -> Vec<(String, Option<String>, u64)> {
    let mut out: Vec<_> = e
        .lab
        .routes("a", family)
        .iter()
        .filter(|r| r["protocol"] != "kernel" && r["dev"] == "m0")
        .filter(|r| !r["dst"].as_str().unwrap_or("").starts_with("fe80"))
        .map(|r| {
            (
                r["dst"].as_str().unwrap_or("").to_owned(),
                r["gateway"].as_str().map(str::to_owned),
                r["metric"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

fn master(l: &Value) -> Option<&str> {
    l["master"].as_str()
}

#[test]
fn bridge_parent_and_route_metrics_apply_update_in_place_and_destroy() {
    let Some(e) = E2e::new() else { return };
    let f = e.write("lab.toml", &lab_toml(&e, r#"["v0p", "v1p"]"#, 100));
    e.expect(0, &["check"], &f);
    e.expect(0, &["apply"], &f);

    // The bridge and its ports, as iproute2 sees them.
    let br = e.lab.link("host", "br0");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert_eq!(br["ifalias"], format!("mvtopo:{}", e.name()).as_str());
    for port in ["v0p", "v1p"] {
        let p = e.lab.link("host", port);
        assert_eq!(master(&p), Some("br0"), "{port} is a port of br0");
        assert_eq!(p["linkinfo"]["info_slave_kind"], "bridge", "{port}");
    }
    let on_bridge = e.lab.link("c", "m0");
    assert_eq!(on_bridge["link_index"], br["ifindex"], "c/m0 sits on br0");

    // Traffic between macvlans on different veths crosses the bridge, and reaches the
    // macvlan on the bridge itself.
    assert!(pings(&e, "a", "10.20.0.2"), "a -> b through br0");
    assert!(pings(&e, "a", "10.20.0.3"), "a -> c (macvlan on br0)");
    assert!(pings(&e, "b", "fd20::1"), "b -> a over IPv6 through br0");

    // Metrics: two routes to one destination, an on-link route; IPv6 defaults to 1024.
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        routes(&e, "-4"),
        [
            ("10.30.0.0/16".to_owned(), some("10.20.0.2"), 100),
            ("10.30.0.0/16".to_owned(), some("10.20.0.3"), 0),
            ("10.31.0.0/16".to_owned(), None, 50),
        ]
    );
    let onlink = e
        .lab
        .routes("a", "-4")
        .into_iter()
        .find(|r| r["dst"] == "10.31.0.0/16")
        .expect("on-link route");
    assert_eq!(onlink["scope"], "link");
    assert_eq!(
        routes(&e, "-6"),
        [
            ("fd31::/64".to_owned(), some("fd20::2"), 7),
            ("fd32::/64".to_owned(), None, 1024),
        ]
    );

    // In sync, and so is what `show` says about it.
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
    let shown = e.expect(0, &["show"], &f);
    let g = e.write("shown.toml", &shown.stdout);
    e.expect(0, &["check"], &g);
    e.expect(0, &["plan", "--detailed-exitcode"], &g);
    assert!(
        shown.stdout.contains("ports = [\"v0p\", \"v1p\"]"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("metric = 100"), "{}", shown.stdout);

    // A port removed is released in place; a metric changed is a route deleted and made.
    let br_index = br["ifindex"].clone();
    let g = e.write("lab2.toml", &lab_toml(&e, r#"["v0p"]"#, 200));
    let plan = e.expect(0, &["plan"], &g);
    assert!(plan.stdout.contains("ports [v0p, v1p] → [v0p]"), "{plan}");
    e.expect(0, &["apply"], &g);
    let br = e.lab.link("host", "br0");
    assert_eq!(br["ifindex"], br_index, "br0 kept (same ifindex)");
    assert_eq!(master(&e.lab.link("host", "v0p")), Some("br0"));
    assert_eq!(master(&e.lab.link("host", "v1p")), None, "v1p released");
    assert!(!pings(&e, "a", "10.20.0.2"), "b is cut off from the bridge");
    assert!(pings(&e, "a", "10.20.0.3"), "a -> c still through br0");
    assert_eq!(
        routes(&e, "-4")[0],
        ("10.30.0.0/16".to_owned(), some("10.20.0.2"), 200)
    );
    e.expect(0, &["plan", "--detailed-exitcode"], &g);

    // And back: the port is added in place.
    e.expect(0, &["apply"], &f);
    assert_eq!(e.lab.link("host", "br0")["ifindex"], br_index);
    assert_eq!(master(&e.lab.link("host", "v1p")), Some("br0"));
    assert!(pings(&e, "a", "10.20.0.2"), "a -> b through br0 again");
    e.expect(0, &["plan", "--detailed-exitcode"], &f);

    // Destroy leaves nothing of it.
    e.expect(0, &["destroy"], &f);
    for l in ["br0", "v0", "v0p", "v1", "v1p"] {
        assert!(!e.lab.has_link("host", l), "{l} left over");
    }
    for n in ["a", "b", "c"] {
        assert!(!e.lab.has_ns(n), "namespace {n} left over");
    }
}
