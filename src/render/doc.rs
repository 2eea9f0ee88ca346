//! The topology file as a printable document: one shape for the file, its live counterpart
//! and `show`, so all three print byte for byte the same way and a line diff shows only drift.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::apply::state::{DEFAULT_BC_CUTOFF, DEFAULT_BC_QUEUE_LEN};
use crate::diff;
use crate::live::{LinkKind, LinkRef, LiveLink, LiveState};
use crate::model::{Macvlan, Parent, ParentKind, Route, Topology};
use crate::names::{Cidr, LinkName, MacAddr, MacvlanFlag, MacvlanKind, Mode, NsName};

/// A whole file. `None` and empty fields are not written.
#[derive(Debug, Default)]
pub(crate) struct Doc {
    pub name: Option<String>,
    pub namespaces: Vec<NsName>,
    pub parents: Vec<ParentDoc>,
    pub macvlans: Vec<MacvlanDoc>,
}

/// A `[parent.NAME]` table. `create` and `link` are strings rather than typed values because
/// the live counterpart must be able to show what the kernel has even when no valid file could
/// say it (an owned link of a kind the file cannot create, a lower link in another namespace).
#[derive(Debug)]
pub(crate) struct ParentDoc {
    pub name: LinkName,
    pub namespace: Option<NsName>,
    pub create: Option<String>,
    pub peer: Option<LinkName>,
    pub peer_namespace: Option<NsName>,
    pub link: Option<String>,
    pub vlan_id: Option<u16>,
    pub mtu: Option<u32>,
    /// A bridge's ports.
    pub ports: Vec<LinkName>,
}

impl ParentDoc {
    fn existing(at: LinkRef) -> ParentDoc {
        ParentDoc {
            name: at.name,
            namespace: at.namespace,
            create: None,
            peer: None,
            peer_namespace: None,
            link: None,
            vlan_id: None,
            mtu: None,
            ports: Vec::new(),
        }
    }
}

/// A `[[macvlan]]` entry.
#[derive(Debug)]
pub(crate) struct MacvlanDoc {
    pub name: LinkName,
    pub parent: Option<String>,
    pub namespace: Option<NsName>,
    pub mode: Option<Mode>,
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    pub up: Option<bool>,
    pub addresses: Vec<Cidr>,
    pub routes: Vec<Route>,
    pub source_macs: Vec<MacAddr>,
    /// Written for a macvtap only: a macvlan is the default.
    pub kind: MacvlanKind,
    pub flags: Vec<MacvlanFlag>,
    pub bcqueuelen: Option<u32>,
    pub bc_cutoff: Option<i32>,
}

/// A TOML basic string. Escapes what TOML requires (quote, backslash, control characters),
/// so any name the kernel or the user may hold survives a round trip.
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_string(&mut out, s);
    out
}

/// `string`, appended to `out`.
pub(crate) fn push_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // All of these are below U+00A0, so four hex digits always suffice.
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A TOML key: bare when TOML allows it, quoted otherwise (`"eth1.10"`: a bare dot would
/// split the key in two).
pub(crate) fn key(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        s.to_owned()
    } else {
        string(s)
    }
}

fn route_inline(r: &Route) -> String {
    let mut s = format!("{{ to = {}", string(&r.destination()));
    if let Some(via) = r.via {
        s.push_str(&format!(", via = {}", string(&via.to_string())));
    }
    if let Some(m) = r.metric {
        s.push_str(&format!(", metric = {m}"));
    }
    s.push_str(" }");
    s
}

fn array<T>(items: &[T], item: impl Fn(&T) -> String) -> String {
    let inner: Vec<String> = items.iter().map(item).collect();
    format!("[{}]", inner.join(", "))
}

impl ParentDoc {
    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "[parent.{}]", key(self.name.as_str()));
        if let Some(ns) = &self.namespace {
            let _ = writeln!(out, "namespace = {}", string(ns.as_str()));
        }
        if let Some(c) = &self.create {
            let _ = writeln!(out, "create = {}", string(c));
        }
        if let Some(p) = &self.peer {
            let _ = writeln!(out, "peer = {}", string(p.as_str()));
        }
        if let Some(ns) = &self.peer_namespace {
            let _ = writeln!(out, "peer-namespace = {}", string(ns.as_str()));
        }
        if let Some(l) = &self.link {
            let _ = writeln!(out, "link = {}", string(l));
        }
        if let Some(id) = self.vlan_id {
            let _ = writeln!(out, "vlan-id = {id}");
        }
        if let Some(mtu) = self.mtu {
            let _ = writeln!(out, "mtu = {mtu}");
        }
        if !self.ports.is_empty() {
            let ports = array(&self.ports, |p| string(p.as_str()));
            let _ = writeln!(out, "ports = {ports}");
        }
    }
}

impl MacvlanDoc {
    fn write(&self, out: &mut String) {
        // Straight into `out`: this runs once per macvlan, twice per plan.
        let line = |out: &mut String, k: &str, v: &str| {
            out.push_str(k);
            out.push_str(" = ");
            push_string(out, v);
            out.push('\n');
        };
        out.push_str("[[macvlan]]\n");
        line(out, "name", self.name.as_str());
        match &self.parent {
            Some(p) => line(out, "parent", p),
            // Keeps the entry honest rather than inventing a parent; a file with this line
            // fails `check` on the missing key, which is the truth.
            None => out.push_str("# parent: unknown (the kernel did not say which link)\n"),
        }
        if let Some(ns) = &self.namespace {
            line(out, "namespace", ns.as_str());
        }
        if self.kind != MacvlanKind::Macvlan {
            line(out, "kind", self.kind.as_str());
        }
        if let Some(mode) = self.mode {
            line(out, "mode", mode.as_str());
        }
        if !self.flags.is_empty() {
            let a = array(&self.flags, |f| string(f.as_str()));
            let _ = writeln!(out, "flags = {a}");
        }
        if let Some(mac) = self.mac {
            let _ = writeln!(out, "mac = \"{mac}\"");
        }
        if let Some(mtu) = self.mtu {
            let _ = writeln!(out, "mtu = {mtu}");
        }
        if let Some(up) = self.up {
            let _ = writeln!(out, "up = {up}");
        }
        if !self.addresses.is_empty() {
            let a = array(&self.addresses, |a| string(&a.to_string()));
            let _ = writeln!(out, "addresses = {a}");
        }
        if !self.routes.is_empty() {
            let _ = writeln!(out, "routes = {}", array(&self.routes, route_inline));
        }
        if !self.source_macs.is_empty() {
            let a = array(&self.source_macs, |m| string(&m.to_string()));
            let _ = writeln!(out, "source-macs = {a}");
        }
        if let Some(n) = self.bcqueuelen {
            let _ = writeln!(out, "bcqueuelen = {n}");
        }
        if let Some(n) = self.bc_cutoff {
            let _ = writeln!(out, "bc-cutoff = {n}");
        }
    }
}

impl Doc {
    /// The TOML text: `name`, namespaces, parents, macvlans, each group sorted, tables apart
    /// by one blank line. Sorting here (not trusting the caller) is what makes equal input
    /// print byte-identical output.
    pub(crate) fn into_toml(mut self) -> String {
        self.namespaces.sort();
        self.namespaces.dedup();
        self.parents.sort_by(|a, b| a.name.cmp(&b.name));
        self.macvlans
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

        // One string, sections written straight into it, a blank line between two.
        let mut out =
            String::with_capacity(64 + 48 * self.namespaces.len() + 160 * self.macvlans.len());
        let section = |out: &mut String| {
            if !out.is_empty() {
                out.push('\n');
            }
        };
        if let Some(name) = &self.name {
            section(&mut out);
            out.push_str("name = ");
            push_string(&mut out, name);
            out.push('\n');
        }
        if !self.namespaces.is_empty() {
            section(&mut out);
            for ns in &self.namespaces {
                let _ = writeln!(out, "[namespace.{}]", key(ns.as_str()));
            }
        }
        for p in &self.parents {
            section(&mut out);
            p.write(&mut out);
        }
        for m in &self.macvlans {
            section(&mut out);
            m.write(&mut out);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// From the file

/// How a link refers to `other` from `here`: by name when both are in one namespace.
fn name_from(other: &LinkRef, here: Option<&NsName>) -> String {
    if other.namespace.as_ref() == here {
        other.name.to_string()
    } else {
        other.to_string()
    }
}

fn parent_from_model(p: &Parent) -> ParentDoc {
    let mut d = ParentDoc::existing(p.at());
    match &p.kind {
        ParentKind::Existing => {}
        ParentKind::Veth {
            peer,
            peer_namespace,
            ..
        } => {
            d.create = Some("veth".to_owned());
            // Written even when it is the default "<name>p": explicit beats implicit.
            d.peer = Some(peer.clone());
            d.peer_namespace = peer_namespace.clone();
        }
        ParentKind::Dummy => d.create = Some("dummy".to_owned()),
        ParentKind::Vlan { link, vlan_id, .. } => {
            d.create = Some("vlan".to_owned());
            d.link = Some(link.to_string());
            d.vlan_id = Some(*vlan_id);
        }
        ParentKind::Bridge { ports, .. } => {
            d.create = Some("bridge".to_owned());
            d.ports = ports.clone();
        }
    }
    d.mtu = p.mtu;
    d
}

fn macvlan_from_model(m: &Macvlan) -> MacvlanDoc {
    MacvlanDoc {
        name: m.name.clone(),
        parent: Some(m.parent.to_string()),
        namespace: m.namespace.clone(),
        mode: Some(m.mode),
        mac: m.mac,
        mtu: m.mtu,
        up: Some(m.up),
        addresses: m.addresses.clone(),
        routes: m.routes.clone(),
        source_macs: m.source_macs.clone(),
        kind: m.kind,
        flags: m.flags.clone(),
        bcqueuelen: m.bcqueuelen,
        bc_cutoff: m.bc_cutoff,
    }
}

pub(crate) fn from_topology(t: &Topology) -> Doc {
    Doc {
        name: Some(t.name.clone()),
        namespaces: t.namespaces.keys().cloned().collect(),
        parents: t.parents.values().map(parent_from_model).collect(),
        macvlans: t.macvlans.iter().map(macvlan_from_model).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// From the kernel

/// A parent as the kernel has it. Only a link the topology owns is shown as created
/// (`create = KIND` plus what the kernel says about that kind): a foreign veth used as an
/// existing parent is just an existing parent, and a foreign link where the file wants to
/// create one shows up as a missing `create`.
fn parent_from_live(l: &LiveLink, owned: bool, mtu: Option<u32>, live: &LiveState) -> ParentDoc {
    let mut d = ParentDoc::existing(l.at());
    if owned {
        d.create = Some(l.kind.as_str().to_owned());
        match l.kind {
            LinkKind::Veth => {
                d.peer = l.peer.as_ref().map(|p| p.name.clone());
                d.peer_namespace = l.peer.as_ref().and_then(|p| p.namespace.clone());
            }
            LinkKind::Vlan => {
                d.link = l
                    .parent
                    .as_ref()
                    .map(|p| name_from(p, l.namespace.as_ref()));
                d.vlan_id = l.vlan_id;
            }
            LinkKind::Bridge => d.ports = live.ports(l.namespace.as_ref(), &l.name),
            _ => {}
        }
    }
    d.mtu = mtu;
    d
}

/// A macvlan with every field the kernel reports.
fn macvlan_from_live(l: &LiveLink) -> MacvlanDoc {
    MacvlanDoc {
        name: l.name.clone(),
        // The parent's table, which says where it is.
        parent: l.parent.as_ref().map(|p| p.name.to_string()),
        namespace: l.namespace.clone(),
        // The snapshot always reports the mode of a macvlan; if it ever did not, vepa is what
        // the kernel means by no mode.
        mode: Some(l.mode.unwrap_or_default()),
        mac: l.mac,
        mtu: Some(l.mtu),
        up: Some(l.up),
        addresses: l.addresses.clone(),
        routes: l.routes.clone(),
        source_macs: l.source_macs.clone(),
        kind: l.kind.macvlan().unwrap_or_default(),
        flags: l.flags.clone(),
        // Only what differs from the kernel's defaults: a file without them keeps the
        // link's, so the show → plan round trip holds either way.
        bcqueuelen: l.bcqueuelen.filter(|q| *q != DEFAULT_BC_QUEUE_LEN),
        bc_cutoff: l.bc_cutoff.filter(|c| *c != DEFAULT_BC_CUTOFF),
    }
}

/// `live`'s items, those the file also has first and in the file's order, then the rest in
/// the kernel's (sorted) order: the order of a list is not drift, its members are.
fn ordered_like<T: Clone + PartialEq>(file: &[T], live: &[T]) -> Vec<T> {
    let mut out: Vec<T> = file.iter().filter(|x| live.contains(x)).cloned().collect();
    out.extend(live.iter().filter(|x| !file.contains(x)).cloned());
    out
}

/// Whether `l`, a veth, is the lesser end of a pair whose both ends are candidates: a pair is
/// one parent, so only one end is shown. `preferred` says which ends must be kept if
/// possible (the file's, or those macvlans use); otherwise the end in the tool's namespace,
/// then the lesser name, is kept.
fn is_secondary_end(
    l: &LiveLink,
    live: &LiveState,
    candidate: &dyn Fn(&LiveLink) -> bool,
    preferred: &dyn Fn(&LinkRef) -> bool,
) -> bool {
    if l.kind != LinkKind::Veth {
        return false;
    }
    let Some(peer) = l
        .peer
        .as_ref()
        .and_then(|p| live.link(p.namespace.as_ref(), &p.name))
    else {
        return false;
    };
    if peer.kind != LinkKind::Veth || !candidate(peer) {
        return false;
    }
    match (preferred(&l.at()), preferred(&peer.at())) {
        (true, false) => false,
        (false, true) => true,
        _ => peer.at() < l.at(),
    }
}

pub(crate) fn live_view(t: &Topology, live: &LiveState) -> Doc {
    let owner = t.name.as_str();
    let mut doc = Doc {
        name: Some(t.name.clone()),
        ..Doc::default()
    };

    doc.namespaces = t
        .namespaces
        .keys()
        .filter(|n| live.namespace(n).is_some())
        .cloned()
        .collect();
    doc.namespaces.extend(
        live.namespaces
            .iter()
            .filter(|n| diff::stale_namespace(t, n))
            .map(|n| n.name.clone()),
    );

    for p in t.parents.values() {
        if let Some(l) = live.link(p.namespace.as_ref(), &p.name) {
            // Fields the file leaves unset are left out, so they never show as drift.
            doc.parents.push(parent_from_live(
                l,
                l.owned_by(owner),
                p.mtu.map(|_| l.mtu),
                live,
            ));
        }
    }
    let pruned_parent = |l: &LiveLink| l.kind.macvlan().is_none() && diff::stale_link(t, l);
    let in_file = |at: &LinkRef| t.parents.values().any(|p| p.at() == *at);
    let candidate = |l: &LiveLink| pruned_parent(l) || in_file(&l.at());
    for l in live.links.iter().filter(|l| pruned_parent(l)) {
        if !is_secondary_end(l, live, &candidate, &in_file) {
            doc.parents
                .push(parent_from_live(l, true, Some(l.mtu), live));
        }
    }

    for m in &t.macvlans {
        if let Some(l) = live.link(m.namespace.as_ref(), &m.name) {
            // The file's parent by its table's name; any other place in full, as drift.
            let want = LinkRef::new(m.parent_namespace.clone(), m.parent.clone());
            doc.macvlans.push(MacvlanDoc {
                name: l.name.clone(),
                parent: l.parent.as_ref().map(|p| {
                    if *p == want {
                        p.name.to_string()
                    } else {
                        p.to_string()
                    }
                }),
                namespace: l.namespace.clone(),
                mode: l.mode,
                mac: m.mac.and(l.mac),
                mtu: m.mtu.map(|_| l.mtu),
                up: Some(l.up),
                addresses: ordered_like(&m.addresses, &l.addresses),
                routes: ordered_like(&m.routes, &l.routes),
                source_macs: l.source_macs.clone(),
                kind: l.kind.macvlan().unwrap_or_default(),
                flags: l.flags.clone(),
                bcqueuelen: m.bcqueuelen.and(l.bcqueuelen),
                bc_cutoff: m
                    .bc_cutoff
                    .map(|_| l.bc_cutoff.unwrap_or(DEFAULT_BC_CUTOFF)),
            });
        }
    }
    doc.macvlans.extend(
        live.links
            .iter()
            .filter(|l| l.kind.macvlan().is_some() && diff::stale_link(t, l))
            .map(macvlan_from_live),
    );
    doc
}

/// The links the shown topology has as parents: those its macvlans use (`used`),
/// with an owner also its lab parents nothing uses any more, and the lower links and
/// ports those stand on.
fn parent_names(
    live: &LiveState,
    owner: Option<&str>,
    used: &BTreeSet<LinkRef>,
) -> BTreeSet<LinkRef> {
    let owned = |l: &LiveLink| made_by(l, owner);
    let mut names = used.clone();
    if owner.is_some() {
        // Owned lab parents nothing uses any more are part of the topology too; left out,
        // the file would prune them. (One end of a veth pair: see `is_secondary_end`.)
        names.extend(
            live.links
                .iter()
                .filter(|l| owned(l) && l.kind.is_lab_parent())
                .map(LiveLink::at),
        );
    }
    // A vlan's lower link must be a parent of its own, and may be a vlan too; so must a
    // bridge's ports.
    let mut todo: Vec<LinkRef> = names.iter().cloned().collect();
    while let Some(n) = todo.pop() {
        let Some(l) = live.link(n.namespace.as_ref(), &n.name) else {
            continue;
        };
        if l.kind == LinkKind::Vlan && owned(l) {
            if let Some(lower) = l.parent.as_ref().filter(|p| p.namespace == l.namespace) {
                if names.insert(lower.clone()) {
                    todo.push(lower.clone());
                }
            }
        }
        if l.kind == LinkKind::Bridge && owned(l) {
            for port in live.ports(l.namespace.as_ref(), &l.name) {
                let port = LinkRef::new(l.namespace.clone(), port);
                if names.insert(port.clone()) {
                    todo.push(port);
                }
            }
        }
    }

    names
}

/// Whether `l` counts as created by `owner`; without an owner, every link any topology
/// made counts: it is mvtopo's.
fn made_by(l: &LiveLink, owner: Option<&str>) -> bool {
    match owner {
        Some(o) => l.owned_by(o),
        None => l.owner.is_some(),
    }
}

pub(crate) fn show(live: &LiveState, owner: Option<&str>) -> Doc {
    let owned = |l: &LiveLink| made_by(l, owner);
    let macvlans: Vec<&LiveLink> = live
        .links
        .iter()
        .filter(|l| l.kind.macvlan().is_some() && (owner.is_none() || owned(l)))
        .collect();

    // Parents are where they are: a parent in a namespace is shown with `namespace`.
    let used: BTreeSet<LinkRef> = macvlans.iter().filter_map(|l| l.parent.clone()).collect();
    let names = parent_names(live, owner, &used);
    let candidate = |l: &LiveLink| names.contains(&l.at()) && owned(l);
    let is_used = |n: &LinkRef| used.contains(n);
    let mut doc = Doc {
        name: owner.map(str::to_owned),
        ..Doc::default()
    };
    let mut parent_namespaces: Vec<NsName> = Vec::new();
    for n in &names {
        parent_namespaces.extend(n.namespace.clone());
        let Some(l) = live.link(n.namespace.as_ref(), &n.name) else {
            // Not found (the snapshot could not resolve it): still a parent, so the file loads.
            doc.parents.push(ParentDoc::existing(n.clone()));
            continue;
        };
        if owned(l) && l.kind.is_lab_parent() {
            if is_secondary_end(l, live, &candidate, &is_used) {
                if is_used(n) {
                    doc.parents.push(ParentDoc::existing(n.clone()));
                }
                continue;
            }
            let p = parent_from_live(l, true, Some(l.mtu), live);
            parent_namespaces.extend(p.peer_namespace.clone());
            doc.parents.push(p);
        } else {
            doc.parents.push(ParentDoc::existing(n.clone()));
        }
    }

    doc.namespaces = match owner {
        None => live.namespaces.iter().map(|n| n.name.clone()).collect(),
        Some(o) => live
            .namespaces
            .iter()
            .filter(|n| n.owned_by(o))
            .map(|n| n.name.clone())
            .chain(macvlans.iter().filter_map(|l| l.namespace.clone()))
            .chain(parent_namespaces)
            .collect(),
    };
    doc.macvlans = macvlans.into_iter().map(macvlan_from_live).collect();
    doc
}
