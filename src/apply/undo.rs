//! Undo: the requests that give back what accepted requests changed, and running them.
//!
//! Every request the kernel accepted during a run is journaled with the prior state of
//! everything it changed (`state::Prior`). Undo walks the journal backwards and, for each
//! entry, compares the prior state with the state the run has reached, and asks for what
//! differs: a created link is deleted, a deleted link is created again as it was (MAC, MTU,
//! mode, source list, alias, up state, then its addresses and routes, and the links the
//! kernel deleted with it), a changed field is set back. So a step carried out by several
//! requests and refused at the third is undone exactly as far as it got.

use std::collections::{BTreeSet, HashMap};

use super::backend::{Backend, BackendError};
use crate::live::{LinkKind, LinkRef, LiveLink, LiveState};
use crate::names::Mode;

use super::requests::{MacvlanAttr, NewKind, NewLink, Request};
use super::state::{self, Prior, get};

/// A request the kernel accepted, and the state before it.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub request: Request,
    pub prior: Prior,
}

/// What undoing the accepted requests did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoReport {
    /// The requests undo made, in order.
    pub undone: Vec<Request>,
    /// Those that failed, or that could not be made at all (with the request they would
    /// have undone).
    pub failed: Vec<(Request, BackendError)>,
}

impl UndoReport {
    pub fn complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Parents before the links on them: a vlan sits on a parent, a macvlan on either, and a
/// bridge port is enslaved once its bridge is back.
fn depth(l: &LiveLink) -> u8 {
    match l.kind {
        LinkKind::Macvlan | LinkKind::Macvtap => 2,
        LinkKind::Vlan => 1,
        _ if l.master.is_some() => 1,
        _ => 0,
    }
}

/// The create request that makes `l` again as it was, if the kernel can make it.
/// The broadcast cutoff a macvlan made again must ask for. The cutoff is its parent's and
/// outlives any one macvlan while others stay on the parent: when the run changed it and
/// the macvlan that did so is already gone, a link that had the default (which the kernel
/// leaves out of its dumps) must ask for the default explicitly, or it joins the parent
/// at the run's value.
fn cutoff_to_restore(l: &LiveLink, now: &LiveState) -> Option<i32> {
    if l.bc_cutoff.is_some() || now.kernel.macvlan_bc_cutoff == Some(false) {
        return l.bc_cutoff;
    }
    let at = l.at();
    let sibling_differs = now.links.iter().any(|o| {
        o.kind.macvlan().is_some() && o.parent == l.parent && o.at() != at && o.bc_cutoff.is_some()
    });
    sibling_differs.then_some(state::DEFAULT_BC_CUTOFF)
}

fn recreate(l: &LiveLink, prior: &Prior, now: &LiveState) -> Result<NewLink, BackendError> {
    let cannot = |why: &str| {
        BackendError::new(
            "create link",
            l.at().to_string(),
            None,
            format!("cannot be created again: {why}"),
        )
    };
    let kind = match l.kind {
        LinkKind::Macvlan | LinkKind::Macvtap => NewKind::Macvlan {
            parent: l
                .parent
                .clone()
                .ok_or_else(|| cannot("its parent is unknown"))?,
            mode: l.mode.unwrap_or_default(),
            source_macs: l.source_macs.clone(),
            kind: l.kind.macvlan().unwrap_or_default(),
            flags: l.flags.clone(),
            bcqueuelen: l.bcqueuelen,
            bc_cutoff: cutoff_to_restore(l, now),
        },
        LinkKind::Vlan => NewKind::Vlan {
            link: l
                .parent
                .as_ref()
                .filter(|p| p.namespace == l.namespace)
                .ok_or_else(|| cannot("its lower link is unknown"))?
                .name
                .clone(),
            vlan_id: l.vlan_id.ok_or_else(|| cannot("its vlan id is unknown"))?,
        },
        LinkKind::Dummy => NewKind::Dummy,
        LinkKind::Bridge => NewKind::Bridge,
        LinkKind::Veth => {
            let peer = l
                .peer
                .clone()
                .ok_or_else(|| cannot("its peer is unknown"))?;
            let p = prior
                .links
                .iter()
                .find(|x| x.at() == peer)
                .or_else(|| get(now, &peer));
            NewKind::Veth {
                peer,
                peer_mac: p.and_then(|p| p.mac),
                peer_mtu: p.map(|p| p.mtu),
            }
        }
        LinkKind::Device | LinkKind::Other(_) => {
            return Err(cannot(&format!("a {} link is not made by mvtopo", l.kind)));
        }
    };
    Ok(NewLink {
        at: l.at(),
        kind,
        // A passthru macvlan takes its parent's MAC; giving it one is EINVAL on some
        // kernels, and it is the parent's anyway. A bridge without ports has the all-zero
        // MAC, which no create accepts.
        mac: l
            .mac
            .filter(|m| l.mode != Some(Mode::Passthru) && !m.is_zero()),
        mtu: Some(l.mtu),
        restore: true,
    })
}

/// Give `l`'s alias, up state and bridge back after creating it again (its bridge, a
/// parent-level link, is back by then: see `depth`).
fn reclaim(l: &LiveLink, owner: &str, out: &mut Vec<Request>) {
    if l.master.is_some() {
        out.push(Request::SetMaster {
            at: l.at(),
            master: l.master.clone(),
        });
    }
    if l.owner.as_deref() == Some(owner) {
        out.push(Request::Claim {
            at: l.at(),
            up: l.up,
        });
        return;
    }
    if l.owner.is_some() {
        out.push(Request::SetAlias {
            at: l.at(),
            owner: l.owner.clone(),
        });
    }
    if l.up {
        out.push(Request::SetUp {
            at: l.at(),
            up: true,
        });
    }
}

/// Addresses and routes of `was` missing from `now` (added), and those of `now` not in
/// `was` (deleted first).
fn contents(was: &LiveLink, now: Option<&LiveLink>, out: &mut Vec<Request>) {
    let at = was.at();
    let empty = (Vec::new(), Vec::new());
    let (addrs, routes) = now.map_or((&empty.0, &empty.1), |n| (&n.addresses, &n.routes));
    for r in routes.iter().filter(|r| !was.routes.contains(r)) {
        out.push(Request::DeleteRoute {
            at: at.clone(),
            route: r.clone(),
        });
    }
    for a in addrs.iter().filter(|a| !was.addresses.contains(a)) {
        out.push(Request::DeleteAddress {
            at: at.clone(),
            address: *a,
        });
    }
    for a in was.addresses.iter().filter(|a| !addrs.contains(a)) {
        out.push(Request::AddAddress {
            at: at.clone(),
            address: *a,
        });
    }
}

fn routes(was: &LiveLink, now: Option<&LiveLink>, out: &mut Vec<Request>) {
    let none = Vec::new();
    let have = now.map_or(&none, |n| &n.routes);
    for r in was.routes.iter().filter(|r| !have.contains(r)) {
        out.push(Request::AddRoute {
            at: was.at(),
            route: r.clone(),
        });
    }
}

/// The requests that turn `now` back into `prior`, for everything `prior` covers.
/// `doomed(at)` says that a link will be deleted later in the undo anyway (an earlier
/// request of the run created it): nothing of it is restored, and deleting a link whose
/// parent is doomed is left to the parent's delete (the kernel deletes the links on a parent
/// in one batch, where one request each costs an RCU grace period), unless `reused(at)`:
/// a link of that name existed before the run and must come back before then.
pub fn inverse(
    prior: &Prior,
    now: &LiveState,
    owner: &str,
    doomed: &dyn Fn(&LinkRef) -> bool,
    reused: &dyn Fn(&LinkRef) -> bool,
) -> (Vec<Request>, Vec<BackendError>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    delete_added(prior, now, doomed, reused, &mut out);
    if let Some(ns) = &prior.namespace_added
        && now.namespace(ns).is_some()
    {
        out.push(Request::DeleteNamespace { name: ns.clone() });
    }
    if let Some(ns) = &prior.namespace_removed
        && now.namespace(&ns.name).is_none()
    {
        out.push(Request::CreateNamespace {
            name: ns.name.clone(),
        });
    }
    // What it changed or removed comes back, parents first.
    let mut links: Vec<&LiveLink> = prior.links.iter().filter(|l| !doomed(&l.at())).collect();
    links.sort_by_key(|l| depth(l));
    let mut made: BTreeSet<LinkRef> = BTreeSet::new();
    let mut cutoffs: BTreeSet<LinkRef> = BTreeSet::new();
    let mut after = Vec::new();
    let mut last = Vec::new();
    for was in links {
        let at = was.at();
        // Another link of that name (what a replace made) goes first.
        let same =
            |n: &LiveLink| n.kind == was.kind && n.parent == was.parent && n.peer == was.peer;
        let found = match get(now, &at) {
            Some(n) if !same(n) => {
                if !made.contains(&at) {
                    out.push(super::requests::delete_link(at.clone(), now));
                }
                None
            }
            other => other,
        };
        match found {
            None => {
                // A veth comes back as a pair, in one request, with both ends' MACs.
                if made.contains(&at) {
                    reclaim(was, owner, &mut out);
                    contents(was, None, &mut after);
                    routes(was, None, &mut last);
                    continue;
                }
                match recreate(was, prior, now) {
                    Ok(n) => {
                        if let NewKind::Veth { peer, .. } = &n.kind {
                            made.insert(peer.clone());
                        }
                        out.push(Request::CreateLink(n));
                        reclaim(was, owner, &mut out);
                        contents(was, None, &mut after);
                        routes(was, None, &mut last);
                    }
                    Err(e) => problems.push(e),
                }
            }
            Some(n) => restore_changed(was, n, &mut cutoffs, &mut out, &mut after, &mut last),
        }
    }
    out.extend(after);
    out.extend(last);
    (out, problems)
}

/// Delete again the links the request created (`prior.added`) that are still there, but
/// not a veth's second end nor a link its doomed parent's delete carries along.
fn delete_added(
    prior: &Prior,
    now: &LiveState,
    doomed: &dyn Fn(&LinkRef) -> bool,
    reused: &dyn Fn(&LinkRef) -> bool,
    out: &mut Vec<Request>,
) {
    // What the request created goes again.
    let mut gone: BTreeSet<LinkRef> = BTreeSet::new();
    for at in &prior.added {
        let Some(l) = get(now, at) else { continue };
        if gone.contains(at) {
            continue;
        }
        let carried = !reused(at) && l.parent.as_ref().is_some_and(doomed);
        if let Some(p) = &l.peer {
            gone.insert(p.clone());
        }
        if !carried {
            out.push(super::requests::delete_link(at.clone(), now));
        }
    }
}

/// Set back what changed on `n`, a link that is still there, to what it was (`was`):
/// requests into `out`, its addresses into `after` and its routes into `last`.
fn restore_changed(
    was: &LiveLink,
    n: &LiveLink,
    cutoffs: &mut BTreeSet<LinkRef>,
    out: &mut Vec<Request>,
    after: &mut Vec<Request>,
    last: &mut Vec<Request>,
) {
    let at = was.at();
    let mut n = n.clone();
    restore_macvlan(was, &n, cutoffs, out);
    if was.mtu != n.mtu {
        out.push(Request::SetMtu {
            at: at.clone(),
            mtu: was.mtu,
        });
    }
    if let Some(mac) = was.mac.filter(|m| Some(*m) != n.mac) {
        out.push(Request::SetMac {
            at: at.clone(),
            mac,
        });
    }
    if was.master != n.master {
        out.push(Request::SetMaster {
            at: at.clone(),
            master: was.master.clone(),
        });
    }
    if was.owner != n.owner {
        out.push(Request::SetAlias {
            at: at.clone(),
            owner: was.owner.clone(),
        });
    }
    if was.up != n.up {
        out.push(Request::SetUp {
            at: at.clone(),
            up: was.up,
        });
        if !was.up {
            // Going down drops IPv6 addresses and routes (see `state::apply`).
            n.addresses.retain(|a| a.addr().is_ipv4());
            n.routes.clear();
        }
    }
    contents(was, Some(&n), after);
    routes(was, Some(&n), last);
}

/// Set back the macvlan mode, source list and attributes of `n` to those of `was`.
fn restore_macvlan(
    was: &LiveLink,
    n: &LiveLink,
    cutoffs: &mut BTreeSet<LinkRef>,
    out: &mut Vec<Request>,
) {
    if let Some(kind) = was.kind.macvlan() {
        let mode = was.mode.filter(|m| Some(*m) != n.mode);
        let list = (was.mode == Some(Mode::Source)
            && (mode.is_some() || was.source_macs != n.source_macs))
            .then(|| was.source_macs.clone());
        if mode.is_some() || list.is_some() {
            out.push(Request::SetMacvlan {
                at: was.at(),
                kind,
                mode,
                source_macs: list,
            });
        }
        let mut attrs = Vec::new();
        if was.flags != n.flags {
            attrs.push(MacvlanAttr::Flags(was.flags.clone()));
        }
        if let Some(q) = was.bcqueuelen.filter(|q| Some(*q) != n.bcqueuelen) {
            attrs.push(MacvlanAttr::BcQueueLen(q));
        }
        // The cutoff is the parent's: set back once, through the first of its
        // macvlans that the request changed.
        if was.bc_cutoff != n.bc_cutoff
            && was
                .parent
                .as_ref()
                .is_some_and(|p| cutoffs.insert(p.clone()))
        {
            attrs.push(MacvlanAttr::BcCutoff(
                was.bc_cutoff.unwrap_or(state::DEFAULT_BC_CUTOFF),
            ));
        }
        out.extend(attrs.into_iter().map(|attr| Request::SetMacvlanAttr {
            at: was.at(),
            kind,
            attr,
        }));
    }
}

/// Undo `journal` (accepted requests, oldest first) last first, through `backend`, keeping
/// `state` (the state the run reached) up to date. Keeps going past a failed group: leaving
/// less behind is better than stopping at the first problem, and every failure is reported.
pub fn undo(
    backend: &mut dyn Backend,
    journal: &[Accepted],
    state: &mut LiveState,
    owner: &str,
) -> UndoReport {
    let mut report = UndoReport::default();
    // Which entry first created each link: such a link is deleted when that entry is
    // undone, so later entries need not restore anything of it.
    let mut created: HashMap<&LinkRef, usize> = HashMap::new();
    // Links that existed before the run (and that some request changed or removed).
    let mut before: BTreeSet<LinkRef> = BTreeSet::new();
    for (i, e) in journal.iter().enumerate() {
        for l in &e.prior.links {
            let at = l.at();
            if created.get(&at).is_none_or(|&k| k >= i) {
                before.insert(at);
            }
        }
        for at in &e.prior.added {
            created.entry(at).or_insert(i);
        }
    }
    let mut deferred: Vec<(Vec<Request>, BackendError)> = Vec::new();
    for (i, e) in journal.iter().enumerate().rev() {
        let doomed = |at: &LinkRef| created.get(at).is_some_and(|&k| k < i);
        let reused = |at: &LinkRef| before.contains(at);
        let (group, problems) = inverse(&e.prior, state, owner, &doomed, &reused);
        for p in problems {
            report.failed.push((e.request.clone(), p));
        }
        if let Err(failed) = run_group(backend, group, state, owner, &mut report) {
            deferred.push(failed);
        }
    }
    // A group undone too early can fail and succeed later: raising a macvlan's MTU back, or
    // recreating it with its old MTU, fails (EINVAL) until its parent's MTU is raised back,
    // which an earlier step of the plan lowered and whose undo comes after. One more pass
    // over what failed, in the same order.
    for (group, first) in deferred {
        if let Err((rest, _)) = run_group(backend, group, state, owner, &mut report) {
            let mut rest = rest.into_iter();
            if let Some(head) = rest.next() {
                report.failed.push((head, first));
            }
            // What builds on the failed request was never tried: report it too.
            for r in rest {
                let e = BackendError::new(
                    r.op(),
                    r.object(),
                    None,
                    "not tried: an undo request it depends on failed",
                );
                report.failed.push((r, e));
            }
        }
    }
    report
}

/// Run one undo group; on failure, the failed request and the rest of the group, untried.
fn run_group(
    backend: &mut dyn Backend,
    group: Vec<Request>,
    state: &mut LiveState,
    owner: &str,
    report: &mut UndoReport,
) -> Result<(), (Vec<Request>, BackendError)> {
    let mut requests = group.into_iter();
    while let Some(r) = requests.next() {
        // Two entries can each give back the same address or route: a request that changed
        // a link's siblings too (the parent's broadcast cutoff, a parent's MTU) records them
        // whole, and undoing it restores whatever of them differs. What an earlier group
        // gave back already is not asked for again (the kernel would say EEXIST).
        if already_there(&r, state) {
            continue;
        }
        match backend.request(&r, owner) {
            Ok(()) => {}
            // Undo wants the object gone; if it is already gone (its parent took it
            // along), that is the state wanted.
            Err(e) if is_delete(&r) && already_gone(&e) => {}
            Err(e) => {
                let mut rest = vec![r];
                rest.extend(requests);
                return Err((rest, e));
            }
        }
        state::apply(state, &r, owner);
        report.undone.push(r);
    }
    Ok(())
}

fn already_there(r: &Request, state: &LiveState) -> bool {
    match r {
        Request::AddAddress { at, address } => {
            get(state, at).is_some_and(|l| l.addresses.contains(address))
        }
        Request::AddRoute { at, route } => get(state, at).is_some_and(|l| l.routes.contains(route)),
        _ => false,
    }
}

fn is_delete(r: &Request) -> bool {
    matches!(
        r,
        Request::DeleteLink { .. }
            | Request::DeleteLinks { .. }
            | Request::DeleteNamespace { .. }
            | Request::DeleteAddress { .. }
            | Request::DeleteRoute { .. }
    )
}

/// The errnos the kernel gives for deleting something that is not there: ENODEV for a link,
/// EADDRNOTAVAIL for an address, ESRCH for a route, ENOENT for a namespace file.
pub(crate) fn already_gone(e: &BackendError) -> bool {
    matches!(
        e.errno,
        Some(libc::ENOENT | libc::ENODEV | libc::EADDRNOTAVAIL | libc::ESRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::state::apply;

    fn live() -> LiveState {
        let mut s: LiveState = serde_json::from_str(
            r#"{"namespaces":[{"name":"red","owner":"lab"}],"links":[
            {"name":"p0","kind":"veth","peer":{"name":"p0p"},"mac":"02:00:00:00:00:01","mtu":1500,"up":true,"owner":"lab"},
            {"name":"p0p","kind":"veth","peer":{"name":"p0"},"mac":"02:00:00:00:00:02","mtu":1400,"up":true,"owner":"lab"},
            {"namespace":"red","name":"m0","kind":"macvlan","parent":{"name":"p0"},"mode":"bridge",
             "mac":"02:00:00:00:00:03","mtu":1400,"up":true,"owner":"lab",
             "addresses":["10.0.0.2/24"],"routes":[{"to":"10.1.0.0/16","via":"10.0.0.1"}]}]}"#,
        )
        .unwrap();
        s.normalize();
        s
    }

    fn at(ns: Option<&str>, name: &str) -> LinkRef {
        LinkRef {
            namespace: ns.map(|n| crate::names::NsName::new(n).unwrap()),
            name: crate::names::LinkName::new(name).unwrap(),
        }
    }

    #[test]
    fn a_changed_field_is_set_back() {
        let mut s = live();
        let r = Request::SetMac {
            at: at(Some("red"), "m0"),
            mac: crate::names::MacAddr([2, 0, 0, 0, 0, 9]),
        };
        let prior = apply(&mut s, &r, "lab");
        let (inv, problems) = inverse(&prior, &s, "lab", &|_| false, &|_| false);
        assert!(problems.is_empty());
        assert_eq!(
            inv,
            [Request::SetMac {
                at: at(Some("red"), "m0"),
                mac: crate::names::MacAddr([2, 0, 0, 0, 0, 3]),
            }]
        );
        for r in &inv {
            apply(&mut s, r, "lab");
        }
        assert_eq!(s, live());
    }

    #[test]
    fn a_deleted_parent_comes_back_with_its_peer_macvlan_and_their_contents() {
        let mut s = live();
        let r = Request::DeleteLink {
            at: at(None, "p0"),
            takes: vec![],
        };
        let prior = apply(&mut s, &r, "lab");
        assert!(s.links.is_empty());
        let (inv, problems) = inverse(&prior, &s, "lab", &|_| false, &|_| false);
        assert!(problems.is_empty());
        let ops: Vec<String> = inv.iter().map(ToString::to_string).collect();
        assert_eq!(
            ops,
            [
                "create veth p0 mac 02:00:00:00:00:01 mtu 1500",
                "set owner p0",
                "set owner p0p",
                "create macvlan red/m0 mac 02:00:00:00:00:03 mtu 1400",
                "set owner red/m0",
                "add address 10.0.0.2/24 on red/m0",
                "add route 10.1.0.0/16 via 10.0.0.1 on red/m0",
            ]
        );
        for r in &inv {
            apply(&mut s, r, "lab");
        }
        assert_eq!(s, live(), "the peer's own MTU and MAC come back too");
    }

    /// Two macvtaps on p0, sharing the parent's broadcast cutoff (4).
    fn taps() -> LiveState {
        let mut s: LiveState = serde_json::from_str(
            r#"{"kernel":{"macvlan_bc_queue_len":true,"macvlan_bc_cutoff":true},"links":[
            {"name":"p0","kind":"veth","peer":{"name":"p0p"},"mac":"02:00:00:00:00:01","mtu":1500,"up":true,"owner":"lab"},
            {"name":"p0p","kind":"veth","peer":{"name":"p0"},"mac":"02:00:00:00:00:02","mtu":1500,"up":true,"owner":"lab"},
            {"name":"t0","kind":"macvtap","parent":{"name":"p0"},"mode":"source","source_macs":["02:00:00:00:00:aa"],
             "flags":["nodst"],"bcqueuelen":64,"bc_cutoff":4,"mac":"02:00:00:00:00:03","mtu":1500,"up":true,"owner":"lab"},
            {"name":"t1","kind":"macvtap","parent":{"name":"p0"},"mode":"bridge","bcqueuelen":1000,"bc_cutoff":4,
             "mac":"02:00:00:00:00:04","mtu":1500,"up":true,"owner":"lab"}]}"#,
        )
        .unwrap();
        s.normalize();
        s
    }

    #[test]
    fn a_deleted_macvtap_comes_back_as_a_macvtap_with_its_flags_and_queue() {
        let mut s = taps();
        let r = Request::DeleteLink {
            at: at(None, "t0"),
            takes: vec![],
        };
        let prior = apply(&mut s, &r, "lab");
        let (inv, problems) = inverse(&prior, &s, "lab", &|_| false, &|_| false);
        assert!(problems.is_empty());
        let Some(Request::CreateLink(n)) = inv.first() else {
            panic!("{inv:?}");
        };
        assert_eq!(n.kind.kind(), LinkKind::Macvtap);
        assert_eq!(inv[0].op(), crate::apply::backend::RequestOp::CreateMacvtap);
        for r in &inv {
            apply(&mut s, r, "lab");
        }
        assert_eq!(s, taps());
    }

    #[test]
    fn the_parents_cutoff_is_set_back_once_and_flags_and_queue_per_link() {
        let mut s = taps();
        let mut journal = Vec::new();
        for (name, attr) in [
            ("t1", MacvlanAttr::BcCutoff(1)),
            ("t0", MacvlanAttr::Flags(vec![])),
            ("t1", MacvlanAttr::BcQueueLen(10)),
        ] {
            let r = Request::SetMacvlanAttr {
                at: at(None, name),
                kind: crate::names::MacvlanKind::Macvtap,
                attr,
            };
            journal.push(apply(&mut s, &r, "lab"));
        }
        // The cutoff is the parent's: both macvtaps report the default now.
        assert!(s.links.iter().all(|l| l.bc_cutoff.is_none()));
        let mut undone = Vec::new();
        for prior in journal.iter().rev() {
            let (inv, problems) = inverse(prior, &s, "lab", &|_| false, &|_| false);
            assert!(problems.is_empty());
            for r in &inv {
                apply(&mut s, r, "lab");
            }
            undone.extend(inv.iter().map(ToString::to_string));
        }
        assert_eq!(
            undone,
            [
                "set bcqueuelen t1 1000",
                "set flags t0 [nodst]",
                "set bc-cutoff t0 4",
            ]
        );
        assert_eq!(s, taps());
    }
}
