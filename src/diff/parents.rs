//! Parents: the file's parents against the live links at their names, and what a replaced
//! parent takes along (the vlans on it).

use super::{PlanError, Planner, show};
use crate::live::{LinkKind, LinkRef, LiveLink};
use crate::model::{Parent, ParentKind};
use crate::object::{Change, Key, Object};
use crate::plan::Step;

impl<'a> Planner<'a> {
    pub(super) fn parents(&mut self) {
        let t = self.topology;
        for p in t.parents.values() {
            let key = Key::Parent {
                name: p.name.clone(),
            };
            let desired = Object::from_parent(p);
            let live = self.link(&LinkRef::host(p.name.clone()));
            if let Some(l) = live {
                self.handled.insert(l.at());
            }
            let l = match (live, &p.kind) {
                (None, ParentKind::Existing) => {
                    self.problems.push(PlanError::MissingParent {
                        name: p.name.clone(),
                        span: (&p.span).into(),
                    });
                    continue;
                }
                (None, _) => {
                    self.check_peer_free(p, None);
                    self.steps.insert(key, Step::Create { object: desired });
                    continue;
                }
                (Some(l), ParentKind::Existing) => l,
                (Some(l), _) if !self.owned(l) => {
                    self.foreign(l, Some((&p.span).into()));
                    continue;
                }
                (Some(l), _) => l,
            };
            if l.kind == LinkKind::Veth
                && let Some(peer) = &l.peer
            {
                self.handled.insert(peer.clone());
            }
            if let Some(reason) = parent_replace_reason(p, l) {
                self.check_peer_free(p, Some(l));
                self.replace_parent(p, l, desired, reason);
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
                self.steps.insert(
                    key,
                    Step::Update {
                        object: desired,
                        changes,
                    },
                );
            }
        }
        self.cascade_vlans();
    }

    pub(super) fn replace_parent(
        &mut self,
        p: &Parent,
        l: &LiveLink,
        desired: Object,
        reason: String,
    ) {
        let key = Key::Parent {
            name: p.name.clone(),
        };
        let foreign = self.foreign_casualties(l);
        if !foreign.is_empty() {
            self.problems.push(PlanError::ForeignCasualty {
                at: l.at(),
                casualties: foreign,
                topology: self.owner.to_owned(),
            });
            return;
        }
        match Object::from_live(l) {
            Some(from) => {
                self.replaced_parents.insert(p.name.clone());
                self.steps.insert(
                    key,
                    Step::Replace {
                        from,
                        to: desired,
                        reason,
                    },
                );
            }
            None => self.problems.push(PlanError::Unmanageable {
                at: l.at(),
                kind: l.kind.clone(),
                topology: self.owner.to_owned(),
            }),
        }
    }

    /// Deleting a link deletes the vlans on it, so a vlan parent whose link is replaced is
    /// replaced too (whatever its own step was), down the chain.
    pub(super) fn cascade_vlans(&mut self) {
        let t = self.topology;
        loop {
            let mut grew = false;
            for p in t.parents.values() {
                let ParentKind::Vlan { link, .. } = &p.kind else {
                    continue;
                };
                if !self.replaced_parents.contains(link) || self.replaced_parents.contains(&p.name)
                {
                    continue;
                }
                let key = Key::Parent {
                    name: p.name.clone(),
                };
                if matches!(self.steps.get(&key), Some(Step::Create { .. })) {
                    continue;
                }
                let Some(l) = self.link(&LinkRef::host(p.name.clone())) else {
                    continue;
                };
                if !self.owned(l) {
                    continue;
                }
                self.replace_parent(
                    p,
                    l,
                    Object::from_parent(p),
                    format!("link {link} is replaced"),
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
    pub(super) fn check_peer_free(&mut self, p: &Parent, current: Option<&LiveLink>) {
        let ParentKind::Veth {
            peer,
            peer_namespace,
            peer_namespace_span,
        } = &p.kind
        else {
            return;
        };
        let target = LinkRef::new(peer_namespace.clone(), peer.clone());
        let Some(l) = self.link(&target) else {
            return;
        };
        if current.and_then(|c| c.peer.as_ref()) == Some(&target) || self.owned(l) {
            return;
        }
        let span = if peer_namespace.is_some() {
            peer_namespace_span
        } else {
            &p.span
        };
        self.foreign(l, Some(span.into()));
    }
}

fn parent_replace_reason(p: &Parent, l: &LiveLink) -> Option<String> {
    let want = kind_name(&p.kind);
    match &p.kind {
        ParentKind::Existing => None,
        _ if l.kind.as_str() != want => Some(format!("kind changes from {} to {want}", l.kind)),
        ParentKind::Veth {
            peer,
            peer_namespace,
            ..
        } => {
            let target = LinkRef::new(peer_namespace.clone(), peer.clone());
            (l.peer.as_ref() != Some(&target))
                .then(|| format!("peer changes from {} to {target}", show(l.peer.as_ref())))
        }
        ParentKind::Vlan { link, vlan_id, .. } => {
            let want_link = LinkRef::host(link.clone());
            if l.parent.as_ref() != Some(&want_link) {
                Some(format!(
                    "link changes from {} to {want_link}",
                    show(l.parent.as_ref())
                ))
            } else if l.vlan_id != Some(*vlan_id) {
                Some(format!(
                    "vlan id changes from {} to {vlan_id}",
                    l.vlan_id
                        .map_or_else(|| "unknown".to_owned(), |v| v.to_string())
                ))
            } else {
                None
            }
        }
        ParentKind::Dummy => None,
    }
}

fn kind_name(k: &ParentKind) -> &'static str {
    match k {
        ParentKind::Existing => "device",
        ParentKind::Veth { .. } => "veth",
        ParentKind::Dummy => "dummy",
        ParentKind::Vlan { .. } => "vlan",
    }
}
