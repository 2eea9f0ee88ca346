//! Macvlans: the file's macvlans against the live links at their places (create, update in
//! place, or replace), their addresses and routes, and the MAC a moved macvlan keeps.

use std::collections::{BTreeMap, BTreeSet};

use super::{PlanError, Planner, show};
use crate::live::{LinkKind, LinkRef, LiveLink};
use crate::model::Macvlan;
use crate::names::{LinkName, MacAddr, Mode};
use crate::object::{Change, Key, MacvlanLink, Object};
use crate::plan::Step;

impl<'a> Planner<'a> {
    /// A macvlan that moves to another namespace is deleted and made again there (a move
    /// costs an RCU grace period, a create into the namespace does not). When the file
    /// gives it no MAC, the new one gets the old one's: "the kernel picks one and it is
    /// kept", as across an `ip link set netns`. A move is a delete of an owned macvlan and a
    /// create of one with the same name on the same parent in another namespace; only an
    /// unambiguous pair counts, and never a MAC the file gives to another macvlan.
    pub(super) fn keep_moved_macs(&mut self) {
        // MACs some step already gives a macvlan (a replace keeps its MAC too).
        let taken: BTreeSet<MacAddr> = self
            .steps
            .values()
            .filter_map(|s| match s {
                Step::Create {
                    object: Object::Macvlan(m),
                }
                | Step::Replace {
                    to: Object::Macvlan(m),
                    ..
                }
                | Step::Update {
                    object: Object::Macvlan(m),
                    ..
                } => m.mac,
                _ => None,
            })
            .collect();
        let mut gone: BTreeMap<(&LinkName, &LinkName), Vec<MacAddr>> = BTreeMap::new();
        for step in self.deletes.values() {
            if let Step::Delete {
                object: Object::Macvlan(old),
            } = step
                && old.mode != Mode::Passthru
                && let Some(mac) = old.mac
                && !self.wanted_macs.contains_key(&mac)
                && !taken.contains(&mac)
            {
                gone.entry((&old.name, &old.parent)).or_default().push(mac);
            }
        }
        let mut creates: BTreeMap<(LinkName, LinkName), Vec<Key>> = BTreeMap::new();
        for (key, step) in &self.steps {
            if let Step::Create {
                object: Object::Macvlan(new),
            } = step
                && new.mac.is_none()
                && new.mode != Mode::Passthru
            {
                creates
                    .entry((new.name.clone(), new.parent.clone()))
                    .or_default()
                    .push(key.clone());
            }
        }
        for ((name, parent), keys) in creates {
            let [key] = keys.as_slice() else { continue };
            let Some([mac]) = gone.get(&(&name, &parent)).map(Vec::as_slice) else {
                continue;
            };
            if let Some(Step::Create {
                object: Object::Macvlan(new),
            }) = self.steps.get_mut(key)
            {
                new.mac = Some(*mac);
            }
        }
    }

    pub(super) fn macvlans(&mut self) {
        let t = self.topology;
        for m in &t.macvlans {
            let here = LinkRef::new(m.namespace.clone(), m.name.clone());
            let key = Key::Macvlan { at: here.clone() };
            let desired = MacvlanLink::from_model(m);
            let Some(l) = self.link(&here) else {
                self.steps.insert(
                    key,
                    Step::Create {
                        object: Object::Macvlan(desired),
                    },
                );
                self.create_contents(m, &here);
                continue;
            };
            self.handled.insert(here.clone());
            if !self.owned(l) {
                self.foreign(l, Some((&m.span).into()));
                continue;
            }
            if let Some(reason) = self.macvlan_replace_reason(m, l) {
                let Some(from) = Object::from_live(l) else {
                    self.problems.push(PlanError::Unmanageable {
                        at: l.at(),
                        kind: l.kind.clone(),
                        topology: self.owner.to_owned(),
                    });
                    continue;
                };
                let passthru = m.mode == Mode::Passthru || l.mode == Some(Mode::Passthru);
                let mut to = desired;
                // Keep the MAC the kernel picked, so the replacement looks the same to the
                // network; a passthru link takes its parent's instead.
                // Not when the file gives that MAC to another macvlan, though.
                let wanted_elsewhere = l.mac.is_some_and(|mac| self.wanted_macs.contains_key(&mac));
                if to.mac.is_none() && !passthru && !wanted_elsewhere && l.kind == LinkKind::Macvlan
                {
                    to.mac = l.mac;
                }
                self.steps.insert(
                    key,
                    Step::Replace {
                        from,
                        to: Object::Macvlan(to),
                        reason,
                    },
                );
                // The kernel drops addresses and routes with the link: all are made again.
                self.create_contents(m, &here);
                continue;
            }
            let changes = macvlan_changes(m, l);
            if !changes.is_empty() {
                self.steps.insert(
                    key,
                    Step::Update {
                        object: Object::Macvlan(desired),
                        changes,
                    },
                );
            }
            self.sync_contents(m, l, &here);
        }
    }

    pub(super) fn macvlan_replace_reason(&self, m: &Macvlan, l: &LiveLink) -> Option<String> {
        if l.kind != LinkKind::Macvlan {
            return Some(format!("kind changes from {} to macvlan", l.kind));
        }
        let want = LinkRef::host(m.parent.clone());
        if l.parent.as_ref() != Some(&want) {
            return Some(format!(
                "parent changes from {} to {want}",
                show(l.parent.as_ref())
            ));
        }
        if self.replaced_parents.contains(&m.parent) {
            return Some(format!("parent {} is replaced", m.parent));
        }
        let live_mode = l.mode.unwrap_or_default();
        if (live_mode == Mode::Passthru) != (m.mode == Mode::Passthru) {
            return Some(format!("mode changes from {live_mode} to {}", m.mode));
        }
        // Its MAC (picked by the kernel, or given earlier) now belongs to another macvlan on
        // the same parent: only a new link gets a new kernel-picked MAC.
        if m.mac.is_none()
            && let Some(mac) = l.mac
            && let Some(other) = self.wanted_macs.get(&mac).and_then(|ms| {
                ms.iter().find(|o| {
                    o.parent == m.parent && (o.namespace != m.namespace || o.name != m.name)
                })
            })
        {
            return Some(format!(
                "its mac {mac} is given to {} in the file",
                LinkRef::new(other.namespace.clone(), other.name.clone())
            ));
        }
        None
    }

    pub(super) fn create_contents(&mut self, m: &Macvlan, here: &LinkRef) {
        for a in &m.addresses {
            self.steps.insert(
                Key::Address {
                    at: here.clone(),
                    address: *a,
                },
                Step::Create {
                    object: Object::Address {
                        namespace: m.namespace.clone(),
                        link: m.name.clone(),
                        address: *a,
                    },
                },
            );
        }
        for r in &m.routes {
            self.steps.insert(
                Key::Route {
                    at: here.clone(),
                    to: r.to,
                },
                Step::Create {
                    object: r.object(&m.namespace, &m.name),
                },
            );
        }
    }

    /// Addresses and routes of a macvlan kept in place: set difference both ways.
    pub(super) fn sync_contents(&mut self, m: &Macvlan, l: &LiveLink, here: &LinkRef) {
        let address = |a| Object::Address {
            namespace: m.namespace.clone(),
            link: m.name.clone(),
            address: a,
        };
        for a in &m.addresses {
            if l.addresses.binary_search(a).is_err() {
                self.steps.insert(
                    Key::Address {
                        at: here.clone(),
                        address: *a,
                    },
                    Step::Create {
                        object: address(*a),
                    },
                );
            }
        }
        for a in &l.addresses {
            if !m.addresses.contains(a) {
                self.deletes.insert(
                    Key::Address {
                        at: here.clone(),
                        address: *a,
                    },
                    Step::Delete {
                        object: address(*a),
                    },
                );
            }
        }
        for r in &m.routes {
            if l.routes.binary_search(r).is_err() {
                self.steps.insert(
                    Key::Route {
                        at: here.clone(),
                        to: r.to,
                    },
                    Step::Create {
                        object: r.object(&m.namespace, &m.name),
                    },
                );
            }
        }
        for r in &l.routes {
            if !m.routes.contains(r) {
                self.deletes.insert(
                    Key::Route {
                        at: here.clone(),
                        to: r.to,
                    },
                    Step::Delete {
                        object: r.object(&m.namespace, &m.name),
                    },
                );
            }
        }
    }
}

/// In-place changes of a macvlan, in the order the kernel should get them (the mode
/// before the source list it governs).
fn macvlan_changes(m: &Macvlan, l: &LiveLink) -> Vec<Change> {
    let mut changes = Vec::new();
    let live_mode = l.mode.unwrap_or_default();
    if live_mode != m.mode {
        changes.push(Change::Mode {
            from: live_mode,
            to: m.mode,
        });
    }
    let mut want_sources = m.source_macs.clone();
    want_sources.sort();
    want_sources.dedup();
    let mut live_sources = l.source_macs.clone();
    live_sources.sort();
    live_sources.dedup();
    if want_sources != live_sources {
        changes.push(Change::SourceMacs {
            from: live_sources,
            to: want_sources,
        });
    }
    if let Some(mac) = m.mac
        && l.mac != Some(mac)
    {
        changes.push(Change::Mac {
            from: l.mac,
            to: mac,
        });
    }
    if let Some(mtu) = m.mtu
        && mtu != l.mtu
    {
        changes.push(Change::Mtu {
            from: l.mtu,
            to: mtu,
        });
    }
    if l.up != m.up {
        changes.push(Change::Up {
            from: l.up,
            to: m.up,
        });
    }
    changes
}
