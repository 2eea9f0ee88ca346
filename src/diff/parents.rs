//! Parents: the file's parents against the live links at their names, and what a replaced
//! parent takes along (the vlans on it).

use super::ownership::foreign;
use super::{Context, Draft, PlanError};
use crate::live::{LinkKind, LinkRef, LiveLink};
use crate::model::{Parent, ParentKind};
use crate::names::LinkName;
use crate::object::{Change, Key, Object};
use crate::plan::{ReplaceReason, Step};

pub(super) fn plan(cx: &Context<'_>, mut d: Draft) -> Draft {
    let t = cx.topology;
    for p in t.parents.values() {
        let key = Key::parent(p.at());
        let desired = Object::from_parent(p);
        let live = cx.link(&p.at());
        if let Some(l) = live {
            d.handled.insert(l.at());
        }
        let l = match (live, &p.kind) {
            (None, ParentKind::Existing) => {
                d.problems.push(PlanError::MissingParent {
                    name: p.name.clone(),
                    place: p.namespace.as_ref().map_or_else(
                        || "the namespace mvtopo runs in".to_owned(),
                        |ns| format!("namespace {ns}"),
                    ),
                    span: (&p.span).into(),
                });
                continue;
            }
            (None, _) => {
                check_peer_free(cx, &mut d, p, None);
                d.steps.insert(key, Step::Create { object: desired });
                continue;
            }
            (Some(l), ParentKind::Existing) => l,
            (Some(l), _) if !cx.owned(l) => {
                foreign(cx, &mut d, l, Some((&p.span).into()));
                continue;
            }
            (Some(l), _) => l,
        };
        if l.kind == LinkKind::Veth
            && let Some(peer) = &l.peer
        {
            d.handled.insert(peer.clone());
        }
        if let Some(reason) = parent_replace_reason(p, l) {
            check_peer_free(cx, &mut d, p, Some(l));
            replace_parent(cx, &mut d, p, l, desired, reason);
            continue;
        }
        let mut changes = Vec::new();
        if let Some(mtu) = p.mtu
            && mtu != l.mtu
        {
            changes.push(Change::Mtu {
                from: l.mtu,
                to: mtu,
            });
        }
        if !l.up {
            changes.push(Change::Up {
                from: false,
                to: true,
            });
        }
        if !changes.is_empty() {
            d.steps.insert(
                key,
                Step::Update {
                    object: desired,
                    changes,
                },
            );
        }
    }
    cascade_vlans(cx, &mut d);
    bridge_ports(cx, &mut d);
    d
}

/// The ports of each bridge that is kept, changed in place (IFLA_MASTER of each port).
/// Only the file's veths count on the live side: a port whose veth is made (again) in
/// this plan comes without a master, one the file no longer has is deleted with its
/// veth, and a link someone else enslaved is not mvtopo's to release.
fn bridge_ports(cx: &Context<'_>, d: &mut Draft) {
    let t = cx.topology;
    for p in t.parents.values() {
        let ParentKind::Bridge { ports, .. } = &p.kind else {
            continue;
        };
        let key = Key::parent(p.at());
        if matches!(
            d.steps.get(&key),
            Some(Step::Create { .. } | Step::Replace { .. })
        ) || cx.link(&p.at()).is_none()
        {
            continue;
        }
        let remade = |veth: &Parent| {
            matches!(
                d.steps.get(&Key::parent(veth.at())),
                Some(Step::Create { .. } | Step::Replace { .. })
            )
        };
        let live: Vec<LinkName> = cx
            .live
            .ports(None, &p.name)
            .into_iter()
            .filter(|port| t.veth_of(port).is_some_and(|v| !remade(v)))
            .collect();
        if live == *ports {
            continue;
        }
        let change = Change::Ports {
            from: live,
            to: ports.clone(),
        };
        match d.steps.get_mut(&key) {
            Some(Step::Update { changes, .. }) => changes.push(change),
            _ => {
                d.steps.insert(
                    key,
                    Step::Update {
                        object: Object::from_parent(p),
                        changes: vec![change],
                    },
                );
            }
        }
    }
}

pub(super) fn replace_parent(
    cx: &Context<'_>,
    d: &mut Draft,
    p: &Parent,
    l: &LiveLink,
    desired: Object,
    reason: ReplaceReason,
) {
    let key = Key::parent(p.at());
    let foreign = cx.foreign_casualties(l);
    if !foreign.is_empty() {
        d.problems.push(PlanError::ForeignCasualty {
            at: l.at(),
            casualties: foreign,
            topology: cx.owner.to_owned(),
        });
        return;
    }
    match Object::from_live(l) {
        Some(from) => {
            d.replaced_parents.insert(p.name.clone());
            d.steps.insert(
                key,
                Step::Replace {
                    from,
                    to: desired,
                    reason,
                },
            );
        }
        None => d.problems.push(PlanError::Unmanageable {
            at: l.at(),
            kind: l.kind.clone(),
            topology: cx.owner.to_owned(),
        }),
    }
}

/// Deleting a link deletes the vlans on it, so a vlan parent whose link is replaced is
/// replaced too (whatever its own step was), down the chain.
pub(super) fn cascade_vlans(cx: &Context<'_>, d: &mut Draft) {
    let t = cx.topology;
    loop {
        let mut grew = false;
        for p in t.parents.values() {
            let ParentKind::Vlan { link, .. } = &p.kind else {
                continue;
            };
            if !d.replaced_parents.contains(link) || d.replaced_parents.contains(&p.name) {
                continue;
            }
            let key = Key::parent(p.at());
            if matches!(d.steps.get(&key), Some(Step::Create { .. })) {
                continue;
            }
            let Some(l) = cx.link(&p.at()) else {
                continue;
            };
            if !cx.owned(l) {
                continue;
            }
            replace_parent(
                cx,
                d,
                p,
                l,
                Object::from_parent(p),
                ReplaceReason::LinkReplaced { link: link.clone() },
            );
            grew = true;
        }
        if !grew {
            break;
        }
    }
}

/// A veth's far end is created too: a foreign interface already at that place is in
/// the way. (The current far end of the same veth is not: it goes with its pair.)
pub(super) fn check_peer_free(
    cx: &Context<'_>,
    d: &mut Draft,
    p: &Parent,
    current: Option<&LiveLink>,
) {
    let ParentKind::Veth {
        peer,
        peer_namespace,
        peer_namespace_span,
    } = &p.kind
    else {
        return;
    };
    let target = LinkRef::new(peer_namespace.clone(), peer.clone());
    let Some(l) = cx.link(&target) else {
        return;
    };
    if current.and_then(|c| c.peer.as_ref()) == Some(&target) || cx.owned(l) {
        return;
    }
    let span = if peer_namespace.is_some() {
        peer_namespace_span
    } else {
        &p.span
    };
    foreign(cx, d, l, Some(span.into()));
}

fn parent_replace_reason(p: &Parent, l: &LiveLink) -> Option<ReplaceReason> {
    if matches!(p.kind, ParentKind::Existing) {
        return None;
    }
    let want = LinkKind::of_parent(&p.kind);
    if l.kind != want {
        return Some(ReplaceReason::Kind {
            from: l.kind.clone(),
            to: want,
        });
    }
    if let Some(target) = LinkRef::veth_peer(&p.kind) {
        return (l.peer.as_ref() != Some(&target)).then(|| ReplaceReason::Peer {
            from: l.peer.clone(),
            to: target,
        });
    }
    match &p.kind {
        ParentKind::Vlan { link, vlan_id, .. } => {
            let want_link = LinkRef::new(p.namespace.clone(), link.clone());
            if l.parent.as_ref() != Some(&want_link) {
                Some(ReplaceReason::VlanLink {
                    from: l.parent.clone(),
                    to: want_link,
                })
            } else if l.vlan_id != Some(*vlan_id) {
                Some(ReplaceReason::VlanId {
                    from: l.vlan_id,
                    to: *vlan_id,
                })
            } else {
                None
            }
        }
        // A bridge's ports change in place (`bridge_ports`).
        ParentKind::Existing
        | ParentKind::Veth { .. }
        | ParentKind::Dummy
        | ParentKind::Bridge { .. } => None,
    }
}
