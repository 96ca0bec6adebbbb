//! The per-thread index from a token's bytes to its entry in the token cache
//! ([`crate::features`], `CharWeighting::Token`).
//!
//! Every token of every text is looked up here, in a table of up to 200 000 tokens that no
//! CPU cache holds, so each lookup is a cache miss. A general hash map also keeps the key
//! bytes on the heap, a second miss. This table keeps tokens of up to 16 bytes (nearly all)
//! inside the slot with their full 64-bit hash, and lets the caller hash a text's tokens and
//! [`TokenIndex::prefetch`] their slots before probing, so the misses of one text overlap.
//! Lookups always compare the bytes: a hash collision can cost time, never a wrong entry.

use std::hash::Hasher;

use rustc_hash::FxHasher;

use crate::memory::{huge_vec, prefetch};

/// Tokens up to this many bytes are stored in their slot.
const INLINE: usize = 16;

/// Slots when the table is first used (it doubles when half full).
const INITIAL_SLOTS: usize = 1024;

#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
struct Slot {
    hash: u64,
    /// The entry; `u32::MAX` marks an empty slot.
    entry: u32,
    len: u32,
    /// The token's bytes (`len <= INLINE`), or the offset of its bytes in
    /// [`TokenIndex::long`] in the first four bytes.
    bytes: [u8; INLINE],
}

const EMPTY: Slot = Slot {
    hash: 0,
    entry: u32::MAX,
    len: 0,
    bytes: [0; INLINE],
};

/// Token bytes -> `u32` entry, open addressing with linear probing, at most half full.
#[derive(Debug, Default)]
pub(crate) struct TokenIndex {
    slots: Vec<Slot>,
    /// The bytes of the tokens longer than [`INLINE`], one after another.
    long: Vec<u8>,
    len: usize,
}

impl TokenIndex {
    /// The hash [`Self::get`], [`Self::insert`] and [`Self::prefetch`] take for `token`.
    #[inline]
    pub(crate) fn hash(token: &[u8]) -> u64 {
        let mut h = FxHasher::default();
        h.write(token);
        // Mixed so that the top bits, which pick the slot, depend on every input bit.
        h.finish().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ token.len() as u64
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Forgets every token, keeping the memory.
    pub(crate) fn clear(&mut self) {
        self.slots.fill(EMPTY);
        self.long.clear();
        self.len = 0;
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        // The length is a power of two; the hash's high bits are the best mixed.
        (hash >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// Starts loading the slot where a token of hash `hash` would be (see [`prefetch`]).
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        if !self.slots.is_empty() {
            prefetch(&self.slots, self.home(hash));
        }
    }

    /// The entry of `token` (whose [`Self::hash`] is `hash`), if it was inserted.
    #[inline]
    pub(crate) fn get(&self, token: &[u8], hash: u64) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        loop {
            let slot = &self.slots[i];
            if slot.entry == u32::MAX {
                return None;
            }
            if slot.hash == hash && slot.len as usize == token.len() && self.holds(slot, token) {
                return Some(slot.entry);
            }
            i = (i + 1) & mask;
        }
    }

    /// Whether `slot` (of the same length, checked by the caller) holds `token`.
    #[inline]
    fn holds(&self, slot: &Slot, token: &[u8]) -> bool {
        let n = token.len();
        if n <= INLINE {
            // At most two overlapping word loads from each side: no copy of the token
            // through the stack, whose 16-byte reload right after the byte stores stalls
            // (the store cannot be forwarded): it was a tenth of this path's time.
            let b = &slot.bytes;
            if n >= 8 {
                word::<8>(token, 0) == word::<8>(b, 0)
                    && word::<8>(token, n - 8) == word::<8>(b, n - 8)
            } else if n >= 4 {
                word::<4>(token, 0) == word::<4>(b, 0)
                    && word::<4>(token, n - 4) == word::<4>(b, n - 4)
            } else {
                // 0 to 3 bytes: the first, middle and last cover them all.
                n == 0 || (token[0] == b[0] && token[n / 2] == b[n / 2] && token[n - 1] == b[n - 1])
            }
        } else {
            let at =
                u32::from_le_bytes([slot.bytes[0], slot.bytes[1], slot.bytes[2], slot.bytes[3]])
                    as usize;
            self.long[at..at + token.len()] == *token
        }
    }

    /// Inserts `token` (not present; `hash` is its [`Self::hash`]) with `entry`.
    pub(crate) fn insert(&mut self, token: &[u8], hash: u64, entry: u32) {
        debug_assert!(entry != u32::MAX);
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let mut bytes = [0u8; INLINE];
        if token.len() <= INLINE {
            bytes[..token.len()].copy_from_slice(token);
        } else {
            let at = u32::try_from(self.long.len()).expect("token bytes stay under 4 GiB");
            bytes[..4].copy_from_slice(&at.to_le_bytes());
            self.long.extend_from_slice(token);
        }
        let len = u32::try_from(token.len()).expect("a token is shorter than 4 GiB");
        self.place(Slot {
            hash,
            entry,
            len,
            bytes,
        });
        self.len += 1;
    }

    fn place(&mut self, slot: Slot) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(slot.hash);
        while self.slots[i].entry != u32::MAX {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow(&mut self) {
        let n = (2 * self.slots.len()).max(INITIAL_SLOTS);
        let old = std::mem::replace(&mut self.slots, huge_vec(n, std::iter::repeat_n(EMPTY, n)));
        for slot in old.into_iter().filter(|s| s.entry != u32::MAX) {
            self.place(slot);
        }
    }
}

/// The `N` bytes of `bytes` from `at`, as one unaligned load.
#[inline(always)]
fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes[at..at + N].try_into().expect("N bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let mut index = TokenIndex::default();
        let long = "x".repeat(40);
        let tokens: Vec<Vec<u8>> = (0..5000)
            .map(|i| format!("tok{i}").into_bytes())
            .chain([
                Vec::new(),
                long.clone().into_bytes(),
                b"0123456789abcdef".to_vec(),
            ])
            .chain((0..50).map(|i| format!("{long}{i}").into_bytes()))
            .collect();
        for (i, t) in tokens.iter().enumerate() {
            let h = TokenIndex::hash(t);
            assert_eq!(index.get(t, h), None);
            index.insert(t, h, i as u32);
        }
        assert_eq!(index.len(), tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            assert_eq!(index.get(t, TokenIndex::hash(t)), Some(i as u32));
        }
        for t in [
            &b"tok5000"[..],
            b"0123456789abcdeg",
            b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0x",
        ] {
            assert_eq!(index.get(t, TokenIndex::hash(t)), None);
        }
        index.clear();
        assert_eq!(index.len(), 0);
        assert_eq!(index.get(b"tok1", TokenIndex::hash(b"tok1")), None);
    }

    #[test]
    fn a_token_differing_in_any_one_byte_is_another_token() {
        // Every length around the inline limit and the word sizes, every position.
        for len in 0..=INLINE + 3 {
            let token: Vec<u8> = (0..len as u8).map(|i| b'a' + i).collect();
            let mut index = TokenIndex::default();
            // One hash for all, so that the bytes alone decide.
            index.insert(&token, 9, 1);
            assert_eq!(index.get(&token, 9), Some(1), "len {len}");
            for pos in 0..len {
                let mut other = token.clone();
                other[pos] = b'#';
                assert_eq!(index.get(&other, 9), None, "len {len}, byte {pos}");
            }
        }
    }

    #[test]
    fn equal_hashes_still_compare_the_bytes() {
        let mut index = TokenIndex::default();
        // Two different tokens forced onto one hash, short and long.
        index.insert(b"alpha", 42, 1);
        index.insert(b"omega", 42, 2);
        let a = "a".repeat(20);
        let b = "b".repeat(20);
        index.insert(a.as_bytes(), 7, 3);
        index.insert(b.as_bytes(), 7, 4);
        assert_eq!(index.get(b"alpha", 42), Some(1));
        assert_eq!(index.get(b"omega", 42), Some(2));
        assert_eq!(index.get(b"gamma", 42), None);
        assert_eq!(index.get(a.as_bytes(), 7), Some(3));
        assert_eq!(index.get(b.as_bytes(), 7), Some(4));
    }
}
