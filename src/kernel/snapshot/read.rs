//! Reading the places of a snapshot on a few OS threads of its own: each thread enters one
//! namespace after the other (`setns` acts on the calling thread only, and these threads
//! end with the read), opens a plain blocking netlink socket there, dumps links, addresses
//! and routes, and reduces them to a `Read` before the next namespace.
//!
//! Not the tokio runtime: on its one thread the kernel builds every dump inside that
//! thread's recvmsg calls, so namespaces read "at once" there were read one after the
//! other. Here each thread's recvmsg builds its own namespace's dumps, on its own core.
//! Nothing of a namespace outlives its read but the reduced links: its socket is closed
//! and its messages dropped before the thread moves on; the receive buffer is the
//! thread's, reused.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};

use netlink_packet_core::{
    DecodeError, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkBuffer,
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NlaBuffer, NlasIterator, Parseable,
    ParseableParametrized,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkHeader, LinkMessage};
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::route::{RouteHeader, RouteMessage, RouteType};

use super::{DUMP_ATTEMPTS, Place, Raw, Read, backoff, kept_changing, place_object, reduce};
use crate::apply::backend::BackendError;
use crate::kernel::{Dump, denied, errno_text, io_err, links_request, netns};

/// What reading one place came to.
pub(super) enum Outcome {
    Read(Read),
    /// Gone between listing and entering it (another tool deleted it): skipped.
    Vanished,
    /// Entering it needs a privilege this process lacks: listed without links.
    Denied,
    Failed(BackendError),
}

/// The most threads a snapshot reads on (one per core, up to this).
const MAX_THREADS: usize = 4;
/// Receive buffer per thread: the kernel fills a dump's datagrams up to 32 KiB when the
/// reader's buffer allows it (fewer recvmsg calls), and one entry may be larger (a
/// source-mode macvlan's address list). Allocated zeroed, its untouched pages cost nothing.
const BUFFER: usize = 1 << 20;

/// Read every place, in parallel; the outcomes in the places' order.
pub(super) fn read_all(places: &[Place]) -> Vec<Outcome> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS)
        .min(places.len());
    let next = AtomicUsize::new(0);
    let mut out: Vec<Option<Outcome>> = (0..places.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                std::thread::Builder::new()
                    .name("mvtopo-snapshot".into())
                    .spawn_scoped(s, || worker(places, &next))
            })
            .collect();
        for w in workers {
            let done = match w {
                Ok(h) => h.join().unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            for (i, o) in done {
                out[i] = Some(o);
            }
        }
    });
    // A place no thread got to: its thread could not start, or panicked.
    out.into_iter()
        .zip(places)
        .map(|(o, p)| {
            o.unwrap_or_else(|| {
                Outcome::Failed(BackendError::new(
                    "read namespace",
                    place_object(p),
                    None,
                    "the thread reading it failed",
                ))
            })
        })
        .collect()
}

/// One thread: take the next place until none is left.
fn worker(places: &[Place], next: &AtomicUsize) -> Vec<(usize, Outcome)> {
    let mut done = Vec::new();
    // The namespace this thread is in: it starts in its creator's.
    let mut here = File::open("/proc/thread-self/ns/net")
        .and_then(|f| f.metadata())
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        })
        .ok();
    let mut buf = vec![0u8; BUFFER];
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(p) = places.get(i) else { break };
        done.push((i, read_place(p, places, &mut here, &mut buf)));
    }
    done
}

fn read_place(
    p: &Place,
    places: &[Place],
    here: &mut Option<netns::NsId>,
    buf: &mut [u8],
) -> Outcome {
    let object = || place_object(p);
    // The own namespace of a process that is not root is the one its threads start in:
    // entered only when elsewhere (setns needs CAP_SYS_ADMIN even into the current one).
    if *here != Some(p.ns.id) {
        match nix::sched::setns(&p.ns.file, nix::sched::CloneFlags::CLONE_NEWNET) {
            Ok(()) => *here = Some(p.ns.id),
            Err(e) => {
                let e = io::Error::from(e);
                return if denied(&e) {
                    Outcome::Denied
                } else if super::vanished(&e) {
                    Outcome::Vanished
                } else {
                    Outcome::Failed(io_err("enter namespace", object(), &e))
                };
            }
        }
    }
    let sock = match socket() {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(io_err("open netlink socket", object(), &e)),
    };
    let cookie = match netns::socket_cookie(&sock) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(io_err("open netlink socket", object(), &e)),
    };
    match read_namespace(&sock, p, places, buf) {
        Ok((raw, settled)) => {
            let mut read = reduce(p, raw);
            read.settled = settled;
            read.cookie = cookie;
            Outcome::Read(read)
        }
        Err(e) => Outcome::Failed(e),
    }
}

/// A blocking NETLINK_ROUTE socket in the calling thread's namespace, with strict checking
/// (the route dump's header filters; a kernel before 4.20 ignores it and `route` filters
/// the same again).
fn socket() -> io::Result<OwnedFd> {
    let sock = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
    let _ = sock.set_netlink_get_strict_chk(true);
    // SAFETY: `into_raw_fd` gives up ownership of a valid, open descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(sock)) })
}

/// Dump links, addresses and routes of one namespace, reading all three again when any
/// came back interrupted: they must describe the same moment (a route's oif must be one of
/// the links read). Returns the dumps and whether they are consistent: after the last
/// attempt, the last interrupted ones (the caller decides whether they may be left out).
fn read_namespace(
    sock: &OwnedFd,
    p: &Place,
    places: &[Place],
    buf: &mut [u8],
) -> Result<(Raw, bool), BackendError> {
    let object = place_object(p);
    let mut seq = 0;
    let mut ask = |what: &'static str, request: RouteNetlinkMessage, buf: &mut [u8]| {
        seq += 1;
        dump(sock, seq, request, buf).map_err(|e| e.into_error(what, &object))
    };
    for attempt in 0..DUMP_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(backoff(attempt - 1));
        }
        let links = ask("dump links", links_request(), buf)?;
        let addresses = ask(
            "dump addresses",
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            buf,
        )?;
        // AF_UNSPEC: the kernel dumps every family's tables in one go; only the main
        // table's unicast routes (`reported`), which strict checking lets the kernel pick:
        // the local table alone holds several routes per link (its addresses, broadcast,
        // IPv6 multicast), most of the dump otherwise.
        let mut only_main = RouteMessage::default();
        only_main.header.table = RouteHeader::RT_TABLE_MAIN;
        only_main.header.kind = RouteType::Unicast;
        let routes = ask("dump routes", RouteNetlinkMessage::GetRoute(only_main), buf)?;
        let interrupted = links.interrupted || addresses.interrupted || routes.interrupted;
        if interrupted && attempt + 1 < DUMP_ATTEMPTS {
            continue;
        }
        let mut raw = Raw {
            links: inner(links, |m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            }),
            addresses: inner(addresses, |m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            }),
            routes: inner(routes, |m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(r),
                _ => None,
            }),
            nsids: HashMap::new(),
        };
        seq += 1;
        raw.nsids = resolve_nsids(sock, seq, &raw.links, places, buf)
            .map_err(|e| e.into_error("read namespace ids", &object))?;
        return Ok((raw, !interrupted));
    }
    Err(kept_changing(p, ""))
}

fn inner<T>(d: Dump, f: impl Fn(RouteNetlinkMessage) -> Option<T>) -> Vec<T> {
    d.messages.into_iter().filter_map(f).collect()
}

/// Map the nsids this namespace's links refer to (IFLA_LINK_NETNSID, numbered by this
/// namespace) to the places we know, asking the kernel (RTM_GETNSID with the namespace's
/// fd) which nsid each known namespace has here. The own namespace is asked first, as
/// that is where most parents live (a parent in a named namespace is found the same way);
/// asking stops once every nsid in use is resolved. An nsid of a namespace we do not know
/// (a container's, say) stays unresolved.
fn resolve_nsids(
    sock: &OwnedFd,
    mut seq: u32,
    links: &[LinkMessage],
    places: &[Place],
    buf: &mut [u8],
) -> Result<HashMap<i32, usize>, Failure> {
    let mut wanted: HashSet<i32> = links
        .iter()
        .flat_map(|l| l.attributes.iter())
        .filter_map(|a| match a {
            LinkAttribute::LinkNetNsId(id) => Some(*id),
            _ => None,
        })
        .collect();
    let mut out = HashMap::new();
    for (i, p) in places.iter().enumerate() {
        if wanted.is_empty() {
            break;
        }
        let mut msg = NsidMessage::default();
        msg.attributes = vec![NsidAttribute::Fd(p.ns.file.as_raw_fd() as u32)];
        seq += 1;
        let reply = exchange(
            sock,
            seq,
            RouteNetlinkMessage::GetNsId(msg),
            NLM_F_REQUEST | NLM_F_ACK,
            buf,
        )?;
        let id = reply.messages.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewNsId(m) => m.attributes.into_iter().find_map(|a| match a {
                NsidAttribute::Id(id) if id >= 0 => Some(id),
                _ => None,
            }),
            _ => None,
        });
        if let Some(id) = id
            && wanted.remove(&id)
        {
            out.insert(id, i);
        }
    }
    Ok(out)
}

/// A failed exchange: the socket's error, or the kernel's errno.
enum Failure {
    Io(io::Error),
    Errno(i32),
    Malformed(String),
}

impl Failure {
    fn into_error(self, op: &'static str, object: &str) -> BackendError {
        match self {
            Failure::Io(e) => io_err(op, object, &e),
            Failure::Errno(errno) => {
                BackendError::new(op, object.to_owned(), Some(errno), errno_text(errno))
            }
            Failure::Malformed(why) => BackendError::new(op, object.to_owned(), None, why),
        }
    }
}

fn dump(
    sock: &OwnedFd,
    seq: u32,
    request: RouteNetlinkMessage,
    buf: &mut [u8],
) -> Result<Dump, Failure> {
    exchange(sock, seq, request, NLM_F_REQUEST | NLM_F_DUMP, buf)
}

/// Send one request and collect its answer up to NLMSG_DONE (a dump) or the ACK / error
/// (anything else), noting NLM_F_DUMP_INTR. An EINTR the kernel ends a dump with is an
/// interruption too.
fn exchange(
    sock: &OwnedFd,
    seq: u32,
    request: RouteNetlinkMessage,
    flags: u16,
    buf: &mut [u8],
) -> Result<Dump, Failure> {
    let mut req = NetlinkMessage::from(request);
    req.header.flags = flags;
    req.header.sequence_number = seq;
    req.finalize();
    let mut bytes = vec![0u8; req.buffer_len()];
    req.serialize(&mut bytes);
    send(sock, &bytes).map_err(Failure::Io)?;
    let mut out = Dump {
        messages: Vec::new(),
        interrupted: false,
    };
    loop {
        let n = recv(sock, buf).map_err(Failure::Io)?;
        let mut at = 0;
        while at + 16 <= n {
            let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
            let len = len as usize;
            if len < 16 || at + len > n {
                return Err(Failure::Malformed(format!(
                    "a netlink message of {len} bytes in a datagram of {n}"
                )));
            }
            let bytes = &buf[at..at + len];
            at += (len + 3) & !3;
            let header = NetlinkBuffer::new(bytes);
            if header.sequence_number() != seq {
                continue;
            }
            // Before `parse`, which skips some messages: the flag may be on one of those.
            if header.flags() & NLM_F_DUMP_INTR != 0 {
                out.interrupted = true;
            }
            let Some(msg) = parse(bytes).map_err(|e| Failure::Malformed(e.to_string()))? else {
                continue;
            };
            match msg.payload {
                NetlinkPayload::InnerMessage(m) => out.messages.push(m),
                NetlinkPayload::Done(d) => {
                    match d.code {
                        0 => {}
                        c if c == -libc::EINTR => out.interrupted = true,
                        c => return Err(Failure::Errno(c.abs())),
                    }
                    return Ok(out);
                }
                NetlinkPayload::Error(e) => {
                    return match e.raw_code() {
                        0 => Ok(out),
                        c if c == -libc::EINTR => {
                            out.interrupted = true;
                            Ok(out)
                        }
                        c => Err(Failure::Errno(c.abs())),
                    };
                }
                _ => {}
            }
        }
        // A reply that is not a dump ends with its one message when no ACK was asked for.
        if flags & (NLM_F_DUMP | NLM_F_ACK) == 0 {
            return Ok(out);
        }
    }
}

/// Message types of a dump's entries.
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
/// The link attributes `reduce` reads: IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK,
/// IFLA_MASTER, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_LINK_NETNSID.
const LINK_ATTRIBUTES: [u16; 8] = [1, 3, 4, 5, 10, 18, 20, 37];
/// struct ifinfomsg, before a link's attributes.
const LINK_HEADER_LEN: usize = 16;
/// In struct ifaddrmsg: the family and the scope; in struct rtmsg: the protocol.
const IFA_FAMILY: usize = 0;
const IFA_SCOPE: usize = 3;
const RTM_PROTOCOL: usize = 5;
/// RT_SCOPE_LINK; RTPROT_KERNEL and RTPROT_RA.
const SCOPE_LINK: u8 = 253;
const PROTOCOLS_SKIPPED: [u8; 2] = [2, 9];

/// One netlink message, or `None` for a dump entry the snapshot leaves out anyway, skipped
/// unparsed: an IPv6 link-local address (every macvlan that is up has one; `address`
/// drops them) and a route the kernel made (prefix routes of addresses, router
/// advertisements; `route` drops them). A link's attributes are parsed only where `reduce`
/// reads them: the rest of a link's message (IFLA_AF_SPEC with every IPv4 and IPv6
/// setting of the link, IFLA_PROTINFO, queue counts, ...) is most of it, and parsing it
/// into values was the largest cost of reading a namespace.
fn parse(bytes: &[u8]) -> Result<Option<NetlinkMessage<RouteNetlinkMessage>>, DecodeError> {
    let buffer = NetlinkBuffer::new_checked(bytes)?;
    let payload = buffer.payload();
    let at = |i: usize| payload.get(i).copied();
    match buffer.message_type() {
        RTM_NEWADDR
            if at(IFA_FAMILY) == Some(libc::AF_INET6 as u8)
                && at(IFA_SCOPE) == Some(SCOPE_LINK) =>
        {
            return Ok(None);
        }
        RTM_NEWROUTE if at(RTM_PROTOCOL).is_some_and(|p| PROTOCOLS_SKIPPED.contains(&p)) => {
            return Ok(None);
        }
        RTM_NEWLINK => {}
        _ => return NetlinkMessage::deserialize(bytes).map(Some),
    }
    let header = NetlinkHeader::parse(&buffer)?;
    let mut link = LinkMessage::default();
    link.header = LinkHeader::parse(payload)?;
    let family = link.header.interface_family;
    for nla in NlasIterator::new(payload.get(LINK_HEADER_LEN..).unwrap_or_default()) {
        let nla: NlaBuffer<&[u8]> = nla?;
        if LINK_ATTRIBUTES.contains(&nla.kind()) {
            link.attributes
                .push(LinkAttribute::parse_with_param(&nla, family)?);
        }
    }
    Ok(Some(NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)),
    )))
}

fn send(sock: &OwnedFd, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: `bytes` is valid for reads of its length; the descriptor is open.
    let r = unsafe { libc::send(sock.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receive one datagram into `buf`, returning its length. The kernel makes a dump's
/// datagrams at most 32 KiB (or one entry, when an entry is larger); `buf` is far larger,
/// and its pages past what the kernel writes are never touched.
fn recv(sock: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of its length; the descriptor is open.
        let r = unsafe {
            libc::recv(
                sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
            )
        };
        match usize::try_from(r) {
            // MSG_TRUNC: the datagram's whole length, even when it did not fit.
            Ok(n) if n > buf.len() => {
                return Err(io::Error::other(format!(
                    "a netlink datagram of {n} bytes, more than the {} expected",
                    buf.len()
                )));
            }
            Ok(n) => return Ok(n),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use netlink_packet_route::AddressFamily;
    use netlink_packet_route::address::AddressScope;
    use netlink_packet_route::route::RouteProtocol;

    use super::*;

    fn bytes(m: RouteNetlinkMessage) -> Vec<u8> {
        let mut msg = NetlinkMessage::from(m);
        msg.finalize();
        let mut b = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut b);
        b
    }

    fn address(family: AddressFamily, scope: AddressScope) -> Vec<u8> {
        let mut a = AddressMessage::default();
        a.header.family = family;
        a.header.scope = scope;
        bytes(RouteNetlinkMessage::NewAddress(a))
    }

    fn route(protocol: RouteProtocol) -> Vec<u8> {
        let mut r = RouteMessage::default();
        r.header.protocol = protocol;
        bytes(RouteNetlinkMessage::NewRoute(r))
    }

    #[test]
    fn ipv6_link_local_addresses_and_kernel_routes_are_skipped_unparsed() {
        assert!(
            parse(&address(AddressFamily::Inet6, AddressScope::Link))
                .unwrap()
                .is_none()
        );
        for kept in [
            address(AddressFamily::Inet6, AddressScope::Universe),
            address(AddressFamily::Inet, AddressScope::Link),
        ] {
            assert!(parse(&kept).unwrap().is_some());
        }
        assert!(parse(&route(RouteProtocol::Kernel)).unwrap().is_none());
        assert!(parse(&route(RouteProtocol::Ra)).unwrap().is_none());
        assert!(parse(&route(RouteProtocol::Static)).unwrap().is_some());
        assert!(parse(&route(RouteProtocol::Boot)).unwrap().is_some());
    }

    #[test]
    fn a_link_keeps_only_the_attributes_the_snapshot_reads() {
        let mut l = LinkMessage::default();
        l.header.index = 7;
        l.attributes = vec![
            LinkAttribute::IfName("mv0".into()),
            LinkAttribute::TxQueueLen(1000),
            LinkAttribute::Mtu(1400),
            LinkAttribute::LinkNetNsId(3),
            LinkAttribute::NumTxQueues(4),
        ];
        let Some(msg) = parse(&bytes(RouteNetlinkMessage::NewLink(l))).unwrap() else {
            panic!("a link is never skipped");
        };
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(got)) = msg.payload else {
            panic!("not a link: {msg:?}");
        };
        assert_eq!(got.header.index, 7);
        assert_eq!(
            got.attributes,
            vec![
                LinkAttribute::IfName("mv0".into()),
                LinkAttribute::Mtu(1400),
                LinkAttribute::LinkNetNsId(3),
            ]
        );
    }
}
