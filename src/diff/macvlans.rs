//! Macvlans: the file's macvlans against the live links at their places (create, update in
//! place, or replace), their addresses and routes, and the MAC a moved macvlan keeps.

use std::collections::{BTreeMap, BTreeSet};

use super::ownership::foreign;
use super::{Context, Draft, PlanError};
use crate::live::{LinkKind, LinkRef, LiveLink, LiveState};
use crate::model::{Macvlan, Route};
use crate::names::{Cidr, LinkName, MacAddr, MacvlanFlag, Mode};
use crate::names::{DEFAULT_BC_CUTOFF, DEFAULT_BC_QUEUE_LEN};
use crate::object::{Change, Key, MacvlanLink, Object};
use crate::plan::{ReplaceReason, Step};

/// A macvlan that moves to another namespace is deleted and made again there (a move
/// costs an RCU grace period, a create into the namespace does not). When the file
/// gives it no MAC, the new one gets the old one's: "the kernel picks one and it is
/// kept", as across an `ip link set netns`. A move is a delete of an owned macvlan and a
/// create of one with the same name on the same parent in another namespace; only an
/// unambiguous pair counts, and never a MAC the file gives to another macvlan.
pub(super) fn keep_moved_macs(cx: &Context<'_>, mut d: Draft) -> Draft {
    // MACs some step already gives a macvlan (a replace keeps its MAC too).
    let taken: BTreeSet<MacAddr> = d
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
    for step in d.deletes.values() {
        if let Step::Delete {
            object: Object::Macvlan(old),
        } = step
            && old.mode != Mode::Passthru
            && let Some(mac) = old.mac
            && !cx.wanted_macs.contains_key(&mac)
            && !taken.contains(&mac)
        {
            gone.entry((&old.name, &old.parent)).or_default().push(mac);
        }
    }
    let mut creates: BTreeMap<(LinkName, LinkName), Vec<Key>> = BTreeMap::new();
    for (key, step) in &d.steps {
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
        }) = d.steps.get_mut(key)
        {
            new.mac = Some(*mac);
        }
    }
    d
}

pub(super) fn plan(cx: &Context<'_>, mut d: Draft) -> Draft {
    let t = cx.topology;
    for m in &t.macvlans {
        if let Some(e) = missing_feature(m, cx.live) {
            d.problems.push(e);
            continue;
        }
        let here = LinkRef::new(m.namespace.clone(), m.name.clone());
        let key = Key::Macvlan { at: here.clone() };
        let desired = MacvlanLink::from_model(m);
        let Some(l) = cx.link(&here) else {
            d.steps.insert(
                key,
                Step::Create {
                    object: Object::Macvlan(desired),
                },
            );
            create_contents(&mut d, m, &here);
            continue;
        };
        d.handled.insert(here.clone());
        if !cx.owned(l) {
            foreign(cx, &mut d, l, Some((&m.span).into()));
            continue;
        }
        if let Some(reason) = macvlan_replace_reason(cx, &d, m, l) {
            let Some(from) = Object::from_live(l) else {
                d.problems.push(PlanError::Unmanageable {
                    at: l.at(),
                    kind: l.kind.clone(),
                    topology: cx.owner.to_owned(),
                });
                continue;
            };
            let passthru = m.mode == Mode::Passthru || l.mode == Some(Mode::Passthru);
            let mut to = desired;
            // Keep the MAC the kernel picked, so the replacement looks the same to the
            // network; a passthru link takes its parent's instead.
            // Not when the file gives that MAC to another macvlan, though.
            let wanted_elsewhere = l.mac.is_some_and(|mac| cx.wanted_macs.contains_key(&mac));
            if to.mac.is_none() && !passthru && !wanted_elsewhere && l.kind.macvlan().is_some() {
                to.mac = l.mac;
            }
            d.steps.insert(
                key,
                Step::Replace {
                    from,
                    to: Object::Macvlan(to),
                    reason,
                },
            );
            // The kernel drops addresses and routes with the link: all are made again.
            create_contents(&mut d, m, &here);
            continue;
        }
        let changes = macvlan_changes(m, l);
        if !changes.is_empty() {
            d.steps.insert(
                key,
                Step::Update {
                    object: Object::Macvlan(desired),
                    changes,
                },
            );
        }
        sync_contents(&mut d, m, l, &here);
    }
    d
}

pub(super) fn macvlan_replace_reason(
    cx: &Context<'_>,
    d: &Draft,
    m: &Macvlan,
    l: &LiveLink,
) -> Option<ReplaceReason> {
    if l.kind.macvlan() != Some(m.kind) {
        return Some(ReplaceReason::Kind {
            from: l.kind.clone(),
            to: LinkKind::from(m.kind),
        });
    }
    let want = LinkRef::new(m.parent_namespace.clone(), m.parent.clone());
    if l.parent.as_ref() != Some(&want) {
        return Some(ReplaceReason::Parent {
            from: l.parent.clone(),
            to: want,
        });
    }
    if d.replaced_parents.contains(&m.parent) {
        return Some(ReplaceReason::ParentReplaced {
            parent: m.parent.clone(),
        });
    }
    let live_mode = l.mode.unwrap_or_default();
    if (live_mode == Mode::Passthru) != (m.mode == Mode::Passthru) {
        return Some(ReplaceReason::Mode {
            from: live_mode,
            to: m.mode,
        });
    }
    // Changing nopromisc makes the kernel add or drop one promiscuity reference on the
    // parent as though the passthru link were up (macvlan_changelink); on a link that
    // is down it holds none, so the parent's count underflows (measured on 6.18: 2^32-1,
    // and clearing the flag again fails with EOVERFLOW). Only a link that is up
    // changes it in place.
    let nopromisc = |f: &[MacvlanFlag]| f.contains(&MacvlanFlag::Nopromisc);
    if live_mode == Mode::Passthru && !l.up && nopromisc(&l.flags) != nopromisc(&m.flags) {
        return Some(ReplaceReason::NopromiscWhileDown);
    }
    // Its MAC (picked by the kernel, or given earlier) now belongs to another macvlan on
    // the same parent: only a new link gets a new kernel-picked MAC.
    if m.mac.is_none()
        && let Some(mac) = l.mac
        && let Some(other) = cx.wanted_macs.get(&mac).and_then(|ms| {
            ms.iter()
                .find(|o| o.parent == m.parent && (o.namespace != m.namespace || o.name != m.name))
        })
    {
        return Some(ReplaceReason::MacGivenAway {
            mac,
            to: LinkRef::new(other.namespace.clone(), other.name.clone()),
        });
    }
    None
}

pub(super) fn create_contents(d: &mut Draft, m: &Macvlan, here: &LinkRef) {
    for a in &m.addresses {
        d.steps.insert(
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
        d.steps.insert(
            Key::Route {
                at: here.clone(),
                to: r.to,
                metric: r.metric,
            },
            Step::Create {
                object: r.object(&m.namespace, &m.name),
            },
        );
    }
}

/// Addresses and routes of a macvlan kept in place: set difference both ways.
pub(super) fn sync_contents(d: &mut Draft, m: &Macvlan, l: &LiveLink, here: &LinkRef) {
    // Each address and route as (key, object); wanted ones missing are created, live ones
    // not wanted are deleted. The live lists are sorted; the file's keep the file's order.
    let address = |a: &Cidr| {
        let key = Key::Address {
            at: here.clone(),
            address: *a,
        };
        let object = Object::Address {
            namespace: m.namespace.clone(),
            link: m.name.clone(),
            address: *a,
        };
        (key, object)
    };
    let route = |r: &Route| {
        let key = Key::Route {
            at: here.clone(),
            to: r.to,
            metric: r.metric,
        };
        (key, r.object(&m.namespace, &m.name))
    };
    let added_addresses = m
        .addresses
        .iter()
        .filter(|a| l.addresses.binary_search(a).is_err());
    let added_routes = m
        .routes
        .iter()
        .filter(|r| l.routes.binary_search(r).is_err());
    for (key, object) in added_addresses.map(address).chain(added_routes.map(route)) {
        d.steps.insert(key, Step::Create { object });
    }
    let gone_addresses = l.addresses.iter().filter(|a| !m.addresses.contains(a));
    let gone_routes = l.routes.iter().filter(|r| !m.routes.contains(r));
    for (key, object) in gone_addresses.map(address).chain(gone_routes.map(route)) {
        d.deletes.insert(key, Step::Delete { object });
    }
}

/// In-place changes of a macvlan, in the order the kernel should get them (the mode
/// before the source list it governs, the driver's other attributes before `up`).
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
    // Before `up`: a passthru link's nopromisc changes only while it is up (see
    // `macvlan_replace_reason`).
    macvlan_driver_changes(m, l, &mut changes);
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

/// Flags and the broadcast queue: compared only where the file sets them. What a macvlan
/// asks for (bcqueuelen), not the parent's largest (usedbcqueuelen); the cutoff is the
/// parent's, which every macvlan on it reports (`None`: the kernel's default).
fn macvlan_driver_changes(m: &Macvlan, l: &LiveLink, changes: &mut Vec<Change>) {
    if m.flags != l.flags {
        changes.push(Change::Flags {
            from: l.flags.clone(),
            to: m.flags.clone(),
        });
    }
    if let Some(q) = m.bcqueuelen
        && l.bcqueuelen != Some(q)
    {
        changes.push(Change::Bcqueuelen {
            from: l.bcqueuelen.unwrap_or(DEFAULT_BC_QUEUE_LEN),
            to: q,
        });
    }
    if let Some(c) = m.bc_cutoff {
        let live = l.bc_cutoff.unwrap_or(DEFAULT_BC_CUTOFF);
        if live != c {
            changes.push(Change::BcCutoff { from: live, to: c });
        }
    }
}

/// A key the file sets that the kernel read cannot carry out (see `KernelFeatures`).
fn missing_feature(m: &Macvlan, live: &LiveState) -> Option<PlanError> {
    let k = &live.kernel;
    let (key, feature) = if m.bcqueuelen.is_some() && k.macvlan_bc_queue_len == Some(false) {
        (
            "bcqueuelen",
            "IFLA_MACVLAN_BC_QUEUE_LEN, the macvlan broadcast queue length, Linux 5.11",
        )
    } else if m.bc_cutoff.is_some() && k.macvlan_bc_cutoff == Some(false) {
        (
            "bc-cutoff",
            "IFLA_MACVLAN_BC_CUTOFF, the macvlan broadcast cutoff, Linux 6.4",
        )
    } else {
        return None;
    };
    Some(PlanError::KernelFeature {
        at: LinkRef::new(m.namespace.clone(), m.name.clone()),
        key,
        feature,
        span: Some((&m.span).into()),
    })
}
