//! The RFC 6962 Merkle tree, pure: leaf and node hashes (domain-separated by a first byte
//! 0x00 / 0x01, so that a leaf can never pass for an inner node), the incremental right edge
//! the writer keeps (a "compact range"), and inclusion and consistency proofs with their
//! verification (RFC 6962 §2.1.1–2.1.2 to build them, RFC 9162 §2.1.3.2 and §2.1.4.2 to check
//! them). Nothing here reads a file: proofs take their subtree hashes from a [`NodeSource`],
//! which the ledger backs with its hash tiles and the tests with a vector of leaves.

use std::fmt;

use sha2::{Digest, Sha256};

/// A SHA-256 hash in the tree: a leaf hash, an inner node or a root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in s.chunks_exact(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
        }
        Some(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// The root of the empty tree: SHA-256 of nothing (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Hash(Sha256::new().chain_update([0x00]).chain_update(data).finalize().into())
}

/// RFC 6962 node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut block = [0u8; 65];
    block[0] = 0x01;
    block[1..33].copy_from_slice(&left.0);
    block[33..].copy_from_slice(&right.0);
    Hash(Sha256::digest(block).into())
}

/// The largest power of two strictly smaller than `n` (`n` ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The right edge of a tree being built: the roots of its perfect subtrees, largest first. It
/// gives the root of the tree so far in O(log n) and takes a leaf in amortised one node hash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(height, hash)` of each perfect subtree, heights strictly decreasing.
    nodes: Vec<(u32, Hash)>,
}

impl Frontier {
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Leaves added so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds a leaf hash. `on_node(height, index, hash)` is called for every perfect subtree
    /// completed by this leaf (height 0 is the leaf itself), which is how the writer fills its
    /// hash tiles without hashing twice.
    pub fn push(&mut self, leaf: Hash, mut on_node: impl FnMut(u32, u64, &Hash)) {
        let mut height = 0u32;
        let mut hash = leaf;
        on_node(0, self.size, &hash);
        while let Some(&(h, left)) = self.nodes.last() {
            if h != height {
                break;
            }
            self.nodes.pop();
            hash = node_hash(&left, &hash);
            height += 1;
            on_node(height, self.size >> height, &hash);
        }
        self.nodes.push((height, hash));
        self.size += 1;
    }

    /// The root of the tree of the leaves added so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, last)) = iter.next() else {
            return empty_root();
        };
        iter.fold(last, |acc, (_, left)| node_hash(left, &acc))
    }
}

/// Where proofs find the hash of a perfect subtree: the node at `height` whose leaves are
/// `[index · 2^height, (index + 1) · 2^height)`. Height 0 is a leaf hash.
pub trait NodeSource {
    type Error;
    fn node(&self, height: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The RFC 6962 hash of leaves `[start, start + len)`, a subtree of a tree built by splitting at
/// the largest power of two (any range a proof asks for is one).
fn range_hash<S: NodeSource>(source: &S, start: u64, len: u64) -> Result<Hash, S::Error> {
    if len.is_power_of_two() && start.is_multiple_of(len) {
        return source.node(len.trailing_zeros(), start / len);
    }
    let k = split(len);
    let left = range_hash(source, start, k)?;
    let right = range_hash(source, start + k, len - k)?;
    Ok(node_hash(&left, &right))
}

/// Why a proof could not be built.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a tree of {old} leaves is not a prefix of one of {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("{0}")]
    Source(E),
}

/// The audit path of leaf `index` in the tree of `size` leaves (RFC 6962 §2.1.1 PATH), leaf side
/// first.
pub fn inclusion_proof<S: NodeSource>(source: &S, index: u64, size: u64) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    // Walk down from the root, remembering the sibling at each split; reversed at the end.
    let (mut start, mut len, mut m) = (0u64, size, index);
    while len > 1 {
        let k = split(len);
        if m < k {
            proof.push(range_hash(source, start + k, len - k).map_err(ProofError::Source)?);
            len = k;
        } else {
            proof.push(range_hash(source, start, k).map_err(ProofError::Source)?);
            start += k;
            len -= k;
            m -= k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The proof that the tree of `old` leaves is a prefix of the tree of `new` leaves (RFC 6962
/// §2.1.2 PROOF). Empty when `old` is 0 or equal to `new`.
pub fn consistency_proof<S: NodeSource>(source: &S, old: u64, new: u64) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut proof = Vec::new();
    // SUBPROOF(m, D[start:start+len], b), iteratively.
    let (mut start, mut len, mut m, mut whole) = (0u64, new, old, true);
    loop {
        if m == len {
            if !whole {
                proof.push(range_hash(source, start, len).map_err(ProofError::Source)?);
            }
            break;
        }
        let k = split(len);
        if m <= k {
            proof.push(range_hash(source, start + k, len - k).map_err(ProofError::Source)?);
            len = k;
        } else {
            proof.push(range_hash(source, start, k).map_err(ProofError::Source)?);
            start += k;
            len -= k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Why a proof does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyProofError {
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    #[error("the older tree ({old} leaves) is larger than the newer ({new})")]
    SizesOutOfOrder { old: u64, new: u64 },
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyProofError> {
    if index >= size {
        return Err(VerifyProofError::IndexOutOfRange { index, size });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(VerifyProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(VerifyProofError::WrongLength);
    }
    if r != *root {
        return Err(VerifyProofError::RootMismatch);
    }
    Ok(())
}

/// Checks a consistency proof between the tree of `old` leaves with root `old_root` and the tree
/// of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2; an empty old tree is a prefix of any
/// tree, and a tree is consistent with itself, both with an empty proof).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyProofError> {
    if old > new {
        return Err(VerifyProofError::SizesOutOfOrder { old, new });
    }
    if old == 0 || old == new {
        if !proof.is_empty() {
            return Err(VerifyProofError::WrongLength);
        }
        if old == new && old_root != new_root {
            return Err(VerifyProofError::RootMismatch);
        }
        return Ok(());
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(VerifyProofError::WrongLength);
    };
    let (mut f_n, mut s_n) = (old - 1, new - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return Err(VerifyProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(VerifyProofError::WrongLength);
    }
    if f_r != *old_root || s_r != *new_root {
        return Err(VerifyProofError::RootMismatch);
    }
    Ok(())
}

/// The leaves of a small tree in memory, as a [`NodeSource`] (tests, tools).
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    pub leaves: Vec<Hash>,
}

impl MemoryTree {
    /// RFC 6962 MTH of the first `size` leaves, recursively (the definition, for checking).
    pub fn root(&self, size: u64) -> Hash {
        if size == 0 {
            return empty_root();
        }
        range_hash(self, 0, size).unwrap_or_default()
    }
}

impl NodeSource for MemoryTree {
    type Error = std::convert::Infallible;
    fn node(&self, height: u32, index: u64) -> Result<Hash, Self::Error> {
        if height == 0 {
            return Ok(self.leaves.get(index as usize).copied().unwrap_or_default());
        }
        let left = self.node(height - 1, index * 2)?;
        let right = self.node(height - 1, index * 2 + 1)?;
        Ok(node_hash(&left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Hash {
        Hash::from_hex(s).unwrap()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// The eight leaves of the Certificate Transparency reference tests (merkle_tree_test.cc,
    /// transparency-dev/merkle proof/verify_test.go).
    fn ct_tree() -> MemoryTree {
        let data = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
        MemoryTree { leaves: data.iter().map(|d| leaf_hash(&unhex(d))).collect() }
    }

    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn ct_roots_for_sizes_1_to_8() {
        let tree = ct_tree();
        assert_eq!(tree.root(0).to_hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let mut frontier = Frontier::new();
        for (i, want) in CT_ROOTS.iter().enumerate() {
            assert_eq!(tree.root(i as u64 + 1), h(want), "size {}", i + 1);
            frontier.push(tree.leaves[i], |_, _, _| {});
            assert_eq!(frontier.root(), h(want), "frontier, size {}", i + 1);
        }
    }

    #[test]
    fn ct_inclusion_proofs() {
        let tree = ct_tree();
        // (leaf index, tree size, proof), from the CT reference tests (their leaf numbers are 1-based).
        let vectors: [(u64, u64, &[&str]); 5] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, want) in vectors {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            assert_eq!(inclusion_proof(&tree, index, size).unwrap(), want, "leaf {index} of {size}");
            let root = tree.root(size);
            let leaf = tree.leaves[index as usize];
            assert_eq!(verify_inclusion(index, size, &leaf, &want, &root), Ok(()));
            // The reference tests' corruptions: wrong index, size, leaf, root, extra or missing hashes.
            assert!(verify_inclusion(index + 1, size, &leaf, &want, &root).is_err());
            assert!(verify_inclusion(index, size * 2, &leaf, &want, &root).is_err());
            assert!(verify_inclusion(index, size, &leaf_hash(b"WrongLeaf"), &want, &root).is_err());
            assert!(verify_inclusion(index, size, &leaf, &want, &empty_root()).is_err());
            let mut longer = want.clone();
            longer.push(root);
            assert!(verify_inclusion(index, size, &leaf, &longer, &root).is_err());
            let mut preceded = vec![root];
            preceded.extend_from_slice(&want);
            assert!(verify_inclusion(index, size, &leaf, &preceded, &root).is_err());
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i].0[0] ^= 8;
                assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
            }
            if !want.is_empty() {
                assert!(verify_inclusion(index, size, &leaf, &want[..want.len() - 1], &root).is_err());
            }
        }
    }

    #[test]
    fn ct_consistency_proofs() {
        let tree = ct_tree();
        let vectors: [(u64, u64, &[&str]); 5] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (old, new, want) in vectors {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            assert_eq!(consistency_proof(&tree, old, new).unwrap(), want, "{old} → {new}");
            let (r1, r2) = (tree.root(old), tree.root(new));
            assert_eq!(verify_consistency(old, new, &r1, &r2, &want), Ok(()));
            if want.is_empty() {
                continue;
            }
            assert!(verify_consistency(old - 1, new, &r1, &r2, &want).is_err());
            assert!(verify_consistency(old + 1, new, &r1, &r2, &want).is_err());
            assert!(verify_consistency(old, new * 2, &r1, &r2, &want).is_err());
            assert!(verify_consistency(old, new, &r2, &r1, &want).is_err());
            assert!(verify_consistency(old, new, &r1, &r2, &[]).is_err());
            let mut longer = want.clone();
            longer.push(r1);
            assert!(verify_consistency(old, new, &r1, &r2, &longer).is_err());
            assert!(verify_consistency(old, new, &r1, &r2, &want[..want.len() - 1]).is_err());
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i].0[0] ^= 16;
                assert!(verify_consistency(old, new, &r1, &r2, &bad).is_err());
            }
        }
        // Always consistent, and time travel refused.
        let (r1, r2) = (tree.root(1), tree.root(2));
        assert_eq!(verify_consistency(0, 1, &r1, &r2, &[]), Ok(()));
        assert!(verify_consistency(1, 1, &r1, &r2, &[]).is_err());
        assert!(verify_consistency(2, 1, &r2, &r1, &[]).is_err());
    }

    fn random_tree(n: usize, seed: u64) -> MemoryTree {
        MemoryTree {
            leaves: (0..n).map(|i| leaf_hash(&[seed.to_be_bytes(), (i as u64).to_be_bytes()].concat())).collect(),
        }
    }

    proptest! {
        #[test]
        fn frontier_root_is_the_rfc_root(n in 0usize..300, seed: u64) {
            let tree = random_tree(n, seed);
            let mut frontier = Frontier::new();
            for l in &tree.leaves {
                frontier.push(*l, |_, _, _| {});
            }
            prop_assert_eq!(frontier.root(), tree.root(n as u64));
        }

        #[test]
        fn every_inclusion_proof_verifies_and_a_flipped_byte_fails(n in 1u64..300, i in 0u64..300, seed: u64, byte in 0usize..32) {
            let i = i % n;
            let tree = random_tree(n as usize, seed);
            let root = tree.root(n);
            let proof = inclusion_proof(&tree, i, n).unwrap();
            let leaf = tree.leaves[i as usize];
            prop_assert_eq!(verify_inclusion(i, n, &leaf, &proof, &root), Ok(()));
            let mut bad_leaf = leaf;
            bad_leaf.0[byte] ^= 1;
            prop_assert!(verify_inclusion(i, n, &bad_leaf, &proof, &root).is_err());
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k].0[byte] ^= 1;
                prop_assert!(verify_inclusion(i, n, &leaf, &bad, &root).is_err());
            }
        }

        #[test]
        fn every_consistency_proof_verifies_and_a_flipped_byte_fails(new in 1u64..300, old in 0u64..300, seed: u64, byte in 0usize..32) {
            let old = old % (new + 1);
            let tree = random_tree(new as usize, seed);
            let (r1, r2) = (tree.root(old), tree.root(new));
            let proof = consistency_proof(&tree, old, new).unwrap();
            prop_assert_eq!(verify_consistency(old, new, &r1, &r2, &proof), Ok(()));
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k].0[byte] ^= 1;
                prop_assert!(verify_consistency(old, new, &r1, &r2, &bad).is_err());
            }
            if old > 0 && old < new {
                let mut bad_root = r1;
                bad_root.0[byte] ^= 1;
                prop_assert!(verify_consistency(old, new, &bad_root, &r2, &proof).is_err());
            }
        }
    }
}
