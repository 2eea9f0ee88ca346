//! Parents: their kinds (existing, veth, dummy, vlan), names of veth peers, and MTUs,
//! including the MTU a vlan takes from its link.

use super::{CREATE_KINDS, DEFAULT_MTU, MTU_MAX, MTU_MIN, Resolver, text};
use crate::load::problem::{Problem, did_you_mean, one_of};
use crate::load::raw::{At, RawParent};
use crate::model::{Parent, ParentKind, Span};
use crate::names::LinkName;

impl<'r> Resolver<'r> {
    pub(super) fn parent(&mut self, p: &'r RawParent) -> Option<Parent> {
        let header = format!("[parent.{}]", text::toml_key(&p.name.value));
        let name = self.link_name(&p.name);
        let mtu = p.mtu.as_ref().and_then(|m| self.mtu(m));
        let create = match &p.create {
            None => Some(None),
            Some(c) => match c.value.as_str() {
                k @ ("veth" | "dummy" | "vlan") => Some(Some(k)),
                other => {
                    let help = match did_you_mean(other, CREATE_KINDS) {
                        Some(s) => format!("did you mean {s:?}?"),
                        None => format!(
                            "use {}, or remove `create` for an interface that already exists",
                            one_of(CREATE_KINDS)
                        ),
                    };
                    self.push(Problem::new(
                        "mvtopo::check::create",
                        format!("unknown create kind {other:?}"),
                        c.span.clone(),
                        "not veth, dummy or vlan".into(),
                        Some(help),
                    ));
                    None
                }
            },
        };
        // With an unknown kind, which keys belong is anyone's guess: only the kind is reported.
        let create = create?;
        for key in &p.keys {
            let needs = match key.value {
                "peer" | "peer-namespace" => "veth",
                "link" | "vlan-id" => "vlan",
                _ => continue,
            };
            if create != Some(needs) {
                let now = match create {
                    Some(k) => format!("{header} is a {k}"),
                    None => format!("{header} has no `create`: an existing interface"),
                };
                self.push(Problem::new(
                    "mvtopo::check::key-not-allowed",
                    format!("`{}` only applies to create = \"{needs}\"", key.value),
                    key.span.clone(),
                    now,
                    Some(format!("remove this line, or set create = \"{needs}\"")),
                ));
            }
        }
        let kind = match create {
            None => ParentKind::Existing,
            Some("dummy") => ParentKind::Dummy,
            Some("veth") => {
                let peer = match &p.peer {
                    Some(at) => self.link_name(at),
                    None => {
                        let default = format!("{}p", p.name.value);
                        if name.is_some() && default.len() > crate::names::MAX_LINK_NAME {
                            self.push(Problem::new(
                                "mvtopo::check::interface-name",
                                format!(
                                    "the default peer name {default:?} is {} bytes long; the kernel allows at most 15",
                                    default.len()
                                ),
                                p.name.span.clone(),
                                "veth without `peer`".into(),
                                Some(format!(
                                    "set a shorter peer name under {header}, e.g. peer = {:?}",
                                    text::short_peer_name(&p.name.value)
                                )),
                            ));
                        }
                        LinkName::new(&default).ok()
                    }
                };
                let peer_namespace = match &p.peer_namespace {
                    Some(at) => self
                        .ns_ref(at, "peer-namespace")
                        .map(|ns| Some((ns, at.span.clone()))),
                    None => Some(None),
                };
                let (peer, peer_namespace) = (peer?, peer_namespace?);
                let (peer_namespace, span) = match peer_namespace {
                    Some((ns, span)) => (Some(ns), span),
                    None => (None, 0..0),
                };
                ParentKind::Veth {
                    peer,
                    peer_namespace,
                    peer_namespace_span: Span(span),
                }
            }
            _ => {
                let link = match &p.link {
                    Some(at) => {
                        if at.value == p.name.value {
                            self.push(Problem::new(
                                "mvtopo::check::vlan-link",
                                format!("vlan {:?} cannot sit on itself", at.value),
                                at.span.clone(),
                                "the vlan's own name".into(),
                                Some("set link to the [parent.*] this vlan sits on, e.g. link = \"eth1\"".into()),
                            ));
                            None
                        } else {
                            self.parent_ref(at, "vlan link")
                                .map(|(_, n)| (n, at.span.clone()))
                        }
                    }
                    None => {
                        if !p.broken.contains(&"link") {
                            let example = self
                                .raw
                                .parents
                                .iter()
                                .find(|o| o.name.value != p.name.value && o.create.is_none())
                                .map_or("eth1", |o| o.name.value.as_str());
                            self.missing(
                                p.name.span.clone(),
                                &format!("vlan {header}"),
                                "link",
                                format!("link = {example:?} (the [parent.*] this vlan sits on)"),
                            );
                        }
                        None
                    }
                };
                let vlan_id = match &p.vlan_id {
                    Some(at) if (1..=4094).contains(&at.value) => u16::try_from(at.value).ok(),
                    Some(at) => {
                        self.push(Problem::new(
                            "mvtopo::check::vlan-id",
                            format!("vlan-id {} is outside 1..=4094", at.value),
                            at.span.clone(),
                            "VLAN id out of range".into(),
                            Some("use a VLAN id from 1 to 4094, e.g. vlan-id = 10".into()),
                        ));
                        None
                    }
                    None => {
                        if !p.broken.contains(&"vlan-id") {
                            self.missing(
                                p.name.span.clone(),
                                &format!("vlan {header}"),
                                "vlan-id",
                                "vlan-id = 10 (a VLAN id from 1 to 4094)".into(),
                            );
                        }
                        None
                    }
                };
                let ((link, link_span), vlan_id) = (link?, vlan_id?);
                ParentKind::Vlan {
                    link,
                    vlan_id,
                    link_span: Span(link_span),
                }
            }
        };
        if p.mtu.is_some() && mtu.is_none() {
            return None;
        }
        Some(Parent {
            name: name?,
            kind,
            mtu,
            span: Span(p.span.clone()),
        })
    }

    /// The MTU each parent will have as far as the file says: its own `mtu`, 1500 for a
    /// created veth or dummy, its link's for a vlan without one, unknown for an existing NIC.
    pub(super) fn declared_mtus(&self, parents: &[Option<Parent>]) -> Vec<Option<u32>> {
        (0..parents.len())
            .map(|i| {
                let mut i = i;
                // Bounded: a cycle of vlan links is the graph stage's to report.
                for _ in 0..=parents.len() {
                    let p = parents[i].as_ref()?;
                    if let Some(m) = p.mtu {
                        return Some(m);
                    }
                    match &p.kind {
                        ParentKind::Existing => return None,
                        ParentKind::Veth { .. } | ParentKind::Dummy => return Some(DEFAULT_MTU),
                        ParentKind::Vlan { link, .. } => {
                            i = *self.parent_index.get(link.as_str())?;
                        }
                    }
                }
                None
            })
            .collect()
    }

    /// A vlan's MTU can be at most its link's.
    pub(super) fn vlan_mtus(&mut self, parents: &[Option<Parent>]) {
        let mtus = self.declared_mtus(parents);
        for (i, p) in parents.iter().enumerate() {
            let Some(Parent {
                kind: ParentKind::Vlan { link, .. },
                mtu: Some(mtu),
                ..
            }) = p
            else {
                continue;
            };
            let Some(&li) = self.parent_index.get(link.as_str()) else {
                continue;
            };
            let Some(link_mtu) = mtus[li] else { continue };
            if *mtu > link_mtu {
                let raw = &self.raw.parents[i];
                let lraw = &self.raw.parents[li];
                let span = raw
                    .mtu
                    .as_ref()
                    .map_or(raw.span.clone(), |m| m.span.clone());
                let mut problem = Problem::new(
                    "mvtopo::check::mtu",
                    format!(
                        "vlan {:?} has mtu {mtu}, above the mtu of its link {:?} ({link_mtu})",
                        raw.name.value,
                        link.as_str()
                    ),
                    span,
                    format!("above {link_mtu}"),
                    Some(format!(
                        "use mtu = {link_mtu} or less, or raise the mtu of [parent.{}]",
                        text::toml_key(link.as_str())
                    )),
                );
                problem = match &lraw.mtu {
                    Some(m) => problem.with_label(m.span.clone(), "the link's mtu"),
                    None => problem
                        .with_label(lraw.name.span.clone(), implied_mtu_label(lraw, link_mtu)),
                };
                self.push(problem);
            }
        }
    }

    pub(super) fn mtu(&mut self, at: &At<i64>) -> Option<u32> {
        if (MTU_MIN..=MTU_MAX).contains(&at.value) {
            return u32::try_from(at.value).ok();
        }
        self.push(Problem::new(
            "mvtopo::check::mtu",
            format!("mtu {} is outside {MTU_MIN}..={MTU_MAX}", at.value),
            at.span.clone(),
            "MTU out of range".into(),
            Some(format!(
                "use an MTU from {MTU_MIN} to {MTU_MAX}, e.g. mtu = 1500"
            )),
        ));
        None
    }
}

/// Where a parent without `mtu` gets the MTU a check compared against.
pub(super) fn implied_mtu_label(p: &RawParent, mtu: u32) -> String {
    match p.create.as_ref().map(|c| c.value.as_str()) {
        Some("vlan") => format!("no mtu here: {mtu}, inherited from its link"),
        _ => format!("no mtu here: created with {mtu}"),
    }
}
