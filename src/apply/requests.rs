//! The unit of undo: one kernel request (`Request`), and the lowering of a plan step into
//! the requests the kernel carries it out with, in order (batching them is `apply::batch`).
//!
//! Lowering is pure: it looks only at the step and at the state the earlier requests of the
//! run left behind (`apply::state`), so the fake kernel and the real one receive exactly the
//! same requests, and either can refuse any of them.

use std::fmt;

use super::backend::{BackendError, RequestOp};
use crate::live::{LinkKind, LinkRef, LiveState};
use crate::model::Route;
use crate::names::{Cidr, LinkName, MacAddr, MacvlanFlag, MacvlanKind, Mode, NsName};
use crate::plan::{Change, MacvlanLink, Object, Step};

/// One request to the kernel: one rtnetlink message (or, for a namespace, one mount or
/// unmount). Each is accepted or refused as a whole, which is what undo relies on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `ip netns add`, plus the ownership marker.
    CreateNamespace {
        name: NsName,
    },
    DeleteNamespace {
        name: NsName,
    },
    /// RTM_NEWLINK with CREATE|EXCL: the link comes up down and without an alias.
    CreateLink(NewLink),
    /// Mark a link as owned (alias `mvtopo:OWNER`) and bring it up when `up`, in one
    /// RTM_SETLINK. The second half of every create: the kernel ignores an alias in a create.
    /// The one request that can be half-done: do_setlink sets the alias before it brings the
    /// link up, and a refused up (EADDRINUSE) leaves the alias. Harmless: a claim always
    /// follows the create of its link, and undoing that create deletes the link.
    Claim {
        at: LinkRef,
        up: bool,
    },
    /// RTM_DELLINK; the kernel takes along the link's addresses and routes, and `takes`:
    /// the links stacked on it and the other end of a veth (as the state before says; the
    /// backend notes their ifindexes too, for undo).
    DeleteLink {
        at: LinkRef,
        takes: Vec<LinkRef>,
    },
    /// Several links of one namespace deleted in one kernel batch: what consecutive
    /// `DeleteLink`s of one namespace lower into (`batch_deletes`). Each RTM_DELLINK of one
    /// link waits for an RCU grace period (~16 ms here); the backend moves these links into
    /// a link group of their own (RTM_SETLINK with IFLA_GROUP, cheap) and deletes the group
    /// with one RTM_DELLINK, one grace period for all (`kernel::batch`). Accepted or refused
    /// as a whole: on a refusal the links moved get their old group back and nothing is
    /// deleted. Its effect is each link's delete, in order; `takes` is what those take
    /// along (as for `DeleteLink`).
    DeleteLinks {
        namespace: Option<NsName>,
        links: Vec<LinkName>,
        takes: Vec<LinkRef>,
    },
    SetMtu {
        at: LinkRef,
        mtu: u32,
    },
    SetMac {
        at: LinkRef,
        mac: MacAddr,
    },
    SetUp {
        at: LinkRef,
        up: bool,
    },
    /// Mode and/or source list of a macvlan, in one request carrying IFLA_INFO_KIND (so the
    /// kernel calls macvlan_changelink; it sets the mode before it reads the list).
    SetMacvlan {
        at: LinkRef,
        /// The link's driver, which the request names (IFLA_INFO_KIND): the kernel refuses
        /// a change naming another kind than the link's with EOPNOTSUPP.
        kind: MacvlanKind,
        mode: Option<Mode>,
        source_macs: Option<Vec<MacAddr>>,
    },
    /// One more attribute of the macvlan driver (flags, broadcast queue), in a request of
    /// its own, carrying IFLA_INFO_KIND like `SetMacvlan`. macvlan_changelink sets what it
    /// is given one attribute after the other and can fail between them (a flags change
    /// adjusts the parent's promiscuity first), so one attribute per request keeps each
    /// request whole.
    SetMacvlanAttr {
        at: LinkRef,
        kind: MacvlanKind,
        attr: MacvlanAttr,
    },
    /// Enslave `at` to the bridge `master` in its namespace (`None`: release it), one
    /// RTM_SETLINK with IFLA_MASTER.
    SetMaster {
        at: LinkRef,
        master: Option<LinkName>,
    },
    /// Set (`Some`) or clear (`None`) the owner alias; undo uses it to give a link back
    /// the alias it had.
    SetAlias {
        at: LinkRef,
        owner: Option<String>,
    },
    AddAddress {
        at: LinkRef,
        address: Cidr,
    },
    DeleteAddress {
        at: LinkRef,
        address: Cidr,
    },
    AddRoute {
        at: LinkRef,
        route: Route,
    },
    DeleteRoute {
        at: LinkRef,
        route: Route,
    },
}

/// A macvlan driver attribute set by `Request::SetMacvlanAttr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MacvlanAttr {
    /// IFLA_MACVLAN_FLAGS, all bits at once.
    Flags(Vec<MacvlanFlag>),
    /// IFLA_MACVLAN_BC_QUEUE_LEN.
    BcQueueLen(u32),
    /// IFLA_MACVLAN_BC_CUTOFF: the parent's, for every macvlan on it.
    BcCutoff(i32),
}

/// A link to create, with everything a create can carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLink {
    pub at: LinkRef,
    pub kind: NewKind,
    /// `None`: the kernel picks one (a passthru macvlan takes its parent's).
    pub mac: Option<MacAddr>,
    /// `None`: the kernel's default (a macvlan's or vlan's parent's, 1500 for a veth).
    pub mtu: Option<u32>,
    /// Undo makes the link again as it was: the backend gives it back the ifindex it had
    /// when this backend deleted it (RTM_NEWLINK with ifi_index), where the kernel allows.
    pub restore: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewKind {
    /// On `parent` (wherever it lives: the request goes through its namespace's socket);
    /// the link itself goes straight into `at.namespace`.
    Macvlan {
        parent: LinkRef,
        mode: Mode,
        source_macs: Vec<MacAddr>,
        /// Macvlan or macvtap (IFLA_INFO_KIND).
        kind: MacvlanKind,
        flags: Vec<MacvlanFlag>,
        /// `None`: the kernel's default.
        bcqueuelen: Option<u32>,
        /// `None`: the parent's stays as it is.
        bc_cutoff: Option<i32>,
    },
    /// Both ends in one request; the peer goes straight into its namespace.
    Veth {
        peer: LinkRef,
        peer_mac: Option<MacAddr>,
        peer_mtu: Option<u32>,
    },
    Dummy,
    /// On `link`, in the vlan's own namespace.
    Vlan {
        link: LinkName,
        vlan_id: u16,
    },
    Bridge,
}

impl NewKind {
    pub fn kind(&self) -> LinkKind {
        match self {
            NewKind::Macvlan { kind, .. } => LinkKind::from(*kind),
            NewKind::Veth { .. } => LinkKind::Veth,
            NewKind::Dummy => LinkKind::Dummy,
            NewKind::Vlan { .. } => LinkKind::Vlan,
            NewKind::Bridge => LinkKind::Bridge,
        }
    }
}

impl Request {
    /// The link the request is about (`None` for a namespace).
    pub fn link(&self) -> Option<&LinkRef> {
        match self {
            Request::CreateNamespace { .. }
            | Request::DeleteNamespace { .. }
            | Request::DeleteLinks { .. } => None,
            Request::CreateLink(n) => Some(&n.at),
            Request::Claim { at, .. }
            | Request::DeleteLink { at, .. }
            | Request::SetMtu { at, .. }
            | Request::SetMac { at, .. }
            | Request::SetUp { at, .. }
            | Request::SetMacvlan { at, .. }
            | Request::SetMacvlanAttr { at, .. }
            | Request::SetMaster { at, .. }
            | Request::SetAlias { at, .. }
            | Request::AddAddress { at, .. }
            | Request::DeleteAddress { at, .. }
            | Request::AddRoute { at, .. }
            | Request::DeleteRoute { at, .. } => Some(at),
        }
    }

    /// What the request does, lowercase, as error messages name the operation.
    pub fn op(&self) -> RequestOp {
        match self {
            Request::CreateNamespace { .. } => RequestOp::CreateNamespace,
            Request::DeleteNamespace { .. } => RequestOp::DeleteNamespace,
            Request::CreateLink(n) => match n.kind {
                NewKind::Macvlan {
                    kind: MacvlanKind::Macvlan,
                    ..
                } => RequestOp::CreateMacvlan,
                NewKind::Macvlan {
                    kind: MacvlanKind::Macvtap,
                    ..
                } => RequestOp::CreateMacvtap,
                NewKind::Veth { .. } => RequestOp::CreateVeth,
                NewKind::Dummy => RequestOp::CreateDummy,
                NewKind::Vlan { .. } => RequestOp::CreateVlan,
                NewKind::Bridge => RequestOp::CreateBridge,
            },
            Request::Claim { .. } => RequestOp::SetOwner,
            Request::DeleteLink { .. } => RequestOp::DeleteLink,
            Request::DeleteLinks { .. } => RequestOp::DeleteLinks,
            Request::SetMtu { .. } => RequestOp::SetMtu,
            Request::SetMac { .. } => RequestOp::SetMac,
            Request::SetUp { up: true, .. } => RequestOp::SetUp,
            Request::SetUp { up: false, .. } => RequestOp::SetDown,
            Request::SetMacvlan { mode: Some(_), .. } => RequestOp::SetMode,
            Request::SetMacvlan { .. } => RequestOp::SetSourceMacs,
            Request::SetMacvlanAttr { attr, .. } => match attr {
                MacvlanAttr::Flags(_) => RequestOp::SetFlags,
                MacvlanAttr::BcQueueLen(_) => RequestOp::SetBcQueueLen,
                MacvlanAttr::BcCutoff(_) => RequestOp::SetBcCutoff,
            },
            Request::SetMaster {
                master: Some(_), ..
            } => RequestOp::SetMaster,
            Request::SetMaster { master: None, .. } => RequestOp::ReleaseFromBridge,
            Request::SetAlias { .. } => RequestOp::SetAlias,
            Request::AddAddress { .. } => RequestOp::AddAddress,
            Request::DeleteAddress { .. } => RequestOp::DeleteAddress,
            Request::AddRoute { .. } => RequestOp::AddRoute,
            Request::DeleteRoute { .. } => RequestOp::DeleteRoute,
        }
    }

    /// The object, as the user names it: "red/eth0", "namespace red", "10.0.0.2/24 on red/eth0".
    pub fn object(&self) -> String {
        match self {
            // The op already says "namespace": "delete namespace red".
            Request::CreateNamespace { name } | Request::DeleteNamespace { name } => {
                name.to_string()
            }
            Request::AddAddress { at, address } | Request::DeleteAddress { at, address } => {
                format!("{address} on {at}")
            }
            Request::AddRoute { at, route } | Request::DeleteRoute { at, route } => {
                route.name_on(at)
            }
            // "red/mv0, red/mv1, red/mv2 and 17 more".
            Request::DeleteLinks {
                namespace, links, ..
            } => {
                let named: Vec<String> = links
                    .iter()
                    .take(3)
                    .map(|l| LinkRef::new(namespace.clone(), l.clone()).to_string())
                    .collect();
                let mut s = named.join(", ");
                if links.len() > named.len() {
                    s.push_str(&format!(" and {} more", links.len() - named.len()));
                }
                s
            }
            other => other.link().map(ToString::to_string).unwrap_or_default(),
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op(), self.object())?;
        match self {
            Request::SetMtu { mtu, .. } => write!(f, " {mtu}"),
            Request::SetMac { mac, .. } => write!(f, " {mac}"),
            Request::SetMacvlan {
                mode, source_macs, ..
            } => {
                if let Some(m) = mode {
                    write!(f, " {m}")?;
                }
                if let Some(list) = source_macs {
                    let l: Vec<String> = list.iter().map(ToString::to_string).collect();
                    write!(f, " [{}]", l.join(", "))?;
                }
                Ok(())
            }
            Request::SetMacvlanAttr { attr, .. } => match attr {
                MacvlanAttr::Flags(flags) => {
                    let l: Vec<&str> = flags.iter().map(MacvlanFlag::as_str).collect();
                    write!(f, " [{}]", l.join(", "))
                }
                MacvlanAttr::BcQueueLen(n) => write!(f, " {n}"),
                MacvlanAttr::BcCutoff(n) => write!(f, " {n}"),
            },
            Request::SetMaster {
                master: Some(m), ..
            } => write!(f, " {m}"),
            Request::SetAlias { owner, .. } => match owner {
                Some(o) => write!(f, " mvtopo:{o}"),
                None => write!(f, " (none)"),
            },
            Request::CreateLink(n) => {
                if let Some(m) = n.mac {
                    write!(f, " mac {m}")?;
                }
                if let Some(m) = n.mtu {
                    write!(f, " mtu {m}")?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn host(name: &LinkName) -> LinkRef {
    LinkRef {
        namespace: None,
        name: name.clone(),
    }
}

fn refused(step: &Step, object: &Object, message: &str) -> BackendError {
    BackendError::new(
        format!("{} {}", step.action(), object.kind()),
        object
            .link()
            .map_or_else(|| format!("{:?}", object.key()), |l| l.to_string()),
        Some(libc::EOPNOTSUPP),
        message,
    )
}

/// The requests that carry out `step`, in order, given the state the run has reached
/// (`state`: the live snapshot with every earlier accepted request applied).
///
/// A step the kernel has no request for (creating or deleting an existing NIC, updating
/// something that is not a link) is refused here, before any request is made.
pub fn lower(step: &Step, state: &LiveState) -> Result<Vec<Request>, BackendError> {
    let mut out = Vec::new();
    match step {
        Step::Create { object } => create(step, object, &mut out)?,
        Step::Delete { object } => delete(step, object, state, &mut out)?,
        Step::Update { object, changes } => update(step, object, changes, state, &mut out)?,
        Step::Replace { from, to, .. } => {
            match from.link().filter(|_| from.is_link()) {
                // The old link may already be gone: a replaced (or deleted) parent takes
                // its macvlans along, and a deleted namespace its links.
                Some(at) => {
                    if matches!(from, Object::Nic { .. }) {
                        return Err(refused(
                            step,
                            from,
                            "an existing interface is never deleted",
                        ));
                    }
                    if state.link(at.namespace.as_ref(), &at.name).is_some() {
                        out.push(delete_link(at, state));
                    }
                }
                None => delete(step, from, state, &mut out)?,
            }
            create(step, to, &mut out)?;
        }
    }
    Ok(out)
}

fn create(step: &Step, object: &Object, out: &mut Vec<Request>) -> Result<(), BackendError> {
    match object {
        Object::Namespace { name } => out.push(Request::CreateNamespace { name: name.clone() }),
        Object::Nic { .. } => {
            return Err(refused(
                step,
                object,
                "an existing interface is used as it is, never created",
            ));
        }
        Object::Veth {
            namespace,
            name,
            peer,
            peer_namespace,
            mtu,
            mac,
            peer_mac,
        } => {
            let peer = LinkRef {
                namespace: peer_namespace.clone(),
                name: peer.clone(),
            };
            create_veth(at(namespace, name), peer, *mac, *peer_mac, *mtu, out);
        }
        Object::Dummy {
            namespace,
            name,
            mtu,
            mac,
        } => lab_parent(at(namespace, name), NewKind::Dummy, *mac, *mtu, out),
        Object::Vlan {
            namespace,
            name,
            link,
            vlan_id,
            mtu,
            mac,
        } => {
            let kind = NewKind::Vlan {
                link: link.clone(),
                vlan_id: *vlan_id,
            };
            lab_parent(at(namespace, name), kind, *mac, *mtu, out);
        }
        Object::Bridge {
            namespace,
            name,
            ports,
            mtu,
            mac,
        } => {
            lab_parent(at(namespace, name), NewKind::Bridge, *mac, *mtu, out);
            set_ports(name, &[], ports, out);
        }
        Object::Macvlan(m) => create_macvlan(m, out),
        Object::Address {
            namespace,
            link,
            address,
        } => out.push(Request::AddAddress {
            at: LinkRef::new(namespace.clone(), link.clone()),
            address: *address,
        }),
        Object::Route {
            namespace,
            link,
            to,
            via,
            metric,
        } => out.push(Request::AddRoute {
            at: LinkRef::new(namespace.clone(), link.clone()),
            route: Route::new(*to, *via, *metric),
        }),
    }
    Ok(())
}

fn at(namespace: &Option<NsName>, name: &LinkName) -> LinkRef {
    LinkRef::new(namespace.clone(), name.clone())
}

/// Create a veth pair at `at` with its `peer` end, then claim the peer and bring it up.
fn create_veth(
    at: LinkRef,
    peer: LinkRef,
    mac: Option<MacAddr>,
    peer_mac: Option<MacAddr>,
    mtu: Option<u32>,
    out: &mut Vec<Request>,
) {
    let kind = NewKind::Veth {
        peer: peer.clone(),
        peer_mac,
        peer_mtu: mtu,
    };
    lab_parent(at, kind, mac, mtu, out);
    out.push(Request::Claim { at: peer, up: true });
}

/// Create the macvlan `m` (its source list only in source mode), then claim it.
fn create_macvlan(m: &MacvlanLink, out: &mut Vec<Request>) {
    let at = LinkRef {
        namespace: m.namespace.clone(),
        name: m.name.clone(),
    };
    out.push(Request::CreateLink(NewLink {
        at: at.clone(),
        kind: NewKind::Macvlan {
            parent: m.parent_at(),
            mode: m.mode,
            source_macs: if m.mode == Mode::Source {
                m.source_macs.clone()
            } else {
                Vec::new()
            },
            kind: m.link_kind,
            flags: m.flags.clone(),
            bcqueuelen: m.bcqueuelen,
            bc_cutoff: m.bc_cutoff,
        },
        mac: m.mac,
        mtu: m.mtu,
        restore: false,
    }));
    out.push(Request::Claim { at, up: m.up });
}

/// Create a lab parent where it lives, then claim it and bring it up.
fn lab_parent(
    at: LinkRef,
    kind: NewKind,
    mac: Option<MacAddr>,
    mtu: Option<u32>,
    out: &mut Vec<Request>,
) {
    out.push(Request::CreateLink(NewLink {
        at: at.clone(),
        kind,
        mac,
        mtu,
        restore: false,
    }));
    out.push(Request::Claim { at, up: true });
}

/// A link delete, with what the kernel takes along according to `state`.
pub fn delete_link(at: LinkRef, state: &LiveState) -> Request {
    let takes = super::state::carried(state, &at);
    Request::DeleteLink { at, takes }
}

fn delete(
    step: &Step,
    object: &Object,
    state: &LiveState,
    out: &mut Vec<Request>,
) -> Result<(), BackendError> {
    match object {
        Object::Namespace { name } => out.push(Request::DeleteNamespace { name: name.clone() }),
        Object::Nic { .. } => {
            return Err(refused(
                step,
                object,
                "an existing interface is never deleted",
            ));
        }
        Object::Address {
            namespace,
            link,
            address,
        } => out.push(Request::DeleteAddress {
            at: LinkRef::new(namespace.clone(), link.clone()),
            address: *address,
        }),
        Object::Route {
            namespace,
            link,
            to,
            via,
            metric,
        } => out.push(Request::DeleteRoute {
            at: LinkRef::new(namespace.clone(), link.clone()),
            route: Route::new(*to, *via, *metric),
        }),
        link => {
            if let Some(at) = link.link() {
                out.push(delete_link(at, state));
            }
        }
    }
    Ok(())
}

fn update(
    step: &Step,
    object: &Object,
    changes: &[Change],
    state: &LiveState,
    out: &mut Vec<Request>,
) -> Result<(), BackendError> {
    let Some(at) = object.link().filter(|_| object.is_link()) else {
        return Err(refused(
            step,
            object,
            "this object has nothing to change in place",
        ));
    };
    let kind = match object {
        Object::Macvlan(m) => m.link_kind,
        _ => MacvlanKind::Macvlan,
    };
    set_mode_and_macs(&at, object, changes, kind, out);
    for c in changes {
        change(c, &at, object, kind, state, out);
    }
    Ok(())
}

/// The one `SetMacvlan` request for the mode and source list among `changes`, if any.
fn set_mode_and_macs(
    at: &LinkRef,
    object: &Object,
    changes: &[Change],
    kind: MacvlanKind,
    out: &mut Vec<Request>,
) {
    // Mode and source list go in one request (see `Request::SetMacvlan`).
    let mode = changes.iter().find_map(|c| match c {
        Change::Mode { to, .. } => Some(*to),
        _ => None,
    });
    let macs = changes.iter().find_map(|c| match c {
        Change::SourceMacs { to, .. } => Some(to),
        _ => None,
    });
    // Leaving source mode makes the kernel flush the list itself, and any list request on
    // a macvlan that is not (or no longer) in source mode is EINVAL: the list goes along
    // only when the link ends up in source mode.
    let ends_source = match (mode, object) {
        (Some(m), _) => m == Mode::Source,
        (None, Object::Macvlan(m)) => m.mode == Mode::Source,
        (None, _) => true,
    };
    let macs = macs.filter(|_| ends_source).cloned();
    if mode.is_some() || macs.is_some() {
        out.push(Request::SetMacvlan {
            at: at.clone(),
            kind,
            mode,
            source_macs: macs,
        });
    }
}

/// The requests for one change `c` of the link `at` other than mode and source list.
fn change(
    c: &Change,
    at: &LinkRef,
    object: &Object,
    kind: MacvlanKind,
    state: &LiveState,
    out: &mut Vec<Request>,
) {
    match c {
        Change::Mtu { to, .. } => {
            out.push(Request::SetMtu {
                at: at.clone(),
                mtu: *to,
            });
            // The kernel keeps one MTU per end (checked on 6.18: setting one end
            // leaves the other as it was); the file gives one for the pair.
            if let Object::Veth {
                peer,
                peer_namespace,
                ..
            } = object
            {
                out.push(Request::SetMtu {
                    at: LinkRef {
                        namespace: peer_namespace.clone(),
                        name: peer.clone(),
                    },
                    mtu: *to,
                });
            }
        }
        Change::Mac { to, .. } => out.push(Request::SetMac {
            at: at.clone(),
            mac: *to,
        }),
        Change::Up { to, .. } => {
            out.push(Request::SetUp {
                at: at.clone(),
                up: *to,
            });
            // The kernel drops a link's IPv6 addresses when it goes down (sysctl
            // net.ipv6.conf.*.keep_addr_on_down, 0 by default) while IPv4 ones stay. A
            // down macvlan may carry addresses (one created down keeps those added to
            // it), so its IPv6 addresses are added back.
            if !*to
                && matches!(object, Object::Macvlan(_))
                && let Some(l) = state.link(at.namespace.as_ref(), &at.name)
            {
                for a in l.addresses.iter().filter(|a| a.addr().is_ipv6()) {
                    out.push(Request::AddAddress {
                        at: at.clone(),
                        address: *a,
                    });
                }
            }
        }
        Change::Flags { to, .. } => out.push(Request::SetMacvlanAttr {
            at: at.clone(),
            kind,
            attr: MacvlanAttr::Flags(to.clone()),
        }),
        Change::Bcqueuelen { to, .. } => out.push(Request::SetMacvlanAttr {
            at: at.clone(),
            kind,
            attr: MacvlanAttr::BcQueueLen(*to),
        }),
        Change::BcCutoff { to, .. } => out.push(Request::SetMacvlanAttr {
            at: at.clone(),
            kind,
            attr: MacvlanAttr::BcCutoff(*to),
        }),
        Change::Ports { from, to } => set_ports(&at.name, from, to, out),
        Change::Mode { .. } | Change::SourceMacs { .. } => {}
    }
}

/// Release the ports of `bridge` that are in `from` and not in `to`, then enslave those
/// new in `to` (a port moved from another bridge is enslaved directly: the kernel releases
/// it from the old one in the same request).
fn set_ports(bridge: &LinkName, from: &[LinkName], to: &[LinkName], out: &mut Vec<Request>) {
    for p in from.iter().filter(|p| !to.contains(p)) {
        out.push(Request::SetMaster {
            at: host(p),
            master: None,
        });
    }
    for p in to.iter().filter(|p| !from.contains(p)) {
        out.push(Request::SetMaster {
            at: host(p),
            master: Some(bridge.clone()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::MacvlanLink;
    use crate::testing::ln;

    fn mv(mtu: Option<u32>) -> Object {
        Object::Macvlan(MacvlanLink {
            parent_namespace: None,
            namespace: None,
            name: ln("m0"),
            parent: ln("p0"),
            mode: Mode::Bridge,
            mac: None,
            mtu,
            up: true,
            source_macs: vec![],
            link_kind: MacvlanKind::Macvlan,
            flags: vec![],
            bcqueuelen: None,
            bc_cutoff: None,
        })
    }

    fn at(s: &str) -> LinkRef {
        crate::testing::at(None, s)
    }

    #[test]
    fn an_update_is_one_request_per_field_in_the_kernels_order() {
        let step = Step::Update {
            object: mv(Some(9000)),
            changes: vec![
                Change::Mode {
                    from: Mode::Bridge,
                    to: Mode::Private,
                },
                Change::Mac {
                    from: None,
                    to: MacAddr([2, 0, 0, 0, 0, 1]),
                },
                Change::Mtu {
                    from: 1500,
                    to: 9000,
                },
            ],
        };
        let r = lower(&step, &LiveState::default()).unwrap();
        let ops: Vec<&str> = r.iter().map(|r| r.op().as_str()).collect();
        assert_eq!(ops, ["set mode", "set mac", "set mtu"]);
    }

    #[test]
    fn a_veth_mtu_is_set_on_both_ends() {
        let step = Step::Update {
            object: Object::Veth {
                namespace: None,
                name: ln("v0"),
                peer: ln("v0p"),
                peer_namespace: None,
                mtu: Some(1400),
                mac: None,
                peer_mac: None,
            },
            changes: vec![Change::Mtu {
                from: 1500,
                to: 1400,
            }],
        };
        let r = lower(&step, &LiveState::default()).unwrap();
        assert_eq!(
            r,
            [
                Request::SetMtu {
                    at: at("v0"),
                    mtu: 1400
                },
                Request::SetMtu {
                    at: at("v0p"),
                    mtu: 1400
                }
            ]
        );
    }

    #[test]
    fn a_replace_deletes_only_what_is_still_there_then_creates_and_claims() {
        let step = Step::Replace {
            from: mv(None),
            to: mv(Some(1400)),
            reason: "test".into(),
        };
        // Gone already (its parent took it along): create and claim only.
        let r = lower(&step, &LiveState::default()).unwrap();
        let ops: Vec<&str> = r.iter().map(|r| r.op().as_str()).collect();
        assert_eq!(ops, ["create macvlan", "set owner"]);
        let live: LiveState = serde_json::from_str(
            r#"{"links":[{"name":"m0","kind":"macvlan","parent":{"name":"p0"},"mtu":1500,"up":true}]}"#,
        )
        .unwrap();
        let r = lower(&step, &live).unwrap();
        let ops: Vec<&str> = r.iter().map(|r| r.op().as_str()).collect();
        assert_eq!(ops, ["delete link", "create macvlan", "set owner"]);
    }

    #[test]
    fn an_existing_nic_is_never_created_or_deleted() {
        let nic = Object::Nic {
            namespace: None,
            name: ln("eth1"),
            mtu: None,
            up: true,
        };
        for step in [
            Step::Create {
                object: nic.clone(),
            },
            Step::Delete { object: nic },
        ] {
            let e = lower(&step, &LiveState::default()).unwrap_err();
            assert_eq!(e.errno, Some(libc::EOPNOTSUPP));
        }
    }
}
