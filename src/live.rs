//! What the kernel holds, as plain values: the snapshot the backend reads and the diff compares.
//!
//! A `LiveState` round-trips through JSON (`mvtopo show --format json` writes it,
//! `mvtopo plan --state FILE` reads it), so CI can plan without a kernel. It carries no
//! ifindexes: they change when a link moves between namespaces, so nothing may key on them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::{ParentKind, Route};
use crate::names::{Cidr, LinkName, MacAddr, MacvlanFlag, MacvlanKind, Mode, NsName};

/// The interface alias prefix that marks a link as created by a topology: the alias is
/// `mvtopo:<topology name>`. The alias survives namespace moves and is readable by anyone
/// with `ip -d link`.
pub const OWNER_ALIAS_PREFIX: &str = "mvtopo:";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveState {
    /// Named namespaces (/run/netns), sorted by name.
    #[serde(default)]
    pub namespaces: Vec<LiveNamespace>,
    /// Every link in the tool's own namespace and in every named namespace, except loopback,
    /// sorted by (namespace, name).
    #[serde(default)]
    pub links: Vec<LiveLink>,
    /// What the kernel that was read can do, where the file may ask for more than an older
    /// kernel has. A state file from before these were recorded reads as "unknown".
    #[serde(default, skip_serializing_if = "KernelFeatures::is_unknown")]
    pub kernel: KernelFeatures,
}

/// Macvlan attributes newer than the rest, and whether the kernel read has them. An older
/// kernel ignores an attribute it does not know in a create or change (the macvlan
/// driver's netlink policy is parsed liberally), so asking for one there would "succeed"
/// and change nothing: the plan refuses instead, naming the feature (`None`: not known,
/// as in a state file written before this was recorded; nothing is refused then).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelFeatures {
    /// IFLA_MACVLAN_BC_QUEUE_LEN (Linux 5.11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macvlan_bc_queue_len: Option<bool>,
    /// IFLA_MACVLAN_BC_CUTOFF (Linux 6.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macvlan_bc_cutoff: Option<bool>,
}

impl KernelFeatures {
    pub fn is_unknown(&self) -> bool {
        *self == KernelFeatures::default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveNamespace {
    pub name: NsName,
    /// The topology that created it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

pub use crate::names::LinkRef;

impl LinkRef {
    /// Where a veth parent's far end is to be (`None` for other kinds of parent).
    pub fn veth_peer(kind: &ParentKind) -> Option<LinkRef> {
        match kind {
            ParentKind::Veth {
                peer,
                peer_namespace,
                ..
            } => Some(LinkRef::new(peer_namespace.clone(), peer.clone())),
            _ => None,
        }
    }
}

/// IFLA_INFO_KIND, with `Device` for links that have none (physical NICs).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkKind {
    Device,
    Macvlan,
    Macvtap,
    Veth,
    Dummy,
    Vlan,
    Bridge,
    Other(String),
}

impl LinkKind {
    pub fn as_str(&self) -> &str {
        match self {
            LinkKind::Device => "device",
            LinkKind::Macvlan => "macvlan",
            LinkKind::Macvtap => "macvtap",
            LinkKind::Veth => "veth",
            LinkKind::Dummy => "dummy",
            LinkKind::Vlan => "vlan",
            LinkKind::Bridge => "bridge",
            LinkKind::Other(s) => s,
        }
    }

    /// The kind of link a parent of the file is (`Device` for an existing NIC).
    pub fn of_parent(k: &ParentKind) -> LinkKind {
        match k {
            ParentKind::Existing => LinkKind::Device,
            ParentKind::Veth { .. } => LinkKind::Veth,
            ParentKind::Dummy => LinkKind::Dummy,
            ParentKind::Vlan { .. } => LinkKind::Vlan,
            ParentKind::Bridge { .. } => LinkKind::Bridge,
        }
    }

    /// The kinds of parent mvtopo creates (lab parents): veth, dummy and vlan.
    pub fn is_lab_parent(&self) -> bool {
        matches!(
            self,
            LinkKind::Veth | LinkKind::Dummy | LinkKind::Vlan | LinkKind::Bridge
        )
    }
}

impl FromStr for LinkKind {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "device" | "" => LinkKind::Device,
            "macvlan" => LinkKind::Macvlan,
            "macvtap" => LinkKind::Macvtap,
            "veth" => LinkKind::Veth,
            "dummy" => LinkKind::Dummy,
            "vlan" => LinkKind::Vlan,
            "bridge" => LinkKind::Bridge,
            other => LinkKind::Other(other.to_owned()),
        })
    }
}

impl LinkKind {
    /// A macvlan or a macvtap: the one driver, and everything mvtopo does with either.
    pub fn macvlan(&self) -> Option<MacvlanKind> {
        match self {
            LinkKind::Macvlan => Some(MacvlanKind::Macvlan),
            LinkKind::Macvtap => Some(MacvlanKind::Macvtap),
            _ => None,
        }
    }
}

impl From<MacvlanKind> for LinkKind {
    fn from(k: MacvlanKind) -> LinkKind {
        match k {
            MacvlanKind::Macvlan => LinkKind::Macvlan,
            MacvlanKind::Macvtap => LinkKind::Macvtap,
        }
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LinkKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LinkKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().unwrap_or(LinkKind::Other(s)))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveLink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NsName>,
    pub name: LinkName,
    pub kind: LinkKind,
    /// The lower device of a macvlan or vlan (IFLA_LINK, resolved across namespaces with
    /// IFLA_LINK_NETNSID). `None` when there is none or it could not be resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<LinkRef>,
    /// The other end of a veth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<LinkRef>,
    /// The bridge this link is a port of (IFLA_MASTER), always in the link's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<LinkName>,
    /// Macvlan mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// 802.1Q id of a vlan link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    pub mtu: u32,
    /// IFF_UP (administratively up), not the carrier.
    pub up: bool,
    /// The allow-list of a source-mode macvlan, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_macs: Vec<MacAddr>,
    /// IFLA_MACVLAN_FLAGS of a macvlan or macvtap, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<MacvlanFlag>,
    /// IFLA_MACVLAN_BC_QUEUE_LEN: the broadcast queue length this macvlan asked for (the
    /// kernel's default 1000 if none). Not IFLA_MACVLAN_BC_QUEUE_LEN_USED, the largest
    /// asked for on the parent, which the kernel reports beside it. `None`: not reported
    /// (a kernel before 5.11, or not a macvlan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcqueuelen: Option<u32>,
    /// IFLA_MACVLAN_BC_CUTOFF, the parent's (one value per parent): the kernel reports it
    /// only when it is not its default, 1, so `None` on a macvlan is 1 where the kernel has
    /// the attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bc_cutoff: Option<i32>,
    /// Addresses on the link, sorted; IPv6 link-local addresses are left out (the kernel
    /// makes them, nobody manages them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Cidr>,
    /// Routes in the main table that go out this link and were not made by the kernel
    /// itself (no prefix routes, no link-local), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// The topology that created this link (from the `mvtopo:NAME` alias), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl LiveLink {
    /// Link `at` of `kind` with only its MTU and up state: no parent, peer, master, driver
    /// settings, addresses, routes or owner (yet).
    pub fn new(at: LinkRef, kind: LinkKind, mtu: u32, up: bool) -> LiveLink {
        LiveLink {
            namespace: at.namespace,
            name: at.name,
            kind,
            parent: None,
            peer: None,
            master: None,
            mode: None,
            vlan_id: None,
            mac: None,
            mtu,
            up,
            source_macs: vec![],
            flags: vec![],
            bcqueuelen: None,
            bc_cutoff: None,
            addresses: vec![],
            routes: vec![],
            owner: None,
        }
    }

    pub fn at(&self) -> LinkRef {
        LinkRef {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
    pub fn owned_by(&self, topology: &str) -> bool {
        self.owner.as_deref() == Some(topology)
    }
}

impl LiveNamespace {
    pub fn owned_by(&self, topology: &str) -> bool {
        self.owner.as_deref() == Some(topology)
    }
}

/// The owner named by an interface alias, if it is one of ours.
pub fn owner_from_alias(alias: &str) -> Option<&str> {
    alias
        .strip_prefix(OWNER_ALIAS_PREFIX)
        .filter(|s| !s.is_empty())
}

impl LiveState {
    /// Sort everything into the canonical order (the backend and the fake call this; the
    /// lookups below rely on it).
    pub fn normalize(&mut self) {
        self.namespaces.sort_by(|a, b| a.name.cmp(&b.name));
        self.namespaces.dedup_by(|a, b| a.name == b.name);
        for l in &mut self.links {
            l.source_macs.sort();
            l.source_macs.dedup();
            l.flags.sort();
            l.flags.dedup();
            l.addresses.sort();
            l.addresses.dedup();
            // A route built in code may spell a default metric out (1024 on IPv6): it is
            // the same route as one without (JSON is folded as it is read).
            l.routes.iter_mut().for_each(Route::fold_metric);
            l.routes.sort();
            l.routes.dedup();
        }
        self.links
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    }

    pub fn namespace(&self, name: &NsName) -> Option<&LiveNamespace> {
        self.namespaces
            .binary_search_by(|n| n.name.cmp(name))
            .ok()
            .map(|i| &self.namespaces[i])
    }

    pub fn link(&self, namespace: Option<&NsName>, name: &LinkName) -> Option<&LiveLink> {
        self.links
            .binary_search_by(|l| (l.namespace.as_ref(), &l.name).cmp(&(namespace, name)))
            .ok()
            .map(|i| &self.links[i])
    }

    /// The ports of bridge `bridge` in `namespace`, sorted.
    pub fn ports(&self, namespace: Option<&NsName>, bridge: &LinkName) -> Vec<LinkName> {
        self.links_in(namespace)
            .filter(|l| l.master.as_ref() == Some(bridge))
            .map(|l| l.name.clone())
            .collect()
    }

    /// Links in one namespace (`None` = the tool's own).
    pub fn links_in<'a>(
        &'a self,
        namespace: Option<&'a NsName>,
    ) -> impl Iterator<Item = &'a LiveLink> + 'a {
        self.links
            .iter()
            .filter(move |l| l.namespace.as_ref() == namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let json = r#"{
          "namespaces": [{"name": "red", "owner": "lab"}],
          "links": [
            {"name": "eth1", "kind": "device", "mtu": 1500, "up": true, "mac": "52:54:00:12:34:56"},
            {"namespace": "red", "name": "eth0", "kind": "macvlan",
             "parent": {"name": "eth1"}, "mode": "bridge", "mac": "02:00:00:00:00:01",
             "mtu": 1500, "up": true, "addresses": ["10.0.0.2/24"],
             "routes": [{"to": "0.0.0.0/0", "via": "10.0.0.1"}], "owner": "lab"}
          ]
        }"#;
        let mut s: LiveState = serde_json::from_str(json).unwrap();
        s.normalize();
        let back: LiveState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(s, back);
        let red = NsName::new("red").unwrap();
        let l = s.link(Some(&red), &LinkName::new("eth0").unwrap()).unwrap();
        assert!(l.owned_by("lab"));
        assert_eq!(l.parent.as_ref().unwrap().to_string(), "eth1");
    }

    /// A route's metric is folded as it is read: the family's default (IPv4 0, IPv6 0 or
    /// 1024) is the same route as one without, any other metric is kept.
    #[test]
    fn default_metrics_fold_as_state_files_are_read() {
        let metric = |json: &str| serde_json::from_str::<Route>(json).unwrap().metric;
        assert_eq!(metric(r#"{"to": "fd00::/64", "metric": 1024}"#), None);
        assert_eq!(metric(r#"{"to": "fd00::/64", "metric": 0}"#), None);
        assert_eq!(metric(r#"{"to": "10.0.0.0/8", "metric": 0}"#), None);
        assert_eq!(
            metric(r#"{"to": "10.0.0.0/8", "metric": 1024}"#),
            Some(1024)
        );
        assert_eq!(metric(r#"{"to": "fd00::/64", "metric": 5}"#), Some(5));
        let r: Route = serde_json::from_str(r#"{"to": "fd00::/64"}"#).unwrap();
        assert_eq!(r.metric(), 1024);
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"to":"fd00::/64"}"#);
    }

    #[test]
    fn alias_owner() {
        assert_eq!(owner_from_alias("mvtopo:lab"), Some("lab"));
        assert_eq!(owner_from_alias("mvtopo:"), None);
        assert_eq!(owner_from_alias("uplink"), None);
    }
}
