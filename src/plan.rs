//! The plan as data: the ordered steps `apply` executes, and nothing else.
//!
//! A `Plan` is produced by `diff::diff` and serialized as-is by `plan --format json`;
//! `render` only formats it. Each step carries complete objects (the desired one for a
//! create, the live one for a delete). How a step becomes kernel requests, and how those
//! are undone, is `apply`'s business.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{LinkName, Mode, NsName};

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
