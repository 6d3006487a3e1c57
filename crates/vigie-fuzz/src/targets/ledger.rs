//! The ledger's segment and record parser, through every public way in: `verify_with` (the
//! auditor's check), `Entries::open` and `Entries::open_after` (the detector's replay, incident
//! scoping; sealed bodies opened with the month's key and decoded as events), and `Ledger::open`
//! (the start-up recovery, which may cut a torn tail). Files are written to a scratch directory
//! on tmpfs for each input.
//!
//! Input: `flags | segments`, the segments concatenated (each piece that starts with the magic
//! `VIGIEML1` is the next segment file). Flag bit 0 rewrites each record's check to match its
//! envelope (else a mutated envelope only ever fails its check); bit 1 writes a checkpoint signed
//! by the ledger's key over the first `flags >> 2` records (or all, if fewer).
//!
//! Properties: nothing panics; a walk that verifies yields as many entries as verify counted;
//! a ledger that `Ledger::open` accepts, appended to and closed, verifies.

use std::path::Path;

use vigie_core::event::EventHead;
use vigie_core::security::SecurityEvent;
use vigie_ledger::merkle::{Frontier, leaf_hash};
use vigie_ledger::note::{Checkpoint, NoteSigner};
use vigie_ledger::{Entries, EntryKind, Ledger, LedgerOptions, VerifyOptions, verify_with};

/// The log's name in the seeds and the harness.
pub const ORIGIN: &str = "fuzz.vigie.invalid/ledger";
/// The signing key's seed (the seeds' checkpoints are signed with it).
pub const KEY_SEED: [u8; 32] = [0x11; 32];
/// The month whose key seals the seeds' bodies, and that key.
pub const SEAL_MONTH: &str = "2026-06";
pub const SEAL_KEY: [u8; 32] = [0x5e; 32];
/// Segments magic: a piece of the input starting with it is the next segment.
const MAGIC: &[u8; 8] = b"VIGIEML1";
const HEADER_LEN: usize = 24;
const MAX_SEGMENTS: usize = 8;

pub fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, KEY_SEED).expect("a valid key name")
}

/// Writes the signing key and the month key where [`options`] points.
pub fn write_keys(data: &Path) {
    std::fs::write(data.join("ledger.key"), format!("{}\n", signer().to_skey())).expect("write the key");
    let keys = data.join("ledger-keys");
    std::fs::create_dir_all(&keys).expect("keys directory");
    let hex: String = SEAL_KEY.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(keys.join(format!("{SEAL_MONTH}.key")), hex).expect("write the month key");
}

/// The ledger's options in the scratch data directory `data` (ledger in `data/ledger`).
pub fn options(data: &Path) -> LedgerOptions {
    LedgerOptions {
        origin: ORIGIN.into(),
        key_file: Some(data.join("ledger.key")),
        seal_keys: Some(data.join("ledger-keys")),
        segment_bytes: 4 << 10,
        ..LedgerOptions::default()
    }
}

pub fn run(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let scratch = crate::scratch_dir();
    let root = scratch.path();
    let dir = root.join("ledger");
    std::fs::create_dir(&dir).expect("ledger directory");
    write_keys(root);

    let mut envelopes = Vec::new();
    for (number, piece) in split_segments(rest).into_iter().enumerate() {
        let bytes = frame(piece, flags & 1 != 0, &mut envelopes);
        std::fs::write(dir.join(format!("{number:08}.log")), bytes).expect("write a segment");
    }
    if flags & 2 != 0 {
        let size = usize::from(flags >> 2).min(envelopes.len());
        let mut tree = Frontier::new();
        envelopes[..size].iter().for_each(|e| tree.push(leaf_hash(e), |_, _, _| {}));
        let checkpoint = Checkpoint { origin: ORIGIN.into(), size: size as u64, root: tree.root() };
        std::fs::write(dir.join("checkpoint"), checkpoint.sign(&signer())).expect("write the checkpoint");
    }

    let verify_options = VerifyOptions { verifier: Some(signer().verifier()), witness_dirs: Vec::new() };
    let verified = verify_with(&dir, &verify_options, |_, _| {});
    let keys = root.join("ledger-keys");
    let read = Entries::open(&dir).map(|e| read_all(e.with_keys(&keys)));
    if let Ok(report) = &verified {
        match read {
            Ok((n, None)) => assert_eq!(n, report.entries, "verify and a full read count the same entries"),
            Ok((_, Some(e))) => panic!("verify passed but reading the entries failed: {e}"),
            Err(e) => panic!("verify passed but the entries cannot be listed: {e}"),
        }
    }
    let after =
        envelopes.first().and_then(|e| e.get(2..10)).map_or(0, |t| i64::from_be_bytes(t.try_into().unwrap_or([0; 8])));
    for bound in [i64::MIN, after, after.saturating_add(1), i64::MAX] {
        if let Ok(entries) = Entries::open_after(&dir, bound) {
            read_all(entries.with_keys(&keys));
        }
    }

    // The start-up recovery: whatever it accepts (cutting a torn tail, rebuilding tiles) must
    // leave a ledger that takes appends and verifies once closed.
    if let Ok(ledger) = Ledger::open(&dir, options(root)) {
        let appended = ledger.append_bodies(&[b"after recovery"]);
        drop(ledger);
        if let Err(e) = verify_with(&dir, &verify_options, |_, _| {}) {
            panic!("Ledger::open accepted the directory (append: {appended:?}), yet it does not verify after: {e}");
        }
    }
}

/// Reads every entry and decodes its body; returns how many were read and the error that ended
/// the read, if one did.
fn read_all(entries: Entries) -> (u64, Option<vigie_ledger::VerifyError>) {
    let mut n = 0;
    for entry in entries {
        match entry {
            Ok(e) => {
                n += 1;
                match e.kind {
                    EntryKind::Access => {
                        let _ = EventHead::decode(&e.body);
                    }
                    EntryKind::Security => {
                        let _ = SecurityEvent::decode(&e.body);
                    }
                    EntryKind::Opaque => {}
                }
            }
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// The input cut before each later occurrence of the segment magic (at most [`MAX_SEGMENTS`]).
fn split_segments(rest: &[u8]) -> Vec<&[u8]> {
    let mut starts: Vec<usize> = (1..rest.len().saturating_sub(MAGIC.len() - 1))
        .filter(|&i| rest[i..].starts_with(MAGIC))
        .take(MAX_SEGMENTS - 1)
        .collect();
    starts.insert(0, 0);
    starts.push(rest.len());
    starts.windows(2).map(|w| &rest[w[0]..w[1]]).collect()
}

/// The segment's bytes, each record's check rewritten if `fix`; collects the envelopes of the
/// records whose framing fits.
fn frame(segment: &[u8], fix: bool, envelopes: &mut Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = segment.to_vec();
    let mut at = HEADER_LEN;
    while let Some(len_bytes) = out.get(at..at + 4) {
        let len = u32::from_be_bytes(len_bytes.try_into().unwrap_or([0; 4])) as usize;
        let end = at + 4 + len;
        if len == 0 || end + 4 > out.len() {
            break;
        }
        let envelope = out[at + 4..end].to_vec();
        if fix {
            let check = leaf_hash(&envelope);
            out[end..end + 4].copy_from_slice(&check.0[..4]);
        }
        envelopes.push(envelope);
        at = end + 4;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_split_at_each_later_magic() {
        let input = b"VIGIEML1aaaVIGIEML1bbVIGIEML1";
        let parts = split_segments(input);
        assert_eq!(parts, vec![&b"VIGIEML1aaa"[..], &b"VIGIEML1bb"[..], &b"VIGIEML1"[..]]);
        assert_eq!(split_segments(b""), vec![&b""[..]]);
    }
}
