//! Turning the file as written (`load::raw`) into a validated `model::Topology`: every rule of
//! the topology contract is checked here, defaults are filled in, and the result is put into
//! its normal form (macvlans sorted by (namespace, name), source MACs sorted and deduplicated).

mod across;
mod addresses;
mod driver;
mod macvlans;
mod naming;
mod parents;
mod text;

use std::collections::HashMap;
use std::ops::Range;

use crate::code::Code;
use crate::load::problem::Problem;
use crate::load::raw::RawTopology;
use crate::model::{Macvlan, Parent, Topology};
use crate::names::{self, NsName};

const MTU_MIN: i64 = names::MTU_MIN as i64;
const MTU_MAX: i64 = names::MTU_MAX as i64;
const TOPOLOGY_NAME_MAX: usize = 64;
/// The longest namespace name: it is a file name under /run/netns and /run/mvtopo/netns
/// (NAME_MAX is 255 bytes), with room to spare.
const NS_NAME_MAX: usize = 200;

pub const CREATE_KINDS: [&str; 4] = ["veth", "dummy", "vlan", "bridge"];

/// Validates the file as written and builds the topology, or returns every problem found.
/// `default_name` is the topology name when the file has none (the file's stem).
pub fn resolve(raw: &RawTopology, default_name: &str) -> Result<Topology, Vec<Problem>> {
    let mut r = Resolver {
        raw,
        problems: Vec::new(),
        namespace_spans: HashMap::new(),
        ns_names: HashMap::new(),
        parent_index: HashMap::new(),
    };
    let name = r.topology_name(default_name);
    let namespaces = r.namespaces();
    r.ns_names = (r.namespace_spans.keys())
        .filter_map(|k| Some((*k, NsName::new(k).ok()?)))
        .collect();
    for (i, p) in raw.parents.iter().enumerate() {
        r.parent_index.entry(p.name.value.as_str()).or_insert(i);
    }
    let parents: Vec<Option<Parent>> = raw.parents.iter().map(|p| r.parent(p)).collect();
    r.vlan_mtus(&parents);
    r.bridge_ports(&parents);
    r.parent_namespaces(&parents);
    let mtus = r.declared_mtus(&parents);
    let macvlans: Vec<Option<Macvlan>> = raw
        .macvlans
        .iter()
        .map(|m| r.macvlan(m, &parents, &mtus))
        .collect();
    let views = r.views();
    r.duplicate_names(&views);
    r.per_parent_rules(&views);
    r.one_bc_cutoff_per_parent();
    r.per_namespace_rules(&views);
    // Not needed past the rules: freed before the macvlans are gathered and sorted, which
    // is when a large file's memory peaks.
    drop(views);

    if r.problems.is_empty() {
        // Every entry that failed to build has said why; this guards the invariant so a
        // slip can never drop an object from the topology silently.
        let dropped = (parents.iter().zip(&raw.parents))
            // A key with a wrong type or a typo was reported by the loader.
            .filter(|(p, rp)| p.is_none() && rp.broken.is_empty())
            .map(|(_, rp)| rp.span.clone())
            .chain(
                (macvlans.iter().zip(&raw.macvlans))
                    .filter(|(m, rm)| m.is_none() && rm.broken.is_empty())
                    .map(|(_, rm)| rm.span.clone()),
            );
        for span in dropped {
            r.push(Problem::new(
                Code::CheckInternal,
                "this entry could not be resolved, but no rule said why".into(),
                span,
                "not resolved".into(),
                Some("please report this as a bug in mvtopo, with this file".into()),
            ));
        }
    }
    if !r.problems.is_empty() {
        return Err(r.problems);
    }
    let mut macvlans: Vec<Macvlan> = macvlans.into_iter().flatten().collect();
    macvlans.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(Topology {
        name: name.unwrap_or_default(),
        namespaces,
        parents: parents
            .into_iter()
            .flatten()
            .map(|p| (p.name.clone(), p))
            .collect(),
        macvlans,
    })
}

struct Resolver<'r> {
    raw: &'r RawTopology,
    problems: Vec<Problem>,
    /// Every declared namespace key, valid or not, so a reference to an invalid one is not
    /// also reported as unknown.
    namespace_spans: HashMap<&'r str, Range<usize>>,
    /// The valid ones among them, each made once: every macvlan's reference to it shares
    /// the one name instead of a copy of its own.
    ns_names: HashMap<&'r str, NsName>,
    /// Every declared parent key → its index in `raw.parents`.
    parent_index: HashMap<&'r str, usize>,
}

impl<'r> Resolver<'r> {
    fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    fn missing(&mut self, span: Range<usize>, what: &str, key: &str, add: String) {
        self.push(Problem::new(
            Code::CheckMissingKey,
            format!("{what} has no `{key}`"),
            span,
            format!("`{key}` missing"),
            Some(format!("add {add}")),
        ));
    }
}
