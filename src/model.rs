//! The validated topology: what the file asks for, after `resolve` checked every rule.
//!
//! Nothing here is "as written" (that is `load`'s `Raw*` types); every reference in a
//! `Topology` points at something that exists in it, every name is valid, and defaults are
//! filled in. Spans into the source file are kept so late stages (the graph's cycle check)
//! can still point at the line.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::names::{Cidr, LinkName, LinkRef, MacAddr, MacvlanFlag, MacvlanKind, Mode, NsName};

/// A byte range in the topology file. It never takes part in equality, ordering or
/// serialization: two objects that differ only in where they were written are the same
/// object. (This is what lets the model types double as plan objects.)
#[derive(Clone, Debug, Default)]
pub struct Span(pub std::ops::Range<usize>);

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}
impl Eq for Span {}
impl std::hash::Hash for Span {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}
impl From<std::ops::Range<usize>> for Span {
    fn from(r: std::ops::Range<usize>) -> Span {
        Span(r)
    }
}
impl From<&Span> for miette::SourceSpan {
    fn from(s: &Span) -> miette::SourceSpan {
        (s.0.start, s.0.end.saturating_sub(s.0.start)).into()
    }
}

/// A whole validated topology file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// The owner name stamped on everything `apply` creates (default: the file's stem).
    pub name: String,
    pub namespaces: BTreeMap<NsName, Namespace>,
    pub parents: BTreeMap<LinkName, Parent>,
    /// Sorted by (namespace, name); identity is that pair.
    pub macvlans: Vec<Macvlan>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    pub name: NsName,
    /// The `[namespace.NAME]` header.
    pub span: Span,
}

/// A `[parent.NAME]` table. Parent names are unique in the file (a macvlan's `parent`
/// names the table); where the parent lives is `namespace`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parent {
    pub name: LinkName,
    /// `namespace`: a `[namespace.*]` key; `None`: the namespace mvtopo runs in.
    pub namespace: Option<NsName>,
    pub kind: ParentKind,
    pub mtu: Option<u32>,
    /// The `[parent.NAME]` header.
    pub span: Span,
}

impl Parent {
    /// Where the parent link is: (namespace, name).
    pub fn at(&self) -> LinkRef {
        LinkRef::new(self.namespace.clone(), self.name.clone())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParentKind {
    /// An interface that already exists (a NIC): never created or deleted; brought up, and
    /// its MTU set when `mtu` is given.
    Existing,
    /// `create = "veth"`: a pair; `peer` defaults to "<name>p".
    Veth {
        peer: LinkName,
        peer_namespace: Option<NsName>,
        /// Span of `peer-namespace`'s value, for diagnostics found after resolve.
        peer_namespace_span: Span,
    },
    /// `create = "dummy"`.
    Dummy,
    /// `create = "bridge"`: a Linux bridge, a switch for a lab. `ports` (sorted) are links
    /// of the file (veth parents, or veth peers in mvtopo's namespace) enslaved to it.
    Bridge {
        ports: Vec<LinkName>,
        /// Span of `ports`' value (or the header when there is none).
        ports_span: Span,
    },
    /// `create = "vlan"`: 802.1Q sub-interface of `link` (a `[parent.*]` key).
    Vlan {
        link: LinkName,
        vlan_id: u16,
        /// Span of `link`'s value, so a cycle through vlan links points at it.
        link_span: Span,
    },
}

impl ParentKind {
    pub fn created(&self) -> bool {
        !matches!(self, ParentKind::Existing)
    }

    /// The kind the kernel reports for such a link (`LinkKind::as_str`).
    pub fn link_kind(&self) -> &'static str {
        match self {
            ParentKind::Existing => "device",
            ParentKind::Veth { .. } => "veth",
            ParentKind::Dummy => "dummy",
            ParentKind::Vlan { .. } => "vlan",
            ParentKind::Bridge { .. } => "bridge",
        }
    }
}

/// One `[[macvlan]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Macvlan {
    pub name: LinkName,
    pub parent: LinkName,
    /// The namespace of `[parent.<parent>]` (filled in by resolve).
    pub parent_namespace: Option<NsName>,
    /// `None`: the namespace mvtopo runs in.
    pub namespace: Option<NsName>,
    pub mode: Mode,
    /// `None`: the kernel picks one, and whatever it picked is kept.
    pub mac: Option<MacAddr>,
    /// `None`: whatever the kernel gives (the parent's MTU at creation) is kept.
    pub mtu: Option<u32>,
    pub up: bool,
    pub addresses: Vec<Cidr>,
    pub routes: Vec<Route>,
    /// Only in source mode; sorted and deduplicated.
    pub source_macs: Vec<MacAddr>,
    /// `kind`: macvlan (the default) or macvtap.
    pub kind: MacvlanKind,
    /// `flags`, each only in its own mode (`MacvlanFlag::mode`); sorted and deduplicated.
    pub flags: Vec<MacvlanFlag>,
    /// `bcqueuelen` (IFLA_MACVLAN_BC_QUEUE_LEN): the broadcast queue length this macvlan
    /// asks for. `None`: whatever the link has is kept (the kernel's default is 1000).
    pub bcqueuelen: Option<u32>,
    /// `bc-cutoff` (IFLA_MACVLAN_BC_CUTOFF). The kernel keeps one per parent: setting it on
    /// one macvlan sets it for all on that parent (so `check` wants one value per parent).
    /// `None`: whatever the parent has is kept (the kernel's default is 1).
    pub bc_cutoff: Option<i32>,
    /// The `[[macvlan]]` header.
    pub span: Span,
}

/// A route through a macvlan, in its namespace's main table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "RouteFields")]
pub struct Route {
    /// The destination network; `to = "default"` is 0.0.0.0/0 or ::/0 (the family of `via`).
    /// Host bits are zero.
    pub to: Cidr,
    /// The gateway; `None` is a route straight onto the link (scope link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    /// The route's priority (RTA_PRIORITY), part of its identity as in the kernel: two
    /// routes to one destination with different metrics are two routes. `None` is the
    /// kernel's default for the family (IPv4 0, IPv6 1024), and never `Some` of it
    /// (`Route::new` folds it), so a file that leaves the metric out and the kernel's
    /// report of the route it made compare equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
}

/// A route as a state file writes it; read through `Route::new`, so a default metric
/// spelled out (`"metric": 1024` on IPv6) is the same route as one without.
#[derive(Deserialize)]
struct RouteFields {
    to: Cidr,
    #[serde(default)]
    via: Option<IpAddr>,
    #[serde(default)]
    metric: Option<u32>,
}

impl From<RouteFields> for Route {
    fn from(f: RouteFields) -> Route {
        Route::new(f.to, f.via, f.metric)
    }
}

/// "10.1.0.0/16 via 10.0.0.1 metric 100", as `ip route` writes it.
impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to)?;
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        Ok(())
    }
}

/// IP6_RT_PRIO_USER: the metric the kernel gives an IPv6 route added without one (or with 0).
pub const IPV6_DEFAULT_METRIC: u32 = 1024;

impl Route {
    /// A route with its metric folded: the family's default metric becomes `None`.
    pub fn new(to: Cidr, via: Option<IpAddr>, metric: Option<u32>) -> Route {
        let mut r = Route { to, via, metric };
        r.fold_metric();
        r
    }

    /// The metric the kernel has for this route (IPv6 turns 0 into 1024).
    pub fn metric(&self) -> u32 {
        match (self.metric, self.to.is_ipv4()) {
            (Some(m), _) if m != 0 => m,
            (_, true) => 0,
            (_, false) => IPV6_DEFAULT_METRIC,
        }
    }

    /// Writes the family's default metric as `None` (IPv6 also 0: the kernel turns a
    /// metric of 0 into 1024 there).
    pub fn fold_metric(&mut self) {
        let default = match self.metric {
            Some(0) => true,
            Some(m) => !self.to.is_ipv4() && m == IPV6_DEFAULT_METRIC,
            None => false,
        };
        if default {
            self.metric = None;
        }
    }
}

impl Route {
    /// The destination as people (and the file) write it: `default` only when the
    /// gateway's family says which default it is, since the loader derives 0.0.0.0/0 or
    /// ::/0 from `via`.
    pub fn destination(&self) -> String {
        match self.via {
            Some(via) if self.to.is_default() && via.is_ipv4() == self.to.is_ipv4() => {
                "default".to_owned()
            }
            _ => self.to.to_string(),
        }
    }
}

impl Topology {
    /// The `[parent.*]` veth that makes the link `port` in mvtopo's namespace: the veth
    /// itself, or the one whose peer it is (a bridge port names either end).
    pub fn veth_of(&self, port: &LinkName) -> Option<&Parent> {
        self.parents.values().find(|p| match &p.kind {
            ParentKind::Veth {
                peer,
                peer_namespace,
                ..
            } => p.name == *port || (peer == port && peer_namespace.is_none()),
            _ => false,
        })
    }

    pub fn macvlan(&self, namespace: Option<&NsName>, name: &LinkName) -> Option<&Macvlan> {
        self.macvlans
            .binary_search_by(|m| (m.namespace.as_ref(), &m.name).cmp(&(namespace, name)))
            .ok()
            .map(|i| &self.macvlans[i])
    }
}
