//! What belongs to a topology: ownership of live links, what a delete takes along
//! (casualties), what the plan prunes, and the part of the live state a plan depends on.

use std::collections::{BTreeSet, HashMap, HashSet};

use miette::SourceSpan;

use super::{Context, Draft, PlanError, normalized};
use crate::live::{LinkKind, LinkRef, LiveLink, LiveNamespace, LiveState};
use crate::model::Topology;
use crate::names::NsName;
use crate::object::{Key, Object};
use crate::plan::Step;

/// Whether `l` belongs to topology `owner`. The far end of an owned veth counts as owned
/// even when only one end carries the alias: it is created and destroyed with it.
pub fn owned(live: &LiveState, owner: &str, l: &LiveLink) -> bool {
    l.owned_by(owner)
        || (l.kind == LinkKind::Veth
            && l.peer
                .as_ref()
                .and_then(|p| live.link(p.namespace.as_ref(), &p.name))
                .is_some_and(|p| p.owned_by(owner) && p.peer.as_ref() == Some(&l.at())))
}

/// An owned namespace the file no longer names: the plan deletes it (unless deleting it
/// would take a foreign link along).
pub fn stale_namespace(t: &Topology, ns: &LiveNamespace) -> bool {
    ns.owned_by(&t.name) && !t.namespaces.contains_key(&ns.name)
}

/// A link carrying `t`'s alias that the file no longer names where it is, as a macvlan or
/// as a lab parent: the plan prunes it. (The far end of a veth counts too; `render` shows
/// one end of a pair.)
pub fn stale_link(t: &Topology, l: &LiveLink) -> bool {
    l.owned_by(&t.name)
        && match &l.kind {
            LinkKind::Macvlan | LinkKind::Macvtap => {
                t.macvlan(l.namespace.as_ref(), &l.name).is_none()
            }
            k if k.is_lab_parent() => !t.parents.values().any(|p| p.at() == l.at()),
            _ => false,
        }
}

/// The part of `live` that the plans for `t` (and its destroy) depend on: what `t.name`
/// owns, whatever sits at an identity the file names (a foreign object in the way), the
/// namespaces the file names or the topology owns with everything in them, and, closed
/// transitively, the parents, veth peers and children of all of those (what a delete
/// would take along). `mvtopo show --format json FILE` writes this, so that
/// `plan --state` on it gives the same plan as against the kernel.
pub fn relevant(t: &Topology, live: &LiveState) -> LiveState {
    let live = normalized(live);
    let owner = t.name.as_str();
    let named_ns = |n: &NsName| {
        t.namespaces.contains_key(n) || live.namespace(n).is_some_and(|x| x.owned_by(owner))
    };
    let mut wanted: BTreeSet<LinkRef> = BTreeSet::new();
    for p in t.parents.values() {
        wanted.insert(p.at());
        wanted.extend(LinkRef::veth_peer(&p.kind));
    }
    for m in &t.macvlans {
        wanted.insert(LinkRef::new(m.namespace.clone(), m.name.clone()));
    }
    let mut keep: BTreeSet<LinkRef> = live
        .links
        .iter()
        .filter(|l| {
            l.owned_by(owner)
                || wanted.contains(&l.at())
                || l.namespace.as_ref().is_some_and(named_ns)
        })
        .map(LiveLink::at)
        .collect();
    // Close over parents, peers and children.
    loop {
        let mut more = Vec::new();
        for l in &live.links {
            let here = l.at();
            if keep.contains(&here) {
                more.extend(l.parent.iter().cloned());
                more.extend(l.peer.iter().cloned());
            } else if l.parent.as_ref().is_some_and(|p| keep.contains(p))
                || l.peer.as_ref().is_some_and(|p| keep.contains(p))
            {
                more.push(here);
            }
        }
        let before = keep.len();
        keep.extend(
            more.into_iter()
                .filter(|r| live.link(r.namespace.as_ref(), &r.name).is_some()),
        );
        if keep.len() == before {
            break;
        }
    }
    let mut out = LiveState {
        namespaces: live
            .namespaces
            .iter()
            .filter(|n| {
                named_ns(&n.name) || keep.iter().any(|r| r.namespace.as_ref() == Some(&n.name))
            })
            .cloned()
            .collect(),
        links: live
            .links
            .iter()
            .filter(|l| keep.contains(&l.at()))
            .cloned()
            .collect(),
        kernel: live.kernel.clone(),
    };
    out.normalize();
    out
}

impl<'a> Context<'a> {
    pub(super) fn children_of(&self, at: &LinkRef) -> &[&'a LiveLink] {
        let live = self.live;
        let map = self.children.get_or_init(|| {
            let mut map: HashMap<&'a LinkRef, Vec<&'a LiveLink>> = HashMap::new();
            for l in &live.links {
                if let Some(p) = &l.parent {
                    map.entry(p).or_default().push(l);
                }
            }
            map
        });
        map.get(at).map_or(&[], Vec::as_slice)
    }

    pub(super) fn owned(&self, l: &LiveLink) -> bool {
        owned(self.live, self.owner, l)
    }

    /// The links not owned by this topology that the kernel would delete along with `l`:
    /// the other end of a veth, and whatever sits on any of those (macvlans, vlans),
    /// transitively.
    pub(super) fn foreign_casualties(&self, l: &LiveLink) -> Vec<LinkRef> {
        self.casualties(vec![l.at()])
    }

    /// The links not owned by this topology that die when the links `start` are deleted:
    /// the other end of each veth, and whatever sits on any of those, transitively.
    pub(super) fn casualties(&self, start: Vec<LinkRef>) -> Vec<LinkRef> {
        let live = self.live;
        let mut seen: HashSet<LinkRef> = start.iter().cloned().collect();
        let mut doomed: Vec<LinkRef> = start;
        let mut i = 0;
        while i < doomed.len() {
            let at = doomed[i].clone();
            self.visit(1);
            if let Some(l) = self.link(&at)
                && l.kind == LinkKind::Veth
                && let Some(peer) = &l.peer
                && seen.insert(peer.clone())
            {
                doomed.push(peer.clone());
            }
            let children = self.children_of(&at);
            self.visit(children.len());
            for child in children {
                let c = child.at();
                if seen.insert(c.clone()) {
                    doomed.push(c);
                }
            }
            i += 1;
        }
        doomed
            .into_iter()
            .filter(|at| {
                live.link(at.namespace.as_ref(), &at.name)
                    .is_some_and(|x| !self.owned(x))
            })
            .collect()
    }
}

pub(super) fn foreign(cx: &Context<'_>, d: &mut Draft, l: &LiveLink, span: Option<SourceSpan>) {
    d.problems.push(PlanError::Foreign {
        at: l.at(),
        topology: cx.owner.to_owned(),
        owner: l.owner.clone(),
        span,
    });
}

/// Owned links that nothing in the file accounts for are deleted.
pub(super) fn prune_links(cx: &Context<'_>, mut d: Draft) -> Draft {
    let live = cx.live;
    for l in &live.links {
        if d.handled.contains(&l.at()) || !cx.owned(l) {
            continue;
        }
        // Deleting either end of a veth deletes both: one step, for the end that sorts
        // first (the one in the tool's own namespace, if either is).
        if l.kind == LinkKind::Veth
            && let Some(peer) = &l.peer
        {
            d.handled.insert(peer.clone());
        }
        let foreign = cx.foreign_casualties(l);
        if !foreign.is_empty() {
            d.notes.push(format!(
                "{} {} is kept: deleting it would delete {}, which topology {} does not own",
                l.kind,
                l.at(),
                foreign
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                cx.owner
            ));
            continue;
        }
        match Object::from_live(l) {
            Some(Object::Nic { .. }) | None => d.notes.push(format!(
                "interface {} ({}) is owned by topology {} but mvtopo cannot delete it; it is left in place",
                l.at(),
                l.kind,
                cx.owner
            )),
            Some(object) => {
                d.deletes.insert(object.key(), Step::Delete { object });
            }
        }
    }
    d
}

pub(super) fn prune_namespaces(cx: &Context<'_>, mut d: Draft) -> Draft {
    let live = cx.live;
    for ns in &live.namespaces {
        if !stale_namespace(cx.topology, ns) {
            continue;
        }
        // Links are sorted by (namespace, name): the namespace's links are one run.
        let start = live
            .links
            .partition_point(|l| l.namespace.as_ref() < Some(&ns.name));
        // Everything in the namespace dies with it, and with those whatever hangs off
        // them elsewhere (the far end of a veth whose peer is in here, and the macvlans
        // on that end).
        let inside: Vec<LinkRef> = live.links[start..]
            .iter()
            .take_while(|l| l.namespace.as_ref() == Some(&ns.name))
            .map(LiveLink::at)
            .collect();
        let foreign: Vec<String> = cx
            .casualties(inside)
            .iter()
            .map(ToString::to_string)
            .collect();
        if foreign.is_empty() {
            d.deletes.insert(
                Key::Namespace {
                    name: ns.name.clone(),
                },
                Step::Delete {
                    object: Object::Namespace {
                        name: ns.name.clone(),
                    },
                },
            );
        } else {
            let noun = if foreign.len() == 1 {
                "interface"
            } else {
                "interfaces"
            };
            d.notes.push(format!(
                "namespace {} is kept: deleting it would delete {noun} {}, which topology {} does not own",
                ns.name,
                foreign.join(", "),
                cx.owner
            ));
        }
    }
    d
}
