//! An in-memory kernel: a `Backend` that applies steps to a `LiveState` the way rtnetlink
//! would, records every call, and can be told to fail at call N with a given errno.
//!
//! What it models (because the planner relies on it): the kernel picks a MAC when none is
//! given and the MTU of the parent; a passthru macvlan takes its parent's MAC and must be
//! the parent's only macvlan; deleting a link drops its addresses and routes and every link
//! stacked on it; deleting either end of a veth deletes both; deleting a namespace deletes
//! the links in it; lowering a parent's MTU lowers its macvlans'. A failed step changes
//! nothing.

use crate::backend::{Backend, BackendError};
use crate::live::{LinkKind, LinkRef, LiveLink, LiveNamespace, LiveState};
use crate::names::{MacAddr, Mode, NsName};
use crate::plan::{Change, MacvlanLink, Object, Step};

/// The MTU the kernel gives a new veth or dummy.
pub const DEFAULT_MTU: u32 = 1500;

#[derive(Clone, Debug, Default)]
pub struct FakeBackend {
    /// The kernel's state, kept normalized after every call.
    pub state: LiveState,
    /// Every `execute` call in order, the failed ones included: `calls[n]` is call `n`.
    pub calls: Vec<Step>,
    fail_at: Option<(usize, i32)>,
    /// Source of kernel-picked MACs.
    next_mac: u32,
    /// MACs seen in this fake's life: the kernel picks at random, so in practice never one
    /// that a link has or had a moment ago; a counter would, so it skips these.
    seen_macs: std::collections::HashSet<MacAddr>,
}

type Res<T = ()> = Result<T, BackendError>;

fn err(op: &str, object: impl Into<String>, errno: i32) -> BackendError {
    let message = std::io::Error::from_raw_os_error(errno).to_string();
    // "File exists (os error 17)" -> "File exists": the errno is kept apart.
    let message = message
        .split(" (os error")
        .next()
        .unwrap_or_default()
        .to_lowercase();
    BackendError::new(op, object, Some(errno), message)
}

fn same_place(l: &LiveLink, at: &LinkRef) -> bool {
    l.namespace == at.namespace && l.name == at.name
}

fn host(name: &crate::names::LinkName) -> LinkRef {
    LinkRef {
        namespace: None,
        name: name.clone(),
    }
}

impl FakeBackend {
    pub fn new(state: LiveState) -> Self {
        let mut state = state;
        state.normalize();
        let seen_macs = state.links.iter().filter_map(|l| l.mac).collect();
        FakeBackend {
            state,
            calls: Vec::new(),
            fail_at: None,
            next_mac: 1,
            seen_macs,
        }
    }

    /// The `n`-th `execute` call (counting from 0) fails with `errno` and changes nothing.
    pub fn fail_at(mut self, n: usize, errno: i32) -> Self {
        self.fail_at = Some((n, errno));
        self
    }

    /// Run every step of `steps` in order, stopping at the first failure.
    pub fn apply_all(&mut self, steps: &[Step], owner: &str) -> Result<(), BackendError> {
        for s in steps {
            self.execute(s, owner)?;
        }
        Ok(())
    }

    fn pick_mac(&mut self) -> MacAddr {
        loop {
            let n = self.next_mac;
            self.next_mac = self.next_mac.wrapping_add(1);
            let b = n.to_be_bytes();
            // Locally administered unicast, "mv" in the OUI bytes so it is easy to spot.
            let mac = MacAddr([0x02, 0x6d, 0x76, b[1], b[2], b[3]]);
            if self.seen_macs.insert(mac) {
                return mac;
            }
        }
    }

    fn index(&self, at: &LinkRef) -> Result<usize, usize> {
        self.state.links.binary_search_by(|l| {
            (l.namespace.as_ref(), &l.name).cmp(&(at.namespace.as_ref(), &at.name))
        })
    }

    fn get(&self, at: &LinkRef) -> Option<&LiveLink> {
        self.index(at).ok().map(|i| &self.state.links[i])
    }

    fn insert(&mut self, l: LiveLink) {
        if let Some(mac) = l.mac {
            self.seen_macs.insert(mac);
        }
        match self.index(&l.at()) {
            Ok(i) => self.state.links[i] = l,
            Err(i) => self.state.links.insert(i, l),
        }
    }

    fn has_namespace(&self, ns: &Option<NsName>) -> bool {
        ns.as_ref()
            .is_none_or(|n| self.state.namespace(n).is_some())
    }

    /// Links stacked on `at` (macvlans, vlans).
    fn children(&self, at: &LinkRef) -> impl Iterator<Item = &LiveLink> {
        let at = at.clone();
        self.state
            .links
            .iter()
            .filter(move |l| l.parent.as_ref() == Some(&at))
    }

    /// Remove a link and everything that cannot outlive it.
    fn remove_link(&mut self, at: &LinkRef) {
        let mut todo = vec![at.clone()];
        while let Some(at) = todo.pop() {
            let Ok(i) = self.index(&at) else {
                continue;
            };
            let l = self.state.links.remove(i);
            if l.kind == LinkKind::Veth
                && let Some(p) = l.peer
            {
                todo.push(p);
            }
            todo.extend(self.children(&at).map(LiveLink::at));
        }
    }

    fn new_link(&self, at: LinkRef, kind: LinkKind, mtu: u32, owner: &str) -> LiveLink {
        LiveLink {
            namespace: at.namespace,
            name: at.name,
            kind,
            parent: None,
            peer: None,
            mode: None,
            vlan_id: None,
            mac: None,
            mtu,
            up: true,
            source_macs: vec![],
            addresses: vec![],
            routes: vec![],
            owner: Some(owner.to_owned()),
        }
    }

    fn check_free(&self, op: &str, at: &LinkRef) -> Res {
        if !self.has_namespace(&at.namespace) {
            return Err(err(op, at.to_string(), libc::ENOENT));
        }
        if self.get(at).is_some() {
            return Err(err(op, at.to_string(), libc::EEXIST));
        }
        Ok(())
    }

    fn create(&mut self, object: &Object, owner: &str) -> Res {
        match object {
            Object::Namespace { name } => {
                if self.state.namespace(name).is_some() {
                    return Err(err("create namespace", name.to_string(), libc::EEXIST));
                }
                let i = self
                    .state
                    .namespaces
                    .binary_search_by(|n| n.name.cmp(name))
                    .unwrap_or_else(|i| i);
                self.state.namespaces.insert(
                    i,
                    LiveNamespace {
                        name: name.clone(),
                        owner: Some(owner.to_owned()),
                    },
                );
                Ok(())
            }
            Object::Nic { name, .. } => {
                Err(err("create device", name.to_string(), libc::EOPNOTSUPP))
            }
            Object::Veth {
                name,
                peer,
                peer_namespace,
                mtu,
                mac,
                peer_mac,
            } => {
                let op = "create veth";
                let here = host(name);
                let there = LinkRef {
                    namespace: peer_namespace.clone(),
                    name: peer.clone(),
                };
                self.check_free(op, &here)?;
                self.check_free(op, &there)?;
                if here == there {
                    return Err(err(op, here.to_string(), libc::EEXIST));
                }
                let mtu = mtu.unwrap_or(DEFAULT_MTU);
                let mut a = self.new_link(here.clone(), LinkKind::Veth, mtu, owner);
                a.peer = Some(there.clone());
                a.mac = Some(match mac {
                    Some(m) => *m,
                    None => self.pick_mac(),
                });
                let mut b = self.new_link(there, LinkKind::Veth, mtu, owner);
                b.peer = Some(here);
                b.mac = Some(match peer_mac {
                    Some(m) => *m,
                    None => self.pick_mac(),
                });
                self.insert(a);
                self.insert(b);
                Ok(())
            }
            Object::Dummy { name, mtu, mac } => {
                let here = host(name);
                self.check_free("create dummy", &here)?;
                let mut l = self.new_link(here, LinkKind::Dummy, mtu.unwrap_or(DEFAULT_MTU), owner);
                l.mac = Some(match mac {
                    Some(m) => *m,
                    None => self.pick_mac(),
                });
                self.insert(l);
                Ok(())
            }
            Object::Vlan {
                name,
                link,
                vlan_id,
                mtu,
                mac,
            } => {
                let op = "create vlan";
                let here = host(name);
                self.check_free(op, &here)?;
                let lower = self
                    .get(&host(link))
                    .ok_or_else(|| err(op, here.to_string(), libc::ENODEV))?;
                let (lower_mtu, lower_mac) = (lower.mtu, lower.mac);
                let mtu = mtu.unwrap_or(lower_mtu);
                if mtu > lower_mtu {
                    return Err(err(op, here.to_string(), libc::EINVAL));
                }
                let mut l = self.new_link(here, LinkKind::Vlan, mtu, owner);
                l.parent = Some(host(link));
                l.vlan_id = Some(*vlan_id);
                l.mac = mac.or(lower_mac);
                self.insert(l);
                Ok(())
            }
            Object::Macvlan(m) => self.create_macvlan(m, owner),
            Object::Address {
                namespace,
                link,
                address,
            } => {
                let op = "add address";
                let here = LinkRef {
                    namespace: namespace.clone(),
                    name: link.clone(),
                };
                let what = format!("{address} on {here}");
                let i = self
                    .index(&here)
                    .map_err(|_| err(op, what.clone(), libc::ENODEV))?;
                let l = &mut self.state.links[i];
                match l.addresses.binary_search(address) {
                    Ok(_) => Err(err(op, what, libc::EEXIST)),
                    Err(j) => {
                        l.addresses.insert(j, *address);
                        Ok(())
                    }
                }
            }
            Object::Route {
                namespace,
                link,
                to,
                via,
            } => {
                let op = "add route";
                let here = LinkRef {
                    namespace: namespace.clone(),
                    name: link.clone(),
                };
                let what = format!("{to} on {here}");
                let i = self
                    .index(&here)
                    .map_err(|_| err(op, what.clone(), libc::ENODEV))?;
                if let Some(gw) = via
                    && !self.state.links[i].addresses.iter().any(|a| a.contains(gw))
                {
                    return Err(err(op, what, libc::ENETUNREACH));
                }
                // One main table per namespace: the same destination twice is EEXIST
                // whichever link the first one goes out of.
                if self
                    .state
                    .links
                    .iter()
                    .any(|l| &l.namespace == namespace && l.routes.iter().any(|r| r.to == *to))
                {
                    return Err(err(op, what, libc::EEXIST));
                }
                let route = crate::model::Route { to: *to, via: *via };
                let l = &mut self.state.links[i];
                let j = l.routes.binary_search(&route).unwrap_or_else(|j| j);
                l.routes.insert(j, route);
                Ok(())
            }
        }
    }

    fn create_macvlan(&mut self, m: &MacvlanLink, owner: &str) -> Res {
        let op = "create macvlan";
        let here = LinkRef {
            namespace: m.namespace.clone(),
            name: m.name.clone(),
        };
        self.check_free(op, &here)?;
        let parent_at = host(&m.parent);
        let parent = self
            .get(&parent_at)
            .ok_or_else(|| err(op, here.to_string(), libc::ENODEV))?;
        let (parent_mtu, parent_mac) = (parent.mtu, parent.mac);
        let mut siblings = self
            .children(&parent_at)
            .filter(|l| l.kind == LinkKind::Macvlan)
            .peekable();
        let has_siblings = siblings.peek().is_some();
        let mut sibling_passthru = false;
        let mut mac_taken = false;
        for s in siblings {
            sibling_passthru |= s.mode == Some(Mode::Passthru);
            mac_taken |= m.mac.is_some() && s.mac == m.mac;
        }
        if sibling_passthru || (m.mode == Mode::Passthru && has_siblings) {
            return Err(err(op, here.to_string(), libc::EINVAL));
        }
        if mac_taken {
            return Err(err(op, here.to_string(), libc::EADDRINUSE));
        }
        let mtu = m.mtu.unwrap_or(parent_mtu);
        if mtu > parent_mtu {
            return Err(err(op, here.to_string(), libc::EINVAL));
        }
        let mac = match (m.mac, m.mode) {
            (Some(mac), _) => Some(mac),
            (None, Mode::Passthru) => parent_mac,
            (None, _) => Some(self.pick_mac()),
        };
        let mut l = self.new_link(here, LinkKind::Macvlan, mtu, owner);
        l.parent = Some(parent_at);
        l.mode = Some(m.mode);
        l.mac = mac;
        l.up = m.up;
        if m.mode == Mode::Source {
            l.source_macs = m.source_macs.clone();
            l.source_macs.sort();
            l.source_macs.dedup();
        }
        self.insert(l);
        Ok(())
    }

    fn delete(&mut self, object: &Object) -> Res {
        match object {
            Object::Namespace { name } => {
                let i = self
                    .state
                    .namespaces
                    .binary_search_by(|n| n.name.cmp(name))
                    .map_err(|_| err("delete namespace", name.to_string(), libc::ENOENT))?;
                self.state.namespaces.remove(i);
                let inside: Vec<LinkRef> =
                    self.state.links_in(Some(name)).map(LiveLink::at).collect();
                for at in inside {
                    self.remove_link(&at);
                }
                Ok(())
            }
            Object::Nic { name, .. } => {
                Err(err("delete device", name.to_string(), libc::EOPNOTSUPP))
            }
            Object::Address {
                namespace,
                link,
                address,
            } => {
                let op = "delete address";
                let here = LinkRef {
                    namespace: namespace.clone(),
                    name: link.clone(),
                };
                let what = format!("{address} on {here}");
                let i = self
                    .index(&here)
                    .map_err(|_| err(op, what.clone(), libc::ENODEV))?;
                let l = &mut self.state.links[i];
                let j = l
                    .addresses
                    .binary_search(address)
                    .map_err(|_| err(op, what, libc::ENOENT))?;
                l.addresses.remove(j);
                // The kernel flushes routes whose gateway no remaining prefix reaches.
                let addresses = l.addresses.clone();
                l.routes.retain(|r| {
                    r.via
                        .is_none_or(|gw| addresses.iter().any(|a| a.contains(&gw)))
                });
                Ok(())
            }
            Object::Route {
                namespace,
                link,
                to,
                via,
            } => {
                let op = "delete route";
                let here = LinkRef {
                    namespace: namespace.clone(),
                    name: link.clone(),
                };
                let what = format!("{to} on {here}");
                let i = self
                    .index(&here)
                    .map_err(|_| err(op, what.clone(), libc::ENODEV))?;
                let route = crate::model::Route { to: *to, via: *via };
                let l = &mut self.state.links[i];
                let j = l
                    .routes
                    .binary_search(&route)
                    .map_err(|_| err(op, what, libc::ENOENT))?;
                l.routes.remove(j);
                Ok(())
            }
            link => {
                let Some(at) = link.link() else {
                    return Err(err("delete", format!("{link:?}"), libc::EINVAL));
                };
                if self.get(&at).is_none() {
                    return Err(err(
                        &format!("delete {}", link.kind()),
                        at.to_string(),
                        libc::ENOENT,
                    ));
                }
                self.remove_link(&at);
                Ok(())
            }
        }
    }

    fn update(&mut self, object: &Object, changes: &[Change]) -> Res {
        let Some(at) = object.link().filter(|_| object.is_link()) else {
            return Err(err("update", format!("{:?}", object.key()), libc::EINVAL));
        };
        let op = format!("update {}", object.kind());
        let what = at.to_string();
        let i = self
            .index(&at)
            .map_err(|_| err(&op, what.clone(), libc::ENODEV))?;
        let mut l = self.state.links[i].clone();
        let parent = l.parent.as_ref().and_then(|p| self.get(p));
        let parent_mtu = parent.map(|p| p.mtu);
        for c in changes {
            match c {
                Change::Mtu { to, .. } => {
                    if *to < 68 || parent_mtu.is_some_and(|p| *to > p) {
                        return Err(err("set mtu", what, libc::EINVAL));
                    }
                    l.mtu = *to;
                }
                Change::Mac { to, .. } => {
                    let taken = l.kind == LinkKind::Macvlan
                        && l.parent.as_ref().is_some_and(|p| {
                            self.children(p)
                                .any(|s| !same_place(s, &at) && s.mac == Some(*to))
                        });
                    if taken {
                        return Err(err("set mac", what, libc::EADDRINUSE));
                    }
                    l.mac = Some(*to);
                }
                Change::Up { to, .. } => l.up = *to,
                Change::Mode { to, .. } => {
                    let from = l.mode.unwrap_or_default();
                    if l.kind != LinkKind::Macvlan
                        || (from == Mode::Passthru) != (*to == Mode::Passthru)
                    {
                        return Err(err("set mode", what, libc::EINVAL));
                    }
                    l.mode = Some(*to);
                }
                Change::SourceMacs { to, .. } => {
                    if l.kind != LinkKind::Macvlan {
                        return Err(err("set source macs", what, libc::EINVAL));
                    }
                    l.source_macs = to.clone();
                    l.source_macs.sort();
                    l.source_macs.dedup();
                }
            }
        }
        let new_mtu = l.mtu;
        self.state.links[i] = l;
        // A lower device's MTU caps the links on it.
        for c in self
            .state
            .links
            .iter_mut()
            .filter(|c| c.parent.as_ref() == Some(&at))
        {
            c.mtu = c.mtu.min(new_mtu);
        }
        Ok(())
    }

    fn run(&mut self, step: &Step, owner: &str) -> Res {
        match step {
            Step::Create { object } => self.create(object, owner),
            Step::Delete { object } => self.delete(object),
            Step::Update { object, changes } => self.update(object, changes),
            Step::Replace { from, to, .. } => {
                // Tried on a copy so that a failed create leaves the old link in place.
                let mut scratch = FakeBackend {
                    state: self.state.clone(),
                    calls: Vec::new(),
                    fail_at: None,
                    next_mac: self.next_mac,
                    seen_macs: self.seen_macs.clone(),
                };
                if let Some(at) = from.link().filter(|_| from.is_link()) {
                    // The old link may already be gone: a replaced (or deleted) parent
                    // takes its macvlans along, and a deleted namespace its links.
                    scratch.remove_link(&at);
                } else {
                    scratch.delete(from)?;
                }
                scratch.create(to, owner)?;
                self.state = scratch.state;
                self.next_mac = scratch.next_mac;
                self.seen_macs = scratch.seen_macs;
                Ok(())
            }
        }
    }
}

impl Backend for FakeBackend {
    fn snapshot(&mut self) -> Result<LiveState, BackendError> {
        let mut s = self.state.clone();
        s.normalize();
        Ok(s)
    }

    fn execute(&mut self, step: &Step, owner: &str) -> Result<(), BackendError> {
        let n = self.calls.len();
        self.calls.push(step.clone());
        if let Some((at, errno)) = self.fail_at
            && at == n
        {
            let what = step
                .object()
                .link()
                .map_or_else(|| format!("{:?}", step.object().key()), |l| l.to_string());
            return Err(err(
                &format!("{} {}", step.action(), step.object().kind()),
                what,
                errno,
            ));
        }
        self.run(step, owner)
    }

    fn claim(&mut self, object: &Object, owner: &str) -> Result<(), BackendError> {
        match object {
            Object::Namespace { name } => {
                let i = self
                    .state
                    .namespaces
                    .binary_search_by(|n| n.name.cmp(name))
                    .map_err(|_| err("claim namespace", name.as_str(), libc::ENOENT))?;
                self.state.namespaces[i].owner = Some(owner.to_owned());
                Ok(())
            }
            Object::Veth { .. }
            | Object::Dummy { .. }
            | Object::Vlan { .. }
            | Object::Macvlan(_) => {
                let at = object
                    .link()
                    .ok_or_else(|| err("claim", object.kind(), libc::EINVAL))?;
                let i = self
                    .index(&at)
                    .map_err(|_| err("set owner", at.to_string(), libc::ENODEV))?;
                self.state.links[i].owner = Some(owner.to_owned());
                Ok(())
            }
            Object::Nic { .. } | Object::Address { .. } | Object::Route { .. } => {
                Err(err("claim", object.kind(), libc::EINVAL))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::LinkName;

    fn ln(s: &str) -> LinkName {
        LinkName::new(s).unwrap()
    }
    fn ns(s: &str) -> NsName {
        NsName::new(s).unwrap()
    }

    fn fake() -> FakeBackend {
        FakeBackend::new(
            serde_json::from_str(
                r#"{"links":[{"name":"eth1","kind":"device","mtu":1500,"up":true,"mac":"52:54:00:00:00:01"}]}"#,
            )
            .unwrap(),
        )
    }

    fn mv(namespace: Option<&str>, name: &str, parent: &str, mode: Mode) -> Object {
        Object::Macvlan(MacvlanLink {
            namespace: namespace.map(ns),
            name: ln(name),
            parent: ln(parent),
            mode,
            mac: None,
            mtu: None,
            up: true,
            source_macs: vec![],
        })
    }

    fn create(o: Object) -> Step {
        Step::Create { object: o }
    }

    fn errno(r: Result<(), BackendError>) -> Option<i32> {
        r.err().and_then(|e| e.errno)
    }

    #[test]
    fn macvlan_gets_kernel_mac_parent_mtu_and_owner() {
        let mut f = fake();
        f.execute(&create(Object::Namespace { name: ns("red") }), "lab")
            .unwrap();
        f.execute(
            &create(mv(Some("red"), "eth0", "eth1", Mode::Bridge)),
            "lab",
        )
        .unwrap();
        let l = f.state.link(Some(&ns("red")), &ln("eth0")).unwrap();
        assert_eq!(l.mtu, 1500);
        assert_eq!(l.owner.as_deref(), Some("lab"));
        assert_eq!(l.mac.unwrap().to_string(), "02:6d:76:00:00:01");
        assert_eq!(f.state.namespaces[0].owner.as_deref(), Some("lab"));
        assert_eq!(f.calls.len(), 2);
    }

    #[test]
    fn kernel_errors() {
        let mut f = fake();
        let red = create(mv(Some("red"), "eth0", "eth1", Mode::Bridge));
        assert_eq!(errno(f.execute(&red, "lab")), Some(libc::ENOENT));
        let host = create(mv(None, "mv0", "eth1", Mode::Bridge));
        f.execute(&host, "lab").unwrap();
        assert_eq!(errno(f.execute(&host, "lab")), Some(libc::EEXIST));
        let gone = Step::Delete {
            object: mv(None, "mv9", "eth1", Mode::Bridge),
        };
        assert_eq!(errno(f.execute(&gone, "lab")), Some(libc::ENOENT));
        let too_big = Step::Update {
            object: mv(None, "mv0", "eth1", Mode::Bridge),
            changes: vec![Change::Mtu {
                from: 1500,
                to: 9000,
            }],
        };
        assert_eq!(errno(f.execute(&too_big, "lab")), Some(libc::EINVAL));
        let passthru = create(mv(None, "pt", "eth1", Mode::Passthru));
        assert_eq!(errno(f.execute(&passthru, "lab")), Some(libc::EINVAL));
        let no_parent = create(mv(None, "mv1", "eth7", Mode::Bridge));
        assert_eq!(errno(f.execute(&no_parent, "lab")), Some(libc::ENODEV));
        // None of the failures changed anything.
        assert_eq!(f.state.links.len(), 2);
    }

    #[test]
    fn passthru_takes_the_parent_mac() {
        let mut f = fake();
        f.execute(&create(mv(None, "pt", "eth1", Mode::Passthru)), "lab")
            .unwrap();
        let l = f.state.link(None, &ln("pt")).unwrap();
        assert_eq!(l.mac.unwrap().to_string(), "52:54:00:00:00:01");
        let other = create(mv(None, "mv0", "eth1", Mode::Bridge));
        assert_eq!(errno(f.execute(&other, "lab")), Some(libc::EINVAL));
    }

    #[test]
    fn deletes_cascade_like_the_kernel() {
        let mut f = fake();
        f.execute(&create(Object::Namespace { name: ns("sw") }), "lab")
            .unwrap();
        let veth = Object::Veth {
            name: ln("lab0"),
            peer: ln("lab0p"),
            peer_namespace: Some(ns("sw")),
            mtu: None,
            mac: None,
            peer_mac: None,
        };
        f.execute(&create(veth), "lab").unwrap();
        f.execute(&create(mv(None, "mv0", "lab0", Mode::Bridge)), "lab")
            .unwrap();
        f.execute(
            &create(Object::Address {
                namespace: None,
                link: ln("mv0"),
                address: "10.0.0.2/24".parse().unwrap(),
            }),
            "lab",
        )
        .unwrap();
        assert_eq!(f.state.links.len(), 4);
        assert!(f.state.link(Some(&ns("sw")), &ln("lab0p")).is_some());
        // Deleting the namespace deletes the peer, hence the pair, hence the macvlan.
        f.execute(
            &Step::Delete {
                object: Object::Namespace { name: ns("sw") },
            },
            "lab",
        )
        .unwrap();
        assert_eq!(f.state.links.len(), 1);
    }

    #[test]
    fn fail_at_fails_exactly_that_call_and_changes_nothing() {
        let mut f = fake().fail_at(1, libc::EBUSY);
        f.execute(&create(mv(None, "a", "eth1", Mode::Bridge)), "lab")
            .unwrap();
        let e = f
            .execute(&create(mv(None, "b", "eth1", Mode::Bridge)), "lab")
            .unwrap_err();
        assert_eq!(e.errno, Some(libc::EBUSY));
        assert_eq!(e.op, "create macvlan");
        assert_eq!(e.object, "b");
        assert!(f.state.link(None, &ln("b")).is_none());
        f.execute(&create(mv(None, "c", "eth1", Mode::Bridge)), "lab")
            .unwrap();
        assert_eq!(f.calls.len(), 3);
    }

    #[test]
    fn routes_need_a_reachable_gateway_and_go_with_their_address() {
        let mut f = fake();
        f.execute(&create(mv(None, "mv0", "eth1", Mode::Bridge)), "lab")
            .unwrap();
        let route = create(Object::Route {
            namespace: None,
            link: ln("mv0"),
            to: "0.0.0.0/0".parse().unwrap(),
            via: Some("10.0.0.1".parse().unwrap()),
        });
        assert_eq!(errno(f.execute(&route, "lab")), Some(libc::ENETUNREACH));
        let address = Object::Address {
            namespace: None,
            link: ln("mv0"),
            address: "10.0.0.2/24".parse().unwrap(),
        };
        f.execute(&create(address.clone()), "lab").unwrap();
        f.execute(&route, "lab").unwrap();
        assert_eq!(errno(f.execute(&route, "lab")), Some(libc::EEXIST));
        f.execute(&Step::Delete { object: address }, "lab").unwrap();
        assert!(f.state.link(None, &ln("mv0")).unwrap().routes.is_empty());
    }
}
