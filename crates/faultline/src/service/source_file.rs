//! The file source: JSON lines from a byte offset, to the end or followed like `tail -F`.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use super::admin::AdminState;
use super::metrics::{QUEUE_PUSHED, SOURCE_BYTES};
use super::runtime::{INPUT_QUEUE, Input};

/// How often a followed file is polled for new data or rotation.
const POLL: Duration = Duration::from_millis(100);

/// One file source, run on its own thread.
#[derive(Debug)]
pub(crate) struct FileSource {
    /// Index of the source (its input id).
    pub(crate) idx: usize,
    /// Name, for metrics and logs.
    pub(crate) name: String,
    /// The file.
    pub(crate) path: PathBuf,
    /// Follow like `tail -F`.
    pub(crate) follow: bool,
    /// Byte offset to start at (from the checkpoint).
    pub(crate) offset: u64,
    /// Bytes per batch, roughly.
    pub(crate) batch_bytes: usize,
    /// Pace to at most this many lines per second.
    pub(crate) max_lines_per_second: Option<u32>,
}

impl FileSource {
    /// Reads until the end (or until `stop`, when following), sending whole
    /// lines in batches; a full queue blocks here, pushing back on the file.
    pub(crate) fn read(self, tx: SyncSender<Input>, stop: Arc<AtomicBool>, admin: Arc<AdminState>) {
        let _span = tracing::info_span!("source", name = %self.name).entered();
        if let Err(err) = self.read_inner(&tx, &stop, &admin) {
            tracing::error!(error = %err, "source stopped");
        }
    }

    fn read_inner(&self, tx: &SyncSender<Input>, stop: &AtomicBool, admin: &AdminState) -> std::io::Result<()> {
        let mut offset = self.offset;
        // Like `tail -F`, a followed file that does not exist yet is waited for.
        let (mut reader, mut inode) = loop {
            match self.open(&mut offset) {
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
        let mut batch = Vec::with_capacity(self.batch_bytes + 4096);
        let mut line = Vec::new();
        let started = std::time::Instant::now();
        let mut n_lines = 0u64;
        loop {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            let complete = line.last() == Some(&b'\n');
            if n > 0 && complete {
                batch.extend_from_slice(&line);
                offset += n as u64;
                n_lines += 1;
                if let Some(rate) = self.max_lines_per_second {
                    let due = Duration::from_secs_f64(n_lines as f64 / f64::from(rate));
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        self.send(tx, admin, &mut batch, offset);
                        std::thread::sleep(wait);
                    }
                }
                if batch.len() >= self.batch_bytes {
                    self.send(tx, admin, &mut batch, offset);
                }
                continue;
            }
            // End of the data for now. A partial last line is only taken when not following.
            if n > 0 && !self.follow {
                batch.extend_from_slice(&line);
                batch.push(b'\n');
                offset += n as u64;
            } else if n > 0 {
                // Unread the partial line: it is read again once complete.
                reader.seek(SeekFrom::Start(offset))?;
            }
            self.send(tx, admin, &mut batch, offset);
            if !self.follow {
                let _ = tx.send(Input::End { source: self.idx });
                return Ok(());
            }
            std::thread::sleep(POLL);
            if self.rotated(offset, inode) {
                // Like `tail -F`: the old file was read to its end; the new one is read from its start.
                tracing::info!(path = %self.path.display(), "file rotated or truncated: reading from the start");
                let mut fresh = 0;
                match self.open(&mut fresh) {
                    Ok((r, ino)) => (reader, inode, offset) = (r, ino, fresh),
                    Err(err) => tracing::warn!(error = %err, "reopening"),
                }
            }
        }
    }

    /// Opens the file at `offset` (at 0 when the file is shorter: it was replaced); returns its inode too.
    fn open(&self, offset: &mut u64) -> std::io::Result<(BufReader<File>, u64)> {
        let mut f = File::open(&self.path)?;
        let meta = f.metadata()?;
        if meta.len() < *offset {
            *offset = 0;
        }
        f.seek(SeekFrom::Start(*offset))?;
        Ok((BufReader::with_capacity(1 << 16, f), meta.ino()))
    }

    /// True when the path now names another file (rotated) or a shorter one (truncated).
    fn rotated(&self, offset: u64, inode: u64) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.ino() != inode || m.len() < offset)
    }

    fn send(&self, tx: &SyncSender<Input>, admin: &AdminState, batch: &mut Vec<u8>, end_offset: u64) {
        if batch.is_empty() {
            return;
        }
        let data = std::mem::replace(batch, Vec::with_capacity(self.batch_bytes + 4096));
        admin.metrics.add(SOURCE_BYTES, &[("source", &self.name)], data.len() as f64);
        admin.metrics.add(QUEUE_PUSHED, &[("queue", INPUT_QUEUE)], 1.0);
        // A closed channel means the engine stopped; the source stops with it.
        let _ = tx.send(Input::Lines { source: self.idx, data, end_offset });
    }
}
