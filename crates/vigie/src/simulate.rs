//! `vigie simulate`: runs the scenarios over seeds and writes the report (terminal table,
//! `report.json`, `report.md` with SVG plots).

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use vigie_sim::{EVALUATION_SEEDS, Progress, RunParams, SystemSpec, TUNING_SEEDS, WorldSize};

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Scenario files (TOML); repeat the flag for several. Default: every `*.toml` of
    /// `--scenarios-dir`.
    #[arg(long = "scenario")]
    pub scenarios: Vec<PathBuf>,
    /// Where the shipped scenarios are.
    #[arg(long, default_value = "scenarios")]
    pub scenarios_dir: PathBuf,
    /// `evaluation` (seeds 1001–1020, the report's), `tuning` (1–10, for choosing defaults), or
    /// a comma-separated list.
    #[arg(long, default_value = "evaluation")]
    pub seeds: String,
    /// Use only the first N seeds of the set.
    #[arg(long)]
    pub max_seeds: Option<usize>,
    #[arg(long, default_value_t = 1_000_000)]
    pub persons: u64,
    /// At least this many accounts (front-desk agents and integrations are added).
    #[arg(long, default_value_t = 5_000)]
    pub accounts: usize,
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    #[arg(long, default_value_t = 30)]
    pub warmup_days: u32,
    /// Also run Vigie without each of its parts in turn.
    #[arg(long)]
    pub ablations: bool,
    /// Where to write report.json, report.md and the plots.
    #[arg(long, default_value = "simulation-report")]
    pub out: PathBuf,
    /// Live mode: play one scenario (default: stolen-session-fast-bulk) against the server at
    /// this loopback URL, in real time, beside benign agents; stops by itself.
    #[arg(long, value_name = "URL")]
    pub live: Option<String>,
    /// Live mode: the running server's data directory (the accounts played are taken there).
    #[arg(long, default_value = "./vigie-data")]
    pub data_dir: PathBuf,
    /// Live mode: give the played accounts new credentials (ending their sessions). Required:
    /// never point live mode at a registry of real agents.
    #[arg(long)]
    pub insecure_reset_credentials: bool,
    /// Live mode: the whole run lasts at most this many seconds.
    #[arg(long, default_value_t = 120)]
    pub duration: u64,
    /// Live mode: benign agents working beside the attacker.
    #[arg(long, default_value_t = 4)]
    pub benign: usize,
    /// Live mode: the attacker's requests a second, at most.
    #[arg(long, default_value_t = 10.0)]
    pub max_rate: f64,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.live {
        return run_live(&args, url);
    }
    if args.persons == 0 || args.persons > 20_000_000 {
        anyhow::bail!("--persons: between 1 and 20000000, got {}", args.persons);
    }
    if args.days == 0 || args.days > 366 || args.warmup_days >= args.days {
        anyhow::bail!("--days: between 1 and 366, and more than --warmup-days ({} / {})", args.days, args.warmup_days);
    }
    if args.accounts > 200_000 {
        anyhow::bail!("--accounts: at most 200000, got {}", args.accounts);
    }
    let (seed_set, mut seeds) = parse_seeds(&args.seeds)?;
    if let Some(n) = args.max_seeds {
        seeds.truncate(n.max(1));
    }
    let start = vigie_sim::default_start();
    let names = vigie_sim::org_names(seeds[0], args.persons, start);
    let bounds = vigie_sim::scenario::Bounds { warmup_days: args.warmup_days, days: args.days, org_names: &names };
    let files = if args.scenarios.is_empty() { shipped(&args.scenarios_dir)? } else { args.scenarios.clone() };
    let mut scenarios = Vec::new();
    for f in &files {
        scenarios.push(vigie_sim::scenario::load(f, &bounds)?);
    }
    let params = RunParams {
        seed: seeds[0],
        size: WorldSize { persons: args.persons, accounts: args.accounts },
        days: args.days,
        warmup_days: args.warmup_days,
        start,
        systems: SystemSpec::standard(args.ablations),
    };
    eprintln!(
        "vigie: {} scenario(s), {} system(s), {} seed(s) ({seed_set}), {} persons, ≥ {} accounts, {} days",
        scenarios.len(),
        params.systems.len(),
        seeds.len(),
        args.persons,
        args.accounts,
        args.days
    );
    let bar = ProgressBar::new(u64::from(args.days) * seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} days (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut done_seeds = 0u64;
    let report = vigie_sim::simulate(&params, &seeds, &seed_set, &scenarios, &mut |seed, p| match p {
        Progress::World { done, total } => {
            bar.set_message(format!("seed {seed}: world {}%", done * 100 / total.max(1)))
        }
        Progress::Day { day, days, requests } => {
            bar.set_position(done_seeds * u64::from(days) + u64::from(day));
            bar.set_message(format!("seed {seed}: {}k req", requests / 1000));
            if day == days {
                done_seeds += 1;
            }
        }
    });
    bar.finish_and_clear();
    print!("{}", vigie_sim::report::table(&report));
    write_report(&args.out, &report)?;
    println!("\nreport: {}", args.out.join("report.md").display());
    Ok(())
}

/// Live mode against a server already running (`vigie serve` or `vigie demo`).
fn run_live(args: &SimulateArgs, url: &str) -> anyhow::Result<()> {
    let base = crate::live::check_base(url)?;
    if !args.insecure_reset_credentials {
        anyhow::bail!(
            "--live: the played accounts get new credentials in {} (their sessions end); add \
             --insecure-reset-credentials to confirm this is a demo or test registry",
            args.data_dir.display()
        );
    }
    let scenario = live_scenario(&args.scenarios, &args.scenarios_dir)?;
    let mut opts = crate::live::LiveOptions::new(base);
    if !(10..=3_600).contains(&args.duration) {
        anyhow::bail!("--duration: between 10 and 3600 seconds, got {}", args.duration);
    }
    if args.benign > 50 {
        anyhow::bail!("--benign: at most 50 agents, got {}", args.benign);
    }
    opts.duration = std::time::Duration::from_secs(args.duration);
    opts.benign = args.benign;
    if !(args.max_rate > 0.0 && args.max_rate <= 1_000.0) {
        anyhow::bail!("--max-rate: between 0 and 1000 requests a second, got {}", args.max_rate);
    }
    opts.max_rate = args.max_rate;
    let store = vigie_store::Store::open(&args.data_dir)
        .with_context(|| format!("--data-dir {}: cannot open the registry", args.data_dir.display()))?;
    let today = vigie_core::time::Clock::now(&crate::app::WallClock).date();
    // The demo's printed accounts are left alone.
    let demo: Vec<_> = crate::demo::pick_accounts(&store, today)?.into_iter().map(|(a, _, _)| a.id).collect();
    let cast = crate::live::cast(&store, &scenario, opts.benign, today, &demo, opts.seed)?;
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(crate::live::play(&opts, &cast, &scenario, true))?;
    if outcome.contained_after.is_none() && outcome.attacker_requests > 0 {
        anyhow::bail!("live: the attacker was not contained ({} records exposed)", outcome.exposed);
    }
    Ok(())
}

/// The one scenario live mode plays.
pub fn live_scenario(files: &[PathBuf], dir: &Path) -> anyhow::Result<vigie_sim::scenario::Scenario> {
    let file = match files {
        [] => dir.join("stolen-session-fast-bulk.toml"),
        [one] => one.clone(),
        _ => anyhow::bail!("--live plays one scenario at a time: give --scenario once"),
    };
    let start = vigie_sim::default_start();
    let names = vigie_sim::org_names(1, 1_000_000, start);
    let bounds = vigie_sim::scenario::Bounds { warmup_days: 30, days: 90, org_names: &names };
    Ok(vigie_sim::scenario::load(&file, &bounds)?)
}

/// The demo's attack when none is named: the stolen-session fast bulk, built into the binary (a
/// demo started from any directory plays it).
pub fn default_live_scenario() -> anyhow::Result<vigie_sim::scenario::Scenario> {
    const TEXT: &str = include_str!("../../../scenarios/stolen-session-fast-bulk.toml");
    let start = vigie_sim::default_start();
    let names = vigie_sim::org_names(1, 1_000_000, start);
    let bounds = vigie_sim::scenario::Bounds { warmup_days: 30, days: 90, org_names: &names };
    Ok(vigie_sim::scenario::parse("stolen-session-fast-bulk.toml", TEXT, &bounds)?)
}

/// The seed set's name and its seeds.
fn parse_seeds(s: &str) -> anyhow::Result<(String, Vec<u64>)> {
    match s {
        "evaluation" => Ok(("evaluation".into(), EVALUATION_SEEDS.collect())),
        "tuning" => Ok(("tuning".into(), TUNING_SEEDS.collect())),
        list => {
            let seeds = list
                .split(',')
                .map(|x| x.trim().parse::<u64>().with_context(|| format!("--seeds: {x:?} is not a seed")))
                .collect::<anyhow::Result<Vec<u64>>>()?;
            if seeds.is_empty() {
                anyhow::bail!("--seeds: no seed given");
            }
            let tuning = seeds.iter().all(|s| TUNING_SEEDS.contains(s));
            Ok((if tuning { "tuning".into() } else { "custom".into() }, seeds))
        }
    }
}

fn shipped(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("--scenarios-dir {}: cannot read it (or give --scenario FILE)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    if v.is_empty() {
        anyhow::bail!("--scenarios-dir {}: no *.toml scenario in it", dir.display());
    }
    Ok(v)
}

/// Writes report.json, report.md and the plots into `dir`, each atomically (a temporary file
/// renamed), so that an interrupted run leaves the previous report whole.
fn write_report(dir: &Path, report: &vigie_sim::Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report).context("report as JSON")?;
    let (md, plots) = vigie_sim::report::markdown(report);
    for (name, body) in plots
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_str()))
        .chain([("report.json", json.as_str()), ("report.md", md.as_str())])
    {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
