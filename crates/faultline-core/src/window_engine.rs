//! The one engine contract the pipeline runs on: batches in, closed windows out, open windows copied at a barrier.

use crate::engine::{Engine, RecordStats};
use crate::event::Event;
use crate::shard::WindowCopy;
use crate::time::Millis;
use crate::watermark::{InputId, InputState, Router};
use crate::window::ClosedWindow;

/// What [`crate::pipeline::Pipeline`] needs of an engine. [`Engine`] runs on
/// the caller's thread; [`crate::ShardedEngine`] runs N shards on their own
/// threads. Both give the same closed windows for the same input, and both can
/// be snapshotted and restored, so `replay` and `run` share one code path
/// whatever the shard count.
pub trait WindowEngine: std::fmt::Debug + Send {
    /// Records a batch from `input`; late events are counted, not applied.
    fn record(&mut self, input: InputId, batch: &[Event]) -> RecordStats;
    /// Lets idle inputs stop holding the watermark back (`processing_now` is the caller's clock).
    fn check_idle(&mut self, processing_now: Millis);
    /// End of all input: closes every window.
    fn finish(&mut self);
    /// Windows every shard has closed, in (end, series) order. A window end is
    /// released whole: never some of its windows in one call and the rest later.
    fn drain_closed(&mut self) -> Vec<ClosedWindow>;
    /// Hands back windows drained earlier once their reader is done with
    /// them, so their histograms can serve windows opened later.
    fn recycle(&mut self, closed: Vec<ClosedWindow>);
    /// The router: watermark, per-input state, late counts.
    fn router(&self) -> &Router;
    /// The router, mutably: declaring and ending inputs (then [`WindowEngine::advance`]).
    fn router_mut(&mut self) -> &mut Router;
    /// Brings every shard to the router's watermark (after the router changed it outside `record`).
    fn advance(&mut self);
    /// A barrier: waits until every shard has taken every batch recorded so
    /// far, then returns copies of all open windows, taken after that same
    /// input prefix. Windows closed before the barrier are released by the next
    /// [`WindowEngine::drain_closed`].
    fn copy_open_windows(&mut self) -> Vec<WindowCopy>;
    /// Puts checkpointed state into a fresh engine: input states, the
    /// watermark, and open windows (each to the shard that owns its series).
    fn restore(&mut self, inputs: Vec<(InputId, InputState)>, watermark: Millis, windows: Vec<WindowCopy>);
    /// A barrier like [`WindowEngine::copy_open_windows`] that takes the open windows of
    /// the series `take` picks out of the engine (they close here no more) and returns them.
    fn take_windows(&mut self, take: TakeSeries) -> Vec<WindowCopy>;
    /// Takes over `input` from another instance's partition checkpoint: the router adopts
    /// its state (the watermark may go back, [`Router::adopt`]) and its open windows go to
    /// the shards owning their series. Call after a barrier whose closed windows were drained.
    fn adopt(&mut self, input: InputId, state: InputState, windows: Vec<WindowCopy>);
    /// Open windows, over every shard (as of the shards' latest reports).
    fn n_open_windows(&self) -> usize;
    /// Per-shard load: events routed, batches queued, time the router waited on a full queue.
    fn shard_loads(&self) -> Vec<ShardLoad>;
}

/// Which series [`WindowEngine::take_windows`] takes; shared with the shard threads.
pub type TakeSeries = std::sync::Arc<dyn Fn(crate::series::SeriesId) -> bool + Send + Sync>;

/// One shard's load, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardLoad {
    /// Events routed to the shard so far.
    pub events: u64,
    /// Messages sent and not yet answered (0 for a shard on the caller's thread).
    pub queued: u64,
    /// Nanoseconds the router spent blocked on the shard's full queue.
    pub blocked_ns: u64,
}

impl WindowEngine for Engine {
    fn record(&mut self, input: InputId, batch: &[Event]) -> RecordStats {
        let stats = Engine::record(self, input, batch);
        self.loads.events += stats.accepted;
        stats
    }

    fn check_idle(&mut self, processing_now: Millis) {
        Engine::check_idle(self, processing_now);
    }

    fn finish(&mut self) {
        Engine::finish(self);
    }

    fn drain_closed(&mut self) -> Vec<ClosedWindow> {
        Engine::drain_closed(self)
    }

    fn recycle(&mut self, closed: Vec<ClosedWindow>) {
        self.shard_mut().recycle(closed);
    }

    fn router(&self) -> &Router {
        Engine::router(self)
    }

    fn router_mut(&mut self) -> &mut Router {
        Engine::router_mut(self)
    }

    fn advance(&mut self) {
        let wm = self.router().watermark();
        self.shard_mut().advance(wm);
    }

    fn copy_open_windows(&mut self) -> Vec<WindowCopy> {
        self.shard().copy_open_windows()
    }

    fn restore(&mut self, inputs: Vec<(InputId, InputState)>, watermark: Millis, windows: Vec<WindowCopy>) {
        self.router_mut().restore(inputs, watermark);
        for w in windows {
            self.shard_mut().restore_window(w.series, w.start, w.aggregate, w.empty_streak);
        }
    }

    fn take_windows(&mut self, take: TakeSeries) -> Vec<WindowCopy> {
        self.shard_mut().take_windows(&*take)
    }

    fn adopt(&mut self, input: InputId, state: InputState, windows: Vec<WindowCopy>) {
        self.router_mut().adopt(input, state);
        for w in windows {
            self.shard_mut().restore_window(w.series, w.start, w.aggregate, w.empty_streak);
        }
        let wm = self.router().watermark();
        self.shard_mut().advance(wm);
    }

    fn n_open_windows(&self) -> usize {
        self.shard().n_open_windows()
    }

    fn shard_loads(&self) -> Vec<ShardLoad> {
        vec![self.loads]
    }
}
