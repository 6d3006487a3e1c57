//! Issuing sign-in credentials from the command line: a random password and TOTP secret for an
//! account, printed once. Used by `vigie demo` for its demo accounts and by
//! `vigie account reset-credentials` to bootstrap an administrator (the four-eyes enrolment
//! flow of the sign-in issue replaces it for everyday accounts).

use anyhow::Context;
use rand::{Rng, RngCore};
use vigie_core::ids::AgentId;
use vigie_core::ports::{AccountStore, Credentials};
use vigie_core::signin::{Secret, TotpSecret, hash_password};

/// What was issued, to print once. Never stored in clear.
#[derive(Debug, Clone)]
pub struct Issued {
    pub password: Secret,
    pub totp: TotpSecret,
}

/// 20 characters from an alphabet without look-alikes: about 113 bits.
fn random_password() -> Secret {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    Secret::new((0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect::<String>())
}

/// Issues credentials without saying when: the account's last credential change is recorded
/// as unknown (the demo, the benchmark and tests, which run on their own clocks).
pub fn issue(accounts: &dyn AccountStore, agent: AgentId) -> anyhow::Result<Issued> {
    issue_at(accounts, agent, None)
}

/// Issues credentials, recording `changed_at` as the account's last credential change (the
/// detector's "credentials just reset" signal).
pub fn issue_at(
    accounts: &dyn AccountStore,
    agent: AgentId,
    changed_at: Option<vigie_core::time::Timestamp>,
) -> anyhow::Result<Issued> {
    let password = random_password();
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let hash = hash_password(&password, &salt).context("hashing the password")?;
    let mut secret = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let totp = TotpSecret::from_bytes(&secret).context("TOTP secret")?;
    accounts
        .set_credentials(agent, &Credentials { password: hash, totp: totp.clone() }, changed_at)
        .with_context(|| format!("cannot store credentials of {agent}"))?;
    Ok(Issued { password, totp })
}

/// Writes a single-use enrolment link (24 h) for an existing account, for an operator to hand
/// over: how the first administrators get their passkey. The one account step outside four
/// eyes, so it is ledgered first (`account.enrolment_sent` by the operator). Returns the
/// link's path.
pub fn enrolment_link<S: EnrolmentStore + ?Sized>(
    store: &S,
    ledger: &dyn vigie_core::ports::AccessLedger,
    agent: AgentId,
    now: vigie_core::time::Timestamp,
) -> anyhow::Result<String> {
    let event = vigie_core::security::SecurityEvent::new(now, vigie_core::security::SecurityKind::EnrolmentSent)
        .subject(agent)
        .detail("by", "operator")
        .detail("expires_at", now.plus_millis(vigie_core::lifecycle::ENROLMENT_TTL_MS));
    ledger.record(&[event]).map_err(|e| anyhow::anyhow!("cannot ledger the enrolment link: {e}"))?;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = vigie_core::signin::SessionToken::from_random(raw);
    store
        .issue_enrolment(agent, &token.hash(), now, now.plus_millis(vigie_core::lifecycle::ENROLMENT_TTL_MS))
        .with_context(|| format!("cannot store the enrolment link of {agent}"))?;
    Ok(format!("/enrol/{}", token.expose()))
}

/// A store that keeps an operator's enrolment links: both stores do, outside the ports (the
/// server only redeems them).
pub trait EnrolmentStore {
    /// Stores a link's hash for `agent` until `expires_at`; earlier unused links stop working.
    fn issue_enrolment(
        &self,
        agent: AgentId,
        hash: &[u8; 32],
        now: vigie_core::time::Timestamp,
        expires_at: vigie_core::time::Timestamp,
    ) -> Result<(), vigie_core::ports::StoreError>;
}

impl EnrolmentStore for vigie_store::Store {
    fn issue_enrolment(
        &self,
        agent: AgentId,
        hash: &[u8; 32],
        now: vigie_core::time::Timestamp,
        expires_at: vigie_core::time::Timestamp,
    ) -> Result<(), vigie_core::ports::StoreError> {
        vigie_store::Store::issue_enrolment(self, agent, hash, now, expires_at)
    }
}

impl EnrolmentStore for vigie_store_pg::PgStore {
    fn issue_enrolment(
        &self,
        agent: AgentId,
        hash: &[u8; 32],
        now: vigie_core::time::Timestamp,
        expires_at: vigie_core::time::Timestamp,
    ) -> Result<(), vigie_core::ports::StoreError> {
        vigie_store_pg::PgStore::issue_enrolment(self, agent, hash, now, expires_at)
    }
}

/// Where `vigie account reset-credentials` and `enrol` find the accounts: the data directory's
/// SQLite store, or PostgreSQL when a store URL is given (`--store`, `VIGIE_STORE_URL`). Either
/// way the keyring is `secrets_key_file`, else `<data_dir>/secrets.key`, as `vigie serve`'s.
#[derive(Debug)]
pub enum OperatorStore {
    Sqlite(vigie_store::Store),
    Postgres(vigie_store_pg::PgStore),
}

impl OperatorStore {
    pub fn open(
        data_dir: &std::path::Path,
        store_url: Option<&str>,
        secrets_key_file: Option<std::path::PathBuf>,
    ) -> anyhow::Result<OperatorStore> {
        match store_url {
            None => Ok(OperatorStore::Sqlite(
                vigie_store::Store::open_with(data_dir, &crate::app::store_options(secrets_key_file))
                    .with_context(|| format!("data directory {}", data_dir.display()))?,
            )),
            Some(url) => {
                let url = vigie_store_pg::StoreUrl::parse(url).context("--store (or VIGIE_STORE_URL)")?;
                let keyring = secrets_key_file.unwrap_or_else(|| data_dir.join(vigie_store::SECRETS_KEY_FILE));
                let options = vigie_store_pg::PgOptions {
                    pool_size: 2,
                    startup_wait: std::time::Duration::from_secs(5),
                    ..vigie_store_pg::PgOptions::new(keyring)
                };
                Ok(OperatorStore::Postgres(vigie_store_pg::PgStore::open(&url, &options)?))
            }
        }
    }

    pub fn accounts(&self) -> &dyn AccountStore {
        match self {
            OperatorStore::Sqlite(s) => s,
            OperatorStore::Postgres(s) => s,
        }
    }

    pub fn enrolments(&self) -> &dyn EnrolmentStore {
        match self {
            OperatorStore::Sqlite(s) => s,
            OperatorStore::Postgres(s) => s,
        }
    }
}

/// `vigie account rotate-secrets-key`: re-seals every stored TOTP secret under a new key and
/// retires the keyring's old keys, then ledgers it (`secrets.key_rotated`). Takes the ledger's
/// lock first, so it refuses to run beside a server (which would keep the old key in memory and
/// could not open the re-sealed rows); on PostgreSQL, whose nodes may run elsewhere, it also
/// refuses while any node serves on the database (`PgStore::rotate_secrets_key`), and rewrites
/// the credentials table once the rotation is ledgered (a failure there is only a warning).
pub fn rotate_secrets_key(
    data_dir: &std::path::Path,
    store_url: Option<&str>,
    keyring: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use vigie_core::ports::AccessLedger;
    let ledger_dir = crate::app::ledger_dir(data_dir);
    let ledger = vigie_ledger::Ledger::open(&ledger_dir, crate::app::ledger_options(data_dir))
        .with_context(|| format!("access ledger {} (is the server running? stop it first)", ledger_dir.display()))?;
    let keyring_path = keyring.clone().unwrap_or_else(|| data_dir.join(vigie_store::SECRETS_KEY_FILE));
    let store = OperatorStore::open(data_dir, store_url, keyring)?;
    let rotation = match &store {
        OperatorStore::Sqlite(store) => store.rotate_secrets_key(),
        OperatorStore::Postgres(store) => store.rotate_secrets_key(),
    }
    .with_context(|| format!("rotating the keyring {}", keyring_path.display()))?;
    let retired: Vec<String> = rotation.retired.iter().map(ToString::to_string).collect();
    let now = vigie_core::time::Clock::now(&crate::app::WallClock);
    let event = vigie_core::security::SecurityEvent::new(now, vigie_core::security::SecurityKind::SecretsKeyRotated)
        .detail("by", "operator")
        .detail("key", rotation.key)
        .detail("retired", retired.join(","))
        .detail("resealed", rotation.resealed);
    ledger.record(&[event]).map_err(|e| anyhow::anyhow!("rotated, but the rotation could not be ledgered: {e}"))?;
    println!(
        "keyring {}: {} TOTP secret(s) re-sealed under key {}; retired: {}",
        keyring_path.display(),
        rotation.resealed,
        rotation.key,
        if retired.is_empty() { "none".to_owned() } else { retired.join(", ") }
    );
    if let OperatorStore::Postgres(store) = &store {
        // The table's files still hold the retired key's ciphertext until rewritten.
        if let Err(e) = store.compact_credentials() {
            eprintln!(
                "warning: the rotation is done and ledgered, but rewriting vigie.credentials failed ({e}): \
                 its files keep ciphertext under the retired key until `VACUUM FULL vigie.credentials` succeeds"
            );
        }
    }
    Ok(())
}
