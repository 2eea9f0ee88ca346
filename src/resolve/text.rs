//! Small text helpers for diagnostics: suggested replacement names and phrasing.

use crate::names::{MAX_LINK_NAME, NsName};

/// "namespace \"red\"" or "mvtopo's own namespace".
pub(crate) fn ns_phrase(ns: Option<&NsName>) -> String {
    match ns {
        Some(n) => format!("namespace {:?}", n.as_str()),
        None => "mvtopo's own namespace".to_owned(),
    }
}

/// A valid interface name close to `s`: bad characters replaced by '-' (a "%d" template by
/// "0"), cut to 15 bytes.
pub(crate) fn shorten_link_name(s: &str) -> String {
    let s = s.replace("%d", "0");
    let mut out = String::new();
    for c in s.chars() {
        let c = if c == '/' || c == ':' || c == '%' || c.is_whitespace() || c == '\0' {
            '-'
        } else {
            c
        };
        if out.len() + c.len_utf8() > MAX_LINK_NAME {
            break;
        }
        out.push(c);
    }
    if out.is_empty() || out == "." || out == ".." {
        return "eth0".to_owned();
    }
    out
}

/// A valid topology name close to `s`: only [A-Za-z0-9._-], at most 64 bytes.
pub(crate) fn shorten_topology_name(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let out = out.trim_matches('-');
    if out.is_empty() {
        "lab".to_owned()
    } else {
        out.to_owned()
    }
}

/// A peer name for veth `name` that fits: the name cut short enough to end in "p".
pub(crate) fn short_peer_name(name: &str) -> String {
    let mut base = shorten_link_name(name);
    while base.len() > MAX_LINK_NAME - 1 {
        base.pop();
    }
    format!("{base}p")
}

/// A valid namespace name close to `s`.
pub(crate) fn plain_file_name(s: &str) -> String {
    let out = s.replace(['/', '\0'], "-");
    if out.is_empty() || out == "." || out == ".." {
        "red".to_owned()
    } else {
        out
    }
}

/// A key as it would be written in a TOML header: bare if it can be, quoted otherwise.
pub(crate) fn toml_key(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        s.to_owned()
    } else {
        format!("{s:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::LinkName;

    #[test]
    fn suggested_link_names_are_valid() {
        for s in [
            "mv-red-uplink-0001",
            "a/b:c d",
            "",
            "..",
            "ééééééééé",
            "x",
            "mv%d",
            "%",
        ] {
            let out = shorten_link_name(s);
            assert!(LinkName::new(&out).is_ok(), "{s:?} -> {out:?}");
            assert!(!out.contains('%'), "{s:?} -> {out:?}");
        }
        assert_eq!(shorten_link_name("mv%d"), "mv0");
        assert_eq!(shorten_link_name("a%b"), "a-b");
        assert_eq!(shorten_link_name("mv-red-uplink-0001"), "mv-red-uplink-0");
        assert_eq!(shorten_link_name("a:b"), "a-b");
    }

    #[test]
    fn short_peer_names_fit_and_differ_from_the_parent() {
        assert_eq!(short_peer_name("lab-uplink-0001"), "lab-uplink-000p");
        assert_eq!(short_peer_name("lab0"), "lab0p");
        assert!(LinkName::new(&short_peer_name("ééééééééé")).is_ok());
    }

    #[test]
    fn keys_are_quoted_when_needed() {
        assert_eq!(toml_key("eth1"), "eth1");
        assert_eq!(toml_key("eth1.10"), "\"eth1.10\"");
        assert_eq!(toml_key(""), "\"\"");
    }

    #[test]
    fn topology_names_are_sanitised() {
        assert_eq!(shorten_topology_name("my lab"), "my-lab");
        assert_eq!(shorten_topology_name("my lab!"), "my-lab");
        assert_eq!(shorten_topology_name(""), "lab");
        assert_eq!(shorten_topology_name(&"a".repeat(80)).len(), 64);
    }
}
