//! Measures generation speed: `cargo run -p vigie-gen --release --example throughput -- [persons] [seed]`.
//! Prints persons/s on one thread (the generator is single-threaded; callers may shard ids).

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let persons = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let params = vigie_gen::GenParams { seed, persons, as_of: time::macros::date!(2026 - 03 - 02) };
    let start = Instant::now();
    let world = vigie_gen::world(&params);
    let world_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let (mut relationships, mut duplicates, mut canaries) = (0usize, 0usize, 0usize);
    for g in vigie_gen::persons(&params, &world) {
        relationships += g.relationships.len();
        duplicates += usize::from(g.duplicate_of.is_some());
        canaries += usize::from(g.canary);
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "world: {} orgs, {} agents, {} sessions in {world_s:.2} s",
        world.orgs.len(),
        world.agents.len(),
        world.sessions.len()
    );
    println!(
        "{persons} persons ({duplicates} re-registrations, {canaries} canaries, {relationships} relationships) in {s:.2} s: {:.0} persons/s",
        persons as f64 / s
    );
}
