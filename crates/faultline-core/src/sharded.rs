//! The engine on N shards: shard 0 and the router on the caller's thread, the others on dedicated OS threads.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::engine::{EngineConfig, RecordStats};
use crate::event::Event;
use crate::shard::{Shard, WindowCopy};
use crate::time::{DurationMs, Millis};
use crate::watermark::{InputId, InputState, Router};
use crate::window::ClosedWindow;
use crate::window_engine::{ShardLoad, TakeSeries, WindowEngine};

/// Batches in flight per shard before `record` blocks (back-pressure).
const QUEUE_BATCHES: usize = 8;

enum ToShard {
    Batch(Vec<Event>, Millis),
    Advance(Millis),
    Finish(Millis),
    /// The checkpoint barrier: reply with copies of the open windows.
    Snapshot,
    /// Checkpointed windows of this shard's series, before any batch.
    Restore(Vec<WindowCopy>),
    /// A barrier that takes the open windows of the series picked out: reply with them.
    Take(TakeSeries),
}

#[derive(Debug)]
struct FromShard {
    shard_idx: usize,
    closed: Vec<ClosedWindow>,
    /// Everything ending at or before this has been sent by this shard.
    through: Millis,
    /// The shard's event buffer, sent back for reuse.
    buffer: Vec<Event>,
    /// Open windows after the reply.
    n_open: usize,
    /// The answer to a barrier: copies of the open windows.
    open: Option<Vec<WindowCopy>>,
}

/// N shards; series go to shard `id % N`, and each shard owns its series'
/// windows, so recording takes no lock. Shard 0 runs on the caller's thread
/// beside the router (on a 2-core machine, two busy threads rather than
/// three); shards 1.. run on their own threads, fed by bounded channels.
/// Output is held back until every shard has passed a watermark, then
/// released in (end, series) order, so it equals [`crate::Engine`]'s.
#[derive(Debug)]
pub struct ShardedEngine {
    router: Router,
    lateness: DurationMs,
    local: Shard,
    to_shards: Vec<SyncSender<ToShard>>,
    from_shards: Receiver<FromShard>,
    handles: Vec<JoinHandle<()>>,
    pending: Vec<Vec<Event>>,
    spare: Vec<Vec<Event>>,
    through: Vec<Millis>,
    held: Vec<ClosedWindow>,
    finished: bool,
    loads: Vec<ShardLoad>,
    /// The watermark last sent to the shards.
    sent_watermark: Millis,
    n_open: Vec<usize>,
    barrier: Vec<Option<Vec<WindowCopy>>>,
}

impl std::fmt::Debug for ToShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ToShard")
    }
}

impl ShardedEngine {
    /// Starts `n_shards - 1` shard threads (`n_shards` at least 1).
    pub fn new(config: EngineConfig, n_shards: usize) -> ShardedEngine {
        let n = n_shards.max(1);
        let t = config.timing;
        let (out_tx, out_rx) = sync_channel::<FromShard>(n * QUEUE_BATCHES * 2);
        let mut to_shards = Vec::with_capacity(n - 1);
        let mut handles = Vec::with_capacity(n - 1);
        for shard_idx in 1..n {
            let (tx, rx) = sync_channel::<ToShard>(QUEUE_BATCHES);
            let out = out_tx.clone();
            let shard = Shard::new(t.windows, t.lateness, config.empty_windows).owning_share(shard_idx, n);
            let h = std::thread::Builder::new()
                .name(format!("shard-{shard_idx}"))
                .spawn(move || run_shard(shard_idx, shard, t.lateness, rx, out))
                .expect("spawning a shard thread");
            to_shards.push(tx);
            handles.push(h);
        }
        ShardedEngine {
            router: Router::new(t),
            lateness: t.lateness,
            local: Shard::new(t.windows, t.lateness, config.empty_windows).owning_share(0, n),
            to_shards,
            from_shards: out_rx,
            handles,
            pending: (0..n).map(|_| Vec::new()).collect(),
            spare: Vec::new(),
            through: vec![Millis::MIN; n],
            held: Vec::new(),
            finished: false,
            loads: vec![ShardLoad::default(); n],
            sent_watermark: Millis::MIN,
            n_open: vec![0; n],
            barrier: (0..n).map(|_| None).collect(),
        }
    }

    /// Sends to remote shard `i` (shard `i + 1`), timing any wait on a full queue.
    fn send(&mut self, i: usize, msg: ToShard) {
        let load = &mut self.loads[i + 1];
        load.queued += 1;
        // A shard only stops on Finish: a closed queue means it panicked, and its share is lost.
        let sent = match self.to_shards[i].try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Disconnected(_)) => false,
            Err(TrySendError::Full(msg)) => {
                let waited = Instant::now();
                let sent = self.to_shards[i].send(msg).is_ok();
                load.blocked_ns += u64::try_from(waited.elapsed().as_nanos()).unwrap_or(u64::MAX);
                sent
            }
        };
        if !sent && !self.finished {
            panic!("shard {} stopped (it panicked, see above): its windows are lost", i + 1);
        }
    }

    /// Number of shards.
    pub fn n_shards(&self) -> usize {
        self.pending.len()
    }

    /// Routes a batch to the shards; blocks while a shard's queue is full.
    pub fn record(&mut self, input: InputId, batch: Vec<Event>) -> RecordStats {
        self.route(input, batch)
    }

    fn route(&mut self, input: InputId, batch: impl IntoIterator<Item = Event>) -> RecordStats {
        let n = self.pending.len();
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
        self.sent_watermark = wm;
        // Remote shards first, so they work while this thread records shard 0's share.
        for i in 0..self.to_shards.len() {
            let fresh = self.spare.pop().unwrap_or_default();
            let events = std::mem::replace(&mut self.pending[i + 1], fresh);
            self.loads[i + 1].events += events.len() as u64;
            let msg = if events.is_empty() { ToShard::Advance(wm) } else { ToShard::Batch(events, wm) };
            self.send(i, msg);
        }
        self.loads[0].events += self.pending[0].len() as u64;
        for ev in self.pending[0].drain(..) {
            self.local.record(&ev);
        }
        self.local.advance(wm);
        self.held.extend(self.local.drain_closed());
        self.through[0] = wm.minus(self.lateness);
        self.collect(false);
        stats
    }

    /// Lets idle inputs stop holding the watermark back.
    pub fn check_idle(&mut self, processing_now: Millis) {
        self.router.check_idle(processing_now);
        self.advance_to_router();
    }

    /// Sends the router's watermark to every shard when it moved since the last one sent.
    fn advance_to_router(&mut self) {
        let wm = self.router.watermark();
        if wm != self.sent_watermark {
            self.sent_watermark = wm;
            for i in 0..self.to_shards.len() {
                self.send(i, ToShard::Advance(wm));
            }
            self.local.advance(wm);
            self.held.extend(self.local.drain_closed());
            self.through[0] = wm.minus(self.lateness);
        }
        self.collect(false);
    }

    fn collect(&mut self, block_until_finished: bool) {
        let done = Millis::MAX.minus(self.lateness);
        loop {
            let msg = if block_until_finished {
                if self.through.iter().all(|t| *t == done) {
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
            self.take_reply(msg);
        }
    }

    /// Books a shard's reply: how far it has closed, its closed windows (held
    /// until every shard passed them), its open-window count, a barrier answer,
    /// and its spent buffer for reuse.
    fn take_reply(&mut self, msg: FromShard) {
        let i = msg.shard_idx;
        // A shard's replies come in order; how far it has closed only goes back on an adoption.
        self.through[i] = msg.through;
        self.loads[i].queued = self.loads[i].queued.saturating_sub(1);
        self.n_open[i] = msg.n_open;
        if msg.open.is_some() {
            self.barrier[i] = msg.open;
        }
        self.held.extend(msg.closed);
        if msg.buffer.capacity() > 0 && self.spare.len() < 2 * self.to_shards.len() {
            self.spare.push(msg.buffer);
        }
    }

    /// Windows every shard has closed, in (end, series) order; windows some
    /// shard may still close before them stay held.
    pub fn drain_closed(&mut self) -> Vec<ClosedWindow> {
        self.collect(false);
        let safe = self.through.iter().copied().min().unwrap_or(Millis::MIN);
        let finished = self.finished;
        let held = std::mem::take(&mut self.held);
        let (mut out, keep): (Vec<_>, Vec<_>) = held.into_iter().partition(|c| finished || c.window.end <= safe);
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
        for i in 0..self.to_shards.len() {
            self.send(i, ToShard::Finish(wm));
        }
        self.local.finish(wm);
        self.held.extend(self.local.drain_closed());
        self.through[0] = Millis::MAX.minus(self.lateness);
        self.collect(true);
        self.finished = true;
        for h in self.handles.drain(..) {
            h.join().expect("shard thread panicked");
        }
    }

    /// The checkpoint barrier: every remote shard gets it behind every batch
    /// sent so far and answers with copies of its open windows; this waits for
    /// all answers, so all shards are copied after the same input prefix.
    /// Closed windows that arrive meanwhile stay held for `drain_closed`.
    pub fn copy_open_windows(&mut self) -> Vec<WindowCopy> {
        if self.finished {
            return self.local.copy_open_windows();
        }
        self.barrier(|| ToShard::Snapshot, |local| local.copy_open_windows())
    }

    /// A barrier that takes the open windows of the series `take` picks out of every shard.
    pub fn take_windows(&mut self, take: TakeSeries) -> Vec<WindowCopy> {
        if self.finished {
            return self.local.take_windows(&*take);
        }
        let remote = take.clone();
        self.barrier(move || ToShard::Take(remote.clone()), move |local| local.take_windows(&*take))
    }

    /// Sends `msg()` to every remote shard behind everything sent so far, runs `local` on
    /// shard 0 meanwhile, and waits for every answer: the windows each shard returned.
    fn barrier(
        &mut self,
        msg: impl Fn() -> ToShard,
        local: impl FnOnce(&mut Shard) -> Vec<WindowCopy>,
    ) -> Vec<WindowCopy> {
        // The barrier goes out first, so the other shards copy while this thread copies shard 0.
        for i in 0..self.to_shards.len() {
            self.send(i, msg());
        }
        let mut out = local(&mut self.local);
        while self.barrier[1..].iter().any(Option::is_none) {
            let msg = match self.from_shards.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(msg) => msg,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    // A shard that died before answering would leave this barrier waiting for ever.
                    if let Some(i) = self.handles.iter().position(JoinHandle::is_finished) {
                        panic!("shard {} stopped (it panicked, see above) before the checkpoint barrier", i + 1);
                    }
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            self.take_reply(msg);
        }
        for copy in self.barrier.iter_mut().skip(1) {
            out.extend(copy.take().unwrap_or_default());
        }
        out
    }

    /// Takes over `input` from a partition checkpoint after a barrier: the router adopts
    /// its state (the watermark may go back) and its windows go to their shards. Every
    /// shard's reply has been taken by the barrier, so how far each has closed restarts
    /// from the new watermark.
    pub fn adopt(&mut self, input: InputId, state: InputState, windows: Vec<WindowCopy>) {
        let _ = self.take_windows(std::sync::Arc::new(|_| false));
        self.router.adopt(input, state);
        let wm = self.router.watermark();
        self.sent_watermark = wm;
        self.through.fill(wm.minus(self.lateness));
        // Every shard hears the new watermark before its windows, so its replies say how far
        // it has closed from there (nothing closes at it: the adopted windows end after it).
        for i in 0..self.to_shards.len() {
            self.send(i, ToShard::Advance(wm));
        }
        self.local.advance(wm);
        self.held.extend(self.local.drain_closed());
        self.restore_windows(windows);
    }

    /// Puts checkpointed state into this fresh engine: each window goes to the
    /// shard that owns its series now, so the shard count may differ from the
    /// run that wrote the checkpoint.
    pub fn restore(&mut self, inputs: Vec<(InputId, InputState)>, watermark: Millis, windows: Vec<WindowCopy>) {
        self.router.restore(inputs, watermark);
        self.restore_windows(windows);
    }

    /// Puts windows into the shards that own their series.
    fn restore_windows(&mut self, windows: Vec<WindowCopy>) {
        let n = self.pending.len();
        let mut per_shard: Vec<Vec<WindowCopy>> = (0..n).map(|_| Vec::new()).collect();
        for w in windows {
            per_shard[w.series.index() % n].push(w);
        }
        for w in std::mem::take(&mut per_shard[0]) {
            self.local.restore_window(w.series, w.start, w.aggregate, w.empty_streak);
        }
        for (i, windows) in per_shard.into_iter().enumerate().skip(1) {
            if !windows.is_empty() {
                self.send(i - 1, ToShard::Restore(windows));
            }
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

fn run_shard(
    shard_idx: usize,
    mut shard: Shard,
    lateness: DurationMs,
    rx: Receiver<ToShard>,
    out: SyncSender<FromShard>,
) {
    let mut through = Millis::MIN;
    for msg in rx {
        let mut open = None;
        let (last, mut buffer) = match msg {
            ToShard::Batch(events, wm) => {
                for ev in &events {
                    shard.record(ev);
                }
                shard.advance(wm);
                through = wm.minus(lateness);
                (false, events)
            }
            ToShard::Advance(wm) => {
                shard.advance(wm);
                through = wm.minus(lateness);
                (false, Vec::new())
            }
            ToShard::Finish(wm) => {
                shard.finish(wm);
                through = Millis::MAX.minus(lateness);
                (true, Vec::new())
            }
            ToShard::Snapshot => {
                open = Some(shard.copy_open_windows());
                (false, Vec::new())
            }
            ToShard::Restore(windows) => {
                for w in windows {
                    shard.restore_window(w.series, w.start, w.aggregate, w.empty_streak);
                }
                (false, Vec::new())
            }
            ToShard::Take(take) => {
                open = Some(shard.take_windows(&*take));
                (false, Vec::new())
            }
        };
        buffer.clear();
        let reply = FromShard {
            shard_idx,
            closed: shard.drain_closed(),
            through,
            buffer,
            n_open: shard.n_open_windows(),
            open,
        };
        if out.send(reply).is_err() || last {
            break;
        }
    }
}

impl WindowEngine for ShardedEngine {
    fn record(&mut self, input: InputId, batch: &[Event]) -> RecordStats {
        self.route(input, batch.iter().cloned())
    }

    fn check_idle(&mut self, processing_now: Millis) {
        ShardedEngine::check_idle(self, processing_now);
    }

    fn finish(&mut self) {
        ShardedEngine::finish(self);
    }

    fn drain_closed(&mut self) -> Vec<ClosedWindow> {
        ShardedEngine::drain_closed(self)
    }

    fn recycle(&mut self, closed: Vec<ClosedWindow>) {
        // Shard 0's windows go back to it; the other shards' are freed here
        // rather than sent back across threads.
        let n = self.pending.len();
        self.local.recycle(closed.into_iter().filter(|c| c.series.index() % n == 0));
    }

    fn router(&self) -> &Router {
        &self.router
    }

    fn router_mut(&mut self) -> &mut Router {
        &mut self.router
    }

    fn advance(&mut self) {
        self.advance_to_router();
    }

    fn copy_open_windows(&mut self) -> Vec<WindowCopy> {
        ShardedEngine::copy_open_windows(self)
    }

    fn restore(&mut self, inputs: Vec<(InputId, InputState)>, watermark: Millis, windows: Vec<WindowCopy>) {
        ShardedEngine::restore(self, inputs, watermark, windows);
    }

    fn take_windows(&mut self, take: TakeSeries) -> Vec<WindowCopy> {
        ShardedEngine::take_windows(self, take)
    }

    fn adopt(&mut self, input: InputId, state: InputState, windows: Vec<WindowCopy>) {
        ShardedEngine::adopt(self, input, state, windows);
    }

    fn n_open_windows(&self) -> usize {
        self.local.n_open_windows() + self.n_open[1..].iter().sum::<usize>()
    }

    fn shard_loads(&self) -> Vec<ShardLoad> {
        self.loads.clone()
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
