//! The single-threaded, deterministic engine: router and one shard, batches in, closed windows out.

use crate::event::Event;
use crate::shard::Shard;
use crate::time::{DurationMs, Millis};
use crate::watermark::{InputId, Router, Timing};
use crate::window::{ClosedWindow, WindowSpec};

/// Engine settings (the `[windows]` section of a pipeline config, validated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Timing rules: window shape, out-of-orderness, lateness, idle timeout.
    pub timing: Timing,
    /// Empty windows emitted after a request or transaction series goes quiet.
    pub empty_windows: u32,
}

impl Default for EngineConfig {
    /// The defaults of `pipelines/demo.toml`: 10 s tumbling windows, 2 s
    /// out-of-orderness, no extra lateness, 60 s idle timeout.
    fn default() -> Self {
        EngineConfig {
            timing: Timing {
                windows: WindowSpec::tumbling(DurationMs::from_secs(10)).expect("10 s is a valid window"),
                out_of_orderness: DurationMs::from_secs(2),
                lateness: DurationMs(0),
                idle_timeout: DurationMs::from_secs(60),
            },
            empty_windows: 30,
        }
    }
}

/// What one `record` call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Events applied to their windows.
    pub accepted: u64,
    /// Events whose window had closed: counted per series, not applied.
    pub late: u64,
}

impl std::ops::AddAssign for RecordStats {
    fn add_assign(&mut self, o: RecordStats) {
        self.accepted += o.accepted;
        self.late += o.late;
    }
}

/// The engine on one thread. The same input gives the same closed windows
/// whatever the batch sizes; [`crate::sharded::ShardedEngine`] gives the same
/// again on N threads.
///
/// ```
/// use faultline_core::{Engine, EngineConfig, Event, EventBody, InputId, Millis, SeriesId};
/// use faultline_core::event::Request;
/// let mut e = Engine::new(EngineConfig::default());
/// let ev = |ts| Event { ts: Millis(ts), series: SeriesId(0),
///     body: EventBody::Request(Request { latency_us: Some(5_000), is_error: false }) };
/// e.record(InputId(0), &[ev(1_000), ev(2_000), ev(13_000)]);
/// let closed = e.drain_closed();
/// assert_eq!(closed.len(), 1); // [0 s, 10 s) closed at watermark 11 s
/// assert_eq!(closed[0].aggregate.n_events(), 2);
/// ```
#[derive(Debug)]
pub struct Engine {
    router: Router,
    shard: Shard,
    pub(crate) loads: crate::window_engine::ShardLoad,
}

impl Engine {
    /// An engine with nothing recorded.
    pub fn new(config: EngineConfig) -> Engine {
        let t = config.timing;
        Engine {
            router: Router::new(t),
            shard: Shard::new(t.windows, t.lateness, config.empty_windows),
            loads: Default::default(),
        }
    }

    /// Records a batch from `input`; late events are counted, not applied.
    pub fn record(&mut self, input: InputId, batch: &[Event]) -> RecordStats {
        let mut stats = RecordStats::default();
        for ev in batch {
            if self.router.admit(input, ev.ts, ev.series) {
                self.shard.record(ev);
                stats.accepted += 1;
            } else {
                stats.late += 1;
            }
        }
        self.shard.advance(self.router.watermark());
        stats
    }

    /// Lets inputs without events for the idle timeout stop holding the
    /// watermark back; `processing_now` is the caller's clock.
    pub fn check_idle(&mut self, processing_now: Millis) {
        self.router.check_idle(processing_now);
        self.shard.advance(self.router.watermark());
    }

    /// End of all input: closes every window.
    pub fn finish(&mut self) {
        self.shard.finish(self.router.watermark());
    }

    /// Windows closed since the last call, in (end, series) order.
    pub fn drain_closed(&mut self) -> Vec<ClosedWindow> {
        self.shard.drain_closed()
    }

    /// The watermark.
    pub fn watermark(&self) -> Millis {
        self.router.watermark()
    }

    /// The router (watermarks, late counts).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Mutable router, for restoring a checkpoint.
    pub fn router_mut(&mut self) -> &mut Router {
        &mut self.router
    }

    /// The shard (open windows).
    pub fn shard(&self) -> &Shard {
        &self.shard
    }

    /// Mutable shard, for restoring a checkpoint.
    pub fn shard_mut(&mut self) -> &mut Shard {
        &mut self.shard
    }
}
