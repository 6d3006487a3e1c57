//! `vigie ledger …`: the auditor's and operator's tools on the access ledger. `verify` re-hashes
//! everything and checks the tiles, the checkpoints' signatures and their consistency with the
//! log (the ledger's own and the witnesses' copies); `prove` prints an entry's inclusion proof to
//! the latest checkpoint; `checkpoint` prints the latest checkpoint and the key witnesses pin.
//! Each works on a data directory at rest (or a copy of it) and fails, naming the first bad
//! entry, tile or checkpoint, with a non-zero exit.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use vigie_ledger::note::NoteVerifier;
use vigie_ledger::{LedgerOptions, VerifyOptions};

#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Re-hash every entry, check every hash tile, and check each checkpoint (the ledger's own and
    /// the witness directories', current and past) for its signature and against the log. Exits
    /// non-zero naming the first bad entry, tile or checkpoint.
    Verify {
        #[command(flatten)]
        at: LedgerAt,
        /// Another witness directory to check (besides those of the configuration).
        #[arg(long)]
        witness_dir: Vec<PathBuf>,
        /// Several nodes: verify every node's ledger, as the cluster's tables in PostgreSQL list
        /// them (each node's data directory, key file and witness directories), with `--config`
        /// naming the store. Fails naming every node whose ledger does not verify.
        #[arg(long, requires = "config")]
        all_nodes: bool,
    },
    /// Print entry ENTRY's leaf hash, its inclusion proof to the latest checkpoint, and that
    /// checkpoint (signed): enough for anyone holding the log's public key to check it.
    Prove {
        #[command(flatten)]
        at: LedgerAt,
        entry: u64,
    },
    /// Delete the month keys of every month before YYYY-MM: those months' entry bodies become
    /// unreadable for good (retention), while the tree, its checkpoints and proofs still verify.
    /// Run it with the server stopped; the current month cannot be shredded.
    Shred {
        #[command(flatten)]
        at: LedgerAt,
        /// The first month kept, `YYYY-MM`.
        #[arg(long)]
        before: String,
    },
    /// Bring the scoping index up to date (each segment's entries not yet indexed); `--check`
    /// compares every index file row by row with the log; `--rebuild` starts it over.
    Index {
        #[command(flatten)]
        at: LedgerAt,
        #[arg(long)]
        check: bool,
        #[arg(long)]
        rebuild: bool,
    },
    /// Write the access entries as Parquet files (for DuckDB, DataFusion, Polars…), read from
    /// the log, with each session's network and browser and the entry's index.
    Export {
        #[command(flatten)]
        at: LedgerAt,
        /// The directory to create.
        #[arg(long)]
        parquet: PathBuf,
        /// Entries from this time (RFC 3339 or a date).
        #[arg(long)]
        from: Option<String>,
        /// Entries before this time.
        #[arg(long)]
        to: Option<String>,
    },
    /// Print the latest signed checkpoint and the log's public key (`<name>+<id>+<key>`), which
    /// witnesses and auditors pin.
    Checkpoint {
        #[command(flatten)]
        at: LedgerAt,
        /// Print only the public key.
        #[arg(long)]
        vkey_only: bool,
    },
}

/// Which ledger, and which key checks it.
#[derive(Args, Debug)]
pub struct LedgerAt {
    /// The data directory (holding `ledger/` and `ledger.key`).
    #[arg(long, default_value = "./vigie-data")]
    data_dir: PathBuf,
    /// A configuration file: its data directory, key file and witness directories are used.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The log's public key, pinned by the auditor (default: derived from the key file).
    #[arg(long)]
    vkey: Option<String>,
}

impl LedgerAt {
    fn resolve(&self) -> anyhow::Result<(PathBuf, LedgerOptions, NoteVerifier)> {
        let (data_dir, options) = match &self.config {
            Some(path) => {
                let config = crate::config::Config::load(Some(path), |k| std::env::var(k).ok())?;
                let options = config.ledger.options(&config.data_dir)?;
                (config.data_dir, options)
            }
            None => (self.data_dir.clone(), crate::app::ledger_options(&self.data_dir)),
        };
        let ledger_dir = crate::app::ledger_dir(&data_dir);
        if !ledger_dir.is_dir() {
            anyhow::bail!("no ledger in {}", ledger_dir.display());
        }
        let verifier = match &self.vkey {
            Some(v) => NoteVerifier::parse(v).map_err(|e| anyhow::anyhow!("--vkey: {e}"))?,
            None => {
                let key = options.key_path(&ledger_dir);
                vigie_ledger::verifier_from_key_file(&key).map_err(|e| {
                    anyhow::anyhow!("{e} (give the log's public key with --vkey to verify without the key file)")
                })?
            }
        };
        Ok((ledger_dir, options, verifier))
    }
}

pub fn run(command: LedgerCommand) -> anyhow::Result<()> {
    match command {
        LedgerCommand::Verify { at, witness_dir, all_nodes: false } => verify(&at, witness_dir),
        LedgerCommand::Verify { at, witness_dir, all_nodes: true } => verify_all_nodes(&at, witness_dir),
        LedgerCommand::Prove { at, entry } => prove(&at, entry),
        LedgerCommand::Checkpoint { at, vkey_only } => checkpoint(&at, vkey_only),
        LedgerCommand::Shred { at, before } => shred(&at, &before),
        LedgerCommand::Index { at, check, rebuild } => index(&at, check, rebuild),
        LedgerCommand::Export { at, parquet, from, to } => export(&at, &parquet, from.as_deref(), to.as_deref()),
    }
}

fn verify(at: &LedgerAt, extra_witnesses: Vec<PathBuf>) -> anyhow::Result<()> {
    let (dir, options, verifier) = at.resolve()?;
    verify_one(&dir, &options, &verifier, extra_witnesses, at.vkey.is_some())
}

/// Every node's ledger, from the cluster's list in PostgreSQL. Each is verified as `verify`
/// does one, with the public key the node published (pin each with the per-node command and
/// `--vkey` to check against a copy kept elsewhere).
fn verify_all_nodes(at: &LedgerAt, extra_witnesses: Vec<PathBuf>) -> anyhow::Result<()> {
    let Some(path) = &at.config else { anyhow::bail!("--all-nodes needs --config (the store's URL)") };
    let config = crate::config::Config::load(Some(path), |k| std::env::var(k).ok())?;
    let Some((url, options)) = config.store.postgres(config.secrets_key())? else {
        anyhow::bail!("--all-nodes: the configuration's store is not PostgreSQL ([store] url or VIGIE_STORE_URL)")
    };
    let nodes = vigie_store_pg::cluster::registered_nodes(&url, options.ca_file.as_deref())
        .context("reading the cluster's nodes")?;
    if nodes.is_empty() {
        anyhow::bail!("--all-nodes: no node has joined a cluster on {url}");
    }
    let mut failed = Vec::new();
    for node in &nodes {
        println!("== node {} ({})", node.name, node.origin);
        let data_dir = PathBuf::from(&node.data_dir);
        let options = LedgerOptions {
            origin: node.origin.clone(),
            key_file: Some(PathBuf::from(&node.key_file)),
            witnesses: node.witness_dirs.iter().map(|d| vigie_ledger::Witness::Directory(PathBuf::from(d))).collect(),
            ..LedgerOptions::default()
        };
        let dir = crate::app::ledger_dir(&data_dir);
        // The public key the node published; its key file only for a node that published none
        // (an older Vigie), read as the per-node command reads it.
        let verifier = match &node.vkey {
            Some(v) => NoteVerifier::parse(v).map_err(|e| anyhow::anyhow!("its published ledger key: {e}")),
            None => vigie_ledger::verifier_from_key_file(&options.key_path(&dir)).map_err(|e| anyhow::anyhow!("{e}")),
        };
        let result = verifier
            .and_then(|verifier| verify_one(&dir, &options, &verifier, extra_witnesses.clone(), node.vkey.is_some()));
        if let Err(e) = result {
            eprintln!("node {}: {e:#}", node.name);
            failed.push(node.name.clone());
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("{} of {} nodes' ledgers FAILED verification: {}", failed.len(), nodes.len(), failed.join(", "));
    }
    println!("all {} nodes' ledgers: OK", nodes.len());
    Ok(())
}

fn verify_one(
    dir: &std::path::Path,
    options: &LedgerOptions,
    verifier: &NoteVerifier,
    extra_witnesses: Vec<PathBuf>,
    pinned: bool,
) -> anyhow::Result<()> {
    let dir = dir.to_path_buf();
    let mut witness_dirs = options.witness_dirs();
    witness_dirs.extend(extra_witnesses);
    let witnessed = !witness_dirs.is_empty();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "verify [{bar:40}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let result = vigie_ledger::verify_with(
        &dir,
        &VerifyOptions { verifier: Some(verifier.clone()), witness_dirs },
        |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    );
    bar.finish_and_clear();
    // Incident scoping refuses a ledger whose last full verification failed: record it.
    let now = vigie_core::time::Clock::now(&crate::app::WallClock).millis();
    let outcome = match &result {
        Ok(r) => Ok(r.entries),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = vigie_scope::record_verification(&dir, outcome.as_ref().map(|n| *n).map_err(String::as_str), now) {
        eprintln!("warning: could not record the verification in {}: {e}", dir.display());
    }
    let report = result.with_context(|| format!("ledger {} FAILED verification", dir.display()))?;
    if report.entries > 0 && report.checkpoints.is_empty() {
        anyhow::bail!(
            "ledger {} FAILED verification: {} entries but no checkpoint (every open publishes one): checkpoints \
             were deleted; compare with the witnesses' copies (--witness-dir)",
            dir.display(),
            report.entries
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("ledger {}: OK", dir.display());
    println!("entries      {}", report.entries);
    println!("segments     {} ({} bytes)", report.segments, report.bytes);
    println!("hash tiles   {} checked", report.tiles_checked);
    println!("root         {}", report.root);
    println!("key          {verifier}");
    if report.checkpoints.is_empty() {
        println!("checkpoints  none published yet");
    }
    for (path, size) in &report.checkpoints {
        println!("checkpoint   {} (size {size}): signature valid, consistent with the log", path.display());
    }
    println!("time         {seconds:.2} s ({:.0} entries/s)", report.entries as f64 / seconds.max(1e-9));
    // What this check cannot see: a log rolled back and re-signed with the key it trusts.
    if !pinned {
        eprintln!(
            "warning: the key was taken from the data directory being checked; pin the log's public key with --vkey \
             (from `vigie ledger checkpoint --vkey-only`, kept elsewhere)"
        );
    }
    if !witnessed {
        eprintln!(
            "warning: no witness directory: a log rolled back and re-signed by someone holding the key would pass; \
             give the witnesses' copies with --witness-dir"
        );
    }
    Ok(())
}

fn prove(at: &LedgerAt, entry: u64) -> anyhow::Result<()> {
    let (dir, _, verifier) = at.resolve()?;
    let receipt = vigie_ledger::prove(&dir, &verifier, entry).with_context(|| format!("proving entry {entry}"))?;
    println!("entry      {}", receipt.index);
    println!("leaf       {}", receipt.leaf);
    println!("tree size  {}", receipt.size);
    println!("root       {}", receipt.root);
    println!("proof      {} hashes, leaf side first (RFC 6962 audit path)", receipt.proof.len());
    for h in &receipt.proof {
        println!("  {h}");
    }
    println!("key        {verifier}");
    println!("checkpoint");
    print!("{}", receipt.checkpoint);
    Ok(())
}

fn shred(at: &LedgerAt, before: &str) -> anyhow::Result<()> {
    let (dir, options, _) = at.resolve()?;
    // A running server keeps month keys in memory: it must be stopped (its lock held here).
    let lock_path = dir.join(vigie_ledger::LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("{}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        anyhow::bail!("ledger {} is open (is the server running? stop it first)", dir.display());
    }
    let before = vigie_ledger::Period::parse(before).with_context(|| format!("--before: {before:?} is not YYYY-MM"))?;
    let now = vigie_core::time::Clock::now(&crate::app::WallClock);
    let current = vigie_ledger::Period::of_millis(now.0);
    if before > current {
        anyhow::bail!("--before {before}: the current month ({current}) is still being written and cannot be shredded");
    }
    let keys = options.seal_keys.context("this ledger does not seal bodies ([ledger] seal_bodies = false)")?;
    let removed =
        vigie_ledger::shred_before(&keys, before).with_context(|| format!("month keys in {}", keys.display()))?;
    if removed.is_empty() {
        println!("no month key before {before} in {}", keys.display());
    }
    for path in &removed {
        println!("shredded {}", path.display());
    }
    Ok(())
}

fn checkpoint(at: &LedgerAt, vkey_only: bool) -> anyhow::Result<()> {
    let (dir, _, verifier) = at.resolve()?;
    if vkey_only {
        println!("{verifier}");
        return Ok(());
    }
    let path = dir.join(vigie_ledger::CHECKPOINT_FILE);
    let note = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    vigie_ledger::latest_checkpoint(&dir, &verifier)
        .with_context(|| format!("checkpoint {}", path.display()))?
        .context("no checkpoint")?;
    print!("{note}");
    println!();
    println!("vkey {verifier}");
    Ok(())
}

fn keys_of(options: &LedgerOptions) -> Option<vigie_ledger::seal::KeyRing> {
    options.seal_keys.as_deref().map(vigie_ledger::seal::KeyRing::new)
}

fn index(at: &LedgerAt, check: bool, rebuild: bool) -> anyhow::Result<()> {
    let (dir, options, _) = at.resolve()?;
    let keys = keys_of(&options);
    let index_dir = vigie_scope::index::index_dir(&dir);
    if rebuild && index_dir.exists() {
        for e in std::fs::read_dir(&index_dir)?.flatten() {
            if e.path().extension().is_some_and(|x| x == "vgix") {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("index [{bar:40}] {pos}/{len} segments ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let report = vigie_scope::index::refresh(&dir, keys.as_ref(), 1, |d, n| {
        bar.set_length(n as u64);
        bar.set_position(d as u64);
    })?;
    bar.finish_and_clear();
    println!(
        "index {}: {} file(s) written for {} entries in {:.1} s",
        index_dir.display(),
        report.files_written,
        report.entries_indexed,
        started.elapsed().as_secs_f64()
    );
    for p in &report.stale_moved {
        println!("moved aside (did not match its segment): {}", p.display());
    }
    if check {
        let cover = vigie_scope::index::coverage(&dir)?;
        let files: Vec<_> = cover.segments.iter().flat_map(|s| s.files.iter()).collect();
        let bar = ProgressBar::new(files.len() as u64);
        let mut rows = 0u64;
        for f in files {
            rows += vigie_scope::index::check_file(&dir, keys.as_ref(), f)
                .with_context(|| format!("index file {} FAILED its check", f.path().display()))?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        println!("index checked row by row against the log: {rows} rows, all equal");
    }
    Ok(())
}

fn export(at: &LedgerAt, out: &std::path::Path, from: Option<&str>, to: Option<&str>) -> anyhow::Result<()> {
    let (dir, options, _) = at.resolve()?;
    let keys = keys_of(&options);
    let from = from.map(crate::incidents::cli::parse_time).transpose().context("--from")?.map(|t| t.0);
    let to = to.map(crate::incidents::cli::parse_time).transpose().context("--to")?.map(|t| t.0);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        anyhow::bail!("--from must be before --to");
    }
    let spinner = ProgressBar::new_spinner();
    let started = Instant::now();
    let report = vigie_scope::export::export_parquet(&dir, keys.as_ref(), from, to, out, |n| {
        spinner.set_message(format!("{n} entries read"));
        spinner.tick();
    })?;
    spinner.finish_and_clear();
    println!(
        "exported {} access entries to {} file(s) in {} ({:.1} s)",
        report.rows,
        report.files.len(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    if report.shredded > 0 {
        println!("{} entries of shredded months left out (their keys are gone)", report.shredded);
    }
    println!(
        "try: duckdb -c \"SELECT network, count(DISTINCT person) FROM '{}/*.parquet' WHERE decision = 'allow' GROUP BY 1\"",
        out.display()
    );
    Ok(())
}
