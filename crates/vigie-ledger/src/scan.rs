//! The tree pass shared by start-up and `verify`: every leaf hash the walker yields goes into a
//! [`TreeState`], every tile it completes is compared with the file on disk, and the root is
//! noted at each tree size a published checkpoint names, so that each checkpoint can then be
//! checked against the log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{CheckpointError, TileMismatch};
use crate::merkle::Hash;
use crate::note::{Checkpoint, NoteVerifier};
use crate::tiles::{self, Tile, TreeState};

/// What to do with a tile that does not match the entries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TileMode {
    /// Note it, to rewrite it once the checkpoints are found consistent (start-up: tiles are
    /// derived, a crash may have torn one; a tile that disagrees before the log is known good
    /// may be evidence and is left as it is).
    Collect,
    /// Rewrite it.
    Repair,
    /// Report the first one (verify).
    Check,
}

/// A tree being rebuilt from the entries.
#[derive(Debug)]
pub(crate) struct TreePass {
    dir: PathBuf,
    mode: TileMode,
    pub tree: TreeState,
    /// Tree sizes whose roots are wanted, and the roots once reached.
    roots: BTreeMap<u64, Option<Hash>>,
    next_capture: Option<u64>,
    pub tiles_checked: u64,
    pub tiles_repaired: Vec<PathBuf>,
    pub first_bad_tile: Option<TileMismatch>,
    pub io_error: Option<(PathBuf, std::io::Error)>,
}

impl TreePass {
    pub fn new(dir: &Path, mode: TileMode, sizes: impl IntoIterator<Item = u64>) -> Self {
        let roots: BTreeMap<u64, Option<Hash>> = sizes.into_iter().map(|s| (s, None)).collect();
        let mut pass = TreePass {
            dir: dir.to_path_buf(),
            mode,
            tree: TreeState::new(),
            next_capture: roots.keys().next().copied(),
            roots,
            tiles_checked: 0,
            tiles_repaired: Vec::new(),
            first_bad_tile: None,
            io_error: None,
        };
        pass.capture();
        pass
    }

    fn capture(&mut self) {
        let size = self.tree.size();
        while let Some(next) = self.next_capture.filter(|&n| n <= size) {
            if next == size {
                self.roots.insert(next, Some(self.tree.root()));
            }
            self.next_capture = self.roots.range(next + 1..).next().map(|(k, _)| *k);
        }
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut completed: Option<Tile> = None;
        let mut more = Vec::new();
        self.tree.push(leaf, |t| match completed {
            None => completed = Some(t),
            Some(_) => more.push(t),
        });
        for tile in completed.into_iter().chain(more) {
            self.check_tile(&tile);
        }
        if self.next_capture.is_some() {
            self.capture();
        }
    }

    /// Compares a tile with its file (full tiles while walking, partial ones at the end).
    pub fn check_tile(&mut self, tile: &Tile) {
        self.tiles_checked += 1;
        let path = self.dir.join(tile.path());
        let found = match tiles::read_tile_bytes(&self.dir, tile.level, tile.index, tile.hashes.len()) {
            Ok(found) => found,
            Err(e) => {
                self.io_error.get_or_insert((path, e));
                return;
            }
        };
        if found.as_deref() == Some(tile.bytes().as_slice()) {
            return;
        }
        match self.mode {
            TileMode::Collect => self.tiles_repaired.push(path),
            TileMode::Repair => match tiles::write_tile(&self.dir, tile) {
                Ok(()) => self.tiles_repaired.push(path),
                Err(e) => {
                    self.io_error.get_or_insert((path, e));
                }
            },
            TileMode::Check => {
                if self.first_bad_tile.is_none() {
                    // Name the first entry under the first hash that differs, not the tile's start.
                    let expected = tile.bytes();
                    let found_bytes = found.as_deref().unwrap_or_default();
                    let differs = (0..tile.hashes.len())
                        .find(|&k| found_bytes.get(k * 32..k * 32 + 32) != expected.get(k * 32..k * 32 + 32))
                        .unwrap_or(0) as u64;
                    let per_hash = 1u64 << (tiles::TILE_HEIGHT * tile.level).min(63);
                    self.first_bad_tile = Some(TileMismatch {
                        path,
                        level: tile.level,
                        index: tile.index,
                        first_entry: tile.first_entry().saturating_add(differs.saturating_mul(per_hash)),
                        missing: found.is_none(),
                    });
                }
            }
        }
    }

    /// Checks a published checkpoint against the log as walked.
    pub fn check_checkpoint(&self, path: &Path, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let log_size = self.tree.size();
        if checkpoint.size > log_size {
            return Err(CheckpointError::RolledBack {
                path: path.to_path_buf(),
                checkpoint_size: checkpoint.size,
                log_size,
            });
        }
        let found = self.roots.get(&checkpoint.size).copied().flatten().unwrap_or_default();
        if found != checkpoint.root {
            // A full tile that disagrees with the entries points at the first rewritten one.
            let first_bad_entry = self
                .first_bad_tile
                .as_ref()
                .filter(|t| !t.missing && t.first_entry < checkpoint.size)
                .map(|t| t.first_entry);
            return Err(CheckpointError::Inconsistent {
                path: path.to_path_buf(),
                size: checkpoint.size,
                published: checkpoint.root,
                found,
                first_bad_entry,
            });
        }
        Ok(())
    }
}

/// A checkpoint file and what it says, checked for its signature.
#[derive(Clone, Debug)]
pub(crate) struct Published {
    pub path: PathBuf,
    pub checkpoint: Checkpoint,
}

/// Reads a checkpoint file if it exists, checking its signature.
pub(crate) fn read_checkpoint(path: &Path, verifier: &NoteVerifier) -> Result<Option<Published>, CheckpointError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CheckpointError::Unverifiable {
                path: path.to_path_buf(),
                source: crate::note::NoteError::Malformed(if e.kind() == std::io::ErrorKind::InvalidData {
                    "not UTF-8"
                } else {
                    "unreadable"
                }),
            });
        }
    };
    Checkpoint::open(&text, verifier)
        .map(|checkpoint| Some(Published { path: path.to_path_buf(), checkpoint }))
        .map_err(|source| CheckpointError::Unverifiable { path: path.to_path_buf(), source })
}
