//! Property tests over ledgers of any shape: whatever the entries (count, sizes, batches), the
//! segment size and whether bodies are sealed, a single bit flipped anywhere in any segment is
//! found by `verify` and refused by `Ledger::open`. `corruption.rs` flips every bit of one small
//! ledger; this varies the ledger instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::fs;
use std::path::PathBuf;

use proptest::prelude::*;
use vigie_ledger::{Ledger, LedgerOptions, verify};

fn segment_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn a_single_bit_flip_anywhere_in_any_ledger_is_found(
        batches in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 1..8), 1..8),
        segment_bytes in 128u64..2_048,
        sealed in any::<bool>(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let ledger_dir = dir.path().join("ledger");
        let options = LedgerOptions {
            segment_bytes,
            seal_keys: sealed.then(|| dir.path().join("keys")),
            ..LedgerOptions::default()
        };
        {
            let ledger = Ledger::open(&ledger_dir, options.clone()).unwrap();
            for batch in &batches {
                ledger.append_bodies(batch).unwrap();
            }
        }
        let entries: usize = batches.iter().map(Vec::len).sum();
        prop_assert_eq!(verify(&ledger_dir).unwrap().entries, entries as u64);

        let files = segment_files(&ledger_dir);
        let sizes: Vec<usize> = files.iter().map(|f| fs::metadata(f).unwrap().len() as usize).collect();
        let mut byte = at.index(sizes.iter().sum());
        let k = sizes.iter().position(|&s| if byte < s { true } else { byte -= s; false }).unwrap();
        let mut bytes = fs::read(&files[k]).unwrap();
        bytes[byte] ^= 1 << bit;
        fs::write(&files[k], &bytes).unwrap();

        prop_assert!(verify(&ledger_dir).is_err(), "bit {} of byte {} of segment {} went unnoticed", bit, byte, k);
        prop_assert!(Ledger::open(&ledger_dir, options).is_err(), "open accepted bit {} of byte {} of segment {}", bit, byte, k);
    }
}
