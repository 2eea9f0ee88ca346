//! One line per plan step, for people: marker, action, kind, identity, details.

use crate::live::LinkRef;
use crate::model::Route;
use crate::names::{LinkName, MacAddr, MacvlanFlag, NsName};
use crate::plan::{Change, Object, ReplaceReason, Step};

fn at(namespace: &Option<NsName>, name: &LinkName) -> LinkRef {
    LinkRef::new(namespace.clone(), name.clone())
}

/// What names the object: `red/eth0`, `10.0.0.2/24 on red/eth0`, `default via 10.0.0.1 on
/// red/eth0`. A route's gateway is part of how people name it, so it stays in.
fn identity(o: &Object) -> String {
    match o {
        Object::Namespace { name } => name.to_string(),
        // A link: where it is.
        Object::Nic { .. }
        | Object::Veth { .. }
        | Object::Dummy { .. }
        | Object::Vlan { .. }
        | Object::Bridge { .. }
        | Object::Macvlan(_) => o.link().map(|l| l.to_string()).unwrap_or_default(),
        Object::Address {
            namespace,
            link,
            address,
        } => format!("{address} on {}", at(namespace, link)),
        Object::Route {
            namespace,
            link,
            to,
            via,
            metric,
        } => Route::new(*to, *via, *metric).name_on(&at(namespace, link)),
    }
}

/// What the object is, as people call it: its kind, but a macvtap for a macvtap.
fn noun(o: &Object) -> &'static str {
    match o {
        Object::Macvlan(m) => m.link_kind.as_str(),
        other => other.kind(),
    }
}

/// The link a link object hangs off, if any: ` on lab0`.
fn relation(o: &Object) -> Option<String> {
    match o {
        Object::Macvlan(m) => Some(format!("on {}", m.parent_at())),
        Object::Vlan { link, .. } => Some(format!("on {link}")),
        _ => None,
    }
}

fn macs(m: &[MacAddr]) -> String {
    names(m)
}

fn names<T: std::fmt::Display>(items: &[T]) -> String {
    let v: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", v.join(", "))
}

fn flags(f: &[MacvlanFlag]) -> String {
    let v: Vec<&str> = f.iter().map(MacvlanFlag::as_str).collect();
    format!("[{}]", v.join(", "))
}

/// The settings a create sets, in the file's key order.
fn details(o: &Object) -> Vec<String> {
    let mut d = Vec::new();
    let mtu_mac = |d: &mut Vec<String>, mac: &Option<MacAddr>, mtu: &Option<u32>| {
        if let Some(mac) = mac {
            d.push(format!("mac {mac}"));
        }
        if let Some(mtu) = mtu {
            d.push(format!("mtu {mtu}"));
        }
    };
    match o {
        Object::Namespace { .. } | Object::Address { .. } | Object::Route { .. } => {}
        Object::Nic { mtu, up, .. } => {
            mtu_mac(&mut d, &None, mtu);
            if !up {
                d.push("down".to_owned());
            }
        }
        Object::Veth {
            namespace: _,
            name: _,
            peer,
            peer_namespace,
            mtu,
            mac,
            peer_mac,
        } => {
            d.push(format!("peer {}", at(peer_namespace, peer)));
            mtu_mac(&mut d, mac, mtu);
            if let Some(m) = peer_mac {
                d.push(format!("peer mac {m}"));
            }
        }
        Object::Dummy { mtu, mac, .. } => mtu_mac(&mut d, mac, mtu),
        Object::Bridge {
            ports, mtu, mac, ..
        } => {
            if !ports.is_empty() {
                d.push(format!("ports {}", names(ports)));
            }
            mtu_mac(&mut d, mac, mtu);
        }
        Object::Vlan {
            vlan_id, mtu, mac, ..
        } => {
            d.push(format!("id {vlan_id}"));
            mtu_mac(&mut d, mac, mtu);
        }
        Object::Macvlan(m) => {
            d.push(m.mode.to_string());
            if !m.flags.is_empty() {
                d.push(format!("flags {}", flags(&m.flags)));
            }
            mtu_mac(&mut d, &m.mac, &m.mtu);
            if !m.up {
                d.push("down".to_owned());
            }
            if !m.source_macs.is_empty() {
                d.push(format!("source-macs {}", macs(&m.source_macs)));
            }
            if let Some(n) = m.bcqueuelen {
                d.push(format!("bcqueuelen {n}"));
            }
            if let Some(n) = m.bc_cutoff {
                d.push(format!("bc-cutoff {n}"));
            }
        }
    }
    d
}

fn change(c: &Change) -> String {
    match c {
        Change::Mtu { from, to } => format!("mtu {from} → {to}"),
        Change::Mac { from: Some(f), to } => format!("mac {f} → {to}"),
        Change::Mac { from: None, to } => format!("mac (unknown) → {to}"),
        Change::Up { from, to } => format!("up {from} → {to}"),
        Change::Mode { from, to } => format!("mode {from} → {to}"),
        Change::SourceMacs { from, to } => format!("source-macs {} → {}", macs(from), macs(to)),
        Change::Flags { from, to } => format!("flags {} → {}", flags(from), flags(to)),
        Change::Bcqueuelen { from, to } => format!("bcqueuelen {from} → {to}"),
        Change::BcCutoff { from, to } => format!("bc-cutoff {from} → {to}"),
        Change::Ports { from, to } => format!("ports {} → {}", names(from), names(to)),
    }
}

/// `s` with control characters written as escapes (`\u{1b}`): a namespace name is any file
/// name under /run/netns, and one holding an ESC or a newline must not drive the terminal or
/// forge a line of output.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped = c.is_control().then(|| c.escape_default());
            let plain = (!c.is_control()).then_some(c);
            escaped.into_iter().flatten().chain(plain)
        })
        .collect()
}

/// One line per step: marker (+ create, ~ update, ± replace, - delete), kind, identity,
/// details: `+ create macvlan red/eth0 on lab0 (bridge, mtu 1400)`,
/// `~ update macvlan red/eth0: mtu 1500 → 9000, up false → true`,
/// `± replace macvlan red/eth0: parent changes from lab0 to lab1`,
/// `- delete address 10.0.0.9/24 on red/eth0`.
pub fn step_line(step: &Step) -> String {
    printable(&line(step))
}

fn line(step: &Step) -> String {
    let head = |marker: &str, action: &str, o: &Object| {
        let mut s = format!("{marker} {action} {} {}", noun(o), identity(o));
        if let Some(r) = relation(o) {
            s.push(' ');
            s.push_str(&r);
        }
        s
    };
    match step {
        Step::Create { object } => {
            let mut s = head("+", "create", object);
            let d = details(object);
            if !d.is_empty() {
                s.push_str(&format!(" ({})", d.join(", ")));
            }
            s
        }
        Step::Update { object, changes } => {
            let mut s = format!("~ update {} {}", noun(object), identity(object));
            if !changes.is_empty() {
                let c: Vec<String> = changes.iter().map(change).collect();
                s.push_str(&format!(": {}", c.join(", ")));
            }
            s
        }
        Step::Replace { from, to, reason } => {
            let mut s = format!("± replace {} {}", noun(to), identity(to));
            if noun(from) != noun(to) {
                s.push_str(&format!(" (was {})", noun(from)));
            }
            // A hand-written plan may give no reason.
            if *reason != ReplaceReason::Text(String::new()) {
                s.push_str(&format!(": {reason}"));
            }
            s
        }
        Step::Delete { object } => head("-", "delete", object),
    }
}
