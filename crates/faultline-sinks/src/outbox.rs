//! The durable outbox: every incident event is appended and fsynced here before any sink sees it.
//!
//! Segments `NNNNNNNNNNNNNNNNNNNN.log` in one directory, appended only, each
//! named after the sequence number of its first record. A record is
//! `[len u32 LE][crc32 u32 LE][seq u64 LE][action u8][key len u16 LE][dedup key][event JSON]`
//! (the checksum covers everything after it). [`Outbox::append`] writes a
//! batch and syncs it once. Each sink has a cursor (`cursors/NAME`: the last
//! sequence number it delivered, or dead-lettered), written atomically
//! (temporary file, fsync, rename) after each delivery; so after a crash a
//! sink re-delivers at most the one event that was in flight, with the same
//! (dedup key, action). A sink new to the outbox starts at its end (history
//! is not replayed to a new receiver).
//!
//! Pending records (after the slowest cursor) are also held in memory, so
//! workers read without touching the disk. Segments every cursor has passed
//! are deleted once a checkpoint covers them ([`Outbox::checkpointed`]).
//!
//! An event appended again with the same dedup key, action and content as one
//! the kept segments hold is skipped: after a crash the engine emits again
//! what it emitted since its last checkpoint, and those events are still on
//! disk (their segments are not deleted before a checkpoint covers them), so
//! a receiver gets no repeat beyond the one event in flight at the crash. The outbox is bounded by `max_bytes` of pending records: past
//! it the oldest pending `updated` events whose incident has a later event
//! pending are coalesced away (skipped by every sink: the later event carries
//! the incident's whole state), and a trigger (`opened`) or resolve is never
//! dropped; what cannot be coalesced stays, over the bound, and is reported.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Header bytes before the payload: length, checksum.
const FRAME: usize = 8;
/// Largest record accepted, bytes.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// What an incident event did, as the outbox keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A new incident (a trigger).
    Opened,
    /// The incident changed.
    Updated,
    /// The incident ended.
    Resolved,
}

impl Action {
    fn code(self) -> u8 {
        match self {
            Action::Opened => 0,
            Action::Updated => 1,
            Action::Resolved => 2,
        }
    }

    fn from_code(c: u8) -> Option<Action> {
        match c {
            0 => Some(Action::Opened),
            1 => Some(Action::Updated),
            2 => Some(Action::Resolved),
            _ => None,
        }
    }

    /// Its name in the incident JSON (`opened`, `updated`, `resolved`).
    pub fn parse(name: &str) -> Option<Action> {
        match name {
            "opened" => Some(Action::Opened),
            "updated" => Some(Action::Updated),
            "resolved" => Some(Action::Resolved),
            _ => None,
        }
    }

    /// `opened`, `updated` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Opened => "opened",
            Action::Updated => "updated",
            Action::Resolved => "resolved",
        }
    }
}

/// One incident event in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its sequence number: the outbox's order.
    pub seq: u64,
    /// The incident's dedup key.
    pub dedup_key: String,
    /// What it did.
    pub action: Action,
    /// The incident event as DESIGN.md's JSON.
    pub json: String,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The incident's dedup key.
    pub dedup_key: String,
    /// What it did.
    pub action: Action,
    /// The incident event as DESIGN.md's JSON.
    pub json: String,
}

/// Where a sink stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkState {
    /// Last sequence number delivered (or dead-lettered).
    pub cursor: u64,
    /// Events still to deliver.
    pub pending: u64,
}

/// An open outbox.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    /// First sequence number of each segment on disk → (its path's number, last seq in it).
    segments: BTreeMap<u64, u64>,
    active: u64,
    file: File,
    active_bytes: u64,
    segment_bytes: u64,
    max_bytes: u64,
    next_seq: u64,
    cursors: BTreeMap<String, u64>,
    /// Records after the slowest cursor, in order.
    pending: VecDeque<Entry>,
    pending_bytes: u64,
    /// Sequence numbers coalesced away (skipped by every sink).
    coalesced: std::collections::HashSet<u64>,
    /// Events coalesced since open.
    coalesced_total: u64,
    /// Content hashes of the records in the kept segments, by segment.
    seg_hashes: BTreeMap<u64, Vec<u64>>,
    /// The same hashes, for lookups.
    recent: std::collections::HashSet<u64>,
    /// Appends skipped as repeats since open.
    repeats_total: u64,
    /// Sequence numbers below this are covered by a durable checkpoint.
    covered: u64,
}

/// A record's content hash: dedup key, action and JSON (SipHash with fixed keys: the same across runs).
fn content_hash(key: &str, action: Action, json: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    #[allow(deprecated, reason = "SipHasher with fixed keys is stable across runs, as a hash kept on disk must be")]
    let mut h = std::hash::SipHasher::new_with_keys(0x6661_756c_746c_696e, 0x6f75_7462_6f78_0001);
    key.hash(&mut h);
    action.code().hash(&mut h);
    json.hash(&mut h);
    h.finish()
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

fn encode(seq: u64, e: &NewEntry) -> Vec<u8> {
    let key = e.dedup_key.as_bytes();
    let key_len = key.len().min(u16::MAX as usize);
    let mut body = Vec::with_capacity(11 + key_len + e.json.len());
    body.extend_from_slice(&seq.to_le_bytes());
    body.push(e.action.code());
    body.extend_from_slice(&(key_len as u16).to_le_bytes());
    body.extend_from_slice(&key[..key_len]);
    body.extend_from_slice(e.json.as_bytes());
    let mut out = Vec::with_capacity(FRAME + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The records of one segment's bytes, and the length of its whole records
/// (a torn or corrupt tail ends the segment there).
fn decode_all(bytes: &[u8]) -> (Vec<Entry>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= FRAME {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let crc = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let Some(body) = bytes.get(at + FRAME..at + FRAME + len) else { break };
        if len < 11 || crc32fast::hash(body) != crc {
            break;
        }
        let seq = u64::from_le_bytes(body[0..8].try_into().unwrap_or([0; 8]));
        let Some(action) = Action::from_code(body[8]) else { break };
        let key_len = u16::from_le_bytes([body[9], body[10]]) as usize;
        let (Some(key), Some(json)) = (body.get(11..11 + key_len), body.get(11 + key_len..)) else { break };
        let (Ok(key), Ok(json)) = (std::str::from_utf8(key), std::str::from_utf8(json)) else { break };
        out.push(Entry { seq, dedup_key: key.to_string(), action, json: json.to_string() });
        at += FRAME + len;
    }
    (out, at)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn valid_sink_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Outbox {
    /// Opens the outbox in `dir` (created if missing) for `sinks`: reads every
    /// segment (cutting a torn tail off the last), the cursors, and keeps what
    /// some sink still has to deliver. A sink without a cursor starts at the end.
    pub fn open(dir: &Path, sinks: &[String], segment_bytes: u64, max_bytes: u64) -> std::io::Result<Outbox> {
        std::fs::create_dir_all(dir.join("cursors"))?;
        for s in sinks {
            if !valid_sink_name(s) {
                return Err(std::io::Error::other(format!("sink name `{s}`: letters, digits, - and _ only")));
            }
        }
        let mut firsts: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse::<u64>().ok())
            .collect();
        firsts.sort_unstable();
        let mut records = Vec::new();
        let mut segments = BTreeMap::new();
        let mut seg_hashes: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (i, first) in firsts.iter().enumerate() {
            let path = segment_path(dir, *first);
            let mut bytes = Vec::new();
            File::open(&path)?.read_to_end(&mut bytes)?;
            let (entries, whole) = decode_all(&bytes);
            if whole < bytes.len() {
                tracing::warn!(segment = %path.display(), bytes = bytes.len() - whole, "outbox: cutting a torn record off");
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(whole as u64)?;
                f.sync_all()?;
                if i + 1 < firsts.len() {
                    tracing::warn!(segment = %path.display(), "outbox: a damaged segment before the last one");
                }
            }
            segments.insert(*first, entries.last().map_or(first.saturating_sub(1), |e| e.seq));
            seg_hashes.insert(*first, entries.iter().map(|e| content_hash(&e.dedup_key, e.action, &e.json)).collect());
            records.extend(entries);
        }
        let next_seq = records.last().map_or_else(|| segments.keys().next_back().copied().unwrap_or(1), |e| e.seq + 1);
        let mut cursors = BTreeMap::new();
        for s in sinks {
            let path = dir.join("cursors").join(s);
            let cursor = match std::fs::read_to_string(&path) {
                Ok(text) => text.trim().parse::<u64>().map_err(|_| {
                    std::io::Error::other(format!("{}: not a sequence number: {:?}", path.display(), text.trim()))
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // New: from the end on.
                    let c = next_seq - 1;
                    write_cursor(dir, s, c)?;
                    c
                }
                Err(e) => return Err(e),
            };
            cursors.insert(s.clone(), cursor.min(next_seq - 1));
        }
        let slowest = cursors.values().copied().min().unwrap_or(next_seq - 1);
        let pending: VecDeque<Entry> = records.into_iter().filter(|e| e.seq > slowest).collect();
        let pending_bytes = pending.iter().map(|e| (FRAME + 11 + e.dedup_key.len() + e.json.len()) as u64).sum();
        let active = next_seq;
        let file = OpenOptions::new().create(true).append(true).open(segment_path(dir, active))?;
        sync_dir(dir)?;
        segments.entry(active).or_insert(active - 1);
        let mut outbox = Outbox {
            dir: dir.to_path_buf(),
            segments,
            active,
            file,
            active_bytes: 0,
            segment_bytes: segment_bytes.max(1 << 10),
            max_bytes,
            next_seq,
            cursors,
            pending,
            pending_bytes,
            coalesced: Default::default(),
            coalesced_total: 0,
            recent: seg_hashes.values().flatten().copied().collect(),
            seg_hashes,
            repeats_total: 0,
            covered: 0,
        };
        outbox.coalesce();
        outbox.compact()?;
        Ok(outbox)
    }

    /// Appends `entries` in order and syncs them once: durable when this returns. An entry the
    /// kept segments already hold (same dedup key, action and content) is skipped as a repeat.
    /// The sequence numbers given.
    pub fn append(&mut self, entries: &[NewEntry]) -> std::io::Result<std::ops::Range<u64>> {
        let first = self.next_seq;
        let mut fresh: Vec<(&NewEntry, u64)> = Vec::with_capacity(entries.len());
        for e in entries {
            let h = content_hash(&e.dedup_key, e.action, &e.json);
            if self.recent.contains(&h) || fresh.iter().any(|(_, x)| *x == h) {
                self.repeats_total += 1;
                tracing::debug!(dedup_key = %e.dedup_key, action = e.action.as_str(), "outbox: a repeat of a kept event, skipped");
                continue;
            }
            fresh.push((e, h));
        }
        if fresh.is_empty() {
            return Ok(first..first);
        }
        if self.active_bytes >= self.segment_bytes {
            self.roll()?;
        }
        let mut bytes = Vec::new();
        for (i, (e, _)) in fresh.iter().enumerate() {
            if e.json.len() > MAX_RECORD_BYTES {
                return Err(std::io::Error::other(format!("an incident event of {} bytes", e.json.len())));
            }
            bytes.extend_from_slice(&encode(first + i as u64, e));
        }
        if let Err(e) = self.file.write_all(&bytes).and_then(|()| self.file.sync_data()) {
            let _ = self.file.set_len(self.active_bytes);
            return Err(e);
        }
        self.active_bytes += bytes.len() as u64;
        for (i, (e, h)) in fresh.iter().enumerate() {
            let seq = first + i as u64;
            self.pending_bytes += (FRAME + 11 + e.dedup_key.len() + e.json.len()) as u64;
            self.pending.push_back(Entry {
                seq,
                dedup_key: e.dedup_key.clone(),
                action: e.action,
                json: e.json.clone(),
            });
            self.recent.insert(*h);
            self.seg_hashes.entry(self.active).or_default().push(*h);
        }
        self.next_seq = first + fresh.len() as u64;
        self.segments.insert(self.active, self.next_seq - 1);
        self.coalesce();
        Ok(first..self.next_seq)
    }

    /// A durable checkpoint covers every event appended so far: segments
    /// every sink has passed may go now (the engine never emits them again).
    pub fn checkpointed(&mut self) -> std::io::Result<()> {
        self.covered = self.next_seq;
        self.compact()
    }

    fn roll(&mut self) -> std::io::Result<()> {
        self.active = self.next_seq;
        self.file = OpenOptions::new().create(true).append(true).open(segment_path(&self.dir, self.active))?;
        sync_dir(&self.dir)?;
        self.active_bytes = 0;
        self.segments.insert(self.active, self.active - 1);
        Ok(())
    }

    /// The next event `sink` has to deliver (coalesced ones skipped), if any.
    pub fn next_for(&self, sink: &str) -> Option<Entry> {
        let cursor = *self.cursors.get(sink)?;
        let start = self.pending.partition_point(|e| e.seq <= cursor);
        self.pending.iter().skip(start).find(|e| !self.coalesced.contains(&e.seq)).cloned()
    }

    /// `sink` is done with everything up to `seq` (delivered, or dead-lettered):
    /// its cursor is written durably, and what every sink has passed is freed.
    pub fn ack(&mut self, sink: &str, seq: u64) -> std::io::Result<()> {
        let Some(c) = self.cursors.get_mut(sink) else {
            return Err(std::io::Error::other(format!("no sink `{sink}` in the outbox")));
        };
        if seq <= *c {
            return Ok(());
        }
        *c = seq.min(self.next_seq - 1);
        write_cursor(&self.dir, sink, *c)?;
        self.compact()
    }

    /// Drops what every sink has passed from memory, and the segments wholly before it from disk.
    fn compact(&mut self) -> std::io::Result<()> {
        let slowest = self.cursors.values().copied().min().unwrap_or(self.next_seq - 1);
        while self.pending.front().is_some_and(|e| e.seq <= slowest) {
            if let Some(e) = self.pending.pop_front() {
                self.pending_bytes -= (FRAME + 11 + e.dedup_key.len() + e.json.len()) as u64;
                self.coalesced.remove(&e.seq);
            }
        }
        let done: Vec<u64> = self
            .segments
            .iter()
            .filter(|(first, last)| **first != self.active && **last <= slowest && **last < self.covered)
            .map(|(first, _)| *first)
            .collect();
        for first in done {
            std::fs::remove_file(segment_path(&self.dir, first))?;
            self.segments.remove(&first);
            for h in self.seg_hashes.remove(&first).unwrap_or_default() {
                self.recent.remove(&h);
            }
        }
        Ok(())
    }

    /// Past the bound: skips the oldest pending `updated` events whose incident
    /// has a later pending event, until back under it (or nothing more can go).
    fn coalesce(&mut self) {
        if self.pending_bytes <= self.max_bytes {
            return;
        }
        let fastest_read = self.cursors.values().copied().max().unwrap_or(0);
        let mut latest: HashMap<&str, u64> = HashMap::new();
        for e in &self.pending {
            latest.insert(e.dedup_key.as_str(), e.seq);
        }
        let mut over = self.pending_bytes - self.max_bytes;
        let mut dropped = Vec::new();
        for e in &self.pending {
            if over == 0 {
                break;
            }
            // Only what no sink has reached yet, so every sink skips the same events.
            if e.seq <= fastest_read || e.action != Action::Updated || self.coalesced.contains(&e.seq) {
                continue;
            }
            if latest.get(e.dedup_key.as_str()).is_some_and(|l| *l > e.seq) {
                let size = (FRAME + 11 + e.dedup_key.len() + e.json.len()) as u64;
                over = over.saturating_sub(size);
                dropped.push(e.seq);
            }
        }
        if !dropped.is_empty() {
            tracing::warn!(
                coalesced = dropped.len(),
                max_bytes = self.max_bytes,
                "outbox full: older updates coalesced into later ones"
            );
        }
        self.coalesced_total += dropped.len() as u64;
        self.coalesced.extend(dropped);
        if over > 0 {
            tracing::warn!(
                pending_bytes = self.pending_bytes,
                max_bytes = self.max_bytes,
                "outbox over its bound with nothing left to coalesce: triggers and resolves are kept"
            );
        }
    }

    /// Where `sink` stands.
    pub fn state(&self, sink: &str) -> Option<SinkState> {
        let cursor = *self.cursors.get(sink)?;
        let pending = self.pending.iter().filter(|e| e.seq > cursor && !self.coalesced.contains(&e.seq)).count();
        Some(SinkState { cursor, pending: pending as u64 })
    }

    /// Bytes of the records some sink has still to deliver.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    /// Events coalesced away since open.
    pub fn coalesced_total(&self) -> u64 {
        self.coalesced_total
    }

    /// Appends skipped as repeats of kept events since open.
    pub fn repeats_total(&self) -> u64 {
        self.repeats_total
    }

    /// The sequence number the next append gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

fn write_cursor(dir: &Path, sink: &str, seq: u64) -> std::io::Result<()> {
    let cursors = dir.join("cursors");
    let tmp = cursors.join(format!(".{sink}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(format!("{seq}\n").as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, cursors.join(sink))?;
    sync_dir(&cursors)
}

#[cfg(test)]
mod tests;
