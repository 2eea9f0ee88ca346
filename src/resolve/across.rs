//! Rules across entries: duplicate names, what one parent can carry (one passthru
//! macvlan, distinct MACs), and what one namespace can hold.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;

use super::text::{ns_phrase, shorten_link_name};
use super::{Resolver, text};
use crate::code::Code;
use crate::load::problem::Problem;
use crate::load::raw::{At, RawParent};
use crate::model::Route;
use crate::names::{Cidr, LinkName, MacAddr, Mode, NsName};

/// A link name the file defines, where, and how to report a second definition of it.
struct Entry {
    ns: Option<NsName>,
    name: LinkName,
    span: Range<usize>,
    label: Cow<'static, str>,
    /// For a veth peer: what to write instead.
    peer_help: Option<String>,
}

impl<'r> Resolver<'r> {
    /// What can be known about each macvlan even when some of its values are invalid, so
    /// the rules across macvlans still run on the parts that are fine. Silent: the invalid
    /// values were reported by `macvlan`.
    pub(super) fn views(&self) -> Vec<View> {
        self.raw
            .macvlans
            .iter()
            .map(|m| {
                let valid_ns = |at: &At<String>| self.ns_names.get(at.value.as_str()).cloned();
                let namespace = match &m.namespace {
                    None => Some(None),
                    Some(at) => valid_ns(at).map(Some),
                };
                let parent = m.parent.as_ref().and_then(|at| {
                    self.parent_index
                        .contains_key(at.value.as_str())
                        .then(|| LinkName::new(&at.value).ok())
                        .flatten()
                });
                let mode = match &m.mode {
                    None => Some(Mode::default()),
                    Some(at) => at.value.parse().ok(),
                };
                let mac = m.mac.as_ref().and_then(|at| {
                    let mac: MacAddr = at.value.parse().ok()?;
                    (!mac.is_multicast() && !mac.is_zero()).then(|| (mac, at.span.clone()))
                });
                let addresses = m
                    .addresses
                    .iter()
                    .flat_map(|l| l.value.iter())
                    .filter_map(|at| Some((at.value.parse::<Cidr>().ok()?.addr(), at.span.clone())))
                    .collect();
                let routes = m
                    .more()
                    .routes
                    .iter()
                    .flat_map(|l| l.value.iter())
                    .filter_map(|r| {
                        let to = &r.to.as_ref()?.value;
                        let to = if to == "default" {
                            let via: IpAddr = r.via.as_ref()?.value.parse().ok()?;
                            Cidr::default_for(&via)
                        } else {
                            let c: Cidr = to.parse().ok()?;
                            (c.network() == c).then_some(c)?
                        };
                        let metric = match &r.metric {
                            None => None,
                            Some(at) => Some(u32::try_from(at.value).ok()?),
                        };
                        // The kernel's identity of a route in a table: destination and
                        // metric (the family's default folded, so 0 and 1024 meet on IPv6).
                        let metric = Route::new(to, None, metric).metric();
                        Some((to, metric, r.span.clone()))
                    })
                    .collect();
                View {
                    name: m.name.as_ref().and_then(|at| LinkName::new(&at.value).ok()),
                    name_span: m.name.as_ref().map_or(m.span.clone(), |at| at.span.clone()),
                    namespace,
                    parent,
                    mode,
                    mac,
                    addresses,
                    routes,
                }
            })
            .collect()
    }

    /// Identity is (namespace, name): parents and veth peers that stay put live in mvtopo's
    /// own namespace, alongside macvlans without `namespace`.
    pub(super) fn duplicate_names(&mut self, views: &[View]) {
        let mut entries: Vec<Entry> = Vec::new();
        for raw in &self.raw.parents {
            let Ok(name) = LinkName::new(&raw.name.value) else {
                continue;
            };
            if raw.create.as_ref().is_some_and(|c| c.value == "veth") {
                entries.extend(self.veth_peer_entry(raw, &name));
            }
            let ns = raw
                .namespace
                .as_ref()
                .and_then(|at| NsName::new(&at.value).ok());
            entries.push(Entry {
                ns,
                name,
                span: raw.name.span.clone(),
                label: Cow::Borrowed("parent"),
                peer_help: None,
            });
        }
        for v in views {
            if let (Some(name), Some(ns)) = (&v.name, &v.namespace) {
                entries.push(Entry {
                    ns: ns.clone(),
                    name: name.clone(),
                    span: v.name_span.clone(),
                    label: Cow::Borrowed("macvlan"),
                    peer_help: None,
                });
            }
        }
        // Report the later of two definitions, pointing back at the earlier.
        entries.sort_by_key(|e| e.span.start);
        let mut seen: HashMap<(&Option<NsName>, &LinkName), usize> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let Some(&first) = seen.get(&(&e.ns, &e.name)) else {
                seen.insert((&e.ns, &e.name), i);
                continue;
            };
            let f = &entries[first];
            let help = e
                .peer_help
                .clone()
                .or_else(|| f.peer_help.clone())
                .unwrap_or_else(|| {
                    "rename one of them, or put the macvlan in another namespace".into()
                });
            self.problems.push(
                Problem::new(
                    Code::CheckDuplicateName,
                    format!(
                        "interface {:?} is defined twice in {}",
                        e.name.as_str(),
                        ns_phrase(e.ns.as_ref())
                    ),
                    e.span.clone(),
                    format!("{}, again", e.label),
                    Some(help),
                )
                .with_label(f.span.clone(), format!("{} defined here first", f.label)),
            );
        }
    }

    /// The far end of a veth, where it will be (none when its namespace is unknown).
    fn veth_peer_entry(&self, raw: &RawParent, name: &LinkName) -> Option<Entry> {
        let peer_ns = match &raw.peer_namespace {
            None => Some(None),
            Some(at) => self
                .namespace_spans
                .contains_key(at.value.as_str())
                .then(|| NsName::new(&at.value).ok().map(Some))
                .flatten(),
        };
        let (peer, span, label) = match &raw.peer {
            Some(at) => (at.value.clone(), at.span.clone(), "veth peer".to_owned()),
            None => {
                let peer = format!("{name}p");
                let label = format!("veth peer {peer} (the default name)");
                (peer, raw.name.span.clone(), label)
            }
        };
        let (Some(ns), Ok(peer)) = (peer_ns, LinkName::new(&peer)) else {
            return None;
        };
        let other = shorten_link_name(&format!("{name}-peer"));
        Some(Entry {
            ns,
            name: peer,
            span,
            label: label.into(),
            peer_help: Some(format!(
                "set a different peer under [parent.{}], e.g. peer = {other:?}",
                text::toml_key(name.as_str()),
            )),
        })
    }

    /// Passthru exclusivity and MAC uniqueness, both per parent.
    pub(super) fn per_parent_rules(&mut self, views: &[View]) {
        let mut by_parent: HashMap<&LinkName, Vec<usize>> = HashMap::new();
        for (i, v) in views.iter().enumerate() {
            if let Some(p) = &v.parent {
                by_parent.entry(p).or_default().push(i);
            }
        }
        let mut groups: Vec<(&LinkName, Vec<usize>)> = by_parent.into_iter().collect();
        groups.sort_by_key(|(_, g)| g[0]);
        for (parent, group) in groups {
            let name_of = |i: usize| {
                views[i]
                    .name
                    .as_ref()
                    .map_or_else(|| "(unnamed)".to_owned(), |n| n.to_string())
            };
            let passthru = |i: &&usize| views[**i].mode == Some(Mode::Passthru);
            if let Some(&pt) = group.iter().find(passthru) {
                let pt_raw = &self.raw.macvlans[pt];
                let pt_span = pt_raw
                    .mode
                    .as_ref()
                    .map_or(pt_raw.span.clone(), |a| a.span.clone());
                for &i in group.iter().filter(|&&i| i != pt) {
                    let raw = &self.raw.macvlans[i];
                    let span = raw
                        .parent
                        .as_ref()
                        .map_or(raw.span.clone(), |a| a.span.clone());
                    let message = if views[i].mode == Some(Mode::Passthru) {
                        format!(
                            "parent {:?} has two passthru macvlans, {:?} and {:?}; passthru takes the whole parent",
                            parent.as_str(),
                            name_of(pt),
                            name_of(i)
                        )
                    } else {
                        format!(
                            "macvlan {:?} shares parent {:?} with passthru macvlan {:?}, which takes the whole parent",
                            name_of(i),
                            parent.as_str(),
                            name_of(pt)
                        )
                    };
                    self.problems.push(
                        Problem::new(
                            Code::CheckPassthru,
                            message,
                            span,
                            "same parent".into(),
                            Some("give this macvlan another parent, or change the passthru macvlan's mode".into()),
                        )
                        .with_label(pt_span.clone(), "passthru here"),
                    );
                }
            }
            let mut macs: HashMap<MacAddr, Range<usize>> = HashMap::new();
            for &i in &group {
                let Some((mac, span)) = &views[i].mac else {
                    continue;
                };
                match macs.get(mac) {
                    Some(first) => self.problems.push(
                        Problem::new(
                            Code::CheckDuplicateMac,
                            format!("MAC {mac} is used twice on parent {:?}", parent.as_str()),
                            span.clone(),
                            "used again".into(),
                            Some("give each macvlan on a parent its own MAC, or remove `mac` to let the kernel pick one".into()),
                        )
                        .with_label(first.clone(), "first used here"),
                    ),
                    None => {
                        macs.insert(*mac, span.clone());
                    }
                }
            }
        }
    }

    /// Addresses and routes must be unique within a namespace.
    pub(super) fn per_namespace_rules(&mut self, views: &[View]) {
        let mut addresses: HashMap<(&Option<NsName>, IpAddr), Range<usize>> = HashMap::new();
        let mut routes: HashMap<(&Option<NsName>, Cidr, u32), Range<usize>> = HashMap::new();
        for v in views {
            let Some(ns) = &v.namespace else { continue };
            for (addr, span) in &v.addresses {
                match addresses.get(&(ns, *addr)) {
                    Some(first) => self.problems.push(
                        Problem::new(
                            Code::CheckDuplicateAddress,
                            format!("address {addr} is used twice in {}", ns_phrase(ns.as_ref())),
                            span.clone(),
                            "used again".into(),
                            Some("give each interface in a namespace its own address".into()),
                        )
                        .with_label(first.clone(), "first used here"),
                    ),
                    None => {
                        addresses.insert((ns, *addr), span.clone());
                    }
                }
            }
            for (to, metric, span) in &v.routes {
                match routes.get(&(ns, *to, *metric)) {
                    Some(first) => self.problems.push(
                        Problem::new(
                            Code::CheckDuplicateRoute,
                            format!(
                                "two routes to {to} with metric {metric} in {}",
                                ns_phrase(ns.as_ref())
                            ),
                            span.clone(),
                            "same destination and metric again".into(),
                            Some(
                                "keep one route per destination and metric in a namespace, or give one of them another metric"
                                    .into(),
                            ),
                        )
                        .with_label(first.clone(), "first route here"),
                    ),
                    None => {
                        routes.insert((ns, *to, *metric), span.clone());
                    }
                }
            }
        }
    }
}

/// The parts of one macvlan that are valid, for rules that span macvlans.
pub(super) struct View {
    name: Option<LinkName>,
    name_span: Range<usize>,
    /// `None`: unknown or invalid; `Some(None)`: mvtopo's own namespace.
    namespace: Option<Option<NsName>>,
    parent: Option<LinkName>,
    mode: Option<Mode>,
    mac: Option<(MacAddr, Range<usize>)>,
    addresses: Vec<(IpAddr, Range<usize>)>,
    /// Destination and the metric the kernel would give it.
    routes: Vec<(Cidr, u32, Range<usize>)>,
}
