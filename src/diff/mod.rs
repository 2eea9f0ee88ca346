//! Desired topology against live state: the ordered `Plan` that makes one into the other,
//! and the `destroy` plan that removes everything a topology owns.
//!
//! Ownership decides everything here: a step that deletes, changes or replaces something
//! is only ever made for objects owned by the topology (`LiveLink::owner`), except the MTU
//! and up state of the existing parents the file declares. A foreign object in the way is
//! a `PlanError`, found before anything is changed.
//!
//! The planner runs in phases (`phases`, in order): each is a function of a read-only
//! `Context` (the file, the live state, indexes over them) and the `Draft` so far, which
//! it returns grown; `order::finish` then puts the draft's steps in order.

mod conflicts;
mod macvlans;
mod order;
mod ownership;
mod parents;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use miette::SourceSpan;

use crate::graph::{self, CycleError};
use crate::live::{LinkKind, LinkRef, LiveLink, LiveState};
use crate::model::{Macvlan, Topology};
use crate::names::{LinkName, MacAddr};
use crate::object::{Key, Object};
use crate::plan::{Plan, Step};

use conflicts::OnParent;
pub use ownership::{owned, relevant, stale_link, stale_namespace};

/// Why no plan can be made. Nothing has been changed when one of these is returned.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error(
        "interface {at} exists and is not owned by topology {topology} (owner: {})",
        owner.as_deref().unwrap_or("none")
    )]
    #[diagnostic(
        code("mvtopo::plan::foreign-object"),
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

    #[error("existing parent {name} does not exist in {place}")]
    #[diagnostic(
        code("mvtopo::plan::missing-parent"),
        help(
            "create {name} first, or add `create = \"veth\"` to [parent.{name}] to make it a lab parent that mvtopo creates"
        )
    )]
    MissingParent {
        name: LinkName,
        /// "the namespace mvtopo runs in", or "namespace NAME".
        place: String,
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
        code("mvtopo::plan::foreign-casualty"),
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

    #[error("macvlan {at} asks for {key} ({feature}), which this kernel does not have")]
    #[diagnostic(
        code("mvtopo::plan::kernel-feature"),
        help(
            "remove `{key}` from this macvlan, or run on a kernel that has it: an older kernel ignores the attribute without an error, so the file could never be applied"
        )
    )]
    KernelFeature {
        at: LinkRef,
        /// The file's key.
        key: &'static str,
        /// The kernel's name for it and the release that brought it.
        feature: &'static str,
        #[label("asked for here")]
        span: Option<SourceSpan>,
    },

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
    let cx = Context::new(t, &live);
    let mut d = phases(&cx)?;
    let mut problems = std::mem::take(&mut d.problems);
    match problems.len() {
        0 => order::finish(&cx, d),
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
    let cx = Context::new(&empty, &live);
    let d = phases(&cx)?;
    // An empty topology asks for nothing, so nothing can be in its way and it has no
    // cycle: a plan error here is a planner bug, and is reported as one.
    order::finish(&cx, d).map_err(|e| match e {
        e @ PlanError::Internal { .. } => e,
        other => PlanError::Internal {
            what: format!("the destroy plan failed: {other}"),
        },
    })
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

/// The planner's phases, in the order they run. Each takes the draft so far and returns
/// it grown; all read the same context (the file, the live state, indexes over them).
fn phases(cx: &Context<'_>) -> Result<Draft, PlanError> {
    let d = Draft::default();
    let d = namespaces(cx, d);
    let d = parents::plan(cx, d);
    let d = macvlans::plan(cx, d);
    let d = ownership::prune_links(cx, d);
    let d = ownership::prune_namespaces(cx, d);
    let d = conflicts::split_orphaned_replaces(cx, d);
    let d = conflicts::order_conflicts(cx, d)?;
    Ok(macvlans::keep_moved_macs(cx, d))
}

/// What the phases read: the file, the live state, and indexes over them built once.
struct Context<'a> {
    topology: &'a Topology,
    live: &'a LiveState,
    owner: &'a str,
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

/// The plan as the phases build it: steps keyed by object, not yet in order.
#[derive(Debug, Default)]
struct Draft {
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
}

impl<'a> Context<'a> {
    fn new(topology: &'a Topology, live: &'a LiveState) -> Self {
        Context {
            topology,
            live,
            owner: &topology.name,
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

    fn link(&self, r: &LinkRef) -> Option<&'a LiveLink> {
        self.live.link(r.namespace.as_ref(), &r.name)
    }
}

/// Named namespaces the file wants and the kernel lacks are created.
fn namespaces(cx: &Context<'_>, mut d: Draft) -> Draft {
    for name in cx.topology.namespaces.keys() {
        if cx.live.namespace(name).is_none() {
            d.steps.insert(
                Key::Namespace { name: name.clone() },
                Step::Create {
                    object: Object::Namespace { name: name.clone() },
                },
            );
        }
    }
    d
}
