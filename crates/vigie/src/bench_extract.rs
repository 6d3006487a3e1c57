//! `vigie bench-extract`: producing a governed extract of N persons (minimized, pseudonymized,
//! watermarked, encrypted, signed, every row ledgered before the file is published), timed
//! beside its floor measured in the same run: Debian's `age` encrypting a plain CSV of the same
//! rows to the same recipient.
//!
//! The data directory is made once (a registry of N persons, a subcontractor assigned every one
//! of them, a recipient key from `age-keygen`) and reused. Each round files, approves and
//! produces a new extract (the organization quota is lifted for the benchmark), then decrypts it
//! with `age` (untimed) and times `age -r` on that plaintext. The peak resident memory of the
//! production is read from `/proc/self/status` after resetting it (`clear_refs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use vigie_core::ids::AgentId;
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::Registry;
use vigie_core::relationship::RelationshipKind;
use vigie_core::time::{Clock, Timestamp, format_date};
use vigie_gen::GenParams;
use vigie_ledger::Ledger;
use vigie_store::Store;

use crate::config_extracts::ExtractsConfig;
use crate::extracts::{Extracts, RequestInput};

#[derive(Args, Debug)]
pub struct BenchExtractArgs {
    /// Persons in the registry, all assigned to one subcontractor (the extract's size).
    #[arg(long, default_value_t = 1_000_000)]
    persons: u64,
    /// The data directory (made on first use, then reused).
    #[arg(long, default_value = "./vigie-bench-extract")]
    dir: PathBuf,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

fn age_keygen(dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let key = dir.join("recipient-key.txt");
    let pub_file = dir.join("recipient.pub");
    if !key.exists() {
        let out = Command::new("age-keygen")
            .arg("-o")
            .arg(&key)
            .output()
            .context("running age-keygen (apt-get install age)")?;
        if !out.status.success() {
            bail!("age-keygen: {}", String::from_utf8_lossy(&out.stderr));
        }
        let public = String::from_utf8_lossy(&out.stderr)
            .lines()
            .find_map(|l| l.strip_prefix("Public key: ").map(str::to_owned))
            .context("age-keygen printed no public key")?;
        std::fs::write(&pub_file, &public)?;
    }
    Ok((key, std::fs::read_to_string(&pub_file)?.trim().to_owned()))
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmHWM:").and_then(|v| v.trim().trim_end_matches(" kB").parse().ok()))
        })
        .unwrap_or(0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A data directory ready for extracts: a registry whose persons a subcontractor is assigned
/// every one of, its advisor who asks, an officer who approves, a recipient key from
/// `age-keygen`, and the service (organization quota lifted; plain X25519 recipients accepted,
/// so that files decrypt without a server).
pub(crate) struct Prepared {
    pub store: Arc<Store>,
    pub svc: Extracts,
    pub requester: vigie_core::org::Agent,
    pub officer: vigie_core::org::Agent,
    pub key: PathBuf,
    pub recipient: String,
    pub receipt_key: String,
}

impl Prepared {
    /// Files, approves and produces one extract of `fields`.
    pub fn produce(&self, description: &str, fields: &[&str]) -> anyhow::Result<crate::extracts::ProductionReport> {
        let input = RequestInput {
            purpose: "document_processing".into(),
            description: description.into(),
            legal_basis: "public_task".into(),
            relationship: "assignment".into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            recipient: self.recipient.clone(),
            receipt_key: self.receipt_key.clone(),
            retain_until: format_date(Timestamp(crate::app::WallClock.now().millis() + 30 * 86_400_000).date()),
        };
        let x = self.svc.request(&self.requester, &input)?;
        self.svc.decide(x.id, &self.officer, true, true)?;
        Ok(self.svc.produce(x.id)?)
    }
}

pub(crate) fn prepare(dir: &Path, persons: u64) -> anyhow::Result<Prepared> {
    let today = crate::app::WallClock.now().date();
    if !dir.join("vigie.db").exists() {
        eprintln!("making a registry of {persons} persons in {} (once)…", dir.display());
        let params = GenParams { seed: 2023, persons, as_of: today };
        crate::generate::generate(dir, &params, false, true)?;
    }
    let store = Arc::new(Store::open(dir).context("opening the registry")?);
    let agents: Vec<_> = (1..1_000_000u64)
        .filter_map(AgentId::new)
        .map_while(|id| store.agent(id).ok().flatten())
        .filter_map(|a| store.organization(a.org).ok().flatten().map(|o| (a, o)))
        .collect();
    let (requester, org) = agents
        .iter()
        .find(|(a, o)| a.role == Role::Advisor && o.kind == OrgKind::Subcontractor && a.active)
        .cloned()
        .context("no subcontractor advisor in the registry")?;
    let (officer, _) = agents
        .iter()
        .find(|(a, o)| a.role == Role::SecurityOfficer && o.kind == OrgKind::Agency)
        .cloned()
        .context("no security officer in the registry")?;
    let added = store.relate_everyone(org.id, RelationshipKind::Assignment, today)?;
    if added > 0 {
        eprintln!("assigned {added} persons to {} ({})", org.id, org.name);
    }
    let (key, recipient) = age_keygen(dir)?;
    let ledger = Arc::new(Ledger::open(&crate::app::ledger_dir(dir), crate::app::ledger_options(dir))?);
    let authz = Arc::new(crate::app::load_policies(None)?);
    // A plain X25519 recipient, so that the floor can decrypt Vigie's file without a server; a
    // sealed one (the default) costs one more X25519 and HKDF per file, nothing per row.
    let config = ExtractsConfig {
        quota_persons_30_days: u64::MAX,
        insecure_offline_recipients: true,
        ..ExtractsConfig::default()
    };
    let svc = Extracts::new(store.clone(), ledger, authz, Arc::new(crate::app::WallClock), dir, config)?;
    let receipt_key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key().as_bytes())
    };
    Ok(Prepared { store, svc, requester, officer, key, recipient, receipt_key })
}

pub fn run(args: BenchExtractArgs) -> anyhow::Result<()> {
    let dir = &args.dir;
    let p = prepare(dir, args.persons)?;
    let (key, recipient) = (&p.key, &p.recipient);
    let (mut vigie_s, mut floor_s, mut ratios, mut rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    println!("round\trows\tcanaries\tbytes\tvigie_s\tage_floor_s\tratio\tpeak_rss_mb");
    for round in 1..=args.rounds {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let t = Instant::now();
        let r = p.produce(&format!("benchmark round {round}"), &["identity", "contact", "status"])?;
        let secs = t.elapsed().as_secs_f64();
        let peak = peak_rss_kb() as f64 / 1024.0;
        // The floor: the same rows in clear, encrypted by age to the same recipient.
        let plain = dir.join("floor.csv");
        let out = Command::new("age").arg("-d").arg("-i").arg(key).arg("-o").arg(&plain).arg(&r.file).output()?;
        if !out.status.success() {
            bail!("age -d: {}", String::from_utf8_lossy(&out.stderr));
        }
        let floor_out = dir.join("floor.csv.age");
        let t = Instant::now();
        let out = Command::new("age").arg("-r").arg(recipient).arg("-o").arg(&floor_out).arg(&plain).output()?;
        let floor = t.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!("age -r: {}", String::from_utf8_lossy(&out.stderr));
        }
        for p in [&plain, &floor_out, &r.file] {
            let _ = std::fs::remove_file(p);
        }
        println!(
            "{round}\t{}\t{}\t{}\t{secs:.2}\t{floor:.2}\t{:.2}\t{peak:.0}",
            r.rows,
            r.canaries,
            r.bytes,
            secs / floor
        );
        vigie_s.push(secs);
        floor_s.push(floor);
        ratios.push(secs / floor);
        rss.push(peak);
    }
    println!(
        "median\t\t\t\t{:.2}\t{:.2}\t{:.2}\t{:.0}",
        median(&mut vigie_s),
        median(&mut floor_s),
        median(&mut ratios),
        median(&mut rss)
    );
    Ok(())
}
