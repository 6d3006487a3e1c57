//! A real crash: a child process appends in a loop from several threads, printing each
//! acknowledged entry, and is killed with SIGKILL mid-stream. Every entry it was told is durable
//! must be there after reopening, and the ledger must verify.
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

use vigie_ledger::{Ledger, LedgerOptions, verify};

const CHILD_ENV: &str = "VIGIE_LEDGER_CRASH_CHILD_DIR";
const THREADS: usize = 4;

fn options() -> LedgerOptions {
    // Small segments, so that kills also land around segment creation.
    LedgerOptions { segment_bytes: 16 << 10, ..LedgerOptions::default() }
}

/// The child: appends until killed (or for at most 60 s, should the parent be gone).
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let ledger = Ledger::open(Path::new(&dir), options()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let ledger = &ledger;
            s.spawn(move || {
                let mut seq = 0u64;
                while Instant::now() < deadline {
                    let n = 1 + seq % 3;
                    let bodies: Vec<String> =
                        (0..n).map(|k| format!("t{t}-s{seq}-k{k}-{}", "x".repeat((seq % 40) as usize))).collect();
                    let receipt = ledger.append_bodies(&bodies).unwrap();
                    let mut out = std::io::stdout().lock();
                    for (k, body) in bodies.iter().enumerate() {
                        writeln!(out, "ack {} {body}", receipt.first + k as u64).unwrap();
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
fn run_and_kill(dir: &Path, kill_after: usize) -> BTreeMap<u64, String> {
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
            let (index, body) = rest.split_once(' ').unwrap();
            assert!(acked.insert(index.parse::<u64>().unwrap(), body.to_owned()).is_none());
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

        let ledger = Ledger::open(dir.path(), options()).unwrap_or_else(|e| panic!("round {round}: {e}"));
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
        for (index, body) in &acknowledged {
            let found = entries.get(index).unwrap_or_else(|| panic!("round {round}: acknowledged entry {index} lost"));
            assert_eq!(found, body.as_bytes(), "round {round}: entry {index}");
        }
        drop(ledger);
        let report = verify(dir.path()).unwrap();
        assert_eq!(report.entries, head.count);
        // The clean close published a checkpoint of everything, which verify checked.
        assert_eq!(report.checkpoints.last().map(|c| c.1), Some(head.count));
        assert!(report.segments > 1 || round == 0);
    }
}
