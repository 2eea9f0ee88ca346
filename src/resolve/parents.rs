//! Parents: their kinds (existing, veth, dummy, vlan, bridge), names of veth peers, a
//! bridge's ports, and MTUs, including the MTU a vlan takes from its link.

use std::collections::HashMap;
use std::ops::Range;

use super::{CREATE_KINDS, MTU_MAX, MTU_MIN, Resolver, text};
use crate::code::Code;
use crate::load::problem::{Problem, did_you_mean, one_of};
use crate::load::raw::{At, RawParent};
use crate::model::{Parent, ParentKind, Span};
use crate::names::{DEFAULT_MTU, LinkName};

/// What is wrong with `port` as a bridge's port, if anything: (message, label, help).
/// A port is a veth of the file, either end, in mvtopo's own namespace.
fn port_problem(parents: &[Option<Parent>], port: &str) -> Option<(String, String, String)> {
    let veth_end = |name: &str| {
        parents.iter().flatten().find_map(|p| match &p.kind {
            ParentKind::Veth {
                peer,
                peer_namespace,
                ..
            } if p.name.as_str() == name || peer.as_str() == name => {
                // Where this end of the pair is.
                let is_peer = peer.as_str() == name;
                let ns = if is_peer {
                    peer_namespace
                } else {
                    &p.namespace
                };
                Some((p, is_peer, ns.clone()))
            }
            _ => None,
        })
    };
    match veth_end(port) {
        None => Some((
            format!("bridge port {:?} is not a veth of this file", port),
            "not a veth".to_owned(),
            "name a [parent.*] with create = \"veth\", or its peer".to_owned(),
        )),
        Some((v, true, Some(ns))) => Some((
            format!(
                "bridge port {:?} is in namespace {:?}, the bridge in mvtopo's own",
                port,
                ns.as_str()
            ),
            "peer elsewhere".to_owned(),
            format!(
                "name {:?} (the other end) instead, or drop peer-namespace from [parent.{}]",
                v.name.as_str(),
                text::toml_key(v.name.as_str())
            ),
        )),
        Some((v, false, Some(ns))) => Some((
            format!(
                "bridge port {:?} is in namespace {:?}, the bridge in mvtopo's own",
                port,
                ns.as_str()
            ),
            "veth elsewhere".to_owned(),
            format!(
                "drop namespace from [parent.{}]",
                text::toml_key(v.name.as_str())
            ),
        )),
        Some(_) => None,
    }
}

impl<'r> Resolver<'r> {
    pub(super) fn parent(&mut self, p: &'r RawParent) -> Option<Parent> {
        let header = format!("[parent.{}]", text::toml_key(&p.name.value));
        let name = self.link_name(&p.name);
        let mtu = p.mtu.as_ref().and_then(|m| self.mtu(m));
        let namespace = match &p.namespace {
            Some(at) => self.ns_ref(at, "namespace").map(Some),
            None => Some(None),
        };
        // With an unknown kind, which keys belong is anyone's guess: only the kind is reported.
        let create = self.create_kind(p)?;
        self.keys_of_other_kinds(p, create, &header);
        let kind = match create {
            None => ParentKind::Existing,
            Some("dummy") => ParentKind::Dummy,
            Some("bridge") => self.bridge(p)?,
            Some("veth") => self.veth(p, name.is_some(), &header)?,
            _ => self.vlan(p, &header)?,
        };
        if p.mtu.is_some() && mtu.is_none() {
            return None;
        }
        Some(Parent {
            name: name?,
            namespace: namespace?,
            kind,
            mtu,
            span: Span(p.span.clone()),
        })
    }

    /// `create`: `Some(None)` for an existing interface, `None` for a kind mvtopo does not
    /// make (reported).
    fn create_kind(&mut self, p: &'r RawParent) -> Option<Option<&'r str>> {
        match &p.create {
            None => Some(None),
            Some(c) => match c.value.as_str() {
                k @ ("veth" | "dummy" | "vlan" | "bridge") => Some(Some(k)),
                other => {
                    let help = match did_you_mean(other, CREATE_KINDS) {
                        Some(s) => format!("did you mean {s:?}?"),
                        None => format!(
                            "use {}, or remove `create` for an interface that already exists",
                            one_of(CREATE_KINDS)
                        ),
                    };
                    self.push(Problem::new(
                        Code::CheckCreate,
                        format!("unknown create kind {other:?}"),
                        c.span.clone(),
                        "not veth, dummy, vlan or bridge".into(),
                        Some(help),
                    ));
                    None
                }
            },
        }
    }

    /// A bridge and its ports (names checked here; what they are, in `bridge_ports`).
    fn bridge(&mut self, p: &'r RawParent) -> Option<ParentKind> {
        let mut ports = Vec::new();
        let mut ok = !p.broken.contains(&"ports");
        for at in p.ports.iter().flat_map(|l| l.value.iter()) {
            match self.link_name(at) {
                Some(n) => ports.push(n),
                None => ok = false,
            }
        }
        ports.sort();
        ports.dedup();
        let span = p.ports.as_ref().map_or(p.span.clone(), |l| l.span.clone());
        ok.then_some(ParentKind::Bridge {
            ports,
            ports_span: Span(span),
        })
    }

    /// Keys that belong to another `create` kind than this parent's.
    fn keys_of_other_kinds(&mut self, p: &RawParent, create: Option<&str>, header: &str) {
        for key in &p.keys {
            let needs = match key.value {
                "peer" | "peer-namespace" => "veth",
                "link" | "vlan-id" => "vlan",
                "ports" => "bridge",
                _ => continue,
            };
            if create != Some(needs) {
                let now = match create {
                    Some(k) => format!("{header} is a {k}"),
                    None => format!("{header} has no `create`: an existing interface"),
                };
                self.push(Problem::new(
                    Code::CheckKeyNotAllowed,
                    format!("`{}` only applies to create = \"{needs}\"", key.value),
                    key.span.clone(),
                    now,
                    Some(format!("remove this line, or set create = \"{needs}\"")),
                ));
            }
        }
    }

    /// A veth's peer and the namespace it goes into (`name_ok`: the parent's own name is
    /// valid, so the default peer name is worth judging).
    fn veth(&mut self, p: &'r RawParent, name_ok: bool, header: &str) -> Option<ParentKind> {
        let peer = match &p.peer {
            Some(at) => self.link_name(at),
            None => {
                let default = format!("{}p", p.name.value);
                if name_ok && default.len() > crate::names::MAX_LINK_NAME {
                    self.push(Problem::new(
                        Code::CheckInterfaceName,
                        format!(
                            "the default peer name {default:?} is {} bytes long; the kernel allows at most 15",
                            default.len()
                        ),
                        p.name.span.clone(),
                        "veth without `peer`".into(),
                        Some(format!(
                            "set a shorter peer name under {header}, e.g. peer = {:?}",
                            text::short_peer_name(&p.name.value)
                        )),
                    ));
                }
                LinkName::new(&default).ok()
            }
        };
        let peer_namespace = match &p.peer_namespace {
            Some(at) => self
                .ns_ref(at, "peer-namespace")
                .map(|ns| Some((ns, at.span.clone()))),
            None => Some(None),
        };
        let (peer, peer_namespace) = (peer?, peer_namespace?);
        let (peer_namespace, span) = match peer_namespace {
            Some((ns, span)) => (Some(ns), span),
            None => (None, 0..0),
        };
        Some(ParentKind::Veth {
            peer,
            peer_namespace,
            peer_namespace_span: Span(span),
        })
    }

    /// A vlan's link and id.
    fn vlan(&mut self, p: &'r RawParent, header: &str) -> Option<ParentKind> {
        let link = match &p.link {
            Some(at) => {
                if at.value == p.name.value {
                    self.push(Problem::new(
                        Code::CheckVlanLink,
                        format!("vlan {:?} cannot sit on itself", at.value),
                        at.span.clone(),
                        "the vlan's own name".into(),
                        Some(
                            "set link to the [parent.*] this vlan sits on, e.g. link = \"eth1\""
                                .into(),
                        ),
                    ));
                    None
                } else {
                    self.parent_ref(at, "vlan link")
                        .map(|(_, n)| (n, at.span.clone()))
                }
            }
            None => {
                if !p.broken.contains(&"link") {
                    let example = self
                        .raw
                        .parents
                        .iter()
                        .find(|o| o.name.value != p.name.value && o.create.is_none())
                        .map_or("eth1", |o| o.name.value.as_str());
                    self.missing(
                        p.name.span.clone(),
                        &format!("vlan {header}"),
                        "link",
                        format!("link = {example:?} (the [parent.*] this vlan sits on)"),
                    );
                }
                None
            }
        };
        let vlan_id = match &p.vlan_id {
            Some(at) if (1..=4094).contains(&at.value) => u16::try_from(at.value).ok(),
            Some(at) => {
                self.push(Problem::new(
                    Code::CheckVlanId,
                    format!("vlan-id {} is outside 1..=4094", at.value),
                    at.span.clone(),
                    "VLAN id out of range".into(),
                    Some("use a VLAN id from 1 to 4094, e.g. vlan-id = 10".into()),
                ));
                None
            }
            None => {
                if !p.broken.contains(&"vlan-id") {
                    self.missing(
                        p.name.span.clone(),
                        &format!("vlan {header}"),
                        "vlan-id",
                        "vlan-id = 10 (a VLAN id from 1 to 4094)".into(),
                    );
                }
                None
            }
        };
        let ((link, link_span), vlan_id) = (link?, vlan_id?);
        Some(ParentKind::Vlan {
            link,
            vlan_id,
            link_span: Span(link_span),
        })
    }

    /// The MTU each parent will have as far as the file says: its own `mtu`, 1500 for a
    /// created veth or dummy, its link's for a vlan without one, unknown for an existing NIC.
    pub(super) fn declared_mtus(&self, parents: &[Option<Parent>]) -> Vec<Option<u32>> {
        (0..parents.len())
            .map(|i| {
                let mut i = i;
                // Bounded: a cycle of vlan links is the graph stage's to report.
                for _ in 0..=parents.len() {
                    let p = parents[i].as_ref()?;
                    if let Some(m) = p.mtu {
                        return Some(m);
                    }
                    match &p.kind {
                        ParentKind::Existing => return None,
                        ParentKind::Veth { .. } | ParentKind::Dummy => return Some(DEFAULT_MTU),
                        // Without one of its own a bridge takes its ports' smallest MTU:
                        // unknown here.
                        ParentKind::Bridge { .. } => return None,
                        ParentKind::Vlan { link, .. } => {
                            i = *self.parent_index.get(link.as_str())?;
                        }
                    }
                }
                None
            })
            .collect()
    }

    /// A vlan's MTU can be at most its link's.
    pub(super) fn vlan_mtus(&mut self, parents: &[Option<Parent>]) {
        let mtus = self.declared_mtus(parents);
        for (i, p) in parents.iter().enumerate() {
            let Some(Parent {
                kind: ParentKind::Vlan { link, .. },
                mtu: Some(mtu),
                ..
            }) = p
            else {
                continue;
            };
            let Some(&li) = self.parent_index.get(link.as_str()) else {
                continue;
            };
            let Some(link_mtu) = mtus[li] else { continue };
            if *mtu > link_mtu {
                let raw = &self.raw.parents[i];
                let lraw = &self.raw.parents[li];
                let span = raw
                    .mtu
                    .as_ref()
                    .map_or(raw.span.clone(), |m| m.span.clone());
                let mut problem = Problem::new(
                    Code::CheckMtu,
                    format!(
                        "vlan {:?} has mtu {mtu}, above the mtu of its link {:?} ({link_mtu})",
                        raw.name.value,
                        link.as_str()
                    ),
                    span,
                    format!("above {link_mtu}"),
                    Some(format!(
                        "use mtu = {link_mtu} or less, or raise the mtu of [parent.{}]",
                        text::toml_key(link.as_str())
                    )),
                );
                problem = match &lraw.mtu {
                    Some(m) => problem.with_label(m.span.clone(), "the link's mtu"),
                    None => problem
                        .with_label(lraw.name.span.clone(), implied_mtu_label(lraw, link_mtu)),
                };
                self.push(problem);
            }
        }
    }

    /// A bridge's ports are the file's veths (either end, in mvtopo's namespace, where the
    /// bridge is), each on one bridge at most; and no macvlan sits on a port: a port's
    /// receive handler is the bridge's, and the kernel refuses a macvlan there (EBUSY).
    pub(super) fn bridge_ports(&mut self, parents: &[Option<Parent>]) {
        let mut taken: HashMap<String, Range<usize>> = HashMap::new();
        let mut problems = Vec::new();
        for (raw, parent) in self.raw.parents.iter().zip(parents) {
            let Some(Parent {
                kind: ParentKind::Bridge { .. },
                ..
            }) = parent
            else {
                continue;
            };
            for at in raw.ports.iter().flat_map(|l| l.value.iter()) {
                let problem = port_problem(parents, &at.value);
                if let Some((message, label, help)) = problem {
                    problems.push(Problem::new(
                        Code::CheckBridgePort,
                        message,
                        at.span.clone(),
                        label,
                        Some(help),
                    ));
                    continue;
                }
                match taken.get(&at.value) {
                    Some(first) if *first != at.span => problems.push(
                        Problem::new(
                            Code::CheckBridgePort,
                            format!("{:?} is a port of two bridges", at.value),
                            at.span.clone(),
                            "again here".into(),
                            Some("a link is a port of one bridge at most: keep one".into()),
                        )
                        .with_label(first.clone(), "first here"),
                    ),
                    _ => {
                        taken.insert(at.value.clone(), at.span.clone());
                    }
                }
            }
        }
        for m in &self.raw.macvlans {
            if let Some(at) = m.parent.as_ref()
                && let Some(port) = taken.get(&at.value)
            {
                problems.push(
                    Problem::new(
                        Code::CheckBridgePort,
                        format!("macvlan on {:?}, a bridge port", at.value),
                        at.span.clone(),
                        "a bridge port".into(),
                        Some(
                            "put the macvlan on the bridge itself (the kernel refuses a macvlan on a bridge port)"
                                .into(),
                        ),
                    )
                    .with_label(port.clone(), "made a port here"),
                );
            }
        }
        self.problems.extend(problems);
    }

    /// Parents in a namespace: a vlan sits on a link in its own namespace (the kernel finds
    /// IFLA_LINK there), and a bridge with ports lives in mvtopo's namespace, where its ports
    /// are (`bridge_ports`).
    pub(super) fn parent_namespaces(&mut self, parents: &[Option<Parent>]) {
        let ns_of = |name: &LinkName| {
            parents
                .iter()
                .flatten()
                .find(|p| p.name == *name)
                .map(|p| p.namespace.clone())
        };
        let mut problems = Vec::new();
        for (raw, parent) in self.raw.parents.iter().zip(parents) {
            let Some(p) = parent else { continue };
            let here = |ns: &Option<crate::names::NsName>| {
                ns.as_ref()
                    .map_or("mvtopo's own namespace".to_owned(), |n| {
                        format!("namespace {:?}", n.as_str())
                    })
            };
            match &p.kind {
                ParentKind::Vlan {
                    link, link_span, ..
                } => {
                    if let Some(lns) = ns_of(link)
                        && lns != p.namespace
                    {
                        problems.push(Problem::new(
                            Code::CheckVlanLink,
                            format!(
                                "vlan {:?} is in {}, its link {:?} in {}",
                                p.name.as_str(),
                                here(&p.namespace),
                                link.as_str(),
                                here(&lns)
                            ),
                            link_span.0.clone(),
                            "link elsewhere".into(),
                            Some("put the vlan in its link's namespace (the kernel looks the link up there)".into()),
                        ));
                    }
                }
                ParentKind::Bridge { ports, ports_span } if !ports.is_empty() => {
                    if let (Some(ns), Some(at)) = (&p.namespace, &raw.namespace) {
                        problems.push(
                            Problem::new(
                                Code::CheckBridgePort,
                                format!(
                                    "bridge {:?} has ports and is in namespace {:?}",
                                    p.name.as_str(),
                                    ns.as_str()
                                ),
                                ports_span.0.clone(),
                                "ports".into(),
                                Some("a bridge with ports lives in mvtopo's own namespace: drop `namespace` or `ports`".into()),
                            )
                            .with_label(at.span.clone(), "namespace here"),
                        );
                    }
                }
                _ => {}
            }
        }
        self.problems.extend(problems);
    }

    pub(super) fn mtu(&mut self, at: &At<i64>) -> Option<u32> {
        if (MTU_MIN..=MTU_MAX).contains(&at.value) {
            return u32::try_from(at.value).ok();
        }
        self.push(Problem::new(
            Code::CheckMtu,
            format!("mtu {} is outside {MTU_MIN}..={MTU_MAX}", at.value),
            at.span.clone(),
            "MTU out of range".into(),
            Some(format!(
                "use an MTU from {MTU_MIN} to {MTU_MAX}, e.g. mtu = 1500"
            )),
        ));
        None
    }
}

/// Where a parent without `mtu` gets the MTU a check compared against.
pub(super) fn implied_mtu_label(p: &RawParent, mtu: u32) -> String {
    match p.create.as_ref().map(|c| c.value.as_str()) {
        Some("vlan") => format!("no mtu here: {mtu}, inherited from its link"),
        _ => format!("no mtu here: created with {mtu}"),
    }
}
