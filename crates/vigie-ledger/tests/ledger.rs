//! The ledger's behaviour through its public API: append, reopen, read back, verify, concurrency,
//! and failing closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::HashMap;
use std::fs;
use std::sync::Arc;

use common::{bodies, event, segments};
use vigie_core::event::EventHead;
use vigie_core::ports::{AccessLedger, LedgerReceipt};
use vigie_ledger::merkle::{self, MemoryTree};
use vigie_ledger::{Ledger, LedgerOptions, OpenError, VerifyOptions, verify, verify_with};

fn encoded(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    event(n).encode(&mut out);
    out
}

#[test]
fn append_reopen_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(&path, LedgerOptions::default()).unwrap();
    assert!(ledger.open_report().created);
    assert_eq!(ledger.head().count, 0);
    assert_eq!(ledger.head().root, merkle::empty_root());

    let r1 = ledger.append(&[event(0)]).unwrap();
    let r2 = ledger.append(&[event(1), event(2), event(3)]).unwrap();
    let r3 = ledger.append(&[]).unwrap();
    assert_eq!(r1, LedgerReceipt { first: 0, count: 1 });
    assert_eq!(r2, LedgerReceipt { first: 1, count: 3 });
    assert_eq!(r3, LedgerReceipt { first: 4, count: 0 });
    let head = ledger.head();
    assert_eq!(head.count, 4);
    // An open ledger verifies up to its latest checkpoint (here the one published at open).
    assert!(ledger.verify().unwrap().entries <= head.count);
    drop(ledger);

    let report = verify(&path).unwrap();
    assert_eq!((report.entries, report.segments, report.root), (4, 1, head.root));
    // The clean close published a checkpoint of all four entries, and verify checked it.
    assert_eq!(report.checkpoints.len(), 1);
    assert_eq!(report.checkpoints[0].1, 4);

    let ledger = Ledger::open(&path, LedgerOptions::default()).unwrap();
    let open = ledger.open_report();
    assert!(!open.created);
    assert_eq!(open.entries, 4);
    assert!(open.torn_tail.is_none());
    assert_eq!(ledger.head(), head);
    assert_eq!(ledger.append(&[event(4)]).unwrap().first, 4);

    let entries: Vec<_> = ledger.entries().unwrap().map(Result::unwrap).collect();
    assert_eq!(entries.len(), 5);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry.index, i as u64);
        assert_eq!(entry.body, encoded(i as u64));
        let decoded = EventHead::decode(&entry.body).unwrap();
        assert_eq!(decoded.person, event(i as u64).person);
    }
    // The leaves read back are those of the tree: their RFC 6962 root is the head's.
    let tree = MemoryTree { leaves: entries.iter().map(|e| e.leaf).collect() };
    assert_eq!(tree.root(4), head.root);
    assert_eq!(tree.root(5), ledger.head().root);
    assert!(entries.iter().all(|e| e.kind == vigie_ledger::EntryKind::Access && e.at == event(e.index).at.0));
}

#[test]
fn rolls_segments_and_reads_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let options = LedgerOptions { segment_bytes: 1024, ..LedgerOptions::default() };
    let ledger = Ledger::open(dir.path(), options).unwrap();
    for n in 0..60 {
        ledger.append(&[event(n)]).unwrap();
    }
    let rolls = ledger.stats().rolls;
    assert!(rolls >= 5, "{:?}", ledger.stats());
    let head = ledger.head();
    drop(ledger);
    let files = segments(dir.path());
    assert_eq!(files.len() as u64, 1 + rolls);
    // Each segment ends with the batch that reached the size; the reserve never goes beyond
    // it and is cut at the roll (a segment before the last may not end in zeros).
    for f in &files[..files.len() - 1] {
        let len = fs::metadata(f).unwrap().len();
        assert!((1024..1024 + 400).contains(&len), "{} is {len} bytes", f.display());
    }
    let report = verify(dir.path()).unwrap();
    assert_eq!((report.entries, report.segments, report.root), (60, files.len(), head.root));
    let all = bodies(dir.path());
    assert_eq!(all.len(), 60);
    assert!(all.iter().enumerate().all(|(i, b)| *b == encoded(i as u64)));
}

/// The writer keeps zeros written ahead of its appends (a sync then writes data, not the
/// file's new size), cuts them when it closes, and a reader stops at them.
#[test]
fn a_running_ledger_writes_ahead_of_its_appends_and_a_closed_one_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    for n in 0..10 {
        ledger.append(&[event(n)]).unwrap();
    }
    let logical = 24 + ledger.stats().bytes;
    let file = fs::read(&segments(dir.path())[0]).unwrap();
    assert!(file.len() as u64 > logical, "nothing reserved: {} bytes for {logical}", file.len());
    assert!(file[logical as usize..].iter().all(|&b| b == 0), "the reserve is not zeros");
    let report = verify(dir.path()).unwrap();
    assert_eq!(report.entries, 10, "a reader stops where the records stop");
    assert_eq!(report.bytes, logical, "the reserve is not counted as the log's");
    drop(ledger);
    assert_eq!(fs::metadata(&segments(dir.path())[0]).unwrap().len(), logical, "the reserve outlived the close");
    assert_eq!(verify(dir.path()).unwrap().entries, 10);
}

/// Ten events appended and the ledger closed: its one segment and the segment's bytes.
fn closed_ledger_of_ten(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let ledger = Ledger::open(dir, LedgerOptions::default()).unwrap();
    for n in 0..10 {
        ledger.append(&[event(n)]).unwrap();
    }
    drop(ledger);
    let seg = segments(dir)[0].clone();
    let bytes = fs::read(&seg).unwrap();
    (seg, bytes)
}

/// A crash leaves the reserve behind: the ledger reopens at its last record, says nothing was
/// torn, and appends over the zeros, with no gap between old and new records.
#[test]
fn reserved_zeros_left_by_a_crash_are_appended_over() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, mut bytes) = closed_ledger_of_ten(dir.path());
    let logical = bytes.len();
    bytes.resize(logical + 300_000, 0);
    fs::write(&seg, &bytes).unwrap();

    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    assert_eq!(ledger.head().count, 10);
    assert_eq!(ledger.open_report().torn_tail, None, "reserved zeros are not a torn write");
    for n in 10..15 {
        ledger.append(&[event(n)]).unwrap();
    }
    drop(ledger);
    let all = bodies(dir.path());
    assert_eq!(all.len(), 15);
    assert!(all.iter().enumerate().all(|(i, b)| *b == encoded(i as u64)));
    assert_eq!(verify(dir.path()).unwrap().entries, 15);
}

/// A byte that is not zero in the reserve is not a record: cut as a torn tail, kept aside, and
/// reported for what it is known to be; every record before it kept.
#[test]
fn a_stray_byte_in_reserved_zeros_is_cut_as_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, mut bytes) = closed_ledger_of_ten(dir.path());
    let logical = bytes.len() as u64;
    bytes.resize(bytes.len() + 5_000, 0);
    bytes[logical as usize + 4_321] = 0x5a;
    fs::write(&seg, &bytes).unwrap();

    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    assert_eq!(ledger.head().count, 10);
    let torn = ledger.open_report().torn_tail.clone().expect("the stray byte is reported");
    assert_eq!((torn.first_index, torn.offset, torn.bytes), (10, logical, 5_000));
    // What is known, and only that: after the checkpoint of 10 entries, at most as many
    // entries as the smallest records (18 bytes) fit before the stray byte.
    assert_eq!(torn.checkpoint_size, Some(10));
    assert_eq!((torn.max_entries, torn.last_index()), (4_321 / 18 + 1, 10 + 4_321 / 18));
    let line = torn.describe();
    for needed in
        ["5000 damaged bytes", "up to 241 entries, indexes 10 to 250", "tree size 10", "cannot be known", "torn-"]
    {
        assert!(line.contains(needed), "{needed}: {line}");
    }
    assert!(!line.contains("never acknowledged") && !line.contains('\n'), "{line}");
    // The cut bytes are kept aside, whole, owner-only, under a name with the time and indexes.
    assert_eq!(torn.kept.parent(), Some(dir.path()));
    assert!(torn.kept.file_name().unwrap().to_str().unwrap().ends_with("-entries-10-250.bin"), "{torn:?}");
    assert_eq!(fs::read(&torn.kept).unwrap(), bytes[logical as usize..]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&torn.kept).unwrap().permissions().mode() & 0o777, 0o600);
    }
    drop(ledger);
    assert_eq!(fs::metadata(&seg).unwrap().len(), logical);
    assert_eq!(verify(dir.path()).unwrap().entries, 10);
}

#[test]
fn verify_reports_progress_up_to_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), LedgerOptions { segment_bytes: 4096, ..LedgerOptions::default() }).unwrap();
    let batch: Vec<_> = (0..500).map(event).collect();
    ledger.append(&batch).unwrap();
    drop(ledger);
    let mut calls = Vec::new();
    let report = verify_with(dir.path(), &VerifyOptions::default(), |done, total| calls.push((done, total)));
    // Without the key, the published checkpoint cannot be checked: refused, not skipped.
    assert!(matches!(report, Err(vigie_ledger::VerifyError::Checkpoint(_))), "{report:?}");
    let verifier = vigie_ledger::verifier_from_key_file(&dir.path().join(vigie_ledger::DEFAULT_KEY_FILE)).unwrap();
    calls.clear();
    let options = VerifyOptions { verifier: Some(verifier), witness_dirs: Vec::new() };
    let report = verify_with(dir.path(), &options, |done, total| calls.push((done, total))).unwrap();
    let &(done, total) = calls.last().unwrap();
    assert_eq!(done, total);
    assert_eq!(report.bytes, total);
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn concurrent_appends_from_8_threads_keep_order_and_all_get_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(dir.path(), LedgerOptions::default()).unwrap());
    const THREADS: u64 = 8;
    const APPENDS: u64 = 300;
    let receipts: Vec<Vec<(LedgerReceipt, Vec<Vec<u8>>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let ledger = Arc::clone(&ledger);
                s.spawn(move || {
                    (0..APPENDS)
                        .map(|i| {
                            // 1 to 3 entries per append, each naming its thread and position.
                            let bodies: Vec<Vec<u8>> =
                                (0..1 + i % 3).map(|k| format!("t{t} a{i} k{k}").into_bytes()).collect();
                            (ledger.append_bodies(&bodies).unwrap(), bodies)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total: u64 = receipts.iter().flatten().map(|(r, _)| r.count).sum();
    assert_eq!(ledger.head().count, total);
    assert!(ledger.stats().batches < total, "group commit batched nothing: {:?}", ledger.stats());

    let entries: Vec<_> = ledger.entries().unwrap().map(|e| e.unwrap().body).collect();
    let mut owner: HashMap<u64, usize> = HashMap::new();
    for (t, per_thread) in receipts.iter().enumerate() {
        let mut last_end = 0;
        for (receipt, bodies) in per_thread {
            // A thread's appends land in the order it made them, each as one contiguous run.
            assert!(receipt.first >= last_end);
            last_end = receipt.first + receipt.count;
            for (k, body) in bodies.iter().enumerate() {
                let index = receipt.first + k as u64;
                assert!(owner.insert(index, t).is_none(), "index {index} given twice");
                assert_eq!(&entries[index as usize], body);
            }
        }
    }
    assert_eq!(owner.len() as u64, total);
    drop(ledger);
    assert_eq!(verify(dir.path()).unwrap().entries, total);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    let second = Ledger::open(dir.path(), LedgerOptions::default());
    assert!(matches!(second, Err(OpenError::Locked { .. })), "{second:?}");
}

#[test]
fn appends_fail_closed_when_the_disk_fails_under_the_writer() {
    // The directory vanishes under the open ledger (tests run as root, so a read-only mode
    // would not stop the writer): the next segment cannot be created.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(&path, LedgerOptions { segment_bytes: 512, ..LedgerOptions::default() }).unwrap();
    let mut acknowledged = 0;
    while ledger.stats().bytes < 512 {
        acknowledged += ledger.append(&[event(acknowledged)]).unwrap().count;
    }
    fs::remove_dir_all(&path).unwrap();
    let err = ledger.append(&[event(99)]).unwrap_err();
    assert!(err.to_string().contains("access ledger unavailable"), "{err}");
    // Failing closed is permanent: nothing is accepted until the ledger is reopened.
    for n in 0..5 {
        assert!(ledger.append(&[event(100 + n)]).is_err());
        assert!(ledger.append_bodies(&[b"x"]).is_err());
    }
    assert_eq!(ledger.head().count, acknowledged);
}

#[test]
fn appends_stop_when_checkpoints_stop_and_resume_when_they_can_be_published_again() {
    // An intruder plants a directory where the checkpoint is written atomically: publication
    // fails. The log must not run on unwitnessed: past the deadline appends are refused (with a
    // message naming the checkpoint), and once the obstacle is gone a checkpoint goes out and
    // appends resume. A tile that cannot be written never holds a checkpoint back.
    let dir = tempfile::tempdir().unwrap();
    let options = LedgerOptions {
        checkpoint_interval: std::time::Duration::from_millis(10),
        checkpoint_deadline: std::time::Duration::from_millis(300),
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(dir.path(), options).unwrap();
    let obstacle = dir.path().join("checkpoint.tmp");
    fs::create_dir(&obstacle).unwrap();
    let started = std::time::Instant::now();
    let mut n = 0;
    let refusal = loop {
        match ledger.append(&[event(n)]) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "appends never stopped");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(started.elapsed() >= std::time::Duration::from_millis(300), "refused only past the deadline");
    let message = refusal.to_string();
    assert!(message.contains("no checkpoint published") && message.contains("checkpoint"), "{message}");
    assert!(ledger.stats().checkpoint_failures > 0);
    fs::remove_dir(&obstacle).unwrap();
    let resumed = std::time::Instant::now();
    while ledger.append(&[event(n)]).is_err() {
        assert!(resumed.elapsed() < std::time::Duration::from_secs(20), "appends never resumed");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(ledger);
    assert_eq!(verify(dir.path()).unwrap().entries, n + 1);
}

#[test]
fn a_quiet_spell_does_not_count_as_running_unwitnessed() {
    // The deadline runs from when the log got ahead of its last checkpoint, not from the last
    // checkpoint: after an idle spell longer than the deadline, a burst of appends goes through.
    let dir = tempfile::tempdir().unwrap();
    let options = LedgerOptions {
        checkpoint_interval: std::time::Duration::from_millis(20),
        checkpoint_deadline: std::time::Duration::from_millis(200),
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(dir.path(), options).unwrap();
    ledger.append(&[event(0)]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    for n in 1..50 {
        ledger.append(&[event(n)]).unwrap();
    }
}

#[test]
fn entries_of_an_open_ledger_stop_at_the_durable_head_while_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let ledger =
        Arc::new(Ledger::open(dir.path(), LedgerOptions { segment_bytes: 2048, ..LedgerOptions::default() }).unwrap());
    std::thread::scope(|s| {
        for t in 0..4 {
            let ledger = Arc::clone(&ledger);
            s.spawn(move || {
                for i in 0..200 {
                    ledger.append_bodies(&[format!("t{t} {i}")]).unwrap();
                }
            });
        }
        // Appends go on meanwhile, so each reading is bracketed by the heads seen before and
        // after it: it must stop at a durable head in between, never past the last one.
        for _ in 0..20 {
            let before = ledger.head();
            let read: Vec<_> = ledger.entries().unwrap().map(Result::unwrap).collect();
            let after = ledger.head();
            assert!(
                (before.count..=after.count).contains(&(read.len() as u64)),
                "{} not in {before:?}..{after:?}",
                read.len()
            );
            if let Some(last) = read.last().filter(|_| read.len() as u64 == before.count) {
                let tree = MemoryTree { leaves: read.iter().map(|e| e.leaf).collect() };
                assert_eq!(tree.root(before.count), before.root);
                assert_eq!(last.index + 1, before.count);
            }
            // Verify covers the entries up to the latest checkpoint, never past the durable head.
            let verified = ledger.verify().unwrap();
            let after = ledger.head().count;
            assert!(verified.entries <= after, "verified {} past {after}", verified.entries);
            assert_eq!(verified.checkpoints.first().map(|c| c.1), Some(verified.entries));
        }
    });
}

#[test]
fn sealed_bodies_read_back_until_their_month_is_shredded_and_the_tree_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let options = LedgerOptions { seal_keys: Some(keys.path().to_path_buf()), ..LedgerOptions::default() };
    let ledger = Ledger::open(dir.path(), options).unwrap();
    // Three events in October 2025, three in November 2025.
    let month = 31 * 86_400_000;
    let events: Vec<_> = (0..6u64)
        .map(|n| {
            let mut e = event(n);
            e.at.0 += if n < 3 { 0 } else { month };
            e
        })
        .collect();
    ledger.append(&events).unwrap();
    drop(ledger);
    let before = verify(dir.path()).unwrap();
    assert_eq!(before.entries, 6);
    // The segment holds no clear body: the person ids are sealed.
    let segment = fs::read(dir.path().join("00000000.log")).unwrap();
    assert!(!segment.windows(encoded(0).len()).any(|w| w == encoded(0).as_slice()));

    let read: Vec<_> =
        vigie_ledger::Entries::open(dir.path()).unwrap().with_keys(keys.path()).map(Result::unwrap).collect();
    for (e, original) in read.iter().zip(&events) {
        let mut body = Vec::new();
        original.encode(&mut body);
        assert_eq!(e.body, body);
        assert_eq!(e.at, original.at.0);
        assert_eq!(e.sealed.map(|s| s.1), Some(vigie_ledger::Unsealed::Body));
    }
    let removed = vigie_ledger::shred_before(keys.path(), vigie_ledger::Period::parse("2025-11").unwrap()).unwrap();
    assert_eq!(removed, vec![keys.path().join("2025-10.key")]);
    let read: Vec<_> =
        vigie_ledger::Entries::open(dir.path()).unwrap().with_keys(keys.path()).map(Result::unwrap).collect();
    for e in &read[..3] {
        assert_eq!(e.sealed, Some((vigie_ledger::Period(202510), vigie_ledger::Unsealed::Shredded)));
        assert!(e.body.is_empty());
    }
    for e in &read[3..] {
        assert_eq!(e.sealed.map(|s| s.1), Some(vigie_ledger::Unsealed::Body));
        assert!(EventHead::decode(&e.body).is_some());
    }
    // Shredding removed readability, not evidence: the same tree, the same checkpoint.
    let after = verify(dir.path()).unwrap();
    assert_eq!((after.entries, after.root), (before.entries, before.root));
}

#[test]
fn every_entry_has_an_inclusion_proof_to_the_signed_checkpoint_built_from_the_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    let verifier = ledger.verifier().clone();
    let batch: Vec<_> = (0..700).map(event).collect();
    ledger.append(&batch).unwrap();
    drop(ledger);
    let leaves: Vec<_> = vigie_ledger::Entries::open(dir.path()).unwrap().map(|e| e.unwrap().leaf).collect();
    for index in [0u64, 1, 255, 256, 511, 512, 699] {
        let receipt = vigie_ledger::prove(dir.path(), &verifier, index).unwrap();
        // What an auditor does with the receipt and the public key alone.
        let checkpoint = vigie_ledger::note::Checkpoint::open(&receipt.checkpoint, &verifier).unwrap();
        assert_eq!((checkpoint.size, checkpoint.root), (700, receipt.root));
        assert_eq!(receipt.leaf, leaves[index as usize]);
        merkle::verify_inclusion(index, checkpoint.size, &receipt.leaf, &receipt.proof, &checkpoint.root).unwrap();
    }
    assert!(matches!(
        vigie_ledger::prove(dir.path(), &verifier, 700),
        Err(vigie_ledger::ProveError::NotYetCheckpointed { index: 700, size: 700 })
    ));
}

#[test]
fn an_open_ledger_publishes_a_checkpoint_covering_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let witness = tempfile::tempdir().unwrap();
    let options = LedgerOptions {
        checkpoint_interval: std::time::Duration::from_millis(20),
        witnesses: vec![vigie_ledger::Witness::Directory(witness.path().to_path_buf())],
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(dir.path(), options).unwrap();
    let verifier = ledger.verifier().clone();
    for n in 0..50 {
        ledger.append(&[event(n)]).unwrap();
    }
    let head = ledger.head();
    // Published by the background thread, without closing the ledger (bounded wait, no timing
    // assertion: only that it happens).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let published = loop {
        let note = ledger.checkpoint().unwrap();
        let cp = vigie_ledger::note::Checkpoint::open(&note, &verifier).unwrap();
        if cp.size == head.count || std::time::Instant::now() > deadline {
            break cp;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert_eq!((published.size, published.root), (head.count, head.root));
    let witnessed = fs::read_to_string(witness.path().join(vigie_ledger::CHECKPOINT_FILE)).unwrap();
    assert_eq!(vigie_ledger::note::Checkpoint::open(&witnessed, &verifier).unwrap().size, head.count);
    let history = fs::read_to_string(witness.path().join(vigie_ledger::HISTORY_FILE)).unwrap();
    assert!(vigie_ledger::parse_history(&history).len() >= 2, "the open's checkpoint and at least one more");
    assert!(ledger.stats().checkpoints >= 1);
}

/// A waker that counts its wakes.
struct Wakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn submitted_appends_are_answered_through_their_waker_once_durable() {
    use std::future::Future;
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(&path, LedgerOptions::default()).unwrap();
    // Many appends in flight at once, none holding a thread: each is polled once, then answered
    // by the writer through its waker.
    let wakes: Vec<Arc<Wakes>> = (0..64).map(|_| Arc::new(Wakes(0.into()))).collect();
    let mut pending: Vec<_> = (0..64).map(|n| ledger.submit(&[event(n), event(n + 1000)])).collect();
    let mut receipts = vec![None; 64];
    for (i, p) in pending.iter_mut().enumerate() {
        let waker = std::task::Waker::from(wakes[i].clone());
        if let std::task::Poll::Ready(r) = std::pin::Pin::new(p).poll(&mut std::task::Context::from_waker(&waker)) {
            receipts[i] = Some(r.unwrap());
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for (i, p) in pending.iter_mut().enumerate() {
        if receipts[i].is_some() {
            continue;
        }
        while wakes[i].0.load(Ordering::SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "append {i} never woke its waiter");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let waker = std::task::Waker::from(wakes[i].clone());
        match std::pin::Pin::new(p).poll(&mut std::task::Context::from_waker(&waker)) {
            std::task::Poll::Ready(r) => receipts[i] = Some(r.unwrap()),
            std::task::Poll::Pending => panic!("append {i} woke its waiter without an answer"),
        }
    }
    // Each answer names two entries of its own, and the entries answered are durable: all of
    // them are in the log once the ledger is reopened.
    let mut firsts: Vec<u64> =
        receipts.iter().map(|r| r.unwrap()).inspect(|r| assert_eq!(r.count, 2)).map(|r| r.first).collect();
    firsts.sort_unstable();
    assert_eq!(firsts, (0..64).map(|i| i * 2).collect::<Vec<_>>());
    drop(ledger);
    let reopened = Ledger::open(&path, LedgerOptions::default()).unwrap();
    assert_eq!(reopened.open_report().entries, 128);
    // Blocking on a submitted append gives the same kind of answer.
    assert_eq!(reopened.submit(&[event(7)]).wait().unwrap(), LedgerReceipt { first: 128, count: 1 });
}

/// An event `minutes` after the first one's time (events a minute apart, as over a few days).
fn event_at(n: u64, minutes: i64) -> vigie_core::event::AccessEvent {
    let mut e = event(n);
    e.at = vigie_core::time::Timestamp(event(0).at.0 + minutes * 60_000);
    e
}

/// Replaying recent events reads what is after the bound, all of it and nothing else, in order,
/// sealed bodies opened; it never reads the older segments (a damaged one is not noticed), and
/// an entry stamped later than entries appended after it (a slow request) is not missed.
#[test]
fn reading_after_a_time_yields_exactly_the_later_entries_without_reading_older_segments() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let options =
        LedgerOptions { segment_bytes: 2048, seal_keys: Some(keys.path().to_path_buf()), ..LedgerOptions::default() };
    let ledger = Ledger::open(dir.path(), options).unwrap();
    // Four days, one event a minute; entry 4 000 is appended at minute 4 000 but stamped two
    // hours later (a clock stepped back in between would leave the same).
    let late = 4_000;
    for n in 0..6_000u64 {
        let minutes = if n == late { 4_120 } else { n as i64 };
        ledger.append(&[event_at(n, minutes)]).unwrap();
    }
    drop(ledger);
    let files = segments(dir.path());
    assert!(files.len() > 100, "{} segments", files.len());

    let all: Vec<_> =
        vigie_ledger::Entries::open(dir.path()).unwrap().with_keys(keys.path()).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 6_000);
    for minutes in [-1, 0, 1_000, 4_110, 4_119, 4_120, 5_998, 5_999, 9_000] {
        let after = event(0).at.0 + minutes * 60_000;
        let read: Vec<_> = vigie_ledger::Entries::open_after(dir.path(), after)
            .unwrap()
            .with_keys(keys.path())
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<_> = all.iter().filter(|e| e.at > after).cloned().collect();
        let indexes = |v: &[vigie_ledger::Entry]| v.iter().map(|e| e.index).collect::<Vec<_>>();
        assert_eq!(indexes(&read), indexes(&want), "after minute {minutes}");
        assert!(read == want, "after minute {minutes}: the same entries, not the same contents");
        assert!(read.iter().all(|e| !e.body.is_empty()), "bodies opened");
    }
    // The late entry, alone past minute 4 110 among the entries before 4 111.
    let after = event(0).at.0 + 4_110 * 60_000;
    let read: Vec<_> = vigie_ledger::Entries::open_after(dir.path(), after).unwrap().map(Result::unwrap).collect();
    assert_eq!(read[0].index, late);

    // The last segment's first record torn (a crash before the ledger's recovery has cut it):
    // the entries before it are still read, and then the damage, as from the start.
    let last = files.last().unwrap();
    let kept = fs::read(last).unwrap();
    fs::OpenOptions::new().write(true).open(last).unwrap().set_len(24 + 5).unwrap();
    let first_torn = vigie_ledger::Entries::open(dir.path()).unwrap().filter_map(Result::ok).count() as u64;
    // (After minute 9 000 the bisection reads the torn segment's first record itself.)
    for minutes in [5_990, 9_000] {
        let after = event(0).at.0 + minutes * 60_000;
        let read: Vec<_> = vigie_ledger::Entries::open_after(dir.path(), after).unwrap().collect();
        let (good, bad): (Vec<_>, Vec<_>) = read.iter().partition(|r| r.is_ok());
        assert_eq!(bad.len(), 1, "the tear, once");
        assert!(read.last().unwrap().is_err());
        let want: Vec<u64> = (0..first_torn).filter(|&n| all[n as usize].at > after).collect();
        assert_eq!(good.iter().map(|r| r.as_ref().unwrap().index).collect::<Vec<_>>(), want);
    }
    fs::write(last, kept).unwrap();

    // A damaged first segment stops a read from the start, not one of the last day.
    common::flip_bit(&files[0], 8 * 40);
    assert!(vigie_ledger::Entries::open(dir.path()).unwrap().any(|e| e.is_err()));
    let after = event(0).at.0 + 5_000 * 60_000;
    let read: Vec<_> = vigie_ledger::Entries::open_after(dir.path(), after).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(read.len(), 999);
}

/// A hash tile that cannot be written for a while (descriptors exhausted by a connection flood,
/// here a directory squatting its path) is written once it can be, by the running ledger: the
/// ledger verifies again without a restart.
#[test]
fn a_tile_that_could_not_be_written_is_written_once_it_can_be_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tile = dir.path().join("tile/0/000");
    fs::create_dir_all(&tile).unwrap();
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    let batch: Vec<_> = (0..300).map(event).collect();
    ledger.append(&batch).unwrap();
    // Bounded waits, no timing assertion: only that each thing happens.
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "{what} did not happen");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    until("a failed tile write", &|| ledger.stats().tile_failures >= 1);
    assert!(tile.is_dir(), "the tile could not have been written");
    fs::remove_dir(&tile).unwrap();
    until("the tile written", &|| tile.is_file() && ledger.stats().tiles >= 1);
    assert_eq!(fs::read(&tile).unwrap().len(), 256 * 32);
    // What `vigie ledger verify` does on the directory, the ledger still open.
    let report = verify(dir.path()).unwrap();
    assert!(report.entries >= 256, "{report:?}");
    drop(ledger);
    assert_eq!(verify(dir.path()).unwrap().entries, 300);
}
