//! Lines to batches, decoded on the reading thread or by a pool of decoders, handed on in stream order either way.
//!
//! A line source's reading loop appends each line to [`LineBatches::buf`],
//! says what it was ([`LineBatches::line`], [`LineBatches::too_long`],
//! [`LineBatches::discard`]) and flushes with the position after it. With one
//! decoder the lines are decoded at once, as they are read. With several, the
//! lines of each flush go as one chunk to whichever decoder is free; decoders
//! run side by side with deferred interning (`Decoder::deferred`) and take
//! turns in chunk order to intern the chunk's new label sets and hand its batch
//! on. The batches, their events and the series ids they carry are the ones one
//! decoder would make, whatever the number of decoders: only the batch
//! boundaries differ (a chunk is cut by lines, not by events).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Condvar, Mutex};

use faultline_core::{Millis, Position};

use crate::decode::LineDecoder;
use crate::source::SourceBatch;

/// Bytes of lines a batch (or a chunk) holds before it is flushed, whatever its number of events.
pub(crate) const BATCH_BYTES: usize = 1 << 20;

/// What a chunk holds, in order.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A line, ending (with its `\n`, when it had one) at this offset into the chunk's bytes.
    Line(usize),
    /// A line longer than a source takes, consumed and dropped: its length.
    TooLong(u64),
}

/// The lines of one flush, for a decoder of the pool.
#[derive(Debug, Default)]
struct Chunk {
    seq: u64,
    /// Lines handed over before this chunk's first one.
    first_line: u64,
    data: Vec<u8>,
    items: Vec<Item>,
    position: Option<Position>,
    processing_now: Option<Millis>,
}

/// Where the decoders take turns: the next chunk to hand on, and the receiver.
struct Turn<F> {
    next: u64,
    send: F,
}

/// The reading loop's end of a line source's decoding (see the module docs).
pub(crate) struct LineBatches<'a> {
    mode: Mode<'a>,
    batch_events: usize,
}

enum Mode<'a> {
    Inline {
        decoder: &'a mut LineDecoder,
        line: Vec<u8>,
        batch: SourceBatch,
        send: &'a mut dyn FnMut(SourceBatch) -> bool,
    },
    Pool {
        chunk: Chunk,
        jobs: SyncSender<Chunk>,
        stopped: &'a AtomicBool,
        next_seq: u64,
        lines: u64,
    },
}

impl LineBatches<'_> {
    /// Where the next line is read to (appended; see [`LineBatches::line`]).
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        match &mut self.mode {
            Mode::Inline { line, .. } => line,
            Mode::Pool { chunk, .. } => &mut chunk.data,
        }
    }

    /// The bytes appended to [`LineBatches::buf`] since it was `start` long
    /// are one line (its `\n`, if any, is dropped before decoding).
    pub(crate) fn line(&mut self, start: usize, processing_now: Option<Millis>) {
        match &mut self.mode {
            Mode::Inline { decoder, line, batch, .. } => {
                let text = &line[start..];
                let text = text.strip_suffix(b"\n").unwrap_or(text);
                decoder.decode_line(text, processing_now, batch);
                line.truncate(start);
            }
            Mode::Pool { chunk, lines, .. } => {
                chunk.items.push(Item::Line(chunk.data.len()));
                chunk.processing_now = processing_now.or(chunk.processing_now);
                *lines += 1;
            }
        }
    }

    /// The line appended since `start` was too long: `consumed` bytes read and dropped, counted.
    pub(crate) fn too_long(&mut self, start: usize, consumed: u64) {
        match &mut self.mode {
            Mode::Inline { decoder, line, batch, .. } => {
                decoder.reject_too_long(consumed, batch);
                line.truncate(start);
            }
            Mode::Pool { chunk, lines, .. } => {
                chunk.data.truncate(start);
                chunk.items.push(Item::TooLong(consumed));
                *lines += 1;
            }
        }
    }

    /// Forgets what was appended since `start` (a partial line, read again later).
    pub(crate) fn discard(&mut self, start: usize) {
        self.buf().truncate(start);
    }

    /// Whether the lines taken since the last flush make a full batch.
    pub(crate) fn full(&self) -> bool {
        match &self.mode {
            Mode::Inline { batch, .. } => batch.events.len() >= self.batch_events || batch.bytes >= BATCH_BYTES as u64,
            Mode::Pool { chunk, .. } => chunk.items.len() >= self.batch_events || chunk.data.len() >= BATCH_BYTES,
        }
    }

    /// Hands on the lines taken since the last flush (nothing when there are
    /// none), `position` being the source's position after them. `false` once
    /// the receiver stopped taking batches.
    pub(crate) fn flush(&mut self, position: Option<Position>) -> bool {
        let batch_events = self.batch_events;
        match &mut self.mode {
            Mode::Inline { batch, send, .. } => {
                if batch.records == 0 {
                    return true;
                }
                let mut full = std::mem::take(batch);
                full.position = position;
                batch.events.reserve(batch_events);
                send(full)
            }
            Mode::Pool { chunk, jobs, stopped, next_seq, lines } => {
                if stopped.load(Ordering::Acquire) {
                    return false;
                }
                if chunk.items.is_empty() {
                    return true;
                }
                let next = Chunk {
                    first_line: *lines,
                    data: Vec::with_capacity(chunk.data.capacity()),
                    items: Vec::with_capacity(batch_events),
                    ..Chunk::default()
                };
                let mut full = std::mem::replace(chunk, next);
                full.seq = *next_seq;
                full.position = position;
                *next_seq += 1;
                jobs.send(full).is_ok() && !stopped.load(Ordering::Acquire)
            }
        }
    }
}

/// Runs `body`, a source's reading loop, over a [`LineBatches`] that decodes
/// with `decoder` (on this thread when `decoders` is 1 or the format cannot be
/// split, else on `decoders` threads) and hands each batch of about
/// `batch_events` events to `send`, in stream order, until `send` says
/// `false`. Line numbers continue from `decoder`'s and it is left numbering on
/// after the last line.
pub(crate) fn with_line_batches<R>(
    decoder: &mut LineDecoder,
    decoders: usize,
    batch_events: usize,
    mut send: impl FnMut(SourceBatch) -> bool + Send,
    body: impl FnOnce(&mut LineBatches<'_>) -> R,
) -> R {
    let batch_events = batch_events.max(1);
    if decoders <= 1 || !decoder.splittable() {
        let mut batches = LineBatches {
            mode: Mode::Inline {
                decoder,
                line: Vec::with_capacity(256),
                batch: SourceBatch::default(),
                send: &mut send,
            },
            batch_events,
        };
        return body(&mut batches);
    }
    let stopped = AtomicBool::new(false);
    let turn = Mutex::new(Turn { next: 0, send });
    let turned = Condvar::new();
    let (jobs, queue) = sync_channel::<Chunk>(decoders * 2);
    let queue = Mutex::new(queue);
    let first_line = decoder.line_no();
    let (result, lines) = std::thread::scope(|scope| {
        for i in 0..decoders {
            let worker = decoder.fork_deferred();
            let (queue, turn, turned, stopped) = (&queue, &turn, &turned, &stopped);
            std::thread::Builder::new()
                .name(format!("decode-{i}"))
                .spawn_scoped(scope, move || decode_chunks(worker, queue, turn, turned, stopped))
                .expect("starting a decoder thread");
        }
        let mut batches = LineBatches {
            mode: Mode::Pool {
                chunk: Chunk { first_line, ..Chunk::default() },
                jobs,
                stopped: &stopped,
                next_seq: 0,
                lines: first_line,
            },
            batch_events,
        };
        let result = body(&mut batches);
        // Dropping the job queue's sender ends the decoders once they took every chunk.
        let Mode::Pool { lines, .. } = batches.mode else { unreachable!("built as a pool") };
        (result, lines)
    });
    decoder.set_line_no(lines);
    result
}

/// One decoder of the pool: decodes chunks as they come, then waits for the
/// chunk's turn to intern its new label sets and hand its batch on.
fn decode_chunks<F: FnMut(SourceBatch) -> bool>(
    mut decoder: LineDecoder,
    queue: &Mutex<Receiver<Chunk>>,
    turn: &Mutex<Turn<F>>,
    turned: &Condvar,
    stopped: &AtomicBool,
) {
    loop {
        // The lock is held only to take a chunk, so chunks go out in order.
        let Ok(chunk) = queue.lock().expect("decoder queue poisoned").recv() else { return };
        let mut batch = SourceBatch::default();
        let decoded = if stopped.load(Ordering::Acquire) {
            Ok(())
        } else {
            std::panic::catch_unwind(AssertUnwindSafe(|| decode_chunk(&mut decoder, &chunk, &mut batch)))
        };
        let mut t = turned
            .wait_while(turn.lock().expect("decoder turn poisoned"), |t| t.next != chunk.seq)
            .expect("decoder turn poisoned");
        if decoded.is_ok() && !stopped.load(Ordering::Acquire) {
            decoder.settle(&mut batch);
            batch.position = chunk.position;
            if !(t.send)(batch) {
                stopped.store(true, Ordering::Release);
            }
        } else {
            stopped.store(true, Ordering::Release);
        }
        // A chunk that panicked still passes its turn, so the others do not wait for ever.
        t.next += 1;
        drop(t);
        turned.notify_all();
        if let Err(panic) = decoded {
            std::panic::resume_unwind(panic);
        }
    }
}

fn decode_chunk(decoder: &mut LineDecoder, chunk: &Chunk, batch: &mut SourceBatch) {
    decoder.set_line_no(chunk.first_line);
    batch.events.reserve(chunk.items.len() + 2);
    let mut start = 0;
    for item in &chunk.items {
        match *item {
            Item::Line(end) => {
                let line = &chunk.data[start..end];
                decoder.decode_line(line.strip_suffix(b"\n").unwrap_or(line), chunk.processing_now, batch);
                start = end;
            }
            Item::TooLong(consumed) => decoder.reject_too_long(consumed, batch),
        }
    }
}

#[cfg(test)]
mod tests;
