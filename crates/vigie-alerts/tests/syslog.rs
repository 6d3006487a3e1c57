//! Alerts reach syslog receivers on the loopback: one RFC 5424 datagram each over UDP, octet-
//! counted frames over TCP, and a TCP receiver that comes up late still gets the alert.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a test binary")]

use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use vigie_alerts::{Alerter, AlertingDetector, Facility, Sinks, Syslog};
use vigie_core::category::CategorySet;
use vigie_core::event::{AccessAction, AccessEvent, Actor, Decision, Verdict, VerdictAction};
use vigie_core::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::{DetectContext, Detector, LifecycleAction, LifecycleKind};
use vigie_core::time::Timestamp;

/// Long enough for a loaded CI machine, never reached when things work.
const PATIENCE: Duration = Duration::from_secs(10);

/// A detector that answers what it is told.
#[derive(Debug)]
struct Says {
    access: Verdict,
    lifecycle: Verdict,
}

impl Detector for Says {
    fn assess(&self, _: &AccessEvent, _: &DetectContext) -> Verdict {
        self.access.clone()
    }
    fn lifecycle(&self, _: &LifecycleAction) -> Verdict {
        self.lifecycle.clone()
    }
}

fn verdict(action: VerdictAction, reason: &str) -> Verdict {
    Verdict { action, reasons: vec![reason.to_owned()] }
}

fn view(person: u64) -> AccessEvent {
    AccessEvent {
        at: Timestamp(1_780_000_000_000),
        request: RequestId(9),
        actor: Actor {
            agent: AgentId::new(5).unwrap(),
            org: OrgId::new(2).unwrap(),
            org_kind: OrgKind::TrainingOrg,
            role: Role::Advisor,
            session: SessionId(3),
        },
        action: AccessAction::View,
        person: PersonId::new(person),
        requested: CategorySet::ALL,
        returned: CategorySet::EMPTY,
        relationship: None,
        decision: Decision::Deny,
        reasons: Vec::new(),
        verdict: Verdict::allow(),
    }
}

fn approval() -> LifecycleAction {
    LifecycleAction {
        at: Timestamp(1_780_000_060_000),
        actor: AgentId::new(6).unwrap(),
        org: OrgId::new(2).unwrap(),
        kind: LifecycleKind::Approval,
    }
}

fn detector(syslog: Syslog, says: Says) -> AlertingDetector<Says> {
    let alerter = Alerter::start(Sinks { syslog: Some(syslog), ..Sinks::default() }, 100).unwrap();
    AlertingDetector { inner: says, alerter: Arc::new(alerter) }
}

fn syslog_to(url: &str, facility: Facility) -> Syslog {
    let mut s = Syslog::new(url.parse().unwrap(), facility);
    s.first_backoff = Duration::from_millis(100);
    s.attempts = 6;
    s
}

/// An RFC 5424 message, split into its header fields, structured data and message.
#[derive(Debug)]
struct Message {
    pri: u8,
    version: String,
    timestamp: String,
    app: String,
    procid: String,
    msgid: String,
    sd: String,
    msg: serde_json::Value,
}

fn parse(m: &[u8]) -> Message {
    let m = std::str::from_utf8(m).unwrap();
    assert!(m.is_ascii(), "{m}");
    let (pri, rest) = m.strip_prefix('<').unwrap().split_once('>').unwrap();
    let f: Vec<&str> = rest.splitn(7, ' ').collect();
    let (sd, msg) = split_structured_data(f[6]);
    Message {
        pri: pri.parse().unwrap(),
        version: f[0].into(),
        timestamp: f[1].into(),
        app: f[3].into(),
        procid: f[4].into(),
        msgid: f[5].into(),
        sd: sd.into(),
        msg: serde_json::from_str(msg).unwrap(),
    }
}

/// `-` or `[…][…]` (with `"`-quoted values that may hold `]`), then a space and the message.
fn split_structured_data(s: &str) -> (&str, &str) {
    if let Some(msg) = s.strip_prefix("- ") {
        return ("-", msg);
    }
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ']' if !quoted && !s[i + 1..].starts_with('[') => return (&s[..=i], &s[i + 2..]),
            _ => {}
        }
    }
    panic!("no end to the structured data: {s}")
}

/// Reads octet-counted frames (`LEN SP MSG`) until `n` are in, checking the framing.
fn read_frames(stream: &mut TcpStream, n: usize) -> Vec<Vec<u8>> {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let (mut buf, mut frames) = (Vec::new(), Vec::new());
    while frames.len() < n {
        let mut chunk = [0u8; 4096];
        let got = stream.read(&mut chunk).unwrap();
        assert!(got > 0, "the sender closed the connection after {} frames", frames.len());
        buf.extend_from_slice(&chunk[..got]);
        while let Some(space) = buf.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..space]).unwrap().parse().expect("MSG-LEN, digits only");
            assert!(!buf.starts_with(b"0"), "MSG-LEN has no leading zero");
            if buf.len() < space + 1 + len {
                break;
            }
            frames.push(buf[space + 1..space + 1 + len].to_vec());
            buf.drain(..space + 1 + len);
        }
    }
    assert!(buf.is_empty(), "nothing after the frames: {:?}", String::from_utf8_lossy(&buf));
    frames
}

fn accept_within(listener: &TcpListener, patience: Duration) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + patience;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("no connection: {e}"),
        }
    }
}

#[test]
fn an_alert_reaches_a_udp_receiver_as_one_rfc5424_datagram() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_read_timeout(Some(PATIENCE)).unwrap();
    let url = format!("udp://{}", receiver.local_addr().unwrap());
    let says = Says { access: verdict(VerdictAction::SuspendAccount, "canary=P4242"), lifecycle: Verdict::allow() };
    let d = detector(Syslog::new(url.parse().unwrap(), Facility::default()), says);

    d.assess(&view(4242), &DetectContext::default());
    let mut buf = [0u8; 65_536];
    let (n, _) = receiver.recv_from(&mut buf).unwrap();
    let m = parse(&buf[..n]);
    assert_eq!(m.pri, 10 * 8 + 1, "authpriv, alert");
    assert_eq!((m.version.as_str(), m.app.as_str(), m.msgid.as_str()), ("1", "vigie", "vigie-alert"));
    assert_eq!(m.timestamp, "2026-05-28T20:26:40.000Z");
    assert_eq!(m.procid, std::process::id().to_string());
    assert!(m.sd.starts_with("[origin software=\"vigie\" swVersion=\"") && m.sd.ends_with("[meta sequenceId=\"1\"]"));
    let feed = d.alerter.feed.recent(10, |_| true);
    assert_eq!(m.msg, serde_json::to_value(&feed[0]).unwrap(), "the MSG is the alert's JSON");
    assert_eq!((m.msg["event"].as_str(), m.msg["person"].as_str()), (Some("access"), Some("P4242")));
}

#[test]
fn alerts_reach_a_tcp_receiver_octet_counted_on_one_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    let says = Says {
        access: verdict(VerdictAction::SuspendSession, "sequential_run=25 threshold=20"),
        lifecycle: verdict(VerdictAction::Throttle, "approvals_day=9 quota=5"),
    };
    let d = detector(syslog_to(&url, Facility::Local4), says);

    d.assess(&view(77), &DetectContext::default());
    assert_eq!(d.lifecycle(&approval()).action, VerdictAction::Throttle, "the inner verdict, unchanged");
    let mut stream = accept_within(&listener, PATIENCE);
    let frames: Vec<Message> = read_frames(&mut stream, 2).iter().map(|f| parse(f)).collect();
    assert_eq!(frames.iter().map(|m| m.pri).collect::<Vec<_>>(), [20 * 8 + 2, 20 * 8 + 4], "local4: crit, warning");
    assert!(frames.iter().all(|m| m.version == "1" && m.msgid == "vigie-alert"));
    assert!(frames[1].sd.ends_with("[meta sequenceId=\"2\"]"));
    let feed = d.alerter.feed.recent(10, |_| true);
    assert_eq!(frames[0].msg, serde_json::to_value(&feed[1]).unwrap());
    assert_eq!(frames[1].msg, serde_json::to_value(&feed[0]).unwrap());
    let lifecycle = &frames[1].msg;
    assert_eq!((&lifecycle["event"], &lifecycle["action"]), (&"lifecycle".into(), &"approval".into()));
    assert_eq!((&lifecycle["agent"], &lifecycle["organization"]), (&"A6".into(), &"O2".into()));
    assert_eq!(lifecycle["reasons"][0], "approvals_day=9 quota=5");
    assert_eq!(d.alerter.delivered.load(Ordering::SeqCst), 2);
}

#[test]
fn a_tcp_receiver_that_comes_up_late_still_gets_the_alert() {
    // A port nobody listens on, for now.
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let says = Says { access: verdict(VerdictAction::SuspendAccount, "canary=P4242"), lifecycle: Verdict::allow() };
    let d = detector(syslog_to(&format!("tcp://{addr}"), Facility::default()), says);

    d.assess(&view(4242), &DetectContext::default());
    let deadline = Instant::now() + PATIENCE;
    while d.alerter.failed_attempts.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the first attempt never failed");
        std::thread::sleep(Duration::from_millis(2));
    }
    let listener = TcpListener::bind(addr).unwrap();
    let mut stream = accept_within(&listener, PATIENCE);
    let frames = read_frames(&mut stream, 1);
    let m = parse(&frames[0]);
    assert_eq!((m.pri, m.msg["reasons"][0].as_str()), (10 * 8 + 1, Some("canary=P4242")));
    assert_eq!(d.alerter.delivered.load(Ordering::SeqCst), 1);
}

#[test]
fn a_receiver_that_closed_the_connection_is_reconnected() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    let says =
        Says { access: verdict(VerdictAction::StepUp, "distinct_persons hour=121/150"), lifecycle: Verdict::allow() };
    let d = detector(syslog_to(&url, Facility::default()), says);

    d.assess(&view(1), &DetectContext::default());
    let mut first = accept_within(&listener, PATIENCE);
    assert_eq!(parse(&read_frames(&mut first, 1)[0]).pri, 10 * 8 + 5, "notice");
    drop(first); // the receiver restarts
    d.assess(&view(2), &DetectContext::default());
    let mut second = accept_within(&listener, PATIENCE);
    let m = parse(&read_frames(&mut second, 1)[0]);
    assert!(m.sd.ends_with("[meta sequenceId=\"2\"]"), "{}", m.sd);
    assert_eq!(d.alerter.delivered.load(Ordering::SeqCst), 2);
}

#[test]
fn friction_stays_in_the_process() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_read_timeout(Some(PATIENCE)).unwrap();
    let url = format!("udp://{}", receiver.local_addr().unwrap());
    let says = Says {
        access: verdict(VerdictAction::Friction, "unusual_hour=1"),
        lifecycle: verdict(VerdictAction::Throttle, "requests_day=4 quota=3"),
    };
    let d = detector(Syslog::new(url.parse().unwrap(), Facility::default()), says);

    assert_eq!(d.assess(&view(1), &DetectContext::default()).action, VerdictAction::Friction);
    d.lifecycle(&LifecycleAction { kind: LifecycleKind::Request, ..approval() });
    let mut buf = [0u8; 65_536];
    let n = receiver.recv(&mut buf).unwrap();
    let m = parse(&buf[..n]);
    assert_eq!((m.msg["verdict"].as_str(), m.msg["action"].as_str()), (Some("throttle"), Some("request")));
    assert!(m.sd.ends_with("[meta sequenceId=\"1\"]"), "the friction was never a message: {}", m.sd);
    let feed = d.alerter.feed.recent(10, |_| true);
    assert_eq!(
        feed.iter().map(|a| a.verdict.as_ref()).collect::<Vec<_>>(),
        ["throttle", "friction"],
        "both in the feed"
    );
}
