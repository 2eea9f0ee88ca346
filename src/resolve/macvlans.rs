//! Macvlans: mode, parent, MAC, MTU and the source-mode MAC allow-list (the driver's other
//! settings are `driver`'s).

use std::collections::HashMap;
use std::ops::Range;

use super::parents::implied_mtu_label;
use super::{Resolver, text};
use crate::code::Code;
use crate::load::problem::{Problem, did_you_mean, one_of};
use crate::load::raw::{At, RawMacvlan};
use crate::model::{Macvlan, Parent, Span};
use crate::names::{LinkName, MacAddr, Mode};

impl<'r> Resolver<'r> {
    pub(super) fn macvlan(
        &mut self,
        m: &'r RawMacvlan,
        parents: &[Option<Parent>],
        mtus: &[Option<u32>],
    ) -> Option<Macvlan> {
        let name = self.macvlan_name(m);
        let parent = self.macvlan_parent(m);
        let namespace = match &m.namespace {
            Some(at) => self.ns_ref(at, "namespace").map(Some),
            None => Some(None),
        };
        let mode = match &m.mode {
            None => Some(Mode::default()),
            Some(at) => self.mode(at),
        };
        let mac = match &m.mac {
            Some(at) => self.own_mac(at).map(Some),
            None => Some(None),
        };
        // An MTU that is invalid, or above the parent's, ends this macvlan's checks.
        let mtu = match &m.more().mtu {
            None => None,
            Some(at) => Some(self.macvlan_mtu(at, parent.as_ref(), parents, mtus)?),
        };
        let up = m.more().up.as_ref().is_none_or(|u| u.value);
        let routes_on_down = self.routes_on_down_link(m);
        let (addresses, addresses_ok) = self.addresses(m);
        // A gateway may lie in a prefix that failed to parse: only judge reachability when
        // every address is known.
        let routes = self.routes(m, addresses_ok.then_some(addresses.as_slice()));
        let addresses = addresses_ok.then_some(addresses);
        let source_macs = self.source_macs(m, mode);
        let kind = self.macvlan_kind(m);
        let flags = self.flags(m, mode);
        let bcqueuelen = match &m.more().bcqueuelen {
            None => Some(None),
            Some(at) => self.bcqueuelen(at).map(Some),
        };
        let bc_cutoff = match &m.more().bc_cutoff {
            None => Some(None),
            Some(at) => self.bc_cutoff(at).map(Some),
        };

        if routes_on_down {
            return None;
        }
        let (pi, parent) = parent?;
        Some(Macvlan {
            name: name?,
            parent_namespace: parents[pi].as_ref()?.namespace.clone(),
            parent,
            namespace: namespace?,
            mode: mode?,
            mac: mac?,
            mtu,
            up,
            addresses: addresses?.into_iter().map(|a| a.value).collect(),
            routes: routes?,
            source_macs: source_macs?,
            kind: kind?,
            flags: flags?,
            bcqueuelen: bcqueuelen?,
            bc_cutoff: bc_cutoff?,
            span: Span(m.span.clone()),
        })
    }

    fn macvlan_name(&mut self, m: &'r RawMacvlan) -> Option<LinkName> {
        match &m.name {
            Some(at) => self.link_name(at),
            None => {
                if !m.broken.contains(&"name") {
                    self.missing(
                        m.span.clone(),
                        "[[macvlan]]",
                        "name",
                        "name = \"mv0\" (at most 15 bytes)".into(),
                    );
                }
                None
            }
        }
    }

    fn macvlan_parent(&mut self, m: &'r RawMacvlan) -> Option<(usize, LinkName)> {
        match &m.parent {
            Some(at) => self.parent_ref(at, "parent"),
            None => {
                if !m.broken.contains(&"parent") {
                    let example = self
                        .raw
                        .parents
                        .first()
                        .map_or("eth1", |p| p.name.value.as_str());
                    self.missing(
                        m.span.clone(),
                        "[[macvlan]]",
                        "parent",
                        format!("parent = {example:?} (a [parent.*] key)"),
                    );
                }
                None
            }
        }
    }

    fn mode(&mut self, at: &At<String>) -> Option<Mode> {
        match at.value.parse::<Mode>() {
            Ok(mode) => Some(mode),
            Err(_) => {
                let names = Mode::ALL.map(|m| m.as_str());
                let help = match did_you_mean(&at.value, names) {
                    Some(s) => format!("did you mean {s:?}?"),
                    None => format!("use {}", one_of(names)),
                };
                self.push(Problem::new(
                    Code::CheckMode,
                    format!("unknown macvlan mode {:?}", at.value),
                    at.span.clone(),
                    "not a macvlan mode".into(),
                    Some(help),
                ));
                None
            }
        }
    }

    /// A macvlan's MTU, at most its parent's (as far as the file says what that is).
    fn macvlan_mtu(
        &mut self,
        at: &At<i64>,
        parent: Option<&(usize, LinkName)>,
        parents: &[Option<Parent>],
        mtus: &[Option<u32>],
    ) -> Option<u32> {
        let mtu = self.mtu(at)?;
        if let Some((pi, pname)) = parent {
            if let (Some(limit), Some(_)) = (mtus[*pi], &parents[*pi]) {
                if mtu > limit {
                    let praw = &self.raw.parents[*pi];
                    let mut problem = Problem::new(
                        Code::CheckMtu,
                        format!(
                            "mtu {mtu} is above the mtu of parent {:?} ({limit})",
                            pname.as_str()
                        ),
                        at.span.clone(),
                        format!("above {limit}"),
                        Some(format!(
                            "use mtu = {limit} or less, or raise the mtu of [parent.{}]",
                            text::toml_key(pname.as_str())
                        )),
                    );
                    problem = match &praw.mtu {
                        Some(pm) => problem.with_label(pm.span.clone(), "the parent's mtu"),
                        None => problem
                            .with_label(praw.name.span.clone(), implied_mtu_label(praw, limit)),
                    };
                    self.push(problem);
                    return None;
                }
            }
        }
        Some(mtu)
    }

    /// The kernel keeps no route on a link that is down: it refuses to add one ("nexthop
    /// device is not up") and flushes them when the link goes down. A file asking for
    /// both can never be applied, so it is invalid here rather than at apply time.
    fn routes_on_down_link(&mut self, m: &RawMacvlan) -> bool {
        let mut routes_on_down = false;
        if let (Some(u), Some(r)) = (&m.more().up, &m.more().routes)
            && !u.value
            && !r.value.is_empty()
        {
            routes_on_down = true;
            self.push(
            Problem::new(
                Code::CheckRoutesOnDownLink,
                "routes on a macvlan with up = false".to_owned(),
                r.span.clone(),
                "routes here".into(),
                Some(
                    "the kernel keeps no route on a link that is down: remove `routes`, or set up = true"
                        .into(),
                ),
            )
            .with_label(u.span.clone(), "the link is down"),
        );
        }
        routes_on_down
    }

    /// A MAC an interface may carry: well formed, unicast, not all zero.
    pub(super) fn mac(&mut self, at: &At<String>, what: &str) -> Option<MacAddr> {
        let Ok(mac) = at.value.parse::<MacAddr>() else {
            self.push(Problem::new(
                Code::CheckMac,
                format!("{:?} is not a MAC address", at.value),
                at.span.clone(),
                "malformed MAC".into(),
                Some("write six hex octets separated by \":\", e.g. \"02:00:00:00:00:01\"".into()),
            ));
            return None;
        };
        if mac.is_multicast() {
            let mut fixed = mac;
            // Clear the group bit and set the locally administered one.
            fixed.0[0] = (fixed.0[0] & 0xfe) | 0x02;
            self.push(Problem::new(
                Code::CheckMac,
                format!("{what} {mac} is a multicast address"),
                at.span.clone(),
                "multicast MAC (first octet is odd)".into(),
                Some(format!(
                    "use a unicast MAC: the first octet must be even, e.g. \"{fixed}\""
                )),
            ));
            return None;
        }
        if mac.is_zero() {
            self.push(Problem::new(
                Code::CheckMac,
                format!("{what} 00:00:00:00:00:00 is not a usable address"),
                at.span.clone(),
                "all-zero MAC".into(),
                Some("use a unicast MAC such as \"02:00:00:00:00:01\"".into()),
            ));
            return None;
        }
        Some(mac)
    }

    pub(super) fn own_mac(&mut self, at: &At<String>) -> Option<MacAddr> {
        let mac = self.mac(at, "mac");
        if mac.is_none() && at.value.parse::<MacAddr>().is_ok() {
            // Say that leaving it out is also an option for the interface's own MAC.
            if let Some(h) = self.problems.last_mut().and_then(|p| p.help.as_mut()) {
                h.push_str(", or remove `mac` to let the kernel pick one");
            }
        }
        mac
    }

    pub(super) fn source_macs(
        &mut self,
        m: &RawMacvlan,
        mode: Option<Mode>,
    ) -> Option<Vec<MacAddr>> {
        let broken = m.broken.contains(&"source-macs");
        match (&m.more().source_macs, mode) {
            (None, Some(Mode::Source)) if broken => None,
            (None, Some(Mode::Source)) => {
                let span = m.mode.as_ref().map_or(m.span.clone(), |a| a.span.clone());
                self.push(Problem::new(
                    Code::CheckSourceMacs,
                    "mode \"source\" needs `source-macs`".into(),
                    span,
                    "no source-macs".into(),
                    Some("add the MACs this macvlan accepts frames from, e.g. source-macs = [\"02:00:00:00:00:aa\"]".into()),
                ));
                None
            }
            (None, _) => Some(Vec::new()),
            (Some(list), Some(Mode::Source)) => {
                if list.value.is_empty() && !broken {
                    self.push(Problem::new(
                        Code::CheckSourceMacs,
                        "`source-macs` is empty; a source macvlan would receive nothing".into(),
                        list.span.clone(),
                        "empty list".into(),
                        Some("list the MACs this macvlan accepts frames from, e.g. source-macs = [\"02:00:00:00:00:aa\"]".into()),
                    ));
                    return None;
                }
                let mut ok = !broken;
                let mut seen: HashMap<MacAddr, Range<usize>> = HashMap::new();
                for at in &list.value {
                    let Some(mac) = self.mac(at, "source MAC") else {
                        ok = false;
                        continue;
                    };
                    if let Some(first) = seen.get(&mac) {
                        self.push(
                            Problem::new(
                                Code::CheckDuplicateMac,
                                format!("{mac} is listed twice in source-macs"),
                                at.span.clone(),
                                "listed again".into(),
                                Some("remove the repeated entry".into()),
                            )
                            .with_label(first.clone(), "first listed here"),
                        );
                        ok = false;
                    } else {
                        seen.insert(mac, at.span.clone());
                    }
                }
                let mut macs: Vec<MacAddr> = seen.into_keys().collect();
                macs.sort();
                ok.then_some(macs)
            }
            (Some(list), Some(other)) => {
                self.push(Problem::new(
                    Code::CheckSourceMacs,
                    format!(
                        "`source-macs` only applies to mode \"source\"; this macvlan is {other}"
                    ),
                    list.span.clone(),
                    "only for mode = \"source\"".into(),
                    Some("remove source-macs, or set mode = \"source\"".into()),
                ));
                None
            }
            // Unknown mode: already reported.
            (Some(_), None) => None,
        }
    }
}
