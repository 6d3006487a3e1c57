//! Bulk-load throughput and hot-query latency on a synthetic registry.
//!
//! `cargo bench -p vigie-store --bench bulk_load [-- PERSONS]` (default 1 000 000 persons,
//! about 1.15 relationships each). Prints figures; asserts nothing about time.

// A benchmark harness: any failure should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use vigie_core::ports::Registry;
use vigie_store::{LoadOptions, Store};

fn main() {
    let persons: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();

    let start = Instant::now();
    let mut loader = Store::bulk_load(dir.path(), &LoadOptions::default()).unwrap();
    let progress = loader.progress();
    let relationships = common::fill_synthetic(&mut loader, persons);
    let loaded = start.elapsed();
    let store = loader.finish().unwrap();
    let total = start.elapsed();
    let rows = progress.rows();
    let size = std::fs::metadata(store.path()).unwrap().len();

    println!("bulk load: {persons} persons, {relationships} relationships, {rows} rows");
    println!("  inserting      {:>8.2} s  {:>10.0} rows/s", loaded.as_secs_f64(), rows as f64 / loaded.as_secs_f64());
    println!("  indexes+checks {:>8.2} s", (total - loaded).as_secs_f64());
    println!("  total          {:>8.2} s  {:>10.0} rows/s", total.as_secs_f64(), rows as f64 / total.as_secs_f64());
    println!(
        "  file           {:>8.1} MiB ({:.0} bytes/person)",
        size as f64 / 1_048_576.0,
        size as f64 / persons as f64
    );

    let t = Instant::now();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    println!("  reopen with quick_check {:.2} s", t.elapsed().as_secs_f64());

    let n = 20_000u64;
    let pick = |i: u64| common::p(1 + i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % persons);
    let per_op = |d: Duration, ops: u64| d.as_secs_f64() * 1e6 / ops as f64;
    let t = Instant::now();
    for i in 0..n {
        store.active_relationships(pick(i), common::TODAY).unwrap();
    }
    println!("hot queries (one thread, {n} each):");
    println!("  active_relationships {:>7.1} µs", per_op(t.elapsed(), n));
    let t = Instant::now();
    for i in 0..n {
        store.person(pick(i)).unwrap().unwrap();
    }
    println!("  person               {:>7.1} µs", per_op(t.elapsed(), n));
    let born = common::person(1).birth_date;
    let t = Instant::now();
    for i in 0..n {
        let id = pick(i).get();
        assert!(!store.find_by_nir(&common::synthetic_nir(id), born).unwrap().is_empty());
    }
    println!("  find_by_nir          {:>7.1} µs", per_op(t.elapsed(), n));
    let advisor = store.agent(common::a(1)).unwrap().unwrap();
    let mission = store.agent(common::a(8001)).unwrap().unwrap();
    for (name, agent) in [("team of 8 advisors", &advisor), ("mission locale", &mission)] {
        let (mut pages, mut lines, mut after) = (0u64, 0u64, None);
        let t = Instant::now();
        loop {
            let page = store.scope_page(agent, after, 100, common::TODAY).unwrap();
            if page.is_empty() {
                break;
            }
            pages += 1;
            lines += page.len() as u64;
            after = page.last().map(|(e, _)| e.id);
        }
        println!(
            "  scope_page({name}) {:>7.1} µs per page of 100 ({lines} persons)",
            per_op(t.elapsed(), pages.max(1))
        );
    }
}
