//! A push source's write-ahead log: what was acknowledged is on disk before the answer.
//!
//! Segments `NNNNNNNNNNNNNNNNNNNN.wal` in one directory, appended only. A record is
//! `[len u32 LE][crc32 u32 LE][kind u8][payload]`, fsynced (`fdatasync`) before
//! [`Wal::append`] returns its [`Position`]: the segment and the offset just past
//! it, which the batch carries into the checkpoint. After a crash, [`Wal::replay`]
//! hands back every record after the checkpointed position; a torn last record
//! (short or failing its checksum) ends its segment there and is cut off. Once
//! a checkpoint covering a position is durable, [`Wal::truncate_before`] deletes
//! the segments wholly before it. The log is bounded: past `max_bytes`,
//! appends are refused and the source pushes back.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use faultline_core::Position;

/// Bytes of a record's header: length, checksum, kind.
const HEADER: u64 = 9;
/// Largest payload accepted, bytes.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The log holds `max_bytes` already: push back until a checkpoint frees room.
    #[error("the write-ahead log is full ({0} bytes)")]
    Full(u64),
    /// The disk said no.
    #[error("writing the write-ahead log: {0}")]
    Io(#[from] std::io::Error),
}

/// An open write-ahead log.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    /// Segment number → bytes, every segment on disk.
    segments: BTreeMap<u64, u64>,
    /// The segment appended to, and its length.
    active: u64,
    file: File,
    offset: u64,
    segment_bytes: u64,
    max_bytes: u64,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.wal"))
}

fn segments_in(dir: &Path) -> std::io::Result<BTreeMap<u64, u64>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|n| n.strip_suffix(".wal")).and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        out.insert(n, entry.metadata()?.len());
    }
    Ok(out)
}

impl Wal {
    /// Opens the log in `dir` (created if missing); appends go to a new
    /// segment after the existing ones. Segments roll past `segment_bytes`.
    pub fn open(dir: &Path, segment_bytes: u64, max_bytes: u64) -> std::io::Result<Wal> {
        std::fs::create_dir_all(dir)?;
        let mut segments = segments_in(dir)?;
        let active = segments.keys().next_back().map_or(1, |n| n + 1);
        let file = OpenOptions::new().create(true).append(true).open(segment_path(dir, active))?;
        File::open(dir)?.sync_all()?;
        segments.insert(active, 0);
        Ok(Wal { dir: dir.to_path_buf(), segments, active, file, offset: 0, segment_bytes, max_bytes })
    }

    /// Bytes on disk over every segment.
    pub fn bytes(&self) -> u64 {
        self.segments.values().sum()
    }

    /// Appends one record and syncs it: its position when this returns.
    pub fn append(&mut self, kind: u8, payload: &[u8]) -> Result<Position, AppendError> {
        let size = HEADER + payload.len() as u64;
        if payload.len() > MAX_RECORD_BYTES || self.bytes() + size > self.max_bytes {
            return Err(AppendError::Full(self.bytes()));
        }
        if self.offset > 0 && self.offset + size > self.segment_bytes {
            self.roll()?;
        }
        let mut record = Vec::with_capacity(size as usize);
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[kind]);
        crc.update(payload);
        record.extend_from_slice(&crc.finalize().to_le_bytes());
        record.push(kind);
        record.extend_from_slice(payload);
        let written = self.file.write_all(&record).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Leave no half record behind for the next append to follow.
            let _ = self.file.set_len(self.offset);
            return Err(e.into());
        }
        self.offset += size;
        self.segments.insert(self.active, self.offset);
        Ok(Position::Wal { segment: self.active, offset: self.offset })
    }

    /// Takes back the last record appended, which ended at `position` (its
    /// batch was not accepted after all, and the client will send it again).
    pub fn undo(&mut self, position: Position, size: usize) -> std::io::Result<()> {
        if position != (Position::Wal { segment: self.active, offset: self.offset }) {
            return Err(std::io::Error::other("undo of a record that is not the last one"));
        }
        self.offset -= HEADER + size as u64;
        self.file.set_len(self.offset)?;
        self.file.sync_data()?;
        self.segments.insert(self.active, self.offset);
        Ok(())
    }

    fn roll(&mut self) -> std::io::Result<()> {
        self.active += 1;
        self.file = OpenOptions::new().create(true).append(true).open(segment_path(&self.dir, self.active))?;
        File::open(&self.dir)?.sync_all()?;
        self.offset = 0;
        self.segments.insert(self.active, 0);
        Ok(())
    }

    /// Deletes every segment wholly before `position`'s (its state is in a durable checkpoint).
    pub fn truncate_before(&mut self, position: Position) -> std::io::Result<()> {
        let Position::Wal { segment, .. } = position else { return Ok(()) };
        let old: Vec<u64> = self.segments.range(..segment.min(self.active)).map(|(n, _)| *n).collect();
        for n in old {
            std::fs::remove_file(segment_path(&self.dir, n))?;
            self.segments.remove(&n);
        }
        Ok(())
    }

    /// Every record after `from` (all of them without a position), in order:
    /// `(kind, payload, position after it)`. A torn record ends its segment.
    pub fn replay(
        dir: &Path,
        from: Option<Position>,
        mut each: impl FnMut(u8, &[u8], Position),
    ) -> std::io::Result<u64> {
        if !dir.exists() {
            return Ok(0);
        }
        let (from_seg, from_off) = match from {
            Some(Position::Wal { segment, offset }) => (segment, offset),
            _ => (0, 0),
        };
        let mut n = 0;
        for (seg, _) in segments_in(dir)?.range(from_seg..) {
            let mut data = Vec::new();
            File::open(segment_path(dir, *seg))?.read_to_end(&mut data)?;
            let from = if *seg == from_seg { from_off } else { 0 };
            n += segment_records(&data, from, |kind, payload, end| {
                each(kind, payload, Position::Wal { segment: *seg, offset: end });
            });
        }
        Ok(n)
    }
}

/// The records in one segment's bytes from offset `from`, in order:
/// `(kind, payload, offset just past it)`; how many. A torn record (short
/// or failing its checksum) ends the segment there.
pub(crate) fn segment_records(data: &[u8], from: u64, mut each: impl FnMut(u8, &[u8], u64)) -> u64 {
    let mut n = 0;
    // `from` comes from a checkpoint: past the segment (even past `usize`), nothing follows it.
    let mut at = usize::try_from(from).unwrap_or(usize::MAX);
    while data.len().saturating_sub(at) >= HEADER as usize {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap_or_default());
        let end = at + HEADER as usize + len;
        if end > data.len() {
            break;
        }
        let kind = data[at + 8];
        let payload = &data[at + HEADER as usize..end];
        let mut h = crc32fast::Hasher::new();
        h.update(&[kind]);
        h.update(payload);
        if h.finalize() != crc {
            break;
        }
        each(kind, payload, end as u64);
        n += 1;
        at = end;
    }
    n
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn replayed(dir: &Path, from: Option<Position>) -> Vec<(u8, Vec<u8>, Position)> {
        let mut out = Vec::new();
        Wal::replay(dir, from, |k, p, pos| out.push((k, p.to_vec(), pos))).unwrap();
        out
    }

    #[test]
    fn appends_replay_after_a_position_roll_truncate_and_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 40, 200).unwrap();
        let a = wal.append(1, b"first record").unwrap();
        let b = wal.append(2, b"second record").unwrap();
        assert_eq!(a, Position::Wal { segment: 1, offset: 21 });
        assert_eq!(b, Position::Wal { segment: 2, offset: 22 }, "rolled past 40 bytes");
        let c = wal.append(1, b"third").unwrap();
        assert_eq!(replayed(dir.path(), None).len(), 3);
        assert_eq!(replayed(dir.path(), Some(a)).iter().map(|r| r.2).collect::<Vec<_>>(), vec![b, c]);
        assert!(replayed(dir.path(), Some(c)).is_empty());
        // Undo of the last record, as when the engine's queue refused its batch.
        let d = wal.append(1, b"refused").unwrap();
        wal.undo(d, 7).unwrap();
        assert_eq!(replayed(dir.path(), Some(c)), vec![]);
        // A checkpoint at `b` frees segment 1 only.
        wal.truncate_before(b).unwrap();
        assert_eq!(replayed(dir.path(), None).len(), 2);
        // Bounded: past 200 bytes an append is refused.
        let big = vec![7u8; 180];
        assert!(matches!(wal.append(1, &big), Err(AppendError::Full(_))));
        // Reopened, it appends to a new segment after the old ones.
        drop(wal);
        let mut wal = Wal::open(dir.path(), 40, 200).unwrap();
        let e = wal.append(3, b"after restart").unwrap();
        assert_eq!(e, Position::Wal { segment: 4, offset: 22 });
        assert_eq!(replayed(dir.path(), Some(c)).iter().map(|r| r.0).collect::<Vec<_>>(), vec![3]);
    }

    /// Issue 19 (fuzzing, `wal_segment`): a replay from an offset near `u64::MAX` overflowed
    /// `at + HEADER` (a panic in debug builds, an out-of-range slice in release ones).
    #[test]
    fn issue_19_a_position_past_the_segment_replays_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        let first = wal.append(1, b"kept").unwrap();
        drop(wal);
        let segment = std::fs::read(segment_path(dir.path(), 1)).unwrap();
        assert_eq!(first, Position::Wal { segment: 1, offset: segment.len() as u64 });
        for from in [u64::MAX, u64::MAX - 3, segment.len() as u64 + 1, segment.len() as u64] {
            assert_eq!(segment_records(&segment, from, |_, _, _| panic!("a record past {from}")), 0);
        }
        assert_eq!(segment_records(&segment, 0, |_, _, _| {}), 1);
        assert_eq!(replayed(dir.path(), Some(Position::Wal { segment: 1, offset: u64::MAX })), vec![]);
    }

    #[test]
    fn a_torn_or_corrupt_tail_ends_its_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        wal.append(1, b"kept").unwrap();
        wal.append(1, b"torn by a crash").unwrap();
        drop(wal);
        let path = segment_path(dir.path(), 1);
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 3).unwrap();
        assert_eq!(replayed(dir.path(), None).len(), 1);
        // A flipped byte fails the checksum.
        let mut data = std::fs::read(&path).unwrap();
        data[10] ^= 0xff;
        std::fs::write(&path, data).unwrap();
        assert!(replayed(dir.path(), None).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The `wal_segment` fuzz target's property: corrupt or torn segments never panic,
        /// and the records read are whole ones, exactly the bytes they were read from.
        #[test]
        fn corrupt_segments_yield_only_whole_records(
            records in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..20)), 0..4),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..3),
            cut in any::<prop::sample::Index>(),
            from in prop_oneof![0u64..40, Just(u64::MAX)],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut wal = Wal::open(dir.path(), 1 << 20, 1 << 20).unwrap();
            for (kind, payload) in &records {
                wal.append(*kind, payload).unwrap();
            }
            drop(wal);
            let mut data = std::fs::read(segment_path(dir.path(), 1)).unwrap();
            for (at, x) in &flips {
                if !data.is_empty() {
                    let i = at.index(data.len());
                    data[i] ^= x;
                }
            }
            data.truncate(cut.index(data.len() + 1));
            let mut rebuilt = Vec::new();
            let mut last = from;
            segment_records(&data, from, |kind, payload, end| {
                let mut crc = crc32fast::Hasher::new();
                crc.update(&[kind]);
                crc.update(payload);
                rebuilt.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                rebuilt.extend_from_slice(&crc.finalize().to_le_bytes());
                rebuilt.push(kind);
                rebuilt.extend_from_slice(payload);
                last = end;
            });
            if !rebuilt.is_empty() {
                prop_assert_eq!(&data[from as usize..last as usize], &rebuilt[..]);
            }
        }
    }
}
