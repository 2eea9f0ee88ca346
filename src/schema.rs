//! The JSON Schema (draft 2020-12) of the topology file, for editors (taplo, Even Better
//! TOML): its keys are the loader's own key lists (`load::raw`), and a test proves that every
//! key described here is one the loader reads, and the other way round.
//!
//! The schema says what a single file can say about itself: keys, types, enums, ranges,
//! the shape of names and MACs, and which keys go together. What needs more than one value
//! (duplicate names, an MTU above the parent's, a gateway outside every address) is left to
//! `mvtopo check`.

use serde_json::{Value, json};

use crate::load::raw::{MACVLAN_KEYS, PARENT_KEYS, ROUTE_KEYS, TOP_KEYS};
use crate::names::{MTU_MAX, MTU_MIN, MacvlanFlag, MacvlanKind, Mode};

/// A name the kernel accepts for an interface: 1 to 15 bytes (the schema can only count
/// characters), no '/', ':' or whitespace, not "." or "..".
fn interface_name(description: &str) -> Value {
    json!({
        "type": "string",
        "description": description,
        "minLength": 1,
        "maxLength": 15,
        "pattern": "^[^/:\\s]+$",
        "not": {"enum": [".", ".."]},
    })
}

fn namespace_name(description: &str) -> Value {
    json!({
        "type": "string",
        "description": description,
        "minLength": 1,
        "pattern": "^[^/]+$",
        "not": {"enum": [".", ".."]},
    })
}

/// A unicast MAC (the first octet even), not all zeros, lowercase or uppercase hex.
fn mac(description: &str) -> Value {
    json!({
        "type": "string",
        "description": description,
        "pattern": "^[0-9A-Fa-f][02468AaCcEe](:[0-9A-Fa-f]{2}){5}$",
        "not": {"pattern": "^00(:00){5}$"},
    })
}

fn mtu(description: &str) -> Value {
    json!({"type": "integer", "description": description, "minimum": MTU_MIN, "maximum": MTU_MAX})
}

/// Each key's schema. Keys are looked up by the loader's lists, so a key the loader gains
/// without a schema here fails the sync test rather than going undescribed.
fn parent_key(key: &str) -> Value {
    match key {
        "namespace" => namespace_name(
            "the [namespace.*] the parent lives in (an existing interface there, or one created there); default: the namespace mvtopo runs in",
        ),
        "create" => json!({
            "description": "a lab parent mvtopo creates and destroys; without it the parent is an existing NIC",
            "enum": crate::resolve::CREATE_KINDS,
        }),
        "peer" => interface_name(
            "veth only: the peer end's name (default: the parent's name with \"p\" appended)",
        ),
        "peer-namespace" => namespace_name("veth only: the namespace the peer end goes into"),
        "link" => interface_name("vlan only: the [parent.*] this 802.1Q sub-interface sits on"),
        "vlan-id" => {
            json!({"type": "integer", "description": "vlan only: the 802.1Q VLAN id", "minimum": 1, "maximum": 4094})
        }
        "mtu" => mtu("the parent's MTU, set by apply"),
        "ports" => json!({
            "type": "array",
            "description": "bridge only: the file's veths (a [parent.*] with create = \"veth\", or its peer) enslaved to this bridge",
            "items": interface_name("a veth end"),
        }),
        _ => json!({}),
    }
}

fn route_key(key: &str) -> Value {
    match key {
        "to" => {
            json!({"type": "string", "description": "destination: a prefix such as \"10.1.0.0/16\", an address, or \"default\"", "minLength": 1})
        }
        "via" => {
            json!({"type": "string", "description": "the gateway (no via: an on-link route)", "minLength": 1})
        }
        "metric" => json!({
            "type": "integer",
            "description": "the route's metric (priority), part of its identity (default: the kernel's, 0 for IPv4, 1024 for IPv6)",
            "minimum": 0,
            "maximum": 4294967295u64,
        }),
        _ => json!({}),
    }
}

fn macvlan_key(key: &str) -> Value {
    match key {
        "name" => interface_name("the interface name; identity is (namespace, name)"),
        "parent" => interface_name("a [parent.*] of this file"),
        "namespace" => {
            namespace_name("a [namespace.*] of this file (default: the namespace mvtopo runs in)")
        }
        "mode" => json!({
            "description": "the macvlan mode (default vepa)",
            "enum": Mode::ALL.iter().map(Mode::as_str).collect::<Vec<_>>(),
        }),
        "mac" => mac("the MAC address (default: the kernel picks one, and it is kept)"),
        "mtu" => mtu("at most the parent's MTU"),
        "up" => json!({"type": "boolean", "description": "administratively up (default true)"}),
        "addresses" => json!({
            "type": "array",
            "description": "addresses with prefix length, e.g. \"10.0.0.2/24\", \"fd00::2/64\"",
            "items": {"type": "string", "minLength": 1},
        }),
        "routes" => json!({
            "type": "array",
            "description": "routes out of this macvlan, e.g. { to = \"default\", via = \"10.0.0.1\" }",
            "items": {"$ref": "#/$defs/route"},
        }),
        "source-macs" => json!({
            "type": "array",
            "description": "mode = \"source\" only: the MACs whose frames this macvlan receives",
            "minItems": 1,
            "items": mac("a source MAC"),
        }),
        "kind" => json!({
            "description": "macvlan (default), or macvtap: the same link plus a tap character device /dev/tapN for a VM (QEMU, libvirt)",
            "enum": MacvlanKind::ALL.iter().map(MacvlanKind::as_str).collect::<Vec<_>>(),
        }),
        "flags" => json!({
            "type": "array",
            "description": "macvlan flags: \"nopromisc\" (passthru only: leave the parent's promiscuous mode alone), \"nodst\" (source only: receive only frames from source-macs)",
            "uniqueItems": true,
            "items": {"enum": MacvlanFlag::ALL.iter().map(MacvlanFlag::as_str).collect::<Vec<_>>()},
        }),
        "bcqueuelen" => json!({
            "type": "integer",
            "description": "the broadcast/multicast queue length this macvlan asks for (the kernel's default 1000; the parent uses the largest asked for)",
            "minimum": 0,
            "maximum": u32::MAX,
        }),
        "bc-cutoff" => json!({
            "type": "integer",
            "description": "the parent's broadcast cutoff (IFLA_MACVLAN_BC_CUTOFF, Linux 6.4; default 1; negative: no broadcast queue); one value per parent",
            "minimum": i32::MIN,
            "maximum": i32::MAX,
        }),
        _ => json!({}),
    }
}

fn object(keys: &[&str], schema: fn(&str) -> Value) -> serde_json::Map<String, Value> {
    keys.iter().map(|k| ((*k).to_owned(), schema(k))).collect()
}

/// `{"properties": {key: false, ...}}` unless `key = value` holds: keys that only apply to
/// one value of another key.
fn only_with(key: &str, value: &str, keys: &[&str]) -> Value {
    let forbidden: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| ((*k).to_owned(), Value::Bool(false)))
        .collect();
    json!({
        "if": {"properties": {key: {"const": value}}, "required": [key]},
        "else": {"properties": forbidden},
    })
}

/// A macvlan flag only in its own mode.
fn flag_only_in(flag: MacvlanFlag) -> Value {
    json!({
        "if": {"properties": {"flags": {"contains": {"const": flag.as_str()}}}, "required": ["flags"]},
        "then": {"properties": {"mode": {"const": flag.mode().as_str()}}, "required": ["mode"]},
    })
}

/// The schema of a top-level key.
fn top_key(key: &str) -> Value {
    match key {
        "name" => json!({
            "type": "string",
            "description": "the topology, the owner of everything apply creates (default: the file's stem)",
            "minLength": 1,
            "maxLength": 64,
            "pattern": "^[A-Za-z0-9._-]+$",
        }),
        "namespace" => json!({
            "type": "object",
            "description": "named network namespaces, one [namespace.NAME] each, created when missing",
            "propertyNames": namespace_name("a namespace name"),
            "additionalProperties": {"type": "object", "additionalProperties": false},
        }),
        "parent" => json!({
            "type": "object",
            "description": "parents, one [parent.NAME] each: an existing NIC, or a lab parent with create",
            "propertyNames": interface_name("a parent's interface name"),
            "additionalProperties": {"$ref": "#/$defs/parent"},
        }),
        "macvlan" => json!({
            "type": "array",
            "description": "the macvlans, one [[macvlan]] each",
            "items": {"$ref": "#/$defs/macvlan"},
        }),
        _ => json!({}),
    }
}

/// The schema `mvtopo schema` prints.
pub fn schema() -> Value {
    let mut parent = json!({
        "type": "object",
        "additionalProperties": false,
        "allOf": [
            only_with("create", "veth", &["peer", "peer-namespace"]),
            only_with("create", "vlan", &["link", "vlan-id"]),
            only_with("create", "bridge", &["ports"]),
            {
                "if": {"properties": {"create": {"const": "vlan"}}, "required": ["create"]},
                "then": {"required": ["link", "vlan-id"]},
            },
        ],
    });
    parent["properties"] = object(&PARENT_KEYS, parent_key).into();
    let mut macvlan = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "parent"],
        "allOf": [
            only_with("mode", "source", &["source-macs"]),
            {
                "if": {"properties": {"mode": {"const": "source"}}, "required": ["mode"]},
                "then": {"required": ["source-macs"]},
            },
            {
                "if": {"properties": {"up": {"const": false}}, "required": ["up"]},
                "then": {"properties": {"routes": {"maxItems": 0}}},
            },
            flag_only_in(MacvlanFlag::Nopromisc),
            flag_only_in(MacvlanFlag::Nodst),
        ],
    });
    macvlan["properties"] = object(&MACVLAN_KEYS, macvlan_key).into();
    let mut route = json!({"type": "object", "additionalProperties": false, "required": ["to"]});
    route["properties"] = object(&ROUTE_KEYS, route_key).into();

    let mut top = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mvtopo topology",
        "description": "A host's macvlans, their parents and named network namespaces (`mvtopo check` checks what a schema cannot: references, duplicates, MTUs against parents).",
        "type": "object",
        "additionalProperties": false,
        "$defs": {"parent": parent, "macvlan": macvlan, "route": route},
    });
    top["properties"] = TOP_KEYS
        .iter()
        .map(|k| ((*k).to_owned(), top_key(k)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v["properties"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    }

    fn sorted(k: &[&str]) -> Vec<String> {
        let mut k: Vec<String> = k.iter().map(|s| (*s).to_owned()).collect();
        k.sort();
        k
    }

    /// Every key the loader reads has a described schema here, and the schema has no key
    /// the loader does not read.
    #[test]
    fn keys_are_the_loaders() {
        let s = schema();
        assert_eq!(keys(&s), sorted(&TOP_KEYS));
        assert_eq!(keys(&s["$defs"]["parent"]), sorted(&PARENT_KEYS));
        assert_eq!(keys(&s["$defs"]["macvlan"]), sorted(&MACVLAN_KEYS));
        assert_eq!(keys(&s["$defs"]["route"]), sorted(&ROUTE_KEYS));
        let all = [
            &s,
            &s["$defs"]["parent"],
            &s["$defs"]["macvlan"],
            &s["$defs"]["route"],
        ];
        for part in all {
            for (k, v) in part["properties"].as_object().unwrap() {
                assert!(
                    v.get("description").is_some_and(Value::is_string),
                    "{k} has no description"
                );
                assert_eq!(part["additionalProperties"], false, "{k}: closed objects");
            }
        }
    }
}
