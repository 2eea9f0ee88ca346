//! The Graphviz DOT picture of a topology (`mvtopo graph`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{Macvlan, Parent, ParentKind, Topology};
use crate::names::LinkName;

/// Graphviz DOT of `t`: namespaces as clusters (the tool's own namespace too), one node per parent, macvlan and veth peer, addresses and routes listed in the
/// macvlan's label, and an edge from each link to what sits on it.
pub fn to_dot(t: &Topology) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&t.name));
    out.push_str("  rankdir=LR;\n  compound=true;\n");
    out.push_str("  node [shape=box, style=rounded, fontname=\"monospace\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"monospace\", fontsize=9];\n");

    let mut picture = Picture::default();
    picture.clusters.entry(None).or_default();
    for ns in t.namespaces.keys() {
        picture.clusters.entry(Some(ns.as_str())).or_default();
    }
    for (name, p) in &t.parents {
        picture.parent(t, name, p);
    }
    for m in &t.macvlans {
        picture.macvlan(m);
    }
    picture.write(&mut out);
    out.push_str("}\n");
    out
}

/// The nodes of each cluster (`None`: the tool's own namespace) and the edges, in the
/// order they are printed.
#[derive(Default)]
struct Picture<'t> {
    clusters: BTreeMap<Option<&'t str>, Vec<String>>,
    edges: Vec<String>,
}

impl<'t> Picture<'t> {
    /// A parent: its node in its namespace, and a veth's far end or a vlan's link.
    fn parent(&mut self, t: &Topology, name: &LinkName, p: &'t Parent) {
        let id = format!("parent:{name}");
        let mtu = p.mtu.map(|m| format!("\\nmtu {m}")).unwrap_or_default();
        let (kind, extra) = match &p.kind {
            ParentKind::Existing => ("existing".to_owned(), String::new()),
            ParentKind::Veth {
                peer,
                peer_namespace,
                ..
            } => {
                let peer_id = format!("peer:{name}");
                let peer_node = format!(
                    "{} [label={}, style=\"rounded,dashed\"];",
                    quote(&peer_id),
                    quote(&format!("veth peer {peer}"))
                );
                self.clusters
                    .entry(peer_namespace.as_ref().map(|n| n.as_str()))
                    .or_default()
                    .push(peer_node);
                self.edges.push(format!(
                    "{} -> {} [dir=both, style=dashed, arrowhead=none, arrowtail=none];",
                    quote(&id),
                    quote(&peer_id)
                ));
                ("veth".to_owned(), String::new())
            }
            ParentKind::Dummy => ("dummy".to_owned(), String::new()),
            ParentKind::Vlan { link, vlan_id, .. } => {
                self.edges.push(format!(
                    "{} -> {} [label={}];",
                    quote(&format!("parent:{link}")),
                    quote(&id),
                    quote("link")
                ));
                ("vlan".to_owned(), format!("\\nid {vlan_id}"))
            }
            ParentKind::Bridge { ports, .. } => {
                for port in ports {
                    let from = match t.veth_of(port) {
                        Some(v) if v.name != *port => format!("peer:{}", v.name),
                        _ => format!("parent:{port}"),
                    };
                    self.edges.push(format!(
                        "{} -> {} [label={}];",
                        quote(&from),
                        quote(&id),
                        quote("port")
                    ));
                }
                ("bridge".to_owned(), String::new())
            }
        };
        let node = format!(
            "{} [label={}, shape=box, style=\"rounded,bold\"];",
            quote(&id),
            quote_escaped(&format!(
                "parent {}\\n{kind}{extra}{mtu}",
                escape(name.as_str())
            ))
        );
        self.clusters
            .entry(p.namespace.as_ref().map(|n| n.as_str()))
            .or_default()
            .push(node);
    }

    /// A macvlan: its node, labelled with its settings, addresses and routes, in its
    /// namespace's cluster, and the edge from its parent.
    fn macvlan(&mut self, m: &'t Macvlan) {
        let at = match &m.namespace {
            Some(ns) => format!("{ns}/{}", m.name),
            None => m.name.to_string(),
        };
        let id = format!("macvlan:{at}");
        let mut label = format!("{} {}\\n{}", m.kind, escape(m.name.as_str()), m.mode);
        if let Some(mac) = m.mac {
            let _ = write!(label, "\\nmac {mac}");
        }
        if let Some(mtu) = m.mtu {
            let _ = write!(label, "\\nmtu {mtu}");
        }
        if !m.up {
            label.push_str("\\ndown");
        }
        for a in &m.addresses {
            let _ = write!(label, "\\n{a}");
        }
        for r in &m.routes {
            let to = if r.to.is_default() {
                "default".to_owned()
            } else {
                r.to.to_string()
            };
            match r.via {
                Some(v) => {
                    let _ = write!(label, "\\n{to} via {v}");
                }
                None => {
                    let _ = write!(label, "\\n{to} dev {}", escape(m.name.as_str()));
                }
            }
            if let Some(metric) = r.metric {
                let _ = write!(label, " metric {metric}");
            }
        }
        self.clusters
            .entry(m.namespace.as_ref().map(|n| n.as_str()))
            .or_default()
            .push(format!("{} [label={}];", quote(&id), quote_escaped(&label)));
        self.edges.push(format!(
            "{} -> {};",
            quote(&format!("parent:{}", m.parent)),
            quote(&id)
        ));
    }

    fn write(&self, out: &mut String) {
        for (i, (ns, members)) in self.clusters.iter().enumerate() {
            let label = match ns {
                Some(ns) => format!("namespace {ns}"),
                None => "mvtopo's own namespace".to_owned(),
            };
            let _ = writeln!(out, "  subgraph cluster_{i} {{");
            let _ = writeln!(out, "    label={};", quote(&label));
            out.push_str("    style=rounded;\n    color=gray50;\n");
            if members.is_empty() {
                // An empty cluster is not drawn at all; an invisible point keeps the namespace
                // in the picture.
                let _ = writeln!(
                    out,
                    "    {} [shape=point, style=invis];",
                    quote(&format!("namespace:{}", ns.unwrap_or("")))
                );
            }
            for m in members {
                let _ = writeln!(out, "    {m}");
            }
            out.push_str("  }\n");
        }
        for e in &self.edges {
            let _ = writeln!(out, "  {e}");
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A DOT string literal of arbitrary text.
fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

/// A DOT string literal of text already escaped (it carries `\n` line breaks on purpose).
fn quote_escaped(s: &str) -> String {
    format!("\"{s}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::{ln, ns, topo};

    #[test]
    fn dot_output() {
        let mut t = topo();
        t.macvlans
            .retain(|m| m.namespace.as_ref() != Some(&ns("blue")));
        t.parents.get_mut(&ln("eth1")).unwrap().mtu = Some(9000);
        let expected = r#"digraph "lab" {
  rankdir=LR;
  compound=true;
  node [shape=box, style=rounded, fontname="monospace", fontsize=10];
  edge [fontname="monospace", fontsize=9];
  subgraph cluster_0 {
    label="mvtopo's own namespace";
    style=rounded;
    color=gray50;
    "parent:eth1" [label="parent eth1\nexisting\nmtu 9000", shape=box, style="rounded,bold"];
    "parent:eth1.10" [label="parent eth1.10\nvlan\nid 10", shape=box, style="rounded,bold"];
    "parent:lab0" [label="parent lab0\nveth", shape=box, style="rounded,bold"];
    "macvlan:host0" [label="macvlan host0\nbridge"];
  }
  subgraph cluster_1 {
    label="namespace blue";
    style=rounded;
    color=gray50;
    "namespace:blue" [shape=point, style=invis];
  }
  subgraph cluster_2 {
    label="namespace red";
    style=rounded;
    color=gray50;
    "macvlan:red/eth0" [label="macvlan eth0\nbridge\n10.0.0.2/24\nfd00::2/64\ndefault via 10.0.0.1\n10.9.0.0/16 dev eth0"];
  }
  subgraph cluster_3 {
    label="namespace switch";
    style=rounded;
    color=gray50;
    "peer:lab0" [label="veth peer lab0p", style="rounded,dashed"];
  }
  "parent:eth1" -> "parent:eth1.10" [label="link"];
  "parent:lab0" -> "peer:lab0" [dir=both, style=dashed, arrowhead=none, arrowtail=none];
  "parent:eth1" -> "macvlan:host0";
  "parent:lab0" -> "macvlan:red/eth0";
}
"#;
        assert_eq!(to_dot(&t), expected);
    }

    #[test]
    fn dot_escapes_quotes() {
        let mut t = topo();
        t.name = "a\"b".into();
        assert!(to_dot(&t).starts_with("digraph \"a\\\"b\" {"));
    }
}
