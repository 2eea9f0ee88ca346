//! The plan as data: the ordered steps `apply` executes, and nothing else.
//!
//! A `Plan` is produced by `diff::diff` and serialized as-is by `plan --format json`;
//! `render` only formats it. Each step carries complete objects (the desired one for a
//! create, the live one for a delete). How a step becomes kernel requests, and how those
//! are undone, is `apply`'s business.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::live::{LinkKind, LinkRef};
use crate::names::{LinkName, MacAddr, Mode, NsName};

/// The objects steps carry, here too, since every step names one.
pub use crate::object::{Change, Key, MacvlanLink, Object};

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
// A replace carries both objects whole, as every step carries complete objects; steps live
// in one Vec per plan and are built once, so boxing them would only add an indirection.
#[allow(clippy::large_enum_variant)]
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
        reason: ReplaceReason,
    },
    /// Delete `object` (as it is live, so the step can be undone).
    Delete { object: Object },
}

/// What a step does: the `action` tag of its JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a link is deleted and made again instead of changed in place. Serialized as the
/// sentence `Display` writes (plan JSON and saved plans carry that text); two reasons are
/// equal when they say the same, so a saved plan read back equals the plan made again.
#[derive(Clone, Debug)]
pub enum ReplaceReason {
    /// The live link is of another kind.
    Kind { from: LinkKind, to: LinkKind },
    /// A macvlan sits on another parent (`None`: the kernel did not say which).
    Parent { from: Option<LinkRef>, to: LinkRef },
    /// The macvlan's parent is itself replaced, and takes it along.
    ParentReplaced { parent: LinkName },
    /// Into or out of passthru, which the kernel cannot change in place.
    Mode { from: Mode, to: Mode },
    /// The macvlan's MAC is one the file gives to `to`, on the same parent.
    MacGivenAway { mac: MacAddr, to: LinkRef },
    /// A passthru macvlan that is down changes `nopromisc`: the kernel would miscount its
    /// parent's promiscuity (see `diff::macvlans`).
    NopromiscWhileDown,
    /// A vlan's link is replaced, and takes it along.
    LinkReplaced { link: LinkName },
    /// A veth's far end is elsewhere.
    Peer { from: Option<LinkRef>, to: LinkRef },
    /// A vlan sits on another link.
    VlanLink { from: Option<LinkRef>, to: LinkRef },
    /// A vlan has another id.
    VlanId { from: Option<u16>, to: u16 },
    /// A reason read from a plan file that is none of the above (a plan written by hand).
    Text(String),
}

const NOPROMISC_WHILE_DOWN: &str = "nopromisc changes on a passthru macvlan that is down (the kernel would miscount its parent's promiscuity)";

/// `unknown` where the kernel did not say.
fn or_unknown<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "unknown".to_owned(), ToString::to_string)
}

impl fmt::Display for ReplaceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplaceReason::Kind { from, to } => write!(f, "kind changes from {from} to {to}"),
            ReplaceReason::Parent { from, to } => {
                write!(f, "parent changes from {} to {to}", or_unknown(from))
            }
            ReplaceReason::ParentReplaced { parent } => write!(f, "parent {parent} is replaced"),
            ReplaceReason::Mode { from, to } => write!(f, "mode changes from {from} to {to}"),
            ReplaceReason::MacGivenAway { mac, to } => {
                write!(f, "its mac {mac} is given to {to} in the file")
            }
            ReplaceReason::NopromiscWhileDown => f.write_str(NOPROMISC_WHILE_DOWN),
            ReplaceReason::LinkReplaced { link } => write!(f, "link {link} is replaced"),
            ReplaceReason::Peer { from, to } => {
                write!(f, "peer changes from {} to {to}", or_unknown(from))
            }
            ReplaceReason::VlanLink { from, to } => {
                write!(f, "link changes from {} to {to}", or_unknown(from))
            }
            ReplaceReason::VlanId { from, to } => {
                write!(f, "vlan id changes from {} to {to}", or_unknown(from))
            }
            ReplaceReason::Text(s) => f.write_str(s),
        }
    }
}

impl ReplaceReason {
    /// The reason a sentence states, if it is one `Display` writes.
    fn parse(s: &str) -> Option<ReplaceReason> {
        fn link(s: &str) -> Option<LinkRef> {
            Some(match s.split_once('/') {
                Some((ns, name)) => {
                    LinkRef::new(Some(NsName::new(ns).ok()?), LinkName::new(name).ok()?)
                }
                None => LinkRef::host(LinkName::new(s).ok()?),
            })
        }
        fn maybe<T>(s: &str, parse: impl Fn(&str) -> Option<T>) -> Option<Option<T>> {
            if s == "unknown" {
                Some(None)
            } else {
                parse(s).map(Some)
            }
        }
        let change = |prefix: &str| {
            s.strip_prefix(prefix)?
                .strip_prefix(" changes from ")?
                .split_once(" to ")
        };
        let name = |s: &str| LinkName::new(s).ok();
        let links = |from: &str, to: &str| Some((maybe(from, link)?, link(to)?));
        let reason = if s == NOPROMISC_WHILE_DOWN {
            ReplaceReason::NopromiscWhileDown
        } else if let Some((from, to)) = change("kind") {
            ReplaceReason::Kind {
                from: from.parse().ok()?,
                to: to.parse().ok()?,
            }
        } else if let Some((from, to)) = change("parent").and_then(|(f, t)| links(f, t)) {
            ReplaceReason::Parent { from, to }
        } else if let Some((from, to)) = change("mode") {
            ReplaceReason::Mode {
                from: from.parse().ok()?,
                to: to.parse().ok()?,
            }
        } else if let Some((from, to)) = change("peer").and_then(|(f, t)| links(f, t)) {
            ReplaceReason::Peer { from, to }
        } else if let Some((from, to)) = change("link").and_then(|(f, t)| links(f, t)) {
            ReplaceReason::VlanLink { from, to }
        } else if let Some((from, to)) = change("vlan id") {
            ReplaceReason::VlanId {
                from: maybe(from, |v| v.parse().ok())?,
                to: to.parse().ok()?,
            }
        } else if let Some(rest) = s.strip_prefix("its mac ") {
            let (mac, to) = rest
                .strip_suffix(" in the file")?
                .split_once(" is given to ")?;
            ReplaceReason::MacGivenAway {
                mac: mac.parse().ok()?,
                to: link(to)?,
            }
        } else if let Some(rest) = s.strip_suffix(" is replaced") {
            if let Some(parent) = rest.strip_prefix("parent ") {
                ReplaceReason::ParentReplaced {
                    parent: name(parent)?,
                }
            } else {
                ReplaceReason::LinkReplaced {
                    link: name(rest.strip_prefix("link ")?)?,
                }
            }
        } else {
            return None;
        };
        // Only a sentence that reads back the same is taken as that reason.
        (reason.to_string() == s).then_some(reason)
    }
}

impl PartialEq for ReplaceReason {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for ReplaceReason {}

impl From<&str> for ReplaceReason {
    fn from(s: &str) -> Self {
        ReplaceReason::parse(s).unwrap_or_else(|| ReplaceReason::Text(s.to_owned()))
    }
}

impl From<String> for ReplaceReason {
    fn from(s: String) -> Self {
        ReplaceReason::parse(&s).unwrap_or(ReplaceReason::Text(s))
    }
}

impl Serialize for ReplaceReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReplaceReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ReplaceReason::from)
    }
}

impl Step {
    pub fn action(&self) -> Action {
        match self {
            Step::Create { .. } => Action::Create,
            Step::Update { .. } => Action::Update,
            Step::Replace { .. } => Action::Replace,
            Step::Delete { .. } => Action::Delete,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mv() -> Object {
        Object::Macvlan(MacvlanLink {
            mtu: Some(1400),
            ..crate::testing::macvlan_link(Some("red"), "eth0", "lab0", Mode::Bridge)
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
            namespace: None,
            name: LinkName::new("aaa").unwrap(),
        };
        assert!(ns < p);
        assert!(p < mv().key());
    }

    #[test]
    fn replace_reasons_read_back_as_written() {
        let link = |s: &str| LinkRef::host(LinkName::new(s).unwrap());
        let red = LinkRef::new(
            Some(NsName::new("red").unwrap()),
            LinkName::new("eth0").unwrap(),
        );
        let reasons = [
            ReplaceReason::Kind {
                from: LinkKind::Dummy,
                to: LinkKind::Veth,
            },
            ReplaceReason::Kind {
                from: LinkKind::Other("bond".into()),
                to: LinkKind::Macvlan,
            },
            ReplaceReason::Parent {
                from: None,
                to: link("lab0"),
            },
            ReplaceReason::Parent {
                from: Some(link("eth1")),
                to: link("lab0"),
            },
            ReplaceReason::ParentReplaced {
                parent: LinkName::new("lab0").unwrap(),
            },
            ReplaceReason::Mode {
                from: Mode::Bridge,
                to: Mode::Passthru,
            },
            ReplaceReason::MacGivenAway {
                mac: "02:00:00:00:00:01".parse().unwrap(),
                to: red.clone(),
            },
            ReplaceReason::LinkReplaced {
                link: LinkName::new("eth1").unwrap(),
            },
            ReplaceReason::Peer {
                from: Some(red),
                to: link("lab0p"),
            },
            ReplaceReason::VlanLink {
                from: None,
                to: link("eth1"),
            },
            ReplaceReason::VlanId {
                from: Some(10),
                to: 20,
            },
            ReplaceReason::VlanId { from: None, to: 20 },
            ReplaceReason::NopromiscWhileDown,
            ReplaceReason::Text("the peer moves to switch".into()),
            // Looks like a reason but does not read back the same: kept as text.
            ReplaceReason::Text("its mac 02:00:00:00:00:AA is given to b in the file".into()),
        ];
        for r in reasons {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, serde_json::to_string(&r.to_string()).unwrap());
            let back = serde_json::from_str::<ReplaceReason>(&json).unwrap();
            assert_eq!(back, r, "{json}");
            // A sentence the planner writes reads back as the same kind of reason.
            assert_eq!(
                std::mem::discriminant(&back),
                std::mem::discriminant(&r),
                "{json}"
            );
        }
        assert_eq!(serde_json::to_value(Action::Replace).unwrap(), "replace");
    }
}
