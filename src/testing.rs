//! Test and bench support, in the `testing` feature only (never in a release build): values
//! from text for tests (names, MACs, prefixes, routes, link references), and the one
//! generator of large lab topologies, shared by the benches, the bench binary and the tests.

// A value from text here is one the test knows to be valid: one that is not is a bug in the
// test, and panics naming it. Nothing in the product calls these.
#![allow(clippy::panic)]

use std::fmt::Write as _;

use crate::live::LinkRef;
use crate::model::{Macvlan, Namespace, Parent, ParentKind, Route, Span, Topology};
use crate::names::{Cidr, LinkName, MacAddr, Mode, NsName};
use crate::object::MacvlanLink;

// ---------------------------------------------------------------------------------------
// Values from text.

pub fn ln(s: &str) -> LinkName {
    LinkName::new(s).unwrap_or_else(|e| panic!("link name {s:?}: {e:?}"))
}

pub fn ns(s: &str) -> NsName {
    NsName::new(s).unwrap_or_else(|e| panic!("namespace name {s:?}: {e:?}"))
}

pub fn mac(s: &str) -> MacAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("MAC address {s:?}: {e:?}"))
}

pub fn cidr(s: &str) -> Cidr {
    s.parse().unwrap_or_else(|e| panic!("prefix {s:?}: {e:?}"))
}

/// A route to `to` ("default" takes the family of `via`) through `via`.
pub fn route(to: &str, via: Option<&str>) -> Route {
    let via = via.map(|v| v.parse().unwrap_or_else(|e| panic!("gateway {v:?}: {e:?}")));
    let to = match (to, &via) {
        ("default", Some(v)) => Cidr::default_for(v),
        ("default", None) => panic!("a default route needs a gateway"),
        _ => cidr(to),
    };
    Route::new(to, via, None)
}

/// Link `name` in `namespace` (`None`: the namespace the backend is rooted at).
pub fn at(namespace: Option<&str>, name: &str) -> LinkRef {
    LinkRef {
        namespace: namespace.map(ns),
        name: ln(name),
    }
}

/// Macvlan `name` on `parent` in `namespace` (parent in the tool's namespace), up, with
/// everything else left to the kernel: the base for struct-update literals in tests.
pub fn macvlan_link(namespace: Option<&str>, name: &str, parent: &str, mode: Mode) -> MacvlanLink {
    MacvlanLink {
        parent_namespace: None,
        namespace: namespace.map(ns),
        name: ln(name),
        parent: ln(parent),
        mode,
        mac: None,
        mtu: None,
        up: true,
        source_macs: vec![],
        link_kind: Default::default(),
        flags: vec![],
        bcqueuelen: None,
        bc_cutoff: None,
    }
}

/// Parent `name` in the tool's namespace.
pub fn parent(name: &str, kind: ParentKind, mtu: Option<u32>) -> Parent {
    Parent {
        namespace: None,
        name: ln(name),
        kind,
        mtu,
        span: Span::default(),
    }
}

/// Macvlan `name` on `parent` in `namespace`, up, everything else left to the kernel.
pub fn macvlan(namespace: Option<&str>, name: &str, parent: &str, mode: Mode) -> Macvlan {
    Macvlan {
        parent_namespace: None,
        name: ln(name),
        parent: ln(parent),
        namespace: namespace.map(ns),
        mode,
        mac: None,
        mtu: None,
        up: true,
        addresses: vec![],
        routes: vec![],
        source_macs: vec![],
        kind: Default::default(),
        flags: vec![],
        bcqueuelen: None,
        bc_cutoff: None,
        span: Span::default(),
    }
}

/// Topology `name` of these namespaces, parents and macvlans (sorted as resolve sorts them).
pub fn topology(
    name: &str,
    namespaces: &[&str],
    parents: Vec<Parent>,
    mut macvlans: Vec<Macvlan>,
) -> Topology {
    macvlans.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Topology {
        name: name.to_owned(),
        namespaces: namespaces
            .iter()
            .map(|n| {
                (
                    ns(n),
                    Namespace {
                        name: ns(n),
                        span: Span::default(),
                    },
                )
            })
            .collect(),
        parents: parents.into_iter().map(|p| (p.name.clone(), p)).collect(),
        macvlans,
    }
}

// ---------------------------------------------------------------------------------------
// Large labs.

/// A lab of `macvlans` bridge macvlans in `namespaces`, each namespace holding the next
/// `per_namespace()` of them (named `mv0`, `mv1`, … in it), the k-th overall on parent
/// `parents[k % parents.len()]`, with the IPv4 address `10.SUBNET.(k / 250).(k % 250 + 1)/16`
/// (unique up to 64,000 macvlans). The parents are veths the topology creates.
#[derive(Clone, Debug)]
pub struct LabShape {
    /// The topology's name (its owner mark).
    pub name: String,
    pub namespaces: Vec<String>,
    pub parents: Vec<String>,
    pub macvlans: usize,
    /// The second octet of every address.
    pub subnet: u8,
}

/// One macvlan of a `LabShape`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenMacvlan<'a> {
    pub namespace: &'a str,
    pub name: String,
    pub parent: &'a str,
    pub address: String,
}

impl LabShape {
    /// The W1 workload: 1000 bridge macvlans, 20 in each of 50 namespaces, over 4 veth
    /// parents `up0`..`up3`, addresses in 10.60.0.0/16. `namespace(n)` names namespace n.
    pub fn w1(name: &str, namespace: impl Fn(usize) -> String) -> LabShape {
        LabShape {
            name: name.to_owned(),
            namespaces: (0..50).map(namespace).collect(),
            parents: (0..4).map(|p| format!("up{p}")).collect(),
            macvlans: 1000,
            subnet: 60,
        }
    }

    /// How many macvlans each namespace holds (the last one may hold fewer).
    pub fn per_namespace(&self) -> usize {
        self.macvlans.div_ceil(self.namespaces.len().max(1))
    }

    /// The macvlans, namespace by namespace.
    pub fn macvlans(&self) -> impl Iterator<Item = GenMacvlan<'_>> {
        let per = self.per_namespace().max(1);
        (0..self.macvlans).filter_map(move |k| {
            Some(GenMacvlan {
                namespace: self.namespaces.get(k / per)?,
                name: format!("mv{}", k % per),
                parent: self.parents.get(k % self.parents.len().max(1))?,
                address: format!("10.{}.{}.{}/16", self.subnet, k / 250, k % 250 + 1),
            })
        })
    }

    /// The topology file: the namespaces, the veth parents, then the macvlans.
    pub fn toml(&self) -> String {
        let mut s = String::with_capacity(200 * self.macvlans + 40 * self.namespaces.len());
        let _ = writeln!(s, "name = {:?}", self.name);
        for n in &self.namespaces {
            let _ = writeln!(s, "[namespace.{n:?}]");
        }
        for p in &self.parents {
            let _ = writeln!(s, "[parent.{p:?}]\ncreate = \"veth\"");
        }
        for m in self.macvlans() {
            let _ = writeln!(
                s,
                "[[macvlan]]\nname = {:?}\nparent = {:?}\nnamespace = {:?}\nmode = \"bridge\"\naddresses = [{:?}]",
                m.name, m.parent, m.namespace, m.address
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w1_is_the_workload_it_names_and_loads() {
        let shape = LabShape::w1("w1", |n| format!("n{n}"));
        let all: Vec<GenMacvlan<'_>> = shape.macvlans().collect();
        assert_eq!(all.len(), 1000);
        assert_eq!(shape.per_namespace(), 20);
        assert_eq!(
            all[21],
            GenMacvlan {
                namespace: "n1",
                name: "mv1".to_owned(),
                parent: "up1",
                address: "10.60.0.22/16".to_owned(),
            }
        );
        assert_eq!(all[999].address, "10.60.3.250/16");
        let t = crate::check::load_str("w1.toml", &shape.toml(), "w1").expect("W1 loads");
        assert_eq!((t.namespaces.len(), t.parents.len()), (50, 4));
        assert_eq!(t.macvlans.len(), 1000);
    }

    #[test]
    fn an_uneven_count_fills_namespaces_in_turn() {
        let shape = LabShape {
            name: "x".to_owned(),
            namespaces: vec!["a".to_owned(), "b".to_owned()],
            parents: vec!["p".to_owned()],
            macvlans: 3,
            subnet: 1,
        };
        let at: Vec<(&str, String)> = shape.macvlans().map(|m| (m.namespace, m.name)).collect();
        assert_eq!(
            at,
            [
                ("a", "mv0".into()),
                ("a", "mv1".into()),
                ("b", "mv0".into())
            ]
        );
    }
}
