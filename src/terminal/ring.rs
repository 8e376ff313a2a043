//! The replay buffer of a resumable session: the last `capacity` bytes of its output, addressed
//! by absolute offset in the session's output stream (the first byte ever output is offset 0).

use std::collections::VecDeque;

use bytes::Bytes;

/// Output kept for replay, with the offsets it spans.
#[derive(Debug)]
pub struct Ring {
    bytes: VecDeque<u8>,
    capacity: usize,
    /// The offset of the first byte still kept.
    start: u64,
}

/// Where a reader at some offset stands against what the ring keeps.
#[derive(Debug, PartialEq, Eq)]
pub enum Standing {
    /// The bytes from that offset to the end are all kept.
    Kept,
    /// Some of them were dropped: only a snapshot of the screen can catch up.
    Dropped,
    /// The offset is past the end: nothing was ever output there.
    Ahead,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        Self {
            bytes: VecDeque::new(),
            capacity: capacity.max(1),
            start: 0,
        }
    }

    /// The offset of the first byte kept.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The offset just past the last byte output: the session's live position.
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Bytes held, for the memory metric.
    pub fn held(&self) -> usize {
        self.bytes.len()
    }

    /// Appends output, dropping the oldest bytes past the capacity.
    pub fn push(&mut self, chunk: &[u8]) {
        let chunk = if chunk.len() > self.capacity {
            let skipped = chunk.len() - self.capacity;
            self.start += (self.bytes.len() + skipped) as u64;
            self.bytes.clear();
            &chunk[skipped..]
        } else {
            chunk
        };
        let over = (self.bytes.len() + chunk.len()).saturating_sub(self.capacity);
        self.bytes.drain(..over);
        self.start += over as u64;
        self.bytes.extend(chunk);
    }

    pub fn position(&self, offset: u64) -> Standing {
        if offset > self.end() {
            Standing::Ahead
        } else if offset < self.start {
            Standing::Dropped
        } else {
            Standing::Kept
        }
    }

    /// Up to `max` bytes from `offset`, which must be kept.
    pub fn read(&self, offset: u64, max: usize) -> Bytes {
        debug_assert_eq!(self.position(offset), Standing::Kept);
        let from = (offset.saturating_sub(self.start)) as usize;
        let to = (from + max).min(self.bytes.len());
        let mut out = Vec::with_capacity(to - from);
        out.extend(self.bytes.range(from..to));
        out.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_addressed_by_absolute_offset_and_the_oldest_go_first() {
        let mut ring = Ring::new(8);
        ring.push(b"abcdef");
        assert_eq!((ring.start(), ring.end()), (0, 6));
        assert_eq!(&ring.read(2, 3)[..], b"cde");
        ring.push(b"ghij");
        assert_eq!((ring.start(), ring.end()), (2, 10));
        assert_eq!(&ring.read(2, 100)[..], b"cdefghij");
        assert_eq!(ring.position(1), Standing::Dropped);
        assert_eq!(ring.position(10), Standing::Kept);
        assert_eq!(ring.position(11), Standing::Ahead);
        ring.push(b"0123456789xyz");
        assert_eq!((ring.start(), ring.end()), (15, 23));
        assert_eq!(&ring.read(15, 100)[..], b"56789xyz");
        assert_eq!(ring.held(), 8);
    }

    #[test]
    fn any_sequence_of_chunks_keeps_exactly_the_last_capacity_bytes() {
        let mut all = Vec::new();
        let mut ring = Ring::new(100);
        for n in 0..500usize {
            let chunk: Vec<u8> = (0..(n * 7919) % 230).map(|i| (n + i) as u8).collect();
            ring.push(&chunk);
            all.extend_from_slice(&chunk);
            assert_eq!(ring.end(), all.len() as u64);
            let kept = all.len().min(100);
            assert_eq!(ring.start(), (all.len() - kept) as u64);
            assert_eq!(
                &ring.read(ring.start(), usize::MAX)[..],
                &all[all.len() - kept..]
            );
        }
    }
}
