//! The dependency graph of a topology: which object must exist before which, its
//! deterministic topological order, and the vlan-link cycle check (its picture is
//! `render::dot`).
//!
//! Nodes are `object::Key`s; an edge goes from a dependency to its dependent (a namespace to
//! the macvlans in it, a parent to its macvlans, a macvlan to its addresses, an address to
//! the routes whose gateway it reaches). The only way a file can make a cycle is a chain of
//! vlan `link`s that comes back to itself; `build` reports it with the `link` spans.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use miette::LabeledSpan;
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::live::LinkRef;
use crate::model::{Macvlan, ParentKind, Topology};
use crate::names::LinkName;
use crate::object::Key;

/// A chain of vlan parents whose `link`s lead back to where they started.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
#[error("dependency cycle through vlan links: {}", describe(.cycles))]
#[diagnostic(
    code("mvtopo::check::vlan-cycle"),
    help(
        "a vlan parent's `link` must lead, through other vlans if need be, to a veth, dummy or existing parent"
    )
)]
pub struct CycleError {
    /// Each cycle as the vlan parents in link order, starting at its smallest name.
    pub cycles: Vec<Vec<LinkName>>,
    /// One label per `link` value on a cycle.
    #[label(collection)]
    pub labels: Vec<LabeledSpan>,
}

fn describe(cycles: &[Vec<LinkName>]) -> String {
    cycles
        .iter()
        .map(|c| {
            let mut s: Vec<&str> = c.iter().map(LinkName::as_str).collect();
            if let Some(first) = c.first() {
                s.push(first.as_str());
            }
            s.join(" -> ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The dependency graph of a topology (or of any set of keys, see `DepGraph::from_edges`).
#[derive(Debug, Clone, Default)]
pub struct DepGraph {
    graph: DiGraph<Key, ()>,
    /// Hashed fast (the keys are the tool's own): a plan of 100,000 macvlans looks up
    /// every key of both its graphs for each edge.
    index: foldhash::HashMap<Key, NodeIndex>,
}

impl DepGraph {
    /// A graph over `nodes`; edges whose ends are not both nodes are left out, so callers can
    /// describe dependencies on objects that are not part of this particular graph.
    pub fn from_edges(
        nodes: impl IntoIterator<Item = Key>,
        edges: impl IntoIterator<Item = (Key, Key)>,
    ) -> DepGraph {
        let mut g = DepGraph::default();
        for k in nodes {
            g.add_node(k);
        }
        for (from, to) in edges {
            g.add_edge(&from, &to);
        }
        g
    }

    fn add_node(&mut self, k: Key) -> NodeIndex {
        if let Some(i) = self.index.get(&k) {
            return *i;
        }
        let i = self.graph.add_node(k.clone());
        self.index.insert(k, i);
        i
    }

    fn add_edge(&mut self, from: &Key, to: &Key) {
        // Parallel edges are harmless (Kahn counts and releases each one) and checking for
        // them would cost the degree of a parent with thousands of macvlans per edge.
        if let (Some(a), Some(b)) = (self.index.get(from), self.index.get(to))
            && a != b
        {
            self.graph.add_edge(*a, *b, ());
        }
    }

    pub fn contains(&self, k: &Key) -> bool {
        self.index.contains_key(k)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The direct dependents of `k` (its out-neighbours), sorted.
    pub fn dependents(&self, k: &Key) -> Vec<Key> {
        self.neighbours(k, Direction::Outgoing)
    }

    /// The direct dependencies of `k`, sorted.
    pub fn dependencies(&self, k: &Key) -> Vec<Key> {
        self.neighbours(k, Direction::Incoming)
    }

    fn neighbours(&self, k: &Key, dir: Direction) -> Vec<Key> {
        let Some(i) = self.index.get(k) else {
            return vec![];
        };
        let mut v: Vec<Key> = self
            .graph
            .neighbors_directed(*i, dir)
            .map(|n| self.graph[n].clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether the edges form a cycle: the orders below then fall back to taking the
    /// smallest remaining key, which a planner must treat as an internal error.
    pub fn has_cycle(&self) -> bool {
        petgraph::algo::is_cyclic_directed(&self.graph)
    }

    /// Every key, dependencies before dependents; among the keys that are ready at the same
    /// time the smallest `Key` goes first, so the order depends on nothing but the graph.
    pub fn order(&self) -> Vec<Key> {
        self.order_by(Direction::Outgoing, |_| 0)
    }

    /// Dependents before dependencies (the order to delete things in); among the keys ready
    /// at the same time: routes, addresses, macvlans, parents, namespaces, then by `Key`.
    pub fn reverse_order(&self) -> Vec<Key> {
        self.order_by(Direction::Incoming, |k| 4 - kind_rank(k))
    }

    /// Kahn's algorithm following edges in direction `dir`, picking the ready node with the
    /// smallest (`prio`, `Key`) first. A cycle cannot come out of `build` (it checks vlan chains
    /// first); if one is ever there anyway, the smallest remaining node is taken so the
    /// order still holds every key exactly once.
    fn order_by(&self, dir: Direction, prio: impl Fn(&Key) -> u8) -> Vec<Key> {
        let g = &self.graph;
        let n = g.node_count();
        // Rank every node by priority once, so the ready queue holds plain integers.
        let mut by_prio: Vec<NodeIndex> = g.node_indices().collect();
        // Compared in place: a sort key cloned out of each node would copy every key.
        by_prio.sort_by(|a, b| (prio(&g[*a]), &g[*a]).cmp(&(prio(&g[*b]), &g[*b])));
        let mut rank = vec![0usize; n];
        for (r, i) in by_prio.iter().enumerate() {
            rank[i.index()] = r;
        }
        let mut pending: Vec<usize> = g
            .node_indices()
            .map(|i| g.neighbors_directed(i, dir.opposite()).count())
            .collect();
        let mut ready: BinaryHeap<Reverse<usize>> = g
            .node_indices()
            .filter(|i| pending[i.index()] == 0)
            .map(|i| Reverse(rank[i.index()]))
            .collect();
        let mut done = vec![false; n];
        let mut fallback = 0;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let next = match ready.pop() {
                Some(Reverse(r)) => by_prio[r],
                None => {
                    while fallback < n && done[by_prio[fallback].index()] {
                        fallback += 1;
                    }
                    match by_prio.get(fallback) {
                        Some(i) => *i,
                        None => break,
                    }
                }
            };
            if done[next.index()] {
                continue;
            }
            done[next.index()] = true;
            out.push(g[next].clone());
            for m in g.neighbors_directed(next, dir) {
                let p = &mut pending[m.index()];
                *p = p.saturating_sub(1);
                if *p == 0 && !done[m.index()] {
                    ready.push(Reverse(rank[m.index()]));
                }
            }
        }
        out
    }
}

/// Namespaces 0, parents 1, macvlans 2, addresses 3, routes 4.
pub fn kind_rank(k: &Key) -> u8 {
    match k {
        Key::Namespace { .. } => 0,
        Key::Parent { .. } => 1,
        Key::Macvlan { .. } => 2,
        Key::Address { .. } => 3,
        Key::Route { .. } => 4,
    }
}

fn macvlan_key(m: &Macvlan) -> Key {
    Key::Macvlan {
        at: LinkRef::new(m.namespace.clone(), m.name.clone()),
    }
}

/// The keys of everything a topology asks for, and the edges between them.
pub fn nodes_and_edges(t: &Topology) -> (Vec<Key>, Vec<(Key, Key)>) {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for ns in t.namespaces.keys() {
        nodes.push(Key::Namespace { name: ns.clone() });
    }
    for p in t.parents.values() {
        let key = Key::parent(p.at());
        nodes.push(key.clone());
        if let Some(ns) = &p.namespace {
            edges.push((Key::Namespace { name: ns.clone() }, key.clone()));
        }
        match &p.kind {
            // The vlan's link is in the vlan's namespace (check).
            ParentKind::Vlan { link, .. } => {
                let at = LinkRef::new(p.namespace.clone(), link.clone());
                edges.push((Key::parent(at), key));
            }
            ParentKind::Veth {
                peer_namespace: Some(ns),
                ..
            } => edges.push((Key::Namespace { name: ns.clone() }, key)),
            // A port is made (with its veth) before the bridge enslaves it.
            ParentKind::Bridge { ports, .. } => {
                for v in ports.iter().filter_map(|port| t.veth_of(port)) {
                    edges.push((Key::parent(v.at()), key.clone()));
                }
            }
            _ => {}
        }
    }
    for m in &t.macvlans {
        let mk = macvlan_key(m);
        nodes.push(mk.clone());
        if let Some(ns) = &m.namespace {
            edges.push((Key::Namespace { name: ns.clone() }, mk.clone()));
        }
        let parent = LinkRef::new(m.parent_namespace.clone(), m.parent.clone());
        edges.push((Key::parent(parent), mk.clone()));
        let at = LinkRef::new(m.namespace.clone(), m.name.clone());
        for a in &m.addresses {
            let ak = Key::Address {
                at: at.clone(),
                address: *a,
            };
            nodes.push(ak.clone());
            edges.push((mk.clone(), ak));
        }
        for r in &m.routes {
            let rk = Key::Route {
                at: at.clone(),
                to: r.to,
                metric: r.metric,
            };
            nodes.push(rk.clone());
            edges.push((route_dependency(&at, &m.addresses, r.via.as_ref()), rk));
        }
    }
    (nodes, edges)
}

/// What a route needs first: the (smallest) address whose prefix holds its gateway, or the
/// link itself for a route without one (or whose gateway no address reaches).
pub fn route_dependency(
    at: &LinkRef,
    addresses: &[crate::names::Cidr],
    via: Option<&std::net::IpAddr>,
) -> Key {
    let mut holders: Vec<_> = match via {
        Some(gw) => addresses.iter().filter(|a| a.contains(gw)).collect(),
        None => vec![],
    };
    holders.sort();
    match holders.first() {
        Some(a) => Key::Address {
            at: at.clone(),
            address: **a,
        },
        None => Key::Macvlan { at: at.clone() },
    }
}

/// The dependency graph of `t`, or the vlan-link cycles that make it impossible.
pub fn build(t: &Topology) -> Result<DepGraph, CycleError> {
    build_with(t, Vec::new())
}

/// `build`, plus ordering constraints the diff found (for example: a passthru macvlan that
/// is replaced must be gone before anything else is created on its parent).
pub fn build_with(t: &Topology, extra: Vec<(Key, Key)>) -> Result<DepGraph, CycleError> {
    check_vlan_cycles(t)?;
    let (nodes, mut edges) = nodes_and_edges(t);
    edges.extend(extra);
    Ok(DepGraph::from_edges(nodes, edges))
}

/// Every vlan parent has exactly one `link`, so following links from any vlan either ends
/// at a non-vlan parent or runs into a cycle; each cycle is reported once.
pub fn check_vlan_cycles(t: &Topology) -> Result<(), CycleError> {
    let link_of = |name: &LinkName| match t.parents.get(name).map(|p| &p.kind) {
        Some(ParentKind::Vlan {
            link, link_span, ..
        }) => Some((link, link_span)),
        _ => None,
    };
    let mut settled: BTreeSet<&LinkName> = BTreeSet::new();
    let mut cycles: Vec<Vec<LinkName>> = Vec::new();
    for start in t.parents.keys() {
        let mut path: Vec<&LinkName> = Vec::new();
        let mut cur = start;
        loop {
            if settled.contains(cur) {
                break;
            }
            if let Some(pos) = path.iter().position(|p| *p == cur) {
                let mut cycle: Vec<LinkName> = path[pos..].iter().map(|n| (*n).clone()).collect();
                let min = cycle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, n)| *n)
                    .map_or(0, |(i, _)| i);
                cycle.rotate_left(min);
                cycles.push(cycle);
                break;
            }
            path.push(cur);
            match link_of(cur) {
                Some((next, _)) => cur = next,
                None => break,
            }
        }
        settled.extend(path);
    }
    if cycles.is_empty() {
        return Ok(());
    }
    cycles.sort();
    let mut labels = Vec::new();
    for c in &cycles {
        for name in c {
            if let Some((link, span)) = link_of(name) {
                labels.push(LabeledSpan::new_with_span(
                    Some(format!("vlan {name} links to {link}")),
                    span,
                ));
            }
        }
    }
    Err(CycleError { cycles, labels })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Macvlan, Namespace, Parent, Route, Span};
    use crate::names::Mode;

    pub(crate) use crate::testing::{cidr, ln, ns};

    fn parent(name: &str, kind: ParentKind) -> (LinkName, Parent) {
        (
            ln(name),
            Parent {
                namespace: None,
                name: ln(name),
                kind,
                mtu: None,
                span: Span::default(),
            },
        )
    }

    fn vlan(name: &str, link: &str, span: std::ops::Range<usize>) -> (LinkName, Parent) {
        parent(
            name,
            ParentKind::Vlan {
                link: ln(link),
                vlan_id: 10,
                link_span: span.into(),
            },
        )
    }

    pub(crate) fn mv(namespace: Option<&str>, name: &str, parent: &str) -> Macvlan {
        crate::testing::macvlan(namespace, name, parent, Mode::Bridge)
    }

    pub(crate) fn topo() -> Topology {
        let mut red = mv(Some("red"), "eth0", "lab0");
        red.addresses = vec![cidr("10.0.0.2/24"), cidr("fd00::2/64")];
        red.routes = vec![
            Route {
                to: cidr("0.0.0.0/0"),
                via: Some("10.0.0.1".parse().unwrap()),
                metric: None,
            },
            Route {
                to: cidr("10.9.0.0/16"),
                via: None,
                metric: None,
            },
        ];
        let mut macvlans = vec![
            red,
            mv(Some("blue"), "eth0", "eth1.10"),
            mv(None, "host0", "eth1"),
        ];
        macvlans.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Topology {
            name: "lab".into(),
            namespaces: [ns("red"), ns("blue"), ns("switch")]
                .into_iter()
                .map(|n| {
                    (
                        n.clone(),
                        Namespace {
                            name: n,
                            span: Span::default(),
                        },
                    )
                })
                .collect(),
            parents: [
                parent("eth1", ParentKind::Existing),
                parent(
                    "lab0",
                    ParentKind::Veth {
                        peer: ln("lab0p"),
                        peer_namespace: Some(ns("switch")),
                        peer_namespace_span: Span::default(),
                    },
                ),
                vlan("eth1.10", "eth1", 0..1),
            ]
            .into_iter()
            .collect(),
            macvlans,
        }
    }

    fn keys(order: &[Key]) -> Vec<String> {
        order
            .iter()
            .map(|k| match k {
                Key::Namespace { name } => format!("ns {name}"),
                Key::Parent { namespace, name } => {
                    format!("parent {}", LinkRef::new(namespace.clone(), name.clone()))
                }
                Key::Macvlan { at } => format!("macvlan {at}"),
                Key::Address { at, address } => format!("address {at} {address}"),
                Key::Route { at, to, metric } => match metric {
                    Some(m) => format!("route {at} {to} metric {m}"),
                    None => format!("route {at} {to}"),
                },
            })
            .collect()
    }

    #[test]
    fn order_is_topological_with_key_tie_break() {
        let g = build(&topo()).unwrap();
        assert_eq!(
            keys(&g.order()),
            [
                "ns blue",
                "ns red",
                "ns switch",
                "parent eth1",
                "parent eth1.10",
                "parent lab0",
                "macvlan host0",
                "macvlan blue/eth0",
                "macvlan red/eth0",
                "address red/eth0 10.0.0.2/24",
                "address red/eth0 fd00::2/64",
                "route red/eth0 0.0.0.0/0",
                "route red/eth0 10.9.0.0/16",
            ]
        );
        // Every edge goes forward in the order.
        let order = g.order();
        let pos = |k: &Key| order.iter().position(|o| o == k).unwrap();
        for k in &order {
            for d in g.dependents(k) {
                assert!(pos(k) < pos(&d), "{k:?} must come before {d:?}");
            }
        }
    }

    #[test]
    fn route_depends_on_the_address_holding_its_gateway() {
        let g = build(&topo()).unwrap();
        let at = LinkRef {
            namespace: Some(ns("red")),
            name: ln("eth0"),
        };
        let def = Key::Route {
            at: at.clone(),
            to: cidr("0.0.0.0/0"),
            metric: None,
        };
        assert_eq!(
            g.dependencies(&def),
            vec![Key::Address {
                at: at.clone(),
                address: cidr("10.0.0.2/24")
            }]
        );
        let onlink = Key::Route {
            at: at.clone(),
            to: cidr("10.9.0.0/16"),
            metric: None,
        };
        assert_eq!(g.dependencies(&onlink), vec![Key::Macvlan { at }]);
        // The veth waits for the namespace its peer goes into.
        assert_eq!(
            g.dependencies(&Key::Parent {
                namespace: None,
                name: ln("lab0")
            }),
            vec![Key::Namespace { name: ns("switch") }]
        );
    }

    #[test]
    fn vlan_chain_order_follows_links_not_names() {
        let mut t = topo();
        // "a" links to "b" which links to "eth1": b must come before a despite the names.
        t.parents
            .extend([vlan("a", "b", 0..1), vlan("b", "eth1", 1..2)]);
        let order = keys(&build(&t).unwrap().order());
        let pos = |s: &str| order.iter().position(|o| o == s).unwrap();
        assert!(pos("parent eth1") < pos("parent b"));
        assert!(pos("parent b") < pos("parent a"));
    }

    #[test]
    fn reverse_order_deletes_dependents_first() {
        let g = build(&topo()).unwrap();
        let rev = g.reverse_order();
        let pos = |k: &Key| rev.iter().position(|o| o == k).unwrap();
        for k in &rev {
            for d in g.dependents(k) {
                assert!(pos(&d) < pos(k));
            }
        }
        assert!(matches!(rev.first(), Some(Key::Route { .. })));
        assert!(matches!(rev.last(), Some(Key::Namespace { .. })));
    }

    #[test]
    fn vlan_cycle_is_reported_with_link_spans() {
        let mut t = topo();
        t.parents.extend([
            vlan("v2", "v1", 20..24),
            vlan("v1", "v2", 10..14),
            vlan("self", "self", 30..34),
            vlan("v3", "v1", 40..44),
        ]);
        let err = build(&t).unwrap_err();
        assert_eq!(err.cycles, vec![vec![ln("self")], vec![ln("v1"), ln("v2")]]);
        assert_eq!(
            err.to_string(),
            "dependency cycle through vlan links: self -> self; v1 -> v2 -> v1"
        );
        let spans: Vec<(usize, String)> = err
            .labels
            .iter()
            .map(|l| (l.offset(), l.label().unwrap_or("").to_owned()))
            .collect();
        assert_eq!(
            spans,
            [
                (30, "vlan self links to self".to_owned()),
                (10, "vlan v1 links to v2".to_owned()),
                (20, "vlan v2 links to v1".to_owned()),
            ]
        );
        let d: &dyn miette::Diagnostic = &err;
        assert_eq!(d.labels().map(|l| l.count()), Some(3));
    }

    #[test]
    fn a_cycle_still_orders_every_key_once() {
        let k = |n: &str| Key::Parent {
            namespace: None,
            name: ln(n),
        };
        let g = DepGraph::from_edges(
            [k("a"), k("b"), k("c"), k("d")],
            [
                (k("b"), k("c")),
                (k("c"), k("b")),
                (k("a"), k("b")),
                (k("x"), k("a")),
            ],
        );
        assert_eq!(g.order(), vec![k("a"), k("d"), k("b"), k("c")]);
        assert_eq!(g.reverse_order().len(), 4);
    }
}
