//! Any reader to its end as a source: stdin, or a recording for `replay`.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use faultline_core::Position;

use crate::batches::with_line_batches;
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
    decoders: usize,
}

impl std::fmt::Debug for ReaderSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderSource").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ReaderSource {
    /// A source named `name` over `reader`, in batches of about `batch_events` events.
    pub fn new(name: &str, reader: Box<dyn BufRead + Send>, decoder: LineDecoder, batch_events: usize) -> ReaderSource {
        ReaderSource { name: name.to_string(), reader, decoder, batch_events: batch_events.max(1), decoders: 1 }
    }

    /// Decodes on `n` threads beside the reading one (1, the default: on the
    /// reading thread). The batches' events are the same either way.
    pub fn decoders(mut self, n: usize) -> ReaderSource {
        self.decoders = n.max(1);
        self
    }

    /// Reads to the end, handing each batch to `on_batch` (on this thread, or
    /// on a decoder's with several); stops early when `on_batch` returns
    /// `false`. Read errors end the input and are returned.
    pub fn read_all(mut self, on_batch: impl FnMut(SourceBatch) -> bool + Send) -> std::io::Result<()> {
        let reader = &mut self.reader;
        with_line_batches(&mut self.decoder, self.decoders, self.batch_events, on_batch, |lines| {
            let mut offset = 0u64;
            loop {
                let start = lines.buf().len();
                let read = read_line(reader, lines.buf(), MAX_LINE_BYTES)?;
                let n = read.consumed;
                if n == 0 {
                    break;
                }
                offset += n as u64;
                if read.too_long {
                    lines.too_long(start, n as u64);
                } else {
                    lines.line(start, None);
                }
                if lines.full() && !lines.flush(Some(Position::Offset(offset))) {
                    return Ok(());
                }
            }
            lines.flush(Some(Position::Offset(offset)));
            Ok(())
        })
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
