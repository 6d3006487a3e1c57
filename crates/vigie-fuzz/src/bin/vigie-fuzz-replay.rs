//! Runs one target on saved inputs (a failure from `target/fuzz-failures/`, a libFuzzer crash
//! from `fuzz/artifacts/`), without instrumentation: `vigie-fuzz-replay <target> <file>...`.

#![allow(clippy::expect_used, reason = "a developer's tool")]

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("usage: vigie-fuzz-replay <target> <file>...");
    let target = vigie_fuzz::target(&name).unwrap_or_else(|| {
        let names: Vec<_> = vigie_fuzz::TARGETS.iter().map(|t| t.name).collect();
        eprintln!("no target {name:?}; targets: {}", names.join(", "));
        std::process::exit(2)
    });
    for file in args {
        let input = std::fs::read(&file).expect("read the input");
        eprintln!("{name}: {file} ({} bytes)", input.len());
        (target.run)(&input);
        eprintln!("{name}: {file}: passed");
    }
}
