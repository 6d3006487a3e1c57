//! Hash tiles in the C2SP tlog-tiles layout, and the tree state the writer keeps.
//!
//! A level-L tile holds up to 256 consecutive hashes of tree height 8·L (level 0: leaf hashes;
//! level 1: roots of full level-0 tiles; …), 32 bytes each, concatenated. Tile N of level L is
//! `tile/<L>/<N>` with N written as three-digit path elements, all but the last prefixed with
//! `x` (1234067 → `x001/x234/067`); a partial tile of W < 256 hashes is `tile/<L>/<N>.p/<W>`.
//! Full tiles are written once, when they fill; partial tiles are written for each published
//! checkpoint, so that the tile directory serves every proof up to the latest checkpoint.
//!
//! Tiles are derived data: every hash in them is recomputed from the segments at start-up and
//! by `verify`. They are not synced on the append path (the entries are); a tile torn by a crash
//! is rewritten at the next start, and a tile that disagrees with the entries is named by
//! `verify`. Proofs read their hashes from the tiles and never re-hash the log.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::merkle::{Frontier, Hash, NodeSource, node_hash};

/// Hashes per full tile.
pub const TILE_WIDTH: usize = 256;
/// Tree levels per tile level.
pub const TILE_HEIGHT: u32 = 8;
/// Bytes of a full tile.
pub const TILE_BYTES: usize = TILE_WIDTH * 32;

/// `x001/x234/067` for 1234067.
fn index_path(mut n: u64) -> String {
    let mut parts = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        parts.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    parts.reverse();
    parts.join("/")
}

/// Path of a tile relative to the ledger directory: `tile/<L>/<N>` or, for `width` < 256,
/// `tile/<L>/<N>.p/<W>`.
pub fn tile_path(level: u32, index: u64, width: usize) -> PathBuf {
    let base = format!("tile/{level}/{}", index_path(index));
    if width >= TILE_WIDTH { PathBuf::from(base) } else { PathBuf::from(format!("{base}.p/{width}")) }
}

/// One tile's identity and hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    pub level: u32,
    pub index: u64,
    pub hashes: Vec<Hash>,
}

impl Tile {
    pub fn path(&self) -> PathBuf {
        tile_path(self.level, self.index, self.hashes.len())
    }

    /// Index of the first entry this tile covers.
    pub fn first_entry(&self) -> u64 {
        self.index.saturating_mul(1u64 << (TILE_HEIGHT * (self.level + 1)).min(63))
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.hashes.iter().flat_map(|h| h.0).collect()
    }
}

/// The tree as the writer (and start-up, and `verify`) builds it: the right edge for the root,
/// and the hashes of each level's incomplete tile.
#[derive(Clone, Debug, Default)]
pub struct TreeState {
    frontier: Frontier,
    /// Per tile level, the hashes of the tile being filled (fewer than 256).
    edge: Vec<Vec<Hash>>,
}

impl TreeState {
    pub fn new() -> Self {
        TreeState::default()
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Adds a leaf; `full` receives every tile this leaf completes.
    pub fn push(&mut self, leaf: Hash, mut full: impl FnMut(Tile)) {
        let edge = &mut self.edge;
        self.frontier.push(leaf, |height, index, hash| {
            if !height.is_multiple_of(TILE_HEIGHT) {
                return;
            }
            let level = (height / TILE_HEIGHT) as usize;
            if edge.len() <= level {
                edge.resize_with(level + 1, Vec::new);
            }
            edge[level].push(*hash);
            if edge[level].len() == TILE_WIDTH {
                let hashes = std::mem::take(&mut edge[level]);
                full(Tile { level: level as u32, index: index / TILE_WIDTH as u64, hashes });
            }
        });
    }

    /// The partial tiles of the tree as it is (the right edge of each level that has one).
    pub fn partial_tiles(&self) -> Vec<Tile> {
        let size = self.size();
        self.edge
            .iter()
            .enumerate()
            .filter(|(_, hashes)| !hashes.is_empty())
            .map(|(level, hashes)| {
                let level = level as u32;
                let count = size >> (TILE_HEIGHT * level);
                Tile { level, index: count / TILE_WIDTH as u64, hashes: hashes.clone() }
            })
            .collect()
    }
}

/// Writes a tile file, creating its directories. Not synced: see the module doc.
pub fn write_tile(dir: &Path, tile: &Tile) -> io::Result<()> {
    let path = dir.join(tile.path());
    if let Some(parent) = path.parent() {
        crate::private::create_dir_all(parent)?;
    }
    let mut file = crate::private::file().write(true).create(true).truncate(true).open(&path)?;
    file.write_all(&tile.bytes())
}

/// Removes the partial versions of a tile other than `keep` (a width, or none once full).
pub fn remove_partials(dir: &Path, level: u32, index: u64, keep: Option<usize>) -> io::Result<()> {
    let partials = dir.join(format!("{}.p", tile_path(level, index, TILE_WIDTH).display()));
    let entries = match fs::read_dir(&partials) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let width = entry.file_name().to_str().and_then(|w| w.parse::<usize>().ok());
        if width.is_some() && width != keep {
            fs::remove_file(entry.path())?;
        }
    }
    if keep.is_none() {
        let _ = fs::remove_dir(&partials);
    }
    Ok(())
}

/// Reads a tile's file; `None` if it does not exist.
pub fn read_tile_bytes(dir: &Path, level: u32, index: u64, width: usize) -> io::Result<Option<Vec<u8>>> {
    match fs::read(dir.join(tile_path(level, index, width))) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why a hash needed for a proof is not in the tiles.
#[derive(Debug, thiserror::Error)]
pub enum TileReadError {
    #[error("tile {path} is missing or short (rebuilt at the next start of the ledger)")]
    Missing { path: PathBuf },
    #[error("tile {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The hashes of the tree of `size` leaves, read from the tiles in `dir`.
#[derive(Debug)]
pub struct TileSource<'a> {
    pub dir: &'a Path,
    pub size: u64,
}

impl TileSource<'_> {
    /// Hashes `[first, first + count)` of tile level `level`, from the full tile or the partial
    /// one this tree size implies.
    fn hashes(&self, level: u32, first: u64, count: u64) -> Result<Vec<Hash>, TileReadError> {
        let width = TILE_WIDTH as u64;
        let index = first / width;
        let stored = (self.size >> (TILE_HEIGHT * level)).saturating_sub(index * width).min(width) as usize;
        let start = (first % width) as usize;
        let end = start + count as usize;
        let mut tried = Vec::new();
        for w in [stored, TILE_WIDTH] {
            let path = tile_path(level, index, w);
            let bytes = read_tile_bytes(self.dir, level, index, w)
                .map_err(|source| TileReadError::Io { path: path.clone(), source })?;
            if let Some(bytes) = bytes.filter(|b| b.len() >= end * 32) {
                return Ok(bytes[start * 32..end * 32]
                    .chunks_exact(32)
                    .map(|c| {
                        let mut h = [0u8; 32];
                        h.copy_from_slice(c);
                        Hash(h)
                    })
                    .collect());
            }
            tried.push(path);
        }
        Err(TileReadError::Missing { path: tried.swap_remove(0) })
    }
}

impl NodeSource for TileSource<'_> {
    type Error = TileReadError;

    fn node(&self, height: u32, index: u64) -> Result<Hash, Self::Error> {
        let level = height / TILE_HEIGHT;
        let up = height % TILE_HEIGHT;
        let mut layer = self.hashes(level, index << up, 1 << up)?;
        while layer.len() > 1 {
            layer = layer.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
        }
        layer.pop().ok_or_else(|| TileReadError::Missing { path: tile_path(level, index, TILE_WIDTH) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemoryTree, consistency_proof, inclusion_proof, leaf_hash};

    #[test]
    fn tile_paths_follow_tlog_tiles() {
        assert_eq!(tile_path(0, 1234067, 256), PathBuf::from("tile/0/x001/x234/067"));
        assert_eq!(tile_path(1, 5, 256), PathBuf::from("tile/1/005"));
        assert_eq!(tile_path(0, 1000, 17), PathBuf::from("tile/0/x001/000.p/17"));
        assert_eq!(tile_path(2, 0, 1), PathBuf::from("tile/2/000.p/1"));
    }

    #[test]
    fn proofs_from_tiles_equal_proofs_from_the_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let leaves: Vec<Hash> = (0..70_000u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut state = TreeState::new();
        let mut full = 0;
        for l in &leaves {
            state.push(*l, |t| {
                full += 1;
                write_tile(dir.path(), &t).unwrap();
            });
        }
        // 273 full level-0 tiles, 1 full level-1 tile.
        assert_eq!(full, 273 + 1);
        for t in state.partial_tiles() {
            write_tile(dir.path(), &t).unwrap();
        }
        let memory = MemoryTree { leaves };
        let n = 70_000;
        let tiles = TileSource { dir: dir.path(), size: n };
        assert_eq!(state.root(), memory.root(n));
        for i in [0, 1, 255, 256, 65_535, 65_536, 69_999, 12_345] {
            assert_eq!(inclusion_proof(&tiles, i, n).unwrap(), inclusion_proof(&memory, i, n).unwrap(), "leaf {i}");
        }
        for m in [1, 255, 256, 257, 65_536, 69_000] {
            assert_eq!(consistency_proof(&tiles, m, n).unwrap(), consistency_proof(&memory, m, n).unwrap(), "{m}");
        }
        // A missing tile is named, not guessed.
        fs::remove_file(dir.path().join(tile_path(0, 0, 256))).unwrap();
        assert!(matches!(
            inclusion_proof(&tiles, 3, n),
            Err(crate::merkle::ProofError::Source(TileReadError::Missing { .. }))
        ));
    }
}
