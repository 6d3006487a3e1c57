//! After an incident: a live attack against a running server, then the incident scoped from the
//! ledger must name exactly what the attacker's client received, person by person and category
//! by category, and the CNIL draft must carry those counts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod common;

use vigie::app;
use vigie::incidents::{IncidentSettings, Incidents};
use vigie::live::{self, LiveOptions};
use vigie_core::incident::service::{IncidentError, IncidentService, OpenRequest};
use vigie_core::incident::store::IncidentStore;
use vigie_core::incident::{Author, Selector, Window};
use vigie_core::time::{Clock, Timestamp};
use vigie_core::{CategorySet, PersonId};
use vigie_gen::GenParams;

fn scenario(name: &str) -> vigie_sim::scenario::Scenario {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    vigie::simulate::live_scenario(&[dir.join(format!("{name}.toml"))], &dir).unwrap()
}

fn service(app: &app::App, data: &Path) -> Incidents {
    let settings = IncidentSettings {
        data_dir: data.to_path_buf(),
        ledger_dir: app::ledger_dir(data),
        keys_dir: Some(app::ledger_keys_dir(data)),
        witness_dirs: vec![],
        cluster: None,
        controller: vigie::config_notify::NotifyConfig::default().controller(),
        smtp: None,
        background: false,
        threads: 2,
    };
    Incidents::new(
        app.store.clone(),
        app.ledger.clone(),
        Some(app.ledger.verifier().clone()),
        Arc::new(app::WallClock),
        settings,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_attack_is_scoped_exactly_from_the_ledger() {
    // The server as `vigie serve` runs it (its detector, its request rates, the wall clock),
    // started the one way the API tests start one.
    let today = app::WallClock.now().date();
    let t = common::Setup::new()
        .seed(21)
        .persons(6_000)
        .on(today)
        .wall_clock()
        .server_detector()
        .rates(vigie_http::shared::rates::RateSettings::default())
        .start()
        .await;
    let (app, dir) = (t.sqlite(), &t.dir);
    let scenario = scenario("stolen-session-fast-bulk");
    let cast = live::cast(&app.store, &scenario, 2, today, &[], 5).unwrap();
    let mut opts = LiveOptions::new(t.base.clone());
    opts.warmup = Duration::from_secs(1);
    opts.linger = Duration::from_secs(2);
    opts.duration = Duration::from_secs(60);
    let started = app::WallClock.now();
    let out = live::play(&opts, &cast, &scenario, false).await.unwrap();
    let attacker = out.attacker.expect("the attacker's account");
    assert!(!out.received.is_empty(), "the attacker received nothing:\n{}", out.lines.join("\n"));
    assert!(out.benign_reads > 0, "benign agents read in the same window");
    // Every entry under a checkpoint.
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let incidents = service(app, dir.path());
    let window = Window::new(Timestamp(started.0 - 60_000), app::WallClock.now().plus_millis(1)).unwrap();
    let request = OpenRequest {
        title: "Session volée d'un conseiller".into(),
        window,
        awareness_at: None,
        selectors: vec![Selector::Agent(attacker)],
        alert: None,
    };
    let incident = tokio::task::block_in_place(|| incidents.open(request, Author::Operator)).unwrap();
    let summary =
        tokio::task::block_in_place(|| incidents.scope_with(incident.id, false, true, Author::Operator)).unwrap();
    assert!(summary.unverified.is_empty(), "{:?}", summary.unverified);
    assert_eq!(summary.after_checkpoint, 0, "everything relied on is under the cited checkpoint");

    // Record by record, category by category: what the ledger says left is what arrived.
    let persons_csv = std::fs::read_to_string(incidents.dir(incident.id).join("persons.csv")).unwrap();
    let mut scoped: BTreeMap<PersonId, CategorySet> = BTreeMap::new();
    for line in persons_csv.lines().skip(1) {
        let records = line.split(',').nth(1).unwrap();
        for r in records.split(' ') {
            let (p, cats) = r.split_once(':').unwrap();
            let set: CategorySet = cats.split('+').map(|c| c.parse().unwrap()).collect();
            scoped.insert(p.parse().unwrap(), set);
        }
    }
    assert_eq!(scoped, out.received, "scoped ≠ received\n{}", out.lines.join("\n"));
    assert_eq!(summary.counts.records as usize, out.received.len());
    assert_eq!(summary.accounts.len(), 1, "only the attacker's account: no benign read of another account");
    assert_eq!(summary.accounts[0].agent, attacker);
    let originals = app.store.originals(&out.received.keys().copied().collect::<Vec<_>>()).unwrap();
    let humans: std::collections::HashSet<PersonId> =
        out.received.keys().map(|p| originals.get(p).copied().unwrap_or(*p)).collect();
    assert_eq!(summary.counts.persons as usize, humans.len());
    let nir = humans
        .iter()
        .filter(|h| {
            out.received.iter().any(|(p, c)| {
                originals.get(p).copied().unwrap_or(*p) == **h && c.contains(vigie_core::DataCategory::Nir)
            })
        })
        .count();
    assert_eq!(summary.counts.nir as usize, nir);
    // Every entry relied on has an inclusion proof that verifies.
    let proofs = std::fs::read_to_string(incidents.dir(incident.id).join("proofs.jsonl")).unwrap();
    assert_eq!(proofs.lines().count() as u64, summary.counts.released_entries + 1);

    // The CNIL draft carries the same counts.
    let report = tokio::task::block_in_place(|| incidents.notify(incident.id, Author::Operator)).unwrap();
    assert_eq!(report.persons as usize, humans.len());
    let cnil = std::fs::read_to_string(incidents.dir(incident.id).join("cnil.md")).unwrap();
    let expected = if humans.len() == 1 { "1 personne".to_owned() } else { format!("{} personnes", fr(humans.len())) };
    assert!(cnil.contains(&expected), "{expected} not in\n{cnil}");
    assert!(
        cnil.contains(&format!(
            "| NIR (numéro de sécurité sociale) | {} |",
            if nir == 1 { "1 personne".into() } else { format!("{} personnes", fr(nir)) }
        )),
        "{cnil}"
    );
    // One letter per person, and the mail-merge file.
    let letters = incidents.dir(incident.id).join("letters");
    let pdfs = walk(&letters).into_iter().filter(|p| p.extension().is_some_and(|x| x == "pdf")).count();
    assert_eq!(pdfs, humans.len());
    // Whatever the umask: the incident's files and the scoping index are the owner's only (they
    // name every person exposed).
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for root in [dir.path().join("incidents"), app::ledger_dir(dir.path()).join("index")] {
            assert_eq!(mode(&root), 0o700, "{}", root.display());
            for f in walk(&root) {
                assert_eq!(mode(&f), 0o600, "{}", f.display());
                assert_eq!(mode(f.parent().unwrap()), 0o700, "{}", f.display());
            }
        }
    }
    // A second notify is refused, and nothing is rewritten.
    let again = tokio::task::block_in_place(|| incidents.notify(incident.id, Author::Operator)).unwrap_err();
    assert!(matches!(again, IncidentError::Transition(_)), "{again}");
    drop(t);
}

fn fr(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202F}');
        }
        out.push(c);
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A data directory whose ledger holds 600 reads by account A5 of persons 1..=600 (identity and
/// contact released), a day ago, and nothing else of A5.
fn reads_of_one_account(dir: &Path) -> (Timestamp, Timestamp) {
    let today = app::WallClock.now().date();
    vigie::generate::generate(dir, &GenParams { seed: 4, persons: 2_000, as_of: today }, false, false).unwrap();
    let ledger = vigie_ledger::Ledger::open(&app::ledger_dir(dir), app::ledger_options(dir)).unwrap();
    let t0 = app::WallClock.now().0 - 86_400_000;
    let agent = vigie_core::ids::AgentId::new(5).unwrap();
    use vigie_core::ports::AccessLedger;
    ledger
        .record(&[vigie_core::security::SecurityEvent::new(Timestamp(t0), vigie_core::security::SecurityKind::SignIn)
            .by(agent, vigie_core::ids::OrgId::new(1).unwrap())
            .session(vigie_core::ids::SessionId(77))
            .context("198.51.100.0/24 firefox")])
        .unwrap();
    let events: Vec<vigie_core::event::AccessEvent> = (1..=600u64)
        .map(|p| vigie_core::event::AccessEvent {
            at: Timestamp(t0 + p as i64 * 1_000),
            request: vigie_core::ids::RequestId(u128::from(p)),
            actor: vigie_core::event::Actor {
                agent,
                org: vigie_core::ids::OrgId::new(1).unwrap(),
                org_kind: vigie_core::org::OrgKind::TrainingOrg,
                role: vigie_core::org::Role::Advisor,
                session: vigie_core::ids::SessionId(77),
            },
            action: vigie_core::event::AccessAction::View,
            person: PersonId::new(p),
            requested: CategorySet::ALL,
            returned: [vigie_core::DataCategory::Identity, vigie_core::DataCategory::Contact].into_iter().collect(),
            relationship: None,
            decision: vigie_core::event::Decision::Allow,
            reasons: vec![],
            verdict: vigie_core::event::Verdict::allow(),
        })
        .collect();
    ledger.append(&events).unwrap();
    (Timestamp(t0 - 60_000), Timestamp(t0 + 700_000))
}

use vigie::bench_mail::Sink;

fn vigie(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vigie")).args(args).output().unwrap()
}

fn ok(out: std::process::Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn a_campaign_killed_in_the_middle_sends_each_person_exactly_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (from, to) = reads_of_one_account(&data);
    // Faults: every 37th connection step dropped at RCPT (not taken, retried), every 150th message
    // dropped after it was taken (in doubt, settled from the relay's log).
    let sink =
        Sink::start(dir.path(), "sink", &["--drop-rcpt-every", "37", "--drop-after-accept-every", "150"]).unwrap();
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[notify]\ncontroller = \"Agence de test\"\ndpo_email = \"dpo@agence.example\"\n\
             [notify.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"insecure_none\"\nfrom = \"Agence <dpo@agence.example>\"\nconnections = 2\n",
            data.display().to_string(),
            sink.port
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let iso = |t: Timestamp| {
        time::OffsetDateTime::from_unix_timestamp(t.0 / 1000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    ok(vigie(&[
        "incident",
        "open",
        "-c",
        c,
        "--title",
        "Compte A5",
        "--from",
        &iso(from),
        "--to",
        &iso(to),
        "--agent",
        "A5",
    ]));
    let scoped = ok(vigie(&["incident", "scope", "-c", c, "I1"]));
    assert!(scoped.contains("(600 registry records)"), "{scoped}");

    // The campaign in a child process, killed once the relay has taken a hundred messages.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["incident", "notify", "-c", c, "I1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while sink.taken().unwrap().len() < 100 {
        assert!(std::time::Instant::now() < deadline, "the campaign did not get going");
        assert!(child.try_wait().unwrap().is_none(), "the campaign ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = sink.taken().unwrap().len();
    assert!(at_kill < 550, "killed too late to prove anything ({at_kill} taken)");

    // A second notify is refused; the campaign resumes.
    let again = vigie(&["incident", "notify", "-c", c, "I1"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already being notified"), "{again:?}");
    ok(vigie(&["incident", "notify", "-c", c, "I1", "--resume"]));
    // In-doubt messages (the kill, the faults after acceptance) are settled from the relay's log.
    let ids = dir.path().join("delivered.txt");
    std::fs::write(&ids, sink.taken().unwrap().join("\n")).unwrap();
    let settled =
        ok(vigie(&["incident", "notices", "-c", c, "I1", "--delivered", ids.to_str().unwrap(), "--resend-in-doubt"]));
    ok(vigie(&["incident", "notify", "-c", c, "I1", "--resume"]));
    std::fs::write(&ids, sink.taken().unwrap().join("\n")).unwrap();
    let last = ok(vigie(&["incident", "notices", "-c", c, "I1", "--delivered", ids.to_str().unwrap()]));

    let delivered = sink.taken().unwrap();
    let unique: std::collections::HashSet<&String> = delivered.iter().collect();
    assert_eq!(unique.len(), delivered.len(), "a person got two messages\n{settled}\n{last}");
    // Every human among the persons read (duplicates merged) with an e-mail got exactly one.
    let store = vigie_store::Store::open(&data).unwrap();
    let read: Vec<PersonId> = (1..=600).filter_map(PersonId::new).collect();
    let originals = store.originals(&read).unwrap();
    let humans: std::collections::BTreeSet<PersonId> =
        read.iter().map(|p| originals.get(p).copied().unwrap_or(*p)).collect();
    let with_email = store
        .recipients(&humans.into_iter().collect::<Vec<_>>())
        .unwrap()
        .into_iter()
        .filter(|r| r.email.is_some())
        .count();
    assert_eq!(delivered.len(), with_email, "\n{settled}\n{last}");
    assert!(last.contains(&format!("{with_email} sent, 0 pending, 0 in doubt")), "{last}");
    drop(store);

    // The registry holding this incident is not replaced by mistake: its incidents would go with it.
    let d = data.to_str().unwrap();
    let again = vigie(&["generate", "--data-dir", d, "--persons", "100", "--replace"]);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && said.contains("holds incidents"), "{said}");
    assert!(said.contains("--discard-incidents"), "{said}");
    assert_eq!(vigie_store::Store::open(&data).unwrap().incidents(10).unwrap().len(), 1, "nothing replaced");
    let replaced = ok(vigie(&["generate", "--data-dir", d, "--persons", "100", "--replace", "--discard-incidents"]));
    assert!(vigie_store::Store::open(&data).unwrap().incidents(10).unwrap().is_empty());
    // The old incident's files are moved aside, so that the new registry's I1 does not find
    // the old scope and letters as its own, and the output says where they went.
    assert!(!data.join("incidents").exists(), "{replaced}");
    let aside: Vec<std::path::PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("incidents.discarded-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(aside[0].join("I1").join("persons.csv").is_file(), "{aside:?}");
    assert!(replaced.contains(&aside[0].display().to_string()), "{replaced}");
}
