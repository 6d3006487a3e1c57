//! `vigie eval-attribution`: does a leaked fragment name the right extract among many?
//!
//! The goal: any leaked subset of ≥ 1 000 rows is attributed to the right extract among
//! ≥ 1 000 extracts, with a false attribution probability below 10⁻⁶. The bound is computed
//! analytically for every attribution (`vigie_extract::attribute`); this measures it on real
//! files, in the hardest case for canaries: every extract holds **the same persons** (one
//! subcontractor assigned the whole registry), so only each file's own canaries tell the files
//! apart.
//!
//! 1. A registry of `--persons` persons, all assigned to one subcontractor, and `--extracts`
//!    extracts of it (identity and contact), made once and reused.
//! 2. Each trial picks an extract at random (seeded), decrypts its file with Debian's `age`,
//!    draws `--rows` rows at random, drops every identifying column (`ref`, names, birth date and
//!    place, sex: what an intruder strips to hide the source) and attributes what is left.
//!    Outcomes: right (that extract alone named), wrong (another named), none.
//! 3. Controls: as many fragments of `--rows` registry persons rendered in the same columns but
//!    never extracted (no canary): naming anything there is a false attribution.
//!
//! Attribution has no threshold to tune besides the fixed 10⁻⁶ bound, so there is no tuning
//! split; the trial seed is printed with the figures.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::extract::ExtractId;
use vigie_core::ids::PersonId;
use vigie_core::ports::Registry;

use crate::bench_extract::prepare;

#[derive(Args, Debug)]
pub struct EvalAttributionArgs {
    /// Persons in the registry, and so rows of each extract.
    #[arg(long, default_value_t = 5_000)]
    persons: u64,
    /// Extracts made (all of the same persons).
    #[arg(long, default_value_t = 1_000)]
    extracts: u32,
    /// Leaked fragments attributed.
    #[arg(long, default_value_t = 200)]
    trials: u32,
    /// Rows in each leaked fragment.
    #[arg(long, default_value_t = 1_000)]
    rows: usize,
    /// The seed of the trials (which extract, which rows).
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// The data directory (made on first use, then reused).
    #[arg(long, default_value = "./vigie-eval-attribution")]
    dir: PathBuf,
}

/// The columns an intruder strips to hide where a file came from.
const IDENTIFYING: [&str; 7] = ["ref", "ft_id", "last_name", "first_name", "birth_date", "birth_place", "sex"];

fn bar(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})") {
        b.set_style(style.progress_chars("=> "));
    }
    b.set_message(what.to_owned());
    b
}

/// `rows` random data rows of `csv`, without the identifying columns, as CSV with a header.
fn fragment(csv: &[u8], rows: usize, rng: &mut impl Rng) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut reader = csv::ReaderBuilder::new().from_reader(csv);
    let header = reader.headers()?.clone();
    let keep: Vec<usize> = (0..header.len()).filter(|i| !IDENTIFYING.contains(&&header[*i])).collect();
    let all: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let picked: Vec<&csv::StringRecord> = all.choose_multiple(rng, rows.min(all.len())).collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(keep.iter().map(|i| &header[*i]))?;
    for r in &picked {
        w.write_record(keep.iter().map(|i| r.get(*i).unwrap_or("")))?;
    }
    Ok((w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?, keep.len()))
}

#[derive(Default)]
struct Tally {
    right: u32,
    wrong: u32,
    none: u32,
    /// log10 of the bound of each right attribution.
    bounds: Vec<f64>,
    canaries: Vec<u64>,
}

pub fn run(args: EvalAttributionArgs) -> anyhow::Result<()> {
    if args.extracts == 0 || args.trials == 0 || args.rows == 0 {
        bail!("--extracts, --trials and --rows must be positive");
    }
    let p = prepare(&args.dir, args.persons)?;
    let made = p.svc.list(usize::MAX)?.iter().filter(|x| x.produced_at.is_some()).count() as u32;
    if made < args.extracts {
        let b = bar(u64::from(args.extracts), "extracts");
        b.set_position(u64::from(made));
        for n in made..args.extracts {
            let r = p.produce(&format!("evaluation extract {}", n + 1), &["identity", "contact"])?;
            // Only the ciphertext is kept; its manifest and signature are not needed here.
            let _ = std::fs::remove_file(&r.manifest);
            let _ = std::fs::remove_file(&r.signature);
            b.inc(1);
        }
        b.finish();
    }
    let produced: Vec<ExtractId> =
        p.svc.list(usize::MAX)?.iter().filter(|x| x.produced_at.is_some()).map(|x| x.id).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let mut leaks = Tally::default();
    let mut columns_kept = 0;
    let b = bar(u64::from(args.trials), "leaks");
    for _ in 0..args.trials {
        let Some(&x) = produced.choose(&mut rng) else { bail!("no extract was produced") };
        let file = p.svc.dir().join(vigie_extract::produce::file_name(x));
        let out = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&p.key)
            .arg(&file)
            .output()
            .context("running age (apt-get install age)")?;
        if !out.status.success() {
            bail!("age -d {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
        }
        let (leak, kept) = fragment(&out.stdout, args.rows, &mut rng)?;
        columns_kept = kept;
        let a = p.svc.attribute(&leak)?;
        let named = a.named();
        match named.as_slice() {
            [] => leaks.none += 1,
            [(only, e)] if *only == x => {
                leaks.right += 1;
                leaks.bounds.push(e.log10_false);
                leaks.canaries.push(e.canaries.len() as u64);
            }
            _ => leaks.wrong += 1,
        }
        b.inc(1);
    }
    b.finish();

    // Controls: registry persons never extracted, in the same columns, no canary among them.
    let cols: Vec<_> =
        vigie_extract::columns::columns(CategorySet::from_iter([DataCategory::Identity, DataCategory::Contact]), false);
    let canaries: std::collections::HashSet<PersonId> = p.store.canaries()?.into_iter().collect();
    let mut control_named = 0u32;
    let b = bar(u64::from(args.trials), "controls");
    for _ in 0..args.trials {
        let mut csv = Vec::new();
        vigie_extract::columns::header(&cols, &mut csv);
        let mut n = 0;
        while n < args.rows {
            let Some(id) = PersonId::new(rng.gen_range(1..=args.persons)) else { continue };
            if canaries.contains(&id) {
                continue;
            }
            if let Some(person) = p.store.person(id)? {
                vigie_extract::columns::row(&cols, &person, b"", &mut csv);
                n += 1;
            }
        }
        let (leak, _) = fragment(&csv, args.rows, &mut rng)?;
        if !p.svc.attribute(&leak)?.named().is_empty() {
            control_named += 1;
        }
        b.inc(1);
    }
    b.finish();

    leaks.bounds.sort_by(f64::total_cmp);
    leaks.canaries.sort_unstable();
    let worst = leaks.bounds.last().copied().unwrap_or(f64::NAN);
    let median_bound = leaks.bounds.get(leaks.bounds.len() / 2).copied().unwrap_or(f64::NAN);
    let min_canaries = leaks.canaries.first().copied().unwrap_or(0);
    let median_canaries = leaks.canaries.get(leaks.canaries.len() / 2).copied().unwrap_or(0);
    println!(
        "{} extracts of the same {} persons; fragments of {} rows, identifying columns removed ({columns_kept} columns left); seed {}",
        produced.len(),
        args.persons,
        args.rows,
        args.seed
    );
    println!("outcome\tcount\tof");
    println!("right\t{}\t{}", leaks.right, args.trials);
    println!("wrong\t{}\t{}", leaks.wrong, args.trials);
    println!("none\t{}\t{}", leaks.none, args.trials);
    println!("control_named\t{control_named}\t{}", args.trials);
    println!(
        "canaries matched per right attribution: median {median_canaries}, min {min_canaries}; log10 false-attribution bound: median {median_bound:.1}, worst {worst:.1}"
    );
    Ok(())
}
