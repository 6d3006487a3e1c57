//! Sending an incident's e-mails: resumable, and never twice to the same person.
//!
//! Each person's notice goes `pending → sending → sent` in the store, `sending` written before
//! the message leaves. The SMTP exchange is driven step by step so that a failure is placed:
//! refused at `MAIL`, `RCPT` or `DATA`, or answered with an error after the message, it was not
//! taken (back to pending, or failed for good on a permanent refusal); a connection lost while
//! the message itself was being sent or answered leaves it *in doubt* (the server may have taken
//! it). A run that stops (a crash, a kill) leaves its in-flight notices in `sending`; the next
//! run moves them to in doubt before it starts. In-doubt notices are never sent again on
//! Vigie's own judgement: [`resolve_in_doubt`] marks sent those the relay's log shows it
//! accepted (by their Message-ID, fixed per person), and only an explicit resend sends the rest.
//! So a person gets at most one message, and the few whose fate is unknown are named.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use vigie_core::ids::PersonId;
use vigie_core::incident::Incident;
use vigie_core::incident::notice::{Controller, letter};
use vigie_core::incident::scope::Exposed;
use vigie_core::incident::store::{IncidentStore, Notice, NoticeState};
use vigie_core::time::{Clock, Timestamp};

use crate::email;

/// How to reach the mail relay.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    /// Never printed.
    pub password: Option<String>,
    /// The sender's address, `"Name <addr@domain>"` or `addr@domain`.
    pub from: String,
    /// The domain of Message-IDs.
    pub message_id_domain: String,
    /// Connections in parallel.
    pub connections: usize,
    pub timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP: only for a relay on loopback or a trusted segment; named so in the config.
    InsecureNone,
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SendReport {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub in_doubt: u64,
    /// Notices found in `sending` at the start (a previous run stopped), now in doubt.
    pub found_in_doubt: u64,
    pub seconds: f64,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("the store: {0}")]
    Store(#[from] vigie_core::ports::StoreError),
    #[error("the mail relay {host}:{port}: {why}")]
    Relay { host: String, port: u16, why: String },
}

/// What the sender needs to write each letter.
#[derive(Debug)]
pub struct Writer<'a> {
    pub incident: &'a Incident,
    pub controller: &'a Controller,
    pub today: Timestamp,
}

enum Outcome {
    Sent,
    /// Not taken; try again later.
    Retry(String),
    /// Refused for good.
    Failed(String),
    /// The connection broke while the message was in flight.
    InDoubt(String),
}

const MAX_ATTEMPTS: u32 = 5;
const BATCH: usize = 512;

fn connect(s: &SmtpSettings) -> Result<SmtpConnection, String> {
    let hello = ClientId::default();
    let tls = || TlsParameters::new(s.host.clone()).map_err(|e| e.to_string());
    let implicit = if s.tls == SmtpTls::Implicit { Some(tls()?) } else { None };
    let mut conn = SmtpConnection::connect((s.host.as_str(), s.port), Some(s.timeout), &hello, implicit.as_ref(), None)
        .map_err(|e| e.to_string())?;
    if s.tls == SmtpTls::StartTls {
        conn.starttls(&tls()?, &hello).map_err(|e| format!("STARTTLS: {e}"))?;
    }
    if let (Some(u), Some(p)) = (&s.username, &s.password) {
        conn.auth(&[Mechanism::Plain, Mechanism::Login], &Credentials::new(u.clone(), p.clone()))
            .map_err(|e| format!("authentication: {e}"))?;
    }
    Ok(conn)
}

/// One SMTP transaction, each step's failure placed (see the module doc).
fn transact(conn: &mut SmtpConnection, envelope: &Envelope, body: &[u8]) -> Outcome {
    let refused = |e: lettre::transport::smtp::Error| {
        if e.is_permanent() { Outcome::Failed(e.to_string()) } else { Outcome::Retry(e.to_string()) }
    };
    if let Err(e) = conn.command(Mail::new(envelope.from().cloned(), vec![])) {
        return refused(e);
    }
    for to in envelope.to() {
        if let Err(e) = conn.command(Rcpt::new(to.clone(), vec![])) {
            return refused(e);
        }
    }
    if let Err(e) = conn.command(Data) {
        return refused(e);
    }
    match conn.message(body) {
        Ok(_) => Outcome::Sent,
        // The server answered the message with a refusal: it did not take it.
        Err(e) if e.is_permanent() => Outcome::Failed(e.to_string()),
        Err(e) if e.is_transient() => Outcome::Retry(e.to_string()),
        // The connection broke with the message in flight: maybe taken.
        Err(e) => Outcome::InDoubt(e.to_string()),
    }
}

fn exposed_of(n: &Notice) -> Exposed {
    Exposed {
        person: n.person,
        records: vec![(n.person, n.categories)],
        categories: n.categories,
        first: n.first,
        last: n.last,
        entries: 0,
        agents: Vec::new(),
        sessions: Vec::new(),
    }
}

/// Sends every pending notice of the incident. `progress(sent so far, to send)`.
pub fn send_pending<S: IncidentStore + ?Sized>(
    store: &S,
    clock: &dyn Clock,
    smtp: &SmtpSettings,
    writer: &Writer<'_>,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<SendReport, CampaignError> {
    let started = std::time::Instant::now();
    let id = writer.incident.id;
    let mut report =
        SendReport { found_in_doubt: store.sending_to_in_doubt(id, clock.now())?, ..SendReport::default() };
    let total = store.notice_counts(id)?.pending;
    let done = AtomicU64::new(0);
    let stats = Mutex::new(SendReport::default());
    let fatal: Mutex<Option<CampaignError>> = Mutex::new(None);
    let mut after: Option<PersonId> = None;
    loop {
        let batch = store.notices(id, NoticeState::Pending, after, BATCH)?;
        let Some(last) = batch.last() else { break };
        after = Some(last.person);
        let recipients = store.recipients(&batch.iter().map(|n| n.person).collect::<Vec<_>>())?;
        let by_person: std::collections::HashMap<PersonId, _> = recipients.into_iter().map(|r| (r.person, r)).collect();
        let queue = Mutex::new(batch.into_iter());
        let workers = smtp.connections.clamp(1, 64);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    let mut conn: Option<SmtpConnection> = None;
                    loop {
                        if fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
                            return;
                        }
                        let Some(n) = queue.lock().ok().and_then(|mut q| q.next()) else { return };
                        let step = send_one(store, clock, smtp, writer, &by_person, &n, &mut conn);
                        let mut st = stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        match step {
                            Ok(Some(NoticeState::Sent)) => {
                                st.sent += 1;
                                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                                progress(d, total);
                            }
                            Ok(Some(NoticeState::Pending)) => st.retried += 1,
                            Ok(Some(NoticeState::Failed)) => st.failed += 1,
                            Ok(Some(NoticeState::InDoubt)) => st.in_doubt += 1,
                            Ok(_) => {}
                            Err(e) => {
                                if let Ok(mut f) = fatal.lock() {
                                    f.get_or_insert(e);
                                }
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = fatal.lock().ok().and_then(|mut f| f.take()) {
            return Err(e);
        }
    }
    let st = stats.into_inner().unwrap_or_default();
    report.sent = st.sent;
    report.retried = st.retried;
    report.failed = st.failed;
    report.in_doubt = st.in_doubt;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Sends one notice; returns the state it ended in (`None`: someone else moved it).
fn send_one<S: IncidentStore + ?Sized>(
    store: &S,
    clock: &dyn Clock,
    smtp: &SmtpSettings,
    writer: &Writer<'_>,
    recipients: &std::collections::HashMap<PersonId, vigie_core::incident::notice::Recipient>,
    n: &Notice,
    conn: &mut Option<SmtpConnection>,
) -> Result<Option<NoticeState>, CampaignError> {
    let id = writer.incident.id;
    let (Some(to), Some(r)) = (n.email.as_deref(), recipients.get(&n.person)) else {
        // No address (or no longer in the registry): by post only.
        store.move_notice(id, n.person, NoticeState::Pending, NoticeState::NoAddress, clock.now(), None)?;
        return Ok(Some(NoticeState::NoAddress));
    };
    let doc = letter(writer.incident, &exposed_of(n), r, writer.controller, writer.today);
    let message = match email::message(&smtp.from, to, &n.message_id, &doc) {
        Ok(m) => m,
        Err(e @ email::EmailError::Recipient(_)) => {
            store.move_notice(
                id,
                n.person,
                NoticeState::Pending,
                NoticeState::Failed,
                clock.now(),
                Some(&e.to_string()),
            )?;
            return Ok(Some(NoticeState::Failed));
        }
        Err(e) => return Err(CampaignError::Relay { host: smtp.host.clone(), port: smtp.port, why: e.to_string() }),
    };
    if conn.as_mut().is_none_or(|c| c.has_broken()) {
        *conn = Some(connect(smtp).map_err(|why| CampaignError::Relay {
            host: smtp.host.clone(),
            port: smtp.port,
            why,
        })?);
    }
    let Some(c) = conn.as_mut() else { return Ok(None) };
    // Recorded before anything leaves: a stop from here on leaves it in `sending`.
    if !store.move_notice(id, n.person, NoticeState::Pending, NoticeState::Sending, clock.now(), None)? {
        return Ok(None);
    }
    let outcome = transact(c, message.envelope(), &message.formatted());
    let now = clock.now();
    let (to_state, error) = match outcome {
        Outcome::Sent => (NoticeState::Sent, None),
        Outcome::Retry(e) if n.attempts + 1 < MAX_ATTEMPTS => {
            *conn = None;
            (NoticeState::Pending, Some(e))
        }
        Outcome::Retry(e) | Outcome::Failed(e) => (NoticeState::Failed, Some(e)),
        Outcome::InDoubt(e) => {
            *conn = None;
            (NoticeState::InDoubt, Some(e))
        }
    };
    store.move_notice(id, n.person, NoticeState::Sending, to_state, now, error.as_deref())?;
    Ok(Some(to_state))
}

/// Settles in-doubt notices: those whose Message-ID is in `delivered` (from the relay's log)
/// become sent; with `resend_rest`, the others go back to pending (sent at the next run), else
/// they stay in doubt. Returns (marked sent, back to pending).
pub fn resolve_in_doubt<S: IncidentStore + ?Sized>(
    store: &S,
    clock: &dyn Clock,
    incident: &Incident,
    delivered: &std::collections::HashSet<String>,
    resend_rest: bool,
) -> Result<(u64, u64), CampaignError> {
    let (mut sent, mut pending) = (0, 0);
    let mut after = None;
    loop {
        let batch = store.notices(incident.id, NoticeState::InDoubt, after, BATCH)?;
        let Some(last) = batch.last() else { break };
        after = Some(last.person);
        for n in batch {
            if delivered.contains(&n.message_id) || delivered.contains(n.message_id.trim_matches(['<', '>'])) {
                store.move_notice(incident.id, n.person, NoticeState::InDoubt, NoticeState::Sent, clock.now(), None)?;
                sent += 1;
            } else if resend_rest {
                store.move_notice(
                    incident.id,
                    n.person,
                    NoticeState::InDoubt,
                    NoticeState::Pending,
                    clock.now(),
                    None,
                )?;
                pending += 1;
            }
        }
    }
    Ok((sent, pending))
}
