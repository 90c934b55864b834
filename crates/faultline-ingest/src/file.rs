//! The file source: JSON lines from a checkpointed position, to the end or followed like `tail -F`.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use faultline_core::position::{FINGERPRINT_BYTES, fingerprint};
use faultline_core::{Millis, Position};

use crate::decode::LineDecoder;
use crate::line::{MAX_LINE_BYTES, read_line};
use crate::source::{BatchSender, Source, SourceBatch, StartAt};

/// How often a followed file is polled for new data or rotation.
const POLL: Duration = Duration::from_millis(100);

/// One file, one partition (named after the source). Lines are decoded on
/// the source's thread; each batch carries the file's fingerprint and the
/// byte offset just past its last whole line. On start, a checkpointed
/// position is resumed only if the file still begins with the bytes it was
/// fingerprinted on and is at least that long; otherwise the file was
/// replaced and is read from its start.
#[derive(Debug)]
pub struct FileSource {
    name: String,
    path: PathBuf,
    follow: bool,
    batch_events: usize,
    max_lines_per_second: Option<u32>,
    decoder: LineDecoder,
    clock: fn() -> Millis,
}

impl FileSource {
    /// A source named `name` reading `path` (to its end, or followed when
    /// `follow`), sending batches of about `batch_events` events, decoding
    /// with `decoder`. `clock` gives the processing time for the
    /// future-horizon check.
    pub fn new(name: &str, path: PathBuf, follow: bool, decoder: LineDecoder, clock: fn() -> Millis) -> FileSource {
        FileSource {
            name: name.to_string(),
            path,
            follow,
            batch_events: 1024,
            max_lines_per_second: None,
            decoder,
            clock,
        }
    }

    /// Events per batch, about (at least 1).
    pub fn batch_events(mut self, n: usize) -> FileSource {
        self.batch_events = n.max(1);
        self
    }

    /// Paces reading to at most this many lines per second.
    pub fn max_lines_per_second(mut self, rate: Option<u32>) -> FileSource {
        self.max_lines_per_second = rate;
        self
    }
}

impl Source for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(mut self: Box<Self>, start: StartAt, out: BatchSender, stop: Arc<AtomicBool>) -> std::io::Result<()> {
        let _span = tracing::info_span!("source", name = %self.name).entered();
        let resume = start.get(&self.name).copied();
        self.read(resume, &out, &stop)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }
}

/// The file being read: its reader, identity and first bytes.
struct OpenFile {
    reader: BufReader<File>,
    inode: u64,
    head: Vec<u8>,
    offset: u64,
}

impl OpenFile {
    fn position(&self) -> Position {
        let covered = self.head.len().min(usize::try_from(self.offset).unwrap_or(usize::MAX));
        Position::File { fingerprint: fingerprint(&self.head[..covered]), offset: self.offset }
    }

    /// Keeps the first bytes of the file for its fingerprint, as lines past them are read.
    fn note_head(&mut self, line_start: u64, line: &[u8]) {
        let have = self.head.len() as u64;
        if have >= FINGERPRINT_BYTES as u64 || line_start > have {
            return;
        }
        let from = (have - line_start) as usize;
        if from < line.len() {
            let take = (FINGERPRINT_BYTES - self.head.len()).min(line.len() - from);
            self.head.extend_from_slice(&line[from..from + take]);
        }
    }
}

impl FileSource {
    fn read(&mut self, resume: Option<Position>, out: &BatchSender, stop: &AtomicBool) -> std::io::Result<()> {
        // Like `tail -F`, a followed file that does not exist yet is waited for.
        let mut file = loop {
            match self.open(resume) {
                Ok(opened) => break opened,
                Err(err) if self.follow && err.kind() == std::io::ErrorKind::NotFound => {
                    if stop.load(Ordering::Acquire) {
                        return Ok(());
                    }
                    std::thread::sleep(POLL);
                }
                Err(err) => return Err(err),
            }
        };
        let mut batch = SourceBatch::default();
        let mut line = Vec::new();
        let started = Instant::now();
        let mut n_lines = 0u64;
        // Set once the path names another file: the old one is read to its end first.
        let mut rotation_seen = false;
        // Set while the rest of a too-long line still being written is dropped.
        let mut skipping = false;
        loop {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            line.clear();
            let read = read_line(&mut file.reader, &mut line, MAX_LINE_BYTES)?;
            let n = read.consumed;
            if skipping {
                file.offset += n as u64;
                skipping = !read.complete;
                if n > 0 {
                    continue;
                }
            } else if read.too_long {
                file.note_head(file.offset, &line);
                file.offset += n as u64;
                self.decoder.reject_too_long(n as u64, &mut batch);
                skipping = !read.complete && self.follow;
                continue;
            }
            let complete = read.complete;
            if n > 0 && (complete || !self.follow) {
                // A partial last line is only taken when not following.
                file.note_head(file.offset, &line);
                file.offset += n as u64;
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                self.decoder.decode_line(text, Some((self.clock)()), &mut batch);
                n_lines += 1;
                if let Some(rate) = self.max_lines_per_second {
                    let due = Duration::from_secs_f64(n_lines as f64 / f64::from(rate));
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        if !self.flush(&file, &mut batch, out) {
                            return Ok(());
                        }
                        std::thread::sleep(wait);
                    }
                }
                if (batch.events.len() >= self.batch_events || batch.bytes >= 1 << 20)
                    && !self.flush(&file, &mut batch, out)
                {
                    return Ok(());
                }
                if complete {
                    continue;
                }
            } else if n > 0 {
                // Unread the partial line: it is read again once complete.
                file.reader.seek(SeekFrom::Start(file.offset))?;
            }
            if !self.flush(&file, &mut batch, out) {
                return Ok(());
            }
            if !self.follow {
                out.end(0);
                return Ok(());
            }
            if rotation_seen {
                // Like `tail -F`: the old file was read to its end; the new one is read from its start.
                tracing::info!(path = %self.path.display(), "file rotated or truncated: reading from the start");
                match self.open(None) {
                    Ok(fresh) => {
                        file = fresh;
                        rotation_seen = false;
                    }
                    Err(err) => tracing::warn!(error = %err, "reopening"),
                }
                continue;
            }
            std::thread::sleep(POLL);
            // Lines written to the old file before it was moved are read on the next pass, then the switch.
            rotation_seen = self.rotated(&file);
        }
    }

    /// Sends what the batch holds (nothing when empty); `false` once the engine has stopped.
    fn flush(&self, file: &OpenFile, batch: &mut SourceBatch, out: &BatchSender) -> bool {
        if batch.records == 0 {
            return true;
        }
        let mut full = std::mem::take(batch);
        full.position = Some(file.position());
        batch.events.reserve(self.batch_events);
        out.send(full)
    }

    /// Opens the file at the checkpointed position when it is still the same
    /// file, else at its start.
    fn open(&self, resume: Option<Position>) -> std::io::Result<OpenFile> {
        let mut f = File::open(&self.path)?;
        let meta = f.metadata()?;
        let mut head = Vec::with_capacity(FINGERPRINT_BYTES);
        (&mut f).take(FINGERPRINT_BYTES as u64).read_to_end(&mut head)?;
        let offset = match resume {
            None => 0,
            Some(Position::File { fingerprint: fp, offset }) => {
                let covered = head.len().min(usize::try_from(offset).unwrap_or(usize::MAX));
                if meta.len() >= offset && fingerprint(&head[..covered]) == fp {
                    offset
                } else {
                    tracing::warn!(path = %self.path.display(), "not the file the checkpoint read: reading from its start");
                    0
                }
            }
            // Checkpoint format 2 kept the offset alone: trusted unless the file is shorter.
            Some(Position::Offset(offset)) if meta.len() >= offset => offset,
            Some(other) => {
                tracing::warn!(position = ?other, "not a file position: reading from the start");
                0
            }
        };
        f.seek(SeekFrom::Start(offset))?;
        Ok(OpenFile { reader: BufReader::with_capacity(1 << 16, f), inode: meta.ino(), head, offset })
    }

    /// True when the path now names another file (rotated) or a shorter one (truncated).
    fn rotated(&self, file: &OpenFile) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.ino() != file.inode || m.len() < file.offset)
    }
}
