//! The topology file as written: `Raw*` values that mirror the TOML, every user-written value
//! kept with its span. Only structure and types are checked here (unknown keys, a string where
//! a number belongs); what the values mean is `resolve`'s business.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::problem::{Problem, did_you_mean, one_of};
use crate::code::Code;

/// A value and the byte range it was written at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    pub value: T,
    pub span: Range<usize>,
}

impl<T> At<T> {
    pub fn new(value: T, span: Range<usize>) -> At<T> {
        At { value, span }
    }
}

/// The whole file as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawTopology {
    pub name: Option<At<String>>,
    /// In file order.
    pub namespaces: Vec<RawNamespace>,
    /// In file order.
    pub parents: Vec<RawParent>,
    /// In file order.
    pub macvlans: Vec<RawMacvlan>,
}

/// `[namespace.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawNamespace {
    /// The key, spanning the name in the header.
    pub name: At<String>,
    /// The whole header (`[namespace.red]`).
    pub span: Range<usize>,
}

/// `[parent.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawParent {
    pub name: At<String>,
    pub span: Range<usize>,
    /// `namespace`: where the parent lives (a `[namespace.*]` key).
    pub namespace: Option<At<String>>,
    pub create: Option<At<String>>,
    pub peer: Option<At<String>>,
    pub peer_namespace: Option<At<String>>,
    pub link: Option<At<String>>,
    pub vlan_id: Option<At<i64>>,
    pub mtu: Option<At<i64>>,
    /// A bridge's ports: other `[parent.*]` keys (veths) or veth peers.
    pub ports: Option<At<Vec<At<String>>>>,
    /// Span of each key as written, for "only allowed with ..." diagnostics.
    pub keys: Vec<At<&'static str>>,
    /// Keys present with a value of the wrong type (already reported; not "missing").
    pub broken: Vec<&'static str>,
}

/// One `[[macvlan]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMacvlan {
    pub span: Range<usize>,
    pub name: Option<At<String>>,
    pub parent: Option<At<String>>,
    pub namespace: Option<At<String>>,
    pub mode: Option<At<String>>,
    pub mac: Option<At<String>>,
    pub addresses: Option<At<Vec<At<String>>>>,
    /// The keys an entry seldom sets, kept apart (`more()`): in a file of 200,000 entries
    /// that set none of them they would cost ~55 MB held inline.
    pub more: Option<Box<RawMacvlanMore>>,
    /// Keys present with a value of the wrong type (already reported; not "missing").
    pub broken: Vec<&'static str>,
}

/// The seldom-set keys of a `[[macvlan]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawMacvlanMore {
    pub mtu: Option<At<i64>>,
    pub up: Option<At<bool>>,
    pub routes: Option<At<Vec<RawRoute>>>,
    pub source_macs: Option<At<Vec<At<String>>>>,
    pub kind: Option<At<String>>,
    pub flags: Option<At<Vec<At<String>>>>,
    pub bcqueuelen: Option<At<i64>>,
    pub bc_cutoff: Option<At<i64>>,
}

/// What an entry that sets none of the seldom-set keys has.
static NO_MORE: RawMacvlanMore = RawMacvlanMore {
    mtu: None,
    up: None,
    routes: None,
    source_macs: None,
    kind: None,
    flags: None,
    bcqueuelen: None,
    bc_cutoff: None,
};

impl RawMacvlan {
    /// The seldom-set keys (all `None` when the entry sets none of them).
    pub fn more(&self) -> &RawMacvlanMore {
        self.more.as_deref().unwrap_or(&NO_MORE)
    }

    fn more_mut(&mut self) -> &mut RawMacvlanMore {
        self.more.get_or_insert_with(Box::default)
    }
}

/// One entry of `routes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRoute {
    pub span: Range<usize>,
    pub to: Option<At<String>>,
    pub via: Option<At<String>>,
    pub metric: Option<At<i64>>,
    /// Keys present with a value of the wrong type (already reported; not "missing").
    pub broken: Vec<&'static str>,
}

pub const TOP_KEYS: [&str; 4] = ["name", "namespace", "parent", "macvlan"];
pub const PARENT_KEYS: [&str; 8] = [
    "namespace",
    "create",
    "peer",
    "peer-namespace",
    "link",
    "vlan-id",
    "mtu",
    "ports",
];
pub const MACVLAN_KEYS: [&str; 14] = [
    "name",
    "parent",
    "namespace",
    "kind",
    "mode",
    "flags",
    "mac",
    "mtu",
    "up",
    "addresses",
    "routes",
    "source-macs",
    "bcqueuelen",
    "bc-cutoff",
];
pub const ROUTE_KEYS: [&str; 3] = ["to", "via", "metric"];

/// Names other tools use for our keys, which edit distance would not find.
fn alias(key: &str) -> &'static [&'static str] {
    match key {
        "gateway" | "gw" => &["via"],
        "dst" | "dest" | "destination" => &["to"],
        "kind" => &["create"],
        // A parent's `create`, or a macvlan's `kind`: the one the table has is meant.
        "type" => &["create", "kind"],
        "vid" | "vlan" | "id" => &["vlan-id"],
        "netns" | "ns" => &["namespace"],
        "peer-netns" | "peer-ns" => &["peer-namespace"],
        "address" | "addrs" | "ips" => &["addresses"],
        "macaddr" | "address-mac" | "lladdr" => &["mac"],
        "macs" | "allowed-macs" => &["source-macs"],
        "dev" | "link" | "lower" => &["parent"],
        "bc-queue-len" | "bc_queue_len" | "broadcast-queue" | "bcqueue" => &["bcqueuelen"],
        "bc_cutoff" | "bccutoff" | "broadcast-cutoff" | "bc-queue-threshold" => &["bc-cutoff"],
        "flag" | "macvlan-flags" => &["flags"],
        "priority" | "prio" | "preference" | "pref" => &["metric"],
        "slaves" | "members" | "interfaces" => &["ports"],
        _ => &[],
    }
}

/// An example of each key written correctly, for "wrong type" help lines.
fn example(key: &str) -> &'static str {
    match key {
        "create" => "create = \"veth\"",
        "peer" => "peer = \"lab0-peer\"",
        "peer-namespace" => "peer-namespace = \"switch\"",
        "link" => "link = \"eth1\"",
        "vlan-id" => "vlan-id = 10",
        "mtu" => "mtu = 1500",
        "parent" => "parent = \"eth1\"",
        "namespace" => "namespace = \"red\"",
        "mode" => "mode = \"bridge\"",
        "mac" => "mac = \"02:00:00:00:00:01\"",
        "up" => "up = true",
        "addresses" => "addresses = [\"10.0.0.2/24\", \"fd00::2/64\"]",
        "routes" => "routes = [{ to = \"default\", via = \"10.0.0.1\" }]",
        "source-macs" => "source-macs = [\"02:00:00:00:00:aa\"]",
        "kind" => "kind = \"macvtap\"",
        "flags" => "flags = [\"nopromisc\"]",
        "bcqueuelen" => "bcqueuelen = 1000",
        "bc-cutoff" => "bc-cutoff = 2",
        "to" => "to = \"10.1.0.0/16\"",
        "via" => "via = \"10.0.0.1\"",
        "metric" => "metric = 100",
        "ports" => "ports = [\"lab0p\", \"lab1p\"]",
        _ => "name = \"eth0\"",
    }
}

fn a_type(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Collects problems while walking the parsed tree.
struct Walker {
    problems: Vec<Problem>,
    /// Where the text the tree was parsed from starts in the whole file (`parse_in_chunks`).
    offset: usize,
}

type Entry<'a, 'i> = (
    &'a Spanned<toml::de::DeString<'i>>,
    &'a Spanned<DeValue<'i>>,
);

impl Walker {
    /// A span of the chunk being walked, as a span of the whole text.
    fn off(&self, span: Range<usize>) -> Range<usize> {
        span.start + self.offset..span.end + self.offset
    }

    fn type_error(&mut self, key: &str, v: &Spanned<DeValue<'_>>, expected: &str, help: String) {
        self.problems.push(Problem::new(
            Code::CheckType,
            format!("`{key}` must be {expected}, found {}", a_type(v.get_ref())),
            self.off(v.span()),
            format!("expected {expected}"),
            Some(help),
        ));
    }

    /// Reports an unknown key; returns the key it probably meant, which the caller treats as
    /// present-but-broken so that a typo is not also reported as a missing key.
    fn unknown_key(
        &mut self,
        key: &Spanned<toml::de::DeString<'_>>,
        known: &[&'static str],
        within: &str,
    ) -> Option<&'static str> {
        let k: &str = key.get_ref();
        let suggestion = alias(k)
            .iter()
            .copied()
            .find(|a| known.contains(a))
            .or_else(|| did_you_mean(k, known.iter().copied()));
        let help = if known.is_empty() {
            format!("{within} takes no keys; remove this line")
        } else if let Some(s) = suggestion {
            format!("did you mean \"{s}\"?")
        } else {
            format!("the keys here are {}", one_of(known.iter().copied()))
        };
        let place = if within == "the top level" {
            "at the top level".to_owned()
        } else {
            format!("in {within}")
        };
        self.problems.push(Problem::new(
            Code::CheckUnknownKey,
            format!("unknown key \"{k}\" {place}"),
            self.off(key.span()),
            "unknown key".into(),
            Some(help),
        ));
        suggestion.and_then(|s| known.iter().copied().find(|c| *c == s))
    }

    fn string(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<At<String>> {
        self.string_like(key, example(key), v)
    }

    fn string_like(
        &mut self,
        key: &str,
        example: &str,
        v: &Spanned<DeValue<'_>>,
    ) -> Option<At<String>> {
        match v.get_ref() {
            DeValue::String(s) => Some(At::new(s.to_string(), self.off(v.span()))),
            _ => {
                self.type_error(
                    key,
                    v,
                    "a string",
                    format!("write it in quotes, e.g. {example}"),
                );
                None
            }
        }
    }

    fn integer(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<At<i64>> {
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(At::new(n, self.off(v.span()))),
                Err(_) => {
                    self.problems.push(Problem::new(
                        Code::CheckType,
                        format!("`{key}` is far too large"),
                        self.off(v.span()),
                        "does not fit in 64 bits".into(),
                        Some(format!("write e.g. {}", example(key))),
                    ));
                    None
                }
            },
            _ => {
                self.type_error(
                    key,
                    v,
                    "an integer",
                    format!("write a whole number without quotes, e.g. {}", example(key)),
                );
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<At<bool>> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(At::new(*b, self.off(v.span()))),
            _ => {
                self.type_error(
                    key,
                    v,
                    "a boolean",
                    format!("write true or false without quotes, e.g. {}", example(key)),
                );
                None
            }
        }
    }

    fn strings(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<At<Vec<At<String>>>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.type_error(
                key,
                v,
                "an array",
                format!("write a list in brackets, e.g. {}", example(key)),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(At::new(s.to_string(), self.off(item.span()))),
                other => self.problems.push(Problem::new(
                    Code::CheckType,
                    format!(
                        "each entry of `{key}` must be a string, found {}",
                        a_type(other)
                    ),
                    self.off(item.span()),
                    "expected a string".into(),
                    Some(format!("write each entry in quotes, e.g. {}", example(key))),
                )),
            }
        }
        Some(At::new(out, self.off(v.span())))
    }

    fn table<'a, 'i>(
        &mut self,
        key: &str,
        v: &'a Spanned<DeValue<'i>>,
        help: String,
    ) -> Option<&'a DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.type_error(key, v, "a table", help);
                None
            }
        }
    }

    fn top(&mut self, root: &DeTable<'_>) -> RawTopology {
        let mut raw = RawTopology::default();
        for (k, v) in root.iter() {
            match k.get_ref().as_ref() {
                "name" => raw.name = self.string_like("name", "name = \"lab\"", v),
                "namespace" => {
                    let help = "declare each namespace as its own section, e.g. [namespace.red]";
                    if let Some(t) = self.table("namespace", v, help.into()) {
                        self.namespaces(t, &mut raw);
                    }
                }
                "parent" => {
                    let help = "declare each parent as its own section, e.g. [parent.eth1]";
                    if let Some(t) = self.table("parent", v, help.into()) {
                        for e in t.iter() {
                            if let Some(p) = self.parent(e) {
                                raw.parents.push(p);
                            }
                        }
                    }
                }
                "macvlan" => match v.get_ref() {
                    DeValue::Array(items) => self.macvlans(items, &mut raw),
                    _ => self.type_error(
                        "macvlan",
                        v,
                        "an array of tables",
                        "start each macvlan with its own [[macvlan]] header (two brackets)".into(),
                    ),
                },
                _ => {
                    self.unknown_key(k, &TOP_KEYS, "the top level");
                }
            }
        }
        raw
    }

    fn macvlans(&mut self, items: &toml::de::DeArray<'_>, raw: &mut RawTopology) {
        // Grown exactly: at 200,000 entries of ~560 bytes, doubling would leave ~35 MB unused.
        raw.macvlans.reserve_exact(items.len());
        for item in items.iter() {
            if let Some(m) = self.macvlan(item) {
                raw.macvlans.push(m);
            }
        }
    }

    fn namespaces(&mut self, t: &DeTable<'_>, raw: &mut RawTopology) {
        for (k, v) in t.iter() {
            let name: &str = k.get_ref();
            let help = format!("write the namespace as a section header: [namespace.{name}]");
            let Some(body) = self.table(&format!("namespace.{name}"), v, help) else {
                continue;
            };
            for (bk, _) in body.iter() {
                self.unknown_key(bk, &[], &format!("[namespace.{name}]"));
            }
            raw.namespaces.push(RawNamespace {
                name: At::new(name.to_owned(), self.off(k.span())),
                span: self.off(v.span()),
            });
        }
    }

    fn parent(&mut self, (k, v): Entry<'_, '_>) -> Option<RawParent> {
        let name: &str = k.get_ref();
        let help = format!("write the parent as a section header: [parent.{name}]");
        let body = self.table(&format!("parent.{name}"), v, help)?;
        let mut p = RawParent {
            name: At::new(name.to_owned(), self.off(k.span())),
            span: self.off(v.span()),
            namespace: None,
            create: None,
            peer: None,
            peer_namespace: None,
            link: None,
            vlan_id: None,
            mtu: None,
            ports: None,
            keys: Vec::new(),
            broken: Vec::new(),
        };
        for (bk, bv) in body.iter() {
            let key: &str = bk.get_ref();
            let Some(known) = PARENT_KEYS.iter().find(|c| **c == key) else {
                if let Some(meant) = self.unknown_key(bk, &PARENT_KEYS, &format!("[parent.{name}]"))
                {
                    p.broken.push(meant);
                }
                continue;
            };
            p.keys.push(At::new(*known, self.off(bk.span())));
            let before = self.problems.len();
            match key {
                "namespace" => p.namespace = self.string(key, bv),
                "create" => p.create = self.string(key, bv),
                "peer" => p.peer = self.string(key, bv),
                "peer-namespace" => p.peer_namespace = self.string(key, bv),
                "link" => p.link = self.string(key, bv),
                "vlan-id" => p.vlan_id = self.integer(key, bv),
                "ports" => p.ports = self.strings(key, bv),
                _ => p.mtu = self.integer(key, bv),
            }
            if self.problems.len() > before {
                p.broken.push(known);
            }
        }
        Some(p)
    }

    fn macvlan(&mut self, v: &Spanned<DeValue<'_>>) -> Option<RawMacvlan> {
        let help = "start each macvlan with a [[macvlan]] header, or write { name = \"eth0\", parent = \"eth1\" }";
        let body = self.table("macvlan", v, help.into())?;
        let mut m = RawMacvlan {
            span: self.off(v.span()),
            name: None,
            parent: None,
            namespace: None,
            mode: None,
            mac: None,
            addresses: None,
            more: None,
            broken: Vec::new(),
        };
        for (bk, bv) in body.iter() {
            let key: &str = bk.get_ref();
            let before = self.problems.len();
            match key {
                "name" => m.name = self.string(key, bv),
                "parent" => m.parent = self.string(key, bv),
                "namespace" => m.namespace = self.string(key, bv),
                "mode" => m.mode = self.string(key, bv),
                "mac" => m.mac = self.string(key, bv),
                "mtu" => m.more_mut().mtu = self.integer(key, bv),
                "up" => m.more_mut().up = self.boolean(key, bv),
                "addresses" => m.addresses = self.strings(key, bv),
                "source-macs" => m.more_mut().source_macs = self.strings(key, bv),
                "routes" => m.more_mut().routes = self.routes(bv),
                "kind" => m.more_mut().kind = self.string(key, bv),
                "flags" => m.more_mut().flags = self.strings(key, bv),
                "bcqueuelen" => m.more_mut().bcqueuelen = self.integer(key, bv),
                "bc-cutoff" => m.more_mut().bc_cutoff = self.integer(key, bv),
                _ => {
                    if let Some(meant) = self.unknown_key(bk, &MACVLAN_KEYS, "[[macvlan]]") {
                        m.broken.push(meant);
                    }
                    continue;
                }
            }
            if self.problems.len() > before {
                if let Some(known) = MACVLAN_KEYS.iter().find(|c| **c == key) {
                    m.broken.push(known);
                }
            }
        }
        Some(m)
    }

    fn routes(&mut self, v: &Spanned<DeValue<'_>>) -> Option<At<Vec<RawRoute>>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.type_error(
                "routes",
                v,
                "an array",
                format!("write a list of tables, e.g. {}", example("routes")),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            let DeValue::Table(t) = item.get_ref() else {
                self.problems.push(Problem::new(
                    Code::CheckType,
                    format!(
                        "each entry of `routes` must be a table, found {}",
                        a_type(item.get_ref())
                    ),
                    self.off(item.span()),
                    "expected a table".into(),
                    Some(
                        "write each route as { to = \"10.1.0.0/16\", via = \"10.0.0.254\" }".into(),
                    ),
                ));
                continue;
            };
            let mut r = RawRoute {
                span: self.off(item.span()),
                to: None,
                via: None,
                metric: None,
                broken: Vec::new(),
            };
            for (k, rv) in t.iter() {
                match k.get_ref().as_ref() {
                    "to" => {
                        r.to = self.string("to", rv);
                        if r.to.is_none() {
                            r.broken.push("to");
                        }
                    }
                    "via" => {
                        r.via = self.string("via", rv);
                        if r.via.is_none() {
                            r.broken.push("via");
                        }
                    }
                    "metric" => {
                        r.metric = self.integer("metric", rv);
                        if r.metric.is_none() {
                            r.broken.push("metric");
                        }
                    }
                    _ => {
                        if let Some(meant) = self.unknown_key(k, &ROUTE_KEYS, "a route") {
                            r.broken.push(meant);
                        }
                    }
                }
            }
            out.push(r);
        }
        Some(At::new(out, self.off(v.span())))
    }
}

/// Parses topology text into its as-written form, or returns every syntax error.
///
/// After a syntax error the parser's recovered tree is guesswork (an unclosed header swallows
/// the tables after it), so checking its keys and types would mostly report the damage the
/// syntax error already explains: only the syntax errors are returned then.
pub fn parse(text: &str) -> Result<(RawTopology, Vec<Problem>), Vec<Problem>> {
    if text.len() >= CHUNKED_FROM
        && let Some(parsed) = parse_in_chunks(text, MACVLANS_PER_CHUNK)
    {
        return Ok(parsed);
    }
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors.iter().map(|e| syntax_problem(text, e)).collect());
    }
    let mut w = Walker {
        problems: Vec::new(),
        offset: 0,
    };
    let raw = w.top(root.get_ref());
    Ok((raw, w.problems))
}

/// Files this large are parsed in chunks when they can be (`parse_in_chunks`).
const CHUNKED_FROM: usize = 1 << 20;
const MACVLANS_PER_CHUNK: usize = 2048;

/// The parser holds the whole file's tokens, events and tree at once, several times the
/// text (a file of 200,000 macvlans peaked at 750 MB). A file whose tail is nothing but
/// `[[macvlan]]` entries, the shape of any large one, is parsed as its head and then
/// `per_chunk` entries at a time, each tree walked and dropped before the next is parsed.
///
/// The result is the whole parse's (the tests compare the two): the entries of an array of
/// tables are independent tables, and a head without `macvlan` puts that key last at the
/// top level, where the walk visits it last. Anything else falls back to the whole parse
/// (`None`): another header (or any line starting with `[`, as a nested array can) after the
/// first entry, a `macvlan` key in the head, or any syntax error in a chunk, so that errors
/// are reported exactly as the whole parse reports them. (A chunk boundary inside a
/// multi-line string or array leaves it unclosed in the chunk before: a syntax error.)
fn parse_in_chunks(text: &str, per_chunk: usize) -> Option<(RawTopology, Vec<Problem>)> {
    let mut entries = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed == "[[macvlan]]" {
            entries.push(offset);
        } else if !entries.is_empty() && trimmed.starts_with('[') {
            return None;
        }
        offset += line.len();
    }
    let first = *entries.first()?;
    let mut w = Walker {
        problems: Vec::new(),
        offset: 0,
    };
    let mut raw = {
        let (head, errors) = DeTable::parse_recoverable(&text[..first]);
        if !errors.is_empty() || head.get_ref().contains_key("macvlan") {
            return None;
        }
        w.top(head.get_ref())
    };
    // Every chunk's entries, in one allocation of the right size (see `macvlans`).
    raw.macvlans.reserve_exact(entries.len());
    let starts = entries.iter().step_by(per_chunk.max(1));
    let ends = starts.clone().skip(1).copied().chain([text.len()]);
    for (&start, end) in starts.zip(ends) {
        let (chunk, errors) = DeTable::parse_recoverable(&text[start..end]);
        let Some(DeValue::Array(items)) = chunk.get_ref().get("macvlan").map(Spanned::get_ref)
        else {
            return None;
        };
        if !errors.is_empty() || chunk.get_ref().len() != 1 {
            return None;
        }
        w.offset = start;
        w.macvlans(items, &mut raw);
    }
    Some((raw, w.problems))
}

fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    let span = e.span().unwrap_or(text.len()..text.len());
    let message = e.message().trim().trim_end_matches('.').to_owned();
    let written = text.get(span.clone()).unwrap_or("");
    let help = syntax_help(&message, written);
    Problem::new(
        Code::CheckSyntax,
        format!("invalid TOML: {message}"),
        span,
        "here".into(),
        help,
    )
}

fn syntax_help(message: &str, written: &str) -> Option<String> {
    let expected = message
        .split_once("expected `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(token, _)| token);
    let help = if message.starts_with("duplicate key") {
        "each key may appear once per table; remove or rename one of them".to_owned()
    } else if message.starts_with("string values must be quoted") {
        format!("write text in double quotes: {:?}", written.trim())
    } else if message.starts_with("invalid basic string") {
        "close the string with a double quote on the same line".to_owned()
    } else if message.starts_with("unclosed array table") {
        "close the header with \"]]\", e.g. [[macvlan]]".to_owned()
    } else if message.starts_with("unclosed") {
        format!("add the missing {:?}", expected.unwrap_or("]"))
    } else if message.starts_with("missing comma") {
        "separate the entries with \",\"".to_owned()
    } else if message.starts_with("missing assignment") || message.starts_with("key with no value")
    {
        "write key = value, e.g. mtu = 1500".to_owned()
    } else if message.starts_with("cannot extend value") {
        "this key is already set to a value; a table of the same name cannot be added".to_owned()
    } else {
        return None;
    };
    Some(help)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::LabShape;

    /// The memory of a large file is its entries: one that sets only the common keys holds
    /// no room for the seldom-set ones (they were ~280 bytes of each entry inline).
    #[test]
    fn an_entry_keeps_the_seldom_set_keys_apart() {
        assert!(
            std::mem::size_of::<RawMacvlan>() <= 320,
            "RawMacvlan is {} bytes",
            std::mem::size_of::<RawMacvlan>()
        );
        let (raw, problems) = parse(
            "name = \"x\"\n[[macvlan]]\nname = \"a\"\nparent = \"p\"\nmode = \"bridge\"\n\
             [[macvlan]]\nname = \"b\"\nparent = \"p\"\nmode = \"bridge\"\nmtu = 1400\n",
        )
        .unwrap();
        assert!(problems.is_empty());
        assert!(raw.macvlans[0].more.is_none());
        assert_eq!(raw.macvlans[0].more().mtu, None);
        assert_eq!(
            raw.macvlans[1].more().mtu.as_ref().map(|m| m.value),
            Some(1400)
        );
    }

    fn whole(text: &str) -> (RawTopology, Vec<String>) {
        let (root, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty(), "{errors:?}");
        let mut w = Walker {
            problems: Vec::new(),
            offset: 0,
        };
        let raw = w.top(root.get_ref());
        (raw, w.problems.iter().map(|p| format!("{p:?}")).collect())
    }

    fn chunked(text: &str, per_chunk: usize) -> Option<(RawTopology, Vec<String>)> {
        let (raw, problems) = parse_in_chunks(text, per_chunk)?;
        Some((raw, problems.iter().map(|p| format!("{p:?}")).collect()))
    }

    /// Parsed a few entries at a time, a file gives the same values, spans and problems
    /// (pointing at the same bytes) as parsed whole.
    #[test]
    fn chunks_parse_as_the_whole_file() {
        let mut text = LabShape {
            name: "c".to_owned(),
            namespaces: vec!["a".to_owned(), "b".to_owned()],
            parents: vec!["p0".to_owned(), "p1".to_owned()],
            macvlans: 40,
            subnet: 1,
        }
        .toml();
        // Problems in the head and in entries of several chunks, and a route table.
        text = text.replacen("create = \"veth\"", "create = \"veth\"\nmtuu = 9000", 1);
        text = text.replacen(
            "mode = \"bridge\"",
            "mode = 3\nroutes = [{ to = \"10.9.0.0/16\", via = \"10.1.0.1\" }]",
            1,
        );
        text = text.replace("name = \"mv13\"", "name = \"mv13\"\ngateway = \"x\"");
        text.push_str("up = \"yes\"\n");
        let expected = whole(&text);
        assert!(expected.1.len() >= 4, "{:?}", expected.1);
        for per_chunk in [1, 3, 7, 40, 100] {
            assert_eq!(
                chunked(&text, per_chunk).as_ref(),
                Some(&expected),
                "{per_chunk}"
            );
        }
    }

    /// Whatever chunks could read differently from the whole file is left to the whole
    /// parse: another table after the entries, a nested array on a line of its own, a
    /// `macvlan` key before them, a syntax error, a multi-line string cut by a chunk.
    #[test]
    fn anything_else_is_parsed_whole() {
        let entry = "[[macvlan]]\nname = \"m\"\nparent = \"p\"\n";
        let cases = [
            format!("{entry}[parent.p]\n{entry}"),
            format!("{entry}addresses = [\n[\"x\"]]\n"),
            format!("macvlan = []\n{entry}"),
            format!("{entry}name = \n{entry}"),
            format!("{entry}name = \"\"\"\n{entry}\"\"\"\n"),
            "name = \"no entries\"\n".to_owned(),
        ];
        for text in cases {
            assert_eq!(chunked(&text, 1), None, "{text}");
        }
        assert!(chunked(&format!("name = \"x\"\n{entry}{entry}"), 1).is_some());
    }
}
