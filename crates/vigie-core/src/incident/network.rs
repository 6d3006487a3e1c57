//! Network prefixes named by an investigator ("everything read from 203.0.113.0/24", "from the
//! provider's 198.51.0.0/16"), matched against the networks sessions signed in from.
//!
//! Sessions record their network as the sign-in address's /24 (IPv4) or /64 (IPv6) in text form
//! (`signin::session::network_of`); a prefix matches a session when the session's network lies
//! inside it. A prefix narrower than the recorded networks (a /32 host, say) cannot be decided
//! from them and is refused at parse time rather than silently widened.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 prefix, `203.0.113.0/24` or `2001:db8::/48`, with no host bits set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct NetPrefix {
    base: IpAddr,
    len: u8,
}

/// Why a string is not a prefix an incident can be scoped on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetPrefixError {
    #[error("'{0}' is not a network prefix: expected an address, '/' and a length, e.g. 203.0.113.0/24")]
    Syntax(String),
    #[error("'{0}': the prefix length must be at most {1}")]
    TooLong(String, u8),
    #[error(
        "'{0}': sessions are recorded by their /24 (IPv4) or /64 (IPv6) network, so a prefix longer than that \
         cannot be matched; use the /24 or /64 that contains it"
    )]
    NarrowerThanRecorded(String),
    #[error("'{0}' has host bits set after the prefix length; did you mean {1}?")]
    HostBits(String, String),
}

impl NetPrefix {
    pub fn prefix_len(self) -> u8 {
        self.len
    }

    /// For an IPv4 prefix on an octet boundary (`/8`, `/16`, `/24`), the text every recorded
    /// network inside it starts with (`"203.0.113."`): a record whose bytes do not hold it
    /// cannot match, so a scan can skip decoding it. `None` where no such text exists.
    pub fn ipv4_text_prefix(self) -> Option<String> {
        let IpAddr::V4(v4) = self.base else { return None };
        if self.len == 0 || !self.len.is_multiple_of(8) {
            return None;
        }
        let octets = v4.octets();
        let mut text = String::new();
        for o in &octets[..usize::from(self.len / 8)] {
            text.push_str(&o.to_string());
            text.push('.');
        }
        Some(text)
    }

    /// Whether a session's recorded network (`192.0.2.0/24`, `2001:db8:1:2::/64`, as written
    /// at sign-in) lies inside this prefix. A network that does not parse matches nothing.
    pub fn contains_network(self, recorded: &str) -> bool {
        let Some((addr, len)) = recorded.split_once('/') else { return false };
        let (Ok(addr), Ok(len)) = (addr.parse::<IpAddr>(), len.parse::<u8>()) else { return false };
        len >= self.len && same_prefix(self.base, addr, self.len)
    }
}

fn same_prefix(a: IpAddr, b: IpAddr, len: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            mask(u128::from(u32::from(a)), 32, len) == mask(u128::from(u32::from(b)), 32, len)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => mask(u128::from(a), 128, len) == mask(u128::from(b), 128, len),
        _ => false,
    }
}

fn mask(bits: u128, width: u8, len: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    let shift = u32::from(width - len);
    (bits >> shift) << shift
}

impl FromStr for NetPrefix {
    type Err = NetPrefixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || NetPrefixError::Syntax(s.to_owned());
        let (addr, len) = s.trim().split_once('/').ok_or_else(syntax)?;
        let base: IpAddr = addr.parse().map_err(|_| syntax())?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let len: u8 = len.parse().map_err(|_| syntax())?;
        let (width, recorded) = match base {
            IpAddr::V4(_) => (32, 24),
            IpAddr::V6(_) => (128, 64),
        };
        if len > width {
            return Err(NetPrefixError::TooLong(s.to_owned(), width));
        }
        if len > recorded {
            return Err(NetPrefixError::NarrowerThanRecorded(s.to_owned()));
        }
        let masked = match base {
            IpAddr::V4(a) => IpAddr::V4(std::net::Ipv4Addr::from(mask(u128::from(u32::from(a)), 32, len) as u32)),
            IpAddr::V6(a) => IpAddr::V6(std::net::Ipv6Addr::from(mask(u128::from(a), 128, len))),
        };
        if masked != base {
            return Err(NetPrefixError::HostBits(s.to_owned(), format!("{masked}/{len}")));
        }
        Ok(NetPrefix { base, len })
    }
}

impl fmt::Display for NetPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_and_print() {
        for s in ["203.0.113.0/24", "198.51.0.0/16", "0.0.0.0/0", "2001:db8::/48", "2001:db8:1:2::/64"] {
            assert_eq!(s.parse::<NetPrefix>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn malformed_prefixes_are_refused_with_the_reason() {
        let cases = [
            ("203.0.113.0", "expected an address"),
            ("203.0.113/24", "expected an address"),
            ("203.0.113.0/", "expected an address"),
            ("203.0.113.0/+4", "expected an address"),
            ("203.0.113.0/33", "at most 32"),
            ("203.0.113.7/32", "/24 or /64"),
            ("203.0.113.7/24", "did you mean 203.0.113.0/24"),
            ("2001:db8::/129", "at most 128"),
            ("2001:db8::1/80", "/24 or /64"),
            ("x/24", "expected an address"),
        ];
        for (s, why) in cases {
            let e = s.parse::<NetPrefix>().unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    /// The text prefilter never hides a match: every recorded network a prefix contains holds
    /// the prefix's text (checked over every /24 recorded under a few /8, /16 and /24).
    #[test]
    fn the_text_prefix_is_in_every_network_the_prefix_contains() {
        for p in ["10.0.0.0/8", "198.51.0.0/16", "203.0.113.0/24", "0.0.0.0/8"] {
            let p: NetPrefix = p.parse().unwrap();
            let needle = p.ipv4_text_prefix().unwrap();
            for a in [0u32, 3, 10, 51, 113, 198, 203, 255] {
                for b in 0..=255u32 {
                    for c in [0u32, 51, 113, 255] {
                        let recorded = format!("{a}.{b}.{c}.0/24");
                        if p.contains_network(&recorded) {
                            assert!(recorded.starts_with(&needle), "{recorded} in {p} but not {needle}");
                        }
                    }
                }
            }
        }
        for p in ["2001:db8::/48", "198.48.0.0/12"] {
            assert_eq!(p.parse::<NetPrefix>().unwrap().ipv4_text_prefix(), None, "{p}: no text prefix");
        }
    }

    #[test]
    fn a_prefix_contains_the_recorded_networks_inside_it() {
        let p: NetPrefix = "198.51.0.0/16".parse().unwrap();
        assert!(p.contains_network("198.51.100.0/24"));
        assert!(!p.contains_network("198.52.100.0/24"));
        assert!(!p.contains_network("2001:db8:1:2::/64"));
        assert!(!p.contains_network("garbage"));
        let exact: NetPrefix = "203.0.113.0/24".parse().unwrap();
        assert!(exact.contains_network("203.0.113.0/24"));
        assert!(!exact.contains_network("203.0.112.0/24"));
        let v6: NetPrefix = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains_network("2001:db8:1:2::/64"));
        assert!(!v6.contains_network("2001:db9:1:2::/64"));
    }
}
