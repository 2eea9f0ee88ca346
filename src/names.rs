//! Identities and small value types, each checked once at construction.
//!
//! `LinkName`, `NsName`, `LinkRef` (where a link is), `MacAddr`, `Cidr`, `Mode`, `MacvlanKind` and `MacvlanFlag` are
//! plain values shared by the topology model, the live state and the plan. Their `FromStr`
//! enforces the kernel's own rules, so a value of these types is always something the
//! kernel would accept.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a name or value was rejected. The message is lowercase and says what is wrong;
/// the loader adds the span and the "write this instead" help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("name is empty")]
    Empty,
    #[error("interface name is {0} bytes long; the kernel allows at most 15")]
    TooLong(usize),
    #[error("name contains {0:?}, which the kernel does not allow here")]
    BadChar(char),
    #[error("\".\" and \"..\" are not valid names")]
    Dot,
    #[error("not a MAC address (expected six hex octets like 02:00:00:00:00:01)")]
    MacSyntax,
    #[error("not an address with prefix length (expected e.g. 10.0.0.2/24 or fd00::2/64)")]
    CidrSyntax,
    #[error("prefix length {0} is too long for this address family")]
    PrefixTooLong(u8),
    #[error("unknown mode {0:?} (expected vepa, bridge, private, passthru or source)")]
    Mode(String),
    #[error("unknown macvlan flag {0:?} (expected nopromisc or nodst)")]
    Flag(String),
}

/// An interface name as the kernel's `dev_valid_name()` accepts it: 1..=15 bytes, not "." or
/// "..", and no '/', ':' or whitespace.
///
/// Held inline, NUL-padded (a name has no NUL): a plan of 100,000 macvlans copies names
/// millions of times (keys, references, steps), and a copy then allocates nothing. The
/// padded bytes order and compare as the text does, since a shorter name is padded with
/// bytes smaller than any it could hold.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LinkName([u8; MAX_LINK_NAME]);

/// IFNAMSIZ is 16 including the terminating NUL.
pub const MAX_LINK_NAME: usize = 15;

impl LinkName {
    pub fn new(s: &str) -> Result<Self, ValueError> {
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        if s == "." || s == ".." {
            return Err(ValueError::Dot);
        }
        if let Some(c) = s
            .chars()
            .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || *c == '\0')
        {
            return Err(ValueError::BadChar(c));
        }
        if s.len() > MAX_LINK_NAME {
            return Err(ValueError::TooLong(s.len()));
        }
        let mut bytes = [0; MAX_LINK_NAME];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Ok(LinkName(bytes))
    }
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|b| *b == 0).unwrap_or(MAX_LINK_NAME);
        // The bytes are a whole `str` (`new`), so this never falls back.
        std::str::from_utf8(&self.0[..len]).unwrap_or_default()
    }
}

impl fmt::Debug for LinkName {
    // As the String it once was: LinkName("eth0").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LinkName").field(&self.as_str()).finish()
    }
}

/// A named network namespace: a plain file name under /run/netns.
///
/// Shared, not copied: every link reference in a namespace names it, and a clone is a
/// count, not an allocation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NsName(std::sync::Arc<str>);

impl NsName {
    pub fn new(s: &str) -> Result<Self, ValueError> {
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        if s == "." || s == ".." {
            return Err(ValueError::Dot);
        }
        if let Some(c) = s.chars().find(|c| *c == '/' || *c == '\0') {
            return Err(ValueError::BadChar(c));
        }
        Ok(NsName(s.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype {
    ($t:ident) => {
        impl TryFrom<String> for $t {
            type Error = ValueError;
            fn try_from(s: String) -> Result<Self, ValueError> {
                $t::new(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.as_str().to_owned()
            }
        }
        impl FromStr for $t {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                $t::new(s)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}
string_newtype!(LinkName);
string_newtype!(NsName);

/// An Ethernet address, written `02:00:00:00:00:01` (lowercase on output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Group bit set: multicast or broadcast, never valid as an interface address.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl FromStr for MacAddr {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in out.iter_mut() {
            let p = parts.next().ok_or(ValueError::MacSyntax)?;
            if p.len() != 2 {
                return Err(ValueError::MacSyntax);
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| ValueError::MacSyntax)?;
        }
        if parts.next().is_some() {
            return Err(ValueError::MacSyntax);
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl TryFrom<String> for MacAddr {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, ValueError> {
        s.parse()
    }
}
impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.to_string()
    }
}

/// An IP address with a prefix length, `10.0.0.2/24`. Host bits are kept: for an interface
/// address they are the address itself; for a route destination the resolver requires them
/// to be zero (the kernel refuses such a route).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// The smallest MTU the kernel accepts on an Ethernet link (ETH_MIN_MTU).
pub const MTU_MIN: u32 = 68;
/// The largest MTU a topology may give (IP_MAX_MTU).
pub const MTU_MAX: u32 = 65535;
/// The MTU the kernel gives a new veth or dummy made without one.
pub const DEFAULT_MTU: u32 = 1500;
/// The broadcast queue length a macvlan asks for when it is created without one
/// (MACVLAN_DEFAULT_BC_QUEUE_LEN).
pub const DEFAULT_BC_QUEUE_LEN: u32 = 1000;
/// A parent's broadcast cutoff until one is set; the kernel leaves it out of its dumps.
pub const DEFAULT_BC_CUTOFF: i32 = 1;

/// IPv6 link-local (fe80::/10): the kernel adds these addresses and routes itself, so
/// mvtopo never manages them, and such a gateway is reachable on any link.
pub fn is_ipv6_link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80)
}

impl Cidr {
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, ValueError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(ValueError::PrefixTooLong(prefix));
        }
        Ok(Cidr { addr, prefix })
    }
    /// 0.0.0.0/0 or ::/0 for the family of `like`.
    pub fn default_for(like: &IpAddr) -> Cidr {
        match like {
            IpAddr::V4(_) => Cidr {
                addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                prefix: 0,
            },
            IpAddr::V6(_) => Cidr {
                addr: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                prefix: 0,
            },
        }
    }
    pub fn is_default(&self) -> bool {
        self.prefix == 0 && self.addr.is_unspecified()
    }
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }
    /// The network: host bits cleared.
    pub fn network(&self) -> Cidr {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                IpAddr::V6((bits & mask).into())
            }
        };
        Cidr {
            addr,
            prefix: self.prefix,
        }
    }
    /// Whether `ip` lies in this prefix (same family only).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        Cidr {
            addr: *ip,
            prefix: self.prefix,
        }
        .network()
            == self.network()
    }
    /// IPv6 link-local (fe80::/10): the kernel adds these itself; they are never managed.
    pub fn is_link_local(&self) -> bool {
        match self.addr {
            IpAddr::V6(_) => is_ipv6_link_local(&self.addr),
            IpAddr::V4(a) => a.is_link_local(),
        }
    }
}

impl FromStr for Cidr {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let (a, p) = s.split_once('/').ok_or(ValueError::CidrSyntax)?;
        let addr: IpAddr = a.parse().map_err(|_| ValueError::CidrSyntax)?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValueError::CidrSyntax);
        }
        let prefix: u8 = p.parse().map_err(|_| ValueError::CidrSyntax)?;
        Cidr::new(addr, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for Cidr {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, ValueError> {
        s.parse()
    }
}
impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

/// The five macvlan modes (IFLA_MACVLAN_MODE). The kernel's default is vepa.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Vepa,
    Bridge,
    Private,
    Passthru,
    Source,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::Vepa,
        Mode::Bridge,
        Mode::Private,
        Mode::Passthru,
        Mode::Source,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Vepa => "vepa",
            Mode::Bridge => "bridge",
            Mode::Private => "private",
            Mode::Passthru => "passthru",
            Mode::Source => "source",
        }
    }
}

impl FromStr for Mode {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| ValueError::Mode(s.to_owned()))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a `[[macvlan]]` is made as (IFLA_INFO_KIND): a plain macvlan, or a macvtap, the
/// same driver in the same five modes plus a character device (`/dev/tapN`) through which
/// a VM's hypervisor (QEMU, libvirt's "direct" interfaces) reads and writes its frames.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanKind {
    #[default]
    Macvlan,
    Macvtap,
}

impl MacvlanKind {
    pub const ALL: [MacvlanKind; 2] = [MacvlanKind::Macvlan, MacvlanKind::Macvtap];
    pub fn as_str(&self) -> &'static str {
        match self {
            MacvlanKind::Macvlan => "macvlan",
            MacvlanKind::Macvtap => "macvtap",
        }
    }
    /// For `skip_serializing_if`: the default is left out of JSON.
    pub fn is_macvlan(&self) -> bool {
        *self == MacvlanKind::Macvlan
    }
}

impl fmt::Display for MacvlanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bit of IFLA_MACVLAN_FLAGS. Each means something in one mode only: the kernel stores
/// it in any mode and ignores it elsewhere, so `check` allows it only in its own mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanFlag {
    /// MACVLAN_FLAG_NOPROMISC: a passthru macvlan leaves its parent's promiscuous mode
    /// alone (the parent gets the macvlan's unicast filters instead).
    Nopromisc,
    /// MACVLAN_FLAG_NODST: a source macvlan receives only frames whose source MAC is on its
    /// list, not also those addressed to its own MAC.
    Nodst,
}

impl MacvlanFlag {
    pub const ALL: [MacvlanFlag; 2] = [MacvlanFlag::Nopromisc, MacvlanFlag::Nodst];
    pub fn as_str(&self) -> &'static str {
        match self {
            MacvlanFlag::Nopromisc => "nopromisc",
            MacvlanFlag::Nodst => "nodst",
        }
    }
    /// The bit in IFLA_MACVLAN_FLAGS (include/uapi/linux/if_link.h).
    pub fn bit(&self) -> u16 {
        match self {
            MacvlanFlag::Nopromisc => 1,
            MacvlanFlag::Nodst => 2,
        }
    }
    /// The one mode the flag means something in.
    pub fn mode(&self) -> Mode {
        match self {
            MacvlanFlag::Nopromisc => Mode::Passthru,
            MacvlanFlag::Nodst => Mode::Source,
        }
    }
    /// The flags set in `bits`, sorted; unknown bits are left out.
    pub fn from_bits(bits: u16) -> Vec<MacvlanFlag> {
        MacvlanFlag::ALL
            .into_iter()
            .filter(|f| bits & f.bit() != 0)
            .collect()
    }
    pub fn bits(flags: &[MacvlanFlag]) -> u16 {
        flags.iter().fold(0, |b, f| b | f.bit())
    }
}

impl FromStr for MacvlanFlag {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        MacvlanFlag::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| ValueError::Flag(s.to_owned()))
    }
}

impl fmt::Display for MacvlanFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a link is: its namespace (`None` = the tool's own) and its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NsName>,
    pub name: LinkName,
}

impl LinkRef {
    /// The link `name` in `namespace` (`None`: the namespace mvtopo runs in).
    pub fn new(namespace: Option<NsName>, name: LinkName) -> LinkRef {
        LinkRef { namespace, name }
    }

    /// The link `name` in the namespace mvtopo runs in.
    pub fn host(name: LinkName) -> LinkRef {
        LinkRef::new(None, name)
    }
}

impl fmt::Display for LinkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_follow_dev_valid_name() {
        assert!(LinkName::new("eth0").is_ok());
        assert!(LinkName::new("a23456789012345").is_ok());
        assert_eq!(
            LinkName::new("a234567890123456"),
            Err(ValueError::TooLong(16))
        );
        assert_eq!(LinkName::new("a/b"), Err(ValueError::BadChar('/')));
        assert_eq!(LinkName::new("a:b"), Err(ValueError::BadChar(':')));
        assert_eq!(LinkName::new("a b"), Err(ValueError::BadChar(' ')));
        assert_eq!(LinkName::new(".."), Err(ValueError::Dot));
        assert_eq!(LinkName::new(""), Err(ValueError::Empty));
    }

    #[test]
    fn ns_names_are_plain_file_names() {
        assert!(NsName::new("red").is_ok());
        assert!(NsName::new("a/b").is_err());
        assert!(NsName::new("..").is_err());
        assert!(NsName::new("").is_err());
    }

    #[test]
    fn macs_parse_and_print() {
        let m: MacAddr = "02:AA:00:00:00:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:aa:00:00:00:01");
        assert!(!m.is_multicast());
        assert!(
            "01:00:5e:00:00:01"
                .parse::<MacAddr>()
                .unwrap()
                .is_multicast()
        );
        assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:01:02".parse::<MacAddr>().is_err());
        assert!("2:00:00:00:00:01".parse::<MacAddr>().is_err());
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "10.0.0.2/24".parse().unwrap();
        assert_eq!(c.network().to_string(), "10.0.0.0/24");
        assert!(c.contains(&"10.0.0.1".parse().unwrap()));
        assert!(!c.contains(&"10.0.1.1".parse().unwrap()));
        assert!(!c.contains(&"fd00::1".parse().unwrap()));
        assert!("10.0.0.2/33".parse::<Cidr>().is_err());
        assert!("10.0.0.2".parse::<Cidr>().is_err());
        assert!("10.0.0.2/+1".parse::<Cidr>().is_err());
        let v6: Cidr = "fd00::2/64".parse().unwrap();
        assert!(v6.contains(&"fd00::ffff".parse().unwrap()));
        assert!("fe80::1/64".parse::<Cidr>().unwrap().is_link_local());
        assert!(Cidr::default_for(&"10.0.0.1".parse().unwrap()).is_default());
    }

    proptest::proptest! {
        /// The inline, NUL-padded form of a link name orders, compares, prints and
        /// serializes as its text did when it was a String.
        #[test]
        fn link_names_behave_as_their_text(a in "[!-~\u{a0}-\u{2ff}]{1,5}", b in "[!-~]{1,15}") {
            let (Ok(x), Ok(y)) = (LinkName::new(&a), LinkName::new(&b)) else {
                return Ok(());
            };
            proptest::prop_assert_eq!(x.as_str(), a.as_str());
            proptest::prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            proptest::prop_assert_eq!(x == y, a == b);
            proptest::prop_assert_eq!(format!("{x:?}"), format!("LinkName({a:?})"));
            let json = serde_json::to_string(&x).unwrap_or_default();
            proptest::prop_assert_eq!(&json, &serde_json::to_string(&a).unwrap_or_default());
            proptest::prop_assert_eq!(serde_json::from_str::<LinkName>(&json).ok(), Some(x));
        }
    }
}
