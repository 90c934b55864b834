//! The file source: lines from a checkpointed position, to the end or followed like `tail -F`.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use faultline_core::position::{FINGERPRINT_BYTES, fingerprint};
use faultline_core::{Millis, Position};

use crate::batches::{LineBatches, with_line_batches};
use crate::decode::LineDecoder;
use crate::line::{MAX_LINE_BYTES, read_line};
use crate::source::{BatchSender, Source, SourceBatch, StartAt};

/// How often a followed file is polled for new data or rotation.
const POLL: Duration = Duration::from_millis(100);

/// One file, one partition (named after the source). Lines are decoded on
/// the source's thread; each batch carries the file's fingerprint (of its
/// first [`FINGERPRINT_BYTES`] bytes, or of all of it up to the offset when
/// shorter) and the byte offset just past its last whole line.
///
/// A file is known by device and inode while it is read, checked against its
/// first bytes, so a rotated file (moved away, or truncated, or a new file on
/// a reused inode) is noticed: the old one is read to its end, then the new
/// one from its start. On start, a checkpointed position is resumed only if
/// the file still begins with the bytes it was fingerprinted on and is at
/// least that long; if not, the file was rotated while Faultline was down:
/// a sibling that is the checkpointed file (`app.log.1`, `app.log-20261207`,
/// by its fingerprint; compressed ones are not read) is read from the
/// position to its end first, so its last lines are neither skipped nor read
/// twice, then the file from its start.
#[derive(Debug)]
pub struct FileSource {
    name: String,
    path: PathBuf,
    follow: bool,
    batch_events: usize,
    max_lines_per_second: Option<u32>,
    decoder: LineDecoder,
    decoders: usize,
    clock: fn() -> Millis,
}

impl FileSource {
    /// A source named `name` reading `path` (to its end, or followed when
    /// `follow`), sending batches of about `batch_events` events, decoding
    /// with `decoder`. `clock` gives the processing time for the
    /// future-horizon check.
    pub fn new(name: &str, path: PathBuf, follow: bool, decoder: LineDecoder, clock: fn() -> Millis) -> FileSource {
        let decoder = decoder.with_origin(path.display().to_string());
        FileSource {
            name: name.to_string(),
            path,
            follow,
            batch_events: 1024,
            max_lines_per_second: None,
            decoder,
            decoders: 1,
            clock,
        }
    }

    /// Decodes on `n` threads beside the reading one (1, the default: on the
    /// reading thread); formats whose lines depend on the ones before (syslog)
    /// always decode on the reading thread. The batches' events are the same either way.
    pub fn decoders(mut self, n: usize) -> FileSource {
        self.decoders = n.max(1);
        self
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
    dev: u64,
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
        let (mut file, mut draining_rotated) = loop {
            match self.open_resumed(resume) {
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
        // The decoder moves into the batches for the loop (a fork, never used, takes its place).
        let idle = self.decoder.fork("");
        let mut decoder = std::mem::replace(&mut self.decoder, idle);
        let send = |batch: SourceBatch| out.send(batch);
        let read = with_line_batches(&mut decoder, self.decoders, self.batch_events, send, |lines| {
            self.read_lines(&mut file, &mut draining_rotated, lines, stop)
        });
        self.decoder = decoder;
        // The end goes after every batch, once the decoders handed them all on.
        if read? {
            out.end(0);
        }
        Ok(())
    }

    /// The reading loop of [`FileSource::read`], from `file` on: `true` when
    /// a file not followed was read to its end, `false` when stopped.
    fn read_lines(
        &self,
        file: &mut OpenFile,
        draining_rotated: &mut bool,
        lines: &mut LineBatches<'_>,
        stop: &AtomicBool,
    ) -> std::io::Result<bool> {
        let started = Instant::now();
        let mut n_lines = 0u64;
        // Set once the path names another file: the old one is read to its end first.
        let mut rotation_seen = false;
        // Set while the rest of a too-long line still being written is dropped.
        let mut skipping = false;
        loop {
            if stop.load(Ordering::Acquire) {
                return Ok(false);
            }
            let start = lines.buf().len();
            let read = read_line(&mut file.reader, lines.buf(), MAX_LINE_BYTES)?;
            let n = read.consumed;
            if skipping {
                lines.discard(start);
                file.offset += n as u64;
                skipping = !read.complete;
                if n > 0 {
                    continue;
                }
            } else if read.too_long {
                file.note_head(file.offset, &lines.buf()[start..]);
                file.offset += n as u64;
                lines.too_long(start, n as u64);
                skipping = !read.complete && self.follow;
                continue;
            }
            let complete = read.complete;
            if n > 0 && (complete || !self.follow) {
                // A partial last line is only taken when not following.
                file.note_head(file.offset, &lines.buf()[start..]);
                file.offset += n as u64;
                lines.line(start, Some((self.clock)()));
                n_lines += 1;
                if let Some(rate) = self.max_lines_per_second {
                    let due = Duration::from_secs_f64(n_lines as f64 / f64::from(rate));
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        if !lines.flush(Some(file.position())) {
                            return Ok(false);
                        }
                        std::thread::sleep(wait);
                    }
                }
                if lines.full() && !lines.flush(Some(file.position())) {
                    return Ok(false);
                }
                if complete {
                    continue;
                }
            } else if n > 0 {
                // Unread the partial line: it is read again once complete.
                lines.discard(start);
                file.reader.seek(SeekFrom::Start(file.offset))?;
            }
            if !lines.flush(Some(file.position())) {
                return Ok(false);
            }
            if *draining_rotated {
                // The rest of the file rotated away while we were down is read: now the file itself.
                tracing::info!(path = %self.path.display(), "rotated file read to its end: reading the file from its start");
                *file = self.open(None)?;
                *draining_rotated = false;
                continue;
            }
            if !self.follow {
                return Ok(true);
            }
            if rotation_seen {
                // Like `tail -F`: the old file was read to its end; the new one is read from its start.
                tracing::info!(path = %self.path.display(), "file rotated or truncated: reading from the start");
                match self.open(None) {
                    Ok(fresh) => {
                        *file = fresh;
                        rotation_seen = false;
                    }
                    Err(err) => tracing::warn!(error = %err, "reopening"),
                }
                continue;
            }
            std::thread::sleep(POLL);
            match self.rotated(file) {
                Rotation::None => {}
                // Lines written to the old file before it was moved are read on the next pass, then the switch.
                Rotation::Moved => rotation_seen = true,
                // The same file begins anew (truncated, or rewritten in place): what the old handle
                // would read now is already the new file's, so it is read from its start at once.
                Rotation::Rewritten => {
                    tracing::info!(path = %self.path.display(), "file truncated or rewritten: reading from the start");
                    *file = self.open(None)?;
                }
            }
        }
    }

    /// Opens where the checkpoint left off: the file itself at the position
    /// when it is still the same file; else a rotated sibling that is (then
    /// `true`: read it to its end, then the file); else the file from its start.
    fn open_resumed(&self, resume: Option<Position>) -> std::io::Result<(OpenFile, bool)> {
        let file = self.open(resume)?;
        if let Some(Position::File { fingerprint: fp, offset }) = resume
            && file.offset != offset
            && offset > 0
        {
            if let Some(rotated) = self.rotated_sibling(fp, offset) {
                tracing::info!(path = %self.path.display(), rotated = %rotated.display(), offset,
                    "the checkpointed file was rotated: reading the rest of it first");
                return Ok((open_at(&rotated, resume)?, true));
            }
            tracing::warn!(path = %self.path.display(), "not the file the checkpoint read, and no rotated file is: reading from its start");
        }
        Ok((file, false))
    }

    /// A file beside this one, named after it (`NAME.1`, `NAME-DATE`), not
    /// compressed, whose first bytes have fingerprint `fp` and which is at least `offset` long.
    fn rotated_sibling(&self, fp: u64, offset: u64) -> Option<PathBuf> {
        let name = self.path.file_name()?.to_str()?.to_string();
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut candidates: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.len() > name.len()
                        && n.starts_with(&name)
                        && matches!(n.as_bytes()[name.len()], b'.' | b'-' | b'_')
                        && ![".gz", ".zst", ".bz2", ".xz", ".zip"].iter().any(|ext| n.ends_with(ext))
                })
            })
            .collect();
        candidates.sort();
        candidates.into_iter().find(|p| {
            let Ok(mut f) = File::open(p) else { return false };
            let Ok(meta) = f.metadata() else { return false };
            let mut head = Vec::with_capacity(FINGERPRINT_BYTES);
            if (&mut f).take(FINGERPRINT_BYTES as u64).read_to_end(&mut head).is_err() {
                return false;
            }
            let covered = head.len().min(usize::try_from(offset).unwrap_or(usize::MAX));
            meta.is_file() && meta.len() >= offset && fingerprint(&head[..covered]) == fp
        })
    }

    /// Opens the file at the checkpointed position when it is still the same
    /// file, else at its start.
    fn open(&self, resume: Option<Position>) -> std::io::Result<OpenFile> {
        open_at(&self.path, resume)
    }

    /// Whether the path now names another file (another device or inode), or
    /// the same file begun anew (shorter than what was read, or with other
    /// first bytes: a file rewritten in place, or a new file on a reused inode).
    fn rotated(&self, file: &OpenFile) -> Rotation {
        let Ok(m) = std::fs::metadata(&self.path) else { return Rotation::None };
        if m.dev() != file.dev || m.ino() != file.inode {
            return Rotation::Moved;
        }
        if m.len() < file.offset {
            return Rotation::Rewritten;
        }
        if file.head.is_empty() {
            return Rotation::None;
        }
        let mut now = Vec::with_capacity(file.head.len());
        let same = File::open(&self.path)
            .and_then(|f| f.take(file.head.len() as u64).read_to_end(&mut now))
            .map_or(true, |_| now == file.head);
        if same { Rotation::None } else { Rotation::Rewritten }
    }
}

/// What became of the file at the path since it was opened.
enum Rotation {
    /// Still the same file.
    None,
    /// Another file is at the path: the old one is read to its end first.
    Moved,
    /// The same file begins anew.
    Rewritten,
}

/// Opens `path` at the checkpointed position when it is still the same
/// file, else at its start.
fn open_at(path: &std::path::Path, resume: Option<Position>) -> std::io::Result<OpenFile> {
    let mut f = File::open(path)?;
    let meta = f.metadata()?;
    let mut head = Vec::with_capacity(FINGERPRINT_BYTES);
    (&mut f).take(FINGERPRINT_BYTES as u64).read_to_end(&mut head)?;
    let offset = match resume {
        None => 0,
        Some(Position::File { fingerprint: fp, offset }) => {
            let covered = head.len().min(usize::try_from(offset).unwrap_or(usize::MAX));
            if meta.len() >= offset && fingerprint(&head[..covered]) == fp { offset } else { 0 }
        }
        // Checkpoint format 2 kept the offset alone: trusted unless the file is shorter.
        Some(Position::Offset(offset)) if meta.len() >= offset => offset,
        Some(other) => {
            tracing::warn!(position = ?other, "not a file position: reading from the start");
            0
        }
    };
    f.seek(SeekFrom::Start(offset))?;
    // Only the bytes before the offset are known to be the file's for good: the rest is read as lines.
    head.truncate(usize::try_from(offset).unwrap_or(usize::MAX).min(head.len()));
    Ok(OpenFile { reader: BufReader::with_capacity(1 << 16, f), dev: meta.dev(), inode: meta.ino(), head, offset })
}
