//! Damage to the files on disk: every single-bit flip is found and located, a torn tail (and only
//! a torn tail) is cut at startup, and missing or reordered segments make `open` refuse.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{bodies, event, flip_bit, overwrite, segment, segments};
use vigie_core::ports::AccessLedger;
use vigie_ledger::{Corruption, Fault, Ledger, LedgerOptions, OpenError, VerifyError, verify};

const HEADER: u64 = 56;

/// A small ledger over several segments: 12 entries with short bodies, 4 per segment.
/// Returns each segment's path and the (index, offset) of each record in it.
fn small_ledger(dir: &Path) -> Vec<(PathBuf, Vec<(u64, u64)>)> {
    let options = LedgerOptions { segment_bytes: 200, ..LedgerOptions::default() };
    let ledger = Ledger::open(dir, options).unwrap();
    for i in 0..12u64 {
        ledger.append_bodies(&[format!("e{i:02}")]).unwrap();
    }
    drop(ledger);
    // Records are 4 + 3 + 32 = 39 bytes; a segment rolls once it holds 4 (56 + 156 >= 200).
    let files = segments(dir);
    assert_eq!(files.len(), 3);
    files
        .into_iter()
        .enumerate()
        .map(|(k, path)| {
            let records = (0..4u64).map(|j| (k as u64 * 4 + j, HEADER + j * 39)).collect();
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
fn every_single_bit_flip_is_detected_and_located_by_verify() {
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
    assert_eq!(flips, (3 * (56 + 4 * 39)) * 8);
    assert_eq!(verify(dir.path()).unwrap().entries, 12);
}

#[test]
fn open_refuses_every_single_bit_flip_except_in_the_final_record_which_it_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_ledger(dir.path());
    let last_file = &layout[2].0;
    let last_record = HEADER + 3 * 39;
    for (path, records) in &layout {
        let original = fs::read(path).unwrap();
        for bit in 0..original.len() * 8 {
            flip_bit(path, bit);
            let opened = Ledger::open(dir.path(), LedgerOptions::default());
            if path == last_file && (bit / 8) as u64 >= last_record {
                // Damage to the very last record is indistinguishable from a torn write of it.
                let ledger = opened.unwrap_or_else(|e| panic!("bit {bit}: {e}"));
                let torn = ledger.open_report().torn_tail.clone().unwrap();
                assert_eq!((torn.first_index, torn.offset, ledger.head().count), (11, last_record, 11));
            } else {
                let Err(OpenError::Corrupt(c)) = opened else {
                    panic!("bit {bit} of {} was not refused: {opened:?}", path.display())
                };
                let (index, offset) = owner(records, (bit / 8) as u64);
                assert_eq!((&c.segment, c.index, c.offset), (path, index, offset), "bit {bit}: {c}");
            }
            overwrite(path, &original);
        }
    }
    assert_eq!(Ledger::open(dir.path(), LedgerOptions::default()).unwrap().head().count, 12);
}

/// Builds a ledger whose last batch (5 events, one `write_all`) follows 20 acknowledged entries
/// appended one by one. Returns the segment's bytes, where the last batch starts, and where each
/// of its records ends.
fn ledger_with_last_batch(dir: &Path) -> (Vec<u8>, u64, Vec<u64>) {
    let ledger = Ledger::open(dir, LedgerOptions::default()).unwrap();
    for n in 0..20 {
        ledger.append(&[event(n)]).unwrap();
    }
    let before = ledger.stats().bytes + HEADER;
    let batch: Vec<_> = (20..25).map(event).collect();
    ledger.append(&batch).unwrap();
    drop(ledger);
    let bytes = fs::read(segment(dir, 0)).unwrap();
    let mut ends = Vec::new();
    let mut at = before as usize;
    while at < bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + len + 32;
        ends.push(at as u64);
    }
    assert_eq!(ends.len(), 5);
    (bytes, before, ends)
}

/// Opens the damaged ledger and checks that exactly the complete records survive, and that a
/// torn tail is reported unless the file ends cleanly (`clean`).
fn check_recovery(dir: &Path, cut: u64, ends: &[u64], expected_bodies: &[Vec<u8>], clean: bool) {
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
    let (bytes, start, ends) = ledger_with_last_batch(dir.path());
    let expected: Vec<Vec<u8>> = (0..25)
        .map(|n| {
            let mut b = Vec::new();
            event(n).encode(&mut b);
            b
        })
        .collect();
    let seg = segment(dir.path(), 0);
    for cut in start..=bytes.len() as u64 {
        // The file ends early (the batch was partly written).
        overwrite(&seg, &bytes[..cut as usize]);
        let boundary = cut == start || ends.contains(&cut);
        check_recovery(dir.path(), cut, &ends, &expected, boundary);
        // The file has its full size but the unwritten part reads as zeros.
        let mut zeroed = bytes.clone();
        zeroed[cut as usize..].fill(0);
        overwrite(&seg, &zeroed);
        check_recovery(dir.path(), cut, &ends, &expected, cut == bytes.len() as u64);
    }
}

fn three_segments(dir: &Path) {
    let ledger = Ledger::open(dir, LedgerOptions { segment_bytes: 400, ..LedgerOptions::default() }).unwrap();
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
    // Segment 1 rewritten with other entries but a valid internal chain: its header still
    // claims the right start, so the break shows at segment 2's header.
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let forged = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(forged.path(), LedgerOptions { segment_bytes: 400, ..LedgerOptions::default() }).unwrap();
    for n in 0..3 {
        ledger.append(&[event(n)]).unwrap();
    }
    for n in 3..6 {
        ledger.append(&[event(n + 1000)]).unwrap();
    }
    drop(ledger);
    fs::copy(segment(forged.path(), 1), segment(dir.path(), 1)).unwrap();
    let c = refused(dir.path());
    assert_eq!((c.segment, c.index, c.fault), (segment(dir.path(), 2), 6, Fault::StartChainMismatch));
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
    fs::write(&last, &original[..30]).unwrap();
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
    fs::write(&temp, b"VIGIELG1 half a header").unwrap();
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    assert_eq!(ledger.open_report().removed_temp_files, vec![temp.clone()]);
    assert!(!temp.exists());
    assert_eq!(ledger.head().count, 9);
}
