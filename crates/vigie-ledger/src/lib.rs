//! Vigie's access ledger on disk: an RFC 6962 Merkle log stored as append-only segments plus
//! hash tiles in the C2SP tlog-tiles layout, with group commit, and Ed25519-signed checkpoints
//! (C2SP signed-note / tlog-checkpoint) pushed to witnesses, behind the core's
//! [`vigie_core::ports::AccessLedger`] port.
//!
//! Every access event the guard produces is appended here, and the guard releases a person's
//! data only after [`Ledger`]'s `append` has returned: the events are then written and synced.
//! Each entry is a leaf of one Merkle tree; at least once a second the tree's size and root are
//! signed as a checkpoint and pushed to witness sinks held by other parties. Any edit, removal or
//! reordering of entries changes the root, so it shows in [`verify_with`] (which names the first
//! bad entry, tile or checkpoint) and at the next start, which refuses a log older than, or
//! inconsistent with, a checkpoint it published. At start-up damage at the end of the last
//! segment, after every published checkpoint (a write torn by a crash, most often), is kept aside
//! and cut, and reported with what is known of it ([`TornTail`]); damage anywhere else makes
//! [`Ledger::open`] refuse.
//!
//! # On disk
//!
//! ```text
//! <ledger>/00000000.log, 00000001.log, …   segments (entries)
//! <ledger>/tile/<L>/<N>[.p/<W>]             hash tiles (C2SP tlog-tiles)
//! <ledger>/checkpoint                       latest signed checkpoint
//! <ledger>/LOCK                             one process at a time
//! <ledger>/torn-<time>-entries-<a>-<b>.bin  bytes cut from a damaged tail, kept for investigation
//! <ledger>/ledger.key                       signing key, 0600 (default; the server uses <data>/ledger.key)
//! ```
//!
//! Every file and directory the ledger creates for itself is 0600/0700 whatever the umask
//! (witness directories keep their owner's modes).
//!
//! A segment is a 24-byte header `magic "VIGIEML1" | version u32 = 1 | reserved u32 = 0 |
//! first_index u64`, then records `len u32 | envelope | check [4]` (integers big-endian), where
//! `check` is the first 4 bytes of the entry's leaf hash. The envelope is the entry's canonical
//! encoding and exactly the data hashed into the tree (leaf hash = SHA-256(0x00 ‖ envelope)):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | envelope version, `0x01` |
//! | 1 | 1 | kind: `0x00` opaque, `0x01` access event, `0x02` security event |
//! | 2 | 8 | the event's time, i64 big-endian, milliseconds since the Unix epoch (0 if opaque) |
//! | 10 | rest | body: `AccessEvent::encode` (first byte `0x01`) or `SecurityEvent::encode` (`0x20`) |
//!
//! Both are frozen by golden-vector tests (`format::tests`). With
//! [`LedgerOptions::seal_keys`], bodies are sealed instead (envelope version 2, see [`seal`]):
//! `0x02 | kind | time | period u32 | nonce [24] | XChaCha20-Poly1305(body)`, with one key per
//! month, so that [`shred_before`] ends a month's readability while the tree still verifies. Inner nodes are SHA-256(0x01 ‖ left
//! ‖ right). A new segment starts once the current one reaches [`LedgerOptions::segment_bytes`];
//! it is written under a temporary name, synced, renamed into place, and the directory synced.
//!
//! A checkpoint is the signed note `<origin>\n<size>\n<base64 root>\n\n— <origin>
//! <base64(key id ‖ Ed25519 signature)>\n`; witnesses pin the key as `<origin>+<key id>+<base64
//! key>` ([`Ledger::verifier`]).

mod entries;
mod error;
mod evidence;
mod format;
mod key;
mod ledger;
pub mod merkle;
pub mod note;
pub mod private;
mod proof;
mod random;
mod recover;
mod scan;
pub mod seal;
pub mod tiles;
mod verify;
mod walk;
mod witness;
mod writer;

pub use entries::{Entries, Entry, Located, TIME_DISORDER_MS, decode_entry};
pub use error::{CheckpointError, Corruption, Fault, INVESTIGATE, OpenError, TileMismatch, VerifyError};
pub use format::EntryKind;
pub use key::{DEFAULT_KEY_FILE, KeyError, load as load_key};
pub use ledger::{LOCK_FILE, Ledger, LedgerOptions, verifier_from_key_file};
pub use merkle::Hash;
pub use proof::{InclusionReceipt, ProveError, prove};
pub use random::{RecordReader, SegmentInfo, list_segments, record_len};
pub use recover::{OpenReport, TornTail};
pub use seal::{Period, Unsealed, shred_before};
pub use verify::{VerifyOptions, VerifyReport, latest_checkpoint, verify, verify_with};
pub use witness::{CHECKPOINT_FILE, HISTORY_FILE, Witness, parse_history};
pub use writer::{Head, LedgerStats};
