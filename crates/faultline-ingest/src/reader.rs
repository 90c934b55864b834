//! Any reader to its end as a source: stdin, or a recording for `replay`.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use faultline_core::Position;

use crate::decode::LineDecoder;
use crate::line::{MAX_LINE_BYTES, read_line};
use crate::source::{BatchSender, Source, SourceBatch, StartAt};

/// JSON lines from a reader, read once to its end, one partition. Batches
/// carry the byte offset (a reader has no identity to fingerprint, and
/// cannot seek: a restart reads it again from the start).
pub struct ReaderSource {
    name: String,
    reader: Box<dyn BufRead + Send>,
    decoder: LineDecoder,
    batch_events: usize,
}

impl std::fmt::Debug for ReaderSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderSource").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ReaderSource {
    /// A source named `name` over `reader`, in batches of about `batch_events` events.
    pub fn new(name: &str, reader: Box<dyn BufRead + Send>, decoder: LineDecoder, batch_events: usize) -> ReaderSource {
        ReaderSource { name: name.to_string(), reader, decoder, batch_events: batch_events.max(1) }
    }

    /// Reads to the end, handing each batch to `on_batch` (on this thread);
    /// stops early when `on_batch` returns `false`. Read errors end the input
    /// and are returned.
    pub fn read_all(mut self, mut on_batch: impl FnMut(SourceBatch) -> bool) -> std::io::Result<()> {
        let mut batch = SourceBatch::default();
        let mut line = Vec::with_capacity(256);
        let mut offset = 0u64;
        loop {
            line.clear();
            let read = read_line(&mut self.reader, &mut line, MAX_LINE_BYTES)?;
            let n = read.consumed;
            if n == 0 {
                break;
            }
            offset += n as u64;
            if read.too_long {
                self.decoder.reject_too_long(n as u64, &mut batch);
            } else {
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                self.decoder.decode_line(text, None, &mut batch);
            }
            if batch.events.len() >= self.batch_events {
                batch.position = Some(Position::Offset(offset));
                let mut next = SourceBatch::default();
                next.events.reserve(self.batch_events + 2);
                if !on_batch(std::mem::replace(&mut batch, next)) {
                    return Ok(());
                }
            }
        }
        if batch.records > 0 {
            batch.position = Some(Position::Offset(offset));
            on_batch(batch);
        }
        Ok(())
    }
}

impl Source for ReaderSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(self: Box<Self>, _start: StartAt, out: BatchSender, stop: Arc<AtomicBool>) -> std::io::Result<()> {
        self.read_all(|batch| !stop.load(Ordering::Acquire) && out.send(batch))?;
        if !stop.load(Ordering::Acquire) {
            out.end(0);
        }
        Ok(())
    }
}
