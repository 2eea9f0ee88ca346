//! The plan as data: the ordered steps `apply` executes, and nothing else.
//!
//! A `Plan` is produced by `diff::diff` and serialized as-is by `plan --format json`;
//! `render` only formats it. Each step carries complete objects (the desired one for a
//! create, the live one for a delete). How a step becomes kernel requests, and how those
//! are undone, is `apply`'s business.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::live::LinkRef;
use crate::model::Route;
use crate::names::{Cidr, LinkName, MacAddr, Mode, NsName};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The topology (owner) name the plan belongs to.
    pub topology: String,
    /// True when there is nothing to do.
    pub in_sync: bool,
    pub steps: Vec<Step>,
    /// Things the plan deliberately leaves alone and the user should know about (for example
    /// an owned namespace kept because it holds a foreign interface).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One step. Serialized with an `action` tag: `{"action": "create", "object": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Step {
    /// Create `object` (marked as owned by the plan's topology).
    Create { object: Object },
    /// Change `object` in place. `object` is the desired object; `changes` lists exactly the
    /// fields to set.
    Update {
        object: Object,
        changes: Vec<Change>,
    },
    /// Delete `from` (the live object) and create `to` in its place, because the kernel
    /// cannot change what differs in place. Addresses and routes of a replaced link are
    /// created again by their own steps after it.
    Replace {
        from: Object,
        to: Object,
        reason: String,
    },
    /// Delete `object` (as it is live, so the step can be undone).
    Delete { object: Object },
}

impl Step {
    pub fn action(&self) -> &'static str {
        match self {
            Step::Create { .. } => "create",
            Step::Update { .. } => "update",
            Step::Replace { .. } => "replace",
            Step::Delete { .. } => "delete",
        }
    }
    /// The object the step is about (the new one for a replace).
    pub fn object(&self) -> &Object {
        match self {
            Step::Create { object } | Step::Update { object, .. } | Step::Delete { object } => {
                object
            }
            Step::Replace { to, .. } => to,
        }
    }
}

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
        /// `None`: the kernel's default for the family (see `model::Route`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metric: Option<u32>,
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
    Namespace {
        name: NsName,
    },
    Parent {
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
    pub fn key(&self) -> Key {
        let at = |namespace: &Option<NsName>, name: &LinkName| LinkRef {
            namespace: namespace.clone(),
            name: name.clone(),
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
            Key::Parent { name } => Some(LinkRef {
                namespace: None,
                name,
            }),
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

impl Route {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mv() -> Object {
        Object::Macvlan(MacvlanLink {
            namespace: Some(NsName::new("red").unwrap()),
            name: LinkName::new("eth0").unwrap(),
            parent: LinkName::new("lab0").unwrap(),
            mode: Mode::Bridge,
            mac: None,
            mtu: Some(1400),
            up: true,
            source_macs: vec![],
        })
    }

    #[test]
    fn step_json_has_action_and_kind_tags() {
        let s = Step::Create { object: mv() };
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["object"]["kind"], s.object().kind());
        assert_eq!(j["action"], "create");
        assert_eq!(j["object"]["kind"], "macvlan");
        assert_eq!(j["object"]["namespace"], "red");
        let back: Step = serde_json::from_value(j).unwrap();
        assert_eq!(back, s);
        let u = Step::Update {
            object: mv(),
            changes: vec![Change::Mtu {
                from: 1500,
                to: 1400,
            }],
        };
        let j = serde_json::to_value(&u).unwrap();
        assert_eq!(j["changes"][0]["field"], "mtu");
        assert_eq!(serde_json::from_value::<Step>(j).unwrap(), u);
    }

    #[test]
    fn keys_order_by_kind_then_place() {
        let ns = Key::Namespace {
            name: NsName::new("zzz").unwrap(),
        };
        let p = Key::Parent {
            name: LinkName::new("aaa").unwrap(),
        };
        assert!(ns < p);
        assert!(p < mv().key());
    }
}
