//! Desired topology against live state: the ordered `Plan` that makes one into the other,
//! and the `destroy` plan that removes everything a topology owns.
//!
//! Ownership decides everything here: a step that deletes, changes or replaces something
//! is only ever made for objects owned by the topology (`LiveLink::owner`), except the MTU
//! and up state of the existing parents the file declares. A foreign object in the way is
//! a `PlanError`, found before anything is changed.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use miette::SourceSpan;

use crate::graph::{self, CycleError, DepGraph};
use crate::live::{LinkKind, LinkRef, LiveLink, LiveState};
use crate::model::{Macvlan, Parent, ParentKind, Topology};
use crate::names::{LinkName, MacAddr, Mode, NsName};
use crate::plan::{Change, Key, MacvlanLink, Object, Plan, Step};

/// Why no plan can be made. Nothing has been changed when one of these is returned.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error(
        "interface {at} exists and is not owned by topology {topology} (owner: {})",
        owner.as_deref().unwrap_or("none")
    )]
    #[diagnostic(
        code(mvtopo::plan::foreign_object),
        help(
            "mvtopo never changes an interface it did not create: choose another name in the file, or remove {at} yourself if it is a leftover"
        )
    )]
    Foreign {
        at: LinkRef,
        topology: String,
        owner: Option<String>,
        #[label("wanted here")]
        span: Option<SourceSpan>,
    },

    #[error("existing parent {name} does not exist in the namespace mvtopo runs in")]
    #[diagnostic(
        code(mvtopo::plan::missing_parent),
        help(
            "create {name} first, or add `create = \"veth\"` to [parent.{name}] to make it a lab parent that mvtopo creates"
        )
    )]
    MissingParent {
        name: LinkName,
        #[label("declared here")]
        span: SourceSpan,
    },

    #[error(
        "interface {at} is a {kind} link owned by topology {topology}, which mvtopo cannot replace"
    )]
    #[diagnostic(
        code(mvtopo::plan::unmanageable),
        help("remove {at} yourself, then plan again")
    )]
    Unmanageable {
        at: LinkRef,
        kind: LinkKind,
        topology: String,
    },

    #[error(
        "replacing {at} would delete {}, which topology {topology} does not own",
        casualties.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    #[diagnostic(
        code(mvtopo::plan::foreign_casualty),
        help(
            "the kernel deletes every link that sits on a deleted link; move or remove those interfaces first, or keep {at} as it is in the file"
        )
    )]
    ForeignCasualty {
        at: LinkRef,
        casualties: Vec<LinkRef>,
        topology: String,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Cycle(#[from] CycleError),

    #[error("{} problems stop the plan for topology {topology}", problems.len())]
    #[diagnostic(
        code(mvtopo::plan::blocked),
        help("nothing was changed; fix every problem listed, then plan again")
    )]
    Blocked {
        topology: String,
        #[related]
        problems: Vec<PlanError>,
    },

    /// The planner met a state it believed impossible: it stops instead of carrying on in
    /// some order.
    #[error("internal error in the planner: {what}")]
    #[diagnostic(
        code(mvtopo::plan::internal),
        help(
            "nothing was changed; this is a bug in mvtopo: please report it with the topology file and the output of `mvtopo show --format json`"
        )
    )]
    Internal { what: String },
}

/// The plan that turns `live` into what `t` describes.
pub fn diff(t: &Topology, live: &LiveState) -> Result<Plan, PlanError> {
    graph::check_vlan_cycles(t)?;
    let live = normalized(live);
    let mut p = Planner::new(t, &live);
    p.run()?;
    let mut problems = std::mem::take(&mut p.problems);
    match problems.len() {
        0 => p.finish(t),
        1 => Err(problems.remove(0)),
        _ => Err(PlanError::Blocked {
            topology: t.name.clone(),
            problems,
        }),
    }
}

/// Delete everything `topology` owns in `live`, dependents first. Namespaces that hold
/// interfaces the topology does not own are kept (with a note); existing NICs are never
/// touched.
pub fn destroy(topology: &str, live: &LiveState) -> Result<Plan, PlanError> {
    let empty = Topology {
        name: topology.to_owned(),
        namespaces: BTreeMap::new(),
        parents: BTreeMap::new(),
        macvlans: Vec::new(),
    };
    let live = normalized(live);
    let mut p = Planner::new(&empty, &live);
    p.run()?;
    // An empty topology asks for nothing, so nothing can be in its way and it has no
    // cycle: a plan error here is a planner bug, and is reported as one.
    p.finish(&empty).map_err(|e| match e {
        e @ PlanError::Internal { .. } => e,
        other => PlanError::Internal {
            what: format!("the destroy plan failed: {other}"),
        },
    })
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
        wanted.insert(host(&p.name));
        if let ParentKind::Veth {
            peer,
            peer_namespace,
            ..
        } = &p.kind
        {
            wanted.insert(LinkRef {
                namespace: peer_namespace.clone(),
                name: peer.clone(),
            });
        }
    }
    for m in &t.macvlans {
        wanted.insert(at(&m.namespace, &m.name));
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
    };
    out.normalize();
    out
}

/// The lookups rely on the canonical order; a state read from a hand-written JSON file
/// may not be in it.
fn normalized(live: &LiveState) -> Cow<'_, LiveState> {
    let sorted = live.namespaces.is_sorted_by(|a, b| a.name < b.name)
        && live
            .links
            .is_sorted_by(|a, b| (&a.namespace, &a.name) < (&b.namespace, &b.name))
        && live.links.iter().all(|l| {
            l.addresses.is_sorted_by(|a, b| a < b)
                && l.routes.is_sorted_by(|a, b| a < b)
                && l.source_macs.is_sorted_by(|a, b| a < b)
        });
    if sorted {
        Cow::Borrowed(live)
    } else {
        let mut l = live.clone();
        l.normalize();
        Cow::Owned(l)
    }
}

/// The plan object a live link is, if mvtopo can describe (and so delete and recreate) it.
pub fn live_object(l: &LiveLink) -> Option<Object> {
    let mtu = Some(l.mtu);
    if l.kind == LinkKind::Macvlan {
        return Some(Object::Macvlan(MacvlanLink {
            namespace: l.namespace.clone(),
            name: l.name.clone(),
            // An unresolved parent is only possible for a link mvtopo did not make; the
            // name is a placeholder so the link can still be deleted.
            parent: l
                .parent
                .as_ref()
                .map_or_else(|| l.name.clone(), |p| p.name.clone()),
            mode: l.mode.unwrap_or_default(),
            mac: l.mac,
            mtu,
            up: l.up,
            source_macs: l.source_macs.clone(),
        }));
    }
    // Parents always live in the tool's own namespace; plan objects cannot name a veth,
    // dummy or vlan anywhere else.
    if l.namespace.is_some() {
        return None;
    }
    let name = l.name.clone();
    Some(match l.kind {
        LinkKind::Device => Object::Nic {
            name,
            mtu,
            up: l.up,
        },
        LinkKind::Veth => Object::Veth {
            peer: l
                .peer
                .as_ref()
                .map_or_else(|| l.name.clone(), |p| p.name.clone()),
            peer_namespace: l.peer.as_ref().and_then(|p| p.namespace.clone()),
            name,
            mtu,
            mac: l.mac,
            peer_mac: None,
        },
        LinkKind::Dummy => Object::Dummy {
            name,
            mtu,
            mac: l.mac,
        },
        LinkKind::Vlan => Object::Vlan {
            link: l
                .parent
                .as_ref()
                .map_or_else(|| l.name.clone(), |p| p.name.clone()),
            vlan_id: l.vlan_id.unwrap_or_default(),
            name,
            mtu,
            mac: l.mac,
        },
        LinkKind::Macvlan | LinkKind::Other(_) => return None,
    })
}

/// The plan object for a parent as the file describes it.
fn parent_object(p: &Parent) -> Object {
    let name = p.name.clone();
    let mtu = p.mtu;
    match &p.kind {
        ParentKind::Existing => Object::Nic {
            name,
            mtu,
            up: true,
        },
        ParentKind::Veth {
            peer,
            peer_namespace,
            ..
        } => Object::Veth {
            name,
            peer: peer.clone(),
            peer_namespace: peer_namespace.clone(),
            mtu,
            mac: None,
            peer_mac: None,
        },
        ParentKind::Dummy => Object::Dummy {
            name,
            mtu,
            mac: None,
        },
        ParentKind::Vlan { link, vlan_id, .. } => Object::Vlan {
            name,
            link: link.clone(),
            vlan_id: *vlan_id,
            mtu,
            mac: None,
        },
    }
}

fn macvlan_object(m: &Macvlan) -> MacvlanLink {
    MacvlanLink {
        namespace: m.namespace.clone(),
        name: m.name.clone(),
        parent: m.parent.clone(),
        mode: m.mode,
        mac: m.mac,
        mtu: m.mtu,
        up: m.up,
        source_macs: m.source_macs.clone(),
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

fn at(namespace: &Option<NsName>, name: &LinkName) -> LinkRef {
    LinkRef {
        namespace: namespace.clone(),
        name: name.clone(),
    }
}

fn host(name: &LinkName) -> LinkRef {
    at(&None, name)
}

fn show(r: Option<&LinkRef>) -> String {
    r.map_or_else(|| "unknown".to_owned(), LinkRef::to_string)
}

struct Planner<'a> {
    topology: &'a Topology,
    live: &'a LiveState,
    owner: &'a str,
    /// Deletes of live objects, by the live object's key.
    deletes: BTreeMap<Key, Step>,
    /// Creates, updates and replaces, by the desired object's key.
    steps: BTreeMap<Key, Step>,
    notes: Vec<String>,
    problems: Vec<PlanError>,
    /// Live links some desired object accounts for: they are not pruned.
    handled: BTreeSet<LinkRef>,
    /// Lab parents whose link is deleted and made again: whatever sits on them goes too.
    replaced_parents: BTreeSet<LinkName>,
    /// Ordering constraints beyond the topology's own dependencies.
    extra_edges: Vec<(Key, Key)>,
    /// The MACs the file gives explicitly, and to which macvlans.
    wanted_macs: HashMap<MacAddr, Vec<&'a Macvlan>>,
    /// Live links by the link they sit on (IFLA_LINK), each list in `live.links` order;
    /// built on the first casualty search, so that each search costs what it finds rather
    /// than a scan of every live link (a churn of N owned links was N such scans).
    children: OnceCell<HashMap<&'a LinkRef, Vec<&'a LiveLink>>>,
    /// Links and candidates looked at by the searches that once grew quadratically
    /// (casualties, ordering conflicts): the tests hold it linear in the input.
    visits: Cell<u64>,
    /// The file's macvlans by parent, for the ordering conflicts; built once.
    on_parent: OnceCell<OnParent<'a>>,
}

/// The file's macvlans on each parent, as indexes into `Topology::macvlans` in file
/// order: all of them, the passthru ones, and those given each MAC. Lets the ordering
/// conflicts of one step cost the conflicts found rather than a scan of the parent.
struct OnParent<'a> {
    all: HashMap<&'a LinkName, Vec<usize>>,
    passthru: HashMap<&'a LinkName, Vec<usize>>,
    by_mac: HashMap<(&'a LinkName, MacAddr), Vec<usize>>,
}

impl<'a> OnParent<'a> {
    fn new(t: &'a Topology) -> Self {
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

impl<'a> Planner<'a> {
    fn new(topology: &'a Topology, live: &'a LiveState) -> Self {
        Planner {
            topology,
            live,
            owner: &topology.name,
            deletes: BTreeMap::new(),
            steps: BTreeMap::new(),
            notes: Vec::new(),
            problems: Vec::new(),
            handled: BTreeSet::new(),
            replaced_parents: BTreeSet::new(),
            extra_edges: Vec::new(),
            wanted_macs: topology.macvlans.iter().fold(HashMap::new(), |mut map, m| {
                if let Some(mac) = m.mac {
                    map.entry(mac).or_insert_with(Vec::new).push(m);
                }
                map
            }),
            children: OnceCell::new(),
            visits: Cell::new(0),
            on_parent: OnceCell::new(),
        }
    }

    fn visit(&self, n: usize) {
        self.visits.set(self.visits.get() + n as u64);
    }

    fn children_of(&self, at: &LinkRef) -> &[&'a LiveLink] {
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

    fn link(&self, r: &LinkRef) -> Option<&'a LiveLink> {
        self.live.link(r.namespace.as_ref(), &r.name)
    }

    /// Owned by this topology. The far end of an owned veth counts as owned even when only
    /// one end carries the alias: it is created and destroyed with it.
    fn owned(&self, l: &LiveLink) -> bool {
        l.owned_by(self.owner)
            || (l.kind == LinkKind::Veth
                && l.peer
                    .as_ref()
                    .and_then(|p| self.link(p))
                    .is_some_and(|p| p.owned_by(self.owner) && p.peer.as_ref() == Some(&l.at())))
    }

    fn foreign(&mut self, l: &LiveLink, span: Option<SourceSpan>) {
        self.problems.push(PlanError::Foreign {
            at: l.at(),
            topology: self.owner.to_owned(),
            owner: l.owner.clone(),
            span,
        });
    }

    fn run(&mut self) -> Result<(), PlanError> {
        self.namespaces();
        self.parents();
        self.macvlans();
        self.prune_links();
        self.prune_namespaces();
        self.split_orphaned_replaces();
        self.passthru_order()?;
        self.keep_moved_macs();
        Ok(())
    }

    /// A macvlan that moves to another namespace is deleted and made again there (a move
    /// costs an RCU grace period, a create into the namespace does not). When the file
    /// gives it no MAC, the new one gets the old one's: "the kernel picks one and it is
    /// kept", as across an `ip link set netns`. A move is a delete of an owned macvlan and a
    /// create of one with the same name on the same parent in another namespace; only an
    /// unambiguous pair counts, and never a MAC the file gives to another macvlan.
    fn keep_moved_macs(&mut self) {
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

    fn namespaces(&mut self) {
        for name in self.topology.namespaces.keys() {
            if self.live.namespace(name).is_none() {
                self.steps.insert(
                    Key::Namespace { name: name.clone() },
                    Step::Create {
                        object: Object::Namespace { name: name.clone() },
                    },
                );
            }
        }
    }

    fn parents(&mut self) {
        let t = self.topology;
        for p in t.parents.values() {
            let key = Key::Parent {
                name: p.name.clone(),
            };
            let desired = parent_object(p);
            let live = self.link(&host(&p.name));
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

    fn replace_parent(&mut self, p: &Parent, l: &LiveLink, desired: Object, reason: String) {
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
        match live_object(l) {
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
    fn cascade_vlans(&mut self) {
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
                let Some(l) = self.link(&host(&p.name)) else {
                    continue;
                };
                if !self.owned(l) {
                    continue;
                }
                self.replace_parent(p, l, parent_object(p), format!("link {link} is replaced"));
                grew = true;
            }
            if !grew {
                break;
            }
        }
    }

    /// A veth's far end is created too: a foreign interface already at that place is in
    /// the way. (The current far end of the same veth is not: it goes with its pair.)
    fn check_peer_free(&mut self, p: &Parent, current: Option<&LiveLink>) {
        let ParentKind::Veth {
            peer,
            peer_namespace,
            peer_namespace_span,
        } = &p.kind
        else {
            return;
        };
        let target = at(peer_namespace, peer);
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

    fn macvlans(&mut self) {
        let t = self.topology;
        for m in &t.macvlans {
            let here = at(&m.namespace, &m.name);
            let key = Key::Macvlan { at: here.clone() };
            let desired = macvlan_object(m);
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
                let Some(from) = live_object(l) else {
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

    fn macvlan_replace_reason(&self, m: &Macvlan, l: &LiveLink) -> Option<String> {
        if l.kind != LinkKind::Macvlan {
            return Some(format!("kind changes from {} to macvlan", l.kind));
        }
        let want = host(&m.parent);
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
                at(&other.namespace, &other.name)
            ));
        }
        None
    }

    fn create_contents(&mut self, m: &Macvlan, here: &LinkRef) {
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
                    metric: r.metric,
                },
                Step::Create {
                    object: r.object(&m.namespace, &m.name),
                },
            );
        }
    }

    /// Addresses and routes of a macvlan kept in place: set difference both ways.
    fn sync_contents(&mut self, m: &Macvlan, l: &LiveLink, here: &LinkRef) {
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
                        metric: r.metric,
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
                        metric: r.metric,
                    },
                    Step::Delete {
                        object: r.object(&m.namespace, &m.name),
                    },
                );
            }
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
    fn passthru_order(&mut self) -> Result<(), PlanError> {
        // Each split removes one replace or update, so this ends.
        loop {
            let edges = self.order_edges();
            match first_cycle(&edges) {
                None => {
                    self.extra_edges.extend(edges);
                    return Ok(());
                }
                Some(cycle) => {
                    let key = cycle.iter().min().cloned();
                    if !key.is_some_and(|k| self.split(&k)) {
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
    fn split(&mut self, key: &Key) -> bool {
        let (from, to) = match self.steps.get(key) {
            Some(Step::Replace { from, to, .. }) => (from.clone(), to.clone()),
            Some(Step::Update { object, .. }) => {
                let Some(at) = object.link() else {
                    return false;
                };
                let Some(from) = self.link(&at).and_then(live_object) else {
                    return false;
                };
                (from, object.clone())
            }
            _ => return false,
        };
        self.deletes
            .insert(key.clone(), Step::Delete { object: from });
        self.steps.insert(key.clone(), Step::Create { object: to });
        // A macvlan made again gets all its addresses and routes again.
        if let Key::Macvlan { at: here } = key
            && let Some(m) = self.topology.macvlan(here.namespace.as_ref(), &here.name)
        {
            let here = here.clone();
            self.create_contents(m, &here);
        }
        true
    }

    /// A link replaced while its old parent is deleted (pruned), or a veth whose old peer
    /// sits in a namespace that is deleted, would die with that parent or namespace before
    /// its replace runs (deletes come first), and undoing that delete could not bring it
    /// back. So it is split: its own delete runs with the other deletes, before the parent's
    /// or the namespace's, and it is made again afterwards.
    fn split_orphaned_replaces(&mut self) {
        // A split link's delete can orphan what sits on it in turn: until nothing changes.
        while self.split_orphaned_once() {}
    }

    fn split_orphaned_once(&mut self) -> bool {
        let deleted: BTreeSet<LinkRef> = self
            .deletes
            .values()
            .filter_map(|s| match s {
                Step::Delete { object } if object.is_link() => object.link(),
                _ => None,
            })
            .collect();
        let deleted_ns: BTreeSet<&NsName> = self
            .deletes
            .values()
            .filter_map(|s| match s {
                Step::Delete {
                    object: Object::Namespace { name },
                } => Some(name),
                _ => None,
            })
            .collect();
        let orphans: Vec<Key> = self
            .steps
            .iter()
            .filter_map(|(key, step)| {
                let Step::Replace { from, .. } = step else {
                    return None;
                };
                let orphaned = match from {
                    Object::Macvlan(m) => deleted.contains(&host(&m.parent)),
                    Object::Vlan { link, .. } => deleted.contains(&host(link)),
                    Object::Veth {
                        peer_namespace: Some(ns),
                        ..
                    } => deleted_ns.contains(ns),
                    _ => false,
                };
                orphaned.then(|| key.clone())
            })
            .collect();
        let mut any = false;
        for key in orphans {
            any |= self.split(&key);
        }
        any
    }

    fn order_edges(&self) -> Vec<(Key, Key)> {
        let t = self.topology;
        let index = || self.on_parent.get_or_init(|| OnParent::new(t));
        let mut edges = Vec::new();
        let mut edge = |key: &Key, x: &Macvlan| {
            edges.push((
                key.clone(),
                Key::Macvlan {
                    at: at(&x.namespace, &x.name),
                },
            ));
        };
        for (key, step) in &self.steps {
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
                    self.visit(found.len());
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
                    self.visit(found.len());
                    for x in found.iter().map(|&i| &t.macvlans[i]).filter(other) {
                        edge(key, x);
                    }
                }
                _ => {}
            }
        }
        edges
    }

    /// Owned links that nothing in the file accounts for are deleted.
    fn prune_links(&mut self) {
        let live = self.live;
        for l in &live.links {
            if self.handled.contains(&l.at()) || !self.owned(l) {
                continue;
            }
            // Deleting either end of a veth deletes both: one step, for the end in the
            // tool's own namespace (links are sorted, so it comes first).
            if l.kind == LinkKind::Veth
                && let Some(peer) = &l.peer
            {
                self.handled.insert(peer.clone());
            }
            let foreign = self.foreign_casualties(l);
            if !foreign.is_empty() {
                self.notes.push(format!(
                    "{} {} is kept: deleting it would delete {}, which topology {} does not own",
                    l.kind,
                    l.at(),
                    foreign
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.owner
                ));
                continue;
            }
            match live_object(l) {
                Some(Object::Nic { .. }) | None => self.notes.push(format!(
                    "interface {} ({}) is owned by topology {} but mvtopo cannot delete it; it is left in place",
                    l.at(),
                    l.kind,
                    self.owner
                )),
                Some(object) => {
                    self.deletes.insert(object.key(), Step::Delete { object });
                }
            }
        }
    }

    /// The links not owned by this topology that the kernel would delete along with `l`:
    /// the other end of a veth, and whatever sits on any of those (macvlans, vlans),
    /// transitively.
    fn foreign_casualties(&self, l: &LiveLink) -> Vec<LinkRef> {
        self.casualties(vec![l.at()])
    }

    /// The links not owned by this topology that die when the links `start` are deleted:
    /// the other end of each veth, and whatever sits on any of those, transitively.
    fn casualties(&self, start: Vec<LinkRef>) -> Vec<LinkRef> {
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

    fn prune_namespaces(&mut self) {
        let live = self.live;
        for ns in &live.namespaces {
            if !ns.owned_by(self.owner) || self.topology.namespaces.contains_key(&ns.name) {
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
            let foreign: Vec<String> = self
                .casualties(inside)
                .iter()
                .map(ToString::to_string)
                .collect();
            if foreign.is_empty() {
                self.deletes.insert(
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
                self.notes.push(format!(
                    "namespace {} is kept: deleting it would delete {noun} {}, which topology {} does not own",
                    ns.name,
                    foreign.join(", "),
                    self.owner
                ));
            }
        }
    }

    /// The deletes and their live relations; reversed, the delete order (dependents first).
    fn delete_graph(&self) -> DepGraph {
        let mut edges = Vec::new();
        for (key, step) in &self.deletes {
            match step.object() {
                Object::Namespace { .. } => {}
                Object::Macvlan(m) => {
                    if let Some(ns) = &m.namespace {
                        edges.push((Key::Namespace { name: ns.clone() }, key.clone()));
                    }
                    edges.push((
                        Key::Parent {
                            name: m.parent.clone(),
                        },
                        key.clone(),
                    ));
                }
                Object::Veth {
                    peer_namespace: Some(ns),
                    ..
                } => edges.push((Key::Namespace { name: ns.clone() }, key.clone())),
                Object::Vlan { link, .. } => {
                    edges.push((Key::Parent { name: link.clone() }, key.clone()))
                }
                Object::Address {
                    namespace, link, ..
                } => edges.push((
                    Key::Macvlan {
                        at: at(namespace, link),
                    },
                    key.clone(),
                )),
                Object::Route {
                    namespace,
                    link,
                    via,
                    ..
                } => {
                    let here = at(namespace, link);
                    let addresses = self
                        .link(&here)
                        .map(|l| l.addresses.as_slice())
                        .unwrap_or_default();
                    edges.push((
                        graph::route_dependency(&here, addresses, via.as_ref()),
                        key.clone(),
                    ));
                }
                Object::Nic { .. } | Object::Veth { .. } | Object::Dummy { .. } => {}
            }
        }
        DepGraph::from_edges(self.deletes.keys().cloned(), edges)
    }

    fn finish(mut self, t: &Topology) -> Result<Plan, PlanError> {
        let mut steps = Vec::with_capacity(self.deletes.len() + self.steps.len());
        let deletes = self.delete_graph();
        if deletes.has_cycle() {
            return Err(PlanError::Internal {
                what: "the deletes' dependencies form a cycle".into(),
            });
        }
        for k in deletes.reverse_order() {
            if let Some(s) = self.deletes.remove(&k) {
                steps.push(s);
            }
        }
        // Nothing to create, update or replace (in sync, or a destroy): no order to find.
        if !self.steps.is_empty() {
            let g = graph::build_with(t, std::mem::take(&mut self.extra_edges))?;
            if g.has_cycle() {
                return Err(PlanError::Internal {
                    what: "an ordering cycle is left among the creates, updates and replaces"
                        .into(),
                });
            }
            for k in g.order() {
                if let Some(s) = self.steps.remove(&k) {
                    steps.push(s);
                }
            }
        }
        // Every step has a key in its graph; anything left over is a bug in this module,
        // and carrying it out in some order could break undo's assumptions.
        let left: Vec<String> = self
            .deletes
            .values()
            .chain(self.steps.values())
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
            notes: self.notes,
        })
    }
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

/// Lowering a parent's MTU lowers the MTU of every macvlan and vlan on it that is above
/// the new value (the drivers' NETDEV_CHANGEMTU handlers), and raising it back later does
/// not raise them. So a parent's MTU goes down only after everything on it has been made
/// or changed (their MTUs are at most the new one, `check` makes sure), in a step of its
/// own at the end of the plan; and when a failed apply is undone (in reverse), it goes back
/// up first, before anything on it is made again with its old MTU.
fn lower_mtus_last(steps: Vec<Step>) -> Vec<Step> {
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
            let target = at(peer_namespace, peer);
            (l.peer.as_ref() != Some(&target))
                .then(|| format!("peer changes from {} to {target}", show(l.peer.as_ref())))
        }
        ParentKind::Vlan { link, vlan_id, .. } => {
            let want_link = host(link);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::fake::FakeBackend;
    use crate::live::LiveNamespace;
    use crate::model::{Namespace, Route, Span};
    use crate::names::{Cidr, MacAddr};

    fn ln(s: &str) -> LinkName {
        LinkName::new(s).unwrap()
    }
    fn ns(s: &str) -> NsName {
        NsName::new(s).unwrap()
    }
    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }
    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    fn mv(namespace: Option<&str>, name: &str, parent: &str) -> Macvlan {
        Macvlan {
            name: ln(name),
            parent: ln(parent),
            namespace: namespace.map(ns),
            mode: Mode::Bridge,
            mac: None,
            mtu: None,
            up: true,
            addresses: vec![],
            routes: vec![],
            source_macs: vec![],
            span: Span::default(),
        }
    }

    fn topo(
        namespaces: &[&str],
        parents: Vec<(&str, ParentKind)>,
        mut macvlans: Vec<Macvlan>,
    ) -> Topology {
        macvlans.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Topology {
            name: "lab".into(),
            namespaces: namespaces
                .iter()
                .map(|n| {
                    (
                        ns(n),
                        Namespace {
                            name: ns(n),
                            span: Span::default(),
                        },
                    )
                })
                .collect(),
            parents: parents
                .into_iter()
                .map(|(n, kind)| {
                    (
                        ln(n),
                        Parent {
                            name: ln(n),
                            kind,
                            mtu: None,
                            span: Span::default(),
                        },
                    )
                })
                .collect(),
            macvlans,
        }
    }

    fn veth(peer: &str, peer_ns: Option<&str>) -> ParentKind {
        ParentKind::Veth {
            peer: ln(peer),
            peer_namespace: peer_ns.map(ns),
            peer_namespace_span: Span::default(),
        }
    }

    /// A host with one NIC, eth1, that nobody owns.
    fn host_state() -> LiveState {
        serde_json::from_str(
            r#"{"links":[{"name":"eth1","kind":"device","mtu":1500,"up":true,"mac":"52:54:00:00:00:01"}]}"#,
        )
        .unwrap()
    }

    fn lab() -> Topology {
        let mut red = mv(Some("red"), "eth0", "lab0");
        red.addresses = vec![cidr("10.0.0.2/24")];
        red.routes = vec![Route {
            to: cidr("0.0.0.0/0"),
            via: Some("10.0.0.1".parse().unwrap()),
            metric: None,
        }];
        let mut blue = mv(Some("blue"), "eth0", "eth1");
        blue.mode = Mode::Source;
        blue.source_macs = vec![mac("02:00:00:00:00:bb"), mac("02:00:00:00:00:aa")];
        blue.source_macs.sort();
        topo(
            &["blue", "red"],
            vec![
                ("eth1", ParentKind::Existing),
                ("lab0", veth("lab0p", None)),
            ],
            vec![red, blue],
        )
    }

    /// Apply `t` to `state` with the fake; returns the fake.
    fn applied(t: &Topology, state: LiveState) -> FakeBackend {
        let plan = diff(t, &state).unwrap();
        let mut fake = FakeBackend::new(state);
        fake.apply_all(&plan.steps, &t.name).unwrap();
        fake
    }

    fn summary(p: &Plan) -> Vec<String> {
        p.steps
            .iter()
            .map(|s| {
                let k = s.object().key();
                let what = match &k {
                    Key::Namespace { name } => format!("namespace {name}"),
                    Key::Parent { name } => format!("parent {name}"),
                    Key::Macvlan { at } => format!("macvlan {at}"),
                    Key::Address { at, address } => format!("address {at} {address}"),
                    Key::Route { at, to, metric } => match metric {
                        Some(m) => format!("route {at} {to} metric {m}"),
                        None => format!("route {at} {to}"),
                    },
                };
                format!("{} {what}", s.action())
            })
            .collect()
    }

    #[test]
    fn empty_live_state_creates_everything_in_dependency_order() {
        let p = diff(&lab(), &host_state()).unwrap();
        assert_eq!(
            summary(&p),
            [
                "create namespace blue",
                "create namespace red",
                "create parent lab0",
                "create macvlan blue/eth0",
                "create macvlan red/eth0",
                "create address red/eth0 10.0.0.2/24",
                "create route red/eth0 0.0.0.0/0",
            ]
        );
        assert!(!p.in_sync);
    }

    #[test]
    fn applied_topology_diffs_to_nothing_and_plans_are_repeatable() {
        let t = lab();
        let a = diff(&t, &host_state()).unwrap();
        assert_eq!(a, diff(&t, &host_state()).unwrap());
        let fake = applied(&t, host_state());
        let p = diff(&t, &fake.state).unwrap();
        assert!(p.in_sync, "{p:#?}");
        assert!(p.steps.is_empty());
    }

    #[test]
    fn drift_is_one_update_with_every_change() {
        let t = lab();
        let mut fake = applied(&t, host_state());
        let red = fake
            .state
            .links
            .iter_mut()
            .find(|l| l.name.as_str() == "eth0" && l.namespace == Some(ns("red")))
            .unwrap();
        red.up = false;
        red.mode = Some(Mode::Vepa);
        red.addresses.push(cidr("10.0.0.3/24"));
        red.routes.clear();
        let live_mac = red.mac;
        let mut t2 = t.clone();
        let m = t2
            .macvlans
            .iter_mut()
            .find(|m| m.namespace == Some(ns("red")))
            .unwrap();
        m.mtu = Some(1400);
        m.mac = Some(mac("02:00:00:00:00:01"));
        let p = diff(&t2, &fake.state).unwrap();
        assert_eq!(
            summary(&p),
            [
                "delete address red/eth0 10.0.0.3/24",
                "update macvlan red/eth0",
                "create route red/eth0 0.0.0.0/0",
            ]
        );
        let Step::Update { changes, .. } = &p.steps[1] else {
            panic!("not an update: {:?}", p.steps[1]);
        };
        assert_eq!(
            changes,
            &[
                Change::Mode {
                    from: Mode::Vepa,
                    to: Mode::Bridge
                },
                Change::Mac {
                    from: live_mac,
                    to: mac("02:00:00:00:00:01")
                },
                Change::Mtu {
                    from: 1500,
                    to: 1400
                },
                Change::Up {
                    from: false,
                    to: true
                },
            ]
        );
        fake.apply_all(&p.steps, "lab").unwrap();
        assert!(diff(&t2, &fake.state).unwrap().in_sync);
    }

    #[test]
    fn parent_change_replaces_and_keeps_the_kernel_mac() {
        let t = lab();
        let fake = applied(&t, host_state());
        let old_mac = fake.state.link(Some(&ns("red")), &ln("eth0")).unwrap().mac;
        let mut t2 = t.clone();
        t2.macvlans
            .iter_mut()
            .find(|m| m.namespace == Some(ns("red")))
            .unwrap()
            .parent = ln("eth1");
        let p = diff(&t2, &fake.state).unwrap();
        assert_eq!(
            summary(&p),
            [
                "replace macvlan red/eth0",
                "create address red/eth0 10.0.0.2/24",
                "create route red/eth0 0.0.0.0/0",
            ]
        );
        let Step::Replace { to, reason, .. } = &p.steps[0] else {
            panic!()
        };
        assert_eq!(reason, "parent changes from lab0 to eth1");
        let Object::Macvlan(to) = to else { panic!() };
        assert_eq!(to.mac, old_mac);
    }

    #[test]
    fn passthru_in_or_out_is_a_replace_without_the_old_mac() {
        let t = lab();
        let fake = applied(&t, host_state());
        let mut t2 = t.clone();
        let m = t2
            .macvlans
            .iter_mut()
            .find(|m| m.namespace == Some(ns("red")))
            .unwrap();
        m.mode = Mode::Passthru;
        let p = diff(&t2, &fake.state).unwrap();
        let Step::Replace { to, reason, .. } = &p.steps[0] else {
            panic!("{p:#?}")
        };
        assert_eq!(reason, "mode changes from bridge to passthru");
        let Object::Macvlan(to) = to else { panic!() };
        assert_eq!(to.mac, None);
    }

    #[test]
    fn namespace_move_is_delete_then_create() {
        let t = lab();
        let mut fake = applied(&t, host_state());
        let mut t2 = t.clone();
        for m in &mut t2.macvlans {
            if m.namespace == Some(ns("red")) {
                m.namespace = Some(ns("blue"));
                m.name = ln("eth1");
            }
        }
        t2.macvlans
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        t2.namespaces.remove(&ns("red"));
        let p = diff(&t2, &fake.state).unwrap();
        assert_eq!(
            summary(&p),
            [
                "delete macvlan red/eth0",
                "delete namespace red",
                "create macvlan blue/eth1",
                "create address blue/eth1 10.0.0.2/24",
                "create route blue/eth1 0.0.0.0/0",
            ]
        );
        fake.apply_all(&p.steps, "lab").unwrap();
        assert!(diff(&t2, &fake.state).unwrap().in_sync);
    }

    #[test]
    fn foreign_objects_in_the_way_are_all_named() {
        let mut live = host_state();
        live.namespaces.push(LiveNamespace {
            name: ns("red"),
            owner: None,
        });
        let mut l = live.links[0].clone();
        l.namespace = Some(ns("red"));
        l.name = ln("eth0");
        l.kind = LinkKind::Macvlan;
        live.links.push(l.clone());
        l.namespace = None;
        l.name = ln("lab0");
        l.owner = Some("other".into());
        live.links.push(l);
        let err = diff(&lab(), &live).unwrap_err();
        let PlanError::Blocked { problems, .. } = &err else {
            panic!("{err:?}")
        };
        let msgs: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "interface lab0 exists and is not owned by topology lab (owner: other)",
                "interface red/eth0 exists and is not owned by topology lab (owner: none)",
            ]
        );
        assert_eq!(err.to_string(), "2 problems stop the plan for topology lab");
    }

    #[test]
    fn missing_existing_parent_is_an_error() {
        let err = diff(&lab(), &LiveState::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "existing parent eth1 does not exist in the namespace mvtopo runs in"
        );
        let d: &dyn miette::Diagnostic = &err;
        assert!(d.help().unwrap().to_string().contains("create = \"veth\""));
    }

    #[test]
    fn pruning_keeps_namespaces_with_foreign_links() {
        let t = lab();
        let mut fake = applied(&t, host_state());
        // Someone else puts an interface into our namespace red.
        let mut intruder = fake.state.links[0].clone();
        intruder.namespace = Some(ns("red"));
        intruder.name = ln("eth9");
        fake.state.links.push(intruder);
        fake.state.normalize();
        let empty = topo(&[], vec![], vec![]);
        let p = diff(&empty, &fake.state).unwrap();
        assert_eq!(
            summary(&p),
            [
                "delete macvlan blue/eth0",
                "delete macvlan red/eth0",
                "delete parent lab0",
                "delete namespace blue",
            ]
        );
        assert_eq!(
            p.notes,
            [
                "namespace red is kept: deleting it would delete interface red/eth9, which topology lab does not own"
            ]
        );
        assert_eq!(destroy("lab", &fake.state).unwrap(), p);
        fake.apply_all(&p.steps, "lab").unwrap();
        // The NIC and the intruder are still there.
        assert_eq!(fake.state.links.len(), 2);
    }

    #[test]
    fn veth_peer_namespace_change_replaces_the_parent_and_its_macvlans() {
        let t = lab();
        let mut fake = applied(&t, host_state());
        let mut t2 = t.clone();
        t2.parents.get_mut(&ln("lab0")).unwrap().kind = veth("lab0p", Some("blue"));
        let p = diff(&t2, &fake.state).unwrap();
        assert_eq!(
            summary(&p),
            [
                "replace parent lab0",
                "replace macvlan red/eth0",
                "create address red/eth0 10.0.0.2/24",
                "create route red/eth0 0.0.0.0/0",
            ]
        );
        let reasons: Vec<&str> = p
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Replace { reason, .. } => Some(reason.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "peer changes from lab0p to blue/lab0p",
                "parent lab0 is replaced"
            ]
        );
        fake.apply_all(&p.steps, "lab").unwrap();
        assert!(diff(&t2, &fake.state).unwrap().in_sync);
    }

    #[test]
    fn nic_updates_are_the_only_changes_to_foreign_links() {
        let mut live = host_state();
        live.links[0].up = false;
        let mut t = lab();
        t.parents.get_mut(&ln("eth1")).unwrap().mtu = Some(9000);
        let p = diff(&t, &live).unwrap();
        let first = p.steps.iter().find(|s| s.action() == "update").unwrap();
        assert_eq!(
            first,
            &Step::Update {
                object: Object::Nic {
                    name: ln("eth1"),
                    mtu: Some(9000),
                    up: true
                },
                changes: vec![
                    Change::Mtu {
                        from: 1500,
                        to: 9000
                    },
                    Change::Up {
                        from: false,
                        to: true
                    }
                ]
            }
        );
    }

    #[test]
    fn destroy_never_touches_nics() {
        let fake = applied(&lab(), host_state());
        let p = destroy("lab", &fake.state).unwrap();
        assert!(
            p.steps
                .iter()
                .all(|s| !matches!(s.object(), Object::Nic { .. }))
        );
        assert_eq!(destroy("other", &fake.state).unwrap().steps, vec![]);
        let mut fake = fake;
        fake.apply_all(&p.steps, "lab").unwrap();
        assert_eq!(fake.snapshot().unwrap(), host_state());
    }

    #[test]
    fn vlan_cycle_is_a_plan_error() {
        let mut t = lab();
        t.parents.insert(
            ln("v1"),
            Parent {
                name: ln("v1"),
                kind: ParentKind::Vlan {
                    link: ln("v1"),
                    vlan_id: 1,
                    link_span: Span::default(),
                },
                mtu: None,
                span: Span::default(),
            },
        );
        assert!(matches!(diff(&t, &host_state()), Err(PlanError::Cycle(_))));
    }

    // -------------------------------------------------------------------------------------
    // Searches that once grew quadratically, held linear by counting what they look at.

    fn mac_n(i: usize) -> MacAddr {
        let b = (i as u32).to_be_bytes();
        MacAddr([2, 0, b[0], b[1], b[2], b[3]])
    }

    fn owned_macvlan(namespace: &str, name: &str, parent: &str, mac: MacAddr) -> LiveLink {
        LiveLink {
            namespace: Some(ns(namespace)),
            name: ln(name),
            kind: LinkKind::Macvlan,
            parent: Some(host(&ln(parent))),
            peer: None,
            mode: Some(Mode::Bridge),
            vlan_id: None,
            mac: Some(mac),
            mtu: 1500,
            up: true,
            source_macs: vec![],
            addresses: vec![],
            routes: vec![],
            owner: Some("lab".into()),
        }
    }

    /// Run the planner and return its plan size and visit count.
    fn visits(t: &Topology, live: &LiveState) -> (usize, u64) {
        let live = normalized(live);
        let mut p = Planner::new(t, &live);
        p.run().expect("the planner runs");
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let v = p.visits.get();
        (p.finish(t).unwrap().steps.len(), v)
    }

    /// The live state holds `n` owned macvlans, the file wants `n` others on the same parent
    /// in the same namespace (and the state's namespace `old` with `n` more is pruned): each
    /// pruned link's casualty search looks at that link alone, not at every live link.
    fn churn(n: usize) -> (usize, u64) {
        let wanted: Vec<Macvlan> = (0..n)
            .map(|i| mv(Some("ns0"), &format!("a{i}"), "eth1"))
            .collect();
        let t = topo(&["ns0"], vec![("eth1", ParentKind::Existing)], wanted);
        let mut live = host_state();
        for (space, prefix) in [("ns0", "b"), ("old", "c")] {
            live.namespaces.push(LiveNamespace {
                name: ns(space),
                owner: Some("lab".into()),
            });
            for i in 0..n {
                live.links.push(owned_macvlan(
                    space,
                    &format!("{prefix}{i}"),
                    "eth1",
                    mac_n(i),
                ));
            }
        }
        live.normalize();
        visits(&t, &live)
    }

    #[test]
    fn churn_planning_visits_grow_linearly() {
        let (steps, small) = churn(500);
        assert_eq!(
            steps,
            500 + 500 + 500 + 1,
            "creates, deletes, pruned namespace links and namespace"
        );
        let (_, large) = churn(4000);
        // One visit per pruned link (2n: both namespaces') and per link of the pruned
        // namespace (n). A scan of every live link per search (the old way) made it 4n²
        // (500: a million).
        assert_eq!(small, 3 * 500);
        assert_eq!(large, 3 * 4000);
    }

    /// `n` kept macvlans on one parent whose MACs rotate (a_i takes a_(i+1)'s): every MAC
    /// change orders one update before the one that wants its old MAC. Finding that one
    /// costs the macvlans given that MAC, not a scan of the parent.
    fn mac_rotation(n: usize) -> (usize, u64) {
        let wanted: Vec<Macvlan> = (0..n)
            .map(|i| {
                let mut m = mv(Some("ns0"), &format!("a{i:05}"), "eth1");
                m.mac = Some(mac_n((i + 1) % n));
                m
            })
            .collect();
        let t = topo(&["ns0"], vec![("eth1", ParentKind::Existing)], wanted);
        let mut live = host_state();
        live.namespaces.push(LiveNamespace {
            name: ns("ns0"),
            owner: Some("lab".into()),
        });
        for i in 0..n {
            live.links
                .push(owned_macvlan("ns0", &format!("a{i:05}"), "eth1", mac_n(i)));
        }
        live.normalize();
        visits(&t, &live)
    }

    #[test]
    fn mac_conflict_ordering_visits_grow_linearly() {
        // The rotation is one cycle: split once (a delete and a create), then ordered.
        let (steps, small) = mac_rotation(300);
        assert_eq!(steps, 300 + 1);
        let (_, large) = mac_rotation(2400);
        // Two passes over the steps (before and after the split), each finding one macvlan
        // per MAC change. A scan of the parent per change was n² per pass (300: 180,000).
        assert!(small <= 2 * 300, "{small}");
        assert!(large <= 2 * 2400, "{large}");
    }
}
