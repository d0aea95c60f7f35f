//! A binary Merkle tree with domain-separated leaves and nodes, and inclusion proofs.
//!
//! Shape (both chains): level 0 is the leaf hashes in order; each next level hashes adjacent
//! pairs `node(left, right)`; an odd last element is carried up unchanged. The root of an empty
//! tree is 32 zero bytes; the root of one leaf is that leaf's hash. The hash functions differ per
//! chain ([`MerkleHasher`]).

use crate::codec::{DecodeError, Reader, Writer};
use crate::types::Hash32;

/// The two hash functions of a tree.
pub trait MerkleHasher {
    /// Hash of a leaf's data.
    fn leaf(data: &[u8]) -> Hash32;
    /// Hash of an internal node.
    fn node(left: &Hash32, right: &Hash32) -> Hash32;
}

/// Largest number of leaves a proof may claim (keeps the path length bounded).
pub const MAX_LEAVES: u32 = 1 << 24;

/// An inclusion proof of one leaf: its position, the tree's leaf count, and the sibling hashes
/// from the bottom up (levels where the leaf's ancestor is carried up have no sibling).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MerkleProof {
    /// Position of the leaf (0-based).
    pub index: u32,
    /// Number of leaves in the tree.
    pub leaves: u32,
    /// Sibling hashes, bottom up.
    pub siblings: Vec<Hash32>,
}

impl MerkleProof {
    /// Canonical encoding: `u32 index ‖ u32 leaves ‖ u32 count ‖ count × 32 bytes`.
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.index);
        w.u32(self.leaves);
        w.count(self.siblings.len());
        for s in &self.siblings {
            w.raw(&s.0);
        }
    }

    /// Decode (see [`MerkleProof::encode`]).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let index = r.u32()?;
        let leaves = r.u32()?;
        let n = r.count(32, 64)?;
        let mut siblings = Vec::with_capacity(n);
        for _ in 0..n {
            siblings.push(Hash32(r.array()?));
        }
        Ok(MerkleProof {
            index,
            leaves,
            siblings,
        })
    }

    /// Whether `leaf_data` is leaf `self.index` of a tree of `self.leaves` leaves with root
    /// `root`.
    pub fn verify<H: MerkleHasher>(&self, leaf_data: &[u8], root: &Hash32) -> bool {
        if self.index >= self.leaves || self.leaves > MAX_LEAVES {
            return false;
        }
        let mut h = H::leaf(leaf_data);
        let mut idx = self.index;
        let mut width = self.leaves;
        let mut sib = self.siblings.iter();
        while width > 1 {
            if idx % 2 == 1 {
                let Some(s) = sib.next() else { return false };
                h = H::node(s, &h);
            } else if idx + 1 < width {
                let Some(s) = sib.next() else { return false };
                h = H::node(&h, s);
            }
            idx /= 2;
            width = width.div_ceil(2);
        }
        sib.next().is_none() && &h == root
    }
}

/// The levels of a tree over `leaf_hashes` (level 0 first, root level last).
fn levels<H: MerkleHasher>(leaf_hashes: Vec<Hash32>) -> Vec<Vec<Hash32>> {
    let mut out = vec![leaf_hashes];
    while out.last().map_or(0, Vec::len) > 1 {
        let prev = out.last().map(Vec::as_slice).unwrap_or_default();
        let next: Vec<Hash32> = prev
            .chunks(2)
            .map(|c| match c {
                [l, r] => H::node(l, r),
                [x] => *x,
                _ => Hash32::ZERO,
            })
            .collect();
        out.push(next);
    }
    out
}

/// The root over the given leaf data.
pub fn root<H: MerkleHasher, D: AsRef<[u8]>>(leaves: &[D]) -> Hash32 {
    root_of_hashes::<H>(leaves.iter().map(|d| H::leaf(d.as_ref())).collect())
}

/// The root over already-hashed leaves.
pub fn root_of_hashes<H: MerkleHasher>(leaf_hashes: Vec<Hash32>) -> Hash32 {
    if leaf_hashes.is_empty() {
        return Hash32::ZERO;
    }
    levels::<H>(leaf_hashes)
        .last()
        .and_then(|l| l.first().copied())
        .unwrap_or(Hash32::ZERO)
}

/// The inclusion proof of leaf `index` among `leaves`, or `None` if out of range.
pub fn prove<H: MerkleHasher, D: AsRef<[u8]>>(leaves: &[D], index: usize) -> Option<MerkleProof> {
    prove_hashes::<H>(leaves.iter().map(|d| H::leaf(d.as_ref())).collect(), index)
}

/// The inclusion proof of leaf `index` among already-hashed leaves.
pub fn prove_hashes<H: MerkleHasher>(
    leaf_hashes: Vec<Hash32>,
    index: usize,
) -> Option<MerkleProof> {
    Tree::<H>::new(leaf_hashes).proof(index)
}

/// A built tree, for extracting several proofs without rehashing.
#[derive(Debug, Clone)]
pub struct Tree<H> {
    levels: Vec<Vec<Hash32>>,
    _h: std::marker::PhantomData<H>,
}

impl<H: MerkleHasher> Tree<H> {
    /// Build over already-hashed leaves.
    pub fn new(leaf_hashes: Vec<Hash32>) -> Self {
        Tree {
            levels: levels::<H>(leaf_hashes),
            _h: std::marker::PhantomData,
        }
    }

    /// The root (zero for an empty tree).
    pub fn root(&self) -> Hash32 {
        match self.levels.last() {
            Some(l) if l.len() == 1 => l[0],
            _ => Hash32::ZERO,
        }
    }

    /// The inclusion proof of leaf `index`, or `None` if out of range.
    pub fn proof(&self, index: usize) -> Option<MerkleProof> {
        let n = self.levels.first().map_or(0, Vec::len);
        if index >= n || n > MAX_LEAVES as usize {
            return None;
        }
        let mut siblings = Vec::new();
        let mut idx = index;
        for level in &self.levels[..self.levels.len() - 1] {
            let sib = idx ^ 1;
            if sib < level.len() {
                siblings.push(level[sib]);
            }
            idx /= 2;
        }
        Some(MerkleProof {
            index: u32::try_from(index).ok()?,
            leaves: u32::try_from(n).ok()?,
            siblings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[derive(Debug)]
    struct T;
    impl MerkleHasher for T {
        fn leaf(d: &[u8]) -> Hash32 {
            let mut h = Sha256::new();
            h.update([0]);
            h.update(d);
            Hash32(h.finalize().into())
        }
        fn node(l: &Hash32, r: &Hash32) -> Hash32 {
            let mut h = Sha256::new();
            h.update([1]);
            h.update(l.0);
            h.update(r.0);
            Hash32(h.finalize().into())
        }
    }

    #[test]
    fn every_leaf_of_every_size_proves() {
        for n in 1..=17usize {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 3]).collect();
            let r = root::<T, _>(&leaves);
            for i in 0..n {
                let p = prove::<T, _>(&leaves, i).unwrap();
                assert!(p.verify::<T>(&leaves[i], &r), "n={n} i={i}");
                assert!(!p.verify::<T>(b"other", &r));
                let mut wrong = p.clone();
                wrong.index = ((i + 1) % n) as u32;
                if n > 1 {
                    assert!(!wrong.verify::<T>(&leaves[i], &r), "n={n} i={i}");
                }
                let mut w = Writer::new();
                p.encode(&mut w);
                let b = w.finish();
                let d = crate::codec::decode_all(&b, MerkleProof::decode).unwrap();
                assert_eq!(d, p);
            }
        }
        assert_eq!(root::<T, Vec<u8>>(&[]), Hash32::ZERO);
    }
}
