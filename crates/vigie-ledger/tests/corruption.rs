//! Damage to the files on disk: every single-bit flip in a segment is found and located, a flip
//! in a hash tile is named with its entry, a torn tail (and only a torn tail) is cut at startup,
//! missing or reordered segments make `open` refuse, and a log rolled back, rewritten or carrying
//! a checkpoint signed by another key refuses to start and fails `verify`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{bodies, event, flip_bit, overwrite, segment, segments};
use vigie_core::ports::AccessLedger;
use vigie_ledger::note::{Checkpoint, NoteSigner};
use vigie_ledger::{
    CheckpointError, Corruption, Fault, Ledger, LedgerOptions, OpenError, VerifyError, VerifyOptions, Witness, verify,
    verify_with,
};

const HEADER: u64 = 24;
/// A record of a 3-byte opaque body: length, 10-byte envelope header, body, check.
const RECORD: u64 = 4 + 10 + 3 + 4;

/// A small ledger over several segments: 12 entries with short bodies, 4 per segment.
/// Returns each segment's path and the (index, offset) of each record in it.
fn small_ledger(dir: &Path) -> Vec<(PathBuf, Vec<(u64, u64)>)> {
    let options = LedgerOptions { segment_bytes: HEADER + 4 * RECORD, ..LedgerOptions::default() };
    let ledger = Ledger::open(dir, options).unwrap();
    for i in 0..12u64 {
        ledger.append_bodies(&[format!("e{i:02}")]).unwrap();
    }
    drop(ledger);
    let files = segments(dir);
    assert_eq!(files.len(), 3);
    files
        .into_iter()
        .enumerate()
        .map(|(k, path)| {
            let records = (0..4u64).map(|j| (k as u64 * 4 + j, HEADER + j * RECORD)).collect();
            (path, records)
        })
        .collect()
}

/// The entry (index, record offset) a flipped byte belongs to: the segment's first entry at
/// offset 0 for a header byte.
fn owner(records: &[(u64, u64)], byte: u64) -> (u64, u64) {
    if byte < HEADER {
        return (records[0].0, 0);
    }
    *records.iter().rev().find(|(_, off)| *off <= byte).unwrap()
}

fn corruption(err: VerifyError) -> Corruption {
    match err {
        VerifyError::Corrupt(c) => c,
        other => panic!("expected corruption, got {other}"),
    }
}

#[test]
fn every_single_bit_flip_in_a_segment_is_detected_and_located_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_ledger(dir.path());
    assert_eq!(verify(dir.path()).unwrap().entries, 12);
    let mut flips = 0;
    for (path, records) in &layout {
        let original = fs::read(path).unwrap();
        for bit in 0..original.len() * 8 {
            flip_bit(path, bit);
            let c = corruption(verify(dir.path()).expect_err("flip not detected"));
            let (index, offset) = owner(records, (bit / 8) as u64);
            assert_eq!((&c.segment, c.index, c.offset), (path, index, offset), "bit {bit} of {}: {c}", path.display());
            flip_bit(path, bit);
            flips += 1;
        }
        assert_eq!(fs::read(path).unwrap(), original);
    }
    assert_eq!(flips, (3 * (HEADER + 4 * RECORD) * 8) as usize);
    assert_eq!(verify(dir.path()).unwrap().entries, 12);
}

#[test]
fn open_refuses_every_single_bit_flip_in_a_segment() {
    // Even in the very last record: it is covered by the checkpoint published at close, so it
    // is damage, not a torn write: refused with the entry named, and nothing is cut.
    let dir = tempfile::tempdir().unwrap();
    let layout = small_ledger(dir.path());
    for (path, records) in &layout {
        let original = fs::read(path).unwrap();
        for bit in 0..original.len() * 8 {
            flip_bit(path, bit);
            let opened = Ledger::open(dir.path(), LedgerOptions::default());
            let flipped = fs::read(path).unwrap();
            match opened {
                Err(OpenError::Corrupt(c) | OpenError::Covered { corruption: c, .. }) => {
                    let (index, offset) = owner(records, (bit / 8) as u64);
                    assert_eq!((&c.segment, c.index, c.offset), (path, index, offset), "bit {bit}: {c}");
                }
                other => panic!("bit {bit} of {} was not refused: {other:?}", path.display()),
            }
            assert_eq!(fs::read(path).unwrap(), flipped, "bit {bit}: the refused segment is left as it was");
            overwrite(path, &original);
        }
    }
    assert_eq!(Ledger::open(dir.path(), LedgerOptions::default()).unwrap().head().count, 12);
}

/// A ledger of 600 entries: two full level-0 tiles and a partial one.
fn tiled_ledger(dir: &Path) {
    let ledger = Ledger::open(dir, LedgerOptions::default()).unwrap();
    let batch: Vec<_> = (0..600).map(event).collect();
    ledger.append(&batch).unwrap();
    drop(ledger);
}

#[test]
fn a_flipped_bit_in_any_tile_is_named_by_verify_and_repaired_at_open() {
    let dir = tempfile::tempdir().unwrap();
    tiled_ledger(dir.path());
    let tiles = [
        (dir.path().join("tile/0/000"), 0u64),
        (dir.path().join("tile/0/001"), 256),
        (dir.path().join("tile/0/002.p/88"), 512),
    ];
    for (path, first) in &tiles {
        let original = fs::read(path).unwrap();
        // One bit in every hash of the tile, at a varying position.
        for k in 0..original.len() / 32 {
            let bit = k * 256 + (k * 37) % 256;
            flip_bit(path, bit);
            match verify(dir.path()) {
                Err(VerifyError::Tile(t)) => {
                    assert_eq!((&t.path, t.first_entry, t.missing), (path, first + k as u64, false), "hash {k}");
                }
                other => panic!("flip in {} hash {k} not named: {other:?}", path.display()),
            }
            flip_bit(path, bit);
        }
    }
    // Missing tiles are named too.
    fs::remove_file(&tiles[1].0).unwrap();
    assert!(matches!(verify(dir.path()), Err(VerifyError::Tile(t)) if t.missing && t.first_entry == 256));
    // Start-up rebuilds tiles from the entries (they are derived data) and says so.
    flip_bit(&tiles[0].0, 77);
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    let mut repaired = ledger.open_report().repaired_tiles.clone();
    repaired.sort();
    assert_eq!(repaired, vec![tiles[0].0.clone(), tiles[1].0.clone()]);
    drop(ledger);
    assert_eq!(verify(dir.path()).unwrap().entries, 600);
}

/// Builds a ledger whose last batch (5 events, one `write_all`) follows 20 acknowledged and
/// checkpointed entries. Returns the segment's bytes, where the last batch starts, where each of
/// its records ends, and the checkpoint of the 20 entries (the last one published before a crash
/// in the batch could have happened: checkpoints only ever cover durable entries).
fn ledger_with_last_batch(dir: &Path) -> (Vec<u8>, u64, Vec<u64>, Vec<u8>) {
    let ledger = Ledger::open(dir, LedgerOptions::default()).unwrap();
    for n in 0..20 {
        ledger.append(&[event(n)]).unwrap();
    }
    let before = ledger.stats().bytes + HEADER;
    drop(ledger);
    let checkpoint = fs::read(dir.join("checkpoint")).unwrap();
    let ledger = Ledger::open(dir, LedgerOptions::default()).unwrap();
    let batch: Vec<_> = (20..25).map(event).collect();
    ledger.append(&batch).unwrap();
    drop(ledger);
    let bytes = fs::read(segment(dir, 0)).unwrap();
    let mut ends = Vec::new();
    let mut at = before as usize;
    while at < bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + len + 4;
        ends.push(at as u64);
    }
    assert_eq!(ends.len(), 5);
    (bytes, before, ends, checkpoint)
}

/// Opens the damaged ledger and checks that exactly the complete records survive, and that a
/// torn tail is reported unless the file ends cleanly (`clean`).
fn check_recovery(dir: &Path, cut: u64, ends: &[u64], expected_bodies: &[Vec<u8>], clean: bool, checkpoint: &[u8]) {
    overwrite(&dir.join("checkpoint"), checkpoint);
    let ledger = Ledger::open(dir, LedgerOptions::default()).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
    let complete = 20 + ends.iter().filter(|&&end| end <= cut).count() as u64;
    assert_eq!(ledger.head().count, complete, "cut at {cut}");
    match (&ledger.open_report().torn_tail, clean) {
        (None, true) => {}
        (Some(torn), false) => assert_eq!(torn.first_index, complete, "cut at {cut}"),
        (torn, _) => panic!("cut at {cut}: clean end {clean}, torn tail {torn:?}"),
    }
    drop(ledger);
    let read = bodies(dir);
    assert_eq!(read[..], expected_bodies[..complete as usize], "cut at {cut}");
    assert_eq!(verify(dir).unwrap().entries, complete);
}

#[test]
fn a_tail_torn_at_every_byte_of_the_last_batch_is_cut_and_acknowledged_entries_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, start, ends, checkpoint) = ledger_with_last_batch(dir.path());
    let expected: Vec<Vec<u8>> = (0..25)
        .map(|n| {
            let mut b = Vec::new();
            event(n).encode(&mut b);
            b
        })
        .collect();
    let seg = segment(dir.path(), 0);
    // What follows the last whole record is torn unless it is all zeros: the start of a length
    // field (all lengths here are under 2^24, so their first byte is zero) cannot be told from
    // the zeros the writer reserves ahead of its appends, and is not reported.
    let clean = |file: &[u8]| {
        let cut = file.len() as u64;
        let whole = ends.iter().copied().filter(|&e| e <= cut).max().unwrap_or(start);
        file[whole as usize..].iter().all(|&b| b == 0)
    };
    let mut zeros_only = 0;
    for cut in start..=bytes.len() as u64 {
        // The file ends early (the batch was partly written).
        let short = &bytes[..cut as usize];
        let boundary = cut == start || ends.contains(&cut);
        zeros_only += usize::from(clean(short) && !boundary);
        overwrite(&seg, short);
        check_recovery(dir.path(), cut, &ends, &expected, clean(short), &checkpoint);
        // The file has its full size but the unwritten part reads as zeros, or it has the
        // writer's reserve after it.
        for tail in [bytes.len() - cut as usize, 4096] {
            let mut zeroed = bytes[..cut as usize].to_vec();
            zeroed.resize(cut as usize + tail, 0);
            overwrite(&seg, &zeroed);
            check_recovery(dir.path(), cut, &ends, &expected, clean(short), &checkpoint);
        }
    }
    // Three bytes of each of the five length fields; the rest of every torn record is reported.
    assert_eq!(zeros_only, 5 * 3);
}

#[test]
fn a_tail_cut_below_the_published_checkpoint_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, start, ..) = ledger_with_last_batch(dir.path());
    // The checkpoint of 25 entries is on disk: losing any of them is a rollback, not a torn write.
    overwrite(&segment(dir.path(), 0), &bytes[..start as usize + 7]);
    match Ledger::open(dir.path(), LedgerOptions::default()) {
        Err(e @ OpenError::Covered { checkpoint_size: 25, .. }) => {
            let OpenError::Covered { corruption, .. } = &e else { unreachable!() };
            assert_eq!(corruption.index, 20, "the first entry in doubt is named");
            let message = e.to_string();
            assert!(message.contains("vigie ledger verify") && message.contains("nothing was cut"), "{message}");
        }
        other => panic!("not refused: {other:?}"),
    }
}

fn three_segments(dir: &Path) {
    let ledger = Ledger::open(dir, LedgerOptions { segment_bytes: 300, ..LedgerOptions::default() }).unwrap();
    for n in 0..9 {
        ledger.append(&[event(n)]).unwrap();
    }
    drop(ledger);
    assert_eq!(segments(dir).len(), 3, "one segment per 3 events");
}

fn refused(dir: &Path) -> Corruption {
    match Ledger::open(dir, LedgerOptions::default()) {
        Err(OpenError::Corrupt(c)) => c,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_missing_segment_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    fs::remove_file(segment(dir.path(), 1)).unwrap();
    let c = refused(dir.path());
    assert_eq!((c.segment, c.index, c.fault), (segment(dir.path(), 1), 3, Fault::MissingSegment));
    let c = corruption(verify(dir.path()).unwrap_err());
    assert_eq!(c.fault, Fault::MissingSegment);

    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    fs::remove_file(segment(dir.path(), 0)).unwrap();
    let c = refused(dir.path());
    assert_eq!((c.segment, c.index, c.fault), (segment(dir.path(), 0), 0, Fault::MissingSegment));
}

#[test]
fn reordered_segments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let (a, b) = (segment(dir.path(), 1), segment(dir.path(), 2));
    let tmp = dir.path().join("swap");
    fs::rename(&a, &tmp).unwrap();
    fs::rename(&b, &a).unwrap();
    fs::rename(&tmp, &b).unwrap();
    let c = refused(dir.path());
    assert_eq!((c.segment, c.index, c.offset), (a, 3, 0));
    assert_eq!(c.fault, Fault::FirstIndexMismatch { expected: 3, found: 6 });
}

#[test]
fn a_segment_replaced_by_a_consistent_forgery_is_refused() {
    // Segment 1 rewritten with other entries, each record well formed and its header claiming
    // the right start: only the tree shows it, against the published checkpoint.
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let forged = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(forged.path(), LedgerOptions { segment_bytes: 300, ..LedgerOptions::default() }).unwrap();
    for n in 0..3 {
        ledger.append(&[event(n)]).unwrap();
    }
    for n in 3..6 {
        ledger.append(&[event(n + 1000)]).unwrap();
    }
    drop(ledger);
    fs::copy(segment(forged.path(), 1), segment(dir.path(), 1)).unwrap();
    let refusal = Ledger::open(dir.path(), LedgerOptions::default());
    assert!(
        matches!(&refusal, Err(OpenError::Checkpoint(CheckpointError::Inconsistent { size: 9, .. }))),
        "{refusal:?}"
    );
    assert!(matches!(verify(dir.path()), Err(VerifyError::Checkpoint(CheckpointError::Inconsistent { .. }))));
    // The refusal left the tiles alone: they are evidence of what was published.
    assert!(dir.path().join("tile/0/000.p/9").exists());
}

#[test]
fn a_rewritten_entry_under_a_full_tile_is_named_by_verify() {
    // 600 entries; entry 300 replaced by a well-formed record of the same length.
    let dir = tempfile::tempdir().unwrap();
    tiled_ledger(dir.path());
    let seg = segment(dir.path(), 0);
    let mut bytes = fs::read(&seg).unwrap();
    let mut at = HEADER as usize;
    for _ in 0..300 {
        at += 8 + u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut envelope = bytes[at + 4..at + 4 + len].to_vec();
    let last = envelope.len() - 1;
    envelope[last] ^= 1;
    let leaf = vigie_ledger::merkle::leaf_hash(&envelope);
    bytes[at + 4..at + 4 + len].copy_from_slice(&envelope);
    bytes[at + 4 + len..at + 8 + len].copy_from_slice(&leaf.0[..4]);
    overwrite(&seg, &bytes);
    match verify(dir.path()) {
        Err(VerifyError::Checkpoint(CheckpointError::Inconsistent { size: 600, first_bad_entry, .. })) => {
            assert_eq!(first_bad_entry, Some(300));
        }
        other => panic!("rewrite not found: {other:?}"),
    }
    assert!(matches!(Ledger::open(dir.path(), LedgerOptions::default()), Err(OpenError::Checkpoint(_))));
}

#[test]
fn a_deleted_last_segment_is_a_rollback_refused_at_start_and_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    fs::remove_file(segment(dir.path(), 2)).unwrap();
    let refusal = Ledger::open(dir.path(), LedgerOptions::default());
    let Err(OpenError::Checkpoint(CheckpointError::RolledBack { checkpoint_size, log_size, path })) = refusal else {
        panic!("not refused: {refusal:?}")
    };
    assert_eq!((checkpoint_size, log_size, path), (9, 6, dir.path().join("checkpoint")));
    assert!(matches!(verify(dir.path()), Err(VerifyError::Checkpoint(CheckpointError::RolledBack { .. }))));
}

#[test]
fn an_insider_who_rolls_back_and_resigns_is_caught_by_the_witness_directory() {
    // The insider has the key: they delete the last segment and sign a new checkpoint for the
    // shorter log. The witness directory (another party's storage) still holds the longer one.
    let dir = tempfile::tempdir().unwrap();
    let witness = tempfile::tempdir().unwrap();
    let options = LedgerOptions {
        segment_bytes: 300,
        witnesses: vec![Witness::Directory(witness.path().to_path_buf())],
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(dir.path(), options.clone()).unwrap();
    for n in 0..9 {
        ledger.append(&[event(n)]).unwrap();
    }
    drop(ledger);
    assert!(fs::read_to_string(witness.path().join("checkpoint")).unwrap().contains("\n9\n"));
    fs::remove_file(segment(dir.path(), 2)).unwrap();
    let signer = vigie_ledger::load_key(&dir.path().join("ledger.key")).unwrap();
    // The root of the first 6 entries, from a copy of the log cut there.
    let six = tempfile::tempdir().unwrap();
    let copy = Ledger::open(six.path(), LedgerOptions::default()).unwrap();
    let batch: Vec<_> = (0..6).map(event).collect();
    copy.append(&batch).unwrap();
    let root = copy.head().root;
    drop(copy);
    let forged = Checkpoint { origin: signer.name().to_owned(), size: 6, root }.sign(&signer);
    fs::write(dir.path().join("checkpoint"), &forged).unwrap();

    let refusal = Ledger::open(dir.path(), options.clone());
    let Err(OpenError::Checkpoint(CheckpointError::RolledBack { checkpoint_size: 9, log_size: 6, path })) = refusal
    else {
        panic!("not refused: {refusal:?}")
    };
    assert_eq!(path, witness.path().join("checkpoint"));
    let verify_options =
        VerifyOptions { verifier: Some(signer.verifier()), witness_dirs: vec![witness.path().to_path_buf()] };
    match verify_with(dir.path(), &verify_options, |_, _| {}) {
        Err(VerifyError::Checkpoint(CheckpointError::RolledBack { path, checkpoint_size: 9, .. })) => {
            assert_eq!(path, witness.path().join("checkpoint"));
        }
        other => panic!("verify passed a rolled-back log: {other:?}"),
    }
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let head = {
        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        ledger.head()
    };
    let other = NoteSigner::from_seed("vigie/ledger", [42; 32]).unwrap();
    let forged = Checkpoint { origin: "vigie/ledger".into(), size: head.count, root: head.root }.sign(&other);
    fs::write(dir.path().join("checkpoint"), forged).unwrap();
    let refusal = Ledger::open(dir.path(), LedgerOptions::default());
    let Err(OpenError::Checkpoint(CheckpointError::Unverifiable { path, source })) = refusal else {
        panic!("not refused: {refusal:?}")
    };
    assert_eq!(path, dir.path().join("checkpoint"));
    assert!(matches!(source, vigie_ledger::note::NoteError::NotSignedBy(_)), "{source}");
    assert!(matches!(verify(dir.path()), Err(VerifyError::Checkpoint(CheckpointError::Unverifiable { .. }))));
}

#[test]
fn a_torn_or_extended_segment_before_the_last_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let first = segment(dir.path(), 0);
    let original = fs::read(&first).unwrap();
    fs::write(&first, &original[..original.len() - 5]).unwrap();
    let c = refused(dir.path());
    assert_eq!((&c.segment, c.index, c.fault), (&first, 2, Fault::TruncatedRecord));

    let mut extended = original.clone();
    extended.extend_from_slice(&[0; 64]);
    fs::write(&first, &extended).unwrap();
    let c = refused(dir.path());
    assert_eq!((&c.segment, c.index, c.offset), (&first, 3, original.len() as u64));
}

#[test]
fn a_damaged_header_of_the_last_segment_is_refused_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let last = segment(dir.path(), 2);
    let original = fs::read(&last).unwrap();
    fs::write(&last, &original[..20]).unwrap();
    assert_eq!(refused(dir.path()).fault, Fault::HeaderTruncated);
    let mut bad = original.clone();
    bad[20] ^= 0x10;
    fs::write(&last, &bad).unwrap();
    assert!(matches!(refused(dir.path()).fault, Fault::FirstIndexMismatch { .. }));
}

#[test]
fn a_leftover_temporary_segment_is_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let temp = dir.path().join("00000003.log.tmp");
    fs::write(&temp, b"VIGIEML1 half").unwrap();
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    assert_eq!(ledger.open_report().removed_temp_files, vec![temp.clone()]);
    assert!(!temp.exists());
    assert_eq!(ledger.head().count, 9);
}

#[test]
fn a_witness_that_is_not_mounted_or_a_deleted_checkpoint_refuses_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let witness = tempfile::tempdir().unwrap();
    let options =
        LedgerOptions { witnesses: vec![Witness::Directory(witness.path().to_path_buf())], ..LedgerOptions::default() };
    let ledger = Ledger::open(dir.path(), options.clone()).unwrap();
    ledger.append(&[event(1), event(2)]).unwrap();
    drop(ledger);
    // The witness's mount is gone: an empty directory where its checkpoint was.
    let kept = fs::read(witness.path().join("checkpoint")).unwrap();
    fs::remove_file(witness.path().join("checkpoint")).unwrap();
    match Ledger::open(dir.path(), options.clone()) {
        Err(e @ OpenError::Checkpoint(CheckpointError::Missing { log_size: 2, .. })) => {
            let OpenError::Checkpoint(CheckpointError::Missing { path, .. }) = &e else { unreachable!() };
            assert_eq!(path, &witness.path().join("checkpoint"));
            assert!(e.to_string().contains("not mounted"), "{e}");
        }
        other => panic!("an unmounted witness was not noticed: {other:?}"),
    }
    assert!(!witness.path().join("checkpoint").exists(), "nothing written into the empty witness");
    fs::write(witness.path().join("checkpoint"), &kept).unwrap();
    // The ledger's own checkpoint deleted: refused as well.
    fs::remove_file(dir.path().join("checkpoint")).unwrap();
    assert!(matches!(
        Ledger::open(dir.path(), options.clone()),
        Err(OpenError::Checkpoint(CheckpointError::Missing { log_size: 2, .. }))
    ));
    // An empty log has nothing to lose: a first start with a new, empty witness is fine.
    let (fresh, new_witness) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let options = LedgerOptions { witnesses: vec![Witness::Directory(new_witness.path().to_path_buf())], ..options };
    drop(Ledger::open(fresh.path(), options).unwrap());
    assert!(new_witness.path().join("checkpoint").exists());
}

#[test]
fn a_lost_signing_key_or_a_hostile_month_key_is_refused_not_replaced_or_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let options = LedgerOptions { seal_keys: Some(keys.path().to_path_buf()), ..LedgerOptions::default() };
    let ledger = Ledger::open(dir.path(), options.clone()).unwrap();
    ledger.append(&[event(1)]).unwrap();
    drop(ledger);
    // A month key replaced by 64 bytes that are not hex (multi-byte characters): an error.
    let month_keys: Vec<_> = fs::read_dir(keys.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(month_keys.len(), 1, "{month_keys:?}");
    let original = fs::read(&month_keys[0]).unwrap();
    fs::write(&month_keys[0], "é".repeat(32)).unwrap();
    let ledger = Ledger::open(dir.path(), options.clone()).unwrap();
    assert!(ledger.append(&[event(2)]).is_err(), "a hostile key file is an error");
    drop(ledger);
    fs::write(&month_keys[0], original).unwrap();
    // The signing key lost: the log refuses to start rather than sign with a new key.
    fs::remove_file(dir.path().join("ledger.key")).unwrap();
    match Ledger::open(dir.path(), options) {
        Err(e @ OpenError::Key { .. }) => assert!(e.to_string().contains("restore the key file"), "{e}"),
        other => panic!("a lost key was replaced: {other:?}"),
    }
    assert!(!dir.path().join("ledger.key").exists());
}
