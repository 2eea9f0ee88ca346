//! An in-memory kernel: a `Backend` that carries out the same requests as rtnetlink, one
//! at a time, with the kernel's rules, records every request, and can be told to refuse
//! request N with a given errno. Built only for tests (the `testing` feature).
//!
//! The effect of an accepted request is `apply::state::apply`, the same function the
//! executor tracks its state with; this module adds what the kernel refuses and the values
//! it picks. The rules, each checked on kernel 6.18 by `tests/conformance.rs`: a name taken
//! is EEXIST, a missing namespace ENOENT, a missing link or parent ENODEV; a macvlan's MTU
//! above its parent's is EINVAL, as is a passthru macvlan beside another on one parent or a
//! mode change into or out of passthru; a macvlan brought up, or given a MAC, that an up
//! sibling or the parent has is EADDRINUSE (one created down may share it; a claim refused
//! so has set the alias all the same: RTM_SETLINK is not atomic); an
//! absent address is EADDRNOTAVAIL, an absent route ESRCH, a route whose destination and
//! metric a namespace already has EEXIST; a veth's MTU is per end; going down drops IPv6
//! addresses and routes; lowering a link's MTU lowers the links on it; a macvlan change
//! naming the other kind (macvlan for a macvtap) is EOPNOTSUPP; macvlans and macvtaps share
//! a parent's port, and its broadcast cutoff, set through any of them; a master that is
//! missing is ENODEV, one that is not a bridge EOPNOTSUPP, a bridge as a port ELOOP, and a
//! port with macvlans on it, or a macvlan on a port, EBUSY.

use crate::apply::backend::{Backend, BackendError, Op, RequestOp};
use crate::apply::state::{self, get};
use crate::apply::{NewKind, NewLink, Request};
use crate::live::{LinkKind, LinkRef, LiveLink, LiveState};
use crate::model::Route;
use crate::names::{LinkName, MTU_MIN, MacAddr, Mode};
use crate::plan::Object;

pub use crate::apply::state::DEFAULT_MTU;

#[derive(Clone, Debug, Default)]
pub struct FakeBackend {
    /// The kernel's state, kept normalized after every request.
    pub state: LiveState,
    /// Every request in order, the refused ones included: `calls[n]` is request `n`.
    pub calls: Vec<Request>,
    fail_at: Option<(usize, i32)>,
    /// Source of kernel-picked MACs.
    next_mac: u32,
    /// MACs seen in this fake's life: the kernel picks at random, so in practice never one
    /// that a link has or had a moment ago; a counter would, so it skips these.
    seen_macs: std::collections::HashSet<MacAddr>,
}

type Res<T = ()> = Result<T, BackendError>;

fn err(op: impl Into<Op>, object: impl Into<String>, errno: i32) -> BackendError {
    let message = std::io::Error::from_raw_os_error(errno).to_string();
    // "File exists (os error 17)" -> "File exists": the errno is kept apart.
    let message = message
        .split(" (os error")
        .next()
        .unwrap_or_default()
        .to_lowercase();
    BackendError::new(op, object, Some(errno), message)
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

    /// The `n`-th request (counting from 0) is refused with `errno` and changes nothing.
    pub fn fail_at(mut self, n: usize, errno: i32) -> Self {
        self.fail_at = Some((n, errno));
        self
    }

    /// Carry out every step in order (each lowered against the state it finds), stopping
    /// at the first refusal and undoing nothing.
    pub fn apply_all(&mut self, steps: &[crate::plan::Step], owner: &str) -> Res {
        for s in steps {
            for r in crate::apply::lower(s, &self.state)? {
                self.request(&r, owner)?;
            }
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

    fn link(&self, op: RequestOp, at: &LinkRef) -> Res<&LiveLink> {
        if let Some(ns) = &at.namespace
            && self.state.namespace(ns).is_none()
        {
            return Err(err(op, at.to_string(), libc::ENOENT));
        }
        get(&self.state, at).ok_or_else(|| err(op, at.to_string(), libc::ENODEV))
    }

    fn free(&self, op: RequestOp, at: &LinkRef) -> Res {
        if let Some(ns) = &at.namespace
            && self.state.namespace(ns).is_none()
        {
            return Err(err(op, at.to_string(), libc::ENOENT));
        }
        if get(&self.state, at).is_some() {
            return Err(err(op, at.to_string(), libc::EEXIST));
        }
        Ok(())
    }

    /// macvlan_addr_busy: an up macvlan may not have a MAC that its parent or an up
    /// sibling has (a down one may: the check runs when it opens).
    fn mac_busy(&self, at: &LinkRef, l: &LiveLink, mac: Option<MacAddr>) -> bool {
        let (Some(mac), Some(p)) = (mac, l.parent.as_ref()) else {
            return false;
        };
        if l.kind.macvlan().is_none() || l.mode == Some(Mode::Passthru) {
            return false;
        }
        get(&self.state, p).is_some_and(|p| p.mac == Some(mac))
            || self.state.links.iter().any(|s| {
                s.parent.as_ref() == Some(p) && &s.at() != at && s.up && s.mac == Some(mac)
            })
    }

    // long: one match with one short arm per request kind, the clearest form of "what the
    // kernel refuses"; the longer arms are methods of their own.
    /// Whether the kernel accepts `request`; `Ok` means `state::apply` may run it.
    fn check(&self, request: &Request) -> Res {
        let op = request.op();
        let what = request.object();
        match request {
            Request::CreateNamespace { name } => {
                if self.state.namespace(name).is_some() {
                    return Err(err(op, what, libc::EEXIST));
                }
            }
            Request::DeleteNamespace { name } => {
                if self.state.namespace(name).is_none() {
                    return Err(err(op, what, libc::ENOENT));
                }
            }
            Request::CreateLink(n) => self.check_create_link(op, &what, n)?,
            Request::Claim { at, up } => {
                let l = self.link(op, at)?;
                if *up && !l.up && self.mac_busy(at, l, l.mac) {
                    return Err(err(op, what, libc::EADDRINUSE));
                }
            }
            Request::SetUp { at, up } => {
                let l = self.link(op, at)?;
                if *up && !l.up && self.mac_busy(at, l, l.mac) {
                    return Err(err(op, what, libc::EADDRINUSE));
                }
            }
            Request::SetAlias { at, .. } | Request::DeleteLink { at, .. } => {
                self.link(op, at)?;
            }
            Request::SetMaster { at, master } => self.check_set_master(op, &what, at, master)?,
            // Every link must be there before anything changes (the kernel backend reads
            // the namespace's links first); a missing one is named.
            Request::DeleteLinks {
                namespace, links, ..
            } => {
                for name in links {
                    let at = LinkRef::new(namespace.clone(), name.clone());
                    self.link(op, &at)?;
                }
            }
            Request::SetMtu { at, mtu } => {
                let l = self.link(op, at)?;
                let parent = l.parent.as_ref().and_then(|p| get(&self.state, p));
                if *mtu < MTU_MIN || parent.is_some_and(|p| *mtu > p.mtu) {
                    return Err(err(op, what, libc::EINVAL));
                }
            }
            Request::SetMac { at, mac } => {
                let l = self.link(op, at)?;
                // macvlan_set_mac_address checks whether it is busy up or down.
                if l.mac != Some(*mac) && self.mac_busy(at, l, Some(*mac)) {
                    return Err(err(op, what, libc::EADDRINUSE));
                }
            }
            Request::SetMacvlanAttr { at, kind, .. } => {
                // rtnl_changelink: IFLA_INFO_KIND other than the link's driver.
                if self.link(op, at)?.kind.macvlan() != Some(*kind) {
                    return Err(err(op, what, libc::EOPNOTSUPP));
                }
            }
            Request::SetMacvlan {
                at,
                kind,
                mode,
                source_macs,
            } => {
                let l = self.link(op, at)?;
                if l.kind.macvlan() != Some(*kind) {
                    return Err(err(op, what, libc::EOPNOTSUPP));
                }
                let from = l.mode.unwrap_or_default();
                if let Some(to) = mode
                    && (from == Mode::Passthru) != (*to == Mode::Passthru)
                {
                    return Err(err(op, what, libc::EINVAL));
                }
                if source_macs.is_some() && mode.unwrap_or(from) != Mode::Source {
                    return Err(err(op, what, libc::EINVAL));
                }
            }
            Request::AddAddress { at, address } => {
                let l = self.link(op, at)?;
                if l.addresses.contains(address) {
                    return Err(err(op, what, libc::EEXIST));
                }
            }
            Request::DeleteAddress { at, address } => {
                let l = self.link(op, at)?;
                if !l.addresses.contains(address) {
                    return Err(err(op, what, libc::EADDRNOTAVAIL));
                }
            }
            Request::AddRoute { at, route } => self.check_add_route(op, &what, at, route)?,
            Request::DeleteRoute { at, route } => {
                let l = self.link(op, at)?;
                if !l.routes.contains(route) {
                    return Err(err(op, what, libc::ESRCH));
                }
            }
        }
        Ok(())
    }

    /// Whether the kernel accepts a link made by `n`: its name free, and its lower device
    /// there and willing.
    fn check_create_link(&self, op: RequestOp, what: &str, n: &NewLink) -> Res {
        self.free(op, &n.at)?;
        match &n.kind {
            NewKind::Veth { peer, .. } => {
                self.free(op, peer)?;
                if *peer == n.at {
                    return Err(err(op, what, libc::EEXIST));
                }
            }
            NewKind::Dummy | NewKind::Bridge => {}
            NewKind::Vlan { link, .. } => {
                let lower = self.link(op, &LinkRef::new(n.at.namespace.clone(), link.clone()))?;
                if n.mtu.is_some_and(|m| m > lower.mtu) {
                    return Err(err(op, what, libc::EINVAL));
                }
            }
            NewKind::Macvlan { parent, mode, .. } => {
                let p = self.link(op, parent)?;
                if n.mtu.is_some_and(|m| m > p.mtu || m < MTU_MIN) {
                    return Err(err(op, what, libc::EINVAL));
                }
                // A bridge port's receive handler is the bridge's: the macvlan
                // driver cannot register its own.
                if p.master.is_some() {
                    return Err(err(op, what, libc::EBUSY));
                }
                let mut siblings =
                    self.state.links.iter().filter(|s| {
                        s.kind.macvlan().is_some() && s.parent.as_ref() == Some(parent)
                    });
                let passthru = |s: &LiveLink| s.mode == Some(Mode::Passthru);
                let any = siblings.clone().next().is_some();
                if siblings.any(passthru) || (*mode == Mode::Passthru && any) {
                    return Err(err(op, what, libc::EINVAL));
                }
            }
        }
        Ok(())
    }

    /// Whether the kernel lets `at` join the bridge `master` (or leave its bridge).
    fn check_set_master(
        &self,
        op: RequestOp,
        what: &str,
        at: &LinkRef,
        master: &Option<LinkName>,
    ) -> Res {
        let l = self.link(op, at)?;
        if let Some(m) = master {
            let bridge = self.link(op, &LinkRef::new(at.namespace.clone(), m.clone()))?;
            if bridge.kind != LinkKind::Bridge {
                return Err(err(op, what, libc::EOPNOTSUPP));
            }
            if l.kind == LinkKind::Bridge {
                return Err(err(op, what, libc::ELOOP));
            }
            if self
                .state
                .links
                .iter()
                .any(|c| c.parent.as_ref() == Some(at))
            {
                return Err(err(op, what, libc::EBUSY));
            }
        }
        Ok(())
    }

    /// Whether the kernel adds `route` out of `at`.
    fn check_add_route(&self, op: RequestOp, what: &str, at: &LinkRef, route: &Route) -> Res {
        let l = self.link(op, at)?;
        if let Some(gw) = route.via
            && !l.addresses.iter().any(|a| a.contains(&gw))
        {
            return Err(err(op, what, libc::ENETUNREACH));
        }
        // One main table per namespace, where a route is its destination and metric
        // (fib_table_insert / fib6_add_rt2 with NLM_F_EXCL): the same pair twice is
        // EEXIST whichever link or gateway the first one has; another metric is
        // another route.
        if self.state.links.iter().any(|o| {
            o.namespace == at.namespace
                && o.routes
                    .iter()
                    .any(|r| r.to == route.to && r.metric() == route.metric())
        }) {
            return Err(err(op, what, libc::EEXIST));
        }
        Ok(())
    }

    /// What the kernel picks for a link just created: MACs not given.
    fn pick(&mut self, request: &Request) {
        let Request::CreateLink(n) = request else {
            return;
        };
        let mut at = vec![n.at.clone()];
        if let NewKind::Veth { peer, .. } = &n.kind {
            at.push(peer.clone());
        }
        for a in at {
            let missing = get(&self.state, &a).is_some_and(|l| l.mac.is_none());
            if missing {
                let mac = self.pick_mac();
                if let Ok(i) = self.state.links.binary_search_by(|l| {
                    (l.namespace.as_ref(), &l.name).cmp(&(a.namespace.as_ref(), &a.name))
                }) {
                    self.state.links[i].mac = Some(mac);
                }
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

    fn request(&mut self, request: &Request, owner: &str) -> Result<(), BackendError> {
        let n = self.calls.len();
        self.calls.push(request.clone());
        if let Some((at, errno)) = self.fail_at
            && at == n
        {
            return Err(err(request.op(), request.object(), errno));
        }
        if let Err(e) = self.check(request) {
            // RTM_SETLINK is not atomic (do_setlink applies attribute after attribute): a
            // claim whose bringing up is refused has already set the alias.
            if let Request::Claim { at, .. } = request
                && e.errno == Some(libc::EADDRINUSE)
            {
                state::apply(
                    &mut self.state,
                    &Request::SetAlias {
                        at: at.clone(),
                        owner: Some(owner.to_owned()),
                    },
                    owner,
                );
            }
            return Err(e);
        }
        state::apply(&mut self.state, request, owner);
        self.pick(request);
        for l in &self.state.links {
            if let Some(m) = l.mac {
                self.seen_macs.insert(m);
            }
        }
        Ok(())
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
            | Object::Bridge { .. }
            | Object::Macvlan(_) => {
                let at = object
                    .link()
                    .ok_or_else(|| err("claim", object.kind(), libc::EINVAL))?;
                let alias = Request::SetAlias {
                    at,
                    owner: Some(owner.to_owned()),
                };
                self.request(&alias, owner)
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
    use crate::plan::{Change, Object, Step};

    use crate::testing::{ln, ns};

    fn fake() -> FakeBackend {
        FakeBackend::new(
            serde_json::from_str(
                r#"{"links":[{"name":"eth1","kind":"device","mtu":1500,"up":true,"mac":"52:54:00:00:00:01"}]}"#,
            )
            .unwrap(),
        )
    }

    fn mv(namespace: Option<&str>, name: &str, parent: &str, mode: Mode) -> Object {
        Object::Macvlan(crate::testing::macvlan_link(namespace, name, parent, mode))
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
        // The namespace, then the link's create and its claim.
        assert_eq!(f.calls.len(), 3);
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
        assert_eq!(errno(f.execute(&gone, "lab")), Some(libc::ENODEV));
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
            namespace: None,
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
    fn fail_at_fails_exactly_that_request_and_changes_nothing() {
        // Requests 0 and 1 create and claim "a"; request 2 is the create of "b".
        let mut f = fake().fail_at(2, libc::EBUSY);
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
        assert_eq!(f.calls.len(), 5);
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
            metric: None,
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
