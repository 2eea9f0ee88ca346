//! Ordering conflicts between steps on one parent (a passthru macvlan, a MAC wanted by
//! another macvlan), and the splitting of a replace into a delete and a create that breaks
//! a cycle of them or saves a link from a delete that would take it along.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::macvlans::create_contents;
use super::{Context, Draft, PlanError};
use crate::live::LinkRef;
use crate::model::{Macvlan, Topology};
use crate::names::{LinkName, MacAddr, Mode, NsName};
use crate::object::{Change, Key, Object};
use crate::plan::Step;

/// The file's macvlans on each parent, as indexes into `Topology::macvlans` in file
/// order: all of them, the passthru ones, and those given each MAC. Lets the ordering
/// conflicts of one step cost the conflicts found rather than a scan of the parent.
pub(super) struct OnParent<'a> {
    all: HashMap<&'a LinkName, Vec<usize>>,
    passthru: HashMap<&'a LinkName, Vec<usize>>,
    by_mac: HashMap<(&'a LinkName, MacAddr), Vec<usize>>,
}

impl<'a> OnParent<'a> {
    pub(super) fn new(t: &'a Topology) -> Self {
        let mut index = OnParent {
            all: HashMap::new(),
            passthru: HashMap::new(),
            by_mac: HashMap::new(),
        };
        for (i, m) in t.macvlans.iter().enumerate() {
            index.all.entry(&m.parent).or_default().push(i);
            if m.mode == Mode::Passthru {
                index.passthru.entry(&m.parent).or_default().push(i);
            }
            if let Some(mac) = m.mac {
                index.by_mac.entry((&m.parent, mac)).or_default().push(i);
            }
        }
        index
    }

    fn all(&self, parent: &LinkName) -> &[usize] {
        self.all.get(parent).map_or(&[], Vec::as_slice)
    }

    fn passthru(&self, parent: &LinkName) -> &[usize] {
        self.passthru.get(parent).map_or(&[], Vec::as_slice)
    }

    fn with_mac(&self, parent: &'a LinkName, mac: MacAddr) -> &[usize] {
        self.by_mac.get(&(parent, mac)).map_or(&[], Vec::as_slice)
    }
}

/// A passthru macvlan must be its parent's only one, and two macvlans on one parent
/// cannot share a MAC. A macvlan that is replaced away from a parent must therefore be
/// gone before the others on that parent are made, when one of them is passthru or
/// wants its MAC; and a kept macvlan whose MAC changes must be updated before the one
/// the file gives its old MAC to is made or updated.
///
/// Such constraints can form a cycle (two passthru macvlans trading parents, three
/// rotating them, two macvlans trading MACs). A cycle is broken by splitting one of its
/// macvlans into a delete, which runs with the other deletes before anything is made,
/// and a create.
pub(super) fn order_conflicts(cx: &Context<'_>, mut d: Draft) -> Result<Draft, PlanError> {
    // Each split removes one replace or update, so this ends.
    loop {
        let edges = order_edges(cx, &d);
        match first_cycle(&edges) {
            None => {
                d.extra_edges.extend(edges);
                return Ok(d);
            }
            Some(cycle) => {
                let key = cycle.iter().min().cloned();
                if !key.is_some_and(|k| split(cx, &mut d, &k)) {
                    let keys: Vec<String> = cycle.iter().map(|k| format!("{k:?}")).collect();
                    return Err(PlanError::Internal {
                        what: format!(
                            "an ordering cycle is left after splitting: {}",
                            keys.join(" → ")
                        ),
                    });
                }
            }
        }
    }
}

/// Turn the replace or update of macvlan `key` into a delete of the live link (in the
/// delete phase) and a create of the desired one, with all its addresses and routes.
pub(super) fn split(cx: &Context<'_>, d: &mut Draft, key: &Key) -> bool {
    let (from, to) = match d.steps.get(key) {
        Some(Step::Replace { from, to, .. }) => (from.clone(), to.clone()),
        Some(Step::Update { object, .. }) => {
            let Some(at) = object.link() else {
                return false;
            };
            let Some(from) = cx.link(&at).and_then(Object::from_live) else {
                return false;
            };
            (from, object.clone())
        }
        _ => return false,
    };
    d.deletes.insert(key.clone(), Step::Delete { object: from });
    d.steps.insert(key.clone(), Step::Create { object: to });
    // A macvlan made again gets all its addresses and routes again.
    if let Key::Macvlan { at: here } = key
        && let Some(m) = cx.topology.macvlan(here.namespace.as_ref(), &here.name)
    {
        let here = here.clone();
        create_contents(d, m, &here);
    }
    true
}

/// A link replaced while its old parent is deleted (pruned), or a veth whose old peer
/// sits in a namespace that is deleted, would die with that parent or namespace before
/// its replace runs (deletes come first), and undoing that delete could not bring it
/// back. So it is split: its own delete runs with the other deletes, before the parent's
/// or the namespace's, and it is made again afterwards.
pub(super) fn split_orphaned_replaces(cx: &Context<'_>, mut d: Draft) -> Draft {
    // A split link's delete can orphan what sits on it in turn: until nothing changes.
    while split_orphaned_once(cx, &mut d) {}
    d
}

pub(super) fn split_orphaned_once(cx: &Context<'_>, d: &mut Draft) -> bool {
    let deleted: BTreeSet<LinkRef> = d
        .deletes
        .values()
        .filter_map(|s| match s {
            Step::Delete { object } if object.is_link() => object.link(),
            _ => None,
        })
        .collect();
    let deleted_ns: BTreeSet<&NsName> = d
        .deletes
        .values()
        .filter_map(|s| match s {
            Step::Delete {
                object: Object::Namespace { name },
            } => Some(name),
            _ => None,
        })
        .collect();
    let orphans: Vec<Key> = d
        .steps
        .iter()
        .filter_map(|(key, step)| {
            let Step::Replace { from, .. } = step else {
                return None;
            };
            let orphaned = match from {
                Object::Macvlan(m) => deleted.contains(&m.parent_at()),
                Object::Vlan {
                    namespace, link, ..
                } => deleted.contains(&LinkRef::new(namespace.clone(), link.clone())),
                Object::Veth {
                    peer_namespace: Some(ns),
                    ..
                } => deleted_ns.contains(ns),
                _ => false,
            } || matches!(from.key(), Key::Parent { namespace: Some(ns), .. } if deleted_ns.contains(&ns));
            orphaned.then(|| key.clone())
        })
        .collect();
    let mut any = false;
    for key in orphans {
        any |= split(cx, d, &key);
    }
    any
}

pub(super) fn order_edges(cx: &Context<'_>, d: &Draft) -> Vec<(Key, Key)> {
    let t = cx.topology;
    let index = || cx.on_parent.get_or_init(|| OnParent::new(t));
    let mut edges = Vec::new();
    let mut edge = |key: &Key, x: &Macvlan| {
        edges.push((
            key.clone(),
            Key::Macvlan {
                at: LinkRef::new(x.namespace.clone(), x.name.clone()),
            },
        ));
    };
    for (key, step) in &d.steps {
        let Key::Macvlan { at: y } = key else {
            continue;
        };
        let other = |x: &&Macvlan| x.namespace != y.namespace || x.name != y.name;
        match step {
            // The old MAC is free only once the update has run.
            Step::Update { changes, .. } => {
                let Some(old) = changes.iter().find_map(|c| match c {
                    Change::Mac {
                        from: Some(old), ..
                    } => Some(*old),
                    _ => None,
                }) else {
                    continue;
                };
                let Some(m) = t.macvlan(y.namespace.as_ref(), &y.name) else {
                    continue;
                };
                let found = index().with_mac(&m.parent, old);
                cx.visit(found.len());
                for x in found.iter().map(|&i| &t.macvlans[i]).filter(other) {
                    edge(key, x);
                }
            }
            Step::Replace { from, .. } => {
                let Object::Macvlan(old) = from else {
                    continue;
                };
                // In the file's order: every macvlan on the old parent when the old
                // link was passthru; else the passthru ones and those wanting its MAC.
                let found: Vec<usize> = if old.mode == Mode::Passthru {
                    index().all(&old.parent).to_vec()
                } else {
                    let mut v = index().passthru(&old.parent).to_vec();
                    if let Some(mac) = old.mac {
                        v.extend_from_slice(index().with_mac(&old.parent, mac));
                    }
                    v.sort_unstable();
                    v.dedup();
                    v
                };
                cx.visit(found.len());
                for x in found.iter().map(|&i| &t.macvlans[i]).filter(other) {
                    edge(key, x);
                }
            }
            _ => {}
        }
    }
    edges
}

/// A cycle among ordering edges, if there is one (its nodes), found by depth-first search
/// in key order, so the same edges always give the same cycle.
fn first_cycle(edges: &[(Key, Key)]) -> Option<Vec<Key>> {
    let mut next: BTreeMap<&Key, Vec<&Key>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    for list in next.values_mut() {
        list.sort();
        list.dedup();
    }
    // 0 = unseen, 1 = on the current path, 2 = done.
    let mut state: BTreeMap<&Key, u8> = BTreeMap::new();
    let starts: Vec<&Key> = next.keys().copied().collect();
    for start in starts {
        if state.get(start).copied().unwrap_or(0) != 0 {
            continue;
        }
        // Iterative DFS: (node, index of the next child to visit).
        let mut path: Vec<(&Key, usize)> = vec![(start, 0)];
        state.insert(start, 1);
        while let Some((node, i)) = path.last().copied() {
            let children = next.get(node).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&child) = children.get(i) {
                if let Some(top) = path.last_mut() {
                    top.1 += 1;
                }
                match state.get(child).copied().unwrap_or(0) {
                    0 => {
                        state.insert(child, 1);
                        path.push((child, 0));
                    }
                    1 => {
                        let from = path.iter().position(|(n, _)| *n == child).unwrap_or(0);
                        return Some(path[from..].iter().map(|(n, _)| (*n).clone()).collect());
                    }
                    _ => {}
                }
            } else {
                state.insert(node, 2);
                path.pop();
            }
        }
    }
    None
}
