//! The ledger's hash tiles as scoping reads them: leaf hashes to check re-read entries against,
//! and tree nodes for inclusion and consistency proofs, with the tiles read once and kept (a
//! scoping run checks many entries of the same tiles).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use vigie_ledger::merkle::{Hash, NodeSource, node_hash};
use vigie_ledger::tiles::{read_tile_bytes, tile_path};

const WIDTH: u64 = 256;
const HEIGHT: u32 = 8;
/// Tiles kept in memory (8 KiB each): 64 MiB at most.
const CACHE_TILES: usize = 8192;

/// Tiles read so far, by (level, index).
type TileCache = HashMap<(u32, u64), std::sync::Arc<Vec<u8>>>;

/// Tiles of a tree of `size` leaves.
#[derive(Debug)]
pub struct Tiles {
    dir: PathBuf,
    size: u64,
    cache: Mutex<TileCache>,
}

#[derive(Debug, thiserror::Error)]
#[error("tile {path} is missing or short")]
pub struct TileMissing {
    pub path: PathBuf,
}

impl Tiles {
    pub fn new(ledger: &Path, size: u64) -> Self {
        Tiles { dir: ledger.to_path_buf(), size, cache: Mutex::new(HashMap::new()) }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The stored hashes of tile (`level`, `index`) for this tree size: the partial tile if the
    /// tree ends inside it, or a full one (a full tile is also right for a smaller tree).
    fn tile(&self, level: u32, index: u64) -> Result<std::sync::Arc<Vec<u8>>, TileMissing> {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = cache.get(&(level, index)) {
            return Ok(t.clone());
        }
        let stored = (self.size >> (HEIGHT * level)).saturating_sub(index * WIDTH).min(WIDTH) as usize;
        let mut found = None;
        for w in [stored, WIDTH as usize] {
            if w == 0 {
                continue;
            }
            if let Ok(Some(bytes)) = read_tile_bytes(&self.dir, level, index, w)
                && bytes.len() >= stored * 32
            {
                found = Some(std::sync::Arc::new(bytes));
                break;
            }
        }
        if found.is_none() && stored > 0 && stored < WIDTH as usize {
            // A live ledger replaces its partial tiles as it grows: a wider partial tile of a
            // later checkpoint holds the same first hashes.
            let partial_dir = self.dir.join(tile_path(level, index, stored));
            if let Some(parent) = partial_dir.parent()
                && let Ok(rd) = std::fs::read_dir(parent)
            {
                let mut widths: Vec<usize> = rd
                    .flatten()
                    .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                    .filter(|w| *w >= stored)
                    .collect();
                widths.sort_unstable();
                for w in widths {
                    if let Ok(Some(bytes)) = read_tile_bytes(&self.dir, level, index, w)
                        && bytes.len() >= stored * 32
                    {
                        found = Some(std::sync::Arc::new(bytes));
                        break;
                    }
                }
            }
        }
        let Some(t) = found else {
            return Err(TileMissing { path: self.dir.join(tile_path(level, index, stored.max(1))) });
        };
        if cache.len() >= CACHE_TILES {
            cache.clear();
        }
        cache.insert((level, index), t.clone());
        Ok(t)
    }

    /// The leaf hash the tiles hold for entry `index` (which must be below the tree size).
    pub fn leaf(&self, index: u64) -> Result<Hash, TileMissing> {
        let t = self.tile(0, index / WIDTH)?;
        let at = (index % WIDTH) as usize * 32;
        let mut h = [0u8; 32];
        h.copy_from_slice(t.get(at..at + 32).ok_or_else(|| TileMissing { path: tile_path(0, index / WIDTH, 0) })?);
        Ok(Hash(h))
    }
}

impl NodeSource for Tiles {
    type Error = TileMissing;

    fn node(&self, height: u32, index: u64) -> Result<Hash, Self::Error> {
        let level = height / HEIGHT;
        let up = height % HEIGHT;
        let first = index << up;
        let count = 1u64 << up;
        let tile = self.tile(level, first / WIDTH)?;
        let start = (first % WIDTH) as usize;
        let bytes = tile
            .get(start * 32..(start + count as usize) * 32)
            .ok_or_else(|| TileMissing { path: tile_path(level, first / WIDTH, 0) })?;
        let mut layer: Vec<Hash> = bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                Hash(h)
            })
            .collect();
        while layer.len() > 1 {
            layer = layer.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
        }
        layer.pop().ok_or_else(|| TileMissing { path: tile_path(level, first / WIDTH, 0) })
    }
}
