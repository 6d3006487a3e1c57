//! The syslog sink, for SIEMs: each alert as one RFC 5424 message, over UDP (RFC 5426, one
//! datagram per message) or TCP (RFC 6587, octet-counting framing), from the alert worker.
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME vigie PROCID vigie-alert [origin …][meta sequenceId="N"] {"at":…,"agent":…}
//! ```
//!
//! - **PRI** is facility × 8 + severity. The facility is `authpriv` unless configured: these are
//!   security messages naming agents and (pseudonymous) persons, and `authpriv` is the facility
//!   for private security messages that stock rsyslog configurations on Debian and Red Hat route
//!   to a restricted file (`auth.log`, `secure`) and keep out of the general log. `local0`…
//!   `local7` suit a collector that routes on a dedicated facility.
//! - **Severity** follows the verdict the detector reached ([`Severity::of`]).
//! - **TIMESTAMP** is the alert's time (the event's, not the sending's), UTC, to the millisecond.
//! - **SD**: `origin` names the software and version (the JSON's fields may grow), `meta
//!   sequenceId` counts messages from 1 per process, so that a SIEM sees UDP losses and a TCP
//!   message resent after an uncertain write.
//! - **MSG** is the alert's JSON, in ASCII only (non-ASCII characters escaped as `\uXXXX`). It
//!   is then valid UTF-8 without the byte-order mark RFC 5424 §6.4 would call for, which is left
//!   out because JSON parsers behind syslog collectors expect the message to start with `{`.
//!
//! A UDP datagram is at most 2048 bytes, the size RFC 5426 says every receiver should accept; a
//! bigger message is not sent (a warning is logged, the alert counts as dropped) rather than cut,
//! since a cut JSON is unreadable; the alert stays in the ledger, the feed and the JSON-lines
//! file. Alerts are a few hundred bytes, so this takes an alert with very many reasons.
//!
//! TLS (RFC 5425) is not supported: on a network that needs it, send to a local relay (rsyslog,
//! syslog-ng) that forwards over TLS. The alerts carry ids, verdicts and reasons, never a
//! person's name, NIR or contact details.

mod transport;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub(crate) use transport::SyslogSender;

use crate::Alert;
use vigie_core::event::VerdictAction;

/// APP-NAME of every message.
pub const APP_NAME: &str = "vigie";
/// MSGID of every alert message; the JSON's `event` says whether an access or a lifecycle
/// action raised it.
pub const MSGID: &str = "vigie-alert";
/// The largest UDP datagram sent (RFC 5426 §3.2: receivers should accept 2048 octets).
pub const UDP_MAX: usize = 2048;

/// Where and how alerts go to syslog.
#[derive(Clone, Debug)]
pub struct Syslog {
    pub target: SyslogTarget,
    pub facility: Facility,
    /// The HOSTNAME field: this machine's name by default.
    pub hostname: String,
    /// Attempts per alert (the first included); back-off doubles from `first_backoff`. Over UDP
    /// only a local send error is retried: a datagram lost on the way goes unnoticed.
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Syslog {
    /// The defaults: this machine's name, and the webhook's 5 attempts from 1 s of back-off.
    pub fn new(target: SyslogTarget, facility: Facility) -> Syslog {
        Syslog { target, facility, hostname: local_hostname(), attempts: 5, first_backoff: Duration::from_secs(1) }
    }
}

/// `udp://host[:port]` (default port 514) or `tcp://host[:port]` (default 601); the host is a
/// name, an IPv4 address or a bracketed IPv6 address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogTarget {
    pub transport: Transport,
    /// Without brackets for IPv6. Resolved at each connection, so a changed DNS name is followed.
    pub host: String,
    pub port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// RFC 5426: one datagram per message.
    Udp,
    /// RFC 6587 §3.4.1: `LEN SP MSG` on a kept-open connection, reconnected when needed.
    Tcp,
}

/// A syslog setting that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadSyslogSetting(String);

impl fmt::Display for BadSyslogSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadSyslogSetting {}

fn bad(why: impl Into<String>) -> BadSyslogSetting {
    BadSyslogSetting(why.into())
}

impl FromStr for SyslogTarget {
    type Err = BadSyslogSetting;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("expected udp://host:port or tcp://host:port"))?;
        let transport = match scheme {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => return Err(bad("syslog over TLS is not supported; send to a local relay that forwards over TLS")),
            other => return Err(bad(format!("unknown scheme {other:?}: expected udp or tcp"))),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed [ in the host"))?;
                host.parse::<std::net::Ipv6Addr>().map_err(|_| bad(format!("{host:?} is not an IPv6 address")))?;
                let port = match after {
                    "" => None,
                    p => Some(p.strip_prefix(':').ok_or_else(|| bad("expected :port after the address"))?),
                };
                (host, port)
            }
            None => match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            },
        };
        let name_like = |h: &str| {
            h.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
        };
        if host.is_empty() || (!host.contains(':') && !name_like(host)) {
            return Err(bad(format!("{host:?} is not a host name or address (nothing but host and port)")));
        }
        let port = match port {
            None => match transport {
                Transport::Udp => 514,
                Transport::Tcp => 601,
            },
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| bad(format!("bad port {p:?}")))?,
        };
        Ok(SyslogTarget { transport, host: host.to_owned(), port })
    }
}

impl fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        match self.host.contains(':') {
            true => write!(f, "{scheme}://[{}]:{}", self.host, self.port),
            false => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

/// The syslog facilities an alert may be sent under. The others (kernel, mail, news, …) would
/// misfile a security alert, so they are refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Facility {
    User,
    Daemon,
    Auth,
    /// The default: see the module's documentation.
    #[default]
    AuthPriv,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    pub const ALL: [Facility; 12] = [
        Facility::User,
        Facility::Daemon,
        Facility::Auth,
        Facility::AuthPriv,
        Facility::Local0,
        Facility::Local1,
        Facility::Local2,
        Facility::Local3,
        Facility::Local4,
        Facility::Local5,
        Facility::Local6,
        Facility::Local7,
    ];

    /// The numerical code of RFC 5424 §6.2.1.
    pub fn code(self) -> u8 {
        match self {
            Facility::User => 1,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::AuthPriv => 10,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Facility::User => "user",
            Facility::Daemon => "daemon",
            Facility::Auth => "auth",
            Facility::AuthPriv => "authpriv",
            Facility::Local0 => "local0",
            Facility::Local1 => "local1",
            Facility::Local2 => "local2",
            Facility::Local3 => "local3",
            Facility::Local4 => "local4",
            Facility::Local5 => "local5",
            Facility::Local6 => "local6",
            Facility::Local7 => "local7",
        }
    }
}

impl FromStr for Facility {
    type Err = BadSyslogSetting;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| {
            bad(format!("unknown facility {s:?}: expected one of user, daemon, auth, authpriv, local0 … local7"))
        })
    }
}

/// The severities alerts are sent with (RFC 5424 §6.2.1 codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// 1: act now.
    Alert = 1,
    /// 2: critical.
    Critical = 2,
    /// 4: warning.
    Warning = 4,
    /// 5: normal but significant.
    Notice = 5,
    /// 6: informational.
    Informational = 6,
}

impl Severity {
    /// From the verdict the detector reached: an account suspended (a canary read, an account
    /// already suspended) is an alert, a session ended critical, a throttle a warning, a step-up
    /// or friction a notice. A shadow decision is informational whatever it would have been: it
    /// was not enforced and is there to tune thresholds.
    pub fn of(alert: &Alert) -> Severity {
        if alert.shadow {
            return Severity::Informational;
        }
        match alert.decided {
            VerdictAction::SuspendAccount => Severity::Alert,
            VerdictAction::SuspendSession => Severity::Critical,
            VerdictAction::Throttle => Severity::Warning,
            VerdictAction::StepUp | VerdictAction::Friction => Severity::Notice,
            VerdictAction::Allow => Severity::Informational,
        }
    }
}

/// One RFC 5424 message, unframed: `json` is the alert's ASCII JSON, `sequence` its number.
pub fn message(facility: Facility, hostname: &str, alert: &Alert, json: &[u8], procid: u32, sequence: u32) -> Vec<u8> {
    let pri = u16::from(facility.code()) * 8 + Severity::of(alert) as u16;
    let timestamp = rfc3339_millis(alert.at_ms).unwrap_or_else(|| "-".to_owned());
    let hostname = header_field(hostname, 255);
    let version = env!("CARGO_PKG_VERSION");
    let mut m = format!(
        "<{pri}>1 {timestamp} {hostname} {APP_NAME} {procid} {MSGID} \
         [origin software=\"{APP_NAME}\" swVersion=\"{version}\"][meta sequenceId=\"{sequence}\"] "
    )
    .into_bytes();
    m.extend_from_slice(json);
    m
}

/// RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`.
pub fn octet_counted(message: &[u8]) -> Vec<u8> {
    let mut frame = format!("{} ", message.len()).into_bytes();
    frame.extend_from_slice(message);
    frame
}

/// This machine's name, for the HOSTNAME field; `-` (the nil value) if it cannot be read.
pub fn local_hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    header_field(&name, 255)
}

/// A header field: printable ASCII without spaces, at most `max` characters, else `-`.
fn header_field(s: &str, max: usize) -> String {
    let s = s.trim();
    match !s.is_empty() && s.len() <= max && s.bytes().all(|b| (33..=126).contains(&b)) {
        true => s.to_owned(),
        false => "-".to_owned(),
    }
}

/// `YYYY-MM-DDThh:mm:ss.mmmZ` for milliseconds since the Unix epoch, for years 0 to 9999.
fn rfc3339_millis(ms: i64) -> Option<String> {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, second_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to civil date, after Howard Hinnant's `civil_from_days`.
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe.checked_add(era.checked_mul(400)?)? + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s) = (second_of_day / 3600, second_of_day % 3600 / 60, second_of_day % 60);
    Some(format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"))
}

#[cfg(test)]
mod tests;
