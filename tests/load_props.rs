//! Properties of `load_str`: no input makes it panic, and generated valid files load into
//! exactly the topology they describe (defaults filled in, normal form).

use std::collections::BTreeMap;
use std::net::IpAddr;

use mvtopo::check::{LoadError, load_file, load_str};
use mvtopo::load::render_plain;
use mvtopo::model::{ParentKind, Route};
use mvtopo::names::{Cidr, LinkName, MacAddr, Mode, NsName};
use proptest::prelude::*;

const SPEC: &str = include_str!("cases/check-valid-spec-example/topology.toml");

/// Loads and, on error, renders: neither may panic.
fn exercise(text: &str) {
    // The second default name is invalid, which adds a problem at the very start of the file.
    for default_name in ["fuzz", "bad name/"] {
        match load_str("fuzz.toml", text, default_name) {
            Ok(t) => assert!(!t.name.is_empty()),
            Err(e) => {
                assert!(!e.is_empty(), "an error must carry at least one problem");
                assert!(
                    !e.codes().contains(&"mvtopo::check::internal"),
                    "an entry was dropped without a reason:\n{}",
                    render_plain(&e)
                );
                let out = render_plain(&e);
                assert!(out.contains("mvtopo::check"));
            }
        }
    }
}

#[test]
fn an_empty_file_is_an_empty_topology() {
    let t = load_str("empty.toml", "", "empty").unwrap();
    assert!(t.namespaces.is_empty() && t.parents.is_empty() && t.macvlans.is_empty());
    let e = load_str("empty.toml", "", "bad name").unwrap_err();
    assert!(render_plain(&e).contains("mvtopo::check::topology-name"));
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    Replace(usize, u8),
    Delete(usize, usize),
    Insert(usize, u8),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to TOML are over-represented so mutations hit structure, not just text.
    let byte = prop_oneof![
        prop::sample::select(b"[]{}=\",.#\n '\\-0123456789".to_vec()),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, muts: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for m in muts {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Replace(i, b) => {
                if !bytes.is_empty() {
                    bytes[i % len] = b;
                }
            }
            Mutation::Delete(i, n) => {
                let start = i % len;
                let end = (start + n).min(bytes.len());
                if start < end {
                    bytes.drain(start..end);
                }
            }
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Truncate(i) => bytes.truncate(i % len),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn toml_like_strings_never_panic(
        text in "([a-z\\-]{0,8}( = )?(\"[^\"\\n]{0,20}\"|[0-9]{1,25}|\\[[^\\]]{0,30}\\]|true)?\n|\\[\\[?(macvlan|parent\\.[a-z0-9]{1,20}|namespace\\.[a-z]{0,3})\\]\\]?\n){0,20}"
    ) {
        exercise(&text);
    }

    #[test]
    fn mutated_valid_files_never_panic(muts in prop::collection::vec(mutation(), 1..8)) {
        exercise(&mutate(SPEC, &muts));
    }
}

/// A generated valid topology, as the test expects to read it back.
#[derive(Debug, Clone)]
struct GenMacvlan {
    name: String,
    parent: usize,
    ns: Option<usize>,
    mode: Mode,
    mac: Option<[u8; 6]>,
    mtu: Option<u32>,
    up: Option<bool>,
    v4: bool,
    v6: bool,
    default_route: bool,
    extra_route: bool,
    source_macs: Vec<u8>,
}

fn gen_macvlan(n_parents: usize, n_ns: usize) -> impl Strategy<Value = GenMacvlan> {
    let mode = prop::sample::select(vec![Mode::Vepa, Mode::Bridge, Mode::Private, Mode::Source]);
    (
        0..n_parents,
        prop::option::of(0..n_ns.max(1)),
        mode,
        any::<bool>(),
        prop::option::of(68u32..=1500),
        prop::option::of(any::<bool>()),
        any::<(bool, bool, bool, bool)>(),
        prop::collection::btree_set(any::<u8>(), 1..4),
    )
        .prop_map(
            move |(parent, ns, mode, with_mac, mtu, up, (v4, v6, dr, er), source_macs)| {
                GenMacvlan {
                    name: String::new(),
                    parent,
                    ns: ns.filter(|_| n_ns > 0),
                    mode,
                    mac: with_mac.then_some([2, 0, 0, 0, 0, 0]),
                    mtu,
                    up,
                    v4,
                    v6,
                    // A down link holds no routes (check rejects the pair).
                    default_route: dr && v4 && up != Some(false),
                    extra_route: er && up != Some(false),
                    source_macs: source_macs.into_iter().collect(),
                }
            },
        )
}

fn gen_topology() -> impl Strategy<Value = (usize, usize, Vec<Option<u32>>, Vec<GenMacvlan>)> {
    (1usize..4, 0usize..4).prop_flat_map(|(n_parents, n_ns)| {
        (
            Just(n_parents),
            Just(n_ns),
            prop::collection::vec(prop::option::of(1500u32..=9000), n_parents),
            prop::collection::vec(gen_macvlan(n_parents, n_ns), 0..12),
        )
    })
}

fn render(n_ns: usize, parent_mtus: &[Option<u32>], macvlans: &mut [GenMacvlan]) -> String {
    let mut t = String::from("name = \"gen\"\n");
    for i in 0..n_ns {
        t += &format!("[namespace.ns{i}]\n");
    }
    for (i, mtu) in parent_mtus.iter().enumerate() {
        t += &format!("[parent.eth{i}]\n");
        if let Some(m) = mtu {
            t += &format!("mtu = {m}\n");
        }
    }
    // One default route per namespace: a second is a duplicate route.
    let mut has_default = std::collections::BTreeSet::new();
    for m in macvlans.iter_mut() {
        if m.default_route && !has_default.insert(m.ns) {
            m.default_route = false;
        }
    }
    // Written in reverse so the loader's sort is what puts them in order.
    for (i, m) in macvlans.iter_mut().enumerate().rev() {
        m.name = format!("mv{i}");
        if let Some(mac) = &mut m.mac {
            mac[5] = i as u8;
        }
        t += "\n[[macvlan]]\n";
        t += &format!("name = \"{}\"\nparent = \"eth{}\"\n", m.name, m.parent);
        if let Some(ns) = m.ns {
            t += &format!("namespace = \"ns{ns}\"\n");
        }
        if m.mode != Mode::Vepa {
            t += &format!("mode = \"{}\"\n", m.mode);
        }
        if let Some(mac) = m.mac {
            t += &format!("mac = \"{}\"\n", MacAddr(mac));
        }
        if let Some(mtu) = m.mtu {
            t += &format!("mtu = {mtu}\n");
        }
        if let Some(up) = m.up {
            t += &format!("up = {up}\n");
        }
        let mut addrs = Vec::new();
        if m.v4 {
            addrs.push(format!("\"10.{i}.0.2/24\""));
        }
        if m.v6 {
            addrs.push(format!("\"fd00:{i}::2/64\""));
        }
        t += &format!("addresses = [{}]\n", addrs.join(", "));
        let mut routes = Vec::new();
        if m.default_route {
            routes.push(format!("{{ to = \"default\", via = \"10.{i}.0.1\" }}"));
        }
        if m.extra_route {
            routes.push(format!("{{ to = \"172.{}.{i}.0/24\" }}", 16 + i));
        }
        t += &format!("routes = [{}]\n", routes.join(", "));
        if m.mode == Mode::Source {
            // Written in descending order: the loader sorts them.
            let macs: Vec<String> = m
                .source_macs
                .iter()
                .rev()
                .map(|b| format!("\"{}\"", MacAddr([2, 0xaa, 0, 0, i as u8, *b])))
                .collect();
            t += &format!("source-macs = [{}]\n", macs.join(", "));
        }
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_valid_files_load_as_written((_, n_ns, parent_mtus, mut gens) in gen_topology()) {
        let text = render(n_ns, &parent_mtus, &mut gens);
        let topo = match load_str("gen.toml", &text, "ignored") {
            Ok(t) => t,
            Err(e) => return Err(TestCaseError::fail(format!("{text}\n{}", render_plain(&e)))),
        };
        prop_assert_eq!(&topo.name, "gen");
        prop_assert_eq!(topo.namespaces.len(), n_ns);
        prop_assert_eq!(topo.parents.len(), parent_mtus.len());
        for (i, mtu) in parent_mtus.iter().enumerate() {
            let p = &topo.parents[&LinkName::new(&format!("eth{i}")).unwrap()];
            prop_assert_eq!(p.mtu, *mtu);
            prop_assert_eq!(&p.kind, &ParentKind::Existing);
        }
        prop_assert_eq!(topo.macvlans.len(), gens.len());
        let keys: Vec<_> = topo.macvlans.iter().map(|m| (m.namespace.clone(), m.name.clone())).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        prop_assert_eq!(&keys, &sorted);
        let by_name: BTreeMap<String, &GenMacvlan> = gens.iter().map(|g| (g.name.clone(), g)).collect();
        for m in &topo.macvlans {
            let g = by_name[m.name.as_str()];
            let i: u8 = m.name.as_str()[2..].parse().unwrap();
            prop_assert_eq!(m.parent.as_str(), format!("eth{}", g.parent));
            prop_assert_eq!(m.namespace.clone(), g.ns.map(|n| NsName::new(&format!("ns{n}")).unwrap()));
            prop_assert_eq!(m.mode, g.mode);
            prop_assert_eq!(m.mac, g.mac.map(MacAddr));
            prop_assert_eq!(m.mtu, g.mtu);
            prop_assert_eq!(m.up, g.up.unwrap_or(true));
            let mut addrs = Vec::new();
            if g.v4 { addrs.push(format!("10.{i}.0.2/24").parse::<Cidr>().unwrap()); }
            if g.v6 { addrs.push(format!("fd00:{i}::2/64").parse::<Cidr>().unwrap()); }
            prop_assert_eq!(&m.addresses, &addrs);
            let mut routes = Vec::new();
            if g.default_route {
                routes.push(Route { to: "0.0.0.0/0".parse().unwrap(), via: Some(format!("10.{i}.0.1").parse::<IpAddr>().unwrap()) });
            }
            if g.extra_route {
                routes.push(Route { to: format!("172.{}.{i}.0/24", 16 + i).parse().unwrap(), via: None });
            }
            prop_assert_eq!(&m.routes, &routes);
            if g.mode == Mode::Source {
                let mut want: Vec<MacAddr> = g.source_macs.iter().map(|b| MacAddr([2, 0xaa, 0, 0, i, *b])).collect();
                want.sort();
                prop_assert_eq!(&m.source_macs, &want);
            } else {
                prop_assert!(m.source_macs.is_empty());
            }
        }
    }
}

#[test]
fn load_file_names_the_topology_after_the_stem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge-lab.toml");
    std::fs::write(&path, "[parent.eth1]\n").unwrap();
    let topo = load_file(&path).unwrap();
    assert_eq!(topo.name, "edge-lab");
}

#[test]
fn load_file_reports_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    match load_file(&path) {
        Err(LoadError::Io { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected an io error, got {other:?}"),
    }
}

#[test]
fn an_invalid_stem_asks_for_a_name() {
    let e = load_str("my lab.toml", "[parent.eth1]\n", "my lab").unwrap_err();
    assert_eq!(e.codes(), ["mvtopo::check::topology-name"]);
    assert!(
        e.problems[0]
            .help
            .as_deref()
            .unwrap()
            .contains("name = \"my-lab\"")
    );
    // With a `name`, the stem does not matter.
    assert!(load_str("my lab.toml", "name = \"lab\"\n", "my lab").is_ok());
}

#[test]
fn the_spec_example_loads_with_its_defaults() {
    let t = load_str("lab.toml", SPEC, "ignored").unwrap();
    assert_eq!(t.name, "lab");
    let lab0 = &t.parents[&LinkName::new("lab0").unwrap()];
    match &lab0.kind {
        ParentKind::Veth {
            peer,
            peer_namespace,
            peer_namespace_span,
        } => {
            assert_eq!(peer.as_str(), "lab0-peer");
            assert_eq!(peer_namespace.as_ref().map(|n| n.as_str()), Some("switch"));
            assert_eq!(&SPEC[peer_namespace_span.0.clone()], "\"switch\"");
        }
        other => panic!("lab0 is {other:?}"),
    }
    let vlan = &t.parents[&LinkName::new("eth1.10").unwrap()];
    match &vlan.kind {
        ParentKind::Vlan {
            link,
            vlan_id,
            link_span,
        } => {
            assert_eq!(link.as_str(), "eth1");
            assert_eq!(*vlan_id, 10);
            assert_eq!(&SPEC[link_span.0.clone()], "\"eth1\"");
        }
        other => panic!("eth1.10 is {other:?}"),
    }
    assert_eq!(&SPEC[vlan.span.0.clone()], "[parent.\"eth1.10\"]");
    // Sorted by (namespace, name): mvtopo's own namespace (None) first.
    let names: Vec<_> = t.macvlans.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["mv-src", "eth0"]);
    let src = &t.macvlans[0];
    assert_eq!(src.mode, Mode::Source);
    assert_eq!(src.source_macs.len(), 2);
    assert!(src.up);
    assert_eq!(&SPEC[src.span.0.clone()], "[[macvlan]]");
    let eth0 = &t.macvlans[1];
    assert_eq!(eth0.routes[0].to, "0.0.0.0/0".parse::<Cidr>().unwrap());
    assert_eq!(eth0.mtu, Some(1500));
    assert!(
        t.macvlan(
            Some(&NsName::new("red").unwrap()),
            &LinkName::new("eth0").unwrap()
        )
        .is_some()
    );
}

#[test]
fn a_default_route_takes_the_family_of_its_gateway() {
    let text = "[parent.eth1]\n[[macvlan]]\nname = \"mv0\"\nparent = \"eth1\"\naddresses = [\"fd00::2/64\"]\nroutes = [{ to = \"default\", via = \"fd00::1\" }]\n";
    let t = load_str("t.toml", text, "t").unwrap();
    assert_eq!(t.macvlans[0].routes[0].to, "::/0".parse::<Cidr>().unwrap());
    assert_eq!(t.macvlans[0].mode, Mode::Vepa);
}

#[test]
fn veth_peers_default_to_name_p() {
    let t = load_str("t.toml", "[parent.lab0]\ncreate = \"veth\"\n", "t").unwrap();
    match &t.parents[&LinkName::new("lab0").unwrap()].kind {
        ParentKind::Veth {
            peer,
            peer_namespace: None,
            ..
        } => assert_eq!(peer.as_str(), "lab0p"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn problems_come_sorted_by_position() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cases/check-many-errors/topology.toml"
    ))
    .unwrap();
    let e = load_str("t.toml", &text, "t").unwrap_err();
    assert!(e.len() >= 5);
    let starts: Vec<usize> = e.problems.iter().map(|p| p.span.start).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
}

/// Not a timed assertion: run with `cargo test --release --test load_props -- --ignored
/// --nocapture big` to see how long a large file takes.
#[test]
#[ignore]
fn big_file_loads() {
    let mut t = String::from("name = \"big\"\n");
    for n in 0..500 {
        t += &format!("[namespace.ns{n}]\n");
    }
    for p in 0..50 {
        t += &format!("[parent.eth{p}]\nmtu = 9000\n");
    }
    for i in 0..10_000u32 {
        let (n, p) = (i % 500, i % 50);
        let (a, b) = (i / 256, i % 256);
        t += &format!(
            "[[macvlan]]\nname = \"mv{i}\"\nparent = \"eth{p}\"\nnamespace = \"ns{n}\"\nmode = \"bridge\"\nmac = \"02:00:00:00:{a:02x}:{b:02x}\"\naddresses = [\"10.{a}.{b}.2/24\"]\nroutes = [{{ to = \"172.16.{a}.{b}/32\", via = \"10.{a}.{b}.1\" }}]\n"
        );
    }
    let start = std::time::Instant::now();
    let topo = load_str("big.toml", &t, "big").unwrap();
    println!(
        "{} bytes, {} macvlans: {:?}",
        t.len(),
        topo.macvlans.len(),
        start.elapsed()
    );
    assert_eq!(topo.macvlans.len(), 10_000);
}

#[test]
fn a_cycle_of_vlan_links_terminates() {
    // The cycle itself is the graph stage's to report; loading must not loop.
    let text = "[parent.a]\ncreate = \"vlan\"\nlink = \"b\"\nvlan-id = 1\nmtu = 1500\n\
                [parent.b]\ncreate = \"vlan\"\nlink = \"a\"\nvlan-id = 2\n\
                [[macvlan]]\nname = \"mv0\"\nparent = \"b\"\nmtu = 1400\n";
    let t = load_str("t.toml", text, "t").unwrap();
    assert_eq!(t.parents.len(), 2);
}

#[test]
fn the_shipped_examples_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = load_file(&path) {
                panic!("{}", render_plain(&e));
            }
            n += 1;
        }
    }
    assert!(n > 0, "no examples/*.toml found");
}

/// Picks each key's value from a pool of valid and invalid values (or leaves the key out),
/// so the resolver's rules meet each other in every combination.
fn pooled(pool: &'static [&'static str]) -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(pool))
}

fn pooled_entry(keys: &'static [(&'static str, &'static [&'static str])]) -> BoxedStrategy<String> {
    let parts: Vec<BoxedStrategy<String>> = keys
        .iter()
        .map(|(k, pool)| {
            pooled(pool)
                .prop_map(move |v| v.map_or(String::new(), |v| format!("{k} = {v}\n")))
                .boxed()
        })
        .collect();
    parts.prop_map(|lines| lines.concat()).boxed()
}

const PARENT_POOL: &[(&str, &[&str])] = &[
    (
        "create",
        &["\"veth\"", "\"dummy\"", "\"vlan\"", "\"bond\"", "1"],
    ),
    (
        "peer",
        &["\"p0\"", "\"mv0\"", "\"way-too-long-peer\"", "\"eth1\""],
    ),
    ("peer-namespace", &["\"red\"", "\"nope\"", "\"a/b\""]),
    ("link", &["\"eth1\"", "\"p1\"", "\"nope\"", "\"p2\""]),
    ("vlan-id", &["10", "0", "5000", "\"10\""]),
    ("mtu", &["1500", "9000", "10", "1400"]),
];

const MACVLAN_POOL: &[(&str, &[&str])] = &[
    (
        "name",
        &[
            "\"mv0\"", "\"mv1\"", "\"eth1\"", "\"p1\"", "\"a/b\"", "\"\"", "\"p0\"",
        ],
    ),
    ("parent", &["\"eth1\"", "\"p1\"", "\"p2\"", "\"nope\"", "5"]),
    ("namespace", &["\"red\"", "\"blue\"", "\"nope\"", "\"a/b\""]),
    (
        "mode",
        &[
            "\"vepa\"",
            "\"bridge\"",
            "\"passthru\"",
            "\"source\"",
            "\"brige\"",
        ],
    ),
    (
        "mac",
        &[
            "\"02:00:00:00:00:01\"",
            "\"01:00:00:00:00:01\"",
            "\"00:00:00:00:00:00\"",
            "\"x\"",
        ],
    ),
    ("mtu", &["1500", "9000", "1400", "10", "\"x\""]),
    ("up", &["true", "false", "\"yes\""]),
    (
        "addresses",
        &[
            "[]",
            "[\"10.0.0.2/24\"]",
            "[\"10.0.0.2\"]",
            "[\"fd00::2/64\", \"10.0.0.2/24\"]",
            "[1]",
        ],
    ),
    (
        "routes",
        &[
            "[{ to = \"default\", via = \"10.0.0.1\" }]",
            "[{ to = \"default\" }]",
            "[{ to = \"10.1.0.0/16\" }, { to = \"10.1.0.0/16\" }]",
            "[{ via = \"x\" }]",
            "[{ to = \"10.1.2.0/16\", via = \"10.0.0.1\" }]",
            "[{ to = \"10.1.0.0/16\", via = \"fd00::1\" }]",
            "[{ to = \"default\", gateway = \"10.0.0.1\" }]",
            "[\"x\"]",
        ],
    ),
    (
        "source-macs",
        &[
            "[]",
            "[\"02:00:00:00:00:aa\"]",
            "[\"02:00:00:00:00:aa\", \"02:00:00:00:00:AA\"]",
            "[\"x\"]",
        ],
    ),
    ("colour", &["1"]),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn pooled_files_never_panic_or_drop_entries(
        name in pooled(&["\"lab\"", "\"my lab\"", "1"]),
        parents in prop::collection::vec(pooled_entry(PARENT_POOL), 0..4),
        macvlans in prop::collection::vec(pooled_entry(MACVLAN_POOL), 0..5),
    ) {
        let mut text = name.map_or(String::new(), |n| format!("name = {n}\n"));
        text += "[namespace.red]\n[namespace.blue]\n[namespace.\"a/b\"]\n[parent.eth1]\n";
        for (i, p) in parents.iter().enumerate() {
            text += &format!("[parent.p{i}]\n{p}");
        }
        for m in &macvlans {
            text += &format!("[[macvlan]]\n{m}");
        }
        exercise(&text);
    }
}
