//! Fault injection on the real kernel: the rtnetlink backend is made to refuse its N-th
//! request (`Netlink::fail_at`, compiled only with the `testing` feature), for every N of
//! every golden plan this host's kernel can run, and at a few points of a W1-shaped
//! workload. After each refused run, a full `ip -j -d` dump of every lab namespace (links
//! with modes, MACs, MTUs, aliases and ifindexes; addresses; routes of both families in
//! every table) must equal the one taken before: identical, every time.
//!
//! Golden cases come from tests/cases/plan-*/: the live state is built in a lab (every
//! namespace renamed with the lab's prefix, an existing NIC stood in for by a veth whose
//! peer sits in a lab namespace of its own), the topology renamed likewise, and the plan
//! made against the lab's snapshot. Cases with dummy or vlan links are left out (this
//! host's kernel has neither; the QEMU tier has them: their trials are listed as ignored).
//! One trial per case, `every_request_refused_leaves_the_kernel_as_found::CASE`
//! (`cargo test --test fault_sweep -- plan-foo` runs one). Root only: a failure otherwise,
//! or, with MVTOPO_ALLOW_SKIP=1, "SKIPPED: ..." and every trial ignored.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod e2e_support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::Lab;
use e2e_support::{Dump, dump, settled_dump};
use libtest_mimic::{Arguments, Trial};
use mvtopo::apply::backend::Backend;
use mvtopo::apply::{self, ApplyError, NewKind, NewLink, Request};
use mvtopo::check::load_str;
use mvtopo::diff::diff;
use mvtopo::live::{LinkKind, LinkRef, LiveLink, LiveState};
use mvtopo::model::Topology;
use mvtopo::testing::LabShape;
use serde_json::Value;

/// The errno injected: one the planner never meets naturally, so nothing can mistake it for
/// "already gone".
const INJECTED: i32 = libc::EIO;

/// The lab's dump once it equals `want`, polled for a few seconds: some state settles
/// asynchronously after the last request (the link watcher updates operstate and carrier
/// up to a second later; a recreated link's IPv6 link-local address goes through duplicate
/// address detection). The last dump taken when it never does.
fn settles_to(lab: &Lab, want: &Dump) -> Dump {
    let start = Instant::now();
    loop {
        let now = in_order(dump(lab));
        if &now == want || start.elapsed() > Duration::from_secs(4) {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Routes sorted within each table dump: a table lists routes in insertion order, and a link
/// made again inserts its kernel routes after its siblings'. And of an administratively
/// down link, the qdisc and promiscuity count are left out: they are what the link kept
/// from having been up (a first up attaches the default qdisc, `noqueue` for a veth, in
/// place of `noop`, and a parent without unicast filtering goes promiscuous for its
/// macvlans' MACs), and going down again resets neither; no request sets them. Left out
/// too: IPv6 link-local addresses and the link-scope IPv6 routes (fe80::/64, ff00::/8,
/// the local fe80 entries), which the kernel makes on its own whenever a link has carrier
/// (a veth's peer gets carrier while its other end is up for a moment) and keeps after;
/// mvtopo neither manages nor reads them. Everything else is compared as the kernel lists it.
fn in_order(mut d: Dump) -> Dump {
    for parts in d.per_ns.values_mut() {
        if let Some(links) = parts[1].as_array_mut() {
            for l in links {
                if let Some(a) = l.get_mut("addr_info").and_then(Value::as_array_mut) {
                    a.retain(|x| !(x["family"] == "inet6" && x["scope"] == "link"));
                }
            }
        }
        if let Some(routes) = parts[3].as_array_mut() {
            routes.retain(|r| {
                let dst = r["dst"].as_str().unwrap_or_default();
                !(dst.starts_with("fe80:") || dst == "ff00::/8")
            });
        }
        for links in parts[..2].iter_mut().filter_map(Value::as_array_mut) {
            for l in links {
                let up = l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "UP"));
                if let (false, Some(m)) = (up, l.as_object_mut()) {
                    m.remove("qdisc");
                    m.remove("promiscuity");
                }
            }
        }
        for routes in &mut parts[2..] {
            if let Some(a) = routes.as_array_mut() {
                a.sort_by_key(|r| r.to_string());
            }
        }
    }
    d
}

fn first_difference(before: &Dump, after: &Dump) -> String {
    if before.netns != after.netns {
        return format!("namespaces: {:?} → {:?}", before.netns, after.netns);
    }
    for (ns, b) in &before.per_ns {
        let Some(a) = after.per_ns.get(ns) else {
            return format!("namespace {ns} gone");
        };
        for (i, part) in ["ip -d link", "ip addr", "ip -4 route", "ip -6 route"]
            .iter()
            .enumerate()
        {
            if b[i] != a[i] {
                let (b, a) = (
                    serde_json::to_string_pretty(&b[i]).unwrap_or_default(),
                    serde_json::to_string_pretty(&a[i]).unwrap_or_default(),
                );
                let d = similar::TextDiff::from_lines(&b, &a)
                    .unified_diff()
                    .context_radius(4)
                    .header("before", "after")
                    .to_string();
                return format!("`{part}` of {ns}:\n{d}");
            }
        }
    }
    "?".into()
}

// ---------------------------------------------------------------------------------------
// Golden cases, renamed into a lab and built in it.

struct Case {
    name: String,
    toml: String,
    live: Value,
}

fn golden() -> Vec<Case> {
    common::cases::dirs("plan-")
        .into_iter()
        .filter(|d| d.join("live.json").exists())
        .map(|d| Case {
            name: common::cases::name(&d),
            toml: std::fs::read_to_string(d.join("topology.toml")).unwrap(),
            live: serde_json::from_str(&std::fs::read_to_string(d.join("live.json")).unwrap())
                .unwrap(),
        })
        .collect()
}

/// Whether this host's kernel can hold the case (no dummy, no vlan).
fn runnable(c: &Case) -> bool {
    let kinds = ["\"dummy\"", "\"vlan\""];
    !kinds.iter().any(|k| {
        c.toml.contains(&format!("create = {k}"))
            || c.live.to_string().contains(&format!("\"kind\":{k}"))
    })
}

/// The topology with its name and namespaces renamed into the lab.
fn rename_toml(text: &str, lab: &Lab, namespaces: &[String]) -> String {
    let mut out = Vec::new();
    let mut top = true;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            top = false;
        }
        let mut l = line.to_owned();
        if top && t.starts_with("name =") {
            l = format!("name = \"{}\"", lab.prefix);
        }
        for ns in namespaces {
            let full = lab.ns(ns);
            l = l
                .replace(
                    &format!("[namespace.{ns}]"),
                    &format!("[namespace.\"{full}\"]"),
                )
                .replace(
                    &format!("namespace = \"{ns}\""),
                    &format!("namespace = \"{full}\""),
                );
        }
        out.push(l);
    }
    out.join("\n")
}

/// Every namespace name a case uses (in its file or its live state).
fn case_namespaces(c: &Case) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for line in c.toml.lines() {
        let t = line.trim();
        if let Some(r) = t.strip_prefix("[namespace.") {
            v.push(r.trim_end_matches(']').trim_matches('"').to_owned());
        }
        for key in ["namespace = \"", "peer-namespace = \""] {
            if let Some(r) = t.strip_prefix(key) {
                v.push(r.trim_end_matches('"').to_owned());
            }
        }
    }
    collect_ns(&c.live, &mut v);
    v.sort();
    v.dedup();
    v
}

fn collect_ns(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(s)) = m.get("namespace") {
                out.push(s.clone());
            }
            // `namespaces`: [{name, owner}]
            if let Some(Value::Array(a)) = m.get("namespaces") {
                out.extend(
                    a.iter()
                        .filter_map(|n| n["name"].as_str().map(str::to_owned)),
                );
            }
            for x in m.values() {
                collect_ns(x, out);
            }
        }
        Value::Array(a) => {
            if let Some(first) = a.first()
                && first
                    .get("owner")
                    .is_some_and(|_| first.get("kind").is_none())
            {
                // `namespaces`: [{name, owner}]
            }
            a.iter().for_each(|x| collect_ns(x, out));
        }
        _ => {}
    }
}

/// The live state renamed into the lab: namespaces prefixed, the topology's owner (and any
/// other owner) made unique to the lab.
fn rename_live(live: &Value, lab: &Lab, owner: &str) -> LiveState {
    fn walk(v: &mut Value, lab: &Lab, owner: &str, in_namespaces: bool) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match (k.as_str(), x) {
                        ("namespace", Value::String(s)) => *s = lab.ns(s),
                        ("name", Value::String(s)) if in_namespaces => *s = lab.ns(s),
                        ("owner", Value::String(s)) => {
                            *s = if s == owner {
                                lab.prefix.clone()
                            } else {
                                format!("{}-{s}", lab.prefix)
                            }
                        }
                        ("namespaces", x) => walk(x, lab, owner, true),
                        (_, x) => walk(x, lab, owner, false),
                    }
                }
            }
            Value::Array(a) => a
                .iter_mut()
                .for_each(|x| walk(x, lab, owner, in_namespaces)),
            _ => {}
        }
    }
    let mut v = live.clone();
    walk(&mut v, lab, owner, false);
    let mut s: LiveState = serde_json::from_value(v).unwrap();
    s.normalize();
    s
}

/// A snapshot of the lab. The snapshot reads every namespace on the machine, and gives up
/// when one keeps changing under it (NLM_F_DUMP_INTR ten times: other tests' namespaces
/// churn), so it is read again a few times.
fn snapshot(lab: &Lab) -> LiveState {
    let mut last = None;
    for _ in 0..5 {
        match lab.netlink().snapshot() {
            Ok(s) => return s,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("snapshot: {last:?}")
}

fn depth(l: &LiveLink) -> u8 {
    match l.kind {
        LinkKind::Macvlan => 1,
        _ => 0,
    }
}

/// Build `live` in the lab with plain requests (no apply): namespaces, links (a NIC as a
/// veth whose peer is in lab namespace "nics"), aliases, up, addresses, routes.
fn build(lab: &Lab, live: &LiveState) {
    let mut nl = lab.netlink();
    let nics = lab.add_ns("nics");
    for n in &live.namespaces {
        match &n.owner {
            Some(o) => nl
                .request(
                    &Request::CreateNamespace {
                        name: n.name.clone(),
                    },
                    o,
                )
                .unwrap(),
            None => {
                common::run("ip", &["netns", "add", n.name.as_str()]);
            }
        }
    }
    let mut links: Vec<&LiveLink> = live.links.iter().collect();
    links.sort_by_key(|l| depth(l));
    let mut made: Vec<LinkRef> = Vec::new();
    for l in &links {
        if made.contains(&l.at()) {
            continue;
        }
        let kind = match l.kind {
            LinkKind::Device => NewKind::Veth {
                peer: LinkRef {
                    namespace: Some(mvtopo::testing::ns(&nics)),
                    name: l.name.clone(),
                },
                peer_mac: None,
                peer_mtu: Some(l.mtu),
            },
            LinkKind::Veth => {
                let peer = l.peer.clone().expect("a veth's peer");
                let p = live.link(peer.namespace.as_ref(), &peer.name);
                made.push(peer.clone());
                NewKind::Veth {
                    peer,
                    peer_mac: p.and_then(|p| p.mac),
                    peer_mtu: p.map(|p| p.mtu),
                }
            }
            LinkKind::Macvlan | LinkKind::Macvtap => NewKind::Macvlan {
                parent: l.parent.clone().expect("a macvlan's parent"),
                mode: l.mode.unwrap_or_default(),
                source_macs: l.source_macs.clone(),
                kind: l.kind.macvlan().unwrap_or_default(),
                flags: l.flags.clone(),
                bcqueuelen: l.bcqueuelen,
                bc_cutoff: l.bc_cutoff,
            },
            LinkKind::Bridge => NewKind::Bridge,
            ref k => panic!("cannot build a {k} link here"),
        };
        let passthru = l.mode == Some(mvtopo::names::Mode::Passthru);
        let new = NewLink {
            at: l.at(),
            kind,
            mac: l.mac.filter(|_| !passthru),
            mtu: Some(l.mtu),
            // Made as undo makes a link it gives back: not through the create journal, whose
            // reserved group only a claim clears (these get their alias, or none, below).
            restore: true,
        };
        nl.request(&Request::CreateLink(new), "-").unwrap();
        made.push(l.at());
    }
    for l in &links {
        if let Some(o) = &l.owner {
            let r = Request::SetAlias {
                at: l.at(),
                owner: Some(o.clone()),
            };
            nl.request(&r, o).unwrap();
        }
        if l.up {
            nl.request(
                &Request::SetUp {
                    at: l.at(),
                    up: true,
                },
                "-",
            )
            .unwrap();
        }
    }
    // Bridge ports, once every link is there.
    for l in links.iter().filter(|l| l.master.is_some()) {
        let r = Request::SetMaster {
            at: l.at(),
            master: l.master.clone(),
        };
        nl.request(&r, "-").unwrap();
    }
    for l in &links {
        for a in &l.addresses {
            let r = Request::AddAddress {
                at: l.at(),
                address: *a,
            };
            nl.request(&r, "-").unwrap();
        }
    }
    for l in &links {
        for route in &l.routes {
            let r = Request::AddRoute {
                at: l.at(),
                route: route.clone(),
            };
            nl.request(&r, "-").unwrap();
        }
    }
}

/// Refuse each request of `plan` in turn (a fresh backend each time, as a new process
/// would be), and compare the lab's dump with `before` after every refused run. Returns the
/// number of requests of a clean run (the last trial, which nothing refuses).
fn sweep(
    lab: &Lab,
    what: &str,
    t: &Topology,
    live: &LiveState,
    points: &dyn Fn(usize) -> bool,
) -> (usize, usize) {
    let plan = diff(t, live).unwrap_or_else(|e| panic!("{what}: {e}"));
    let before = in_order(settled_dump(lab));
    let check = |after: &LiveState| diff(t, after).map(|p| p.steps);
    let mut tried = 0;
    let mut unread = 0;
    let mut n = 0;
    loop {
        if !points(n) {
            n += 1;
            continue;
        }
        let mut nl = lab.netlink();
        nl.fail_at(Some((n, INJECTED)));
        let result = apply::run(&mut nl, &plan, live, &check, Default::default());
        n += 1;
        match result {
            Ok(_) => return (n - 1, tried),
            // Verification could not read the machine (see `snapshot`); everything was
            // undone, so the same point is tried again.
            Err(ApplyError::Snapshot { error: e, .. }) if unread < 5 => {
                unread += 1;
                eprintln!("{what}: request {}: {e}; trying again", n - 1);
                n -= 1;
            }
            Err(ApplyError::Step {
                error,
                undo,
                request,
                ..
            }) => {
                let n = n - 1;
                assert_eq!(error.errno, Some(INJECTED), "{what}: request {n}: {error}");
                assert!(
                    undo.complete(),
                    "{what}: request {n} ({request:?}): undo failed: {:?}",
                    undo.failed
                );
                let after = settles_to(lab, &before);
                assert!(
                    after == before,
                    "{what}: refused at request {n} ({}): not as found: {}",
                    request.map(|r| r.to_string()).unwrap_or_default(),
                    first_difference(&before, &after)
                );
                tried += 1;
            }
            Err(e) => panic!("{what}: request {}: {e}", n - 1),
        }
    }
}

/// Requests refused per golden plan swept, filled by the case trials.
static SWEPT: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn main() {
    let mut args = Arguments::from_args();
    // One trial at a time unless told otherwise, as the sweep ran before it was split into
    // trials: the before/after dumps wait for the kernel to settle (carrier and operstate
    // follow a moment after a link comes up), which takes longer the more labs churn at once.
    args.test_threads.get_or_insert(1);
    let mut trials = Vec::new();
    for c in golden() {
        let name = format!(
            "every_request_refused_leaves_the_kernel_as_found::{}",
            c.name
        );
        trials.push(if runnable(&c) {
            Trial::test(name, move || {
                every_request_refused_leaves_the_kernel_as_found(&c);
                Ok(())
            })
        } else {
            Trial::test(name, || {
                Err("this host's kernel has no dummy or vlan links (the QEMU tier has them)".into())
            })
            .with_ignored_flag(true)
        });
    }
    trials.push(Trial::test(
        "a_w1_shaped_apply_refused_at_a_few_points_leaves_the_kernel_as_found",
        || {
            a_w1_shaped_apply_refused_at_a_few_points_leaves_the_kernel_as_found();
            Ok(())
        },
    ));
    trials.push(Trial::test(
        "a_prune_in_concurrent_batches_refused_at_a_few_points_leaves_the_kernel_as_found",
        || {
            a_prune_in_concurrent_batches_refused_at_a_few_points_leaves_the_kernel_as_found();
            Ok(())
        },
    ));
    let conclusion = libtest_mimic::run(&args, common::kernel_trials(trials));
    // The sweep as a whole, when every case ran: enough plans and requests refused.
    if !args.list
        && conclusion.num_filtered_out == 0
        && !conclusion.has_failed()
        && common::is_root()
    {
        let swept = SWEPT.lock().unwrap();
        let total: usize = swept.values().sum();
        eprintln!(
            "fault sweep: {total} refused requests over {} golden plans: {swept:?}",
            swept.len()
        );
        assert!(
            swept.len() >= 20,
            "only {} golden plans swept: {swept:?}",
            swept.len()
        );
        assert!(total >= 100, "only {total} requests refused");
    }
    conclusion.exit();
}

fn every_request_refused_leaves_the_kernel_as_found(c: &Case) {
    let Some(lab) = Lab::new() else { return };
    let namespaces = case_namespaces(c);
    let toml = rename_toml(&c.toml, &lab, &namespaces);
    let owner = c
        .toml
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .map(|r| r.trim_end_matches('"').to_owned())
        .unwrap_or_default();
    let Ok(t) = load_str("topology.toml", &toml, "topology") else {
        panic!("{}: the renamed topology does not load:\n{toml}", c.name);
    };
    let live = rename_live(&c.live, &lab, &owner);
    build(&lab, &live);
    let now = snapshot(&lab);
    // Plans that stop before any change (a foreign object in the way) or have nothing to do
    // make no request to refuse.
    match diff(&t, &now) {
        Ok(p) if !p.steps.is_empty() => {}
        _ => return,
    }
    let (requests, tried) = sweep(&lab, &c.name, &t, &now, &|_| true);
    assert_eq!(requests, tried, "{}", c.name);
    SWEPT.lock().unwrap().insert(c.name.clone(), requests);
}

/// W1's shape (4 veth parents, 50 namespaces, 1000 bridge macvlans with an address each),
/// refused at a few points: the first request, inside the namespaces, inside the macvlans,
/// at the very last request.
fn a_w1_shaped_apply_refused_at_a_few_points_leaves_the_kernel_as_found() {
    let Some(lab) = Lab::new() else { return };
    let toml = LabShape::w1(&lab.prefix, |n| lab.ns(&format!("n{n}"))).toml();
    let t = load_str("w1.toml", &toml, "w1").unwrap();
    let live = snapshot(&lab);
    // 50 namespaces, 4 veths (create + 2 claims), 1000 × (create, claim, address).
    let total = 50 + 4 * 3 + 1000 * 3;
    let points = [0, 30, 50 + 12 + 1501, total - 1];
    let (requests, tried) = sweep(&lab, "w1", &t, &live, &|n| {
        points.contains(&n) || n >= total
    });
    assert_eq!(requests, total, "the request count of W1 changed");
    assert_eq!(tried, points.len());
}

/// A prune of W1's shape at a smaller size (10 namespaces of 5 macvlans with an address
/// each, all removed from the file): one batch of deletes per namespace, all made at once
/// (`Backend::request_many`). Refused at the first batch, at one in the middle (the others
/// are carried out all the same, and undone) and at the last: the kernel as found each time.
fn a_prune_in_concurrent_batches_refused_at_a_few_points_leaves_the_kernel_as_found() {
    let Some(lab) = Lab::new() else { return };
    let head = |toml: &mut String| {
        toml.push_str(&format!("name = \"{}\"\n", lab.prefix));
        for n in 0..10 {
            toml.push_str(&format!("[namespace.\"{}\"]\n", lab.ns(&format!("n{n}"))));
        }
        for p in 0..2 {
            toml.push_str(&format!("[parent.up{p}]\ncreate = \"veth\"\n"));
        }
    };
    let (mut full, mut pruned) = (String::new(), String::new());
    head(&mut full);
    head(&mut pruned);
    for n in 0..10 {
        for i in 0..5 {
            full.push_str(&format!(
                "[[macvlan]]\nname = \"mv{i}\"\nparent = \"up{}\"\nnamespace = \"{}\"\naddresses = [\"10.61.{n}.{}/16\"]\n",
                i % 2,
                lab.ns(&format!("n{n}")),
                i + 1
            ));
        }
    }
    let full = load_str("full.toml", &full, "full").unwrap();
    let pruned = load_str("pruned.toml", &pruned, "pruned").unwrap();
    let live = snapshot(&lab);
    let plan = diff(&full, &live).unwrap();
    let check = |after: &LiveState| diff(&full, after).map(|p| p.steps);
    apply::run(&mut lab.netlink(), &plan, &live, &check, Default::default()).unwrap();
    let live = snapshot(&lab);
    let in_lab = |s: &LiveState| {
        s.links
            .iter()
            .filter(|l| {
                l.namespace
                    .as_ref()
                    .is_some_and(|n| n.as_str().starts_with(&format!("{}-n", lab.prefix)))
            })
            .count()
    };
    assert_eq!(in_lab(&live), 50);
    let points = [0, 4, 9, 10];
    let (requests, tried) = sweep(&lab, "prune", &pruned, &live, &|n| points.contains(&n));
    assert_eq!(requests, 10, "one batch per namespace");
    assert_eq!(tried, 3);
    assert_eq!(in_lab(&snapshot(&lab)), 0);
}
