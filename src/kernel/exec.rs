//! Carrying out one plan step with rtnetlink: create, update, replace and delete of
//! namespaces, lab parents, macvlans, addresses and routes.

use std::fmt;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoVeth, LinkAttribute, LinkMessage, MacVlanMacAddressMode,
    MacVlanMode,
};
use netlink_packet_route::route::{RouteMessage, RouteProtocol, RouteScope};
use rtnetlink::{
    AddressMessageBuilder, LinkDummy, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth,
    LinkVlan, RouteMessageBuilder,
};

use super::snapshot::{self, DUMP_ATTEMPTS};
use super::{Netlink, ack, by_name, dump, ifindex, io_err, journal, netns, nl_err};
use crate::backend::BackendError;
use crate::live::{LinkRef, OWNER_ALIAS_PREFIX};
use crate::names::{Cidr, LinkName, MacAddr, Mode, NsName};
use crate::plan::{Change, MacvlanLink, Object, Step};

pub(super) fn execute(nl: &mut Netlink, step: &Step, owner: &str) -> Result<(), BackendError> {
    match step {
        Step::Create { object } => create(nl, object, owner),
        Step::Delete { object } => delete(nl, object),
        Step::Update { object, changes } => update(nl, object, changes),
        Step::Replace { from, to, .. } => {
            delete(nl, from)?;
            create(nl, to, owner)
        }
    }
}

/// How an object is named in messages: "red/eth0", "namespace red",
/// "10.0.0.2/24 on red/eth0".
struct Named<'a>(&'a Object);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |ns: &Option<NsName>, l: &LinkName| LinkRef {
            namespace: ns.clone(),
            name: l.clone(),
        };
        match self.0 {
            Object::Namespace { name } => write!(f, "namespace {name}"),
            Object::Nic { name, .. }
            | Object::Veth { name, .. }
            | Object::Dummy { name, .. }
            | Object::Vlan { name, .. } => write!(f, "{name}"),
            Object::Macvlan(m) => write!(f, "{}", at(&m.namespace, &m.name)),
            Object::Address {
                namespace,
                link,
                address,
            } => write!(f, "{address} on {}", at(namespace, link)),
            Object::Route {
                namespace,
                link,
                to,
                via,
            } => {
                if to.is_default() {
                    write!(f, "route default")?;
                } else {
                    write!(f, "route {to}")?;
                }
                if let Some(v) = via {
                    write!(f, " via {v}")?;
                }
                write!(f, " on {}", at(namespace, link))
            }
        }
    }
}

fn at_str(ns: Option<&NsName>, name: &LinkName) -> String {
    LinkRef {
        namespace: ns.cloned(),
        name: name.clone(),
    }
    .to_string()
}

// ---------------------------------------------------------------------------------------
// Create

fn create(nl: &mut Netlink, object: &Object, owner: &str) -> Result<(), BackendError> {
    let what = Named(object).to_string();
    match object {
        Object::Namespace { name } => {
            netns::create(name, owner).map_err(|e| io_err("create namespace", &what, &e))
        }
        Object::Nic { .. } => Err(BackendError::new(
            "create interface",
            what,
            Some(libc::EOPNOTSUPP),
            "an existing interface is used as it is, never created",
        )),
        Object::Veth {
            name,
            peer,
            peer_namespace,
            mtu,
            mac,
            peer_mac,
        } => {
            let mut peer_msg = LinkUnspec::new_with_name(peer.as_str());
            if let Some(m) = mtu {
                peer_msg = peer_msg.mtu(*m);
            }
            // Only undo sets it: a deleted veth comes back with both MACs as they were.
            if let Some(m) = peer_mac {
                peer_msg = peer_msg.address(m.0.to_vec());
            }
            // The peer goes straight into its namespace (its own IFLA_NET_NS_FD inside
            // VETH_INFO_PEER) instead of being moved there afterwards.
            let peer_fd = match peer_namespace {
                Some(ns) => Some(nl.conn(Some(ns))?.ns.file.as_raw_fd()),
                None => None,
            };
            if let Some(fd) = peer_fd {
                peer_msg = peer_msg.setns_by_fd(fd);
            }
            let mut msg = LinkVeth::new(name.as_str(), peer.as_str());
            msg = msg.set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())));
            if let Some(m) = mtu {
                msg = msg.mtu(*m);
            }
            if let Some(m) = mac {
                msg = msg.address(m.0.to_vec());
            }
            let both = [(None, name), (peer_namespace.as_ref(), peer)];
            new_link(nl, None, "create veth", &what, msg.build(), &both)?;
            for (ns, n) in both {
                if let Err(e) = claim(nl, ns, n, owner, true) {
                    // Deleting one end of a veth deletes both.
                    let _ = delete_link(nl, None, name);
                    return Err(e);
                }
            }
            Ok(())
        }
        Object::Dummy { name, mtu, mac } => {
            let mut msg = LinkDummy::new(name.as_str());
            if let Some(m) = mtu {
                msg = msg.mtu(*m);
            }
            if let Some(m) = mac {
                msg = msg.address(m.0.to_vec());
            }
            let made = [(None, name)];
            new_link(nl, None, "create dummy", &what, msg.build(), &made)?;
            claim_or_undo(nl, None, name, owner, true)
        }
        Object::Vlan {
            name,
            link,
            vlan_id,
            mtu,
            mac,
        } => {
            let lower = link_index(nl, None, link)?;
            let mut msg = LinkVlan::new(name.as_str(), lower, *vlan_id);
            if let Some(m) = mtu {
                msg = msg.mtu(*m);
            }
            if let Some(m) = mac {
                msg = msg.address(m.0.to_vec());
            }
            new_link(nl, None, "create vlan", &what, msg.build(), &[(None, name)])?;
            claim_or_undo(nl, None, name, owner, true)
        }
        Object::Macvlan(m) => create_macvlan(nl, m, owner, &what),
        Object::Address {
            namespace,
            link,
            address,
        } => {
            let index = link_index(nl, namespace.as_ref(), link)?;
            let msg = address_message(index, address, true);
            let conn = nl.conn(namespace.as_ref())?;
            let mut handle = conn.handle.clone();
            nl.rt
                .block_on(ack(
                    &mut handle,
                    RouteNetlinkMessage::NewAddress(msg),
                    NLM_F_CREATE | NLM_F_EXCL,
                ))
                .map_err(|e| nl_err("add address", &what, e))
        }
        Object::Route {
            namespace,
            link,
            to,
            via,
        } => {
            let index = link_index(nl, namespace.as_ref(), link)?;
            let msg = route_message(index, to, via.as_ref(), false)
                .map_err(|m| BackendError::new("add route", &what, Some(libc::EINVAL), m))?;
            let handle = nl.conn(namespace.as_ref())?.handle.clone();
            nl.rt
                .block_on(handle.route().add(msg).execute())
                .map_err(|e| nl_err("add route", &what, e))
        }
    }
}

/// Create a macvlan directly in its target namespace: RTM_NEWLINK goes through the socket
/// of the namespace where the parent lives and carries IFLA_NET_NS_FD of the target, so
/// the kernel builds the link there. Creating it in the own namespace and moving it
/// afterwards costs an RCU grace period per move: ~16 ms per link here against ~0.1 ms
/// (ENVIRONMENT.md: 16.5 s vs 0.13 s for 1000 links).
fn create_macvlan(
    nl: &mut Netlink,
    m: &MacvlanLink,
    owner: &str,
    what: &str,
) -> Result<(), BackendError> {
    let parent = link_index(nl, None, &m.parent)?;
    let mut msg = LinkMacVlan::new(m.name.as_str(), parent, wire_mode(m.mode));
    if let Some(mtu) = m.mtu {
        msg = msg.mtu(mtu);
    }
    if let Some(mac) = m.mac {
        msg = msg.address(mac.0.to_vec());
    }
    if m.mode == Mode::Source {
        msg = msg
            .append_info_data(InfoMacVlan::MacAddrMode(MacVlanMacAddressMode::Set))
            .append_info_data(mac_list(&m.source_macs));
    }
    if let Some(ns) = &m.namespace {
        let fd = nl.conn(Some(ns))?.ns.file.as_raw_fd();
        msg = msg.setns_by_fd(fd);
    }
    let made = [(m.namespace.as_ref(), &m.name)];
    new_link(nl, None, "create macvlan", what, msg.build(), &made)?;
    claim_or_undo(nl, m.namespace.as_ref(), &m.name, owner, m.up)
}

/// Send a RTM_NEWLINK create (CREATE|EXCL, so an existing name is EEXIST) through the
/// socket of `ns`. `made` is where each link it makes ends up (both ends of a veth): the
/// journal records them first, and they are made in the journal's reserved group until
/// `claim` (see `journal`), so that a crash before the claim leaves nothing that blocks.
fn new_link(
    nl: &mut Netlink,
    ns: Option<&NsName>,
    op: &str,
    what: &str,
    mut msg: LinkMessage,
    made: &[(Option<&NsName>, &LinkName)],
) -> Result<(), BackendError> {
    let intents = journal::before_create(nl, made, &mut msg)?;
    let handle = nl.conn(ns)?.handle.clone();
    let sent = nl.rt.block_on(handle.link().add(msg).execute());
    journal::after_create(&intents, &sent);
    sent.map_err(|e| nl_err(op, what, e))
}

/// Mark a freshly created link as ours (alias `mvtopo:<owner>`) and bring it up when asked,
/// in one request.
///
/// IFLA_IFALIAS in the create request itself is silently ignored by the kernel (`ip` has the
/// same problem), so this is a second request. Between the two the link exists without the
/// alias: a snapshot taken by someone else in that window sees a foreign link. If this
/// process dies right there, the journal names the link and the next run's recovery deletes
/// it; the same request puts it back from the journal's reserved group into group 0, so
/// recovery can tell it from a claimed link or someone else's. The link is created down, so
/// nothing flows through it before it is claimed.
fn claim(
    nl: &mut Netlink,
    ns: Option<&NsName>,
    name: &LinkName,
    owner: &str,
    up: bool,
) -> Result<(), BackendError> {
    let mut msg = LinkUnspec::new_with_name(name.as_str())
        .alias(format!("{OWNER_ALIAS_PREFIX}{owner}"))
        .append_extra_attribute(LinkAttribute::Group(0));
    if up {
        msg = msg.up();
    }
    let handle = nl.conn(ns)?.handle.clone();
    nl.rt
        .block_on(handle.link().change(msg.build()).execute())
        .map_err(|e| nl_err("set owner", at_str(ns, name), e))?;
    journal::claimed(nl, ns, name);
    Ok(())
}

/// `claim`, deleting the link again when that fails: a failed step leaves nothing behind,
/// least of all a link that looks foreign.
fn claim_or_undo(
    nl: &mut Netlink,
    ns: Option<&NsName>,
    name: &LinkName,
    owner: &str,
    up: bool,
) -> Result<(), BackendError> {
    claim(nl, ns, name, owner, up).inspect_err(|_| {
        let _ = delete_link(nl, ns, name);
    })
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
    match address.addr {
        IpAddr::V4(a) => AddressMessageBuilder::<std::net::Ipv4Addr>::new()
            .index(index)
            .address(a, address.prefix)
            .build(),
        IpAddr::V6(a) => {
            let mut m = AddressMessageBuilder::<std::net::Ipv6Addr>::new()
                .index(index)
                .address(a, address.prefix)
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
/// the kernel matches the route whoever added it (`ip route del` does the same).
fn route_message(
    index: u32,
    to: &Cidr,
    via: Option<&IpAddr>,
    delete: bool,
) -> Result<RouteMessage, String> {
    let mut msg = match (to.addr, via) {
        (IpAddr::V4(dst), None | Some(IpAddr::V4(_))) => {
            let mut b = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .destination_prefix(dst, to.prefix)
                .output_interface(index);
            if let Some(IpAddr::V4(g)) = via {
                b = b.gateway(*g);
            }
            b.build()
        }
        (IpAddr::V6(dst), None | Some(IpAddr::V6(_))) => {
            let mut b = RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .destination_prefix(dst, to.prefix)
                .output_interface(index);
            if let Some(IpAddr::V6(g)) = via {
                b = b.gateway(*g);
            }
            b.build()
        }
        _ => return Err("the gateway's address family differs from the destination's".into()),
    };
    if via.is_none() {
        msg.header.scope = RouteScope::Link;
    }
    if delete {
        msg.header.protocol = RouteProtocol::Unspec;
        msg.header.scope = RouteScope::NoWhere;
    }
    Ok(msg)
}

// ---------------------------------------------------------------------------------------
// Delete

fn delete(nl: &mut Netlink, object: &Object) -> Result<(), BackendError> {
    let what = Named(object).to_string();
    match object {
        Object::Namespace { name } => {
            // Our own socket would keep the namespace (and its interfaces) alive.
            nl.evict(name);
            netns::delete(name).map_err(|e| io_err("delete namespace", &what, &e))
        }
        Object::Nic { .. } => Err(BackendError::new(
            "delete interface",
            what,
            Some(libc::EOPNOTSUPP),
            "an existing interface is never deleted",
        )),
        Object::Veth { name, .. } | Object::Dummy { name, .. } | Object::Vlan { name, .. } => {
            delete_link(nl, None, name)
        }
        Object::Macvlan(m) => delete_link(nl, m.namespace.as_ref(), &m.name),
        Object::Address {
            namespace,
            link,
            address,
        } => {
            let index = link_index(nl, namespace.as_ref(), link)?;
            let msg = address_message(index, address, false);
            let handle = nl.conn(namespace.as_ref())?.handle.clone();
            nl.rt
                .block_on(handle.address().del(msg).execute())
                .map_err(|e| nl_err("delete address", &what, e))
        }
        Object::Route {
            namespace,
            link,
            to,
            via,
        } => {
            let index = link_index(nl, namespace.as_ref(), link)?;
            let msg = route_message(index, to, via.as_ref(), true)
                .map_err(|m| BackendError::new("delete route", &what, Some(libc::EINVAL), m))?;
            let handle = nl.conn(namespace.as_ref())?.handle.clone();
            nl.rt
                .block_on(handle.route().del(msg).execute())
                .map_err(|e| nl_err("delete route", &what, e))
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

// ---------------------------------------------------------------------------------------
// Update

fn update(nl: &mut Netlink, object: &Object, changes: &[Change]) -> Result<(), BackendError> {
    let what = Named(object).to_string();
    let (ns, name): (Option<&NsName>, &LinkName) = match object {
        Object::Nic { name, .. }
        | Object::Veth { name, .. }
        | Object::Dummy { name, .. }
        | Object::Vlan { name, .. } => (None, name),
        Object::Macvlan(m) => (m.namespace.as_ref(), &m.name),
        Object::Namespace { .. } | Object::Address { .. } | Object::Route { .. } => {
            return Err(BackendError::new(
                "update",
                what,
                Some(libc::EOPNOTSUPP),
                "this object has nothing to change in place",
            ));
        }
    };

    // Mode and source list go to the macvlan driver (macvlan_changelink), which only runs
    // when the request carries IFLA_INFO_KIND; sent together, the kernel sets the mode
    // before it looks at the list, so "to source with this list" works in one request.
    let mode_to = changes.iter().find_map(|c| match c {
        Change::Mode { to, .. } => Some(*to),
        _ => None,
    });
    let macs_to = changes.iter().find_map(|c| match c {
        Change::SourceMacs { to, .. } => Some(to),
        _ => None,
    });
    if mode_to.is_some() || macs_to.is_some() {
        let mut msg = LinkMessageBuilder::<LinkMacVlan>::new_with_info_kind(InfoKind::MacVlan)
            .name(name.as_str());
        if let Some(m) = mode_to {
            msg = msg.mode(wire_mode(m));
        }
        // Leaving source mode makes the kernel flush the list itself, and any list request
        // on a macvlan that is not (or no longer) in source mode is EINVAL: send the list
        // only when the link ends up in source mode.
        let ends_source = match (mode_to, object) {
            (Some(m), _) => m == Mode::Source,
            (None, Object::Macvlan(m)) => m.mode == Mode::Source,
            (None, _) => true,
        };
        if let Some(list) = macs_to.filter(|_| ends_source) {
            msg = if list.is_empty() {
                msg.append_info_data(InfoMacVlan::MacAddrMode(MacVlanMacAddressMode::Flush))
            } else {
                msg.append_info_data(InfoMacVlan::MacAddrMode(MacVlanMacAddressMode::Set))
                    .append_info_data(mac_list(list))
            };
        }
        let op = if mode_to.is_some() {
            "set mode"
        } else {
            "set source macs"
        };
        change_link(nl, ns, op, &what, msg.build())?;
    }

    for c in changes {
        match c {
            Change::Mtu { to, .. } => {
                let msg = LinkUnspec::new_with_name(name.as_str()).mtu(*to).build();
                change_link(nl, ns, "set mtu", &what, msg)?;
                // A veth's MTU is one setting for the pair: both ends carry it.
                if let Object::Veth {
                    peer,
                    peer_namespace,
                    ..
                } = object
                {
                    let msg = LinkUnspec::new_with_name(peer.as_str()).mtu(*to).build();
                    let peer_at = at_str(peer_namespace.as_ref(), peer);
                    change_link(nl, peer_namespace.as_ref(), "set mtu", &peer_at, msg)?;
                }
            }
            Change::Mac { to, .. } => {
                let msg = LinkUnspec::new_with_name(name.as_str())
                    .address(to.0.to_vec())
                    .build();
                change_link(nl, ns, "set mac", &what, msg)?;
            }
            Change::Up { to: true, .. } => {
                let msg = LinkUnspec::new_with_name(name.as_str()).up().build();
                change_link(nl, ns, "set up", &what, msg)?;
            }
            Change::Up { to: false, .. } => {
                // The kernel drops a link's IPv6 addresses when it goes down (sysctl
                // net.ipv6.conf.*.keep_addr_on_down, 0 by default) while IPv4 ones stay. A
                // down macvlan may carry addresses (one created down keeps those added to it),
                // so note its IPv6 addresses and add them back: otherwise verify finds them
                // missing and the undo, which only brings the link up, cannot restore them.
                let kept = match object {
                    Object::Macvlan(_) => ipv6_addresses(nl, ns, name, &what)?,
                    _ => Vec::new(),
                };
                let msg = LinkUnspec::new_with_name(name.as_str()).down().build();
                change_link(nl, ns, "set down", &what, msg)?;
                for a in kept {
                    readd_address(nl, ns, name, &a)?;
                }
            }
            Change::Mode { .. } | Change::SourceMacs { .. } => {}
        }
    }
    Ok(())
}

/// The IPv6 addresses (not link-local) on link `name`.
fn ipv6_addresses(
    nl: &mut Netlink,
    ns: Option<&NsName>,
    name: &LinkName,
    what: &str,
) -> Result<Vec<Cidr>, BackendError> {
    let index = link_index(nl, ns, name)?;
    let mut handle = nl.conn(ns)?.handle.clone();
    for _ in 0..DUMP_ATTEMPTS {
        let d = nl
            .rt
            .block_on(dump(
                &mut handle,
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            ))
            .map_err(|e| nl_err("dump addresses", what, e))?;
        if d.interrupted {
            continue;
        }
        return Ok(d
            .messages
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => {
                    snapshot::address(a)
                }
                _ => None,
            })
            .filter(|c| c.addr.is_ipv6())
            .collect());
    }
    Err(BackendError::new(
        "dump addresses",
        what,
        Some(libc::EINTR),
        "the address table kept changing while it was read",
    ))
}

/// Add an address the kernel dropped when the link went down; one it kept (EEXIST, with
/// keep_addr_on_down set) is fine.
fn readd_address(
    nl: &mut Netlink,
    ns: Option<&NsName>,
    name: &LinkName,
    address: &Cidr,
) -> Result<(), BackendError> {
    let what = format!("{address} on {}", at_str(ns, name));
    let index = link_index(nl, ns, name)?;
    let msg = address_message(index, address, true);
    let mut handle = nl.conn(ns)?.handle.clone();
    match nl.rt.block_on(ack(
        &mut handle,
        RouteNetlinkMessage::NewAddress(msg),
        NLM_F_CREATE | NLM_F_EXCL,
    )) {
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
        r => r.map_err(|e| nl_err("add address back after set down", &what, e)),
    }
}

fn change_link(
    nl: &mut Netlink,
    ns: Option<&NsName>,
    op: &str,
    what: &str,
    msg: LinkMessage,
) -> Result<(), BackendError> {
    let handle = nl.conn(ns)?.handle.clone();
    nl.rt
        .block_on(handle.link().change(msg).execute())
        .map_err(|e| nl_err(op, what, e))
}
