//! Source positions: each source's own checkpointable value of how far its input was taken.

use serde::{Deserialize, Serialize};

/// How far a source partition's input has been taken into the engine: the
/// point just past the last record of the last batch it sent. Saved in the
/// same checkpoint as the window, detector and incident state, so state and
/// input agree after any restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Position {
    /// A file: a fingerprint of its first bytes (so a replaced file is not
    /// resumed mid-way) and the byte offset.
    File {
        /// FNV-1a of the first `min(offset, FINGERPRINT_BYTES)` bytes.
        fingerprint: u64,
        /// Byte offset just past the last whole line taken.
        offset: u64,
    },
    /// A push source's write-ahead log: segment and offset within it.
    Wal {
        /// Segment number.
        segment: u64,
        /// Byte offset in the segment.
        offset: u64,
    },
    /// A partitioned log (a Kafka partition): the next offset to read.
    Partition {
        /// Offset of the next record.
        next_offset: i64,
    },
    /// A bare byte offset: what checkpoint format 2 and older stored for a file.
    Offset(u64),
}

/// Bytes of a file's start that its fingerprint covers.
pub const FINGERPRINT_BYTES: usize = 256;

/// The fingerprint of a file whose first bytes are `head` (at most
/// [`FINGERPRINT_BYTES`] of them are used): FNV-1a, 64 bits.
pub fn fingerprint(head: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &head[..head.len().min(FINGERPRINT_BYTES)] {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips_and_old_offsets_still_read() {
        for p in [
            Position::File { fingerprint: 7, offset: 42 },
            Position::Wal { segment: 3, offset: 9 },
            Position::Partition { next_offset: 12 },
            Position::Offset(42),
        ] {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Position>(&json).unwrap(), p, "{json}");
        }
        assert_eq!(serde_json::from_str::<Position>("42").unwrap(), Position::Offset(42));
    }

    #[test]
    fn fingerprint_covers_the_head_only() {
        let a = [b'a'; 300];
        let mut b = a;
        b[299] = b'b';
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b[10] = b'b';
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(b""), fingerprint(b"x"));
    }
}
