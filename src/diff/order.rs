//! The order of a plan: deletes first, dependents before what they sit on; then creates,
//! updates and replaces in the desired graph's order; a parent's MTU lowered last.

use super::{Context, Draft, PlanError};
use crate::graph::{self, DepGraph};
use crate::live::LinkRef;
use crate::object::{Change, Key, Object};
use crate::plan::{Plan, Step};

/// The deletes and their live relations; reversed, the delete order (dependents first).
pub(super) fn delete_graph(cx: &Context<'_>, d: &Draft) -> DepGraph {
    let mut edges = Vec::new();
    for (key, step) in &d.deletes {
        // A parent in a namespace goes before its namespace.
        if let Key::Parent {
            namespace: Some(ns),
            ..
        } = key
        {
            edges.push((Key::Namespace { name: ns.clone() }, key.clone()));
        }
        match step.object() {
            Object::Namespace { .. } => {}
            Object::Macvlan(m) => {
                if let Some(ns) = &m.namespace {
                    edges.push((Key::Namespace { name: ns.clone() }, key.clone()));
                }
                edges.push((Key::parent(m.parent_at()), key.clone()));
            }
            Object::Veth {
                peer_namespace: Some(ns),
                ..
            } => edges.push((Key::Namespace { name: ns.clone() }, key.clone())),
            Object::Vlan {
                namespace, link, ..
            } => {
                let at = LinkRef::new(namespace.clone(), link.clone());
                edges.push((Key::parent(at), key.clone()))
            }
            Object::Address {
                namespace, link, ..
            } => edges.push((
                Key::Macvlan {
                    at: LinkRef::new(namespace.clone(), link.clone()),
                },
                key.clone(),
            )),
            Object::Route {
                namespace,
                link,
                via,
                ..
            } => {
                let here = LinkRef::new(namespace.clone(), link.clone());
                let addresses = cx
                    .link(&here)
                    .map(|l| l.addresses.as_slice())
                    .unwrap_or_default();
                edges.push((
                    graph::route_dependency(&here, addresses, via.as_ref()),
                    key.clone(),
                ));
            }
            // A bridge's ports are released, not deleted, with it.
            Object::Nic { .. }
            | Object::Veth { .. }
            | Object::Dummy { .. }
            | Object::Bridge { .. } => {}
        }
    }
    DepGraph::from_edges(d.deletes.keys().cloned(), edges)
}

pub(super) fn finish(cx: &Context<'_>, mut d: Draft) -> Result<Plan, PlanError> {
    let t = cx.topology;
    let mut steps = Vec::with_capacity(d.deletes.len() + d.steps.len());
    let deletes = delete_graph(cx, &d);
    if deletes.has_cycle() {
        return Err(PlanError::Internal {
            what: "the deletes' dependencies form a cycle".into(),
        });
    }
    for k in deletes.reverse_order() {
        if let Some(s) = d.deletes.remove(&k) {
            steps.push(s);
        }
    }
    // Nothing to create, update or replace (in sync, or a destroy): no order to find.
    if !d.steps.is_empty() {
        let g = graph::build_with(t, std::mem::take(&mut d.extra_edges))?;
        if g.has_cycle() {
            return Err(PlanError::Internal {
                what: "an ordering cycle is left among the creates, updates and replaces".into(),
            });
        }
        for k in g.order() {
            if let Some(s) = d.steps.remove(&k) {
                steps.push(s);
            }
        }
    }
    // Every step has a key in its graph; anything left over is a bug in this module,
    // and carrying it out in some order could break undo's assumptions.
    let left: Vec<String> = d
        .deletes
        .values()
        .chain(d.steps.values())
        .map(|s| format!("{} {:?}", s.action(), s.object().key()))
        .collect();
    if !left.is_empty() {
        return Err(PlanError::Internal {
            what: format!("steps left out of the order: {}", left.join(", ")),
        });
    }
    let steps = lower_mtus_last(steps);
    Ok(Plan {
        topology: t.name.clone(),
        in_sync: steps.is_empty(),
        steps,
        notes: d.notes,
    })
}

/// Lowering a parent's MTU lowers the MTU of every macvlan and vlan on it that is above
/// the new value (the drivers' NETDEV_CHANGEMTU handlers), and raising it back later does
/// not raise them. So a parent's MTU goes down only after everything on it has been made
/// or changed (their MTUs are at most the new one, `check` makes sure), in a step of its
/// own at the end of the plan; and when a failed apply is undone (in reverse), it goes back
/// up first, before anything on it is made again with its old MTU.
pub(super) fn lower_mtus_last(steps: Vec<Step>) -> Vec<Step> {
    let mut out = Vec::with_capacity(steps.len());
    let mut last = Vec::new();
    for step in steps {
        let Step::Update { object, changes } = step else {
            out.push(step);
            continue;
        };
        let parent = matches!(
            object,
            Object::Nic { .. } | Object::Veth { .. } | Object::Dummy { .. } | Object::Vlan { .. }
        );
        let (lower, keep): (Vec<Change>, Vec<Change>) = changes
            .into_iter()
            .partition(|c| parent && matches!(c, Change::Mtu { from, to } if to < from));
        if !keep.is_empty() {
            out.push(Step::Update {
                object: object.clone(),
                changes: keep,
            });
        }
        if !lower.is_empty() {
            last.push(Step::Update {
                object,
                changes: lower,
            });
        }
    }
    out.extend(last);
    out
}
