//! The real kernel behind `backend::Backend`: rtnetlink, one socket per network namespace.
//!
//! Everything that speaks netlink lives under this module: wire types (`LinkMessage`, NLAs)
//! never leave it. The trait is synchronous; `Netlink` owns a current-thread tokio runtime
//! and blocks on it for every request. Each namespace gets its own netlink socket, created on
//! a short-lived thread that entered the namespace (see `netns::sockets_in`), because a
//! socket stays in the namespace it was created in and `setns` on a runtime thread would
//! move whatever task runs there next.

#![allow(unsafe_code)]

mod batch;
mod exec;
mod journal;
mod netns;
mod snapshot;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::Path;

use futures::StreamExt;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::Handle;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::apply::Request;
use crate::apply::backend::{BackendError, Op};
use crate::live::LiveState;
use crate::names::NsName;
use crate::plan::Object;

pub use journal::{CREATING_GROUP, JOURNAL_DIR};
use netns::NsFile;
pub use netns::{MARKER_DIR, NETNS_DIR, PLACEHOLDER_MODE};
pub use snapshot::Scope;

/// The rtnetlink backend. Its "own namespace" is where parents live and where macvlans
/// without a namespace go: the process's namespace (`new`) or a netns file (`rooted_at`).
pub struct Netlink {
    root: Conn,
    /// Sockets into named namespaces that requests have worked in: the most recently used
    /// ones, up to `OPEN_NAMESPACES` (see `conn`). Sockets opened only to read a snapshot
    /// are closed at the end of it: an open socket keeps its namespace alive, and with it
    /// the interfaces of a namespace that somebody else deletes meanwhile.
    named: HashMap<NsName, Conn>,
    /// Counts the requests made (`Backend::request`, `request_many`; 0 before the first):
    /// a connection used by the one under way is never closed to make room, and is checked
    /// against its namespace's name once in it (see `conn`).
    epoch: u64,
    /// The ifindexes of links this backend deleted, and of those their deletes took along,
    /// so that undo can create them again under the same ifindexes.
    gone: HashMap<crate::live::LinkRef, u32>,
    /// Test builds only: refuse request N (see `fail_at`).
    #[cfg(feature = "testing")]
    faults: Faults,
    /// Named namespaces the last snapshot could not enter (no permission: entering one
    /// needs CAP_SYS_ADMIN). It lists them, without their links.
    unreadable: Vec<NsName>,
    /// What snapshots must read consistently (`set_scope`); `None`: only the own namespace.
    scope: Option<Scope>,
    /// Named namespaces the last snapshot left out because they kept changing while it
    /// read them and no plan in the scope depends on them. It lists them, without links.
    unsettled: Vec<NsName>,
    /// Declared last so it is dropped after the connections it drives.
    rt: Runtime,
}

/// Fault injection for tests on the real kernel: compiled only with the `testing` feature,
/// which the crate's own tests enable and `cargo build --release` never does.
#[cfg(feature = "testing")]
#[derive(Debug, Default, Clone, Copy)]
struct Faults {
    /// Requests made so far (refused ones included).
    made: usize,
    fail_at: Option<(usize, i32)>,
}

/// How many named namespaces' connections a backend keeps open (see `Netlink::conn`):
/// enough for the namespaces a batch of requests in flight spans, few enough that their
/// buffers stay small beside the state. A run that goes through its namespaces in order
/// reopens one only when it comes back to it (its address adds, after its links).
const OPEN_NAMESPACES: usize = 32;

/// Raise the soft limit on open files to the hard one, as systemd does for its services.
/// Every named namespace a run touches keeps a netlink socket and its namespace file open
/// for the run (a W2-sized apply, 500 namespaces, holds about 1,500 descriptors), and the
/// soft limit of a login shell is often 1024: past it, opening the next namespace fails
/// with EMFILE halfway through a run. Failing to raise it changes nothing.
pub fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed, which lives
    // for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[cfg(feature = "testing")]
impl Netlink {
    /// Refuse the `n`-th request from now on (counting from 0) with `errno`, without
    /// sending it, as if the kernel had; `None` stops injecting. Resets the count.
    pub fn fail_at(&mut self, fault: Option<(usize, i32)>) {
        self.faults = Faults {
            made: 0,
            fail_at: fault,
        };
    }

    /// Requests made since the last `fail_at`.
    pub fn requests_made(&self) -> usize {
        self.faults.made
    }
}

/// One netlink connection into one namespace, and that namespace's open file (used for
/// IFLA_NET_NS_FD and NETNSA_FD, and to tell namespaces apart).
struct Conn {
    ns: NsFile,
    handle: Handle,
    /// A duplicate of the netlink socket, for SIOCGIFINDEX (see `ifindex`).
    ctl: OwnedFd,
    /// The namespace's cookie (SO_NETNS_COOKIE of the socket): its identity for markers and
    /// the journal, never reused while the system is up.
    cookie: u64,
    /// The `Netlink::epoch` it was last used in.
    used: u64,
    /// Runs for as long as the runtime does; aborted by `evict`. Dropping the runtime
    /// drops every connection task and so closes their sockets.
    task: JoinHandle<()>,
}

impl Netlink {
    /// Backend rooted in the namespace the process runs in (the calling thread's, to be
    /// exact).
    ///
    /// Its socket is made on the calling thread, without `setns` (which needs
    /// CAP_SYS_ADMIN even into the namespace one is already in): so any user can read the
    /// own namespace, and `plan` and `show` work without root as far as they need nothing
    /// else (see `unreadable`).
    pub fn new() -> Result<Netlink, BackendError> {
        raise_open_file_limit();
        let path = Path::new("/proc/thread-self/ns/net");
        let object = "own namespace";
        let rt = runtime().map_err(|e| io_err("start runtime", object, &e))?;
        let ns = NsFile::open(path).map_err(|e| io_err("open namespace", object, &e))?;
        let root = socket_here()
            .and_then(|sock| wrap(&rt, ns, sock))
            .map_err(|e| io_err("open netlink socket", object, &e))?;
        Ok(Netlink {
            root,
            named: HashMap::new(),
            epoch: 0,
            gone: HashMap::new(),
            #[cfg(feature = "testing")]
            faults: Faults::default(),
            unreadable: Vec::new(),
            scope: None,
            unsettled: Vec::new(),
            rt,
        })
    }

    /// The named namespaces that the last `snapshot` could not enter for lack of
    /// permission (a normal user's `plan` or `show`). The snapshot lists them as
    /// namespaces, with their ownership markers, but holds none of their links: a plan
    /// that depends on one must not be trusted.
    pub fn unreadable(&self) -> &[NsName] {
        &self.unreadable
    }

    /// Read what `scope` covers consistently from now on (see `Scope`); `None`, the
    /// default (`show` of everything): only the own namespace.
    pub fn set_scope(&mut self, scope: Option<Scope>) {
        self.scope = scope;
    }

    /// The named namespaces the last `snapshot` listed without links because they kept
    /// changing while it read them (see `Scope`).
    pub fn unsettled(&self) -> &[NsName] {
        &self.unsettled
    }

    /// Backend whose own namespace is the netns file at `path` (e.g. /run/netns/NAME)
    /// instead of the process's. Tests use this to run hermetically in-process.
    pub fn rooted_at(path: &Path) -> Result<Netlink, BackendError> {
        raise_open_file_limit();
        let object = format!("namespace {}", path.display());
        let rt = runtime().map_err(|e| io_err("start runtime", &object, &e))?;
        let ns = NsFile::open(path).map_err(|e| io_err("open namespace", &object, &e))?;
        let root = connect(&rt, vec![ns])
            .pop()
            .unwrap_or_else(|| Err(io::Error::other("no connection")))
            .map_err(|e| io_err("open netlink socket", &object, &e))?;
        Ok(Netlink {
            root,
            named: HashMap::new(),
            epoch: 0,
            gone: HashMap::new(),
            #[cfg(feature = "testing")]
            faults: Faults::default(),
            unreadable: Vec::new(),
            scope: None,
            unsettled: Vec::new(),
            rt,
        })
    }

    /// The connection into `ns` (`None` = the own namespace), opened and cached on first
    /// use. A cached socket whose name now points at another namespace (deleted and created
    /// again behind our back) is replaced.
    ///
    /// At most `OPEN_NAMESPACES` named ones stay open: opening one more first closes the
    /// least recently used, unless the request under way used it (its namespace file may
    /// be in the request as IFLA_NET_NS_FD, its handle awaiting an answer). Every
    /// connection keeps a 72 KiB read and write buffer (netlink-proto's), and a run that
    /// touches 500 namespaces held them all to its end: 36 MB of a W2 apply's peak.
    fn conn(&mut self, ns: Option<&NsName>) -> Result<&mut Conn, BackendError> {
        let Some(name) = ns else {
            return Ok(&mut self.root);
        };
        let object = format!("namespace {name}");
        // Looked at once per request: a request names a namespace several times (its
        // file, its cookie, its socket), and a stat for each was 6 per macvlan.
        let epoch = self.epoch;
        if self
            .named
            .get(name)
            .is_some_and(|c| epoch == 0 || c.used != epoch)
        {
            let now = netns::id_of(name).map_err(|e| io_err("open namespace", &object, &e))?;
            if self.named.get(name).is_some_and(|c| c.ns.id != now) {
                self.evict(name);
            }
        }
        if !self.named.contains_key(name) {
            self.make_room();
            let file = NsFile::named(name).map_err(|e| io_err("open namespace", &object, &e))?;
            let conn = connect(&self.rt, vec![file])
                .pop()
                .unwrap_or_else(|| Err(io::Error::other("no connection")))
                .map_err(|e| io_err("open netlink socket", &object, &e))?;
            self.named.insert(name.clone(), conn);
        }
        let conn = self
            .named
            .get_mut(name)
            .ok_or_else(|| BackendError::new("open namespace", object, None, "not cached"))?;
        conn.used = epoch;
        Ok(conn)
    }

    /// Close least recently used connections until one more fits under `OPEN_NAMESPACES`,
    /// never one the request under way used (then the cache grows for as long as it must).
    fn make_room(&mut self) {
        while self.named.len() >= OPEN_NAMESPACES {
            let oldest = self
                .named
                .iter()
                .filter(|(_, c)| c.used < self.epoch)
                .min_by_key(|(_, c)| c.used)
                .map(|(n, _)| n.clone());
            match oldest {
                Some(n) => self.evict(&n),
                None => break,
            }
        }
    }

    /// Close the cached socket into `name` now (not at the runtime's next turn), so it no
    /// longer holds the namespace alive.
    fn evict(&mut self, name: &NsName) {
        if let Some(Conn {
            ns,
            handle,
            ctl,
            task,
            ..
        }) = self.named.remove(name)
        {
            task.abort();
            drop((ns, handle, ctl));
            // Let the runtime process the abort, which drops the socket.
            let _ = self.rt.block_on(task);
        }
    }
}

impl Netlink {
    /// Settle what runs killed outright left half-made (see `journal`): links created but
    /// never marked as owned, namespace placeholders never mounted, and ownership markers
    /// that describe no namespace. Returns a note for each thing removed. Call it holding the
    /// apply lock, before the snapshot a plan is made from.
    pub fn recover(&mut self) -> Result<Vec<String>, BackendError> {
        journal::recover(self)
    }
}

/// Mark the existing namespace NAME as owned by `owner` (`mvtopo adopt`): its marker records
/// the namespace's identity (see `netns::Identity`).
pub fn claim_namespace(name: &NsName, owner: &str) -> Result<(), BackendError> {
    netns::claim(name, owner)
        .map_err(|e| io_err("claim namespace", format!("namespace {name}"), &e))
}

impl Drop for Netlink {
    fn drop(&mut self) {
        journal::release();
    }
}

fn runtime() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
}

/// Open a connection into each namespace (sockets made on one helper thread), each driven
/// by a task on `rt`.
fn connect(rt: &Runtime, namespaces: Vec<NsFile>) -> Vec<io::Result<Conn>> {
    let files: Vec<&std::fs::File> = namespaces.iter().map(|n| &n.file).collect();
    let sockets = netns::sockets_in(&files);
    namespaces
        .into_iter()
        .zip(sockets)
        .map(|(ns, sock)| wrap(rt, ns, sock?))
        .collect()
}

/// A connection over `sock`, a netlink socket in namespace `ns`, driven by a task on `rt`.
fn wrap(rt: &Runtime, ns: NsFile, sock: OwnedFd) -> io::Result<Conn> {
    // AsyncFd registration needs the runtime's reactor: enter its context.
    let _guard = rt.enter();
    let ctl = sock.try_clone()?;
    let cookie = netns::socket_cookie(&sock)?;
    // SAFETY: the descriptor is a valid, owned, non-blocking netlink socket.
    // (`from_raw_fd` panics only if the reactor cannot register the fd, i.e. epoll
    // itself fails; netlink-sys offers no fallible constructor from an fd.)
    let sock = unsafe { netlink_sys::TokioSocket::from_raw_fd(sock.into_raw_fd()) };
    let (connection, handle, _) = rtnetlink::from_socket(sock);
    let task = rt.spawn(connection);
    Ok(Conn {
        ns,
        handle,
        ctl,
        cookie,
        used: 0,
        task,
    })
}

/// A non-blocking NETLINK_ROUTE socket in the calling thread's namespace.
fn socket_here() -> io::Result<OwnedFd> {
    let sock = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
    // Non-blocking before tokio's AsyncFd takes it over.
    sock.set_non_blocking(true)?;
    // Dump requests' headers are then filters the kernel applies (the route dump's
    // table and type); a kernel without it (before 4.20) ignores them, and the
    // snapshot filters the same again itself.
    let _ = sock.set_netlink_get_strict_chk(true);
    // SAFETY: `into_raw_fd` gives up ownership of a valid, open descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(sock.into_raw_fd()) })
}

/// Entering (or opening) a namespace was refused for lack of privilege.
fn denied(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

impl crate::apply::backend::Backend for Netlink {
    fn snapshot(&mut self) -> Result<LiveState, BackendError> {
        snapshot::snapshot(self)
    }

    fn request(&mut self, request: &Request, owner: &str) -> Result<(), BackendError> {
        self.epoch += 1;
        #[cfg(feature = "testing")]
        {
            let n = self.faults.made;
            self.faults.made += 1;
            if let Some((at, errno)) = self.faults.fail_at
                && at == n
            {
                return Err(injected(request, errno));
            }
        }
        exec::request(self, request, owner)
    }

    /// Batches of deletes in different namespaces go at once, on threads of their own
    /// (`delete_links_concurrently`); address adds are pipelined, all in flight on their
    /// namespaces' sockets (`exec::add_addresses`); namespaces are made a few at a time,
    /// each on a thread (`exec::create_namespaces`); anything else one at a time.
    fn request_many(
        &mut self,
        requests: &[Request],
        owner: &str,
        stop: &std::sync::atomic::AtomicI32,
    ) -> Vec<Result<(), BackendError>> {
        self.epoch += 1;
        let batches = requests
            .iter()
            .all(|r| matches!(r, Request::DeleteLinks { .. }));
        let addresses = requests
            .iter()
            .all(|r| matches!(r, Request::AddAddress { .. }));
        let namespaces = requests
            .iter()
            .all(|r| matches!(r, Request::CreateNamespace { .. }));
        if !batches && !addresses && !namespaces {
            return crate::apply::backend::one_at_a_time(self, requests, owner, stop);
        }
        // Test builds: the injected refusal is made instead of its request, as in `request`.
        #[cfg(feature = "testing")]
        let injected: Vec<Option<BackendError>> = requests
            .iter()
            .map(|r| {
                let n = self.faults.made;
                self.faults.made += 1;
                self.faults
                    .fail_at
                    .filter(|(at, _)| *at == n)
                    .map(|(_, errno)| injected(r, errno))
            })
            .collect();
        #[cfg(not(feature = "testing"))]
        let injected: Vec<Option<BackendError>> = vec![None; requests.len()];
        let made: Vec<&Request> = requests
            .iter()
            .zip(&injected)
            .filter(|(_, skip)| skip.is_none())
            .map(|(r, _)| r)
            .collect();
        let mut results = if batches {
            let mut places = Vec::with_capacity(made.len());
            for r in &made {
                exec::note_deleted(self, r);
                if let Request::DeleteLinks {
                    namespace, links, ..
                } = r
                {
                    places.push((namespace.as_ref(), links.as_slice()));
                }
            }
            self.delete_links_concurrently(&places)
        } else if namespaces {
            exec::create_namespaces(&made, owner)
        } else {
            exec::add_addresses(self, &made)
        }
        .into_iter();
        injected
            .into_iter()
            .map(|skip| match skip {
                Some(e) => Err(e),
                None => results.next().unwrap_or_else(|| {
                    Err(BackendError::new("request", "", None, "not carried out"))
                }),
            })
            .collect()
    }

    fn claim(&mut self, object: &Object, owner: &str) -> Result<(), BackendError> {
        match object {
            Object::Namespace { name } => netns::claim(name, owner)
                .map_err(|e| io_err("claim namespace", format!("namespace {name}"), &e)),
            Object::Veth { .. }
            | Object::Dummy { .. }
            | Object::Vlan { .. }
            | Object::Bridge { .. }
            | Object::Macvlan(_) => {
                let Some(at) = object.link() else {
                    return Err(not_claimable(object));
                };
                // Only the alias: the up state and everything else is left as found.
                let alias = Request::SetAlias {
                    at,
                    owner: Some(owner.to_owned()),
                };
                crate::apply::backend::Backend::request(self, &alias, owner)
            }
            Object::Nic { .. } | Object::Address { .. } | Object::Route { .. } => {
                Err(not_claimable(object))
            }
        }
    }
}

/// The refusal `fail_at` makes instead of a request.
#[cfg(feature = "testing")]
fn injected(request: &Request, errno: i32) -> BackendError {
    BackendError::new(
        request.op(),
        request.object(),
        Some(errno),
        format!("{} (injected)", errno_text(errno)),
    )
}

/// Existing NICs are used, never owned; addresses and routes belong to their link.
fn not_claimable(object: &Object) -> BackendError {
    BackendError::new(
        "claim",
        format!("{:?}", object.key()),
        Some(libc::EINVAL),
        format!("a {} is never owned", object.kind()),
    )
}

// ---------------------------------------------------------------------------------------
// Errors

/// A failed netlink request, keeping the kernel's errno.
pub(crate) fn nl_err(
    op: impl Into<Op>,
    object: impl fmt::Display,
    e: rtnetlink::Error,
) -> BackendError {
    match e {
        rtnetlink::Error::NetlinkError(m) if m.raw_code() != 0 => {
            let errno = m.raw_code().abs();
            BackendError::new(op, object.to_string(), Some(errno), errno_text(errno))
        }
        other => BackendError::new(op, object.to_string(), None, lower(&other.to_string())),
    }
}

pub(crate) fn io_err(op: impl Into<Op>, object: impl fmt::Display, e: &io::Error) -> BackendError {
    match e.raw_os_error() {
        Some(errno) => BackendError::new(op, object.to_string(), Some(errno), errno_text(errno)),
        None => BackendError::new(op, object.to_string(), None, lower(&e.to_string())),
    }
}

/// "File exists" → "file exists": messages are lowercase.
fn errno_text(errno: i32) -> String {
    lower(nix::errno::Errno::from_raw(errno).desc())
}

fn lower(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Requests shared by the snapshot and the steps

/// What a dump returned, and whether the kernel flagged it as inconsistent.
struct Dump {
    messages: Vec<RouteNetlinkMessage>,
    /// NLM_F_DUMP_INTR: the table changed while it was being dumped (the kernel's sequence
    /// counter moved), so the result may miss or duplicate entries and must be read again.
    interrupted: bool,
}

async fn dump(handle: &mut Handle, request: RouteNetlinkMessage) -> Result<Dump, rtnetlink::Error> {
    let mut req = NetlinkMessage::from(request);
    req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut response = handle.request(req)?;
    let mut out = Dump {
        messages: Vec::new(),
        interrupted: false,
    };
    while let Some(msg) = response.next().await {
        if msg.header.flags & NLM_F_DUMP_INTR != 0 {
            out.interrupted = true;
        }
        match msg.payload {
            NetlinkPayload::InnerMessage(m) => out.messages.push(m),
            // Some kernel paths end an inconsistent dump with EINTR instead of the flag.
            NetlinkPayload::Error(e) if e.raw_code() == -libc::EINTR => out.interrupted = true,
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(rtnetlink::Error::NetlinkError(e));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A dump of every link of a namespace without their statistics (RTEXT_FILTER_SKIP_STATS:
/// the kernel leaves out IFLA_STATS, IFLA_STATS64 and the per-link IPv6 counters, most of
/// each message and of the time it takes to build and parse it; nothing here reads them).
fn links_request() -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::ExtMask(vec![
        netlink_packet_route::link::LinkExtentMask::SkipStats,
    ]));
    RouteNetlinkMessage::GetLink(m)
}

/// Send one request that expects an ACK and nothing else useful.
async fn ack(
    handle: &mut Handle,
    request: RouteNetlinkMessage,
    flags: u16,
) -> Result<(), rtnetlink::Error> {
    let mut req = NetlinkMessage::from(request);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    let mut response = handle.request(req)?;
    while let Some(msg) = response.next().await {
        if let NetlinkPayload::Error(e) = msg.payload
            && e.code.is_some()
        {
            return Err(rtnetlink::Error::NetlinkError(e));
        }
    }
    Ok(())
}

/// The ifindex of the link called `name` in the namespace of socket `ctl` (ENODEV when
/// missing). SIOCGIFINDEX, what `if_nametoindex` does, answered by the namespace the socket
/// lives in: one syscall, ~1 µs, where an RTM_GETLINK round trip that returns the whole link
/// with its statistics costs ~20 µs, and every macvlan, address and route step needs one.
fn ifindex(ctl: &OwnedFd, name: &str) -> io::Result<u32> {
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: `ctl` is an open socket and `req` a valid ifreq with a NUL-terminated name.
    let r = unsafe { libc::ioctl(ctl.as_raw_fd(), libc::SIOCGIFINDEX, &mut req) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFINDEX filled in the ifindex member of the union.
    let index = unsafe { req.ifr_ifru.ifru_ifindex };
    u32::try_from(index).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))
}

/// A link addressed by name (ifindex 0 + IFLA_IFNAME): the kernel looks it up itself, so a
/// step never needs an ifindex that might have changed.
fn by_name(name: &str) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    m
}

/// One netlink attribute re-read as another type with the same wire format (the crate has
/// one type per link kind for macvlan's and macvtap's identical attributes).
fn recode<A, B>(a: &A) -> Result<B, netlink_packet_core::DecodeError>
where
    A: netlink_packet_core::Emitable,
    B: for<'b> netlink_packet_core::Parseable<netlink_packet_core::NlaBuffer<&'b [u8]>>,
{
    let mut buf = vec![0u8; a.buffer_len()];
    a.emit(&mut buf);
    B::parse(&netlink_packet_core::NlaBuffer::new(&buf[..]))
}
