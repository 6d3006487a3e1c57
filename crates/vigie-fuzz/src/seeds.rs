//! The seed corpora, made by the real writers (the ledger, the detector, the event encoders, the
//! DBSC test keys) and the tests' vectors, so that the fuzzers start from valid inputs and mutate
//! into the corners. `cargo run -p vigie-fuzz --bin vigie-fuzz-seeds` writes them to
//! `fuzz/seeds/<target>/` (committed, small); scenario files and the example configuration are
//! read from where they live (`scenarios/`, `vigie.example.toml`).

use vigie_core::event::{AccessAction, AccessEvent, Actor, Decision, Effect, Reason, Verdict, VerdictAction};
use vigie_core::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::AccessLedger;
use vigie_core::relationship::RelationshipKind;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::time::Timestamp;
use vigie_core::{CategorySet, DataCategory};

use crate::targets;

/// A named seed.
pub type Seed = (String, Vec<u8>);

/// Mid-June 2026 (the month [`targets::ledger::SEAL_MONTH`] seals with).
pub const SEED_TIME: i64 = 1_781_524_800_000;

/// Every target's seeds.
pub fn all() -> Vec<(&'static str, Vec<Seed>)> {
    vec![
        ("identifiers", identifiers()),
        ("events", events()),
        ("snapshot", snapshots()),
        ("ledger", ledgers()),
        ("checkpoint", checkpoints()),
        ("scenario", scenarios()),
        ("config", configs()),
        ("dbsc", dbsc()),
        ("http_bodies", http_bodies()),
    ]
}

fn text(name: &str, s: &str) -> Seed {
    (name.to_owned(), s.as_bytes().to_vec())
}

fn identifiers() -> Vec<Seed> {
    [
        ("nir", "206127511100564"),
        ("nir-spaces-corsica", "1 85 12 2a 004 012 85"),
        ("nir-abroad", "185059912512386"),
        ("ft-id", "1234567A"),
        ("person", "P123"),
        ("agent", "A45"),
        ("org", "O6"),
        ("team", "T7"),
        ("session-group", "S9223372036854775807"),
        ("login", "jean.dupont@agence-lyon"),
        ("totp", "123 456"),
        ("token", "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83"),
        ("date", "2026-11-02"),
        ("category", "sensitive"),
        ("kind", "training_org"),
        ("role", "security_officer"),
        ("reason", "caseload_transfer"),
        ("month", "2026-06"),
        ("ipv4", "192.0.2.17"),
        ("ipv6", "2001:db8::1"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"),
        ("base32", "JBSWY3DPEHPK3PXP"),
    ]
    .into_iter()
    .map(|(n, s)| text(n, s))
    .collect()
}

/// An access event with every optional part present.
pub fn access_event(at: i64, agent: u64, person: Option<u64>) -> AccessEvent {
    AccessEvent {
        at: Timestamp(at),
        request: RequestId(0xfeed_0000 + u128::from(agent)),
        actor: Actor {
            agent: AgentId::new(agent).expect("an id"),
            org: OrgId::new(3).expect("an id"),
            org_kind: OrgKind::TrainingOrg,
            role: Role::Advisor,
            session: SessionId(99),
        },
        action: if person.is_some() { AccessAction::View } else { AccessAction::LookupByNir },
        person: person.and_then(PersonId::new),
        requested: CategorySet::ALL,
        returned: CategorySet::EMPTY.with(DataCategory::Identity),
        relationship: Some(RelationshipKind::Enrolment),
        decision: if person.is_some() { Decision::Allow } else { Decision::NoMatch },
        reasons: vec![
            Reason {
                category: DataCategory::Identity,
                effect: Effect::Permit,
                policy: Some("training-org-reads".into()),
            },
            Reason {
                category: DataCategory::Nir,
                effect: Effect::Forbid,
                policy: Some("never-nir-outside-agency".into()),
            },
        ],
        verdict: Verdict { action: VerdictAction::StepUp, reasons: vec!["distinct_hour=61 threshold=60".into()] },
    }
}

pub fn security_event(at: i64, kind: SecurityKind) -> SecurityEvent {
    SecurityEvent::new(Timestamp(at), kind)
        .by(AgentId::new(7).expect("an id"), OrgId::new(3).expect("an id"))
        .session(SessionId(99))
        .subject(AgentId::new(8).expect("an id"))
        .context("192.0.2.0/24 chrome")
        .detail("method", "password+totp")
        .detail("request", "R42")
}

fn events() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (name, event) in
        [("view", access_event(SEED_TIME, 7, Some(1234))), ("lookup-miss", access_event(SEED_TIME, 9, None))]
    {
        let mut b = Vec::new();
        event.encode(&mut b);
        seeds.push((format!("access-{name}"), b));
    }
    for kind in [SecurityKind::SignIn, SecurityKind::AccountApproved, SecurityKind::DeviceBound] {
        let mut b = Vec::new();
        security_event(SEED_TIME, kind).encode(&mut b);
        seeds.push((format!("security-{}", kind.as_str()), b));
    }
    seeds
}

fn snapshots() -> Vec<Seed> {
    use vigie_core::detect::{DetectConfig, ExfiltrationDetector, snapshot};
    let mut seeds = Vec::new();
    for (name, accounts) in [("empty", 0u64), ("three-accounts", 3)] {
        let detector = ExfiltrationDetector::new(DetectConfig::with_canaries(PersonId::new(777_777)));
        let agents: Vec<AgentId> = (1..=accounts).filter_map(AgentId::new).collect();
        if !agents.is_empty() {
            targets::snapshot::traffic(&detector, &agents, SEED_TIME);
        }
        let mut b = Vec::new();
        detector.with_state_ref(|s| snapshot::encode(s, SEED_TIME, &mut b)).expect("the state");
        // Without its checksum: the target appends one (and also tries the input as it is).
        b.truncate(b.len() - 32);
        seeds.push((name.to_owned(), b));
    }
    seeds
}

/// Ledgers written by the real writer: access and security events, sealed or clear bodies,
/// one segment or several; as `flags | segments`.
fn ledgers() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (name, sealed, events) in [("clear-one-segment", false, 6u64), ("sealed-three-segments", true, 40)] {
        let scratch = crate::scratch_dir();
        let root = scratch.path();
        targets::ledger::write_keys(root);
        let dir = root.join("ledger");
        let mut options = targets::ledger::options(root);
        options.segment_bytes = 2_048;
        if !sealed {
            options.seal_keys = None;
        }
        {
            let ledger = vigie_ledger::Ledger::open(&dir, options).expect("open a ledger");
            for i in 0..events {
                let at = SEED_TIME + i as i64 * 1_000;
                ledger.append(&[access_event(at, 7, Some(1_000 + i))]).expect("append");
                if i % 4 == 0 {
                    ledger.record(&[security_event(at, SecurityKind::SignIn)]).expect("record");
                }
            }
            ledger.append_bodies(&[b"opaque"]).expect("append");
        }
        let mut segments = Vec::new();
        for n in 0.. {
            match std::fs::read(dir.join(format!("{n:08}.log"))) {
                Ok(b) => segments.extend(b),
                Err(_) => break,
            }
        }
        // Plain; with the checks rewritten; with a checkpoint over the first 5 entries.
        for (suffix, flags) in [("", 0u8), ("-fixed", 1), ("-checkpoint5", 2 | (5 << 2))] {
            let mut b = vec![flags];
            b.extend_from_slice(&segments);
            seeds.push((format!("{name}{suffix}"), b));
        }
    }
    seeds
}

fn checkpoints() -> Vec<Seed> {
    use vigie_ledger::note::Checkpoint;
    let signer = targets::ledger::signer();
    let checkpoint =
        Checkpoint { origin: targets::ledger::ORIGIN.into(), size: 42, root: vigie_ledger::merkle::leaf_hash(b"x") };
    let note = checkpoint.sign(&signer);
    let history: String = [1u64, 2, 42]
        .iter()
        .map(|&size| Checkpoint { size, ..checkpoint.clone() }.sign(&signer))
        .map(|n| format!("{}\n{n}", n.len()))
        .collect();
    let mut seeds = vec![
        (String::from("signed-note"), [&[0u8][..], note.as_bytes()].concat()),
        (String::from("text-to-sign"), [&[1u8][..], checkpoint.text().as_bytes()].concat()),
        (String::from("history"), [&[0u8][..], history.as_bytes()].concat()),
        (String::from("verifier-key"), [&[0u8][..], signer.verifier().to_string().as_bytes()].concat()),
        (String::from("signer-key"), [&[0u8][..], signer.to_skey().as_bytes()].concat()),
    ];
    // Go's sumdb/note vector (the note tests' own).
    seeds.push(text(
        "go-note-vector",
        "\0If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
    ));
    seeds
}

fn scenarios() -> Vec<Seed> {
    // The repository's scenarios are seeds as they are; this one uses every optional key.
    vec![text(
        "every-key",
        r#"name = "every-key"
summary = "A distributed, low-and-slow extraction by created accounts in a named organization."

[attack]
victim = "agency/account_admin"
org = "Agence Lyon Part-Dieu"
access = "created_accounts"
network = "foreign"
targets = "mimicry"
start_day = [31, 85]
start_hour = [9, 16]
pace_per_minute = [0.5, 2]
duration_hours = [2, 40]
jitter = 0.3
accounts = [2, 5]
created_accounts = 3
fabricate = true
during_burst = true
daily_cap = [20, 40]
credentials_reset = true

[goal]
exposed_p95 = 200
contain_seconds = 600
exposed_per_account_p95 = 50
detect_days = 2
creations_held = true
canary_suspend_seconds = 60
"#,
    )]
}

fn configs() -> Vec<Seed> {
    vec![text(
        "every-section",
        r#"#env VIGIE_LISTEN=127.0.0.1:9090
#env VIGIE_SESSION_TTL_MINUTES=240
data_dir = "/var/lib/vigie"
listen = "127.0.0.1:8080"
public_url = "https://vigie.agency.example"
session_ttl_minutes = 480
access_ttl_seconds = 120
idle_timeout_minutes = 30
max_concurrent_sessions = 2
trusted_proxies = ["127.0.0.1", "::1"]

[oidc]
issuer = "https://id.agency.example"
client_id = "vigie"
mfa_acr_values = ["mfa"]

[detection]
enabled = true
shadow = ["subcontractor"]

[alerts]
webhook_url = "https://siem.agency.example/hook"
webhook_secret = "0123456789abcdef0123"
syslog = "tcp://[2001:db8::1]:601"
syslog_facility = "local3"

[ledger]
origin = "vigie.agency.example/ledger"
linger_ms = 1
checkpoint_deadline_seconds = 10
max_batch_entries = 4096
witness_dirs = ["/mnt/witness"]
witness_urls = ["http://witness.agency.example/push"]
seal_bodies = true
"#,
    )]
}

fn dbsc() -> Vec<Seed> {
    use targets::dbsc::{CHALLENGE, NOW, browser_jwk, sign};
    let header = format!(r#"{{"alg":"ES256","typ":"dbsc+jwt","jwk":{}}}"#, browser_jwk());
    let claims = format!(r#"{{"jti":"{CHALLENGE}","iat":{NOW},"aud":"https://vigie.agency.example/dbsc/register"}}"#);
    let refresh_header = r#"{"alg":"ES256","typ":"dbsc+jwt"}"#;
    let key_claim = format!(r#"{{"jti":"{CHALLENGE}","key":{}}}"#, browser_jwk());
    let with_mode = |mode: u8, s: &str| [&[mode][..], s.as_bytes()].concat();
    vec![
        ("to-sign-registration".into(), with_mode(1, &format!("{header}\n{claims}"))),
        ("to-sign-refresh".into(), with_mode(1, &format!("{refresh_header}\n{claims}"))),
        ("to-sign-key-claim".into(), with_mode(1, &format!("{refresh_header}\n{key_claim}"))),
        ("signed-registration".into(), with_mode(0, &sign(header.as_bytes(), claims.as_bytes()))),
        ("response-header".into(), with_mode(0, &format!("\"{}\"", sign(header.as_bytes(), claims.as_bytes())))),
        ("session-id-header".into(), with_mode(0, "\"s-0123456789\"")),
    ]
}

fn http_bodies() -> Vec<Seed> {
    // `route | flags | bytes`.
    let with = |path: &str, s: &str| [&[targets::http::route(path), 0][..], s.as_bytes()].concat();
    vec![
        (
            "login".into(),
            with("/v1/login", r#"{"login":"jean.dupont","password":"correct horse battery","totp":"123456"}"#),
        ),
        (
            "lookup-nir".into(),
            with(
                "/v1/lookup",
                r#"{"nir":"2 06 12 75 111 005 64","birth_date":"2006-12-01","fields":["identity","contact"]}"#,
            ),
        ),
        ("lookup-ft-id".into(), with("/v1/lookup", r#"{"ft_id":"1234567A","birth_date":"1990-02-28"}"#)),
        ("step-up".into(), with("/v1/step-up", r#"{"totp":"654321"}"#)),
        (
            "passkey-finish".into(),
            with(
                "/v1/login/passkey/finish",
                r#"{"ceremony":"c1","credential":{"id":"AA","rawId":"AA","type":"public-key","response":{"authenticatorData":"AA","clientDataJSON":"AA","signature":"AA"}}}"#,
            ),
        ),
        ("register-start".into(), with("/v1/passkeys/register/start", r#"{"label":"YubiKey 5"}"#)),
        (
            "account-request".into(),
            with(
                "/v1/account-requests",
                r#"{"login":"new.agent","display_name":"New Agent","email":"new.agent@agence.example","role":"advisor","team":"T1","justification":"arrivée"}"#,
            ),
        ),
        ("enrol-password".into(), with("/v1/enrol/fuzz-token/password", r#"{"password":"a long enough passphrase"}"#)),
        ("person-id".into(), with("/v1/persons/{}", "P12")),
        ("scope-query".into(), with("/v1/scope?{}", "limit=20&after=P10")),
        ("agent-sessions".into(), with("/v1/agents/{}/sessions", "A7")),
        ("organization-freeze".into(), with("/v1/organizations/{}/freeze", "O3")),
        ("login-form".into(), with("/login", "login=jean.dupont&password=x&totp=123456")),
        ("step-up-form".into(), with("/step-up", "totp=123456&next=/persons/P12")),
        (
            "request-form".into(),
            with(
                "/accounts/requests",
                "login=new.agent&display_name=N&email=n%40agence.example&role=advisor&justification=x",
            ),
        ),
        ("person-page".into(), with("/persons/{}", "P12")),
    ]
}
