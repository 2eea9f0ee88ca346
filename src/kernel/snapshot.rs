//! Reading the kernel into a `LiveState`: links, addresses and routes of the own namespace
//! and of every named one, with cross-namespace parents and peers resolved to names; which
//! of them must be read consistently (`Scope`) and which may be left out when they keep
//! changing.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoMacVlan, InfoMacVtap, InfoVlan, LinkAttribute, LinkFlags, LinkInfo,
    LinkLayerType, LinkMessage, MacVlanMode,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType, RouteVia,
};

mod read;

use super::netns::{self, NsFile};
use super::{Netlink, denied, io_err};
use crate::apply::backend::BackendError;
use crate::live::{
    KernelFeatures, LinkKind, LinkRef, LiveLink, LiveNamespace, LiveState, owner_from_alias,
};
use crate::model::{Route, Topology};
use crate::names::{Cidr, LinkName, MacAddr, MacvlanFlag, Mode, NsName, is_ipv6_link_local};

/// How often one namespace is read again when a dump comes back inconsistent
/// (NLM_F_DUMP_INTR) before giving up; the same bound CNI's netlinksafe uses.
pub(super) const DUMP_ATTEMPTS: u32 = 10;
/// Pause before retry `n` (counted from 0): 1, 2, 4, ... ms, capped, so that a namespace where
/// links come and go in bursts (containers starting) gets a quiet moment to be read in;
/// at most ~0.2 s in all.
fn backoff(n: u32) -> std::time::Duration {
    std::time::Duration::from_millis((1u64 << n.min(6)).min(50))
}

/// What a snapshot must read whole and consistent: the namespaces a plan for one topology
/// can depend on. Every named namespace is still read (a foreign macvlan on one of the
/// topology's parents, or the far end of its veth, can live anywhere, and plans must see
/// them to refuse taking them along), but one outside the scope whose dumps keep coming
/// back interrupted (another tool's loop, containers starting) is listed without its links
/// (`Netlink::unsettled`) instead of failing the snapshot, unless one of its links sits on,
/// or pairs with, a link the scope covers.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// The topology's name: namespaces whose marker records it, and links carrying its
    /// alias, are covered.
    owner: String,
    /// Named namespaces the file names (its namespaces, where its parents and their peers
    /// are): covered with every link in them.
    namespaces: HashSet<NsName>,
    /// Links the file names as parents (or their veth peers) in the own namespace.
    own_links: HashSet<LinkName>,
}

impl Scope {
    /// The scope of the plans (and the destroy) of topology `t`.
    pub fn of(t: &Topology) -> Scope {
        let mut s = Scope {
            owner: t.name.clone(),
            namespaces: t.namespaces.keys().cloned().collect(),
            own_links: HashSet::new(),
        };
        let mut add = |r: LinkRef| match r.namespace {
            Some(n) => {
                s.namespaces.insert(n);
            }
            None => {
                s.own_links.insert(r.name);
            }
        };
        for p in t.parents.values() {
            add(p.at());
            if let Some(peer) = LinkRef::veth_peer(&p.kind) {
                add(peer);
            }
        }
        for m in &t.macvlans {
            if let Some(n) = &m.namespace {
                s.namespaces.insert(n.clone());
            }
        }
        s
    }

    /// Whether the named namespace `name` is covered: the file names it, or its marker
    /// records the topology (unverified: reading one namespace too many strictly is
    /// harmless, and a namespace made again by hand keeps its old marker).
    fn covers(&self, name: &NsName) -> bool {
        self.namespaces.contains(name)
            || netns::recorded_owner(name).is_some_and(|o| o == self.owner)
    }
}

/// One namespace to read: its name (`None` = the own namespace) and its namespace file
/// (entered to read it, and named in RTM_GETNSID by the others).
struct Place {
    name: Option<NsName>,
    ns: NsFile,
}

/// The raw dumps of one namespace.
#[derive(Default)]
struct Raw {
    links: Vec<LinkMessage>,
    addresses: Vec<AddressMessage>,
    routes: Vec<RouteMessage>,
    /// nsid (as this namespace numbers its peers) → index into the places.
    nsids: HashMap<i32, usize>,
}

pub(super) fn snapshot(nl: &mut Netlink) -> Result<LiveState, BackendError> {
    let names = netns::list().map_err(|e| io_err("list namespaces", netns::NETNS_DIR, &e))?;
    let files = open_namespaces(nl, names)?;
    let root = nl
        .root
        .ns
        .file
        .try_clone()
        .map_err(|e| io_err("open namespace", "own namespace", &e))?;
    let mut places = vec![Place {
        name: None,
        ns: NsFile {
            file: root,
            id: nl.root.ns.id,
        },
    }];
    places.extend(files.into_iter().map(|(name, ns)| Place {
        name: Some(name),
        ns,
    }));

    let outcomes = read::read_all(&places);
    let (places, mut reads) = keep_read(places, outcomes, &mut nl.unreadable)?;
    nl.unsettled = settle(nl.scope.as_ref(), &places, &mut reads)?;

    let mut live = LiveState::default();
    named_namespaces(&places, &reads, &mut live.namespaces);
    resolve_links(&places, reads, &mut live.links);
    live.kernel = features(&live.links, kernel_release());
    nl.unreadable.sort();
    for name in &nl.unreadable {
        // Its identity (the cookie) needs a socket inside, which needs entering it.
        let owner = netns::recorded_owner(name);
        live.namespaces.push(LiveNamespace {
            name: name.clone(),
            owner,
        });
    }
    live.normalize();
    Ok(live)
}

/// The places read and their reads: a namespace that vanished meanwhile is dropped, one
/// this user may not enter goes to `unreadable`, any other failure fails the snapshot.
/// The nsids of the reads are renumbered to the places kept.
fn keep_read(
    places: Vec<Place>,
    outcomes: Vec<read::Outcome>,
    unreadable: &mut Vec<NsName>,
) -> Result<(Vec<Place>, Vec<Read>), BackendError> {
    let mut at: Vec<Option<usize>> = Vec::with_capacity(places.len());
    let mut kept = Vec::with_capacity(places.len());
    let mut reads = Vec::with_capacity(places.len());
    for (place, outcome) in places.into_iter().zip(outcomes) {
        match outcome {
            read::Outcome::Read(r) => {
                at.push(Some(kept.len()));
                kept.push(place);
                reads.push(r);
            }
            read::Outcome::Vanished => at.push(None),
            read::Outcome::Denied => {
                at.push(None);
                unreadable.extend(place.name);
            }
            read::Outcome::Failed(e) => return Err(e),
        }
    }
    if kept.first().is_none_or(|p| p.name.is_some()) {
        return Err(BackendError::new(
            "open namespace",
            "own namespace",
            None,
            "it could not be read",
        ));
    }
    for r in &mut reads {
        r.nsids = r
            .nsids
            .iter()
            .filter_map(|(&id, &i)| Some((id, at.get(i).copied().flatten()?)))
            .collect();
    }
    Ok((kept, reads))
}

/// Open the named namespaces to read and drop cached sockets of ones gone or replaced.
fn open_namespaces(
    nl: &mut Netlink,
    names: Vec<NsName>,
) -> Result<Vec<(NsName, NsFile)>, BackendError> {
    // Open every named namespace. One that vanished meanwhile (another tool or test deleted
    // it) is skipped; so is the own namespace when it also has a name (rooted_at a
    // /run/netns file, or run under `nsenter --net=/run/netns/X`): its links are reported
    // once, as the own namespace's.
    // A namespace this user may not enter (not root) is listed in `nl.unreadable` and
    // reported without its links.
    nl.unreadable.clear();
    let mut files: Vec<(NsName, NsFile)> = Vec::new();
    let mut ids: HashSet<netns::NsId> = HashSet::from([nl.root.ns.id]);
    for name in names {
        match NsFile::named(&name) {
            // The same namespace bound under a second name (`ip netns attach`, a bind
            // mount made twice) is reported once, under its first name.
            Ok(f) if !ids.insert(f.id) => {}
            Ok(f) => files.push((name, f)),
            Err(e) if vanished(&e) => {}
            Err(e) if denied(&e) => nl.unreadable.push(name),
            Err(e) => return Err(io_err("open namespace", format!("namespace {name}"), &e)),
        }
    }
    let stale: Vec<NsName> = nl
        .named
        .iter()
        .filter(|(n, c)| !files.iter().any(|(m, f)| m == *n && f.id == c.ns.id))
        .map(|(n, _)| n.clone())
        .collect();
    for n in &stale {
        nl.evict(n);
    }
    Ok(files)
}

/// Decide about the namespaces whose dumps kept coming back interrupted: the own namespace,
/// one the scope covers, or one with a link on or
/// paired with a link the scope covers fails the snapshot (a plan depends on it); any
/// other is left out (its links emptied) and returned, to be listed without links.
fn settle(
    scope: Option<&Scope>,
    places: &[Place],
    reads: &mut [Read],
) -> Result<Vec<NsName>, BackendError> {
    if reads.iter().all(|r| r.settled) {
        return Ok(vec![]);
    }
    let covered: Vec<bool> = places
        .iter()
        .map(|p| match (&p.name, scope) {
            (None, _) => true,
            (Some(n), Some(s)) => s.covers(n),
            (Some(_), None) => false,
        })
        .collect();
    // Whether the link called `name` of place `at` (read consistently) is one the scope
    // covers: any link in a covered named namespace; in the own namespace, the parents the
    // file names and the links carrying the topology's alias.
    let ours = |at: usize, name: &str| -> bool {
        let Some(scope) = scope else { return false };
        let read = &reads[at];
        match &places[at].name {
            _ if !read.settled => false,
            Some(_) => covered[at],
            None => read.links.iter().any(|l| {
                l.name.as_str() == name
                    && (scope.own_links.contains(&l.name) || l.owned_by(&scope.owner))
            }),
        }
    };
    let mut out = Vec::new();
    for (at, read) in reads.iter().enumerate() {
        if read.settled {
            continue;
        }
        let p = &places[at];
        if covered[at] {
            return Err(kept_changing(p, ""));
        }
        // Its links onto ours (as far as its last dump shows them; a link dump resumes by
        // ifindex, so the links that stayed put are all in it), and ours onto it.
        let onto_ours = read.lower.iter().flatten().any(|(index, nsid)| {
            nsid.and_then(|id| read.nsids.get(&id))
                .and_then(|&there| Some((there, reads[there].names.get(index)?)))
                .is_some_and(|(there, name)| ours(there, name))
        });
        let from_ours = reads.iter().enumerate().any(|(here, r)| {
            r.lower.iter().zip(&r.links).any(|(lower, l)| {
                lower.and_then(|(_, nsid)| r.nsids.get(&nsid?)) == Some(&at)
                    && ours(here, l.name.as_str())
            })
        });
        if onto_ours || from_ours {
            return Err(kept_changing(
                p,
                ", and links there sit on or pair with links of this topology",
            ));
        }
        if let Some(name) = &p.name {
            out.push(name.clone());
        }
    }
    for r in reads.iter_mut().filter(|r| !r.settled) {
        r.links.clear();
        r.lower.clear();
        r.names.clear();
    }
    out.sort();
    Ok(out)
}

/// The named namespaces read, each with its owner when its marker records this very one.
fn named_namespaces(places: &[Place], reads: &[Read], out: &mut Vec<LiveNamespace>) {
    for (place, read) in places.iter().zip(reads) {
        if let Some(name) = &place.name {
            // Owned only when the marker records this very namespace: its cookie (never
            // reused while the system is up, unlike the inode) and this boot.
            let owner = netns::boot_id().ok().and_then(|boot| {
                let id = netns::Identity {
                    cookie: read.cookie,
                    boot: boot.to_owned(),
                };
                netns::owner(name, &id)
            });
            out.push(LiveNamespace {
                name: name.clone(),
                owner,
            });
        }
    }
}

/// Whether the kernel has the macvlan attributes newer than the rest (`KernelFeatures`).
/// A macvlan's dump shows it: IFLA_MACVLAN_BC_QUEUE_LEN is in every macvlan's where the
/// kernel has it; IFLA_MACVLAN_BC_CUTOFF only where it is not its default, so its absence
/// proves nothing. Without such a link to tell, the kernel's release does (5.11 and 6.4
/// brought them; a backport shows in the links once there are some).
fn features(links: &[LiveLink], release: Option<(u32, u32)>) -> KernelFeatures {
    let macvlans = || links.iter().filter(|l| l.kind.macvlan().is_some());
    let since = |v: (u32, u32)| release.map(|r| r >= v);
    KernelFeatures {
        macvlan_bc_queue_len: if macvlans().any(|l| l.bcqueuelen.is_some()) {
            Some(true)
        } else if macvlans().next().is_some() {
            Some(false)
        } else {
            since((5, 11))
        },
        macvlan_bc_cutoff: if macvlans().any(|l| l.bc_cutoff.is_some()) {
            Some(true)
        } else {
            since((6, 4))
        },
    }
}

/// The running kernel's version (major, minor), as uname(2) reports it.
fn kernel_release() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The namespace went away between listing and opening it, or what is there now is not a
/// namespace (InvalidInput: replaced meanwhile by something else): skipped, like any name
/// that is not a namespace.
fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || e.kind() == io::ErrorKind::InvalidInput
        || e.raw_os_error() == Some(libc::EINVAL)
}

fn place_object(p: &Place) -> String {
    match &p.name {
        Some(n) => format!("namespace {n}"),
        None => "own namespace".to_owned(),
    }
}

/// The error for a namespace that could not be read consistently (`why`: what makes it
/// matter, for one outside the scope).
fn kept_changing(p: &Place, why: &str) -> BackendError {
    BackendError::new(
        "dump links",
        place_object(p),
        Some(libc::EINTR),
        format!(
            "the kernel reported every one of {DUMP_ATTEMPTS} dumps as interrupted (the namespace kept changing){why}"
        ),
    )
}

/// One namespace's links as read, reduced as soon as its dumps are in (the netlink
/// messages, with every link's statistics, are dropped then): links with their addresses
/// and routes, each link's lower device still as the kernel gave it (ifindex, and the nsid
/// of its namespace when elsewhere), and this namespace's ifindex → name.
struct Read {
    links: Vec<LiveLink>,
    /// Per link in `links`: IFLA_LINK and IFLA_LINK_NETNSID, when it has a lower device.
    lower: Vec<Option<(u32, Option<i32>)>>,
    /// ifindex → name of every link here (loopback included).
    names: HashMap<u32, String>,
    /// nsid (as this namespace numbers its peers) → index into the places.
    nsids: HashMap<i32, usize>,
    /// Whether the dumps were consistent; an unsettled read is only looked at to tell
    /// whether it touches the scope (`settle`).
    settled: bool,
    /// The namespace's cookie (of the socket that read it), to check its ownership marker
    /// against.
    cookie: u64,
}

fn reduce(place: &Place, raw: Raw) -> Read {
    let mut out = Read {
        links: Vec::with_capacity(raw.links.len()),
        lower: Vec::with_capacity(raw.links.len()),
        names: HashMap::with_capacity(raw.links.len()),
        nsids: raw.nsids,
        settled: true,
        cookie: 0,
    };
    let mut by_index: HashMap<u32, usize> = HashMap::with_capacity(raw.links.len());
    // IFLA_MASTER of each link in `out.links`: an ifindex in this namespace.
    let mut masters: Vec<Option<u32>> = Vec::with_capacity(raw.links.len());
    for l in &raw.links {
        let name = l.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n),
            _ => None,
        });
        if let Some(n) = name {
            out.names.insert(l.header.index, n.clone());
        }
        if l.header.link_layer_type == LinkLayerType::Loopback {
            continue;
        }
        let Some(name) = name.and_then(|n| LinkName::new(n).ok()) else {
            continue;
        };
        let mut link = bare_link(place, name, l.header.flags.contains(LinkFlags::Up));
        let mut lower: Option<u32> = None;
        let mut nsid: Option<i32> = None;
        let mut master: Option<u32> = None;
        for a in &l.attributes {
            match a {
                LinkAttribute::Mtu(m) => link.mtu = *m,
                LinkAttribute::Address(b) => link.mac = mac(b),
                LinkAttribute::IfAlias(s) => link.owner = owner_from_alias(s).map(str::to_owned),
                LinkAttribute::Link(i) => lower = Some(*i),
                LinkAttribute::LinkNetNsId(i) => nsid = Some(*i),
                LinkAttribute::Controller(i) => master = Some(*i),
                LinkAttribute::LinkInfo(infos) => link_info(infos, &mut link),
                _ => {}
            }
        }
        // IFLA_LINK equal to the link's own index means "no lower device".
        let lower = lower.filter(|i| *i != l.header.index || nsid.is_some());
        by_index.insert(l.header.index, out.links.len());
        out.links.push(link);
        out.lower.push(lower.map(|i| (i, nsid)));
        masters.push(master);
    }
    for (link, master) in out.links.iter_mut().zip(masters) {
        link.master = master
            .and_then(|i| out.names.get(&i))
            .and_then(|n| LinkName::new(n).ok());
    }
    attach(&mut out.links, &by_index, &raw.addresses, &raw.routes);
    out
}

/// A link of `place` as its header tells it, before its attributes are read.
fn bare_link(place: &Place, name: LinkName, up: bool) -> LiveLink {
    LiveLink::new(
        LinkRef::new(place.name.clone(), name),
        LinkKind::Device,
        0,
        up,
    )
}

/// Give each link (found by ifindex in `by_index`) its addresses and routes.
fn attach(
    links: &mut [LiveLink],
    by_index: &HashMap<u32, usize>,
    addresses: &[AddressMessage],
    routes: &[RouteMessage],
) {
    for a in addresses {
        let Some(&at) = by_index.get(&a.header.index) else {
            continue;
        };
        if let Some(c) = address(a) {
            links[at].addresses.push(c);
        }
    }
    for r in routes {
        if let Some((oif, route)) = route(r)
            && let Some(&at) = by_index.get(&oif)
        {
            links[at].routes.push(route);
        }
    }
}

/// Every namespace's links, with lower devices and veth peers resolved to place-qualified
/// names across namespaces (a parent in another namespace is known by its nsid there).
fn resolve_links(places: &[Place], reads: Vec<Read>, out: &mut Vec<LiveLink>) {
    let mut resolved: Vec<Vec<Option<LinkRef>>> = Vec::with_capacity(reads.len());
    for (place, read) in places.iter().zip(&reads) {
        let refs = read
            .lower
            .iter()
            .map(|lower| {
                let (index, nsid) = (*lower)?;
                let (ns, name) = match nsid {
                    None => (place.name.clone(), read.names.get(&index)?),
                    Some(id) => {
                        let at = *read.nsids.get(&id)?;
                        (places[at].name.clone(), reads.get(at)?.names.get(&index)?)
                    }
                };
                Some(LinkRef {
                    namespace: ns,
                    name: LinkName::new(name).ok()?,
                })
            })
            .collect();
        resolved.push(refs);
    }
    for (read, refs) in reads.into_iter().zip(resolved) {
        for (mut link, r) in read.links.into_iter().zip(refs) {
            if link.kind == LinkKind::Veth {
                link.peer = r;
            } else {
                link.parent = r;
            }
            out.push(link);
        }
    }
}

fn link_info(infos: &[LinkInfo], link: &mut LiveLink) {
    for i in infos {
        match i {
            LinkInfo::Kind(k) => {
                link.kind = LinkKind::from_str(&k.to_string()).unwrap_or(LinkKind::Device);
            }
            LinkInfo::Data(InfoData::MacVlan(data)) => macvlan_data(data.iter(), link),
            // The same attributes under the macvtap kind (see `super::recode`); one that
            // does not read as a macvlan attribute is none mvtopo reads either.
            LinkInfo::Data(InfoData::MacVtap(data)) => {
                let data: Vec<InfoMacVlan> = data
                    .iter()
                    .filter_map(|d| super::recode::<InfoMacVtap, InfoMacVlan>(d).ok())
                    .collect();
                macvlan_data(data.iter(), link);
            }
            LinkInfo::Data(InfoData::Vlan(data)) => {
                for d in data {
                    if let InfoVlan::Id(id) = d {
                        link.vlan_id = Some(*id);
                    }
                }
            }
            _ => {}
        }
    }
}

fn macvlan_data<'a>(data: impl Iterator<Item = &'a InfoMacVlan>, link: &mut LiveLink) {
    for d in data {
        match d {
            InfoMacVlan::Mode(m) => link.mode = mode(m),
            InfoMacVlan::MacAddrData(list) => {
                link.source_macs = list
                    .iter()
                    .filter_map(|x| match x {
                        InfoMacVlan::MacAddr(b) => Some(MacAddr(*b)),
                        _ => None,
                    })
                    .collect();
            }
            InfoMacVlan::Flags(f) => link.flags = MacvlanFlag::from_bits(f.bits()),
            // What this macvlan asked for; IFLA_MACVLAN_BC_QUEUE_LEN_USED (the largest on
            // the parent) is not what the file sets, and is left out.
            InfoMacVlan::BcQueueLen(n) => link.bcqueuelen = Some(*n),
            InfoMacVlan::BcCutoff(n) => link.bc_cutoff = Some(*n),
            _ => {}
        }
    }
}

pub(super) fn mode(m: &MacVlanMode) -> Option<Mode> {
    Some(match m {
        MacVlanMode::Private => Mode::Private,
        MacVlanMode::Vepa => Mode::Vepa,
        MacVlanMode::Bridge => Mode::Bridge,
        MacVlanMode::Passthrough => Mode::Passthru,
        MacVlanMode::Source => Mode::Source,
        _ => return None,
    })
}

fn mac(b: &[u8]) -> Option<MacAddr> {
    <[u8; 6]>::try_from(b).ok().map(MacAddr)
}

/// An interface address, leaving out IPv6 link-local ones (the kernel makes those).
pub(super) fn address(a: &AddressMessage) -> Option<Cidr> {
    // For IPv4, IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on a
    // point-to-point link. IPv6 only sends IFA_ADDRESS.
    let local = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let addr = local.or_else(|| {
        a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    if is_ipv6_link_local(&addr) {
        return None;
    }
    Cidr::new(addr, a.header.prefix_len).ok()
}

/// A route we report: main table, unicast, not made by the kernel itself (prefix routes of
/// addresses are proto kernel, router advertisements proto ra), not link-local, with an
/// output interface. Returns the oif with it.
fn route(r: &RouteMessage) -> Option<(u32, Route)> {
    let h = &r.header;
    // Table ids above 255 only come in RTA_TABLE; the header then says RT_TABLE_COMPAT.
    let table = r
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(h.table));
    if table != u32::from(RouteHeader::RT_TABLE_MAIN)
        || h.kind != RouteType::Unicast
        || matches!(h.protocol, RouteProtocol::Kernel | RouteProtocol::Ra)
    {
        return None;
    }
    let unspecified = match h.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let mut to = unspecified;
    let mut via = None;
    let mut oif = None;
    let mut metric = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(d) => to = route_ip(d)?,
            RouteAttribute::Gateway(g) => via = route_ip(g),
            RouteAttribute::Via(RouteVia::Inet(v)) => via = Some(IpAddr::V4(*v)),
            RouteAttribute::Via(RouteVia::Inet6(v)) => via = Some(IpAddr::V6(*v)),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => metric = Some(*p),
            _ => {}
        }
    }
    if let IpAddr::V6(v6) = to
        && (is_ipv6_link_local(&to) || v6.is_multicast())
    {
        return None;
    }
    let to = Cidr::new(to, h.destination_prefix_length).ok()?;
    Some((oif?, Route::new(to, via, metric)))
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::RouteScope;

    fn route_msg(proto: RouteProtocol, dst: Option<Ipv4Addr>, len: u8) -> RouteMessage {
        let mut r = RouteMessage::default();
        r.header.address_family = AddressFamily::Inet;
        r.header.table = RouteHeader::RT_TABLE_MAIN;
        r.header.kind = RouteType::Unicast;
        r.header.protocol = proto;
        r.header.scope = RouteScope::Universe;
        r.header.destination_prefix_length = len;
        if let Some(d) = dst {
            r.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(d)));
        }
        r.attributes.push(RouteAttribute::Oif(7));
        r
    }

    #[test]
    fn default_route_with_gateway_is_kept() {
        let mut r = route_msg(RouteProtocol::Boot, None, 0);
        r.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(
                10, 0, 0, 1,
            ))));
        let (oif, got) = route(&r).unwrap();
        assert_eq!(oif, 7);
        assert_eq!(got.to.to_string(), "0.0.0.0/0");
        assert_eq!(got.via, Some("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn kernel_prefix_routes_and_other_tables_are_left_out() {
        assert!(
            route(&route_msg(
                RouteProtocol::Kernel,
                Some(Ipv4Addr::new(10, 0, 0, 0)),
                24
            ))
            .is_none()
        );
        let mut other = route_msg(RouteProtocol::Static, Some(Ipv4Addr::new(10, 0, 0, 0)), 24);
        other.header.table = 100;
        assert!(route(&other).is_none());
        let mut big = route_msg(RouteProtocol::Static, Some(Ipv4Addr::new(10, 0, 0, 0)), 24);
        big.attributes.push(RouteAttribute::Table(1000));
        assert!(route(&big).is_none());
        let ok = route_msg(RouteProtocol::Static, Some(Ipv4Addr::new(10, 1, 0, 0)), 16);
        assert_eq!(route(&ok).unwrap().1.to.to_string(), "10.1.0.0/16");
    }

    #[test]
    fn ipv6_link_local_addresses_are_left_out() {
        let mut a = AddressMessage::default();
        a.header.prefix_len = 64;
        a.attributes
            .push(AddressAttribute::Address("fe80::1".parse().unwrap()));
        assert_eq!(address(&a), None);
        a.attributes = vec![AddressAttribute::Address("fd00::1".parse().unwrap())];
        assert_eq!(address(&a).unwrap().to_string(), "fd00::1/64");
        a.header.prefix_len = 24;
        a.attributes = vec![
            AddressAttribute::Address("10.0.0.9".parse().unwrap()),
            AddressAttribute::Local("10.0.0.2".parse().unwrap()),
        ];
        assert_eq!(address(&a).unwrap().to_string(), "10.0.0.2/24");
    }
}
