//! `vigie ledger …` as an operator runs it: the real binary on a data directory whose ledger the
//! server's own options wrote. Verify passes, then names a damaged entry and exits non-zero;
//! prove and checkpoint print what an auditor checks; a rolled-back log is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::{Command, Output};

use vigie_core::ports::AccessLedger;

fn vigie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigie")).args(args).env_remove("VIGIE_LOG").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A data directory whose ledger holds `n` security events, written with the server's options.
fn data_dir(n: u64) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let ledger =
        vigie_ledger::Ledger::open(&vigie::app::ledger_dir(data.path()), vigie::app::ledger_options(data.path()))
            .unwrap();
    let events: Vec<_> = (0..n)
        .map(|i| {
            let at = vigie_core::time::Timestamp(1_763_000_000_000 + i as i64);
            let mut e = vigie_core::security::SecurityEvent::new(at, vigie_core::security::SecurityKind::SignInFailed);
            e.agent = vigie_core::AgentId::new(1 + i);
            e
        })
        .collect();
    ledger.record(&events).unwrap();
    data
}

fn dir_arg(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn verify_prove_and_checkpoint_then_a_flipped_bit_is_named_with_a_non_zero_exit() {
    let data = data_dir(300);
    let d = dir_arg(data.path());
    let ok = vigie(&["ledger", "verify", "--data-dir", &d]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("entries      300"), "{}", text(&ok));
    assert!(text(&ok).contains("signature valid, consistent with the log"), "{}", text(&ok));
    // What it could not check is said: the key came from the directory, and no witness was given.
    assert!(text(&ok).contains("warning: the key was taken from the data directory"), "{}", text(&ok));
    assert!(text(&ok).contains("warning: no witness directory"), "{}", text(&ok));

    let proof = vigie(&["ledger", "prove", "--data-dir", &d, "257"]);
    assert!(proof.status.success(), "{}", text(&proof));
    assert!(text(&proof).contains("entry      257") && text(&proof).contains("tree size  300"), "{}", text(&proof));
    let cp = vigie(&["ledger", "checkpoint", "--data-dir", &d]);
    assert!(cp.status.success(), "{}", text(&cp));
    let vkey = text(&cp).lines().find_map(|l| l.strip_prefix("vkey ")).unwrap().to_owned();
    // An auditor with the public key alone, without the key file.
    std::fs::remove_file(data.path().join("ledger.key")).unwrap();
    let pinned = vigie(&["ledger", "verify", "--data-dir", &d, "--vkey", &vkey]);
    assert!(pinned.status.success(), "{}", text(&pinned));
    assert!(!text(&pinned).contains("warning: the key was taken"), "{}", text(&pinned));

    // Checkpoints deleted altogether: a log with entries and none is a failure, not an "OK".
    let saved = std::fs::read(data.path().join("ledger/checkpoint")).unwrap();
    std::fs::remove_file(data.path().join("ledger/checkpoint")).unwrap();
    let none = vigie(&["ledger", "verify", "--data-dir", &d, "--vkey", &vkey]);
    assert!(!none.status.success() && text(&none).contains("no checkpoint"), "{}", text(&none));
    std::fs::write(data.path().join("ledger/checkpoint"), saved).unwrap();

    let segment = data.path().join("ledger/00000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[24 + 6] ^= 0x20; // inside entry 0's envelope
    std::fs::write(&segment, &bytes).unwrap();
    let bad = vigie(&["ledger", "verify", "--data-dir", &d, "--vkey", &vkey]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("entry 0 at byte 24"), "{}", text(&bad));
}

#[test]
fn a_rolled_back_log_fails_verify_and_names_the_checkpoint() {
    let data = data_dir(10);
    let d = dir_arg(data.path());
    // Cut the last three entries cleanly, as an intruder deleting their traces would.
    let segment = data.path().join("ledger/00000000.log");
    let bytes = std::fs::read(&segment).unwrap();
    let mut at = 24;
    for _ in 0..7 {
        at += 8 + u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    std::fs::write(&segment, &bytes[..at]).unwrap();
    let bad = vigie(&["ledger", "verify", "--data-dir", &d]);
    assert!(!bad.status.success());
    let out = text(&bad);
    assert!(out.contains("covers 10 entries but the log holds only 7"), "{out}");
    assert!(out.contains("ledger/checkpoint"), "{out}");
}

#[test]
fn shred_refuses_while_the_ledger_is_open() {
    let data = data_dir(3);
    let d = dir_arg(data.path());
    // A child process that another test spawns at the same moment holds the lock file's
    // descriptor for an instant between its fork and its exec: take the lock with retries.
    let started = std::time::Instant::now();
    let patience = std::time::Duration::from_secs(10);
    let ledger_dir = vigie::app::ledger_dir(data.path());
    let open = loop {
        match vigie_ledger::Ledger::open(&ledger_dir, vigie::app::ledger_options(data.path())) {
            Err(vigie_ledger::OpenError::Locked { .. }) if started.elapsed() < patience => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.unwrap(),
        }
    };
    let refused = vigie(&["ledger", "shred", "--data-dir", &d, "--before", "2020-01"]);
    assert!(!refused.status.success() && text(&refused).contains("stop it first"), "{}", text(&refused));
    drop(open);
    let started = std::time::Instant::now();
    let done = loop {
        let done = vigie(&["ledger", "shred", "--data-dir", &d, "--before", "2020-01"]);
        if done.status.success() || started.elapsed() >= patience {
            break done;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(done.status.success(), "{}", text(&done));
}
