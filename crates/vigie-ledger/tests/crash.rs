//! A real crash: a child process appends access events in a loop from several threads, printing
//! each acknowledged entry, and is killed with SIGKILL mid-stream. Every entry it was told is
//! durable must be there after reopening (its sealed body readable), and the ledger must verify
//! against its own and its witness directory's checkpoints. The ledger is configured as the
//! server configures it: bodies sealed, a witness directory.
//!
//! The child is this test binary itself, re-executed with `CHILD_ENV` set; it then runs only
//! `crash_child`, which does nothing in a normal test run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigie_core::ports::AccessLedger;
use vigie_ledger::{Ledger, LedgerOptions};

const CHILD_ENV: &str = "VIGIE_LEDGER_CRASH_CHILD_DIR";
const THREADS: usize = 4;

fn options(dir: &Path) -> LedgerOptions {
    // Small segments, so that kills also land around segment creation; frequent checkpoints, so
    // that they also land around publication.
    LedgerOptions {
        segment_bytes: 16 << 10,
        checkpoint_interval: Duration::from_millis(5),
        seal_keys: Some(dir.join("month-keys")),
        witnesses: vec![vigie_ledger::Witness::Directory(dir.join("witness"))],
        ..LedgerOptions::default()
    }
}

fn encoded(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    common::event(n).encode(&mut out);
    out
}

/// The child: appends until killed (or for at most 60 s, should the parent be gone).
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let ledger = Ledger::open(Path::new(&dir), options(Path::new(&dir))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let ledger = &ledger;
            s.spawn(move || {
                let mut seq = 0u64;
                while Instant::now() < deadline {
                    let count = 1 + seq % 3;
                    let ns: Vec<u64> = (0..count).map(|k| (t as u64) << 40 | seq << 2 | k).collect();
                    let events: Vec<_> = ns.iter().map(|&n| common::event(n)).collect();
                    let receipt = ledger.append(&events).unwrap();
                    let mut out = std::io::stdout().lock();
                    for (k, n) in ns.iter().enumerate() {
                        writeln!(out, "ack {} {n}", receipt.first + k as u64).unwrap();
                    }
                    out.flush().unwrap();
                    seq += 1;
                }
            });
        }
    });
}

/// Runs the child until it has acknowledged `kill_after` entries, SIGKILLs it, and returns every
/// entry it acknowledged (index → body), including lines already in the pipe.
fn run_and_kill(dir: &Path, kill_after: usize) -> BTreeMap<u64, u64> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut acked = BTreeMap::new();
    let mut killed = false;
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        // A line cut short by the kill was never fully reported: not counted.
        let Some(complete) = line.strip_suffix('\n') else {
            continue;
        };
        if let Some(rest) = complete.strip_prefix("ack ") {
            let (index, n) = rest.split_once(' ').unwrap();
            assert!(acked.insert(index.parse::<u64>().unwrap(), n.parse::<u64>().unwrap()).is_none());
        }
        if !killed && acked.len() >= kill_after {
            child.kill().unwrap(); // SIGKILL on Unix
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(killed, "child ended by itself: {status:?}");
    acked
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = BTreeMap::new();
    // Several crashes in a row on the same ledger, each after a different amount of work.
    for (round, kill_after) in [150, 1200, 40, 3000].into_iter().enumerate() {
        let acked = run_and_kill(dir.path(), kill_after);
        assert!(acked.len() >= kill_after, "round {round}");
        acknowledged.extend(acked);

        let ledger = Ledger::open(dir.path(), options(dir.path())).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let head = ledger.head();
        eprintln!(
            "round {round}: {} acknowledged so far, {} durable, torn tail: {:?}",
            acknowledged.len(),
            head.count,
            ledger.open_report().torn_tail
        );
        let entries: BTreeMap<u64, Vec<u8>> =
            ledger.entries().unwrap().map(|e| e.unwrap()).map(|e| (e.index, e.body)).collect();
        assert_eq!(entries.len() as u64, head.count);
        for (index, n) in &acknowledged {
            let found = entries.get(index).unwrap_or_else(|| panic!("round {round}: acknowledged entry {index} lost"));
            assert_eq!(found, &encoded(*n), "round {round}: entry {index}");
        }
        drop(ledger);
        let verify_options = vigie_ledger::VerifyOptions {
            verifier: Some(vigie_ledger::verifier_from_key_file(&dir.path().join("ledger.key")).unwrap()),
            witness_dirs: vec![dir.path().join("witness")],
        };
        let report = vigie_ledger::verify_with(dir.path(), &verify_options, |_, _| {}).unwrap();
        // Its own checkpoint, the witness's, and the witness's whole history.
        assert!(report.checkpoints.len() >= 3, "round {round}: {:?}", report.checkpoints);
        assert_eq!(report.entries, head.count);
        // The clean close published a checkpoint of everything, which verify checked.
        assert_eq!(report.checkpoints.last().map(|c| c.1), Some(head.count));
        assert!(report.segments > 1 || round == 0);
    }
}
