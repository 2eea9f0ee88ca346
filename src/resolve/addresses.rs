//! Addresses and routes of a macvlan: CIDRs, gateways reachable from an address, and
//! default routes.

use std::net::IpAddr;

use super::Resolver;
use crate::code::Code;
use crate::load::problem::{Problem, one_of};
use crate::load::raw::{At, RawMacvlan, RawRoute};
use crate::model::Route;
use crate::names::{Cidr, ValueError, is_ipv6_link_local};

impl<'r> Resolver<'r> {
    pub(super) fn addresses(&mut self, m: &RawMacvlan) -> (Vec<At<Cidr>>, bool) {
        let Some(list) = &m.addresses else {
            return (Vec::new(), !m.broken.contains(&"addresses"));
        };
        let mut ok = true;
        let mut out = Vec::with_capacity(list.value.len());
        for at in &list.value {
            match self.cidr(at, "address") {
                Some(c) => out.push(At::new(c, at.span.clone())),
                None => ok = false,
            }
        }
        (out, ok && !m.broken.contains(&"addresses"))
    }

    pub(super) fn cidr(&mut self, at: &At<String>, what: &str) -> Option<Cidr> {
        match at.value.parse::<Cidr>() {
            Ok(c) => Some(c),
            Err(e) => {
                let (message, help) = match e {
                    ValueError::PrefixTooLong(p) => (
                        format!("prefix length /{p} is too long in {what} {:?}", at.value),
                        format!(
                            "use at most /{}",
                            if at.value.contains(':') { 128 } else { 32 }
                        ),
                    ),
                    _ => match at.value.parse::<IpAddr>() {
                        Ok(ip) => (
                            format!("{what} {:?} has no prefix length", at.value),
                            format!(
                                "add the prefix length, e.g. \"{ip}/{}\"",
                                if ip.is_ipv4() { 24 } else { 64 }
                            ),
                        ),
                        Err(_) => (
                            format!(
                                "{what} {:?} is not an IP address with prefix length",
                                at.value
                            ),
                            "write e.g. \"10.0.0.2/24\" or \"fd00::2/64\"".into(),
                        ),
                    },
                };
                self.push(Problem::new(
                    Code::CheckCidr,
                    message,
                    at.span.clone(),
                    "malformed address".into(),
                    Some(help),
                ));
                None
            }
        }
    }

    pub(super) fn routes(
        &mut self,
        m: &RawMacvlan,
        addresses: Option<&[At<Cidr>]>,
    ) -> Option<Vec<Route>> {
        let Some(list) = &m.more().routes else {
            return Some(Vec::new());
        };
        let mut ok = !m.broken.contains(&"routes");
        let mut out = Vec::with_capacity(list.value.len());
        for r in &list.value {
            match self.route(r, addresses) {
                Some(route) => out.push(route),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub(super) fn route(&mut self, r: &RawRoute, addresses: Option<&[At<Cidr>]>) -> Option<Route> {
        let via = match &r.via {
            None => Some(None),
            Some(at) => self.gateway(at).map(Some),
        };
        let to_at = match &r.to {
            Some(at) => at,
            None => {
                if !r.broken.contains(&"to") {
                    self.missing(
                        r.span.clone(),
                        "this route",
                        "to",
                        "to = \"default\" or a network such as to = \"10.1.0.0/16\"".into(),
                    );
                }
                return None;
            }
        };
        let metric = self.metric(r);
        let via = via?;
        let to = self.destination(r, to_at, via)?;
        if let (Some(gw), Some(via_at)) = (via, &r.via) {
            self.gateway_fits(gw, via_at, to, addresses)?;
        }
        Some(Route::new(to, via, metric?))
    }

    fn gateway(&mut self, at: &At<String>) -> Option<IpAddr> {
        match at.value.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                let help = match at.value.parse::<Cidr>() {
                    Ok(c) => format!(
                        "write the gateway without prefix length: via = \"{}\"",
                        c.addr()
                    ),
                    Err(_) => "write the gateway's address, e.g. via = \"10.0.0.1\"".into(),
                };
                self.push(Problem::new(
                    Code::CheckRoute,
                    format!("gateway {:?} is not an IP address", at.value),
                    at.span.clone(),
                    "not an IP address".into(),
                    Some(help),
                ));
                None
            }
        }
    }

    /// `to`: `default` (of the gateway's family) or a network address.
    fn destination(
        &mut self,
        r: &RawRoute,
        to_at: &At<String>,
        via: Option<IpAddr>,
    ) -> Option<Cidr> {
        if to_at.value == "default" {
            let Some(gw) = via else {
                if r.broken.contains(&"via") {
                    return None;
                }
                self.push(Problem::new(
                    Code::CheckRoute,
                    "a default route needs a gateway".into(),
                    r.span.clone(),
                    "no `via`".into(),
                    Some("add the router's address on this link, e.g. via = \"10.0.0.1\", or write to = \"0.0.0.0/0\" (or \"::/0\") for a default route onto the link".into()),
                ));
                return None;
            };
            Some(Cidr::default_for(&gw))
        } else {
            let to = self.cidr(to_at, "route destination")?;
            if to.network() != to {
                self.push(Problem::new(
                    Code::CheckRoute,
                    format!("route destination {to} has host bits set"),
                    to_at.span.clone(),
                    "not a network address".into(),
                    Some(format!("write the network, e.g. to = \"{}\"", to.network())),
                ));
                return None;
            }
            Some(to)
        }
    }

    /// A gateway of the destination's family, reachable through the macvlan's addresses
    /// (`None`, reported, when it is not, or when the addresses are unknown).
    fn gateway_fits(
        &mut self,
        gw: IpAddr,
        via_at: &At<String>,
        to: Cidr,
        addresses: Option<&[At<Cidr>]>,
    ) -> Option<()> {
        if gw.is_ipv4() != to.is_ipv4() {
            self.push(Problem::new(
                Code::CheckRoute,
                format!(
                    "route to {to} (IPv{}) has a gateway of the other family",
                    if to.is_ipv4() { 4 } else { 6 }
                ),
                via_at.span.clone(),
                format!("an IPv{} address", if gw.is_ipv4() { 4 } else { 6 }),
                Some(format!(
                    "use an IPv{} gateway for this destination",
                    if to.is_ipv4() { 4 } else { 6 }
                )),
            ));
            return None;
        }
        let link_local = is_ipv6_link_local(&gw);
        // An IPv6 link-local gateway is reachable on any link; everything else must be
        // inside one of the macvlan's own prefixes, or the kernel refuses the route.
        // Unknown addresses (already reported): reachability cannot be judged.
        let addresses = addresses?;
        if !link_local && !addresses.iter().any(|a| a.value.contains(&gw)) {
            let same: Vec<String> = addresses
                .iter()
                .filter(|a| a.value.is_ipv4() == gw.is_ipv4())
                .map(|a| a.value.to_string())
                .collect();
            let help = if same.is_empty() {
                format!(
                    "add an address in {gw}'s network to this macvlan's addresses, or route onto the link without `via`"
                )
            } else {
                format!(
                    "use a gateway inside {}, or add an address in {gw}'s network to addresses",
                    one_of(same.iter().map(String::as_str))
                )
            };
            self.push(Problem::new(
                Code::CheckGateway,
                format!("gateway {gw} is not reachable through this macvlan's addresses"),
                via_at.span.clone(),
                "outside every address prefix of this macvlan".into(),
                Some(help),
            ));
            return None;
        }
        Some(())
    }

    /// `metric`: RTA_PRIORITY is 32 bits. `Some(None)`: not given (the kernel's default).
    fn metric(&mut self, r: &RawRoute) -> Option<Option<u32>> {
        let Some(at) = &r.metric else {
            return (!r.broken.contains(&"metric")).then_some(None);
        };
        match u32::try_from(at.value) {
            Ok(m) => Some(Some(m)),
            Err(_) => {
                self.push(Problem::new(
                    Code::CheckRoute,
                    format!("route metric {} is outside 0..=4294967295", at.value),
                    at.span.clone(),
                    "not a 32-bit metric".into(),
                    Some("write a metric from 0 to 4294967295, e.g. metric = 100".into()),
                ));
                None
            }
        }
    }
}
