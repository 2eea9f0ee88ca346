//! `mvtopo fmt`: a topology file rewritten in the canonical layout (`CANONICAL` says what
//! that is), comments kept. The file is read with toml_edit, which keeps every comment and
//! blank line where it was written, and printed again from scratch, so the layout depends on
//! the content alone and formatting twice changes nothing.

use std::fmt::Write as _;

use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Key, RawString, Table, Value};

use crate::load::raw::{MACVLAN_KEYS, PARENT_KEYS, ROUTE_KEYS};
use crate::render::{toml_key, toml_string};

/// The canonical layout, as `mvtopo fmt --help` and the docs state it.
pub const CANONICAL: &str = "\
Rewrite FILE in the canonical layout, comments kept. Only a file that passes `mvtopo check` is \
formatted. The canonical layout:
  - `name` first, then every [namespace.NAME], then every [parent.NAME], then every \
[[macvlan]], each group in the order of the file;
  - each namespace, parent and macvlan in a table of its own under its own header (inline \
tables and dotted keys become headers; one [[macvlan]] per macvlan);
  - keys in the order of the format's example: parent: namespace, create, peer, \
peer-namespace, link, vlan-id, mtu, ports; macvlan: name, parent, namespace, kind, mode, flags, mac, mtu, up, \
addresses, routes, source-macs, bcqueuelen, bc-cutoff; route: to, via, metric;
  - `key = value`; strings in double quotes; integers in decimal; keys bare where TOML \
allows it, else in double quotes (\"eth1.10\");
  - arrays on one line ([\"a\", \"b\"]), routes as inline tables ({ to = \"default\", via = \
\"10.0.0.1\" }); an array holding comments is written one entry per line instead;
  - one blank line before each header (but none between [namespace.*] headers that follow \
each other), none inside a table, one newline at the end;
  - comments stay with what follows them (a header, a key, an array entry), a blank line \
after a comment or between two comments is kept; a comment after a value stays after it, \
with the spacing written. A comment inside an inline table moves \
to the line before the key.
`--check` changes nothing and exits 1 when FILE is not canonical; `mvtopo fmt -` reads \
standard input and writes the result to standard output.";

/// `text` in the canonical layout. `text` must be a topology that passes `check` (the
/// caller loads it first); an `Err` says why it could not be read as TOML.
pub fn format(text: &str) -> Result<String, String> {
    let doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let root = doc.as_table();
    let mut out = Writer::default();
    out.comments(decor_prefix(root.decor()));
    for (key, item) in root.iter() {
        let Some((k, _)) = root.get_key_value(key) else {
            continue;
        };
        match key {
            "namespace" | "parent" | "macvlan" => {}
            _ => {
                // `name` (and anything else a future format adds at the top level).
                out.comments(decor_prefix(k.leaf_decor()));
                out.entry(k, item, &[]);
            }
        }
    }
    for (section, order) in [("namespace", &[][..]), ("parent", &PARENT_KEYS[..])] {
        let Some((k, item)) = root.get_key_value(section) else {
            continue;
        };
        let mut pending = comment_lines(decor_prefix(k.leaf_decor()));
        if let Some(t) = item.as_table() {
            pending.extend(comment_lines(decor_prefix(t.decor())));
        }
        for (name, body) in table_entries(item) {
            out.header(
                &format!("[{section}.{}]", toml_key(name.get())),
                &pending,
                &body,
            );
            pending.clear();
            out.body(&body, order);
        }
        out.comments_block(&pending);
    }
    if let Some((k, item)) = root.get_key_value("macvlan") {
        let mut pending = comment_lines(decor_prefix(k.leaf_decor()));
        for body in array_entries(item) {
            out.header("[[macvlan]]", &pending, &body);
            pending.clear();
            out.body(&body, &MACVLAN_KEYS);
        }
        out.comments_block(&pending);
    }
    let trailing = comment_lines(raw(doc.trailing()));
    out.comments_block(&trailing);
    Ok(out.finish())
}

/// A table's entries as written: its header's comments and trailing comment (if it had a
/// header), and its keys with their items.
struct Body {
    comments: Vec<String>,
    header_comment: Option<String>,
    entries: Vec<(Key, Item)>,
}

fn table_body(t: &Table) -> Body {
    let comments = if t.is_dotted() {
        Vec::new()
    } else {
        comment_lines(decor_prefix(t.decor()))
    };
    Body {
        comments,
        header_comment: trailing_comment(decor_suffix(t.decor())),
        entries: t
            .iter()
            .filter_map(|(k, _)| t.get_key_value(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn inline_body(t: &InlineTable) -> Body {
    Body {
        comments: comment_lines(raw(t.trailing())),
        header_comment: None,
        entries: t
            .iter()
            .filter_map(|(k, _)| t.get_key_value(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// The entries of `[namespace]` / `[parent]`, however written: `[parent.eth1]` headers,
/// dotted keys, inline tables.
fn table_entries(item: &Item) -> Vec<(Key, Body)> {
    let mut out = Vec::new();
    let Some(t) = item.as_table_like() else {
        return out;
    };
    for (name, child) in t.iter() {
        let Some((key, _)) = t.get_key_value(name) else {
            continue;
        };
        let mut body = match child {
            Item::Table(ct) => table_body(ct),
            Item::Value(Value::InlineTable(it)) => inline_body(it),
            _ => continue,
        };
        // A comment on the line before `eth1 = { ... }` or `eth1.mtu = ...` belongs to
        // the table it opens.
        let mut comments = comment_lines(decor_prefix(key.leaf_decor()));
        comments.append(&mut body.comments);
        body.comments = comments;
        out.push((key.clone(), body));
    }
    out
}

/// The tables of `[[macvlan]]`, or of `macvlan = [{ ... }, ...]`.
fn array_entries(item: &Item) -> Vec<Body> {
    match item {
        Item::ArrayOfTables(a) => a.iter().map(table_body).collect(),
        Item::Value(Value::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Value::InlineTable(t) => {
                    let mut body = inline_body(t);
                    let mut comments = comment_lines(decor_prefix(v.decor()));
                    comments.append(&mut body.comments);
                    body.comments = comments;
                    Some(body)
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn raw(r: &RawString) -> &str {
    r.as_str().unwrap_or("")
}

fn decor_prefix(d: &toml_edit::Decor) -> &str {
    d.prefix().map_or("", raw)
}

fn decor_suffix(d: &toml_edit::Decor) -> &str {
    d.suffix().map_or("", raw)
}

/// The comment lines in decor text, trimmed, with one empty string where a blank line
/// separated two comments (a paragraph break kept) or a comment from what follows it (a
/// comment that stands apart, such as a file's header, stays apart).
fn comment_lines(decor: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut blank = false;
    for line in decor.split('\n') {
        let t = line.trim();
        if t.starts_with('#') {
            if blank && !out.is_empty() {
                out.push(String::new());
            }
            blank = false;
            out.push(t.to_owned());
        } else if t.is_empty() && !out.is_empty() {
            blank = true;
        }
    }
    // A blank line between the last comment and what follows: the end of the comment's
    // line, then at least one more newline.
    let apart = decor
        .rfind('#')
        .is_some_and(|i| decor[i..].matches('\n').count() >= 2);
    if apart && !out.is_empty() {
        out.push(String::new());
    }
    out
}

/// A comment after a value on its line, with the spacing written before it (at least one
/// space).
fn trailing_comment(suffix: &str) -> Option<String> {
    let i = suffix.find('#')?;
    let before = &suffix[..i];
    if before.contains('\n') {
        return None;
    }
    let space = if before.is_empty() { " " } else { before };
    Some(format!(
        "{}{}",
        space.replace('\t', " "),
        suffix[i..].lines().next().unwrap_or("").trim_end()
    ))
}

/// The comment on the first line of decor text, when it sits on the line of what came
/// before (`"a", # about a` puts the comment into the next entry's prefix).
fn same_line_comment(prefix: &str) -> (Option<String>, &str) {
    match prefix.find('#') {
        Some(i) if !prefix[..i].contains('\n') => {
            let end = prefix[i..].find('\n').map_or(prefix.len(), |j| i + j);
            (trailing_comment(&prefix[..end]), &prefix[end..])
        }
        _ => (None, prefix),
    }
}

#[derive(Default)]
struct Writer {
    out: String,
    /// The last line written is a `[namespace.*]` header (such headers hold no keys, and
    /// a run of them is written without blank lines, as the format's example does).
    after_namespace: bool,
}

impl Writer {
    fn comments(&mut self, decor: &str) {
        self.lines(&comment_lines(decor));
    }

    fn lines(&mut self, lines: &[String]) {
        for c in lines {
            self.out.push_str(c);
            self.out.push('\n');
        }
    }

    /// Comments with no table left to attach to, as their own paragraph.
    fn comments_block(&mut self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        self.after_namespace = false;
        self.blank();
        for c in lines {
            self.out.push_str(c);
            self.out.push('\n');
        }
    }

    fn blank(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn header(&mut self, header: &str, extra: &[String], body: &Body) {
        let namespace = header.starts_with("[namespace.");
        let comments = !extra.is_empty() || !body.comments.is_empty();
        if !(namespace && self.after_namespace && !comments) {
            self.blank();
        }
        self.after_namespace = namespace && body.entries.is_empty();
        for c in extra.iter().chain(&body.comments) {
            self.out.push_str(c);
            self.out.push('\n');
        }
        self.out.push_str(header);
        if let Some(c) = &body.header_comment {
            self.out.push_str(c);
        }
        self.out.push('\n');
    }

    fn body(&mut self, body: &Body, order: &[&str]) {
        for (k, item) in sorted(&body.entries, order) {
            self.comments(decor_prefix(k.leaf_decor()));
            let nested = match k.get() {
                "routes" => &ROUTE_KEYS[..],
                _ => &[],
            };
            self.entry(k, item, nested);
        }
    }

    /// `key = value` with its comments; `order` is the key order of inline tables in it.
    fn entry(&mut self, k: &Key, item: &Item, order: &[&str]) {
        let mut hoisted = Vec::new();
        let (text, suffix) = match item {
            Item::Value(v) => (value(v, order, &mut hoisted), decor_suffix(v.decor())),
            Item::Table(t) => (inline(&table_body(t), order, &mut hoisted), ""),
            Item::ArrayOfTables(a) => (tables_array(a, order, &mut hoisted), ""),
            Item::None => return,
        };
        self.after_namespace = false;
        for c in hoisted {
            self.out.push_str(&c);
            self.out.push('\n');
        }
        let _ = write!(self.out, "{} = {text}", toml_key(k.get()));
        if let Some(c) = trailing_comment(suffix) {
            self.out.push_str(&c);
        }
        self.out.push('\n');
    }

    fn finish(mut self) -> String {
        while self.out.ends_with("\n\n") {
            self.out.pop();
        }
        self.out
    }
}

/// Entries in `order`, then any others in the order written.
fn sorted<'a>(entries: &'a [(Key, Item)], order: &[&str]) -> Vec<&'a (Key, Item)> {
    let mut v: Vec<&(Key, Item)> = entries.iter().collect();
    // Stable: keys outside `order` keep the order they were written in.
    v.sort_by_key(|(k, _)| {
        order
            .iter()
            .position(|o| *o == k.get())
            .unwrap_or(order.len())
    });
    v
}

/// A value on one line; comments inside inline tables are pushed to `hoisted` (they go on
/// the lines before the key).
fn value(v: &Value, order: &[&str], hoisted: &mut Vec<String>) -> String {
    match v {
        Value::String(s) => toml_string(s.value()),
        Value::Integer(i) => i.value().to_string(),
        Value::Boolean(b) => b.value().to_string(),
        Value::Array(a) => array(a, order, hoisted),
        Value::InlineTable(t) => inline(&inline_body(t), order, hoisted),
        // Not in a valid topology; written as it was, without its surrounding space.
        other => other.clone().decorated("", "").to_string(),
    }
}

fn inline(body: &Body, order: &[&str], hoisted: &mut Vec<String>) -> String {
    hoisted.extend(body.comments.iter().cloned());
    // `[[macvlan.routes]] # ...`: the header's own comment, now that there is no header.
    hoisted.extend(
        body.header_comment
            .iter()
            .map(|c| c.trim_start().to_owned()),
    );
    if body.entries.is_empty() {
        return "{}".into();
    }
    let parts: Vec<String> = sorted(&body.entries, order)
        .into_iter()
        .filter_map(|(k, item)| {
            hoisted.extend(comment_lines(decor_prefix(k.leaf_decor())));
            let text = match item {
                Item::Value(v) => {
                    hoisted.extend(comment_lines(decor_prefix(v.decor())));
                    hoisted.extend(comment_lines(decor_suffix(v.decor())));
                    value(v, &[], hoisted)
                }
                Item::Table(t) => inline(&table_body(t), &[], hoisted),
                Item::ArrayOfTables(a) => tables_array(a, &[], hoisted),
                Item::None => return None,
            };
            Some(format!("{} = {text}", toml_key(k.get())))
        })
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// `[[macvlan.routes]]`-style tables as an inline array.
fn tables_array(a: &ArrayOfTables, order: &[&str], hoisted: &mut Vec<String>) -> String {
    let items: Vec<String> = a
        .iter()
        .map(|t| inline(&table_body(t), order, hoisted))
        .collect();
    format!("[{}]", items.join(", "))
}

fn array(a: &toml_edit::Array, order: &[&str], hoisted: &mut Vec<String>) -> String {
    let has_comments = a
        .iter()
        .any(|v| decor_prefix(v.decor()).contains('#') || decor_suffix(v.decor()).contains('#'))
        || raw(a.trailing()).contains('#');
    if !has_comments {
        let items: Vec<String> = a.iter().map(|v| value(v, order, hoisted)).collect();
        return format!("[{}]", items.join(", "));
    }
    // One entry per line, each with the comments before it; a comment written after an
    // entry's comma stays on that entry's line.
    // The comment on the line of `[` (`addresses = [ # ...`) stays there.
    let mut out = String::from("[");
    for v in a.iter() {
        let (same, rest) = same_line_comment(decor_prefix(v.decor()));
        if let Some(c) = same {
            out.push_str(&c);
        }
        out.push('\n');
        for c in comment_lines(rest) {
            if c.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "    {c}");
            }
        }
        let _ = write!(out, "    {},", value(v, order, hoisted));
        if let Some(c) = trailing_comment(decor_suffix(v.decor())) {
            out.push_str(&c);
        }
    }
    let (same, rest) = same_line_comment(raw(a.trailing()));
    if let Some(c) = same {
        out.push_str(&c);
    }
    out.push('\n');
    for c in comment_lines(rest) {
        if !c.is_empty() {
            let _ = writeln!(out, "    {c}");
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        let out = format(text).unwrap();
        assert_eq!(format(&out).unwrap(), out, "not idempotent:\n{out}");
        out
    }

    #[test]
    fn keys_go_in_the_example_order_and_values_are_normalized() {
        let text = "[[macvlan]]\nup = true\nparent = 'eth1'\nname   =   \"mv0\"\nmtu = 0x5dc\n\n\n[parent.eth1]\n";
        assert_eq!(
            fmt(text),
            "[parent.eth1]\n\n[[macvlan]]\nname = \"mv0\"\nparent = \"eth1\"\nmtu = 1500\nup = true\n"
        );
    }

    #[test]
    fn inline_and_dotted_forms_become_headers() {
        let text = "name = \"lab\"\nnamespace = { red = {} }\nparent.eth1.mtu = 9000\nmacvlan = [{ name = \"a\", parent = \"eth1\", routes = [{ via = \"10.0.0.1\", to = \"default\" }], addresses = [ \"10.0.0.2/24\" ,\n \"fd00::2/64\" ] }]\n";
        assert_eq!(
            fmt(text),
            "name = \"lab\"\n\n[namespace.red]\n\n[parent.eth1]\nmtu = 9000\n\n[[macvlan]]\nname = \"a\"\nparent = \"eth1\"\naddresses = [\"10.0.0.2/24\", \"fd00::2/64\"]\nroutes = [{ to = \"default\", via = \"10.0.0.1\" }]\n"
        );
    }

    #[test]
    fn comments_stay_with_what_follows_them() {
        let text = "# the lab\n\n# owner\nname = \"lab\"   # trailing\n\n[[macvlan]] # first\n# the name\nname = \"a\"\nparent = \"eth1\"\n\n# parents\n[parent.eth1]\nmtu = 1500 # jumbo later\n# the end\n";
        let out = fmt(text);
        assert_eq!(
            out,
            "# the lab\n\n# owner\nname = \"lab\"   # trailing\n\n# parents\n[parent.eth1]\nmtu = 1500 # jumbo later\n\n[[macvlan]] # first\n# the name\nname = \"a\"\nparent = \"eth1\"\n\n# the end\n"
        );
    }

    #[test]
    fn arrays_with_comments_go_one_entry_per_line() {
        let text = "[parent.eth1]\n[[macvlan]]\nname = \"a\"\nparent = \"eth1\"\nmode = \"source\"\nsource-macs = [\n  \"02:00:00:00:00:aa\", # printer\n  # the NAS\n  \"02:00:00:00:00:bb\"\n]\n";
        assert_eq!(
            fmt(text),
            "[parent.eth1]\n\n[[macvlan]]\nname = \"a\"\nparent = \"eth1\"\nmode = \"source\"\nsource-macs = [\n    \"02:00:00:00:00:aa\", # printer\n    # the NAS\n    \"02:00:00:00:00:bb\",\n]\n"
        );
    }

    #[test]
    fn comments_on_brackets_and_nested_headers_are_kept() {
        let text = "[parent.eth1]\n[[macvlan]]\nname = \"a\"\nparent = \"eth1\"\naddresses = [ # first\n  \"10.0.0.2/24\",\n]\n[[macvlan.routes]] # the route\nto = \"10.9.0.0/16\"\nvia = \"10.0.0.3\"  # its gateway\n";
        assert_eq!(
            fmt(text),
            "[parent.eth1]\n\n[[macvlan]]\nname = \"a\"\nparent = \"eth1\"\naddresses = [ # first\n    \"10.0.0.2/24\",\n]\n# the route\n# its gateway\nroutes = [{ to = \"10.9.0.0/16\", via = \"10.0.0.3\" }]\n"
        );
    }

    #[test]
    fn keys_and_strings_are_quoted_as_toml_needs() {
        let text =
            "[parent.'eth1.10']\ncreate = 'vlan'\nlink = \"eth1\"\nvlan-id = 10\n[parent.eth1]\n";
        assert_eq!(
            fmt(text),
            "[parent.\"eth1.10\"]\ncreate = \"vlan\"\nlink = \"eth1\"\nvlan-id = 10\n\n[parent.eth1]\n"
        );
    }
}
