//! The engine on N dedicated OS threads: a router on the caller's thread, shards fed by bounded channels.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::engine::{EngineConfig, RecordStats};
use crate::event::Event;
use crate::shard::Shard;
use crate::time::Millis;
use crate::watermark::{InputId, Router};
use crate::window::ClosedWindow;

/// Batches in flight per shard before `record` blocks (back-pressure).
const QUEUE_BATCHES: usize = 8;

enum ToShard {
    Batch(Vec<Event>, Millis),
    Advance(Millis),
    Finish(Millis),
}

#[derive(Debug)]
struct FromShard {
    shard_idx: usize,
    closed: Vec<ClosedWindow>,
    /// Everything ending at or before this has been sent by this shard.
    through: Millis,
}

/// N shards on N threads. Series go to shard `id % N`; each shard owns its
/// series' windows, so recording takes no lock. Output is held back until
/// every shard has passed a watermark, then released in (end, series)
/// order, so it equals [`crate::Engine`]'s for the same input.
#[derive(Debug)]
pub struct ShardedEngine {
    router: Router,
    lateness: crate::time::DurationMs,
    to_shards: Vec<SyncSender<ToShard>>,
    from_shards: Receiver<FromShard>,
    handles: Vec<JoinHandle<()>>,
    pending: Vec<Vec<Event>>,
    through: Vec<Millis>,
    held: Vec<ClosedWindow>,
    finished: bool,
}

impl std::fmt::Debug for ToShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ToShard")
    }
}

impl ShardedEngine {
    /// Starts `n_shards` (at least 1) shard threads.
    pub fn new(config: EngineConfig, n_shards: usize) -> ShardedEngine {
        let n = n_shards.max(1);
        let t = config.timing;
        let (out_tx, out_rx) = sync_channel::<FromShard>(n * QUEUE_BATCHES * 2);
        let mut to_shards = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for shard_idx in 0..n {
            let (tx, rx) = sync_channel::<ToShard>(QUEUE_BATCHES);
            let out = out_tx.clone();
            let mut shard = Shard::new(t.windows, t.lateness, config.empty_windows);
            let lateness = t.lateness;
            let h = std::thread::Builder::new()
                .name(format!("shard-{shard_idx}"))
                .spawn(move || {
                    for msg in rx {
                        let (wm, last) = match msg {
                            ToShard::Batch(events, wm) => {
                                for ev in &events {
                                    shard.record(ev);
                                }
                                shard.advance(wm);
                                (wm, false)
                            }
                            ToShard::Advance(wm) => {
                                shard.advance(wm);
                                (wm, false)
                            }
                            ToShard::Finish(wm) => {
                                shard.finish(wm);
                                (Millis::MAX.minus(lateness), true)
                            }
                        };
                        let closed = shard.drain_closed();
                        let reply = FromShard { shard_idx, closed, through: wm.minus(lateness) };
                        if out.send(reply).is_err() || last {
                            break;
                        }
                    }
                })
                .expect("spawning a shard thread");
            to_shards.push(tx);
            handles.push(h);
        }
        ShardedEngine {
            router: Router::new(t),
            lateness: t.lateness,
            to_shards,
            from_shards: out_rx,
            handles,
            pending: (0..n).map(|_| Vec::new()).collect(),
            through: vec![Millis::MIN; n],
            held: Vec::new(),
            finished: false,
        }
    }

    /// Number of shards.
    pub fn n_shards(&self) -> usize {
        self.to_shards.len()
    }

    /// Routes a batch to the shards; blocks while a shard's queue is full.
    pub fn record(&mut self, input: InputId, batch: Vec<Event>) -> RecordStats {
        let n = self.to_shards.len();
        let mut stats = RecordStats::default();
        for ev in batch {
            if self.router.admit(input, ev.ts, ev.series) {
                stats.accepted += 1;
                self.pending[ev.series.index() % n].push(ev);
            } else {
                stats.late += 1;
            }
        }
        let wm = self.router.watermark();
        for (i, tx) in self.to_shards.iter().enumerate() {
            let events = std::mem::take(&mut self.pending[i]);
            let msg = if events.is_empty() { ToShard::Advance(wm) } else { ToShard::Batch(events, wm) };
            // A shard only stops on Finish; a send error means it panicked, which `finish` reports.
            let _ = tx.send(msg);
        }
        self.collect(false);
        stats
    }

    /// Lets idle inputs stop holding the watermark back.
    pub fn check_idle(&mut self, processing_now: Millis) {
        let before = self.router.watermark();
        self.router.check_idle(processing_now);
        let wm = self.router.watermark();
        if wm != before {
            for tx in &self.to_shards {
                let _ = tx.send(ToShard::Advance(wm));
            }
        }
        self.collect(false);
    }

    fn collect(&mut self, block_until_finished: bool) {
        loop {
            let msg = if block_until_finished {
                if self.through.iter().all(|t| *t == Millis::MAX.minus(self.lateness)) {
                    break;
                }
                match self.from_shards.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            } else {
                match self.from_shards.try_recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            };
            let m = msg;
            self.through[m.shard_idx] = self.through[m.shard_idx].max(m.through);
            self.held.extend(m.closed);
        }
    }

    /// Windows every shard has closed, in (end, series) order; windows some
    /// shard may still close before them stay held.
    pub fn drain_closed(&mut self) -> Vec<ClosedWindow> {
        self.collect(false);
        let safe = self.through.iter().copied().min().unwrap_or(Millis::MIN);
        let held = std::mem::take(&mut self.held);
        let (mut out, keep): (Vec<_>, Vec<_>) = held.into_iter().partition(|c| c.window.end <= safe || self.finished);
        self.held = keep;
        out.sort_by_key(|c| (c.window.end, c.series));
        out
    }

    /// End of input: closes every window on every shard and stops the threads.
    ///
    /// # Panics
    /// If a shard thread panicked.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        let wm = self.router.watermark();
        for tx in &self.to_shards {
            let _ = tx.send(ToShard::Finish(wm));
        }
        self.collect(true);
        self.finished = true;
        for h in self.handles.drain(..) {
            h.join().expect("shard thread panicked");
        }
    }

    /// The watermark.
    pub fn watermark(&self) -> Millis {
        self.router.watermark()
    }

    /// The router (late counts).
    pub fn router(&self) -> &Router {
        &self.router
    }
}

impl Drop for ShardedEngine {
    fn drop(&mut self) {
        self.to_shards.clear();
        // Drop the receiver first, so a shard blocked on a full reply queue wakes up and ends.
        let (_, dummy) = sync_channel(0);
        drop(std::mem::replace(&mut self.from_shards, dummy));
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
