//! Deleting many links of one namespace in one kernel batch: a link group per call, one
//! RTM_DELLINK by IFLA_GROUP. A prototype for destroy and prune, not yet used by `apply`.
//!
//! Why: each RTM_DELLINK of one link waits for an RCU grace period (synchronize_net), ~16 ms
//! here, so 10,000 single deletes take minutes. RTM_DELLINK with ifindex 0 and IFLA_GROUP
//! deletes every link of that group in the namespace through `unregister_netdevice_many`:
//! one grace period for all of them. Moving a link into a group (RTM_SETLINK with
//! IFLA_GROUP) is cheap, and the requests are pipelined on the namespace's socket.

use std::collections::HashMap;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};

use super::{Netlink, ack, by_name, dump, nl_err};
use crate::backend::BackendError;
use crate::names::{LinkName, NsName};

/// Where the groups this module picks start; any u32 is a valid group, 0 is the default
/// every link starts in.
const GROUP_BASE: u32 = 0x6d76_0000;

impl Netlink {
    /// Delete the links `names` of namespace `ns` (`None` = the own one) with one batched
    /// request: they are put into a link group no other link of that namespace is in, and
    /// the group is deleted. The kernel takes their addresses and routes along, and the
    /// links that sit on them (as with any delete). When moving them into the group fails,
    /// those already moved get their old group back and nothing is deleted.
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
        let object = match ns {
            Some(n) => format!("{} link(s) in namespace {n}", names.len()),
            None => format!("{} link(s)", names.len()),
        };
        let handle = self.conn(ns)?.handle.clone();
        let rt = &self.rt;
        rt.block_on(async move {
            let mut h = handle.clone();
            // The group of every link here, to pick a free one and to restore on failure.
            let links = dump(&mut h, RouteNetlinkMessage::GetLink(LinkMessage::default()))
                .await
                .map_err(|e| nl_err("dump links", &object, e))?;
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
                .find(|g| !used.contains(g))
                .ok_or_else(|| {
                    BackendError::new("delete links", &object, None, "no free link group")
                })?;

            let set = |name: &str, g: u32| {
                let mut h = handle.clone();
                let mut m = by_name(name);
                m.attributes.push(LinkAttribute::Group(g));
                async move { ack(&mut h, RouteNetlinkMessage::SetLink(m), 0).await }
            };
            // All moves in flight at once on the one socket: the kernel answers in order.
            let moved =
                futures::future::join_all(names.iter().map(|n| set(n.as_str(), group))).await;
            if let Some(pos) = moved.iter().position(Result::is_err) {
                for (n, r) in names.iter().zip(&moved) {
                    if r.is_ok() {
                        let old = group_of.get(n.as_str()).copied().unwrap_or(0);
                        let _ = set(n.as_str(), old).await;
                    }
                }
                let e = moved.into_iter().nth(pos).and_then(Result::err);
                return Err(match e {
                    Some(e) => nl_err(
                        "move link into group",
                        format!("{object}: {}", names[pos]),
                        e,
                    ),
                    None => BackendError::new("move link into group", &object, None, "failed"),
                });
            }
            let mut del = LinkMessage::default();
            del.attributes.push(LinkAttribute::Group(group));
            ack(&mut h, RouteNetlinkMessage::DelLink(del), 0)
                .await
                .map_err(|e| nl_err("delete link group", &object, e))
        })
    }
}
