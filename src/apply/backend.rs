//! The one seam between the pure pipeline and the kernel: a snapshot, and kernel requests
//! (one at a time, or several independent ones at once).
//!
//! `kernel::Netlink` implements it with rtnetlink; `fake::FakeBackend` (test builds only)
//! implements it over a `LiveState` in memory with the kernel's rules, records every
//! request and can refuse any of them, which is what makes rollback and fault tests cheap
//! and exact.

use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

use super::{Request, lower};
use crate::code::Code;
use crate::live::LiveState;
use crate::plan::{Object, Step};

pub trait Backend {
    /// Read everything the diff needs: named namespaces, and the links (with addresses and
    /// routes) of the tool's own namespace and of every named namespace.
    fn snapshot(&mut self) -> Result<LiveState, BackendError>;

    /// Make one kernel request. `owner` is the topology name a claim writes into the alias.
    /// The kernel accepts or refuses a request as a whole; undoing accepted ones is
    /// `apply`'s business, not the backend's.
    fn request(&mut self, request: &Request, owner: &str) -> Result<(), BackendError>;

    /// Make several requests that do not depend on each other (`apply::independent`),
    /// possibly all in flight at once. Returns the outcome of each request made, in the
    /// order given: one at a time (this default) it stops after the first refusal, and
    /// before the next request once `stop` is set (an interrupt), so the requests after
    /// have no outcome; a backend that makes them at once has one for each. Either way,
    /// exactly the `Ok` ones were accepted.
    fn request_many(
        &mut self,
        requests: &[Request],
        owner: &str,
        stop: &AtomicI32,
    ) -> Vec<Result<(), BackendError>> {
        one_at_a_time(self, requests, owner, stop)
    }

    /// Carry out one plan step outside `apply::run` (tests, benchmarks): its requests in
    /// order, stopping at the first refusal, and undoing nothing. Creates and deletes lower
    /// without looking at the state; other steps read a snapshot first.
    fn execute(&mut self, step: &Step, owner: &str) -> Result<(), BackendError> {
        let live = match step {
            Step::Create { .. } | Step::Delete { .. } => LiveState::default(),
            _ => self.snapshot()?,
        };
        for r in lower(step, &live)? {
            self.request(&r, owner)?;
        }
        Ok(())
    }

    /// Mark an existing object as owned by `owner` (`mvtopo adopt`), changing nothing else:
    /// a link gets the alias `mvtopo:OWNER`, a namespace a marker. Existing NICs, addresses
    /// and routes are never owned: EINVAL.
    fn claim(&mut self, object: &Object, owner: &str) -> Result<(), BackendError>;
}

/// The operation of one kernel request (`apply::Request::op`), as the user reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestOp {
    CreateNamespace,
    DeleteNamespace,
    CreateMacvlan,
    CreateMacvtap,
    CreateVeth,
    CreateDummy,
    CreateVlan,
    CreateBridge,
    SetOwner,
    DeleteLink,
    DeleteLinks,
    SetMtu,
    SetMac,
    SetUp,
    SetDown,
    SetMode,
    SetSourceMacs,
    SetFlags,
    SetBcQueueLen,
    SetBcCutoff,
    SetMaster,
    ReleaseFromBridge,
    SetAlias,
    AddAddress,
    DeleteAddress,
    AddRoute,
    DeleteRoute,
}

impl RequestOp {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOp::CreateNamespace => "create namespace",
            RequestOp::DeleteNamespace => "delete namespace",
            RequestOp::CreateMacvlan => "create macvlan",
            RequestOp::CreateMacvtap => "create macvtap",
            RequestOp::CreateVeth => "create veth",
            RequestOp::CreateDummy => "create dummy",
            RequestOp::CreateVlan => "create vlan",
            RequestOp::CreateBridge => "create bridge",
            RequestOp::SetOwner => "set owner",
            RequestOp::DeleteLink => "delete link",
            RequestOp::DeleteLinks => "delete links",
            RequestOp::SetMtu => "set mtu",
            RequestOp::SetMac => "set mac",
            RequestOp::SetUp => "set up",
            RequestOp::SetDown => "set down",
            RequestOp::SetMode => "set mode",
            RequestOp::SetSourceMacs => "set source macs",
            RequestOp::SetFlags => "set flags",
            RequestOp::SetBcQueueLen => "set bcqueuelen",
            RequestOp::SetBcCutoff => "set bc-cutoff",
            RequestOp::SetMaster => "set master",
            RequestOp::ReleaseFromBridge => "release from bridge",
            RequestOp::SetAlias => "set alias",
            RequestOp::AddAddress => "add address",
            RequestOp::DeleteAddress => "delete address",
            RequestOp::AddRoute => "add route",
            RequestOp::DeleteRoute => "delete route",
        }
    }

    /// A create, whose every value (MTU, mode, MAC) the kernel may refuse.
    pub fn creates(self) -> bool {
        matches!(
            self,
            RequestOp::CreateNamespace
                | RequestOp::CreateMacvlan
                | RequestOp::CreateMacvtap
                | RequestOp::CreateBridge
                | RequestOp::CreateVeth
                | RequestOp::CreateDummy
                | RequestOp::CreateVlan
        )
    }
}

impl fmt::Display for RequestOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a failed kernel operation was: one request, or reading and bookkeeping around
/// them ("dump links", "open namespace", "read the journal"), named as the user reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Request(RequestOp),
    Other(String),
}

impl From<RequestOp> for Op {
    fn from(op: RequestOp) -> Op {
        Op::Request(op)
    }
}

impl From<&str> for Op {
    fn from(op: &str) -> Op {
        Op::Other(op.to_owned())
    }
}

impl From<String> for Op {
    fn from(op: String) -> Op {
        Op::Other(op)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Request(r) => f.write_str(r.as_str()),
            Op::Other(s) => f.write_str(s),
        }
    }
}

/// Compares with the operation as printed (`e.op == "create macvlan"`).
impl PartialEq<&str> for Op {
    fn eq(&self, other: &&str) -> bool {
        match self {
            Op::Request(r) => r.as_str() == *other,
            Op::Other(s) => s == other,
        }
    }
}

/// `requests` made one after the other through `backend.request`, up to the first refusal
/// or until `stop` is set (what `Backend::request_many` does unless a backend can do
/// better).
pub fn one_at_a_time<B: Backend + ?Sized>(
    backend: &mut B,
    requests: &[Request],
    owner: &str,
    stop: &AtomicI32,
) -> Vec<Result<(), BackendError>> {
    let mut out = Vec::with_capacity(requests.len());
    for r in requests {
        if !out.is_empty() && stop.load(Ordering::SeqCst) != 0 {
            break;
        }
        let result = backend.request(r, owner);
        let refused = result.is_err();
        out.push(result);
        if refused {
            break;
        }
    }
    out
}

/// A kernel operation that failed: which operation, on what, and the errno.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} {object}: {message}")]
pub struct BackendError {
    /// What was attempted: a request, or the read or bookkeeping around it.
    pub op: Op,
    /// The object, as the user names it: "red/eth0", "namespace red".
    pub object: String,
    /// The kernel's errno, when the kernel said no.
    pub errno: Option<i32>,
    /// The error as the kernel (or the OS) worded it.
    pub message: String,
}

impl BackendError {
    pub fn new(
        op: impl Into<Op>,
        object: impl Into<String>,
        errno: Option<i32>,
        message: impl Into<String>,
    ) -> Self {
        BackendError {
            op: op.into(),
            object: object.into(),
            errno,
            message: message.into(),
        }
    }

    /// What the user can do about it, keyed on the errno and the operation.
    pub fn hint(&self) -> Option<String> {
        let errno = self.errno?;
        let request = match &self.op {
            Op::Request(r) => Some(*r),
            Op::Other(_) => None,
        };
        Some(match errno {
            libc::EEXIST => format!("{} already exists: something else created it after the plan was made; run `mvtopo plan` again", self.object),
            // Measured on kernel 6.18: EBUSY is a parent that already hands its frames to
            // something else (a bridge, bond or team port); passthru conflicts are EINVAL and
            // a sibling's MAC is EADDRINUSE.
            libc::EBUSY => "the parent is busy: it is a port of a bridge, bond or team; put the macvlans on the bridge (or bond) itself, or on another NIC".to_owned(),
            libc::EADDRINUSE => "another macvlan on the same parent already has that MAC (another topology, Docker, libvirt?): pick another MAC, or none and let the kernel choose".to_owned(),
            libc::EPERM | libc::EACCES => "permission denied: run as root (CAP_NET_ADMIN and CAP_SYS_ADMIN are needed)".to_owned(),
            libc::EOPNOTSUPP => "the kernel does not support this: is the module (macvlan, veth, dummy, 8021q) available?".to_owned(),
            libc::ENODEV => "no such device: the parent interface does not exist (in the namespace mvtopo runs in)".to_owned(),
            libc::EINVAL if request.is_some_and(|r| r == RequestOp::SetMtu || r.creates()) => "the kernel rejected a value: a macvlan's MTU cannot be above its parent's, and a passthru macvlan must be its parent's only one".to_owned(),
            libc::EADDRNOTAVAIL => "the address is not there (it was removed by hand?)".to_owned(),
            libc::ENETUNREACH | libc::EHOSTUNREACH => "the route's gateway is not reachable through the link's addresses (removed meanwhile, or the link is down?)".to_owned(),
            libc::ENOENT => "it no longer exists: something removed it after the plan was made".to_owned(),
            _ => return None,
        })
    }
}

/// A kernel error as a diagnostic: `mvtopo::kernel::failed`, with the hint as its help.
impl miette::Diagnostic for BackendError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(Code::KernelFailed))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.hint()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_einval_hint_is_keyed_on_the_request() {
        let einval =
            |op: Op| BackendError::new(op, "red/eth0", Some(libc::EINVAL), "invalid argument");
        assert!(einval(RequestOp::SetMtu.into()).hint().is_some());
        assert!(einval(RequestOp::CreateMacvlan.into()).hint().is_some());
        assert!(einval(RequestOp::SetMac.into()).hint().is_none());
        // Not a request, whatever its words say.
        assert!(
            einval("record the create in the journal".into())
                .hint()
                .is_none()
        );
        let e = einval(RequestOp::CreateMacvlan.into());
        assert_eq!(e.op, "create macvlan");
        let d: &dyn miette::Diagnostic = &e;
        assert_eq!(
            d.code().map(|c| c.to_string()).as_deref(),
            Some("mvtopo::kernel::failed")
        );
        assert_eq!(d.help().map(|h| h.to_string()), e.hint());
        assert_eq!(e.to_string(), "create macvlan red/eth0: invalid argument");
    }
}
