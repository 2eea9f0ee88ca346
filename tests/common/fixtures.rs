//! Values from text for tests: names, MACs, prefixes, routes and link references the test
//! knows to be valid (one that is not is a bug in the test, and panics naming it).

use mvtopo::live::LinkRef;
use mvtopo::model::Route;
use mvtopo::names::{Cidr, LinkName, MacAddr, NsName};

pub fn ln(s: &str) -> LinkName {
    LinkName::new(s).unwrap_or_else(|e| panic!("link name {s:?}: {e:?}"))
}

pub fn ns(s: &str) -> NsName {
    NsName::new(s).unwrap_or_else(|e| panic!("namespace name {s:?}: {e:?}"))
}

pub fn mac(s: &str) -> MacAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("MAC address {s:?}: {e:?}"))
}

pub fn cidr(s: &str) -> Cidr {
    s.parse().unwrap_or_else(|e| panic!("prefix {s:?}: {e:?}"))
}

/// A route to `to` ("default" takes the family of `via`) through `via`.
pub fn route(to: &str, via: Option<&str>) -> Route {
    let via = via.map(|v| v.parse().unwrap_or_else(|e| panic!("gateway {v:?}: {e:?}")));
    let to = match (to, &via) {
        ("default", Some(v)) => Cidr::default_for(v),
        ("default", None) => panic!("a default route needs a gateway"),
        _ => cidr(to),
    };
    Route { to, via }
}

/// Link `name` in `namespace` (`None`: the namespace the backend is rooted at).
pub fn at(namespace: Option<&str>, name: &str) -> LinkRef {
    LinkRef {
        namespace: namespace.map(ns),
        name: ln(name),
    }
}
