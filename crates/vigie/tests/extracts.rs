//! Governed bulk extracts, end to end: a request, a second person's approval, a production whose
//! file Debian's `age` (an independent implementation) decrypts, a signed manifest, every row in
//! the ledger, a deletion receipt; a leaked 1 % sample without identifier columns attributed to
//! its extract; and every refusal the issue lists.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use vigie::config_extracts::ExtractsConfig;
use vigie::extracts::{ExtractFailure, Extracts, RequestInput};
use vigie_core::event::AccessAction;
use vigie_core::extract::store::ExtractStore;
use vigie_core::extract::{ExtractId, ExtractState};
use vigie_core::ids::AgentId;
use vigie_core::org::{Agent, OrgKind, Organization, Role};
use vigie_core::ports::Registry;
use vigie_core::relationship::RelationshipKind;
use vigie_core::time::{Clock, FixedClock, Timestamp, format_date};
use vigie_gen::GenParams;
use vigie_ledger::Ledger;
use vigie_store::Store;

const DAY: i64 = 24 * 3600 * 1000;

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<Store>,
    ledger: Arc<Ledger>,
    clock: Arc<FixedClock>,
    svc: Extracts,
    org: Organization,
    requester: Agent,
    officer: Agent,
    recipient_key: PathBuf,
    recipient: String,
    receipt_signing: ed25519_dalek::SigningKey,
}

fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap()
}

fn agents(store: &Store) -> Vec<(Agent, Organization)> {
    (1..100_000u64)
        .filter_map(AgentId::new)
        .map_while(|id| store.agent(id).unwrap())
        .map(|a| {
            let o = store.organization(a.org).unwrap().unwrap();
            (a, o)
        })
        .collect()
}

/// A registry of `persons`, a subcontractor whose advisor requests, an agency security officer
/// who approves, and a recipient's age key made by Debian's `age-keygen`. With `everyone`, the
/// subcontractor is assigned every person (a national mailing house).
fn fixture(persons: u64, everyone: bool, config: ExtractsConfig) -> Fixture {
    let dir = private_tempdir();
    let today = vigie::app::WallClock.now().date();
    let params = GenParams { seed: 2023, persons, as_of: today };
    vigie::generate::generate(dir.path(), &params, false, false).unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let all = agents(&store);
    let (requester, org) = all
        .iter()
        .find(|(a, o)| a.role == Role::Advisor && o.kind == OrgKind::Subcontractor && a.active)
        .cloned()
        .expect("a subcontractor's advisor");
    let (officer, _) = all
        .iter()
        .find(|(a, o)| a.role == Role::SecurityOfficer && o.kind == OrgKind::Agency)
        .cloned()
        .expect("a security officer");
    if everyone {
        store.relate_everyone(org.id, RelationshipKind::Assignment, today).unwrap();
    }
    let ledger =
        Arc::new(Ledger::open(&vigie::app::ledger_dir(dir.path()), vigie::app::ledger_options(dir.path())).unwrap());
    let clock = Arc::new(FixedClock::at(vigie::app::WallClock.now()));
    let authz = Arc::new(vigie::app::load_policies(None).unwrap());
    // These tests decrypt with Debian's `age` alone: plain X25519 recipients, which a
    // deployment accepts only when it says so (the sealed default is tested below and in the API).
    let config = ExtractsConfig { insecure_offline_recipients: true, ..config };
    let svc = Extracts::new(store.clone(), ledger.clone(), authz, clock.clone(), dir.path(), config).unwrap();
    let recipient_key = dir.path().join("recipient-key.txt");
    let out = Command::new("age-keygen").arg("-o").arg(&recipient_key).output().expect("Debian's age-keygen");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recipient = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("Public key: ").map(str::to_owned))
        .expect("age-keygen prints the public key");
    let receipt_signing = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    Fixture { dir, store, ledger, clock, svc, org, requester, officer, recipient_key, recipient, receipt_signing }
}

impl Fixture {
    fn input(&self, fields: &[&str], days: i64) -> RequestInput {
        RequestInput {
            purpose: "document_processing".into(),
            description: "Courriers de convocation, traitement par le prestataire".into(),
            legal_basis: "public_task".into(),
            relationship: "assignment".into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            recipient: self.recipient.clone(),
            receipt_key: base64::engine::general_purpose::STANDARD
                .encode(self.receipt_signing.verifying_key().as_bytes()),
            retain_until: format_date(Timestamp(self.clock.now().millis() + days * DAY).date()),
        }
    }

    /// Another service over the same registry, ledger and clock, with `config`.
    fn service(&self, config: ExtractsConfig) -> Extracts {
        let authz = Arc::new(vigie::app::load_policies(None).unwrap());
        Extracts::new(self.store.clone(), self.ledger.clone(), authz, self.clock.clone(), self.dir.path(), config)
            .unwrap()
    }

    fn approved(&self, fields: &[&str]) -> ExtractId {
        let x = self.svc.request(&self.requester, &self.input(fields, 30)).unwrap();
        self.svc.decide(x.id, &self.officer, true, true).unwrap();
        x.id
    }

    fn decrypt(&self, file: &Path) -> String {
        let out = Command::new("age").arg("--decrypt").arg("-i").arg(&self.recipient_key).arg(file).output().unwrap();
        assert!(out.status.success(), "age -d: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

fn refused(r: Result<impl std::fmt::Debug, ExtractFailure>, needle: &str) {
    match r {
        Err(ExtractFailure::Refused(m)) => assert!(m.contains(needle), "refusal {m:?} does not say {needle:?}"),
        other => panic!("expected a refusal saying {needle:?}, got {other:?}"),
    }
}

fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r.records().map(|rec| rec.unwrap().iter().map(str::to_owned).collect()).collect();
    (header, rows)
}

#[test]
fn a_full_life_cycle_decrypts_with_debian_age_and_ledgers_every_row() {
    let f = fixture(4_000, false, ExtractsConfig::default());
    let id = f.approved(&["identity", "contact", "status"]);
    let report = f.svc.produce(id).unwrap();
    assert_eq!(report.extract.state, ExtractState::Produced);
    assert!(report.pseudonymized, "a subcontractor's document processing needs no real identifier");
    let persons = f.store.count_extract_persons(f.org.id, RelationshipKind::Assignment, f.clock.now().date()).unwrap();
    assert!(persons > 20, "the subcontractor has assignments ({persons})");
    assert_eq!(report.rows, persons);
    assert!(report.canaries >= 8);

    // The recipient downloads, checks the manifest's signature and hash, decrypts with age.
    let inbox = f.dir.path().join("inbox");
    let files = f.svc.download(id, &f.requester, &inbox).unwrap();
    let cipher = &files[0];
    let head = std::fs::read(cipher).unwrap();
    assert!(head.starts_with(b"age-encryption.org/v1\n"), "the file is age ciphertext");
    let manifest_bytes = std::fs::read(&files[1]).unwrap();
    let sig = std::fs::read_to_string(&files[2]).unwrap();
    assert!(vigie_extract::manifest::verify_manifest(&manifest_bytes, &sig, &f.svc.signing_key()));
    let mut forged = manifest_bytes.clone();
    let at = forged.iter().rposition(|b| b.is_ascii_digit()).unwrap();
    forged[at] = if forged[at] == b'9' { b'8' } else { b'9' };
    assert!(!vigie_extract::manifest::verify_manifest(&forged, &sig, &f.svc.signing_key()));
    let manifest: vigie_extract::manifest::Manifest = serde_json::from_slice(&manifest_bytes).unwrap();
    let sha: String = sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &head))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(manifest.ciphertext_sha256, sha);
    assert_eq!(manifest.rows, report.rows + report.canaries);
    assert_eq!(manifest.fields, ["identity", "contact", "status"]);

    let plain = f.decrypt(cipher);
    let (header, rows) = parse_csv(&plain);
    assert_eq!(header[0], "ref");
    assert!(!header.iter().any(|h| h == "nir" || h == "ft_id" || h == "rqth"), "minimized: {header:?}");
    assert_eq!(rows.len() as u64, manifest.rows);
    // Every real row is the registry's person, unaltered; the refs are unique.
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let refs: HashSet<&String> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(refs.len(), rows.len(), "pseudonyms are unique in the file");
    let mut real = 0;
    let mut seen_persons = HashSet::new();
    vigie_core::extract::store::for_each_person(
        f.store.as_ref(),
        f.org.id,
        RelationshipKind::Assignment,
        f.clock.now().date(),
        |p| {
            seen_persons.insert((p.last_name.clone(), p.first_name.clone(), format_date(p.birth_date)));
            Ok::<_, vigie_core::ports::StoreError>(())
        },
    )
    .unwrap();
    for r in &rows {
        if seen_persons.contains(&(
            r[col("last_name")].clone(),
            r[col("first_name")].clone(),
            r[col("birth_date")].clone(),
        )) {
            real += 1;
        }
    }
    assert!(real as u64 >= report.rows, "every real row matches the registry ({real} of {})", report.rows);

    // Every real row is in the ledger under the extract's session, before the file existed.
    let session = vigie::extracts::extract_session(id);
    let mut extract_entries = 0u64;
    let want = vigie_core::category::CategorySet::from_iter([
        vigie_core::category::DataCategory::Identity,
        vigie_core::category::DataCategory::Contact,
        vigie_core::category::DataCategory::Status,
    ]);
    for entry in f.ledger.entries().unwrap() {
        let entry = entry.unwrap();
        if entry.kind != vigie_ledger::EntryKind::Access {
            continue;
        }
        let e = vigie_core::event::EventHead::decode(&entry.body).unwrap();
        if e.action == AccessAction::Extract && e.session == session {
            extract_entries += 1;
            assert_eq!(e.returned, want);
            assert_eq!(e.agent, f.requester.id);
        }
    }
    assert_eq!(extract_entries, report.rows);

    // A forged receipt is refused; the recipient's own is accepted, once.
    let receipt = vigie_extract::manifest::Receipt {
        format: vigie_extract::manifest::RECEIPT_FORMAT.into(),
        extract: id.to_string(),
        ciphertext_sha256: sha.clone(),
        deleted_at: "2026-12-07T10:00:00Z".into(),
        statement: "deleted".into(),
    };
    let (bytes, forged_sig) = receipt.sign(&ed25519_dalek::SigningKey::from_bytes(&[7; 32])).unwrap();
    refused(f.svc.receipt(id, &bytes, &forged_sig), "signature does not verify");
    let unknown = f.svc.receipt(ExtractId::new(999).unwrap(), &bytes, &forged_sig);
    assert!(matches!(unknown, Err(ExtractFailure::NotFound(x)) if x.get() == 999), "{unknown:?}");
    let (bytes, good) = receipt.sign(&f.receipt_signing).unwrap();
    assert_eq!(f.svc.receipt(id, &bytes, &good).unwrap().state, ExtractState::Deleted);
    refused(f.svc.receipt(id, &bytes, &good), "deleted");
}

#[test]
fn every_bad_request_is_refused_and_nothing_is_half_written() {
    let config = ExtractsConfig { quota_persons_30_days: 1_000_000, ..ExtractsConfig::default() };
    let f = fixture(4_000, false, config);
    let ok = |fields: &[&str]| f.input(fields, 30);

    // Over-broad: the NIR is never for a subcontractor; a purpose no policy names allows nothing.
    refused(f.svc.request(&f.requester, &ok(&["identity", "nir"])), "does not allow nir");
    refused(f.svc.request(&f.requester, &ok(&["identity", "sensitive"])), "does not allow sensitive");
    refused(
        f.svc.request(&f.requester, &RequestInput { purpose: "marketing".into(), ..ok(&["identity"]) }),
        "allows no field",
    );
    refused(f.svc.request(&f.requester, &RequestInput { purpose: "Bad Purpose".into(), ..ok(&["identity"]) }), "token");
    refused(f.svc.request(&f.requester, &ok(&[])), "no field");
    refused(f.svc.request(&f.requester, &ok(&["identity", "salary"])), "field 'salary'");
    // The recipient's keys.
    refused(
        f.svc.request(&f.requester, &RequestInput { recipient: "age1notakey".into(), ..ok(&["identity"]) }),
        "not an age X25519 public key",
    );
    refused(
        f.svc.request(&f.requester, &RequestInput { recipient: "ssh-ed25519 AAAA".into(), ..ok(&["identity"]) }),
        "not an age X25519 public key",
    );
    refused(
        f.svc.request(&f.requester, &RequestInput { receipt_key: "bm90IGEga2V5".into(), ..ok(&["identity"]) }),
        "not an Ed25519 public key",
    );
    // Retention: in the past, beyond the legal maximum, not a date.
    refused(f.svc.request(&f.requester, &f.input(&["identity"], -1)), "is not in the future");
    refused(f.svc.request(&f.requester, &f.input(&["identity"], 120)), "the longest allowed is 90 days");
    refused(
        f.svc.request(&f.requester, &RequestInput { retain_until: "31/12/2026".into(), ..ok(&["identity"]) }),
        "not a date",
    );
    refused(
        f.svc.request(&f.requester, &RequestInput { legal_basis: "consent".into(), ..ok(&["identity"]) }),
        "legal basis 'consent'",
    );
    refused(
        f.svc.request(&f.requester, &RequestInput { relationship: "enrolment".into(), ..ok(&["identity"]) }),
        "does not reach persons for a subcontractor",
    );
    // Only partners' advisors and managers ask; an officer does not.
    refused(f.svc.request(&f.officer, &ok(&["identity"])), "only an advisor or manager");
    assert!(f.svc.list(100).unwrap().is_empty(), "no refused request was filed");

    // Approval: not oneself, not without a fresh second factor; production only once approved.
    let x = f.svc.request(&f.requester, &ok(&["identity", "contact"])).unwrap();
    refused(f.svc.produce(x.id), "requested, not approved");
    refused(f.svc.decide(x.id, &f.requester, true, true), "your own");
    refused(f.svc.decide(x.id, &f.officer, false, true), "step-up");
    let advisor = agents(&f.store)
        .into_iter()
        .find(|(a, _)| a.org == f.org.id && a.role == Role::Advisor && a.id != f.requester.id)
        .map(|(a, _)| a)
        .expect("an advisor of the subcontractor");
    refused(f.svc.decide(x.id, &advisor, true, true), "only a security_officer");
    f.svc.decide(x.id, &f.officer, true, true).unwrap();
    refused(f.svc.decide(x.id, &f.officer, true, true), "approved, not requested");
    // Past its retention, it is not produced.
    f.clock.advance_millis(31 * DAY);
    refused(f.svc.produce(x.id), "past its retention");
    let files: Vec<_> = std::fs::read_dir(f.svc.dir()).unwrap().collect();
    assert!(files.is_empty(), "nothing was written: {files:?}");
    f.clock.advance_millis(-31 * DAY);

    // A downloader who is neither the requester, its manager nor an officer is refused.
    let y = f.approved(&["identity"]);
    f.svc.produce(y).unwrap();
    refused(f.svc.download(y, &advisor, &f.dir.path().join("elsewhere")), "only the requester");
    // Over quota: the organization's persons over 30 days.
    let small =
        ExtractsConfig { quota_persons_30_days: 5, insecure_offline_recipients: true, ..ExtractsConfig::default() };
    let strict = f.service(small);
    refused(strict.request(&f.requester, &ok(&["identity"])), "extract quota is 5 persons per 30 days");
    // Overdue: past retention without a receipt, listed (and ledgered once).
    assert!(f.svc.overdue().unwrap().is_empty());
    f.clock.advance_millis(31 * DAY);
    let overdue = f.svc.overdue().unwrap();
    assert_eq!(overdue.iter().map(|x| x.id).collect::<Vec<_>>(), vec![y]);
    refused(f.svc.download(y, &f.requester, &f.dir.path().join("late")), "past its retention");
}

/// Every 100th row of the file, from a keyed start, with every identifier column removed.
fn sample_without_identifiers(plain: &str, every: usize) -> (String, usize) {
    let (header, rows) = parse_csv(plain);
    let keep: Vec<usize> =
        (0..header.len()).filter(|&i| !matches!(header[i].as_str(), "ref" | "ft_id" | "nir")).collect();
    let mut out = String::new();
    let mut n = 0;
    for r in rows.iter().skip(37).step_by(every) {
        let cells: Vec<String> =
            keep.iter().map(|&i| if r[i].contains(',') { format!("\"{}\"", r[i]) } else { r[i].clone() }).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
        n += 1;
    }
    (out, n)
}

#[test]
fn a_leaked_sample_without_identifiers_names_its_extract_and_one_row_names_it_too() {
    // A national mailing house assigned every person: extracts of ~100 000 rows.
    let f = fixture(100_000, true, ExtractsConfig::default());
    let a = f.approved(&["identity", "contact"]);
    let b = f.approved(&["identity", "contact"]);
    let ra = f.svc.produce(a).unwrap();
    let rb = f.svc.produce(b).unwrap();
    assert!(ra.rows >= 100_000 - 2_000 && rb.rows == ra.rows, "{} {}", ra.rows, rb.rows);
    let plain_a = f.decrypt(&ra.file);
    let plain_b = f.decrypt(&rb.file);

    // 1 % of A's rows, identifiers removed: A is named, B is not.
    let (leak, rows) = sample_without_identifiers(&plain_a, 100);
    let total = (ra.rows + ra.canaries) as usize;
    assert_eq!(rows, (total - 37).div_ceil(100), "a 1 % sample");
    let got = f.svc.attribute(leak.as_bytes()).unwrap();
    let named: Vec<ExtractId> = got.named().iter().map(|(x, _)| *x).collect();
    assert_eq!(named, vec![a], "{:?}", got.per_extract);
    let evidence = &got.per_extract[&a];
    assert!(evidence.canaries.len() >= 2, "{evidence:?}");
    assert!(evidence.log10_false < -6.0, "{evidence:?}");
    // The same from B's file names B.
    let (leak_b, _) = sample_without_identifiers(&plain_b, 100);
    let got_b = f.svc.attribute(leak_b.as_bytes()).unwrap();
    assert_eq!(got_b.named().iter().map(|(x, _)| *x).collect::<Vec<_>>(), vec![b]);
    // A single row with its pseudonym names its extract.
    let (_, rows_a) = parse_csv(&plain_a);
    let one = format!("{}\n", rows_a[1234].join(","));
    assert_eq!(f.svc.attribute(one.as_bytes()).unwrap().named().iter().map(|(x, _)| *x).collect::<Vec<_>>(), vec![a]);
    // Real persons' rows alone (straight from the registry: no canary, no pseudonym) name
    // nobody, though both files hold them: the marks are the only evidence, nothing is invented.
    let mut unmarked = String::new();
    for id in 1..=2_000u64 {
        if let Some(p) = f.store.person(vigie_core::PersonId::new(id).unwrap()).unwrap() {
            unmarked.push_str(&format!(
                "{},{},{},{},{}\n",
                p.last_name,
                p.first_name,
                format_date(p.birth_date),
                p.email.unwrap_or_default(),
                p.phone.unwrap_or_default()
            ));
        }
    }
    let got = f.svc.attribute(unmarked.as_bytes()).unwrap();
    assert!(got.rows >= 1_900 && got.named().is_empty(), "{} rows: {:?}", got.rows, got.per_extract);

    // A canary of the extract is in the registry as a canary: a later lookup trips the detector.
    let canaries: HashMap<_, _> = f.store.extract_canaries().unwrap().into_iter().collect();
    assert_eq!(canaries.values().filter(|x| **x == a).count() as u64, ra.canaries);
    let registry_canaries = f.store.canaries().unwrap();
    assert!(canaries.keys().all(|p| registry_canaries.contains(p)));
}

#[test]
fn a_production_killed_midway_leaves_only_ciphertext_and_counts_nothing() {
    let f = fixture(100_000, true, ExtractsConfig::default());
    // Sealed (the CLI below runs on the default configuration, which refuses plain keys).
    let identity = vigie_seal::Identity::generate("http://127.0.0.1:9").unwrap();
    let mut input = f.input(&["identity", "contact", "status"], 30);
    input.recipient = identity.recipient().to_string();
    input.receipt_key = identity.receipt_key();
    let x = f.svc.request(&f.requester, &input).unwrap().id;
    f.svc.decide(x, &f.officer, true, true).unwrap();
    let data = f.dir.path().to_path_buf();
    let partial = f.svc.dir().join(format!("{x}.csv.age.partial"));
    let Fixture { svc, ledger, store, clock, .. } = f;
    drop(svc);
    drop(ledger);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["extract", "produce", &x.to_string(), "--data-dir"])
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 256 * 1024 {
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "the production never started");
        assert!(child.try_wait().unwrap().is_none(), "the production ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // What is on disk is ciphertext only; the extract is still approved and counts nothing.
    for e in std::fs::read_dir(data.join("extracts")).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"), "{} is not age ciphertext", p.display());
        let text = String::from_utf8_lossy(&bytes);
        let first = store.person(vigie_core::PersonId::new(1).unwrap()).unwrap().unwrap();
        for clear in ["ref,last_name", &first.last_name, first.email.as_deref().unwrap_or("ref,last_name")] {
            assert!(!text.contains(clear), "plaintext ({clear}) in {}", p.display());
        }
    }
    assert_eq!(store.extract(x).unwrap().unwrap().state, ExtractState::Approved);
    let org = store.extract(x).unwrap().unwrap().org;
    assert_eq!(store.extracted_since(org, Timestamp(0)).unwrap(), 0);
    assert!(store.extract_canaries().unwrap().is_empty(), "no canary was added");
    // Produced again from the start, it completes.
    let ledger = Arc::new(Ledger::open(&vigie::app::ledger_dir(&data), vigie::app::ledger_options(&data)).unwrap());
    let authz = Arc::new(vigie::app::load_policies(None).unwrap());
    let svc = Extracts::new(store.clone(), ledger, authz, clock, &data, ExtractsConfig::default()).unwrap();
    let r = svc.produce(x).unwrap();
    assert_eq!(r.extract.state, ExtractState::Produced);
    assert!(!partial.exists());
}

#[test]
fn an_incident_on_the_requesters_account_scopes_the_persons_its_extracts_held() {
    use vigie_core::incident::service::{IncidentService, OpenRequest};
    use vigie_core::incident::{Author, Selector, Window};
    let f = fixture(4_000, false, ExtractsConfig::default());
    let a = f.approved(&["identity", "contact", "status"]);
    let ra = f.svc.produce(a).unwrap();
    // Every entry under a published checkpoint, the verification recorded as the server does.
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let data = f.dir.path();
    vigie_scope::record_verification(
        &vigie::app::ledger_dir(data),
        Ok(f.ledger.open_report().entries),
        f.clock.now().millis(),
    )
    .unwrap();
    let incidents = vigie::incidents::Incidents::new(
        f.store.clone(),
        f.ledger.clone(),
        Some(f.ledger.verifier().clone()),
        f.clock.clone(),
        vigie::incidents::IncidentSettings {
            data_dir: data.to_path_buf(),
            ledger_dir: vigie::app::ledger_dir(data),
            keys_dir: Some(vigie::app::ledger_keys_dir(data)),
            witness_dirs: vec![],
            cluster: None,
            controller: vigie::config_notify::NotifyConfig::default().controller(),
            smtp: None,
            background: false,
            threads: 1,
        },
    );
    let now = f.clock.now();
    let window = Window::new(Timestamp(now.millis() - 3_600_000), Timestamp(now.millis() + 3_600_000)).unwrap();
    let i = incidents
        .open(
            OpenRequest {
                title: "Fichier du prestataire".into(),
                window,
                awareness_at: None,
                selectors: vec![Selector::Agent(f.requester.id)],
                alert: None,
            },
            Author::Operator,
        )
        .unwrap();
    let s = incidents.scope(i.id, true, Author::Operator).unwrap();
    // Every row of the file counts as released to the requester's organization (the canaries,
    // not persons, are not counted), and nothing else: the requester read no record itself.
    assert_eq!(s.counts.records, ra.rows, "{s:?}");
    assert_eq!(s.counts.contact, s.counts.persons);
    assert!(s.counts.persons <= ra.rows && s.counts.persons > 0);
    assert_eq!(s.counts.nir, 0);
    assert_eq!(s.accounts.len(), 1);
    assert_eq!(s.accounts[0].agent, f.requester.id);

    // "This recipient's server leaked": one extract, not the requester's other one.
    let b = f.approved(&["identity"]);
    let rb = f.svc.produce(b).unwrap();
    let selector: Selector = format!("extract:{a}").parse().unwrap();
    assert_eq!(selector.to_string(), format!("extract:{a}"));
    let one = |selectors: Vec<Selector>| {
        incidents.open(
            OpenRequest { title: "Serveur du prestataire".into(), window, awareness_at: None, selectors, alert: None },
            Author::Operator,
        )
    };
    let i = one(vec![selector]).unwrap();
    let s = incidents.scope(i.id, true, Author::Operator).unwrap();
    assert_eq!(s.counts.records, ra.rows, "only the rows of {a}, not the {} of {b}", rb.rows);
    assert_eq!(s.counts.contact, s.counts.persons);
    // An extract never produced is refused, naming it.
    let never: Selector = "extract:X999".parse().unwrap();
    let err = one(vec![never]).unwrap_err().to_string();
    assert!(err.contains("no extract X999 was produced"), "{err}");
}

fn kinds(ledger: &Ledger) -> Vec<String> {
    ledger
        .entries()
        .unwrap()
        .filter_map(|e| vigie_core::security::SecurityEvent::decode(&e.unwrap().body))
        .map(|e| e.kind.as_str().to_owned())
        .collect()
}

#[test]
fn a_sealed_extract_opens_until_it_expires_and_never_after() {
    let f = fixture(3_000, false, ExtractsConfig::default());
    let identity = vigie_seal::Identity::generate("http://127.0.0.1:9").unwrap();
    let mut input = f.input(&["identity", "contact"], 3);
    input.recipient = identity.recipient().to_string();
    input.receipt_key = identity.receipt_key();
    let x = f.svc.request(&f.requester, &input).unwrap();
    f.svc.decide(x.id, &f.officer, true, true).unwrap();
    let report = f.svc.produce(x.id).unwrap();

    let ask = |at: Timestamp| {
        let r = vigie_seal::OpenRequest::new(&identity, &x.id.to_string(), &at.to_string());
        let input = vigie::extracts::OpenInput {
            format: r.format.clone(),
            at: r.at.clone(),
            nonce: r.nonce.clone(),
            signature: r.signature.clone(),
        };
        (r, f.svc.open(x.id, &input, "192.0.2.7"))
    };
    let (r, opened) = ask(f.clock.now());
    let opened = opened.unwrap();
    let reply = vigie_seal::OpenReply {
        extract: x.id.to_string(),
        expires_on: opened.expires_on.clone(),
        epk: opened.epk,
        sealed: opened.sealed,
    };
    let secret = reply.open(&r, &identity).unwrap();
    // The secret is the one the file's stanza needs: read the stanza from the header.
    let head = std::fs::read(&report.file).unwrap();
    let text = String::from_utf8_lossy(&head[..400]).to_string();
    let line = text.lines().find(|l| l.starts_with("-> vigie ")).expect("a vigie stanza");
    let args: Vec<String> = line.split(' ').skip(2).map(str::to_owned).collect();
    let body_line = text.lines().skip_while(|l| !l.starts_with("-> vigie ")).nth(1).unwrap();
    let body = base64::engine::general_purpose::STANDARD_NO_PAD.decode(body_line).unwrap();
    let stanza = vigie_seal::SealedStanza::from_parts(&args, &body).unwrap();
    stanza.unwrap(&identity, &secret).expect("the released secret unwraps the file key");
    assert!(kinds(&f.ledger).iter().any(|k| k == "extract.opened"));
    // A key in a loop is held back after a few dozen openings in ten minutes.
    for _ in 1..vigie::extracts::OPENINGS_PER_WINDOW {
        ask(f.clock.now()).1.unwrap();
    }
    refused(ask(f.clock.now()).1, "try again later");
    f.clock.advance_millis(11 * 60_000);
    ask(f.clock.now()).1.unwrap();

    // Four days later, past the retention: refused, ledgered.
    f.clock.advance_millis(4 * DAY);
    let (_, late) = ask(f.clock.now());
    match late {
        Err(ExtractFailure::Gone(m)) => assert!(m.contains("expired on"), "{m}"),
        other => panic!("an expired extract opened: {other:?}"),
    }
    assert!(kinds(&f.ledger).iter().any(|k| k == "extract.open_refused"));
    // A plain age key is refused where the deployment has not said insecure_offline_recipients.
    let strict = f.service(ExtractsConfig::default());
    refused(strict.request(&f.requester, &f.input(&["identity"], 3)), "insecure_offline_recipients");
}

/// A detector that holds back every extract request or approval, as the ladder does for an
/// account it is containing.
struct HoldsBack;

impl vigie_core::ports::Detector for HoldsBack {
    fn assess(
        &self,
        _: &vigie_core::event::AccessEvent,
        _: &vigie_core::ports::DetectContext,
    ) -> vigie_core::event::Verdict {
        vigie_core::event::Verdict::allow()
    }
    fn lifecycle(&self, a: &vigie_core::ports::LifecycleAction) -> vigie_core::event::Verdict {
        vigie_core::event::Verdict {
            action: vigie_core::event::VerdictAction::Throttle,
            reasons: vec![format!("{}_while_contained=1", a.kind.as_str())],
        }
    }
}

#[test]
fn an_account_the_detector_contains_neither_requests_approves_nor_receives_an_extract() {
    let f = fixture(2_000, false, ExtractsConfig::default());
    let x = f.svc.request(&f.requester, &f.input(&["identity"], 30)).unwrap();
    let held = f
        .service(ExtractsConfig { insecure_offline_recipients: true, ..ExtractsConfig::default() })
        .with_detector(Arc::new(HoldsBack))
        .unwrap();
    refused(held.request(&f.requester, &f.input(&["identity"], 30)), "extract_request_while_contained=1");
    refused(held.decide(x.id, &f.officer, true, true), "extract_approval_while_contained=1");
    assert!(kinds(&f.ledger).iter().any(|k| k == "extract.decision_refused"));
    f.svc.decide(x.id, &f.officer, true, true).unwrap();
    // Approved before the requester was contained: production refuses it now, and writes nothing.
    refused(held.produce(x.id), "extract_request_while_contained=1");
    assert_eq!(f.store.extract(x.id).unwrap().unwrap().state, ExtractState::Approved);
    assert!(!held.dir().join(format!("{}.csv.age", x.id)).exists());
}

#[test]
fn an_overdue_extract_is_ledgered_and_raised_once() {
    let f = fixture(2_000, false, ExtractsConfig::default());
    let jsonl = f.dir.path().join("alerts.jsonl");
    let alerter = Arc::new(
        vigie_alerts::Alerter::start(
            vigie_alerts::Sinks { jsonl: Some(jsonl.clone()), ..vigie_alerts::Sinks::default() },
            16,
        )
        .unwrap(),
    );
    let svc = f
        .service(ExtractsConfig { insecure_offline_recipients: true, ..ExtractsConfig::default() })
        .with_alerter(alerter);
    let x = f.approved(&["identity"]);
    svc.produce(x).unwrap();
    assert!(svc.overdue().unwrap().is_empty());
    f.clock.advance_millis(31 * DAY);
    assert_eq!(svc.overdue().unwrap().len(), 1);
    assert_eq!(svc.overdue().unwrap().len(), 1, "still listed");
    let started = std::time::Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&jsonl).unwrap_or_default();
        if text.contains("extract_overdue") || started.elapsed() > std::time::Duration::from_secs(10) {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(text.matches("extract_overdue").count(), 1, "raised once: {text}");
    assert!(text.contains(&format!("extract {x} of organization")), "{text}");
    assert_eq!(kinds(&f.ledger).iter().filter(|k| *k == "extract.overdue").count(), 1);
}
