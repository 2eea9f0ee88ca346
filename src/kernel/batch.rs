//! Deleting many links of one namespace in one kernel batch (`Request::DeleteLinks`): a
//! link group per call, one RTM_DELLINK by IFLA_GROUP.
//!
//! Why: each RTM_DELLINK of one link waits for an RCU grace period (synchronize_net), ~16 ms
//! here, so 10,000 single deletes take minutes. RTM_DELLINK with ifindex 0 and IFLA_GROUP
//! deletes every link of that group in the namespace through `unregister_netdevice_many`:
//! one grace period for all of them. Moving a link into a group (RTM_SETLINK with
//! IFLA_GROUP) is cheap, and the requests are pipelined on the namespace's socket.
//!
//! The kernel checks the whole group before it deletes anything (rtnl_group_dellink:
//! EOPNOTSUPP when one of them has no dellink, `lo` for one), so the delete is all or
//! nothing; the moves before it are undone here when it is refused (tests/batch_delete.rs).

use std::collections::HashMap;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};

use rtnetlink::Handle;

use super::{Netlink, ack, by_name, dump, io_err, links_request, nl_err};
use crate::apply::backend::BackendError;
use crate::names::{LinkName, NsName};

/// Where the groups this module picks start; any u32 is a valid group, 0 is the default
/// every link starts in.
const GROUP_BASE: u32 = 0x6d76_0000;

impl Netlink {
    /// Delete the links `names` of namespace `ns` (`None` = the own one) with one batched
    /// request: they are put into a link group no other link of that namespace is in, and
    /// the group is deleted. The kernel takes their addresses and routes along, and the
    /// links that sit on them (as with any delete). When moving one into the group or
    /// deleting the group is refused, those moved get their old group back and nothing is
    /// deleted.
    ///
    /// Every name must exist (ENODEV otherwise, before anything changes). Linearizable
    /// against other mvtopo runs only under the apply lock: a link another tool moves into
    /// the same group in between would go too.
    pub fn delete_links_batched(
        &mut self,
        ns: Option<&NsName>,
        names: &[LinkName],
    ) -> Result<(), BackendError> {
        if names.is_empty() {
            return Ok(());
        }
        let object = object_of(ns, names);
        let handle = self.conn(ns)?.handle.clone();
        self.rt.block_on(delete_group(handle, names, &object))
    }

    /// Several batches (`delete_links_batched`) of different namespaces at once, each on a
    /// socket of its own, from a few short-lived threads: the kernel carries out a netlink
    /// request inside the sender's sendmsg, and most of a group delete is waiting for the
    /// RCU grace period after it, which concurrent deletes share. One result per batch, in
    /// order. The batches must not touch each other's links (`apply::independent`).
    pub fn delete_links_concurrently(
        &mut self,
        batches: &[(Option<&NsName>, &[LinkName])],
    ) -> Vec<Result<(), BackendError>> {
        let mut results: Vec<Option<Result<(), BackendError>>> = vec![None; batches.len()];
        // The namespaces' connections are opened (and cached) first; their files, borrowed,
        // are where the sockets of this call are made (`netns::sockets_in`).
        let mut jobs = Vec::new();
        for (i, (ns, names)) in batches.iter().enumerate() {
            match self.conn(*ns) {
                Ok(_) => jobs.push((i, *ns, *names, object_of(*ns, names))),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let files: Vec<&std::fs::File> = jobs
            .iter()
            .filter_map(|(_, ns, _, _)| match ns {
                None => Some(&self.root.ns.file),
                Some(n) => self.named.get(*n).map(|c| &c.ns.file),
            })
            .collect();
        if files.len() != jobs.len() {
            return vec![
                Err(BackendError::new(
                    "delete links",
                    "",
                    None,
                    "namespace not open"
                ));
                batches.len()
            ];
        }
        let sockets = super::netns::sockets_in(&files);
        let jobs: Vec<_> = jobs
            .into_iter()
            .map(|(i, _, names, object)| (i, names, object))
            .collect();
        let queue: Vec<_> = jobs.into_iter().zip(sockets).collect();
        for (i, r) in work_through(&queue) {
            results[i] = Some(r);
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(BackendError::new(
                        "delete links",
                        "",
                        None,
                        "not carried out",
                    ))
                })
            })
            .collect()
    }
}

/// How many batches are in flight at once: enough that their grace periods overlap, few
/// enough that the threads stay cheap.
const CONCURRENT_BATCHES: usize = 16;

/// A batch to delete: its index among the call's batches, its links and how it is named.
type Job<'a> = (usize, &'a [LinkName], String);

/// Carry out the queued batches from a few threads (`CONCURRENT_BATCHES`), each taking the
/// next batch until none is left; one result per batch, by its index, in no order.
fn work_through(
    queue: &[(Job<'_>, std::io::Result<std::os::fd::OwnedFd>)],
) -> Vec<(usize, Result<(), BackendError>)> {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Result<(), BackendError>)>> = Mutex::new(Vec::new());
    let workers = queue.len().min(CONCURRENT_BATCHES);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let rt = match super::runtime() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
                        while let Some(((i, _, object), _)) =
                            queue.get(next.fetch_add(1, Ordering::Relaxed))
                        {
                            done.push((*i, Err(io_err("start runtime", object, &e))));
                        }
                        return;
                    }
                };
                while let Some(((i, names, object), sock)) =
                    queue.get(next.fetch_add(1, Ordering::Relaxed))
                {
                    let r = match sock {
                        Ok(sock) => run_on(&rt, sock, names, object),
                        Err(e) => Err(io_err("open netlink socket", object, e)),
                    };
                    done.lock().unwrap_or_else(|p| p.into_inner()).push((*i, r));
                }
            });
        }
    });
    done.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn object_of(ns: Option<&NsName>, names: &[LinkName]) -> String {
    match ns {
        Some(n) => format!("{} link(s) in namespace {n}", names.len()),
        None => format!("{} link(s)", names.len()),
    }
}

/// One batch over a socket of its own (a duplicate descriptor, so the original can be
/// dropped with the thread's runtime).
fn run_on(
    rt: &tokio::runtime::Runtime,
    sock: &std::os::fd::OwnedFd,
    names: &[LinkName],
    object: &str,
) -> Result<(), BackendError> {
    let fd = sock
        .try_clone()
        .map_err(|e| io_err("open netlink socket", object, &e))?;
    let _guard = rt.enter();
    // SAFETY: a valid, owned, non-blocking netlink socket (`netns::sockets_in`).
    let sock = unsafe { netlink_sys::TokioSocket::from_raw_fd(fd.into_raw_fd()) };
    let (connection, handle, _) = rtnetlink::from_socket(sock);
    let task = rt.spawn(connection);
    let r = rt.block_on(delete_group(handle, names, object));
    task.abort();
    r
}

/// Move `names` into a free link group of the socket's namespace and delete the group; on
/// a refusal, give those moved their old group back (see `Netlink::delete_links_batched`).
async fn delete_group(
    handle: Handle,
    names: &[LinkName],
    object: &str,
) -> Result<(), BackendError> {
    let mut h = handle.clone();
    // The group of every link here, to pick a free one and to restore on failure.
    let links = dump(&mut h, links_request())
        .await
        .map_err(|e| nl_err("dump links", object, e))?;
    let mut group_of: HashMap<String, u32> = HashMap::new();
    for m in &links.messages {
        if let RouteNetlinkMessage::NewLink(l) = m {
            let name = l.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            });
            let group = l.attributes.iter().find_map(|a| match a {
                LinkAttribute::Group(g) => Some(*g),
                _ => None,
            });
            if let Some(n) = name {
                group_of.insert(n, group.unwrap_or(0));
            }
        }
    }
    if let Some(missing) = names.iter().find(|n| !group_of.contains_key(n.as_str())) {
        return Err(BackendError::new(
            "delete links",
            format!("{object}: {missing}"),
            Some(libc::ENODEV),
            "no such device",
        ));
    }
    let used: std::collections::HashSet<u32> = group_of.values().copied().collect();
    let group = (GROUP_BASE..)
        .take(1 << 16)
        // Never the journal's group: recovery takes an unclaimed link there for its own.
        .find(|g| !used.contains(g) && *g != super::CREATING_GROUP)
        .ok_or_else(|| BackendError::new("delete links", object, None, "no free link group"))?;

    let set = |name: &str, g: u32| {
        let mut h = handle.clone();
        let mut m = by_name(name);
        m.attributes.push(LinkAttribute::Group(g));
        async move { ack(&mut h, RouteNetlinkMessage::SetLink(m), 0).await }
    };
    // Those moved get their old group back, all in flight at once too.
    let restore = |moved: &[bool]| {
        let back = names.iter().zip(moved).filter(|(_, m)| **m).map(|(n, _)| {
            let old = group_of.get(n.as_str()).copied().unwrap_or(0);
            set(n.as_str(), old)
        });
        futures::future::join_all(back)
    };
    // All moves in flight at once on the one socket: the kernel answers in order.
    let moved = futures::future::join_all(names.iter().map(|n| set(n.as_str(), group))).await;
    if let Some(pos) = moved.iter().position(Result::is_err) {
        let ok: Vec<bool> = moved.iter().map(Result::is_ok).collect();
        restore(&ok).await;
        let e = moved.into_iter().nth(pos).and_then(Result::err);
        return Err(match e {
            Some(e) => nl_err(
                "move link into group",
                format!("{object}: {}", names[pos]),
                e,
            ),
            None => BackendError::new("move link into group", object, None, "failed"),
        });
    }
    let mut del = LinkMessage::default();
    del.attributes.push(LinkAttribute::Group(group));
    let deleted = ack(&mut h, RouteNetlinkMessage::DelLink(del), 0).await;
    if let Err(e) = deleted {
        restore(&vec![true; names.len()]).await;
        return Err(nl_err("delete link group", object, e));
    }
    Ok(())
}
