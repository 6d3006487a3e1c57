//! Opening the PostgreSQL store against a real server: what a wrong URL, an unreachable or
//! vanished server, a wrong password, a missing database, a newer schema, a missing keyring and
//! several nodes starting at once do. Each refusal is one line naming the server, never the
//! password.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::{Duration, Instant};

use vigie_core::ports::{AccountStore, Credentials, Registry};
use vigie_core::signin::{PasswordHash, TotpSecret};
use vigie_store_pg::{PgOpenError, PgOptions, PgStore, SCHEMA_VERSION, StoreUrl};

fn options(keys: &tempfile::TempDir) -> PgOptions {
    PgOptions { startup_wait: Duration::from_secs(2), ..PgOptions::new(keys.path().join("secrets.key")) }
}

fn open(url: &str, keys: &tempfile::TempDir) -> Result<PgStore, PgOpenError> {
    PgStore::open(&StoreUrl::parse(url).unwrap(), &options(keys))
}

#[test]
fn an_unreachable_server_is_retried_then_named() {
    let keys = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let e = open(&format!("postgres://vigie:pw-not-shown@127.0.0.1:{port}/vigie?sslmode=disable"), &keys).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, PgOpenError::Unreachable { attempts, .. } if attempts > 2), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}/vigie")) && !text.contains("pw-not-shown"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(500), "gave up without backing off");
}

#[test]
fn a_wrong_password_or_a_missing_database_is_refused_at_once() {
    let cluster = common::Cluster::start();
    let keys = tempfile::tempdir().unwrap();
    let bad = cluster.url().replace(common::PASSWORD, "wrong-password");
    let started = Instant::now();
    let e = open(&bad, &keys).unwrap_err();
    assert!(matches!(e, PgOpenError::Authentication { .. }), "{e}");
    assert!(!e.to_string().contains("wrong-password"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2), "a refusal was retried");
    let e = open(&cluster.url().replace("/vigie?", "/nosuchdb?"), &keys).unwrap_err();
    assert!(matches!(e, PgOpenError::NoDatabase { .. }), "{e}");
    // TLS required by the URL, a server without it: refused, never sent in clear.
    let e = open(&cluster.url().replace("sslmode=disable", "sslmode=require"), &keys).unwrap_err();
    assert!(matches!(e, PgOpenError::Tls(_)), "{e}");
}

#[test]
fn a_schema_newer_than_the_binary_is_refused_with_both_versions() {
    let cluster = common::Cluster::start();
    let keys = tempfile::tempdir().unwrap();
    drop(open(&cluster.url(), &keys).unwrap());
    assert_eq!(cluster.psql("vigie", "SELECT max(version) FROM vigie.schema_migrations"), SCHEMA_VERSION.to_string());
    cluster.psql("vigie", &format!("INSERT INTO vigie.schema_migrations (version) VALUES ({})", SCHEMA_VERSION + 1));
    let e = open(&cluster.url(), &keys).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, PgOpenError::NewerSchema { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{text}"
    );
    assert!(text.contains(&format!("version {}", SCHEMA_VERSION + 1)) && text.contains("upgrade Vigie"), "{text}");
}

#[test]
fn nodes_starting_together_apply_each_migration_once() {
    let cluster = common::Cluster::start();
    let keys = tempfile::tempdir().unwrap();
    let url = cluster.url();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| open(&url, &keys).map(drop))).collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    });
    assert_eq!(cluster.psql("vigie", "SELECT count(*) FROM vigie.schema_migrations"), SCHEMA_VERSION.to_string());
}

#[test]
fn sealed_secrets_need_their_keyring() {
    let cluster = common::Cluster::start();
    let keys = tempfile::tempdir().unwrap();
    let store = open(&cluster.url(), &keys).unwrap();
    cluster.psql(
        "vigie",
        "INSERT INTO vigie.organizations VALUES (1, 'agency', 'O', true); \
         INSERT INTO vigie.agents (id, login, display_name, email, org, role, active) VALUES (1, 'a@o', 'A', 'a@example.org', 1, 'advisor', true)",
    );
    let secret = TotpSecret::from_bytes(&[5; 20]).unwrap();
    let id = vigie_core::ids::AgentId::new(1).unwrap();
    store.set_credentials(id, &Credentials { password: PasswordHash("h".into()), totp: secret }, None).unwrap();
    // The row holds no clear secret.
    let stored = cluster.psql("vigie", "SELECT encode(totp_secret, 'hex') FROM vigie.credentials");
    assert!(!stored.contains(&"05".repeat(20)), "the TOTP secret is stored in clear");
    drop(store);
    let elsewhere = tempfile::tempdir().unwrap();
    let e = open(&cluster.url(), &elsewhere).unwrap_err();
    assert!(matches!(e, PgOpenError::Secrets { .. }), "{e}");
    let store = open(&cluster.url(), &keys).unwrap();
    assert_eq!(store.credentials(id).unwrap().unwrap().totp.as_bytes(), &[5; 20]);
}

/// The server stops while a node serves: calls fail (the guarded read denies) within the
/// checkout timeout instead of hanging, name the server, and work again once it is back.
#[test]
fn a_server_that_goes_away_fails_calls_quickly_and_is_reconnected() {
    let cluster = common::Cluster::start();
    let keys = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(&cluster.url()).unwrap();
    let store =
        PgStore::open(&url, &PgOptions { checkout_timeout: Duration::from_millis(500), ..options(&keys) }).unwrap();
    let p1 = vigie_core::ids::PersonId::new(1).unwrap();
    assert_eq!(store.person(p1).unwrap(), None);
    cluster.stop();
    let started = Instant::now();
    let e = store.person(p1).unwrap_err();
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "a call waited {:?}", started.elapsed());
    // Every call fails while it is down, none returns data.
    assert!(store.person(p1).is_err());
    cluster.pg_ctl_start();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match store.person(p1) {
            Ok(found) => {
                assert_eq!(found, None);
                break;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("not reconnected: {e}"),
        }
    }
}

/// The server restarts while the node is idle (a failover, a maintenance window): the pooled
/// connections it closed are found by the check an idle connection gets before it is lent, so
/// the first call afterwards is served instead of failing on a dead connection.
#[test]
fn after_a_restart_the_first_call_is_served() {
    let cluster = common::Cluster::start();
    let keys = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(&cluster.url()).unwrap();
    let store = PgStore::open(&url, &PgOptions { pool_size: 2, ..options(&keys) }).unwrap();
    let p1 = vigie_core::ids::PersonId::new(1).unwrap();
    assert_eq!(store.person(p1).unwrap(), None);
    cluster.stop();
    cluster.pg_ctl_start();
    // Idle for longer than the window in which a connection is lent without a check.
    std::thread::sleep(Duration::from_millis(800));
    for _ in 0..4 {
        assert_eq!(store.person(p1).unwrap(), None, "a call failed on a connection the restart closed");
    }
}

/// A port called from an async task (by mistake: the server uses blocking threads) and the
/// store dropped there: the synchronous client's own runtime would panic inside tokio's; the
/// store moves the work off the executor instead.
#[test]
fn calls_and_drops_from_async_tasks_do_not_panic() {
    let cluster = common::Cluster::start();
    let keys = tempfile::tempdir().unwrap();
    let url = cluster.url();
    for multi in [true, false] {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
        };
        let store = open(&url, &keys).unwrap();
        rt.block_on(async move {
            let p1 = vigie_core::ids::PersonId::new(1).unwrap();
            assert_eq!(store.person(p1).unwrap(), None);
            drop(store);
        });
    }
}

/// The shape of a database's `vigie` schema: columns, constraints and indexes, one per line.
fn shape(cluster: &common::Cluster, db: &str) -> String {
    cluster.psql(
        db,
        "SELECT string_agg(line, E'\\n' ORDER BY line) FROM ( \
           SELECT format('column %s.%s %s null=%s default=%s identity=%s', table_name, column_name, data_type, \
                  is_nullable, column_default, is_identity) AS line \
             FROM information_schema.columns WHERE table_schema = 'vigie' \
           UNION ALL SELECT format('constraint %s.%s %s', c.relname, k.conname, pg_get_constraintdef(k.oid)) \
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'vigie' \
           UNION ALL SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'vigie') lines",
    )
}

/// The tables V2 creates, and those V3 creates, in an order they can be dropped in.
const V2_TABLES: &str = "vigie.notices, vigie.incident_decisions, vigie.incident_selectors, vigie.incidents";
const V3_TABLES: &str = "vigie.extract_canaries, vigie.extracts";

/// A database a V1 binary made (the registry, accounts and sessions, no incidents) reaches the
/// current version at the next start: the incident (and extract) tables appear, exactly as in a
/// database created at this version, and what it held is kept. A database newer than the
/// binary is still refused.
#[test]
fn a_v1_database_gets_the_incident_tables() {
    use vigie_core::incident::store::{IncidentStore, NewIncident};
    use vigie_core::incident::{Author, Selector, Window};
    use vigie_core::time::Timestamp;

    assert_eq!(SCHEMA_VERSION, 3, "this test knows V2's and V3's tables; a new migration wants its own test");
    let cluster = common::Cluster::start();
    let keys = tempfile::tempdir().unwrap();
    cluster.psql("postgres", "CREATE DATABASE fresh");
    drop(open(&cluster.url().replace("/vigie?", "/fresh?"), &keys).unwrap());
    let fresh = shape(&cluster, "fresh");
    assert!(fresh.contains("index CREATE INDEX notices_by_state"), "{fresh}");

    // A V1 database: V1's tables, with rows, and only version 1 recorded. (V2 and V3 only
    // create these tables, so dropping them from a V3 database leaves what V1 made.)
    let store = open(&cluster.url(), &keys).unwrap();
    drop(store);
    cluster.psql(
        "vigie",
        &format!(
            "DROP TABLE {V3_TABLES}; DROP TABLE {V2_TABLES}; \
         DELETE FROM vigie.schema_migrations WHERE version > 1; \
         INSERT INTO vigie.organizations VALUES (1, 'agency', 'O', true); \
         INSERT INTO vigie.agents (id, login, display_name, email, org, role, active) \
           VALUES (1, 'a@o', 'A', 'a@example.org', 1, 'security_officer', true)"
        ),
    );
    assert_ne!(shape(&cluster, "vigie"), fresh);
    assert_eq!(cluster.psql("vigie", "SELECT to_regclass('vigie.incidents') IS NULL"), "t");

    let store = open(&cluster.url(), &keys).unwrap();
    assert_eq!(
        cluster.psql("vigie", "SELECT string_agg(version::text, ',' ORDER BY version) FROM vigie.schema_migrations"),
        "1,2,3"
    );
    assert_eq!(shape(&cluster, "vigie"), fresh, "migrated from V1 as created at this version");
    let officer = vigie_core::ids::AgentId::new(1).unwrap();
    assert_eq!(store.agent(officer).unwrap().map(|a| a.login.to_string()), Some("a@o".to_owned()), "V1's rows kept");
    let id = store
        .create_incident(&NewIncident {
            title: "t".into(),
            opened_at: Timestamp(2),
            opened_by: Author::Officer(officer),
            awareness_at: Timestamp(1),
            window: Window::new(Timestamp(0), Timestamp(2)).unwrap(),
            selectors: vec![Selector::Agent(officer)],
            alert: None,
        })
        .unwrap();
    assert_eq!(store.incident(id).unwrap().unwrap().opened_by, Author::Officer(officer));
    drop(store);

    cluster.psql("vigie", "INSERT INTO vigie.schema_migrations (version) VALUES (4)");
    let e = open(&cluster.url(), &keys).unwrap_err();
    assert!(matches!(e, PgOpenError::NewerSchema { found: 4, supported: 3, .. }), "{e}");
    let e = vigie_store_pg::load::PgLoader::start(&StoreUrl::parse(&cluster.url()).unwrap(), true).unwrap_err();
    assert!(e.to_string().contains("newer than the 3"), "a load is refused too: {e}");
}

/// A database a V2 binary made (incidents, no extracts) reaches V3 at the next start: the
/// extract tables appear, exactly as in a database created at V3, the incidents it held are
/// kept, and extracts are filed from X1.
#[test]
fn a_v2_database_gets_the_extract_tables() {
    use vigie_core::category::{CategorySet, DataCategory};
    use vigie_core::extract::store::{ExtractStore, NewExtract};
    use vigie_core::incident::store::{IncidentStore, NewIncident};
    use vigie_core::incident::{Author, Selector, Window};
    use vigie_core::time::Timestamp;

    let cluster = common::Cluster::start();
    let keys = tempfile::tempdir().unwrap();
    cluster.psql("postgres", "CREATE DATABASE fresh");
    drop(open(&cluster.url().replace("/vigie?", "/fresh?"), &keys).unwrap());
    let fresh = shape(&cluster, "fresh");
    assert!(fresh.contains("index CREATE INDEX extract_canaries_by_phone"), "{fresh}");

    // A V2 database with an incident: V3 only creates the extract tables.
    let store = open(&cluster.url(), &keys).unwrap();
    cluster.psql(
        "vigie",
        "INSERT INTO vigie.organizations VALUES (1, 'subcontractor', 'O', true); \
         INSERT INTO vigie.agents (id, login, display_name, email, org, role, active) \
           VALUES (1, 'a@o', 'A', 'a@example.org', 1, 'advisor', true)",
    );
    let agent = vigie_core::ids::AgentId::new(1).unwrap();
    let incident = store
        .create_incident(&NewIncident {
            title: "t".into(),
            opened_at: Timestamp(2),
            opened_by: Author::Operator,
            awareness_at: Timestamp(1),
            window: Window::new(Timestamp(0), Timestamp(2)).unwrap(),
            selectors: vec![Selector::Agent(agent)],
            alert: None,
        })
        .unwrap();
    drop(store);
    cluster.psql("vigie", &format!("DROP TABLE {V3_TABLES}; DELETE FROM vigie.schema_migrations WHERE version > 2"));
    assert_eq!(cluster.psql("vigie", "SELECT to_regclass('vigie.extracts') IS NULL"), "t");

    let store = open(&cluster.url(), &keys).unwrap();
    assert_eq!(
        cluster.psql("vigie", "SELECT string_agg(version::text, ',' ORDER BY version) FROM vigie.schema_migrations"),
        "1,2,3"
    );
    assert_eq!(shape(&cluster, "vigie"), fresh, "migrated from V2 as created at V3");
    assert_eq!(store.incident(incident).unwrap().unwrap().title, "t", "V2's rows kept");
    let x = store
        .create_extract(&NewExtract {
            org: vigie_core::ids::OrgId::new(1).unwrap(),
            requested_by: agent,
            purpose: "document_processing".into(),
            description: "d".into(),
            legal_basis: vigie_core::extract::LegalBasis::PublicTask,
            relationship: vigie_core::relationship::RelationshipKind::Assignment,
            fields: CategorySet::EMPTY.with(DataCategory::Identity),
            recipient: "r".into(),
            receipt_key: "k".into(),
            expires_at: Timestamp(10),
            created_at: Timestamp(2),
        })
        .unwrap();
    assert_eq!(x.id.to_string(), "X1");
}
