//! The objects a plan is about: `Object` (what the kernel is told about), its identity
//! `Key`, the in-place `Change`s of an update, and how a live link or a file's parent or
//! macvlan becomes one.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::live::{LinkKind, LinkRef, LiveLink};
use crate::model::{Macvlan, Parent, ParentKind, Route};
use crate::names::{Cidr, LinkName, MacAddr, Mode, NsName};

/// The atoms the kernel is told about. Identity is `key()`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Object {
    /// A named namespace (/run/netns/NAME).
    Namespace {
        name: NsName,
    },
    /// An existing interface used as a parent: only its MTU and up state are ever changed.
    Nic {
        name: LinkName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
        up: bool,
    },
    /// A lab veth pair; `name` is the parent end, in the tool's namespace.
    Veth {
        name: LinkName,
        peer: LinkName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer_namespace: Option<NsName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
        /// Set on the live object a delete carries; a create from the file leaves it to
        /// the kernel.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<MacAddr>,
        /// The peer end's MAC, when a step gives one (the planner leaves it to the kernel;
        /// undo brings a deleted pair back with both MACs from the journal, not from here).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer_mac: Option<MacAddr>,
    },
    Dummy {
        name: LinkName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<MacAddr>,
    },
    Vlan {
        name: LinkName,
        link: LinkName,
        vlan_id: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<MacAddr>,
    },
    Macvlan(MacvlanLink),
    /// An address on a macvlan.
    Address {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<NsName>,
        link: LinkName,
        address: Cidr,
    },
    /// A route out of a macvlan, in its namespace's main table.
    Route {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<NsName>,
        link: LinkName,
        to: Cidr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<IpAddr>,
    },
}

/// A macvlan as a link: everything but its addresses and routes (those are their own
/// objects). The parent always lives in the tool's own namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacvlanLink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NsName>,
    pub name: LinkName,
    pub parent: LinkName,
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    pub up: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_macs: Vec<MacAddr>,
}

/// One field changed in place by an update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "kebab-case")]
pub enum Change {
    Mtu {
        from: u32,
        to: u32,
    },
    Mac {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<MacAddr>,
        to: MacAddr,
    },
    Up {
        from: bool,
        to: bool,
    },
    /// Only between vepa, bridge, private and source; passthru in or out is a replace.
    Mode {
        from: Mode,
        to: Mode,
    },
    SourceMacs {
        from: Vec<MacAddr>,
        to: Vec<MacAddr>,
    },
}

/// The identity of an object, ordered so that sorting by key gives namespaces, then parents,
/// then macvlans, then addresses, then routes: the tie-break of the topological order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Key {
    Namespace { name: NsName },
    Parent { name: LinkName },
    Macvlan { at: LinkRef },
    Address { at: LinkRef, address: Cidr },
    Route { at: LinkRef, to: Cidr },
}

impl Object {
    /// The plan object a live link is, if mvtopo can describe (and so delete and recreate) it.
    pub fn from_live(l: &LiveLink) -> Option<Object> {
        let mtu = Some(l.mtu);
        if l.kind == LinkKind::Macvlan {
            return Some(Object::Macvlan(MacvlanLink {
                namespace: l.namespace.clone(),
                name: l.name.clone(),
                // An unresolved parent is only possible for a link mvtopo did not make; the
                // name is a placeholder so the link can still be deleted.
                parent: l
                    .parent
                    .as_ref()
                    .map_or_else(|| l.name.clone(), |p| p.name.clone()),
                mode: l.mode.unwrap_or_default(),
                mac: l.mac,
                mtu,
                up: l.up,
                source_macs: l.source_macs.clone(),
            }));
        }
        // Parents always live in the tool's own namespace; plan objects cannot name a veth,
        // dummy or vlan anywhere else.
        if l.namespace.is_some() {
            return None;
        }
        let name = l.name.clone();
        Some(match l.kind {
            LinkKind::Device => Object::Nic {
                name,
                mtu,
                up: l.up,
            },
            LinkKind::Veth => Object::Veth {
                peer: l
                    .peer
                    .as_ref()
                    .map_or_else(|| l.name.clone(), |p| p.name.clone()),
                peer_namespace: l.peer.as_ref().and_then(|p| p.namespace.clone()),
                name,
                mtu,
                mac: l.mac,
                peer_mac: None,
            },
            LinkKind::Dummy => Object::Dummy {
                name,
                mtu,
                mac: l.mac,
            },
            LinkKind::Vlan => Object::Vlan {
                link: l
                    .parent
                    .as_ref()
                    .map_or_else(|| l.name.clone(), |p| p.name.clone()),
                vlan_id: l.vlan_id.unwrap_or_default(),
                name,
                mtu,
                mac: l.mac,
            },
            LinkKind::Macvlan | LinkKind::Other(_) => return None,
        })
    }

    /// The plan object for a parent as the file describes it.
    pub fn from_parent(p: &Parent) -> Object {
        let name = p.name.clone();
        let mtu = p.mtu;
        match &p.kind {
            ParentKind::Existing => Object::Nic {
                name,
                mtu,
                up: true,
            },
            ParentKind::Veth {
                peer,
                peer_namespace,
                ..
            } => Object::Veth {
                name,
                peer: peer.clone(),
                peer_namespace: peer_namespace.clone(),
                mtu,
                mac: None,
                peer_mac: None,
            },
            ParentKind::Dummy => Object::Dummy {
                name,
                mtu,
                mac: None,
            },
            ParentKind::Vlan { link, vlan_id, .. } => Object::Vlan {
                name,
                link: link.clone(),
                vlan_id: *vlan_id,
                mtu,
                mac: None,
            },
        }
    }

    pub fn key(&self) -> Key {
        let at = |namespace: &Option<NsName>, name: &LinkName| {
            LinkRef::new(namespace.clone(), name.clone())
        };
        match self {
            Object::Namespace { name } => Key::Namespace { name: name.clone() },
            Object::Nic { name, .. }
            | Object::Veth { name, .. }
            | Object::Dummy { name, .. }
            | Object::Vlan { name, .. } => Key::Parent { name: name.clone() },
            Object::Macvlan(m) => Key::Macvlan {
                at: at(&m.namespace, &m.name),
            },
            Object::Address {
                namespace,
                link,
                address,
            } => Key::Address {
                at: at(namespace, link),
                address: *address,
            },
            Object::Route {
                namespace,
                link,
                to,
                ..
            } => Key::Route {
                at: at(namespace, link),
                to: *to,
            },
        }
    }

    /// The namespace and name of the link this object is, or lives on.
    pub fn link(&self) -> Option<LinkRef> {
        match self.key() {
            Key::Namespace { .. } => None,
            Key::Parent { name } => Some(LinkRef::host(name)),
            Key::Macvlan { at } | Key::Address { at, .. } | Key::Route { at, .. } => Some(at),
        }
    }

    /// The object's kind, as `plan --format json` spells it (the serde tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Namespace { .. } => "namespace",
            Object::Nic { .. } => "nic",
            Object::Veth { .. } => "veth",
            Object::Dummy { .. } => "dummy",
            Object::Vlan { .. } => "vlan",
            Object::Macvlan(_) => "macvlan",
            Object::Address { .. } => "address",
            Object::Route { .. } => "route",
        }
    }

    /// Whether this object is a link (deleting it takes its addresses and routes along).
    pub fn is_link(&self) -> bool {
        matches!(
            self,
            Object::Nic { .. }
                | Object::Veth { .. }
                | Object::Dummy { .. }
                | Object::Vlan { .. }
                | Object::Macvlan(_)
        )
    }
}

impl MacvlanLink {
    /// A macvlan of the file as a link.
    pub fn from_model(m: &Macvlan) -> MacvlanLink {
        MacvlanLink {
            namespace: m.namespace.clone(),
            name: m.name.clone(),
            parent: m.parent.clone(),
            mode: m.mode,
            mac: m.mac,
            mtu: m.mtu,
            up: m.up,
            source_macs: m.source_macs.clone(),
        }
    }
}

impl Route {
    pub fn object(&self, namespace: &Option<NsName>, link: &LinkName) -> Object {
        Object::Route {
            namespace: namespace.clone(),
            link: link.clone(),
            to: self.to,
            via: self.via,
        }
    }
}
