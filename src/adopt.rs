//! `mvtopo adopt`: which existing, unowned objects a topology may claim as its own (a
//! migration from hand-made or other tools' setups), and why the others are not claimed.
//!
//! Pure: a `Topology` and a `LiveState` in, a verdict per object of the file out. Only an
//! object that matches the file exactly is claimed (kind, parent, mode, and every field the
//! file gives, addresses and routes as sets), so that right after adopt the plan has no
//! step for it: adopting never stands in for a change. A namespace is claimed only when
//! everything in it is this topology's, or is claimed in the same run.

use std::collections::BTreeSet;
use std::fmt;

use crate::live::{LinkKind, LinkRef, LiveLink, LiveState};
use crate::model::{Macvlan, Parent, ParentKind, Topology};
use crate::names::DEFAULT_BC_CUTOFF;
use crate::names::{MacvlanKind, Mode, NsName};
use crate::object::Object;

/// What adopt does with one object of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Exists, unowned, and matches the file exactly: claimed (the object to claim).
    Claim(Object),
    /// Already owned by this topology.
    Owned,
    /// Not there: `apply` creates it.
    Absent,
    /// An existing interface used as a parent: used, never owned.
    NotOwnable,
    /// Not claimed; each reason names a field that differs, or an owner.
    Refused(Vec<String>),
}

/// One object of the file and its verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// As a person names it: "namespace red", "parent lab0", "macvlan red/eth0".
    pub what: String,
    pub verdict: Verdict,
}

/// Every object of the file, namespaces first, then parents, then macvlans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Adoption {
    pub entries: Vec<Entry>,
}

impl Adoption {
    /// The objects to claim, in the order to claim them.
    pub fn claims(&self) -> impl Iterator<Item = (&str, &Object)> {
        self.entries.iter().filter_map(|e| match &e.verdict {
            Verdict::Claim(o) => Some((e.what.as_str(), o)),
            _ => None,
        })
    }

    pub fn refused(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Refused(_)))
            .count()
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Verdict::Claim(_) => write!(f, "claim   {}", self.what),
            Verdict::Owned => write!(f, "owned   {}: already this topology's", self.what),
            Verdict::Absent => write!(f, "absent  {}: not there (apply creates it)", self.what),
            Verdict::NotOwnable => write!(
                f,
                "skip    {}: an existing interface, used but never owned",
                self.what
            ),
            Verdict::Refused(reasons) => {
                write!(f, "refuse  {}: {}", self.what, reasons.join("; "))
            }
        }
    }
}

/// At most this many foreign links are named in a namespace's refusal.
const NAMED_LINKS: usize = 5;

/// The verdict for every object of `t` against `live`.
pub fn adopt(t: &Topology, live: &LiveState) -> Adoption {
    let mut live = live.clone();
    live.normalize();
    let owner = t.name.as_str();
    let mut parents = Vec::new();
    for p in t.parents.values() {
        parents.push((p, parent_verdict(t, p, &live)));
    }
    let mut macvlans = Vec::new();
    for m in &t.macvlans {
        let mut v = macvlan_verdict(t, m, &live);
        // A macvlan on a lab parent that stays foreign or differs would be replaced with
        // it (or the plan would stop at the parent): claiming it would not make it in sync.
        if let Verdict::Claim(_) = v
            && let Some((p, Verdict::Refused(_))) = parents.iter().find(|(p, _)| p.name == m.parent)
        {
            v = Verdict::Refused(vec![format!(
                "its parent {} is not adopted (see above)",
                p.name
            )]);
        }
        macvlans.push((m, v));
    }
    // Links this topology has once the claims are made, and the veth ends that go with them.
    let mut ours: BTreeSet<LinkRef> = live
        .links
        .iter()
        .filter(|l| l.owned_by(owner))
        .map(LiveLink::at)
        .collect();
    for (p, v) in &parents {
        if let Verdict::Claim(_) = v {
            ours.insert(p.at());
        }
    }
    for (m, v) in &macvlans {
        if let Verdict::Claim(_) = v {
            ours.insert(LinkRef::new(m.namespace.clone(), m.name.clone()));
        }
    }
    let peers: Vec<LinkRef> = live
        .links
        .iter()
        .filter(|l| l.kind == LinkKind::Veth && ours.contains(&l.at()))
        .filter_map(|l| l.peer.clone())
        .collect();
    ours.extend(peers);

    let mut out = Adoption::default();
    for name in t.namespaces.keys() {
        out.entries.push(Entry {
            what: format!("namespace {name}"),
            verdict: namespace_verdict(owner, name, &live, &ours),
        });
    }
    for (p, v) in parents {
        out.entries.push(Entry {
            what: format!("parent {}", p.name),
            verdict: v,
        });
    }
    for (m, v) in macvlans {
        out.entries.push(Entry {
            what: format!(
                "macvlan {}",
                LinkRef::new(m.namespace.clone(), m.name.clone())
            ),
            verdict: v,
        });
    }
    out
}

fn show(r: Option<&LinkRef>) -> String {
    r.map_or_else(|| "unknown".to_owned(), LinkRef::to_string)
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    let v: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", v.join(", "))
}

/// The owner reasons shared by every kind: `Some` when ownership alone decides.
fn by_owner(owner: &str, found: Option<&str>) -> Option<Verdict> {
    match found {
        Some(o) if o == owner => Some(Verdict::Owned),
        Some(o) => Some(Verdict::Refused(vec![format!("owned by topology {o}")])),
        None => None,
    }
}

fn namespace_verdict(
    owner: &str,
    name: &NsName,
    live: &LiveState,
    ours: &BTreeSet<LinkRef>,
) -> Verdict {
    let Some(n) = live.namespace(name) else {
        return Verdict::Absent;
    };
    if let Some(v) = by_owner(owner, n.owner.as_deref()) {
        return v;
    }
    // Claiming a namespace lets `destroy` delete it, and everything in it with it.
    let foreign: Vec<String> = live
        .links_in(Some(name))
        .filter(|l| !ours.contains(&l.at()))
        .map(|l| match &l.owner {
            Some(o) => format!("holds {}, owned by topology {o}", l.at()),
            None => format!("holds {}, which is not adopted", l.at()),
        })
        .collect();
    if foreign.is_empty() {
        return Verdict::Claim(Object::Namespace { name: name.clone() });
    }
    let more = foreign.len().saturating_sub(NAMED_LINKS);
    let mut reasons: Vec<String> = foreign.into_iter().take(NAMED_LINKS).collect();
    if more > 0 {
        reasons.push(format!("and {more} more interface(s)"));
    }
    Verdict::Refused(reasons)
}

fn parent_verdict(t: &Topology, p: &Parent, live: &LiveState) -> Verdict {
    if let ParentKind::Existing = p.kind {
        return Verdict::NotOwnable;
    }
    let Some(l) = live.link(p.namespace.as_ref(), &p.name) else {
        return Verdict::Absent;
    };
    let peer = l
        .peer
        .as_ref()
        .filter(|_| l.kind == LinkKind::Veth)
        .and_then(|r| live.link(r.namespace.as_ref(), &r.name));
    // The far end of a veth counts as the pair's owner too (as in the planner).
    let found = l
        .owner
        .as_deref()
        .or_else(|| peer.and_then(|x| x.owner.as_deref()));
    if let Some(v) = by_owner(&t.name, found) {
        return v;
    }
    let mut why = Vec::new();
    let want = LinkKind::of_parent(&p.kind);
    if l.kind != want {
        why.push(format!("is a {} link, not a {want}", l.kind));
    } else {
        match &p.kind {
            ParentKind::Veth { .. } => {
                let target = LinkRef::veth_peer(&p.kind);
                if let Some(target) = target.filter(|t| l.peer.as_ref() != Some(t)) {
                    why.push(format!(
                        "peer: live {}, file {target}",
                        show(l.peer.as_ref())
                    ));
                }
            }
            ParentKind::Vlan { link, vlan_id, .. } => {
                if l.parent.as_ref() != Some(&LinkRef::new(l.namespace.clone(), link.clone())) {
                    why.push(format!(
                        "link: live {}, file {link}",
                        show(l.parent.as_ref())
                    ));
                }
                if l.vlan_id != Some(*vlan_id) {
                    why.push(format!(
                        "vlan-id: live {}, file {vlan_id}",
                        l.vlan_id
                            .map_or_else(|| "unknown".to_owned(), |v| v.to_string())
                    ));
                }
            }
            ParentKind::Bridge { ports, .. } => {
                let have = live.ports(None, &p.name);
                if &have != ports {
                    why.push(format!("ports: live {}, file {}", list(&have), list(ports)));
                }
            }
            ParentKind::Existing | ParentKind::Dummy => {}
        }
    }
    if let Some(mtu) = p.mtu
        && mtu != l.mtu
    {
        why.push(format!("mtu: live {}, file {mtu}", l.mtu));
    }
    // The planner brings a lab parent up.
    if !l.up {
        why.push("up: live false, file true (a lab parent is up)".to_owned());
    }
    verdict(l, why)
}

fn verdict(l: &LiveLink, why: Vec<String>) -> Verdict {
    if !why.is_empty() {
        return Verdict::Refused(why);
    }
    match Object::from_live(l) {
        Some(o) => Verdict::Claim(o),
        None => Verdict::Refused(vec![format!("mvtopo cannot manage a {} link", l.kind)]),
    }
}

fn macvlan_verdict(t: &Topology, m: &Macvlan, live: &LiveState) -> Verdict {
    let Some(l) = live.link(m.namespace.as_ref(), &m.name) else {
        return Verdict::Absent;
    };
    if let Some(v) = by_owner(&t.name, l.owner.as_deref()) {
        return v;
    }
    let Some(kind) = l.kind.macvlan() else {
        return Verdict::Refused(vec![format!("is a {} link, not a macvlan", l.kind)]);
    };
    let mut why = macvlan_attr_diffs(m, l, kind);
    why.extend(mac_diffs(t, m, l));
    if let Some(mtu) = m.mtu
        && mtu != l.mtu
    {
        why.push(format!("mtu: live {}, file {mtu}", l.mtu));
    }
    if l.up != m.up {
        why.push(format!("up: live {}, file {}", l.up, m.up));
    }
    let mut want = m.source_macs.clone();
    want.sort();
    want.dedup();
    if want != l.source_macs {
        why.push(format!(
            "source-macs: live {}, file {}",
            list(&l.source_macs),
            list(&want)
        ));
    }
    why.extend(address_diffs(m, l));
    verdict(l, why)
}

/// How the live macvlan's own attributes (kind, flags, broadcast settings, parent, mode)
/// differ from the file's.
fn macvlan_attr_diffs(m: &Macvlan, l: &LiveLink, kind: MacvlanKind) -> Vec<String> {
    let mut why = Vec::new();
    if kind != m.kind {
        why.push(format!("kind: live {kind}, file {}", m.kind));
    }
    if l.flags != m.flags {
        why.push(format!(
            "flags: live {}, file {}",
            list(&l.flags),
            list(&m.flags)
        ));
    }
    if let Some(q) = m.bcqueuelen
        && l.bcqueuelen != Some(q)
    {
        why.push(format!(
            "bcqueuelen: live {}, file {q}",
            l.bcqueuelen
                .map_or_else(|| "none".to_owned(), |x| x.to_string())
        ));
    }
    if let Some(c) = m.bc_cutoff {
        let live = l.bc_cutoff.unwrap_or(DEFAULT_BC_CUTOFF);
        if live != c {
            why.push(format!("bc-cutoff: live {live}, file {c}"));
        }
    }
    let parent = LinkRef::new(m.parent_namespace.clone(), m.parent.clone());
    if l.parent.as_ref() != Some(&parent) {
        why.push(format!(
            "parent: live {}, file {parent}",
            show(l.parent.as_ref()),
        ));
    }
    let mode = l.mode.unwrap_or_default();
    if mode != m.mode {
        why.push(format!("mode: live {mode}, file {}", m.mode));
    }
    why
}

/// How the live macvlan's MAC differs from the file's, or clashes with another's in it.
fn mac_diffs(t: &Topology, m: &Macvlan, l: &LiveLink) -> Vec<String> {
    let mut why = Vec::new();
    let mode = l.mode.unwrap_or_default();
    if let Some(mac) = m.mac
        && l.mac != Some(mac)
    {
        why.push(format!(
            "mac: live {}, file {mac}",
            l.mac.map_or_else(|| "none".to_owned(), |x| x.to_string())
        ));
    }
    // With no mac in the file, the one it has is kept, unless the file gives that MAC to
    // another macvlan on the parent: then the plan replaces it to get a new one.
    if m.mac.is_none()
        && mode != Mode::Passthru
        && let Some(mac) = l.mac
        && let Some(other) = t.macvlans.iter().find(|o| {
            o.mac == Some(mac)
                && o.parent == m.parent
                && (o.namespace != m.namespace || o.name != m.name)
        })
    {
        why.push(format!(
            "its mac {mac} is given to {} in the file",
            LinkRef::new(other.namespace.clone(), other.name.clone())
        ));
    }
    why
}

/// How the live link's addresses and routes differ from the file's.
fn address_diffs(m: &Macvlan, l: &LiveLink) -> Vec<String> {
    let mut why = Vec::new();
    let missing: Vec<_> = m
        .addresses
        .iter()
        .filter(|a| !l.addresses.contains(a))
        .collect();
    let extra: Vec<_> = l
        .addresses
        .iter()
        .filter(|a| !m.addresses.contains(a))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        why.push(format!(
            "addresses: live {}, file {}",
            list(&l.addresses),
            list(&m.addresses)
        ));
    }
    let routes_differ = m.routes.iter().any(|r| !l.routes.contains(r))
        || l.routes.iter().any(|r| !m.routes.contains(r));
    if routes_differ {
        let text = |rs: &[crate::model::Route]| -> Vec<String> {
            rs.iter().map(ToString::to_string).collect()
        };
        why.push(format!(
            "routes: live {}, file {}",
            list(&text(&l.routes)),
            list(&text(&m.routes))
        ));
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::backend::Backend;
    use crate::fake::FakeBackend;
    use crate::plan::{Key, Step};

    fn topology(text: &str) -> Topology {
        crate::check::load_str("lab.toml", text, "lab").expect("valid topology")
    }

    fn state(json: &str) -> LiveState {
        let mut s: LiveState = serde_json::from_str(json).expect("live state");
        s.normalize();
        s
    }

    const FILE: &str = r#"
        [namespace.red]
        [parent.up0]
        create = "veth"
        [parent.eth1]
        [[macvlan]]
        name = "mv0"
        parent = "up0"
        namespace = "red"
        mode = "bridge"
        mtu = 1400
        addresses = ["10.0.0.2/24"]
        routes = [{ to = "default", via = "10.0.0.1" }]
        [[macvlan]]
        name = "mv1"
        parent = "up0"
        mode = "private"
        mac = "02:00:00:00:00:01"
    "#;

    /// Everything FILE asks for, hand-made (no owner), exactly as the file gives it.
    const HAND_MADE: &str = r#"{
          "namespaces": [{"name": "red"}],
          "links": [
            {"name": "eth1", "kind": "device", "mtu": 1500, "up": true},
            {"name": "up0", "kind": "veth", "peer": {"name": "up0p"}, "mtu": 1500, "up": true},
            {"name": "up0p", "kind": "veth", "peer": {"name": "up0"}, "mtu": 1500, "up": false},
            {"namespace": "red", "name": "mv0", "kind": "macvlan", "parent": {"name": "up0"},
             "mode": "bridge", "mac": "02:aa:00:00:00:01", "mtu": 1400, "up": true,
             "addresses": ["10.0.0.2/24"], "routes": [{"to": "0.0.0.0/0", "via": "10.0.0.1"}]},
            {"name": "mv1", "kind": "macvlan", "parent": {"name": "up0"}, "mode": "private",
             "mac": "02:00:00:00:00:01", "mtu": 1500, "up": true}
          ]
        }"#;

    fn hand_made() -> LiveState {
        state(HAND_MADE)
    }

    fn verdict_of<'a>(a: &'a Adoption, what: &str) -> &'a Verdict {
        &a.entries
            .iter()
            .find(|e| e.what == what)
            .unwrap_or_else(|| panic!("no entry {what}: {a:#?}"))
            .verdict
    }

    fn reasons(a: &Adoption, what: &str) -> String {
        match verdict_of(a, what) {
            Verdict::Refused(r) => r.join("; "),
            v => panic!("{what} not refused: {v:?}"),
        }
    }

    /// Claim what adopt says through the fake, then plan: no step may touch a claimed
    /// object (or its addresses and routes).
    fn claim_and_plan(t: &Topology, live: &LiveState) -> (Adoption, Vec<Step>) {
        let a = adopt(t, live);
        let mut fake = FakeBackend::new(live.clone());
        for (_, o) in a.claims() {
            fake.claim(o, &t.name).expect("claim");
        }
        let plan = crate::diff::diff(t, &fake.state).expect("a plan after adopt");
        (a, plan.steps)
    }

    fn touches(steps: &[Step], o: &Object) -> bool {
        steps.iter().any(|s| {
            let key = s.object().key();
            match (o, &key) {
                (Object::Namespace { name }, Key::Namespace { name: n }) => n == name,
                (Object::Namespace { .. }, _) => false,
                _ => s.object().link() == o.link(),
            }
        })
    }

    #[test]
    fn an_exact_hand_made_setup_is_claimed_whole_and_then_in_sync() {
        let t = topology(FILE);
        let (a, steps) = claim_and_plan(&t, &hand_made());
        let claimed: Vec<&str> = a.claims().map(|(w, _)| w).collect();
        assert_eq!(
            claimed,
            [
                "namespace red",
                "parent up0",
                "macvlan mv1",
                "macvlan red/mv0"
            ],
            "{a:#?}"
        );
        assert_eq!(verdict_of(&a, "parent eth1"), &Verdict::NotOwnable);
        assert_eq!(a.refused(), 0);
        assert!(steps.is_empty(), "in sync after adopt: {steps:#?}");
        // And a second adopt finds everything owned.
        let mut fake = FakeBackend::new(hand_made());
        for (_, o) in a.claims() {
            fake.claim(o, "lab").unwrap();
        }
        let again = adopt(&t, &fake.state);
        assert_eq!(again.claims().count(), 0);
        assert!(
            again
                .entries
                .iter()
                .all(|e| matches!(e.verdict, Verdict::Owned | Verdict::NotOwnable)),
            "{again:#?}"
        );
    }

    #[test]
    fn each_differing_field_is_named_and_never_claimed() {
        let t = topology(FILE);
        let cases: [(&str, &str, &str); 8] = [
            ("mode", r#""mode": "bridge""#, r#""mode": "vepa""#),
            (
                "mtu: live 1300, file 1400",
                r#""mtu": 1400"#,
                r#""mtu": 1300"#,
            ),
            (
                "addresses: live [10.0.0.2/24, 10.0.0.9/24]",
                r#""addresses": ["10.0.0.2/24"]"#,
                r#""addresses": ["10.0.0.2/24", "10.0.0.9/24"]"#,
            ),
            ("routes", r#""via": "10.0.0.1""#, r#""via": "10.0.0.3""#),
            (
                "parent: live mv1, file up0",
                r#""parent": {"name": "up0"},
             "mode": "bridge""#,
                r#""parent": {"name": "mv1"},
             "mode": "bridge""#,
            ),
            (
                "up: live false",
                r#""mtu": 1400, "up": true"#,
                r#""mtu": 1400, "up": false"#,
            ),
            (
                "owned by topology other",
                r#""mtu": 1400, "up": true"#,
                r#""mtu": 1400, "up": true, "owner": "other""#,
            ),
            (
                "is a veth link, not a macvlan",
                r#""kind": "macvlan", "parent": {"name": "up0"},
             "mode": "bridge""#,
                r#""kind": "veth", "peer": {"name": "up0"}"#,
            ),
        ];
        for (needle, from, to) in cases {
            // Only the first occurrence: red/mv0's.
            let text = HAND_MADE.replacen(from, to, 1);
            assert_ne!(text, HAND_MADE, "{needle}: the case changes nothing");
            let live = state(&text);
            let (a, steps) = claim_and_plan_lenient(&t, &live);
            let why = reasons(&a, "macvlan red/mv0");
            assert!(why.contains(needle), "{needle}: {why}");
            // The others are still claimed, and the namespace is not (it holds red/mv0).
            assert!(
                matches!(verdict_of(&a, "macvlan mv1"), Verdict::Claim(_)),
                "{needle}"
            );
            assert!(
                matches!(verdict_of(&a, "namespace red"), Verdict::Refused(_)),
                "{needle}: {a:#?}"
            );
            if let Some(steps) = steps {
                for (_, o) in a.claims() {
                    assert!(!touches(&steps, o), "{needle}: {o:?} in {steps:#?}");
                }
            }
        }
    }

    /// `claim_and_plan`, when the plan may be refused (a foreign object left in the way).
    fn claim_and_plan_lenient(t: &Topology, live: &LiveState) -> (Adoption, Option<Vec<Step>>) {
        let a = adopt(t, live);
        let mut fake = FakeBackend::new(live.clone());
        for (_, o) in a.claims() {
            fake.claim(o, &t.name).expect("claim");
        }
        let steps = crate::diff::diff(t, &fake.state).ok().map(|p| p.steps);
        (a, steps)
    }

    #[test]
    fn a_namespace_holding_anything_foreign_is_refused() {
        let t = topology(
            r#"
            [namespace.red]
            [namespace.blue]
            [parent.eth1]
            [[macvlan]]
            name = "mv0"
            parent = "eth1"
            namespace = "blue"
            mode = "bridge"
        "#,
        );
        let live = state(
            r#"{
          "namespaces": [{"name": "red"}, {"name": "blue"}],
          "links": [
            {"name": "eth1", "kind": "device", "mtu": 1500, "up": true},
            {"namespace": "red", "name": "other", "kind": "macvlan", "parent": {"name": "eth1"},
             "mode": "vepa", "mtu": 1500, "up": true},
            {"namespace": "blue", "name": "mv0", "kind": "macvlan", "parent": {"name": "eth1"},
             "mode": "bridge", "mtu": 1500, "up": true}
          ]
        }"#,
        );
        let (a, steps) = claim_and_plan(&t, &live);
        assert!(reasons(&a, "namespace red").contains("holds red/other, which is not adopted"));
        assert!(matches!(
            verdict_of(&a, "namespace blue"),
            Verdict::Claim(_)
        ));
        assert!(matches!(
            verdict_of(&a, "macvlan blue/mv0"),
            Verdict::Claim(_)
        ));
        assert!(steps.is_empty(), "{steps:#?}");
    }

    #[test]
    fn owned_by_another_topology_and_absent_objects() {
        let t = topology(FILE);
        let live = state(
            r#"{
          "namespaces": [{"name": "red", "owner": "other"}],
          "links": [
            {"name": "eth1", "kind": "device", "mtu": 1500, "up": true},
            {"name": "up0", "kind": "veth", "peer": {"name": "up0p"}, "mtu": 1500, "up": true,
             "owner": "lab"},
            {"name": "up0p", "kind": "veth", "peer": {"name": "up0"}, "mtu": 1500, "up": true}
          ]
        }"#,
        );
        let a = adopt(&t, &live);
        assert!(reasons(&a, "namespace red").contains("owned by topology other"));
        assert_eq!(verdict_of(&a, "parent up0"), &Verdict::Owned);
        assert_eq!(verdict_of(&a, "macvlan red/mv0"), &Verdict::Absent);
        assert_eq!(a.claims().count(), 0);
    }

    #[test]
    fn a_differing_lab_parent_keeps_its_macvlans_unclaimed() {
        let t = topology(FILE);
        let live = state(&HAND_MADE.replace("up0p", "up0x"));
        let a = adopt(&t, &live);
        assert!(
            reasons(&a, "parent up0").contains("peer: live up0x, file up0p"),
            "{a:#?}"
        );
        assert!(reasons(&a, "macvlan mv1").contains("its parent up0 is not adopted"));
    }

    #[test]
    fn a_mac_the_file_gives_elsewhere_is_a_difference() {
        let t = topology(
            r#"
            [parent.eth1]
            [[macvlan]]
            name = "a"
            parent = "eth1"
            [[macvlan]]
            name = "b"
            parent = "eth1"
            mac = "02:00:00:00:00:01"
        "#,
        );
        let live = state(
            r#"{"links": [
            {"name": "eth1", "kind": "device", "mtu": 1500, "up": true},
            {"name": "a", "kind": "macvlan", "parent": {"name": "eth1"}, "mode": "vepa",
             "mac": "02:00:00:00:00:01", "mtu": 1500, "up": true}
          ]}"#,
        );
        let a = adopt(&t, &live);
        assert!(reasons(&a, "macvlan a").contains("its mac 02:00:00:00:00:01 is given to b"));
    }
}
