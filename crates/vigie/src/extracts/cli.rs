//! `vigie extract …`: governed bulk extracts from the command line, on a data directory at rest
//! (the server stopped). With `--config` naming a PostgreSQL store, the extracts are that
//! database's (every node's), and the ledger, files and extract secret the configuration's data
//! directory's. Who acts is named (`--as LOGIN`) and proves it with a current TOTP code, which
//! is the fresh second factor an approval needs; the recipient's own steps (`sign-receipt`,
//! `verify`) need no data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use vigie_core::extract::ExtractId;
use vigie_core::ids::Login;
use vigie_core::org::Agent;
use vigie_core::signin::TotpCode;
use vigie_core::time::Clock;
use vigie_ledger::Ledger;
use vigie_store::Store;

use super::{ExtractBackend, Extracts, RequestInput};

#[derive(Subcommand, Debug)]
pub enum ExtractCommand {
    /// Ask for an extract of the persons a relationship of your organization reaches.
    Request(RequestArgs),
    /// Approve (or with --refuse, refuse) a request: another person, with a fresh TOTP code.
    Approve {
        #[command(flatten)]
        at: DataAt,
        #[command(flatten)]
        who: Who,
        id: ExtractId,
        #[arg(long)]
        refuse: bool,
    },
    /// Produce an approved extract: minimized, pseudonymized, watermarked, encrypted, signed,
    /// every row ledgered before the file is published.
    Produce {
        #[command(flatten)]
        at: DataAt,
        id: ExtractId,
    },
    /// Copy a produced extract's ciphertext, manifest and signature to a directory (ledgered).
    Download {
        #[command(flatten)]
        at: DataAt,
        #[command(flatten)]
        who: Who,
        id: ExtractId,
        #[arg(long)]
        to: PathBuf,
    },
    /// Record the recipient's signed deletion receipt.
    Receipt {
        #[command(flatten)]
        at: DataAt,
        id: ExtractId,
        /// The receipt (JSON, vigie-deletion-receipt/1).
        #[arg(long)]
        file: PathBuf,
        /// Its detached signature (base64), default FILE.sig.
        #[arg(long)]
        signature: Option<PathBuf>,
    },
    /// Name the extract and recipient a leaked file (or any fragment of it) came from.
    Attribute {
        #[command(flatten)]
        at: DataAt,
        /// The leaked file (CSV, any columns; `-` for standard input).
        file: PathBuf,
    },
    /// List extracts; --overdue: only those past retention without a receipt (ledgered once).
    List {
        #[command(flatten)]
        at: DataAt,
        #[arg(long)]
        overdue: bool,
    },
    /// For a recipient: sign a deletion receipt with its Ed25519 key (its age-plugin-vigie
    /// identity, or a 32-byte seed file).
    SignReceipt {
        /// The recipient's signing key: its age-plugin-vigie identity file, or an Ed25519 seed
        /// (32 raw bytes or their base64).
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        extract: ExtractId,
        /// The ciphertext's SHA-256 (hex), from the manifest.
        #[arg(long)]
        sha256: String,
        #[arg(long, default_value = "All copies of the file and of its decrypted content were deleted.")]
        statement: String,
        /// Where to write the receipt (its signature goes to OUT.sig).
        #[arg(long)]
        out: PathBuf,
    },
    /// For a recipient: check a manifest's signature and the ciphertext's hash.
    Verify {
        #[arg(long)]
        manifest: PathBuf,
        /// The deployment's manifest-signing key (base64), as published.
        #[arg(long)]
        key: String,
        /// The ciphertext to check against the manifest.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct DataAt {
    #[arg(long, default_value = "./vigie-data")]
    pub data_dir: PathBuf,
    /// A configuration file: its data directory, ledger, policies and `[extracts]` are used.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct Who {
    /// The account acting.
    #[arg(long = "as", value_name = "LOGIN")]
    pub login: Login,
    /// A current TOTP code of that account (its second factor, proved now).
    #[arg(long)]
    pub totp: TotpCode,
}

#[derive(Args, Debug)]
pub struct RequestArgs {
    #[command(flatten)]
    at: DataAt,
    #[command(flatten)]
    who: Who,
    /// The purpose, as the policies name it (e.g. document_processing, training_convocation).
    #[arg(long)]
    purpose: String,
    /// What the file is for, for the approver and the manifest.
    #[arg(long)]
    description: String,
    /// contract, legal_obligation or public_task.
    #[arg(long)]
    legal_basis: String,
    /// The relationship that defines the persons: assignment, enrolment or follow_up.
    #[arg(long)]
    relationship: String,
    /// Categories, comma-separated: identity, contact, status, nir, sensitive.
    #[arg(long, value_delimiter = ',')]
    fields: Vec<String>,
    /// The recipient: `age1vigie1…` from `age-plugin-vigie --generate` (the file then opens only
    /// through Vigie, until expiry), or a plain age key `age1…` where the deployment allows
    /// `insecure_offline_recipients`.
    #[arg(long)]
    recipient: String,
    /// The recipient's Ed25519 public key (base64) that will sign the deletion receipt (and, for
    /// a sealed file, its openings): `age-plugin-vigie --receipt-key IDENTITY` prints it.
    #[arg(long)]
    receipt_key: String,
    /// The last day the recipient may keep the file (YYYY-MM-DD).
    #[arg(long)]
    retain_until: String,
}

struct Opened {
    service: Extracts,
    store: Arc<dyn ExtractBackend>,
    _ledger: Arc<Ledger>,
}

fn open(at: &DataAt) -> anyhow::Result<Opened> {
    let (data_dir, options, policies, extracts, postgres) = match &at.config {
        Some(p) => {
            let c = crate::config::Config::load(Some(p), |k| std::env::var(k).ok())?;
            let o = c.ledger.options(&c.data_dir)?;
            let postgres = c.store.postgres(c.secrets_key())?;
            (c.data_dir.clone(), o, c.policies_dir.clone(), c.extracts.clone(), postgres)
        }
        None => (
            at.data_dir.clone(),
            crate::app::ledger_options(&at.data_dir),
            None,
            crate::config_extracts::ExtractsConfig::default(),
            None,
        ),
    };
    // The configuration's store: PostgreSQL (`[store] url`), else the data directory's.
    let store: Arc<dyn ExtractBackend> = match postgres {
        Some((url, pg)) => Arc::new(vigie_store_pg::PgStore::open(&url, &pg).context("cannot open the registry")?),
        None => Arc::new(Store::open(&data_dir).context("cannot open the registry")?),
    };
    let ledger_dir = crate::app::ledger_dir(&data_dir);
    let ledger =
        Arc::new(Ledger::open(&ledger_dir, options).with_context(|| {
            format!("access ledger {} (is the server running? stop it first)", ledger_dir.display())
        })?);
    let authz = Arc::new(crate::app::load_policies(policies.as_deref())?);
    let service =
        Extracts::new(store.clone(), ledger.clone(), authz, Arc::new(crate::app::WallClock), &data_dir, extracts)?;
    Ok(Opened { service, store, _ledger: ledger })
}

/// The account named, after checking its TOTP code now (once: a replayed code is refused).
fn identify(store: &dyn ExtractBackend, who: &Who) -> anyhow::Result<Agent> {
    let agent = store.agent_by_login(&who.login)?.with_context(|| format!("no account {}", who.login))?;
    let creds = store.credentials(agent.id)?.with_context(|| format!("{} has no TOTP second factor", who.login))?;
    let now = crate::app::WallClock.now();
    let last = store.totp_last_step(agent.id)?;
    let step = vigie_core::signin::totp::verify(&creds.totp, who.totp, now.seconds(), last)
        .with_context(|| format!("the TOTP code of {} is wrong, expired or already used", who.login))?;
    if !store.consume_totp_step(agent.id, step)? {
        bail!("the TOTP code of {} was already used", who.login);
    }
    Ok(agent)
}

pub fn run(command: ExtractCommand) -> anyhow::Result<()> {
    match command {
        ExtractCommand::Request(a) => {
            let o = open(&a.at)?;
            let agent = identify(o.store.as_ref(), &a.who)?;
            let x = o.service.request(
                &agent,
                &RequestInput {
                    purpose: a.purpose,
                    description: a.description,
                    legal_basis: a.legal_basis,
                    relationship: a.relationship,
                    fields: a.fields,
                    recipient: a.recipient,
                    receipt_key: a.receipt_key,
                    retain_until: a.retain_until,
                },
            )?;
            println!(
                "{}\trequested\t{} persons' {} for '{}'; waiting for another person's approval",
                x.id,
                count_of(o.store.as_ref(), &x),
                fields(&x),
                x.purpose
            );
        }
        ExtractCommand::Approve { at, who, id, refuse } => {
            let o = open(&at)?;
            let agent = identify(o.store.as_ref(), &who)?;
            let x = o.service.decide(id, &agent, true, !refuse)?;
            println!("{}\t{}\tby {}", x.id, x.state.as_str(), agent.login);
        }
        ExtractCommand::Produce { at, id } => {
            let mut o = open(&at)?;
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(format!("producing {id}"));
            let b = bar.clone();
            o.service.progress = Arc::new(move |done, total| {
                b.set_length(total);
                b.set_position(done);
            });
            let r = o.service.produce(id)?;
            bar.finish_and_clear();
            println!(
                "{}\tproduced\t{} rows ({} of them canaries) of {} in {} ({} bytes, age to {})",
                r.extract.id,
                r.rows + r.canaries,
                r.canaries,
                r.columns.join(","),
                r.file.display(),
                r.bytes,
                r.extract.recipient
            );
            println!("manifest\t{}\nsignature\t{}", r.manifest.display(), r.signature.display());
            println!("signing key\t{}", o.service.signing_key());
        }
        ExtractCommand::Download { at, who, id, to } => {
            let o = open(&at)?;
            let agent = identify(o.store.as_ref(), &who)?;
            for p in o.service.download(id, &agent, &to)? {
                println!("{}", p.display());
            }
        }
        ExtractCommand::Receipt { at, id, file, signature } => {
            let o = open(&at)?;
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let sig_path = signature.unwrap_or_else(|| sig_of(&file));
            let sig = std::fs::read_to_string(&sig_path).with_context(|| format!("reading {}", sig_path.display()))?;
            let x = o.service.receipt(id, &bytes, &sig)?;
            println!("{}\tdeleted\treceipt accepted and ledgered", x.id);
        }
        ExtractCommand::Attribute { at, file } => {
            let o = open(&at)?;
            let bytes = if file == Path::new("-") {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
                v
            } else {
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let a = o.service.attribute(&bytes)?;
            let named = a.named();
            if named.is_empty() {
                println!(
                    "no extract named: {} rows read, no mark strong enough (false attribution bound ≥ 1e-6)",
                    a.rows
                );
                for (x, e) in &a.per_extract {
                    println!(
                        "  weak\t{x}\t{} pseudonyms, {} canaries, bound 1e{:.1}",
                        e.pseudonym_rows,
                        e.canaries.len(),
                        e.log10_false
                    );
                }
                std::process::exit(3);
            }
            for (x, e) in named {
                let extract = o.store.extract(x)?;
                let (org, purpose) = extract
                    .map(|x| (x.org.to_string(), x.purpose.to_string()))
                    .unwrap_or_else(|| ("?".into(), "?".into()));
                let org_name = org
                    .parse()
                    .ok()
                    .and_then(|id| o.store.organization(id).ok().flatten())
                    .map(|o| o.name)
                    .unwrap_or_default();
                println!(
                    "{x}\trecipient {org} {org_name}\tpurpose {purpose}\t{} of {} rows carry its pseudonyms, {} of its canaries found\tfalse attribution ≤ 1e{:.1}",
                    e.pseudonym_rows,
                    a.rows,
                    e.canaries.len(),
                    e.log10_false
                );
            }
        }
        ExtractCommand::List { at, overdue } => {
            let o = open(&at)?;
            let list = if overdue { o.service.overdue()? } else { o.service.list(1000)? };
            println!("id\tstate\torg\trequested_by\tpurpose\tfields\trows\tcanaries\texpires");
            for x in list {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    x.id,
                    x.state.as_str(),
                    x.org,
                    x.requested_by,
                    x.purpose,
                    fields(&x),
                    x.rows.map(|n| n.to_string()).unwrap_or_default(),
                    x.canaries.map(|n| n.to_string()).unwrap_or_default(),
                    x.expires_at
                );
            }
        }
        ExtractCommand::SignReceipt { key, extract, sha256, statement, out } => {
            let raw = std::fs::read(&key).with_context(|| format!("reading {}", key.display()))?;
            let identity = String::from_utf8_lossy(&raw).to_ascii_uppercase().contains("AGE-PLUGIN-VIGIE-1");
            let seed: [u8; 32] = match raw.len() {
                _ if identity => age_plugin_vigie::read_identity(&key.to_string_lossy())
                    .map_err(|e| anyhow::anyhow!(e))?
                    .signing_key()
                    .to_bytes(),
                32 => raw.try_into().map_err(|_| anyhow::anyhow!("key"))?,
                _ => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(String::from_utf8_lossy(&raw).trim())
                        .ok()
                        .and_then(|v| v.try_into().ok())
                        .with_context(|| format!("{}: not a 32-byte Ed25519 seed (raw or base64)", key.display()))?
                }
            };
            let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
            let receipt = vigie_extract::manifest::Receipt {
                format: vigie_extract::manifest::RECEIPT_FORMAT.into(),
                extract: extract.to_string(),
                ciphertext_sha256: sha256,
                deleted_at: crate::app::WallClock.now().to_string(),
                statement,
            };
            let (bytes, sig) = receipt.sign(&signing)?;
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
            std::fs::write(sig_of(&out), format!("{sig}\n"))?;
            println!("{}\n{}", out.display(), sig_of(&out).display());
        }
        ExtractCommand::Verify { manifest, key, file } => {
            let bytes = std::fs::read(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
            let sig_path = sig_of(&manifest);
            let sig = std::fs::read_to_string(&sig_path).with_context(|| format!("reading {}", sig_path.display()))?;
            if !vigie_extract::manifest::verify_manifest(&bytes, &sig, &key) {
                bail!("{}: the signature does not verify with key {key}", manifest.display());
            }
            let m: vigie_extract::manifest::Manifest =
                serde_json::from_slice(&bytes).with_context(|| format!("{} is not a manifest", manifest.display()))?;
            if let Some(f) = file {
                let data = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
                let got: String = sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &data))
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                if got != m.ciphertext_sha256 {
                    bail!("{}: SHA-256 {got} is not the manifest's {}", f.display(), m.ciphertext_sha256);
                }
            }
            println!("{}\tsigned by {key}\t{} rows, expires {}", m.extract, m.rows, m.expires_on);
        }
    }
    Ok(())
}

fn sig_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

fn fields(x: &vigie_core::extract::Extract) -> String {
    super::field_names(x.fields)
}

fn count_of(store: &dyn ExtractBackend, x: &vigie_core::extract::Extract) -> String {
    store
        .count_extract_persons(x.org, x.relationship, x.created_at.date())
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}
