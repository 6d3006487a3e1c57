//! `vigie bench-scope mail`: the notification campaign's sending rate to a real SMTP server on
//! loopback (`tests/smtp/sink.py`, aiosmtpd, which fsyncs each message it takes), with and
//! without faults, and a count of what the server took: none lost, none twice.
//!
//! The incident is built as an operator would: a registry of N persons, an account's reads of
//! all of them in the ledger, an incident opened on that account, scoped, its letters written
//! and its notices created; only the sending step (`vigie_notify::send_pending`, as the service
//! runs it) is timed.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::event::{AccessAction, AccessEvent, Actor, Decision, Verdict};
use vigie_core::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
use vigie_core::incident::service::{IncidentService, OpenRequest};
use vigie_core::incident::store::IncidentStore;
use vigie_core::incident::{Author, Selector, Window};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::AccessLedger;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::time::{Clock, Timestamp};
use vigie_gen::GenParams;

use crate::app;
use crate::incidents::{IncidentSettings, Incidents};

/// The relay on loopback (`tests/smtp/sink.py`); killed when dropped. The tests use it too.
#[derive(Debug)]
pub struct Sink {
    child: std::process::Child,
    pub port: u16,
    log: PathBuf,
}

impl Sink {
    /// Starts the relay, logging what it takes to `<dir>/<name>.jsonl`, with the script's fault
    /// options (`--drop-rcpt-every N`, `--drop-after-accept-every N`).
    pub fn start(dir: &Path, name: &str, faults: &[&str]) -> anyhow::Result<Sink> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/smtp/sink.py");
        let log = dir.join(format!("{name}.jsonl"));
        let python = ["/usr/bin/python3", "python3"]
            .into_iter()
            .find(|p| {
                std::process::Command::new(p).args(["-c", "import aiosmtpd"]).output().is_ok_and(|o| o.status.success())
            })
            .context("no python3 with aiosmtpd (Debian: apt-get install python3-aiosmtpd)")?;
        let mut child = std::process::Command::new(python)
            .arg(&script)
            .arg("--log")
            .arg(&log)
            .args(faults)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("starting tests/smtp/sink.py")?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("sink stdout")?).read_line(&mut line)?;
        let port = line.trim().strip_prefix("LISTENING ").context("the sink did not start")?.parse()?;
        Ok(Sink { child, port, log })
    }

    /// The Message-IDs the relay took, in order.
    pub fn taken(&self) -> anyhow::Result<Vec<String>> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)?;
                Ok(v["message_id"].as_str().unwrap_or_default().to_owned())
            })
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the data directory: registry, the reads, nothing else of agent 5.
fn prepare(data: &Path, persons: u64) -> anyhow::Result<Window> {
    let today = app::WallClock.now().date();
    crate::generate::generate(data, &GenParams { seed: 4, persons, as_of: today }, false, true)?;
    let ledger = vigie_ledger::Ledger::open(&app::ledger_dir(data), app::ledger_options(data))?;
    let t0 = app::WallClock.now().0 - 86_400_000;
    let agent = AgentId::new(5).context("agent")?;
    let org = OrgId::new(1).context("org")?;
    ledger
        .record(&[SecurityEvent::new(Timestamp(t0), SecurityKind::SignIn)
            .by(agent, org)
            .session(SessionId(77))
            .context("198.51.100.0/24 firefox")])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let returned: CategorySet = [DataCategory::Identity, DataCategory::Contact].into_iter().collect();
    let ids: Vec<u64> = (1..=persons).collect();
    for chunk in ids.chunks(4096) {
        let events: Vec<AccessEvent> = chunk
            .iter()
            .map(|&p| AccessEvent {
                at: Timestamp(t0 + p as i64),
                request: RequestId(u128::from(p)),
                actor: Actor {
                    agent,
                    org,
                    org_kind: OrgKind::TrainingOrg,
                    role: Role::Advisor,
                    session: SessionId(77),
                },
                action: AccessAction::View,
                person: PersonId::new(p),
                requested: CategorySet::ALL,
                returned,
                relationship: None,
                decision: Decision::Allow,
                reasons: vec![],
                verdict: Verdict::allow(),
            })
            .collect();
        ledger.append(&events).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Window::new(Timestamp(t0 - 60_000), Timestamp(t0 + persons as i64 + 60_000)).map_err(|e| anyhow::anyhow!("{e}"))
}

/// One campaign against a fresh relay; returns (sent by the timed run, its seconds, messages the
/// relay took in the end, distinct among them, persons with an address).
fn campaign(
    dir: &Path,
    name: &str,
    faults: &[&str],
    persons: u64,
    connections: usize,
) -> anyhow::Result<(u64, f64, usize, usize, u64)> {
    let data = dir.join(name);
    let window = prepare(&data, persons)?;
    let sink = Sink::start(dir, name, faults)?;
    let settings = app::settings(&data, "http://localhost:8080")?;
    let app = app::open(&data, None, settings)?;
    let incidents = Incidents::new(
        app.store.clone(),
        app.ledger.clone(),
        Some(app.ledger.verifier().clone()),
        Arc::new(app::WallClock),
        IncidentSettings {
            data_dir: data.clone(),
            ledger_dir: app::ledger_dir(&data),
            keys_dir: Some(app::ledger_keys_dir(&data)),
            witness_dirs: vec![],
            cluster: None,
            controller: crate::config_notify::NotifyConfig::default().controller(),
            smtp: None,
            background: false,
            threads: 2,
        },
    );
    let err = |e: vigie_core::incident::service::IncidentError| anyhow::anyhow!("{e}");
    let agent = AgentId::new(5).context("agent")?;
    let request = OpenRequest {
        title: "bench".into(),
        window,
        awareness_at: None,
        selectors: vec![Selector::Agent(agent)],
        alert: None,
    };
    let incident = incidents.open(request, Author::Operator).map_err(err)?;
    incidents.scope_with(incident.id, false, false, Author::Operator).map_err(err)?;
    // Letters and notices, no relay: nothing is sent yet.
    let prepared = incidents.notify(incident.id, Author::Operator).map_err(err)?;
    let smtp = vigie_notify::SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port,
        tls: vigie_notify::SmtpTls::InsecureNone,
        username: None,
        password: None,
        from: "Agence <dpo@agence.example>".into(),
        message_id_domain: "agence.example".into(),
        connections,
        timeout: Duration::from_secs(30),
    };
    let incident = app.store.incident(incident.id)?.context("the incident")?;
    let controller = crate::config_notify::NotifyConfig::default().controller();
    let writer = vigie_notify::Writer { incident: &incident, controller: &controller, today: app::WallClock.now() };
    let bar = indicatif::ProgressBar::new(prepared.with_email);
    let report = vigie_notify::send_pending(app.store.as_ref(), &app::WallClock, &smtp, &writer, &|d, _| {
        bar.set_position(d);
    })?;
    bar.finish_and_clear();
    // In-doubt messages (a fault after the relay took them) are settled from the relay's log,
    // the rest sent again: the operator's `vigie incident notices --delivered --resend-in-doubt`.
    let delivered: HashSet<String> = sink.taken()?.into_iter().collect();
    vigie_notify::resolve_in_doubt(app.store.as_ref(), &app::WallClock, &incident, &delivered, true)?;
    vigie_notify::send_pending(app.store.as_ref(), &app::WallClock, &smtp, &writer, &|_, _| {})?;
    let taken = sink.taken()?;
    let distinct = taken.iter().collect::<HashSet<_>>().len();
    Ok((report.sent, report.seconds, taken.len(), distinct, prepared.with_email))
}

pub fn run(dir: &Path, persons: u64, connections: usize) -> anyhow::Result<()> {
    if dir.exists() {
        bail!("{} exists: give a directory to create", dir.display());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let runs: [(&str, &[&str]); 2] =
        [("clean", &[]), ("faults", &["--drop-rcpt-every", "997", "--drop-after-accept-every", "1999"])];
    for (name, faults) in runs {
        let (sent, secs, taken, distinct, with_email) = campaign(dir, name, faults, persons, connections)?;
        let exact = taken == distinct && distinct as u64 == with_email;
        println!(
            "{name:>6}: {sent} e-mails sent in {secs:.1} s = {:.0}/s over {connections} connections; \
             the relay took {taken} ({distinct} distinct) for {with_email} persons with an address{}",
            sent as f64 / secs,
            if exact { ": none lost, none twice" } else { ": MISMATCH" }
        );
        if !exact {
            bail!("{name}: the relay's count does not match the persons to notify");
        }
    }
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
