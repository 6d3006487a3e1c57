use std::sync::atomic::AtomicU64;

use vigie_core::event::Verdict;
use vigie_core::ids::{AgentId, OrgId};
use vigie_core::ports::{LifecycleAction, LifecycleKind};
use vigie_core::time::Timestamp;

use super::*;

fn alert(action: VerdictAction, reasons: &[&str]) -> Alert {
    let a = LifecycleAction {
        at: Timestamp(1_780_000_000_123),
        actor: AgentId::new(7).unwrap(),
        org: OrgId::new(3).unwrap(),
        kind: LifecycleKind::Request,
    };
    Alert::from_lifecycle(&a, &Verdict { action, reasons: reasons.iter().map(|r| (*r).to_owned()).collect() })
}

#[test]
fn targets() {
    let t = |transport, host: &str, port| {
        Ok::<_, BadSyslogSetting>(SyslogTarget { transport, host: host.to_owned(), port })
    };
    for (url, expected) in [
        ("udp://127.0.0.1:514", t(Transport::Udp, "127.0.0.1", 514)),
        ("udp://siem.agency.example", t(Transport::Udp, "siem.agency.example", 514)),
        ("tcp://siem.agency.example", t(Transport::Tcp, "siem.agency.example", 601)),
        ("tcp://siem-1.agency.example:6514/", t(Transport::Tcp, "siem-1.agency.example", 6514)),
        ("tcp://[::1]:601", t(Transport::Tcp, "::1", 601)),
        ("udp://[fe80::1]", t(Transport::Udp, "fe80::1", 514)),
    ] {
        assert_eq!(url.parse::<SyslogTarget>(), expected, "{url}");
        let round = expected.unwrap().to_string().parse::<SyslogTarget>().unwrap();
        assert_eq!(round.to_string().parse::<SyslogTarget>(), Ok(round), "{url}");
    }
    for (url, needle) in [
        ("127.0.0.1:514", "udp://host:port"),
        ("http://siem.example:514", "scheme \"http\""),
        ("tls://siem.example:6514", "TLS"),
        ("udp://", "not a host"),
        ("udp://:514", "not a host"),
        ("udp://siem.example:0", "port"),
        ("udp://siem.example:65536", "port"),
        ("udp://siem.example:x", "port"),
        ("udp://user@siem.example:514", "not a host"),
        ("udp://siem.example/path", "not a host"),
        ("udp://siem..example", "not a host"),
        ("udp://::1:514", "not a host"),
        ("udp://[::1", "unclosed"),
        ("udp://[nope]:514", "IPv6"),
        ("udp://[::1]514", ":port"),
    ] {
        let err = url.parse::<SyslogTarget>().unwrap_err().to_string();
        assert!(err.contains(needle), "{url}: {err}");
    }
}

#[test]
fn facilities() {
    assert_eq!(Facility::default(), Facility::AuthPriv);
    assert_eq!(("authpriv".parse(), Facility::AuthPriv.code()), (Ok(Facility::AuthPriv), 10));
    assert_eq!(("local4".parse(), Facility::Local4.code()), (Ok(Facility::Local4), 20));
    assert_eq!(("auth".parse(), Facility::Auth.code()), (Ok(Facility::Auth), 4));
    for f in Facility::ALL {
        assert_eq!(f.as_str().parse(), Ok(f));
    }
    for name in ["kern", "mail", "LOCAL4", "local8", "", "security"] {
        assert!(name.parse::<Facility>().unwrap_err().to_string().contains("unknown facility"), "{name}");
    }
}

#[test]
fn severity_follows_the_verdict() {
    use VerdictAction::*;
    for (action, reasons, severity) in [
        (SuspendAccount, &["canary=P1"][..], Severity::Alert),
        (SuspendSession, &[][..], Severity::Critical),
        (Throttle, &[][..], Severity::Warning),
        (StepUp, &[][..], Severity::Notice),
        (Friction, &[][..], Severity::Notice),
        (Allow, &["canary=P1", "shadow=1 would=suspend_account"][..], Severity::Informational),
        (Allow, &["shadow=1 would=throttle"][..], Severity::Informational),
    ] {
        assert_eq!(Severity::of(&alert(action, reasons)), severity, "{action:?} {reasons:?}");
    }
}

#[test]
fn the_message() {
    let a = alert(VerdictAction::Throttle, &["requests_day=12 quota=10"]);
    let json = crate::alert::ascii_json(&a).unwrap();
    let m = String::from_utf8(message(Facility::Local4, "vigie-1.agency.example", &a, &json, 4321, 17)).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        m,
        format!(
            "<164>1 2026-05-28T20:26:40.123Z vigie-1.agency.example vigie 4321 vigie-alert \
             [origin software=\"vigie\" swVersion=\"{version}\"][meta sequenceId=\"17\"] {}",
            String::from_utf8(json).unwrap()
        )
    );
    // authpriv (10) × 8 + alert (1); a host name with a space becomes the nil value.
    let a = alert(VerdictAction::SuspendAccount, &[]);
    let m = message(Facility::AuthPriv, "two words", &a, b"{}", 1, 1);
    assert!(m.starts_with(b"<81>1 2026-05-28T20:26:40.123Z - vigie 1 vigie-alert "), "{}", String::from_utf8_lossy(&m));
    assert_eq!(octet_counted(b"<81>1 x"), b"7 <81>1 x");
}

#[test]
fn timestamps_agree_with_the_core() {
    for ms in [0, 1, 951_782_400_000, 1_709_164_800_999, 1_780_000_000_123, 4_102_444_799_000, -86_400_000] {
        let ours = rfc3339_millis(ms).unwrap();
        let core = Timestamp(ms).to_string();
        assert_eq!(ours[..19], core[..19], "{ms}");
        assert_eq!((ours.len(), &ours[19..20], &ours[23..]), (24, ".", "Z"), "{ours}");
        assert_eq!(ours[20..23], format!("{:03}", ms.rem_euclid(1000)));
    }
    assert_eq!(rfc3339_millis(951_782_400_000).as_deref(), Some("2000-02-29T00:00:00.000Z"));
    assert_eq!(rfc3339_millis(-62_167_219_200_001), None, "before year 0");
    assert_eq!(rfc3339_millis(253_402_300_800_000), None, "after year 9999");
    assert_eq!(rfc3339_millis(i64::MAX), None);
    assert_eq!(rfc3339_millis(i64::MIN), None);
}

#[test]
fn header_fields() {
    assert_eq!(header_field(" host-1\n", 255), "host-1");
    for bad in ["", "two words", "été", "a\u{7f}"] {
        assert_eq!(header_field(bad, 255), "-", "{bad:?}");
    }
    assert_eq!(header_field(&"h".repeat(256), 255), "-");
    let local = local_hostname();
    assert!(local == "-" || local.bytes().all(|b| (33..=126).contains(&b)), "{local:?}");
}

#[test]
fn a_message_too_long_for_a_datagram_is_not_sent() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let target = format!("udp://{}", receiver.local_addr().unwrap()).parse().unwrap();
    let mut sender = SyslogSender::new(Syslog::new(target, Facility::AuthPriv));
    let failed = AtomicU64::new(0);

    let long: Vec<String> = (0..40).map(|i| format!("signal_{i}=0123456789012345678901234567890123456789")).collect();
    let long = alert(VerdictAction::Throttle, &long.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!sender.send(&long, &failed), "refused, not cut");
    let short = alert(VerdictAction::Throttle, &["quota=1"]);
    assert!(sender.send(&short, &failed));

    let mut buf = [0u8; 4096];
    let n = receiver.recv(&mut buf).unwrap();
    let got = String::from_utf8_lossy(&buf[..n]);
    assert!(got.contains("quota=1") && got.contains("sequenceId=\"2\""), "the short one, second in sequence: {got}");
    assert_eq!(failed.load(std::sync::atomic::Ordering::SeqCst), 0, "a refusal is not a failed attempt");
}
