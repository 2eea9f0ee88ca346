//! Turning the file as written (`load::raw`) into a validated `model::Topology`: every rule of
//! the topology contract is checked here, defaults are filled in, and the result is put into
//! its normal form (macvlans sorted by (namespace, name), source MACs sorted and deduplicated).

mod text;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::Range;

use crate::load::problem::{Problem, did_you_mean, one_of};
use crate::load::raw::{At, RawMacvlan, RawParent, RawRoute, RawTopology};
use crate::model::{Macvlan, Namespace, Parent, ParentKind, Route, Span, Topology};
use crate::names::{Cidr, LinkName, MacAddr, Mode, NsName, ValueError};

use text::{ns_phrase, shorten_link_name, shorten_topology_name};

const MTU_MIN: i64 = 68;
const MTU_MAX: i64 = 65535;
/// The MTU the kernel gives a veth or dummy created without one.
const DEFAULT_MTU: u32 = 1500;
const TOPOLOGY_NAME_MAX: usize = 64;
/// The longest namespace name: it is a file name under /run/netns and /run/mvtopo/netns
/// (NAME_MAX is 255 bytes), with room to spare.
const NS_NAME_MAX: usize = 200;

pub const CREATE_KINDS: [&str; 3] = ["veth", "dummy", "vlan"];

/// Validates the file as written and builds the topology, or returns every problem found.
/// `default_name` is the topology name when the file has none (the file's stem).
pub fn resolve(raw: &RawTopology, default_name: &str) -> Result<Topology, Vec<Problem>> {
    let mut r = Resolver {
        raw,
        problems: Vec::new(),
        namespace_spans: HashMap::new(),
        parent_index: HashMap::new(),
    };
    let name = r.topology_name(default_name);
    let namespaces = r.namespaces();
    for (i, p) in raw.parents.iter().enumerate() {
        r.parent_index.entry(p.name.value.as_str()).or_insert(i);
    }
    let parents: Vec<Option<Parent>> = raw.parents.iter().map(|p| r.parent(p)).collect();
    r.vlan_mtus(&parents);
    let mtus = r.declared_mtus(&parents);
    let macvlans: Vec<Option<Macvlan>> = raw
        .macvlans
        .iter()
        .map(|m| r.macvlan(m, &parents, &mtus))
        .collect();
    let views = r.views();
    r.duplicate_names(&views);
    r.per_parent_rules(&views);
    r.per_namespace_rules(&views);

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
                "mvtopo::check::internal",
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
    /// Every declared parent key → its index in `raw.parents`.
    parent_index: HashMap<&'r str, usize>,
}

impl<'r> Resolver<'r> {
    fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    fn topology_name(&mut self, default_name: &str) -> Option<String> {
        let (value, span) = match &self.raw.name {
            Some(n) => (n.value.as_str(), Some(n.span.clone())),
            None => (default_name, None),
        };
        let bad = value.len() > TOPOLOGY_NAME_MAX
            || value.is_empty()
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
        if !bad {
            return Some(value.to_owned());
        }
        let why = if value.is_empty() {
            "is empty".to_owned()
        } else if value.len() > TOPOLOGY_NAME_MAX {
            format!(
                "is {} bytes long (at most {TOPOLOGY_NAME_MAX})",
                value.len()
            )
        } else {
            "may only contain letters, digits, \".\", \"_\" and \"-\"".to_owned()
        };
        let suggestion = shorten_topology_name(value);
        match span {
            Some(span) => self.push(Problem::new(
                "mvtopo::check::topology-name",
                format!("topology name {value:?} {why}"),
                span,
                "invalid topology name".into(),
                Some(format!(
                    "the name goes into each interface's alias (mvtopo:NAME); write e.g. name = {suggestion:?}"
                )),
            )),
            None => self.push(Problem::new(
                "mvtopo::check::topology-name",
                format!("topology name {value:?} (from the file name) {why}"),
                0..0,
                "no `name` in this file".into(),
                Some(format!(
                    "add a first line such as name = {suggestion:?} (the name goes into each interface's alias)"
                )),
            )),
        }
        None
    }

    fn namespaces(&mut self) -> BTreeMap<NsName, Namespace> {
        let mut out = BTreeMap::new();
        for ns in &self.raw.namespaces {
            self.namespace_spans
                .insert(ns.name.value.as_str(), ns.name.span.clone());
            if let Some(name) = self.ns_name(&ns.name) {
                out.insert(
                    name.clone(),
                    Namespace {
                        name,
                        span: Span(ns.span.clone()),
                    },
                );
            }
        }
        // A veth's `peer-namespace` declares its namespace implicitly when no
        // [namespace.*] does: the spec's own example writes `peer-namespace = "switch"`
        // without a [namespace.switch], and that example must stay valid. The namespace is
        // then created (and owned) like any declared one, and shows in the plan.
        for p in &self.raw.parents {
            let Some(at) = &p.peer_namespace else {
                continue;
            };
            if self.namespace_spans.contains_key(at.value.as_str()) {
                continue;
            }
            self.namespace_spans
                .insert(at.value.as_str(), at.span.clone());
            if let Some(name) = self.ns_name(at) {
                out.insert(
                    name.clone(),
                    Namespace {
                        name,
                        span: Span(at.span.clone()),
                    },
                );
            }
        }
        out
    }

    fn ns_name(&mut self, at: &At<String>) -> Option<NsName> {
        // The name is a file name twice over (/run/netns/NAME and the ownership marker):
        // the bound leaves room under the 255-byte limit for what mvtopo puts around it.
        if at.value.len() > NS_NAME_MAX {
            self.push(Problem::new(
                "mvtopo::check::namespace-name",
                format!(
                    "namespace name is {} bytes long; mvtopo allows at most {NS_NAME_MAX}",
                    at.value.len()
                ),
                at.span.clone(),
                "namespace name too long".into(),
                Some(format!(
                    "a namespace is a file under /run/netns: use a name of at most {NS_NAME_MAX} bytes"
                )),
            ));
            return None;
        }
        match NsName::new(&at.value) {
            Ok(n) => Some(n),
            Err(e) => {
                let why = match e {
                    ValueError::Empty => "is empty".to_owned(),
                    ValueError::BadChar(c) => format!("contains {c:?}"),
                    _ => "is a directory reference".to_owned(),
                };
                let suggestion = text::plain_file_name(&at.value);
                self.push(Problem::new(
                    "mvtopo::check::namespace-name",
                    format!("namespace name {:?} {why}", at.value),
                    at.span.clone(),
                    "invalid namespace name".into(),
                    Some(format!(
                        "a namespace is a file under /run/netns: use a plain name, e.g. {suggestion:?}"
                    )),
                ));
                None
            }
        }
    }

    /// Validates an interface name written in the file.
    fn link_name(&mut self, at: &At<String>) -> Option<LinkName> {
        // The kernel reads a name with '%' as a template ("mv%d" becomes mv0, mv1, ...): the
        // link would get a name other than the file's, and nothing could find it again.
        if at.value.contains('%') {
            self.push(Problem::new(
                "mvtopo::check::interface-name",
                format!(
                    "interface name {:?} contains '%', which the kernel treats as a template for a name it picks",
                    at.value
                ),
                at.span.clone(),
                "invalid interface name".into(),
                Some(format!(
                    "use the exact name the interface should have, e.g. {:?}",
                    shorten_link_name(&at.value)
                )),
            ));
            return None;
        }
        match LinkName::new(&at.value) {
            Ok(n) => Some(n),
            Err(e) => {
                let v = &at.value;
                let message = match &e {
                    ValueError::TooLong(n) => format!(
                        "interface name {v:?} is {n} bytes long; the kernel allows at most 15"
                    ),
                    ValueError::BadChar(c) => format!(
                        "interface name {v:?} contains {c:?}, which the kernel does not allow"
                    ),
                    ValueError::Empty => "interface name is empty".to_owned(),
                    ValueError::Dot => format!("{v:?} is not a valid interface name"),
                    other => other.to_string(),
                };
                let help = match e {
                    ValueError::TooLong(_) => {
                        format!("use at most 15 bytes, e.g. {:?}", shorten_link_name(v))
                    }
                    _ => format!(
                        "use 1 to 15 bytes without \"/\", \":\" or spaces, e.g. {:?}",
                        shorten_link_name(v)
                    ),
                };
                self.push(Problem::new(
                    "mvtopo::check::interface-name",
                    message,
                    at.span.clone(),
                    "invalid interface name".into(),
                    Some(help),
                ));
                None
            }
        }
    }

    /// A reference to a `[namespace.*]` key; `None` if it is not declared (reported).
    fn ns_ref(&mut self, at: &At<String>, what: &str) -> Option<NsName> {
        if !self.namespace_spans.contains_key(at.value.as_str()) {
            let raw = self.raw;
            let declared = raw.namespaces.iter().map(|n| n.name.value.as_str());
            self.unknown_ref(at, what, "namespace", declared.collect());
            return None;
        }
        // Declared: an invalid name was already reported at its declaration.
        NsName::new(&at.value).ok()
    }

    /// Report a reference to an undeclared `[TABLE.*]` key, with a did-you-mean or the
    /// declared keys to choose from.
    fn unknown_ref(&mut self, at: &At<String>, what: &str, table: &str, declared: Vec<&str>) {
        let help = match did_you_mean(&at.value, declared.iter().copied()) {
            Some(s) => format!("did you mean {s:?}?"),
            None => format!(
                "declare it with a [{table}.{}] section{}",
                text::toml_key(&at.value),
                if declared.is_empty() {
                    String::new()
                } else {
                    format!(", or use {}", one_of(declared.iter().copied()))
                }
            ),
        };
        self.push(Problem::new(
            if table == "namespace" {
                "mvtopo::check::unknown-namespace"
            } else {
                "mvtopo::check::unknown-parent"
            },
            format!("{what} {:?} is not a declared {table}", at.value),
            at.span.clone(),
            format!("no [{table}.*] with this name"),
            Some(help),
        ));
    }

    /// A reference to a `[parent.*]` key; `None` if it is not declared (reported).
    fn parent_ref(&mut self, at: &At<String>, what: &str) -> Option<(usize, LinkName)> {
        let Some(&i) = self.parent_index.get(at.value.as_str()) else {
            let raw = self.raw;
            let declared = raw.parents.iter().map(|p| p.name.value.as_str());
            self.unknown_ref(at, what, "parent", declared.collect());
            return None;
        };
        LinkName::new(&at.value).ok().map(|n| (i, n))
    }

    fn mtu(&mut self, at: &At<i64>) -> Option<u32> {
        if (MTU_MIN..=MTU_MAX).contains(&at.value) {
            return u32::try_from(at.value).ok();
        }
        self.push(Problem::new(
            "mvtopo::check::mtu",
            format!("mtu {} is outside {MTU_MIN}..={MTU_MAX}", at.value),
            at.span.clone(),
            "MTU out of range".into(),
            Some(format!(
                "use an MTU from {MTU_MIN} to {MTU_MAX}, e.g. mtu = 1500"
            )),
        ));
        None
    }

    fn missing(&mut self, span: Range<usize>, what: &str, key: &str, add: String) {
        self.push(Problem::new(
            "mvtopo::check::missing-key",
            format!("{what} has no `{key}`"),
            span,
            format!("`{key}` missing"),
            Some(format!("add {add}")),
        ));
    }

    fn parent(&mut self, p: &'r RawParent) -> Option<Parent> {
        let header = format!("[parent.{}]", text::toml_key(&p.name.value));
        let name = self.link_name(&p.name);
        let mtu = p.mtu.as_ref().and_then(|m| self.mtu(m));
        let create = match &p.create {
            None => Some(None),
            Some(c) => match c.value.as_str() {
                k @ ("veth" | "dummy" | "vlan") => Some(Some(k)),
                other => {
                    let help = match did_you_mean(other, CREATE_KINDS) {
                        Some(s) => format!("did you mean {s:?}?"),
                        None => format!(
                            "use {}, or remove `create` for an interface that already exists",
                            one_of(CREATE_KINDS)
                        ),
                    };
                    self.push(Problem::new(
                        "mvtopo::check::create",
                        format!("unknown create kind {other:?}"),
                        c.span.clone(),
                        "not veth, dummy or vlan".into(),
                        Some(help),
                    ));
                    None
                }
            },
        };
        // With an unknown kind, which keys belong is anyone's guess: only the kind is reported.
        let create = create?;
        for key in &p.keys {
            let needs = match key.value {
                "peer" | "peer-namespace" => "veth",
                "link" | "vlan-id" => "vlan",
                _ => continue,
            };
            if create != Some(needs) {
                let now = match create {
                    Some(k) => format!("{header} is a {k}"),
                    None => format!("{header} has no `create`: an existing interface"),
                };
                self.push(Problem::new(
                    "mvtopo::check::key-not-allowed",
                    format!("`{}` only applies to create = \"{needs}\"", key.value),
                    key.span.clone(),
                    now,
                    Some(format!("remove this line, or set create = \"{needs}\"")),
                ));
            }
        }
        let kind = match create {
            None => ParentKind::Existing,
            Some("dummy") => ParentKind::Dummy,
            Some("veth") => {
                let peer = match &p.peer {
                    Some(at) => self.link_name(at),
                    None => {
                        let default = format!("{}p", p.name.value);
                        if name.is_some() && default.len() > crate::names::MAX_LINK_NAME {
                            self.push(Problem::new(
                                "mvtopo::check::interface-name",
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
                ParentKind::Veth {
                    peer,
                    peer_namespace,
                    peer_namespace_span: Span(span),
                }
            }
            _ => {
                let link = match &p.link {
                    Some(at) => {
                        if at.value == p.name.value {
                            self.push(Problem::new(
                                "mvtopo::check::vlan-link",
                                format!("vlan {:?} cannot sit on itself", at.value),
                                at.span.clone(),
                                "the vlan's own name".into(),
                                Some("set link to the [parent.*] this vlan sits on, e.g. link = \"eth1\"".into()),
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
                            "mvtopo::check::vlan-id",
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
                ParentKind::Vlan {
                    link,
                    vlan_id,
                    link_span: Span(link_span),
                }
            }
        };
        if p.mtu.is_some() && mtu.is_none() {
            return None;
        }
        Some(Parent {
            name: name?,
            kind,
            mtu,
            span: Span(p.span.clone()),
        })
    }

    /// The MTU each parent will have as far as the file says: its own `mtu`, 1500 for a
    /// created veth or dummy, its link's for a vlan without one, unknown for an existing NIC.
    fn declared_mtus(&self, parents: &[Option<Parent>]) -> Vec<Option<u32>> {
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
    fn vlan_mtus(&mut self, parents: &[Option<Parent>]) {
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
                    "mvtopo::check::mtu",
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

    fn macvlan(
        &mut self,
        m: &'r RawMacvlan,
        parents: &[Option<Parent>],
        mtus: &[Option<u32>],
    ) -> Option<Macvlan> {
        let name = match &m.name {
            Some(at) => self.link_name(at),
            None => {
                if !m.broken.contains(&"name") {
                    self.missing(
                        m.span.clone(),
                        "[[macvlan]]",
                        "name",
                        "name = \"mv0\" (at most 15 bytes)".into(),
                    );
                }
                None
            }
        };
        let parent = match &m.parent {
            Some(at) => self.parent_ref(at, "parent"),
            None => {
                if !m.broken.contains(&"parent") {
                    let example = self
                        .raw
                        .parents
                        .first()
                        .map_or("eth1", |p| p.name.value.as_str());
                    self.missing(
                        m.span.clone(),
                        "[[macvlan]]",
                        "parent",
                        format!("parent = {example:?} (a [parent.*] key)"),
                    );
                }
                None
            }
        };
        let namespace = match &m.namespace {
            Some(at) => self.ns_ref(at, "namespace").map(Some),
            None => Some(None),
        };
        let mode = match &m.mode {
            None => Some(Mode::default()),
            Some(at) => match at.value.parse::<Mode>() {
                Ok(mode) => Some(mode),
                Err(_) => {
                    let names = Mode::ALL.map(|m| m.as_str());
                    let help = match did_you_mean(&at.value, names) {
                        Some(s) => format!("did you mean {s:?}?"),
                        None => format!("use {}", one_of(names)),
                    };
                    self.push(Problem::new(
                        "mvtopo::check::mode",
                        format!("unknown macvlan mode {:?}", at.value),
                        at.span.clone(),
                        "not a macvlan mode".into(),
                        Some(help),
                    ));
                    None
                }
            },
        };
        let mac = match &m.mac {
            Some(at) => self.own_mac(at).map(Some),
            None => Some(None),
        };
        let mtu = match &m.mtu {
            None => Some(None),
            Some(at) => {
                let mtu = self.mtu(at)?;
                if let Some((pi, pname)) = &parent {
                    if let (Some(limit), Some(_)) = (mtus[*pi], &parents[*pi]) {
                        if mtu > limit {
                            let praw = &self.raw.parents[*pi];
                            let mut problem = Problem::new(
                                "mvtopo::check::mtu",
                                format!(
                                    "mtu {mtu} is above the mtu of parent {:?} ({limit})",
                                    pname.as_str()
                                ),
                                at.span.clone(),
                                format!("above {limit}"),
                                Some(format!(
                                    "use mtu = {limit} or less, or raise the mtu of [parent.{}]",
                                    text::toml_key(pname.as_str())
                                )),
                            );
                            problem = match &praw.mtu {
                                Some(pm) => problem.with_label(pm.span.clone(), "the parent's mtu"),
                                None => problem.with_label(
                                    praw.name.span.clone(),
                                    implied_mtu_label(praw, limit),
                                ),
                            };
                            self.push(problem);
                            return None;
                        }
                    }
                }
                Some(Some(mtu))
            }
        };
        let up = m.up.as_ref().is_none_or(|u| u.value);
        // The kernel keeps no route on a link that is down: it refuses to add one ("nexthop
        // device is not up") and flushes them when the link goes down. A file asking for
        // both can never be applied, so it is invalid here rather than at apply time.
        let mut routes_on_down = false;
        if let (Some(u), Some(r)) = (&m.up, &m.routes)
            && !u.value
            && !r.value.is_empty()
        {
            routes_on_down = true;
            self.push(
                Problem::new(
                    "mvtopo::check::routes-on-down-link",
                    "routes on a macvlan with up = false".to_owned(),
                    r.span.clone(),
                    "routes here".into(),
                    Some(
                        "the kernel keeps no route on a link that is down: remove `routes`, or set up = true"
                            .into(),
                    ),
                )
                .with_label(u.span.clone(), "the link is down"),
            );
        }
        let (addresses, addresses_ok) = self.addresses(m);
        // A gateway may lie in a prefix that failed to parse: only judge reachability when
        // every address is known.
        let routes = self.routes(m, addresses_ok.then_some(addresses.as_slice()));
        let addresses = addresses_ok.then_some(addresses);
        let source_macs = self.source_macs(m, mode);

        if routes_on_down {
            return None;
        }
        Some(Macvlan {
            name: name?,
            parent: parent?.1,
            namespace: namespace?,
            mode: mode?,
            mac: mac?,
            mtu: mtu?,
            up,
            addresses: addresses?.into_iter().map(|a| a.value).collect(),
            routes: routes?,
            source_macs: source_macs?,
            span: Span(m.span.clone()),
        })
    }

    /// A MAC an interface may carry: well formed, unicast, not all zero.
    fn mac(&mut self, at: &At<String>, what: &str) -> Option<MacAddr> {
        let Ok(mac) = at.value.parse::<MacAddr>() else {
            self.push(Problem::new(
                "mvtopo::check::mac",
                format!("{:?} is not a MAC address", at.value),
                at.span.clone(),
                "malformed MAC".into(),
                Some("write six hex octets separated by \":\", e.g. \"02:00:00:00:00:01\"".into()),
            ));
            return None;
        };
        if mac.is_multicast() {
            let mut fixed = mac;
            // Clear the group bit and set the locally administered one.
            fixed.0[0] = (fixed.0[0] & 0xfe) | 0x02;
            self.push(Problem::new(
                "mvtopo::check::mac",
                format!("{what} {mac} is a multicast address"),
                at.span.clone(),
                "multicast MAC (first octet is odd)".into(),
                Some(format!(
                    "use a unicast MAC: the first octet must be even, e.g. \"{fixed}\""
                )),
            ));
            return None;
        }
        if mac.is_zero() {
            self.push(Problem::new(
                "mvtopo::check::mac",
                format!("{what} 00:00:00:00:00:00 is not a usable address"),
                at.span.clone(),
                "all-zero MAC".into(),
                Some("use a unicast MAC such as \"02:00:00:00:00:01\"".into()),
            ));
            return None;
        }
        Some(mac)
    }

    fn own_mac(&mut self, at: &At<String>) -> Option<MacAddr> {
        let mac = self.mac(at, "mac");
        if mac.is_none() && at.value.parse::<MacAddr>().is_ok() {
            // Say that leaving it out is also an option for the interface's own MAC.
            if let Some(h) = self.problems.last_mut().and_then(|p| p.help.as_mut()) {
                h.push_str(", or remove `mac` to let the kernel pick one");
            }
        }
        mac
    }

    fn addresses(&mut self, m: &RawMacvlan) -> (Vec<At<Cidr>>, bool) {
        let Some(list) = &m.addresses else {
            return (Vec::new(), !m.broken.contains(&"addresses"));
        };
        let mut ok = true;
        let mut out = Vec::with_capacity(list.value.len());
        for at in &list.value {
            match self.cidr(at, "address") {
                Some(c) => out.push(At::new(c, at.span.clone())),
                None => ok = false,
            }
        }
        (out, ok && !m.broken.contains(&"addresses"))
    }

    fn cidr(&mut self, at: &At<String>, what: &str) -> Option<Cidr> {
        match at.value.parse::<Cidr>() {
            Ok(c) => Some(c),
            Err(e) => {
                let (message, help) = match e {
                    ValueError::PrefixTooLong(p) => (
                        format!("prefix length /{p} is too long in {what} {:?}", at.value),
                        format!(
                            "use at most /{}",
                            if at.value.contains(':') { 128 } else { 32 }
                        ),
                    ),
                    _ => match at.value.parse::<IpAddr>() {
                        Ok(ip) => (
                            format!("{what} {:?} has no prefix length", at.value),
                            format!(
                                "add the prefix length, e.g. \"{ip}/{}\"",
                                if ip.is_ipv4() { 24 } else { 64 }
                            ),
                        ),
                        Err(_) => (
                            format!(
                                "{what} {:?} is not an IP address with prefix length",
                                at.value
                            ),
                            "write e.g. \"10.0.0.2/24\" or \"fd00::2/64\"".into(),
                        ),
                    },
                };
                self.push(Problem::new(
                    "mvtopo::check::cidr",
                    message,
                    at.span.clone(),
                    "malformed address".into(),
                    Some(help),
                ));
                None
            }
        }
    }

    fn routes(&mut self, m: &RawMacvlan, addresses: Option<&[At<Cidr>]>) -> Option<Vec<Route>> {
        let Some(list) = &m.routes else {
            return Some(Vec::new());
        };
        let mut ok = !m.broken.contains(&"routes");
        let mut out = Vec::with_capacity(list.value.len());
        for r in &list.value {
            match self.route(r, addresses) {
                Some(route) => out.push(route),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn route(&mut self, r: &RawRoute, addresses: Option<&[At<Cidr>]>) -> Option<Route> {
        let via = match &r.via {
            None => Some(None),
            Some(at) => match at.value.parse::<IpAddr>() {
                Ok(ip) => Some(Some(ip)),
                Err(_) => {
                    let help = match at.value.parse::<Cidr>() {
                        Ok(c) => format!(
                            "write the gateway without prefix length: via = \"{}\"",
                            c.addr
                        ),
                        Err(_) => "write the gateway's address, e.g. via = \"10.0.0.1\"".into(),
                    };
                    self.push(Problem::new(
                        "mvtopo::check::route",
                        format!("gateway {:?} is not an IP address", at.value),
                        at.span.clone(),
                        "not an IP address".into(),
                        Some(help),
                    ));
                    None
                }
            },
        };
        let to_at = match &r.to {
            Some(at) => at,
            None => {
                if !r.broken.contains(&"to") {
                    self.missing(
                        r.span.clone(),
                        "this route",
                        "to",
                        "to = \"default\" or a network such as to = \"10.1.0.0/16\"".into(),
                    );
                }
                return None;
            }
        };
        let via = via?;
        let to = if to_at.value == "default" {
            let Some(gw) = via else {
                if r.broken.contains(&"via") {
                    return None;
                }
                self.push(Problem::new(
                    "mvtopo::check::route",
                    "a default route needs a gateway".into(),
                    r.span.clone(),
                    "no `via`".into(),
                    Some("add the router's address on this link, e.g. via = \"10.0.0.1\"".into()),
                ));
                return None;
            };
            Cidr::default_for(&gw)
        } else {
            let to = self.cidr(to_at, "route destination")?;
            if to.network() != to {
                self.push(Problem::new(
                    "mvtopo::check::route",
                    format!("route destination {to} has host bits set"),
                    to_at.span.clone(),
                    "not a network address".into(),
                    Some(format!("write the network, e.g. to = \"{}\"", to.network())),
                ));
                return None;
            }
            to
        };
        if let (Some(gw), Some(via_at)) = (via, &r.via) {
            if gw.is_ipv4() != to.is_ipv4() {
                self.push(Problem::new(
                    "mvtopo::check::route",
                    format!(
                        "route to {to} (IPv{}) has a gateway of the other family",
                        if to.is_ipv4() { 4 } else { 6 }
                    ),
                    via_at.span.clone(),
                    format!("an IPv{} address", if gw.is_ipv4() { 4 } else { 6 }),
                    Some(format!(
                        "use an IPv{} gateway for this destination",
                        if to.is_ipv4() { 4 } else { 6 }
                    )),
                ));
                return None;
            }
            let link_local = Cidr {
                addr: gw,
                prefix: 128,
            }
            .is_link_local()
                && !gw.is_ipv4();
            // An IPv6 link-local gateway is reachable on any link; everything else must be
            // inside one of the macvlan's own prefixes, or the kernel refuses the route.
            // Unknown addresses (already reported): reachability cannot be judged.
            let addresses = addresses?;
            if !link_local && !addresses.iter().any(|a| a.value.contains(&gw)) {
                let same: Vec<String> = addresses
                    .iter()
                    .filter(|a| a.value.is_ipv4() == gw.is_ipv4())
                    .map(|a| a.value.to_string())
                    .collect();
                let help = if same.is_empty() {
                    format!(
                        "add an address in {gw}'s network to this macvlan's addresses, or route onto the link without `via`"
                    )
                } else {
                    format!(
                        "use a gateway inside {}, or add an address in {gw}'s network to addresses",
                        one_of(same.iter().map(String::as_str))
                    )
                };
                self.push(Problem::new(
                    "mvtopo::check::gateway",
                    format!("gateway {gw} is not reachable through this macvlan's addresses"),
                    via_at.span.clone(),
                    "outside every address prefix of this macvlan".into(),
                    Some(help),
                ));
                return None;
            }
        }
        Some(Route::new(to, via, None))
    }

    fn source_macs(&mut self, m: &RawMacvlan, mode: Option<Mode>) -> Option<Vec<MacAddr>> {
        let broken = m.broken.contains(&"source-macs");
        match (&m.source_macs, mode) {
            (None, Some(Mode::Source)) if broken => None,
            (None, Some(Mode::Source)) => {
                let span = m.mode.as_ref().map_or(m.span.clone(), |a| a.span.clone());
                self.push(Problem::new(
                    "mvtopo::check::source-macs",
                    "mode \"source\" needs `source-macs`".into(),
                    span,
                    "no source-macs".into(),
                    Some("add the MACs this macvlan accepts frames from, e.g. source-macs = [\"02:00:00:00:00:aa\"]".into()),
                ));
                None
            }
            (None, _) => Some(Vec::new()),
            (Some(list), Some(Mode::Source)) => {
                if list.value.is_empty() && !broken {
                    self.push(Problem::new(
                        "mvtopo::check::source-macs",
                        "`source-macs` is empty; a source macvlan would receive nothing".into(),
                        list.span.clone(),
                        "empty list".into(),
                        Some("list the MACs this macvlan accepts frames from, e.g. source-macs = [\"02:00:00:00:00:aa\"]".into()),
                    ));
                    return None;
                }
                let mut ok = !broken;
                let mut seen: HashMap<MacAddr, Range<usize>> = HashMap::new();
                for at in &list.value {
                    let Some(mac) = self.mac(at, "source MAC") else {
                        ok = false;
                        continue;
                    };
                    if let Some(first) = seen.get(&mac) {
                        self.push(
                            Problem::new(
                                "mvtopo::check::duplicate-mac",
                                format!("{mac} is listed twice in source-macs"),
                                at.span.clone(),
                                "listed again".into(),
                                Some("remove the repeated entry".into()),
                            )
                            .with_label(first.clone(), "first listed here"),
                        );
                        ok = false;
                    } else {
                        seen.insert(mac, at.span.clone());
                    }
                }
                let mut macs: Vec<MacAddr> = seen.into_keys().collect();
                macs.sort();
                ok.then_some(macs)
            }
            (Some(list), Some(other)) => {
                self.push(Problem::new(
                    "mvtopo::check::source-macs",
                    format!(
                        "`source-macs` only applies to mode \"source\"; this macvlan is {other}"
                    ),
                    list.span.clone(),
                    "only for mode = \"source\"".into(),
                    Some("remove source-macs, or set mode = \"source\"".into()),
                ));
                None
            }
            // Unknown mode: already reported.
            (Some(_), None) => None,
        }
    }

    /// What can be known about each macvlan even when some of its values are invalid, so
    /// the rules across macvlans still run on the parts that are fine. Silent: the invalid
    /// values were reported by `macvlan`.
    fn views(&self) -> Vec<View> {
        self.raw
            .macvlans
            .iter()
            .map(|m| {
                let valid_ns = |at: &At<String>| {
                    self.namespace_spans
                        .contains_key(at.value.as_str())
                        .then(|| NsName::new(&at.value).ok())
                        .flatten()
                };
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
                    .filter_map(|at| Some((at.value.parse::<Cidr>().ok()?.addr, at.span.clone())))
                    .collect();
                let routes = m
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
                        Some((to, r.span.clone()))
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
    fn duplicate_names(&mut self, views: &[View]) {
        struct Entry {
            ns: Option<NsName>,
            name: LinkName,
            span: Range<usize>,
            label: String,
            /// For a veth peer: what to write instead.
            peer_help: Option<String>,
        }
        let mut entries: Vec<Entry> = Vec::new();
        for raw in &self.raw.parents {
            let Ok(name) = LinkName::new(&raw.name.value) else {
                continue;
            };
            if raw.create.as_ref().is_some_and(|c| c.value == "veth") {
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
                if let (Some(ns), Ok(peer)) = (peer_ns, LinkName::new(&peer)) {
                    let other = shorten_link_name(&format!("{name}-peer"));
                    entries.push(Entry {
                        ns,
                        name: peer,
                        span,
                        label,
                        peer_help: Some(format!(
                            "set a different peer under [parent.{}], e.g. peer = {other:?}",
                            text::toml_key(name.as_str()),
                        )),
                    });
                }
            }
            entries.push(Entry {
                ns: None,
                name,
                span: raw.name.span.clone(),
                label: "parent".into(),
                peer_help: None,
            });
        }
        for v in views {
            if let (Some(name), Some(ns)) = (&v.name, &v.namespace) {
                entries.push(Entry {
                    ns: ns.clone(),
                    name: name.clone(),
                    span: v.name_span.clone(),
                    label: "macvlan".into(),
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
                    "mvtopo::check::duplicate-name",
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

    /// Passthru exclusivity and MAC uniqueness, both per parent.
    fn per_parent_rules(&mut self, views: &[View]) {
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
                            "mvtopo::check::passthru",
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
                            "mvtopo::check::duplicate-mac",
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
    fn per_namespace_rules(&mut self, views: &[View]) {
        let mut addresses: HashMap<(&Option<NsName>, IpAddr), Range<usize>> = HashMap::new();
        let mut routes: HashMap<(&Option<NsName>, Cidr), Range<usize>> = HashMap::new();
        for v in views {
            let Some(ns) = &v.namespace else { continue };
            for (addr, span) in &v.addresses {
                match addresses.get(&(ns, *addr)) {
                    Some(first) => self.problems.push(
                        Problem::new(
                            "mvtopo::check::duplicate-address",
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
            for (to, span) in &v.routes {
                match routes.get(&(ns, *to)) {
                    Some(first) => self.problems.push(
                        Problem::new(
                            "mvtopo::check::duplicate-route",
                            format!("two routes to {to} in {}", ns_phrase(ns.as_ref())),
                            span.clone(),
                            "same destination again".into(),
                            Some("keep one route per destination in a namespace".into()),
                        )
                        .with_label(first.clone(), "first route here"),
                    ),
                    None => {
                        routes.insert((ns, *to), span.clone());
                    }
                }
            }
        }
    }
}

/// The parts of one macvlan that are valid, for rules that span macvlans.
struct View {
    name: Option<LinkName>,
    name_span: Range<usize>,
    /// `None`: unknown or invalid; `Some(None)`: mvtopo's own namespace.
    namespace: Option<Option<NsName>>,
    parent: Option<LinkName>,
    mode: Option<Mode>,
    mac: Option<(MacAddr, Range<usize>)>,
    addresses: Vec<(IpAddr, Range<usize>)>,
    routes: Vec<(Cidr, Range<usize>)>,
}

/// Where a parent without `mtu` gets the MTU a check compared against.
fn implied_mtu_label(p: &RawParent, mtu: u32) -> String {
    match p.create.as_ref().map(|c| c.value.as_str()) {
        Some("vlan") => format!("no mtu here: {mtu}, inherited from its link"),
        _ => format!("no mtu here: created with {mtu}"),
    }
}
