//! What one accepted request does to the state, as the kernel does it: the state the run
//! has reached, and the prior state of everything a request changed (what undo gives back).
//!
//! This is the effect only, never a judgement: the real kernel decides whether a request
//! is accepted, and `fake` adds the kernel's rules (errnos) on top of the same effects, so
//! the two cannot drift apart. Values the kernel picks (a MAC not given) stay unknown
//! (`None`) here.

use std::collections::HashSet;

use crate::live::{LinkKind, LinkRef, LiveLink, LiveNamespace, LiveState};
use crate::names::{LinkName, MacAddr, Mode, NsName};

use super::requests::{MacvlanAttr, NewKind, NewLink, Request};

pub use crate::names::{DEFAULT_BC_CUTOFF, DEFAULT_BC_QUEUE_LEN, DEFAULT_MTU};

/// The state before one request, for everything the request changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prior {
    /// Links changed or removed, as they were.
    pub links: Vec<LiveLink>,
    /// Links the request created.
    pub added: Vec<LinkRef>,
    pub namespace_added: Option<NsName>,
    pub namespace_removed: Option<LiveNamespace>,
}

fn index(state: &LiveState, at: &LinkRef) -> Result<usize, usize> {
    state.links.binary_search_by(|l| {
        (l.namespace.as_ref(), &l.name).cmp(&(at.namespace.as_ref(), &at.name))
    })
}

pub(crate) fn get<'a>(state: &'a LiveState, at: &LinkRef) -> Option<&'a LiveLink> {
    index(state, at).ok().map(|i| &state.links[i])
}

/// Insert or replace a link, keeping the state sorted.
pub(crate) fn put(state: &mut LiveState, l: LiveLink) {
    match index(state, &l.at()) {
        Ok(i) => state.links[i] = l,
        Err(i) => state.links.insert(i, l),
    }
}

/// Remove a link and everything the kernel removes with it (the other end of a veth, the
/// links stacked on it), returning them as they were, and the ports a removed bridge
/// releases as they were before.
fn remove_link(state: &mut LiveState, at: &LinkRef) -> Vec<LiveLink> {
    let mut gone = Vec::new();
    let mut todo = vec![at.clone()];
    while let Some(at) = todo.pop() {
        let Ok(i) = index(state, &at) else { continue };
        let l = state.links.remove(i);
        if l.kind == LinkKind::Bridge {
            for p in state
                .links
                .iter_mut()
                .filter(|p| p.namespace == at.namespace && p.master.as_ref() == Some(&at.name))
            {
                gone.push(p.clone());
                p.master = None;
            }
        }
        if l.kind == LinkKind::Veth
            && let Some(p) = &l.peer
        {
            todo.push(p.clone());
        }
        todo.extend(
            state
                .links
                .iter()
                .filter(|c| c.parent.as_ref() == Some(&at))
                .map(LiveLink::at),
        );
        gone.push(l);
    }
    gone
}

/// Remove the links `names` of namespace `ns` and everything the kernel removes with them
/// (as `remove_link` for each), returning them as they were, in the state's order. One
/// pass over the state per level of stacking and one `retain`, not one of each per link:
/// a batch of a namespace's links costs about as much as a single delete.
fn remove_links(state: &mut LiveState, ns: Option<&NsName>, names: &[LinkName]) -> Vec<LiveLink> {
    type Key<'a> = (Option<&'a NsName>, &'a LinkName);
    let mut dead = vec![false; state.links.len()];
    for name in names {
        if let Ok(i) = index(state, &LinkRef::new(ns.cloned(), name.clone())) {
            dead[i] = true;
        }
    }
    loop {
        let gone: HashSet<Key<'_>> = state
            .links
            .iter()
            .zip(&dead)
            .filter(|(_, d)| **d)
            .map(|(l, _)| (l.namespace.as_ref(), &l.name))
            .collect();
        let peers: HashSet<Key<'_>> = state
            .links
            .iter()
            .zip(&dead)
            .filter(|(l, d)| **d && l.kind == LinkKind::Veth)
            .filter_map(|(l, _)| l.peer.as_ref().map(|p| (p.namespace.as_ref(), &p.name)))
            .collect();
        let more: Vec<usize> = state
            .links
            .iter()
            .enumerate()
            .filter(|(i, l)| {
                !dead[*i]
                    && (peers.contains(&(l.namespace.as_ref(), &l.name))
                        || l.parent
                            .as_ref()
                            .is_some_and(|p| gone.contains(&(p.namespace.as_ref(), &p.name))))
            })
            .map(|(i, _)| i)
            .collect();
        if more.is_empty() {
            break;
        }
        for i in more {
            dead[i] = true;
        }
    }
    let mut removed = Vec::new();
    let mut i = 0;
    state.links.retain(|l| {
        let d = dead[i];
        i += 1;
        if d {
            removed.push(l.clone());
        }
        !d
    });
    removed
}

/// The links the kernel deletes together with `at` (not `at` itself).
pub fn carried(state: &LiveState, at: &LinkRef) -> Vec<LinkRef> {
    let mut out: Vec<LinkRef> = Vec::new();
    let mut todo = vec![at.clone()];
    while let Some(x) = todo.pop() {
        let Some(l) = get(state, &x) else { continue };
        let mut next: Vec<LinkRef> = state
            .links
            .iter()
            .filter(|c| c.parent.as_ref() == Some(&x))
            .map(LiveLink::at)
            .collect();
        if l.kind == LinkKind::Veth
            && let Some(p) = &l.peer
        {
            next.push(p.clone());
        }
        for n in next {
            if n != *at && !out.contains(&n) {
                out.push(n.clone());
                todo.push(n);
            }
        }
    }
    out
}

fn blank(at: &LinkRef, kind: LinkKind, mtu: u32) -> LiveLink {
    // RTM_NEWLINK without IFF_UP: the link starts down (the claim brings it up).
    LiveLink::new(at.clone(), kind, mtu, false)
}

/// The broadcast queue length a macvlan reports after asking for `asked`: none where the
/// kernel lacks the attribute (it ignores it, see `KernelFeatures`); the kernel's default
/// where it has it and none was asked for; unknown (`None`) when the kernel is unknown.
fn bc_queue_len(state: &LiveState, asked: Option<u32>) -> Option<u32> {
    match state.kernel.macvlan_bc_queue_len {
        Some(false) => None,
        Some(true) => Some(asked.unwrap_or(DEFAULT_BC_QUEUE_LEN)),
        None => asked,
    }
}

/// The macvlans sharing `parent`'s macvlan port (the kernel's per-parent state).
fn port_members(state: &LiveState, parent: &LinkRef) -> Vec<LinkRef> {
    state
        .links
        .iter()
        .filter(|c| c.kind.macvlan().is_some() && c.parent.as_ref() == Some(parent))
        .map(LiveLink::at)
        .collect()
}

/// The cutoff as a macvlan reports it: `None` where it is the kernel's default, which the
/// kernel leaves out of its dumps.
fn reported_cutoff(cutoff: i32) -> Option<i32> {
    (cutoff != DEFAULT_BC_CUTOFF).then_some(cutoff)
}

/// Set the parent's broadcast cutoff, as every macvlan on it reports it, except `made`
/// (a link this very request created, which has no prior state to give back).
fn set_port_cutoff(
    state: &mut LiveState,
    parent: &LinkRef,
    cutoff: i32,
    made: Option<&LinkRef>,
    prior: &mut Prior,
) {
    let reported = reported_cutoff(cutoff);
    for m in port_members(state, parent) {
        if Some(&m) != made && get(state, &m).is_some_and(|l| l.bc_cutoff != reported) {
            change(state, &m, prior, |l| l.bc_cutoff = reported);
        }
    }
}

/// Change one link in place, recording it as it was.
fn change(state: &mut LiveState, at: &LinkRef, prior: &mut Prior, f: impl FnOnce(&mut LiveLink)) {
    if let Ok(i) = index(state, at) {
        prior.links.push(state.links[i].clone());
        f(&mut state.links[i]);
    }
}

// long: one match with one short arm per request kind, the clearest form of "what each
// request does to the state"; the longer arms are functions of their own.
/// Apply `request`, accepted by the kernel, to `state`. `owner` is the topology whose alias
/// a claim writes.
pub fn apply(state: &mut LiveState, request: &Request, owner: &str) -> Prior {
    let mut prior = Prior::default();
    match request {
        Request::CreateNamespace { name } => {
            let i = state
                .namespaces
                .binary_search_by(|n| n.name.cmp(name))
                .unwrap_or_else(|i| i);
            state.namespaces.insert(
                i,
                LiveNamespace {
                    name: name.clone(),
                    owner: Some(owner.to_owned()),
                },
            );
            prior.namespace_added = Some(name.clone());
        }
        Request::DeleteNamespace { name } => {
            if let Ok(i) = state.namespaces.binary_search_by(|n| n.name.cmp(name)) {
                prior.namespace_removed = Some(state.namespaces.remove(i));
            }
            let inside: Vec<LinkRef> = state.links_in(Some(name)).map(LiveLink::at).collect();
            for at in inside {
                prior.links.extend(remove_link(state, &at));
            }
        }
        Request::CreateLink(n) => create_link(state, n, &mut prior),
        Request::Claim { at, up } => change(state, at, &mut prior, |l| {
            l.owner = Some(owner.to_owned());
            l.up |= *up;
        }),
        Request::SetAlias { at, owner } => {
            change(state, at, &mut prior, |l| l.owner = owner.clone())
        }
        Request::DeleteLink { at, .. } => prior.links = remove_link(state, at),
        Request::DeleteLinks {
            namespace, links, ..
        } => prior.links = remove_links(state, namespace.as_ref(), links),
        Request::SetMtu { at, mtu } => set_mtu(state, at, *mtu, &mut prior),
        Request::SetMac { at, mac } => change(state, at, &mut prior, |l| l.mac = Some(*mac)),
        Request::SetMaster { at, master } => {
            change(state, at, &mut prior, |l| l.master = master.clone())
        }
        Request::SetUp { at, up } => change(state, at, &mut prior, |l| {
            l.up = *up;
            if !*up {
                // Going down, the kernel drops the link's IPv6 addresses (keep_addr_on_down
                // is 0 by default) and every route out of it; IPv4 addresses stay.
                l.addresses.retain(|a| a.addr().is_ipv4());
                l.routes.clear();
            }
        }),
        Request::SetMacvlanAttr { at, attr, .. } => set_macvlan_attr(state, at, attr, &mut prior),
        Request::SetMacvlan {
            at,
            mode,
            source_macs,
            ..
        } => change(state, at, &mut prior, |l| {
            if let Some(m) = mode {
                if *m != Mode::Source {
                    // Leaving source mode flushes the list.
                    l.source_macs.clear();
                }
                l.mode = Some(*m);
            }
            if let Some(list) = source_macs {
                l.source_macs = list.clone();
                l.source_macs.sort();
                l.source_macs.dedup();
            }
        }),
        Request::AddAddress { at, address } => change(state, at, &mut prior, |l| {
            if let Err(j) = l.addresses.binary_search(address) {
                l.addresses.insert(j, *address);
            }
        }),
        Request::DeleteAddress { at, address } => change(state, at, &mut prior, |l| {
            l.addresses.retain(|a| a != address);
            // The kernel flushes routes whose gateway no remaining prefix reaches.
            let addresses = l.addresses.clone();
            l.routes.retain(|r| {
                r.via
                    .is_none_or(|gw| addresses.iter().any(|a| a.contains(&gw)))
            });
        }),
        Request::AddRoute { at, route } => change(state, at, &mut prior, |l| {
            if let Err(j) = l.routes.binary_search(route) {
                l.routes.insert(j, route.clone());
            }
        }),
        Request::DeleteRoute { at, route } => {
            change(state, at, &mut prior, |l| l.routes.retain(|r| r != route))
        }
    }
    prior
}

/// A link made: it (and a veth's peer) appears, taking its lower device's MTU and MAC
/// where the request names none.
fn create_link(state: &mut LiveState, n: &NewLink, prior: &mut Prior) {
    let lower = match &n.kind {
        NewKind::Macvlan { parent, .. } => Some(parent.clone()),
        // A vlan sits on a link in its own namespace.
        NewKind::Vlan { link, .. } => Some(LinkRef::new(n.at.namespace.clone(), link.clone())),
        _ => None,
    };
    let lower_link = lower.as_ref().and_then(|p| get(state, p));
    let (lower_mtu, lower_mac) = (lower_link.map(|p| p.mtu), lower_link.and_then(|p| p.mac));
    let mtu = n.mtu.or(lower_mtu).unwrap_or(DEFAULT_MTU);
    let mut l = blank(&n.at, n.kind.kind(), mtu);
    l.parent = lower.clone();
    l.mac = n.mac;
    match &n.kind {
        NewKind::Macvlan { .. } => new_macvlan(state, n, &mut l, lower.as_ref(), lower_mac),
        NewKind::Vlan { vlan_id, .. } => {
            l.vlan_id = Some(*vlan_id);
            l.mac = n.mac.or(lower_mac);
        }
        NewKind::Veth {
            peer,
            peer_mac,
            peer_mtu,
        } => {
            l.peer = Some(peer.clone());
            let mut p = blank(peer, LinkKind::Veth, peer_mtu.unwrap_or(DEFAULT_MTU));
            p.peer = Some(n.at.clone());
            p.mac = *peer_mac;
            prior.added.push(peer.clone());
            put(state, p);
        }
        NewKind::Dummy | NewKind::Bridge => {}
    }
    prior.added.insert(0, n.at.clone());
    put(state, l);
    if let (
        NewKind::Macvlan {
            bc_cutoff: Some(c), ..
        },
        Some(p),
    ) = (&n.kind, &lower)
        && state.kernel.macvlan_bc_cutoff != Some(false)
    {
        set_port_cutoff(state, p, *c, Some(&n.at), prior);
    }
}

/// The macvlan attributes of `l`, made by `n` on `lower` (whose MAC is `lower_mac`).
fn new_macvlan(
    state: &LiveState,
    n: &NewLink,
    l: &mut LiveLink,
    lower: Option<&LinkRef>,
    lower_mac: Option<MacAddr>,
) {
    let NewKind::Macvlan {
        mode,
        source_macs,
        flags,
        bcqueuelen,
        bc_cutoff,
        ..
    } = &n.kind
    else {
        return;
    };
    l.mode = Some(*mode);
    l.flags = flags.clone();
    l.flags.sort();
    l.flags.dedup();
    l.bcqueuelen = bc_queue_len(state, *bcqueuelen);
    // A new macvlan joins its parent's port and reports the port's
    // cutoff; one it asks for is the port's from then on.
    l.bc_cutoff = match (bc_cutoff, lower) {
        (Some(c), _) if state.kernel.macvlan_bc_cutoff != Some(false) => reported_cutoff(*c),
        // The first member found is enough: no list of them (a create per macvlan that
        // collected its parent's every sibling made a W2 apply quadratic).
        (_, Some(p)) => state
            .links
            .iter()
            .find(|c| c.kind.macvlan().is_some() && c.parent.as_ref() == Some(p))
            .and_then(|m| m.bc_cutoff),
        _ => None,
    };
    if *mode == Mode::Passthru && n.mac.is_none() {
        l.mac = lower_mac;
    }
    if *mode == Mode::Source {
        l.source_macs = source_macs.clone();
        l.source_macs.sort();
        l.source_macs.dedup();
    }
}

/// A lower device's MTU caps the links on it (the macvlan and vlan drivers'
/// NETDEV_CHANGEMTU handlers lower theirs); raising it raises nothing.
fn set_mtu(state: &mut LiveState, at: &LinkRef, mtu: u32, prior: &mut Prior) {
    change(state, at, prior, |l| l.mtu = mtu);
    let capped: Vec<LinkRef> = state
        .links
        .iter()
        .filter(|c| c.parent.as_ref() == Some(at) && c.mtu > mtu)
        .map(LiveLink::at)
        .collect();
    for c in capped {
        change(state, &c, prior, |l| l.mtu = mtu);
    }
}

/// One macvlan attribute changed; the broadcast cutoff is the port's, so every macvlan on
/// the parent reports it.
fn set_macvlan_attr(state: &mut LiveState, at: &LinkRef, attr: &MacvlanAttr, prior: &mut Prior) {
    match attr {
        MacvlanAttr::Flags(flags) => change(state, at, prior, |l| {
            l.flags = flags.clone();
            l.flags.sort();
            l.flags.dedup();
        }),
        MacvlanAttr::BcQueueLen(n) => {
            let n = bc_queue_len(state, Some(*n));
            change(state, at, prior, |l| l.bcqueuelen = n);
        }
        MacvlanAttr::BcCutoff(c) => {
            let parent = get(state, at).and_then(|l| l.parent.clone());
            if let Some(p) = parent
                && state.kernel.macvlan_bc_cutoff != Some(false)
            {
                set_port_cutoff(state, &p, *c, None, prior);
            }
        }
    }
}
