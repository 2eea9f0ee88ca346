//! Names and references: the topology name, namespace and link names, and references
//! from one entry to another declared one.

use std::collections::BTreeMap;

use super::text::{shorten_link_name, shorten_topology_name};
use super::{NS_NAME_MAX, Resolver, TOPOLOGY_NAME_MAX, text};
use crate::code::Code;
use crate::load::problem::{Problem, did_you_mean, one_of};
use crate::load::raw::At;
use crate::model::{Namespace, Span};
use crate::names::{LinkName, NsName, ValueError};

impl<'r> Resolver<'r> {
    pub(super) fn topology_name(&mut self, default_name: &str) -> Option<String> {
        let (value, span) = match &self.raw.name {
            Some(n) => (n.value.as_str(), Some(n.span.clone())),
            None => (default_name, None),
        };
        let bad = value.len() > TOPOLOGY_NAME_MAX
            || value.is_empty()
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
        if !bad {
            return Some(value.to_owned());
        }
        let why = if value.is_empty() {
            "is empty".to_owned()
        } else if value.len() > TOPOLOGY_NAME_MAX {
            format!(
                "is {} bytes long (at most {TOPOLOGY_NAME_MAX})",
                value.len()
            )
        } else {
            "may only contain letters, digits, \".\", \"_\" and \"-\"".to_owned()
        };
        let suggestion = shorten_topology_name(value);
        match span {
            Some(span) => self.push(Problem::new(
                Code::CheckTopologyName,
                format!("topology name {value:?} {why}"),
                span,
                "invalid topology name".into(),
                Some(format!(
                    "the name goes into each interface's alias (mvtopo:NAME); write e.g. name = {suggestion:?}"
                )),
            )),
            None => self.push(Problem::new(
                Code::CheckTopologyName,
                format!("topology name {value:?} (from the file name) {why}"),
                0..0,
                "no `name` in this file".into(),
                Some(format!(
                    "add a first line such as name = {suggestion:?} (the name goes into each interface's alias)"
                )),
            )),
        }
        None
    }

    pub(super) fn namespaces(&mut self) -> BTreeMap<NsName, Namespace> {
        let mut out = BTreeMap::new();
        for ns in &self.raw.namespaces {
            self.namespace_spans
                .insert(ns.name.value.as_str(), ns.name.span.clone());
            if let Some(name) = self.ns_name(&ns.name) {
                out.insert(
                    name.clone(),
                    Namespace {
                        name,
                        span: Span(ns.span.clone()),
                    },
                );
            }
        }
        // A veth's `peer-namespace` declares its namespace implicitly when no
        // [namespace.*] does: the spec's own example writes `peer-namespace = "switch"`
        // without a [namespace.switch], and that example must stay valid. The namespace is
        // then created (and owned) like any declared one, and shows in the plan.
        for p in &self.raw.parents {
            let Some(at) = &p.peer_namespace else {
                continue;
            };
            if self.namespace_spans.contains_key(at.value.as_str()) {
                continue;
            }
            self.namespace_spans
                .insert(at.value.as_str(), at.span.clone());
            if let Some(name) = self.ns_name(at) {
                out.insert(
                    name.clone(),
                    Namespace {
                        name,
                        span: Span(at.span.clone()),
                    },
                );
            }
        }
        out
    }

    pub(super) fn ns_name(&mut self, at: &At<String>) -> Option<NsName> {
        // The name is a file name twice over (/run/netns/NAME and the ownership marker):
        // the bound leaves room under the 255-byte limit for what mvtopo puts around it.
        if at.value.len() > NS_NAME_MAX {
            self.push(Problem::new(
                Code::CheckNamespaceName,
                format!(
                    "namespace name is {} bytes long; mvtopo allows at most {NS_NAME_MAX}",
                    at.value.len()
                ),
                at.span.clone(),
                "namespace name too long".into(),
                Some(format!(
                    "a namespace is a file under /run/netns: use a name of at most {NS_NAME_MAX} bytes"
                )),
            ));
            return None;
        }
        match NsName::new(&at.value) {
            Ok(n) => Some(n),
            Err(e) => {
                let why = match e {
                    ValueError::Empty => "is empty".to_owned(),
                    ValueError::BadChar(c) => format!("contains {c:?}"),
                    _ => "is a directory reference".to_owned(),
                };
                let suggestion = text::plain_file_name(&at.value);
                self.push(Problem::new(
                    Code::CheckNamespaceName,
                    format!("namespace name {:?} {why}", at.value),
                    at.span.clone(),
                    "invalid namespace name".into(),
                    Some(format!(
                        "a namespace is a file under /run/netns: use a plain name, e.g. {suggestion:?}"
                    )),
                ));
                None
            }
        }
    }

    /// Validates an interface name written in the file.
    pub(super) fn link_name(&mut self, at: &At<String>) -> Option<LinkName> {
        // The kernel reads a name with '%' as a template ("mv%d" becomes mv0, mv1, ...): the
        // link would get a name other than the file's, and nothing could find it again.
        if at.value.contains('%') {
            self.push(Problem::new(
                Code::CheckInterfaceName,
                format!(
                    "interface name {:?} contains '%', which the kernel treats as a template for a name it picks",
                    at.value
                ),
                at.span.clone(),
                "invalid interface name".into(),
                Some(format!(
                    "use the exact name the interface should have, e.g. {:?}",
                    shorten_link_name(&at.value)
                )),
            ));
            return None;
        }
        match LinkName::new(&at.value) {
            Ok(n) => Some(n),
            Err(e) => {
                let v = &at.value;
                let message = match &e {
                    ValueError::TooLong(n) => format!(
                        "interface name {v:?} is {n} bytes long; the kernel allows at most 15"
                    ),
                    ValueError::BadChar(c) => format!(
                        "interface name {v:?} contains {c:?}, which the kernel does not allow"
                    ),
                    ValueError::Empty => "interface name is empty".to_owned(),
                    ValueError::Dot => format!("{v:?} is not a valid interface name"),
                    other => other.to_string(),
                };
                let help = match e {
                    ValueError::TooLong(_) => {
                        format!("use at most 15 bytes, e.g. {:?}", shorten_link_name(v))
                    }
                    _ => format!(
                        "use 1 to 15 bytes without \"/\", \":\" or spaces, e.g. {:?}",
                        shorten_link_name(v)
                    ),
                };
                self.push(Problem::new(
                    Code::CheckInterfaceName,
                    message,
                    at.span.clone(),
                    "invalid interface name".into(),
                    Some(help),
                ));
                None
            }
        }
    }

    /// A reference to a `[namespace.*]` key; `None` if it is not declared (reported).
    pub(super) fn ns_ref(&mut self, at: &At<String>, what: &str) -> Option<NsName> {
        if !self.namespace_spans.contains_key(at.value.as_str()) {
            let raw = self.raw;
            let declared = raw.namespaces.iter().map(|n| n.name.value.as_str());
            self.unknown_ref(at, what, "namespace", declared.collect());
            return None;
        }
        // Declared: an invalid name was already reported at its declaration.
        self.ns_names.get(at.value.as_str()).cloned()
    }

    /// Report a reference to an undeclared `[TABLE.*]` key, with a did-you-mean or the
    /// declared keys to choose from.
    pub(super) fn unknown_ref(
        &mut self,
        at: &At<String>,
        what: &str,
        table: &str,
        declared: Vec<&str>,
    ) {
        let help = match did_you_mean(&at.value, declared.iter().copied()) {
            Some(s) => format!("did you mean {s:?}?"),
            None => format!(
                "declare it with a [{table}.{}] section{}",
                text::toml_key(&at.value),
                if declared.is_empty() {
                    String::new()
                } else {
                    format!(", or use {}", one_of(declared.iter().copied()))
                }
            ),
        };
        self.push(Problem::new(
            if table == "namespace" {
                Code::CheckUnknownNamespace
            } else {
                Code::CheckUnknownParent
            },
            format!("{what} {:?} is not a declared {table}", at.value),
            at.span.clone(),
            format!("no [{table}.*] with this name"),
            Some(help),
        ));
    }

    /// A reference to a `[parent.*]` key; `None` if it is not declared (reported).
    pub(super) fn parent_ref(&mut self, at: &At<String>, what: &str) -> Option<(usize, LinkName)> {
        let Some(&i) = self.parent_index.get(at.value.as_str()) else {
            let raw = self.raw;
            let declared = raw.parents.iter().map(|p| p.name.value.as_str());
            self.unknown_ref(at, what, "parent", declared.collect());
            return None;
        };
        LinkName::new(&at.value).ok().map(|n| (i, n))
    }
}
