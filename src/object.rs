//! The objects a plan is about: `Object` (what the kernel is told about), its identity
//! `Key`, the in-place `Change`s of an update, and how a live link or a file's parent or
//! macvlan becomes one.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::live::{LinkKind, LinkRef, LiveLink};
use crate::model::{Macvlan, Parent, ParentKind, Route};
use crate::names::{Cidr, LinkName, MacAddr, MacvlanFlag, MacvlanKind, Mode, NsName};

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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<NsName>,
        name: LinkName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
        up: bool,
    },
    /// A lab veth pair; `name` is the parent end, in `namespace` (`None`: the tool's own).
    Veth {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<NsName>,
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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<NsName>,
        name: LinkName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<MacAddr>,
    },
    Vlan {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<NsName>,
        name: LinkName,
        link: LinkName,
        vlan_id: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<MacAddr>,
    },
    /// A lab bridge and its ports (links in the tool's namespace, sorted). The live object
    /// of a delete has none: deleting a bridge releases its ports, which keep their own
    /// record of it (`LiveLink::master`) for undo.
    Bridge {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<NsName>,
        name: LinkName,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ports: Vec<LinkName>,
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
        /// `None`: the kernel's default for the family (see `model::Route`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metric: Option<u32>,
    },
}

/// A macvlan as a link: everything but its addresses and routes (those are their own
/// objects).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacvlanLink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NsName>,
    pub name: LinkName,
    pub parent: LinkName,
    /// Where the parent lives (`None`: the tool's own namespace). RTM_NEWLINK goes through
    /// that namespace's socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_namespace: Option<NsName>,
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    pub up: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_macs: Vec<MacAddr>,
    /// `"macvtap"` for a macvtap (the object's `kind` tag stays "macvlan": the same
    /// object, made by the twin driver); left out for a macvlan.
    #[serde(default, skip_serializing_if = "MacvlanKind::is_macvlan")]
    pub link_kind: MacvlanKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<MacvlanFlag>,
    /// As the file gives it (a create leaves it to the kernel when `None`), or as it is
    /// live (on a delete, so undo and a replace make it again the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcqueuelen: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bc_cutoff: Option<i32>,
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
    /// IFLA_MACVLAN_FLAGS.
    Flags {
        from: Vec<MacvlanFlag>,
        to: Vec<MacvlanFlag>,
    },
    /// IFLA_MACVLAN_BC_QUEUE_LEN (what this macvlan asks for).
    Bcqueuelen {
        from: u32,
        to: u32,
    },
    /// IFLA_MACVLAN_BC_CUTOFF, which the kernel keeps per parent: the other macvlans on
    /// the parent change with it.
    BcCutoff {
        from: i32,
        to: i32,
    },
    /// A bridge's ports (IFLA_MASTER of each port added or released), sorted.
    Ports {
        from: Vec<LinkName>,
        to: Vec<LinkName>,
    },
}

/// The identity of an object, ordered so that sorting by key gives namespaces, then parents,
/// then macvlans, then addresses, then routes: the tie-break of the topological order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Key {
    Namespace {
        name: NsName,
    },
    /// A parent, (namespace, name): its namespace first, so the host's sort first.
    Parent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<NsName>,
        name: LinkName,
    },
    Macvlan {
        at: LinkRef,
    },
    Address {
        at: LinkRef,
        address: Cidr,
    },
    /// A route's identity is its destination and metric, as in the kernel's table.
    Route {
        at: LinkRef,
        to: Cidr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metric: Option<u32>,
    },
}

impl Object {
    /// The plan object a live link is, if mvtopo can describe (and so delete and recreate) it.
    pub fn from_live(l: &LiveLink) -> Option<Object> {
        let mtu = Some(l.mtu);
        if let Some(link_kind) = l.kind.macvlan() {
            return Some(Object::Macvlan(MacvlanLink {
                namespace: l.namespace.clone(),
                name: l.name.clone(),
                // An unresolved parent is only possible for a link mvtopo did not make; the
                // name is a placeholder so the link can still be deleted.
                parent: l
                    .parent
                    .as_ref()
                    .map_or_else(|| l.name.clone(), |p| p.name.clone()),
                parent_namespace: l.parent.as_ref().and_then(|p| p.namespace.clone()),
                mode: l.mode.unwrap_or_default(),
                mac: l.mac,
                mtu,
                up: l.up,
                source_macs: l.source_macs.clone(),
                link_kind,
                flags: l.flags.clone(),
                bcqueuelen: l.bcqueuelen,
                bc_cutoff: l.bc_cutoff,
            }));
        }
        let name = l.name.clone();
        let namespace = l.namespace.clone();
        Some(match l.kind {
            LinkKind::Device => Object::Nic {
                namespace,
                name,
                mtu,
                up: l.up,
            },
            LinkKind::Veth => Object::Veth {
                namespace,
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
                namespace,
                name,
                mtu,
                mac: l.mac,
            },
            LinkKind::Vlan => Object::Vlan {
                namespace,
                link: l
                    .parent
                    .as_ref()
                    .map_or_else(|| l.name.clone(), |p| p.name.clone()),
                vlan_id: l.vlan_id.unwrap_or_default(),
                name,
                mtu,
                mac: l.mac,
            },
            LinkKind::Bridge => Object::Bridge {
                namespace,
                name,
                ports: Vec::new(),
                mtu,
                // A bridge without ports has the all-zero MAC, which no create accepts.
                mac: l.mac.filter(|m| !m.is_zero()),
            },
            LinkKind::Macvlan | LinkKind::Macvtap | LinkKind::Other(_) => return None,
        })
    }

    /// The plan object for a parent as the file describes it.
    pub fn from_parent(p: &Parent) -> Object {
        let name = p.name.clone();
        let namespace = p.namespace.clone();
        let mtu = p.mtu;
        match &p.kind {
            ParentKind::Existing => Object::Nic {
                namespace,
                name,
                mtu,
                up: true,
            },
            ParentKind::Veth {
                peer,
                peer_namespace,
                ..
            } => Object::Veth {
                namespace,
                name,
                peer: peer.clone(),
                peer_namespace: peer_namespace.clone(),
                mtu,
                mac: None,
                peer_mac: None,
            },
            ParentKind::Dummy => Object::Dummy {
                namespace,
                name,
                mtu,
                mac: None,
            },
            ParentKind::Vlan { link, vlan_id, .. } => Object::Vlan {
                namespace,
                name,
                link: link.clone(),
                vlan_id: *vlan_id,
                mtu,
                mac: None,
            },
            ParentKind::Bridge { ports, .. } => Object::Bridge {
                namespace,
                name,
                ports: ports.clone(),
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
            Object::Nic {
                namespace, name, ..
            }
            | Object::Veth {
                namespace, name, ..
            }
            | Object::Dummy {
                namespace, name, ..
            }
            | Object::Vlan {
                namespace, name, ..
            }
            | Object::Bridge {
                namespace, name, ..
            } => Key::Parent {
                namespace: namespace.clone(),
                name: name.clone(),
            },
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
                metric,
                ..
            } => Key::Route {
                at: at(namespace, link),
                to: *to,
                metric: *metric,
            },
        }
    }

    /// The namespace and name of the link this object is, or lives on.
    pub fn link(&self) -> Option<LinkRef> {
        match self.key() {
            Key::Namespace { .. } => None,
            Key::Parent { namespace, name } => Some(LinkRef::new(namespace, name)),
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
            Object::Bridge { .. } => "bridge",
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
                | Object::Bridge { .. }
                | Object::Macvlan(_)
        )
    }
}

impl Key {
    /// The key of the parent at `at`.
    pub fn parent(at: LinkRef) -> Key {
        Key::Parent {
            namespace: at.namespace,
            name: at.name,
        }
    }
}

impl MacvlanLink {
    /// Where the parent is.
    pub fn parent_at(&self) -> LinkRef {
        LinkRef::new(self.parent_namespace.clone(), self.parent.clone())
    }

    /// A macvlan of the file as a link.
    pub fn from_model(m: &Macvlan) -> MacvlanLink {
        MacvlanLink {
            namespace: m.namespace.clone(),
            name: m.name.clone(),
            parent: m.parent.clone(),
            parent_namespace: m.parent_namespace.clone(),
            mode: m.mode,
            mac: m.mac,
            mtu: m.mtu,
            up: m.up,
            source_macs: m.source_macs.clone(),
            link_kind: m.kind,
            flags: m.flags.clone(),
            bcqueuelen: m.bcqueuelen,
            bc_cutoff: m.bc_cutoff,
        }
    }
}

impl Route {
    /// How people name the route out of link `at`: `default via 10.0.0.1 on red/eth0`,
    /// `10.9.0.0/16 on red/eth0` (its gateway is part of the name).
    pub fn name_on(&self, at: &LinkRef) -> String {
        let mut s = self.destination();
        if let Some(v) = self.via {
            s.push_str(&format!(" via {v}"));
        }
        if let Some(m) = self.metric {
            s.push_str(&format!(" metric {m}"));
        }
        format!("{s} on {at}")
    }

    pub fn object(&self, namespace: &Option<NsName>, link: &LinkName) -> Object {
        Object::Route {
            namespace: namespace.clone(),
            link: link.clone(),
            to: self.to,
            via: self.via,
            metric: self.metric,
        }
    }
}
