//! Carrying out one kernel request with rtnetlink: one message per request (a namespace:
//! one mount or unmount), so the kernel accepts or refuses each as a whole and `apply` can
//! undo exactly what was accepted.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoMacVtap, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
    MacVlanFlags, MacVlanMacAddressMode, MacVlanMode,
};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope};
use rtnetlink::{
    AddressMessageBuilder, LinkBridge, LinkDummy, LinkMacVlan, LinkMessageBuilder, LinkUnspec,
    LinkVeth, LinkVlan, RouteMessageBuilder,
};

use super::{Netlink, ack, by_name, ifindex, io_err, journal, netns, nl_err};
use crate::apply::backend::{BackendError, RequestOp};
use crate::apply::{MacvlanAttr, NewKind, NewLink, Request};
use crate::live::{LinkRef, OWNER_ALIAS_PREFIX};
use crate::model::Route;
use crate::names::{Cidr, LinkName, MacAddr, MacvlanFlag, MacvlanKind, Mode, NsName};

pub(super) fn request(nl: &mut Netlink, r: &Request, owner: &str) -> Result<(), BackendError> {
    let what = r.object();
    let op = r.op();
    match r {
        Request::CreateNamespace { name } => {
            netns::create(name, owner).map_err(|e| io_err(op, &what, &e))
        }
        Request::DeleteNamespace { name } => {
            // Our own socket would keep the namespace (and its interfaces) alive.
            nl.evict(name);
            netns::delete(name).map_err(|e| io_err(op, &what, &e))
        }
        Request::CreateLink(n) => create_link(nl, n, op, &what),
        Request::Claim { at, up } => claim(nl, at, owner, *up),
        Request::DeleteLink { at, .. } => {
            note_deleted(nl, r);
            delete_link(nl, at.namespace.as_ref(), &at.name)
        }
        Request::SetMaster { at, master } => set_master(nl, at, master.as_ref(), op, &what),
        Request::DeleteLinks {
            namespace, links, ..
        } => {
            note_deleted(nl, r);
            nl.delete_links_batched(namespace.as_ref(), links)
        }
        Request::SetMtu { at, mtu } => {
            let msg = LinkUnspec::new_with_name(at.name.as_str())
                .mtu(*mtu)
                .build();
            change_link(nl, at.namespace.as_ref(), op, &what, msg)
        }
        Request::SetMac { at, mac } => {
            let msg = LinkUnspec::new_with_name(at.name.as_str())
                .address(mac.0.to_vec())
                .build();
            change_link(nl, at.namespace.as_ref(), op, &what, msg)
        }
        Request::SetUp { at, up } => {
            let msg = LinkUnspec::new_with_name(at.name.as_str());
            let msg = if *up { msg.up() } else { msg.down() };
            change_link(nl, at.namespace.as_ref(), op, &what, msg.build())
        }
        Request::SetAlias { at, owner } => {
            // An empty IFLA_IFALIAS removes the alias.
            let alias = owner
                .as_ref()
                .map(|o| format!("{OWNER_ALIAS_PREFIX}{o}"))
                .unwrap_or_default();
            let msg = LinkUnspec::new_with_name(at.name.as_str())
                .alias(alias)
                .build();
            change_link(nl, at.namespace.as_ref(), op, &what, msg)
        }
        Request::SetMacvlanAttr { at, kind, attr } => {
            let msg = macvlan_attr_message(at, *kind, attr)?;
            change_link(nl, at.namespace.as_ref(), op, &what, msg)
        }
        Request::SetMacvlan {
            at,
            kind,
            mode,
            source_macs,
        } => {
            let msg = macvlan_change_message(at, *kind, *mode, source_macs.as_deref())?;
            change_link(nl, at.namespace.as_ref(), op, &what, msg)
        }
        Request::AddAddress { at, address } => change_address(nl, at, address, true, op, &what),
        Request::DeleteAddress { at, address } => change_address(nl, at, address, false, op, &what),
        Request::AddRoute { at, route } => change_route(nl, at, route, false, op, &what),
        Request::DeleteRoute { at, route } => change_route(nl, at, route, true, op, &what),
    }
}

/// Set or clear the master (bridge) of a link, in one RTM_NEWLINK change.
fn set_master(
    nl: &mut Netlink,
    at: &LinkRef,
    master: Option<&LinkName>,
    op: RequestOp,
    what: &str,
) -> Result<(), BackendError> {
    let ns = at.namespace.as_ref();
    let index = link_index(nl, ns, &at.name)?;
    let msg = LinkUnspec::new_with_index(index);
    let msg = match master {
        Some(m) => msg.controller(link_index(nl, ns, m)?),
        None => msg.nocontroller(),
    };
    change_link(nl, ns, op, what, msg.build())
}

/// The change message for one more attribute of the macvlan driver (flags, broadcast queue).
fn macvlan_attr_message(
    at: &LinkRef,
    kind: MacvlanKind,
    attr: &MacvlanAttr,
) -> Result<LinkMessage, BackendError> {
    let info = match attr {
        MacvlanAttr::Flags(flags) => wire_flags(flags),
        MacvlanAttr::BcQueueLen(n) => InfoMacVlan::BcQueueLen(*n),
        MacvlanAttr::BcCutoff(n) => InfoMacVlan::BcCutoff(*n),
    };
    let msg = LinkMessageBuilder::<LinkMacVlan>::new_with_info_kind(InfoKind::MacVlan)
        .name(at.name.as_str())
        .append_info_data(info);
    driver(kind, msg.build())
}

/// The change message for a macvlan's mode and source list.
fn macvlan_change_message(
    at: &LinkRef,
    kind: MacvlanKind,
    mode: Option<Mode>,
    source_macs: Option<&[MacAddr]>,
) -> Result<LinkMessage, BackendError> {
    // Mode and source list go to the macvlan driver (macvlan_changelink), which
    // only runs when the request carries IFLA_INFO_KIND; sent together, the kernel
    // sets the mode before it looks at the list.
    let mut msg = LinkMessageBuilder::<LinkMacVlan>::new_with_info_kind(InfoKind::MacVlan)
        .name(at.name.as_str());
    if let Some(m) = mode {
        msg = msg.mode(wire_mode(m));
    }
    if let Some(list) = source_macs {
        msg = if list.is_empty() {
            msg.append_info_data(InfoMacVlan::MacAddrMode(MacVlanMacAddressMode::Flush))
        } else {
            msg.append_info_data(InfoMacVlan::MacAddrMode(MacVlanMacAddressMode::Set))
                .append_info_data(mac_list(list))
        };
    }
    driver(kind, msg.build())
}

/// Add one address to a link (RTM_NEWADDR with CREATE|EXCL: an address already there is
/// EEXIST, never silently kept) or delete one (RTM_DELADDR), waiting for the ACK.
fn change_address(
    nl: &mut Netlink,
    at: &LinkRef,
    address: &Cidr,
    add: bool,
    op: RequestOp,
    what: &str,
) -> Result<(), BackendError> {
    let index = link_index(nl, at.namespace.as_ref(), &at.name)?;
    let msg = address_message(index, address, add);
    let (request, flags) = if add {
        (
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    } else {
        (RouteNetlinkMessage::DelAddress(msg), 0)
    };
    let mut handle = nl.conn(at.namespace.as_ref())?.handle.clone();
    nl.rt
        .block_on(ack(&mut handle, request, flags))
        .map_err(|e| nl_err(op, what, e))
}

/// Add (RTM_NEWROUTE) or, with `delete`, delete (RTM_DELROUTE) one route via a link.
fn change_route(
    nl: &mut Netlink,
    at: &LinkRef,
    route: &Route,
    delete: bool,
    op: RequestOp,
    what: &str,
) -> Result<(), BackendError> {
    let index = link_index(nl, at.namespace.as_ref(), &at.name)?;
    let msg = route_message(index, route, delete)
        .map_err(|m| BackendError::new(op, what, Some(libc::EINVAL), m))?;
    let handle = nl.conn(at.namespace.as_ref())?.handle.clone();
    let sent = if delete {
        nl.rt.block_on(handle.route().del(msg).execute())
    } else {
        nl.rt.block_on(handle.route().add(msg).execute())
    };
    sent.map_err(|e| nl_err(op, what, e))
}

/// Several `AddAddress` requests in flight at once: each is its own RTM_NEWADDR with its
/// own ACK, so exactly those the kernel accepted are known, and the kernel carries them out
/// in the order sent on each socket; what is saved is a round trip per address. One result
/// per request, in order.
pub(super) fn add_addresses(
    nl: &mut Netlink,
    requests: &[&Request],
) -> Vec<Result<(), BackendError>> {
    let mut sends = Vec::with_capacity(requests.len());
    for r in requests {
        let Request::AddAddress { at, address } = r else {
            sends.push(Err(BackendError::new(
                r.op(),
                r.object(),
                None,
                "not an address",
            )));
            continue;
        };
        let what = r.object();
        let prepared = link_index(nl, at.namespace.as_ref(), &at.name).and_then(|index| {
            let handle = nl.conn(at.namespace.as_ref())?.handle.clone();
            Ok((handle, address_message(index, address, true), what))
        });
        sends.push(prepared);
    }
    let futures = sends.into_iter().map(|prepared| async move {
        let (mut handle, msg, what) = prepared?;
        ack(
            &mut handle,
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
        .map_err(|e| nl_err("add address", &what, e))
    });
    nl.rt.block_on(futures::future::join_all(futures))
}

/// How many namespaces are made at once (`create_namespaces`).
const CONCURRENT_NAMESPACES: usize = 8;

/// Several `CreateNamespace` requests at once, from a few short-lived threads: making one
/// is mostly waiting (its bind mount, the new namespace's setup), 1.7 ms of wall time for
/// 0.7 ms of CPU here, and the waits of different ones overlap. Each is made or not as
/// alone (`netns::create` removes what it made when it fails; the journal and the mount
/// setup are locked). One result per request, in order.
pub(super) fn create_namespaces(
    requests: &[&Request],
    owner: &str,
) -> Vec<Result<(), BackendError>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<(), BackendError>>>> =
        requests.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..requests.len().min(CONCURRENT_NAMESPACES) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let (Some(r), Some(slot)) = (requests.get(k), results.get(k)) else {
                        break;
                    };
                    let made = match r {
                        Request::CreateNamespace { name } => {
                            netns::create(name, owner).map_err(|e| io_err(r.op(), r.object(), &e))
                        }
                        _ => Err(BackendError::new(
                            r.op(),
                            r.object(),
                            None,
                            "not a namespace",
                        )),
                    };
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(made);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(BackendError::new("create namespace", "", None, "not made")))
        })
        .collect()
}

fn at_str(ns: Option<&NsName>, name: &LinkName) -> String {
    LinkRef::new(ns.cloned(), name.clone()).to_string()
}

// ---------------------------------------------------------------------------------------
// Create: one RTM_NEWLINK; the claim (alias and up) is the next request.

/// Create a link; undo's `restore` asks for the ifindex it had, and if that is taken
/// meanwhile (EBUSY), the link is made under a new one.
fn create_link(
    nl: &mut Netlink,
    n: &NewLink,
    op: RequestOp,
    what: &str,
) -> Result<(), BackendError> {
    let ids = n
        .restore
        .then(|| nl.gone.get(&n.at).copied())
        .flatten()
        .map(|i| {
            let peer = match &n.kind {
                NewKind::Veth { peer, .. } => nl.gone.get(peer).copied(),
                _ => None,
            };
            (i, peer)
        });
    match (ids, create_link_as(nl, n, ids, op, what)) {
        (Some(_), Err(e)) if e.errno == Some(libc::EBUSY) => create_link_as(nl, n, None, op, what),
        (_, r) => r,
    }
}

/// A create's MTU and MAC, when it gives them.
fn with_mtu_mac<T>(mut msg: LinkMessageBuilder<T>, n: &NewLink) -> LinkMessageBuilder<T> {
    if let Some(m) = n.mtu {
        msg = msg.mtu(m);
    }
    if let Some(m) = n.mac {
        msg = msg.address(m.0.to_vec());
    }
    msg
}

fn create_link_as(
    nl: &mut Netlink,
    n: &NewLink,
    ids: Option<(u32, Option<u32>)>,
    op: RequestOp,
    what: &str,
) -> Result<(), BackendError> {
    let name = n.at.name.as_str();
    let mut msg = match &n.kind {
        NewKind::Veth {
            peer,
            peer_mac,
            peer_mtu,
        } => {
            let peer_msg = veth_peer_message(nl, n, peer, *peer_mac, *peer_mtu, ids)?;
            let msg = LinkVeth::new(name, peer.name.as_str())
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)));
            with_mtu_mac(msg, n).build()
        }
        NewKind::Dummy => with_mtu_mac(LinkDummy::new(name), n).build(),
        NewKind::Vlan { link, vlan_id } => {
            let lower = link_index(nl, n.at.namespace.as_ref(), link)?;
            with_mtu_mac(LinkVlan::new(name, lower, *vlan_id), n).build()
        }
        // Not `LinkBridge::new`, which asks for IFF_UP: like every link, it starts down and
        // its claim brings it up.
        NewKind::Bridge => with_mtu_mac(LinkMessageBuilder::<LinkBridge>::new(name), n).build(),
        // A macvlan is created directly in its target namespace: RTM_NEWLINK goes through
        // the socket of the namespace where the parent lives and carries IFLA_NET_NS_FD of
        // the target, so the kernel builds the link there. Creating it in the own namespace
        // and moving it afterwards costs an RCU grace period per move: ~16 ms per link here
        // against ~0.1 ms (16.5 s vs 0.13 s for 1000 links).
        NewKind::Macvlan {
            parent,
            mode,
            source_macs,
            kind,
            flags,
            bcqueuelen,
            bc_cutoff,
        } => {
            let index = link_index(nl, parent.namespace.as_ref(), &parent.name)?;
            let msg = with_mtu_mac(LinkMacVlan::new(name, index, wire_mode(*mode)), n);
            let mut msg =
                with_macvlan_info(msg, *mode, source_macs, flags, *bcqueuelen, *bc_cutoff);
            if n.at.namespace != parent.namespace {
                msg = msg.setns_by_fd(ns_fd(nl, n.at.namespace.as_ref())?);
            }
            driver(*kind, msg.build())?
        }
    };
    if let Some((i, _)) = ids {
        msg.header.index = i;
    }
    let made = made_links(n);
    // Through the socket of the namespace the request is made in: the parent's for a
    // macvlan (the kernel looks IFLA_LINK up there), the link's own for anything else.
    let via = match &n.kind {
        NewKind::Macvlan { parent, .. } => parent.namespace.as_ref(),
        _ => n.at.namespace.as_ref(),
    };
    new_link(nl, via, op, what, msg, &made)
}

/// The peer half of a veth create: its name, MTU, MAC, namespace and (for undo) ifindex.
fn veth_peer_message(
    nl: &mut Netlink,
    n: &NewLink,
    peer: &LinkRef,
    peer_mac: Option<MacAddr>,
    peer_mtu: Option<u32>,
    ids: Option<(u32, Option<u32>)>,
) -> Result<LinkMessage, BackendError> {
    let mut peer_msg = LinkUnspec::new_with_name(peer.name.as_str());
    if let Some(m) = peer_mtu {
        peer_msg = peer_msg.mtu(m);
    }
    // Only undo sets it: a deleted veth comes back with both MACs as they were.
    if let Some(m) = peer_mac {
        peer_msg = peer_msg.address(m.0.to_vec());
    }
    // The peer goes straight into its namespace (its own IFLA_NET_NS_FD inside
    // VETH_INFO_PEER) instead of being moved there afterwards.
    if peer.namespace != n.at.namespace {
        peer_msg = peer_msg.setns_by_fd(ns_fd(nl, peer.namespace.as_ref())?);
    }
    let mut peer_msg = peer_msg.build();
    if let Some((_, Some(i))) = ids {
        peer_msg.header.index = i;
    }
    Ok(peer_msg)
}

/// A macvlan create's driver data: source list, flags and broadcast queue, when given.
fn with_macvlan_info(
    mut msg: LinkMessageBuilder<LinkMacVlan>,
    mode: Mode,
    source_macs: &[MacAddr],
    flags: &[MacvlanFlag],
    bcqueuelen: Option<u32>,
    bc_cutoff: Option<i32>,
) -> LinkMessageBuilder<LinkMacVlan> {
    if mode == Mode::Source {
        msg = msg
            .append_info_data(InfoMacVlan::MacAddrMode(MacVlanMacAddressMode::Set))
            .append_info_data(mac_list(source_macs));
    }
    if !flags.is_empty() {
        msg = msg.append_info_data(wire_flags(flags));
    }
    if let Some(q) = bcqueuelen {
        msg = msg.append_info_data(InfoMacVlan::BcQueueLen(q));
    }
    if let Some(c) = bc_cutoff {
        msg = msg.append_info_data(InfoMacVlan::BcCutoff(c));
    }
    msg
}

/// The links a create makes, where each ends up, for the journal (none for undo's restore).
fn made_links(n: &NewLink) -> Vec<(Option<&NsName>, &LinkName)> {
    // What the create makes, for the journal (see `journal`): every end of it, where it ends
    // up. A create that undo makes to give a deleted link back is not journaled: the
    // request after it may be a SetAlias or nothing rather than a claim, and only a claim
    // takes a link out of the journal's reserved group.
    let peer = match &n.kind {
        NewKind::Veth { peer, .. } => Some(peer),
        _ => None,
    };
    if n.restore {
        Vec::new()
    } else {
        std::iter::once(&n.at)
            .chain(peer)
            .map(|at| (at.namespace.as_ref(), &at.name))
            .collect()
    }
}

/// The namespace file of `ns` (`None`: the one mvtopo runs in), for IFLA_NET_NS_FD.
fn ns_fd(nl: &mut Netlink, ns: Option<&NsName>) -> Result<RawFd, BackendError> {
    Ok(nl.conn(ns)?.ns.file.as_raw_fd())
}

/// Send a RTM_NEWLINK create (CREATE|EXCL, so an existing name is EEXIST) through the
/// socket of `ns`, recorded first in the journal when it makes links (`made`) that a claim
/// will mark as owned.
fn new_link(
    nl: &mut Netlink,
    ns: Option<&NsName>,
    op: RequestOp,
    what: &str,
    mut msg: LinkMessage,
    made: &[(Option<&NsName>, &LinkName)],
) -> Result<(), BackendError> {
    let intents = if made.is_empty() {
        Vec::new()
    } else {
        journal::before_create(nl, made, &mut msg)?
    };
    let handle = nl.conn(ns)?.handle.clone();
    let sent = nl.rt.block_on(handle.link().add(msg).execute());
    journal::after_create(&intents, &sent);
    sent.map_err(|e| nl_err(op, what, e))
}

/// Mark a link as ours (alias `mvtopo:<owner>`) and bring it up when asked, in one request.
///
/// IFLA_IFALIAS in the create request itself is silently ignored by the kernel (`ip` has the
/// same problem), so this is a second request. Between the two the link exists without the
/// alias: a snapshot taken by someone else in that window sees a foreign link. If the claim
/// is refused, `apply` undoes the create (the link is deleted again). If this process dies
/// right there, the journal names the link and the next run's recovery deletes it; the same
/// request puts it back from the journal's reserved group into group 0, so recovery can
/// tell it from a claimed link or someone else's. The link is created down, so nothing
/// flows through it before it is claimed.
fn claim(nl: &mut Netlink, at: &LinkRef, owner: &str, up: bool) -> Result<(), BackendError> {
    let mut msg = LinkUnspec::new_with_name(at.name.as_str())
        .alias(format!("{OWNER_ALIAS_PREFIX}{owner}"))
        .append_extra_attribute(LinkAttribute::Group(0));
    if up {
        msg = msg.up();
    }
    let handle = nl.conn(at.namespace.as_ref())?.handle.clone();
    nl.rt
        .block_on(handle.link().change(msg.build()).execute())
        .map_err(|e| nl_err("set owner", at, e))?;
    journal::claimed(nl, at.namespace.as_ref(), &at.name);
    Ok(())
}

fn wire_mode(m: Mode) -> MacVlanMode {
    match m {
        Mode::Vepa => MacVlanMode::Vepa,
        Mode::Bridge => MacVlanMode::Bridge,
        Mode::Private => MacVlanMode::Private,
        Mode::Passthru => MacVlanMode::Passthrough,
        Mode::Source => MacVlanMode::Source,
    }
}

fn wire_flags(flags: &[MacvlanFlag]) -> InfoMacVlan {
    InfoMacVlan::Flags(MacVlanFlags::from_bits_retain(MacvlanFlag::bits(flags)))
}

/// A macvlan message for the driver `kind`. macvtap is the macvlan driver under another
/// IFLA_INFO_KIND (it registers the same netlink attributes through
/// macvlan_link_register), so a message is built as a macvlan's and renamed; a change
/// must name the link's own kind, or the kernel refuses it (EOPNOTSUPP, checked on 6.18).
fn driver(kind: MacvlanKind, mut msg: LinkMessage) -> Result<LinkMessage, BackendError> {
    if kind == MacvlanKind::Macvlan {
        return Ok(msg);
    }
    for a in &mut msg.attributes {
        let LinkAttribute::LinkInfo(infos) = a else {
            continue;
        };
        for i in infos.iter_mut() {
            match i {
                LinkInfo::Kind(k) => *k = InfoKind::MacVtap,
                LinkInfo::Data(InfoData::MacVlan(data)) => {
                    let data = data
                        .iter()
                        .map(super::recode::<InfoMacVlan, InfoMacVtap>)
                        .collect::<Result<_, _>>()
                        .map_err(|e| {
                            BackendError::new("encode macvtap", "request", None, e.to_string())
                        })?;
                    *i = LinkInfo::Data(InfoData::MacVtap(data));
                }
                _ => {}
            }
        }
    }
    Ok(msg)
}

fn mac_list(macs: &[MacAddr]) -> InfoMacVlan {
    InfoMacVlan::MacAddrData(macs.iter().map(|m| InfoMacVlan::MacAddr(m.0)).collect())
}

fn link_index(nl: &mut Netlink, ns: Option<&NsName>, name: &LinkName) -> Result<u32, BackendError> {
    let conn = nl.conn(ns)?;
    ifindex(&conn.ctl, name.as_str()).map_err(|e| io_err("find link", at_str(ns, name), &e))
}

/// An address message. IPv6 addresses are added with IFA_F_NODAD: otherwise the address
/// stays "tentative" for the duration of duplicate address detection (a second or more),
/// during which it cannot be used as a source and pings from it fail; `apply` promises a
/// usable topology when it returns, and the addresses come from a file that already
/// guarantees they are unique.
fn address_message(
    index: u32,
    address: &Cidr,
    add: bool,
) -> netlink_packet_route::address::AddressMessage {
    match address.addr() {
        IpAddr::V4(a) => AddressMessageBuilder::<std::net::Ipv4Addr>::new()
            .index(index)
            .address(a, address.prefix())
            .build(),
        IpAddr::V6(a) => {
            let mut m = AddressMessageBuilder::<std::net::Ipv6Addr>::new()
                .index(index)
                .address(a, address.prefix())
                .build();
            if add {
                m.header.flags |= AddressHeaderFlags::Nodad;
                m.attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
            m
        }
    }
}

/// A main-table route out of link `index`: through `via`, or straight onto the link (scope
/// link) without one. For a delete, protocol and scope are left unspecified/"nowhere" so
/// the kernel matches the route whoever added it (`ip route del` does the same). The
/// metric (RTA_PRIORITY) is always given, the family's default included: it is part of
/// the route's identity, and a delete without it would take the first route to the
/// destination whatever its metric.
fn route_message(index: u32, route: &Route, delete: bool) -> Result<RouteMessage, String> {
    let (to, via) = (&route.to, route.via.as_ref());
    let mut msg = match (to.addr(), via) {
        (IpAddr::V4(dst), None | Some(IpAddr::V4(_))) => {
            let mut b = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .destination_prefix(dst, to.prefix())
                .output_interface(index);
            if let Some(IpAddr::V4(g)) = via {
                b = b.gateway(*g);
            }
            b.build()
        }
        (IpAddr::V6(dst), None | Some(IpAddr::V6(_))) => {
            let mut b = RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .destination_prefix(dst, to.prefix())
                .output_interface(index);
            if let Some(IpAddr::V6(g)) = via {
                b = b.gateway(*g);
            }
            b.build()
        }
        _ => return Err("the gateway's address family differs from the destination's".into()),
    };
    msg.attributes
        .push(RouteAttribute::Priority(route.metric()));
    if via.is_none() {
        msg.header.scope = RouteScope::Link;
    }
    if delete {
        msg.header.protocol = RouteProtocol::Unspec;
        msg.header.scope = RouteScope::NoWhere;
    }
    Ok(msg)
}

/// Note the ifindexes of links about to be deleted, so that undo can make them again
/// under the same ones. The first delete of a name is the link as it was before the run
/// (a replace deletes it, and undo then deletes the new one before making it again).
pub(super) fn note_deleted(nl: &mut Netlink, r: &Request) {
    let (named, takes): (Vec<LinkRef>, &[LinkRef]) = match r {
        Request::DeleteLink { at, takes } => (vec![at.clone()], takes),
        Request::DeleteLinks {
            namespace,
            links,
            takes,
        } => (
            links
                .iter()
                .map(|l| LinkRef::new(namespace.clone(), l.clone()))
                .collect(),
            takes,
        ),
        _ => return,
    };
    for x in named.iter().chain(takes) {
        if !nl.gone.contains_key(x)
            && let Ok(i) = link_index(nl, x.namespace.as_ref(), &x.name)
        {
            nl.gone.insert(x.clone(), i);
        }
    }
}

/// Delete a link by (namespace, name); the kernel takes its addresses and routes along.
fn delete_link(nl: &mut Netlink, ns: Option<&NsName>, name: &LinkName) -> Result<(), BackendError> {
    let handle = nl.conn(ns)?.handle.clone();
    nl.rt
        .block_on(
            handle
                .link()
                .del_with_message(by_name(name.as_str()))
                .execute(),
        )
        .map_err(|e| nl_err("delete link", at_str(ns, name), e))
}

fn change_link(
    nl: &mut Netlink,
    ns: Option<&NsName>,
    op: RequestOp,
    what: &str,
    msg: LinkMessage,
) -> Result<(), BackendError> {
    let handle = nl.conn(ns)?.handle.clone();
    nl.rt
        .block_on(handle.link().change(msg).execute())
        .map_err(|e| nl_err(op, what, e))
}
