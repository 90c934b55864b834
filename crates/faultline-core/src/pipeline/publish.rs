//! The read-only snapshot a pipeline publishes at each window end, for readers on other threads (the SQL tables).

use std::sync::{Arc, Mutex, RwLock};

use crate::detect::Finding;
use crate::incident::Incident;
use crate::latency::LatencyHistogram;
use crate::series::SeriesKey;
use crate::signal::SignalPoint;
use crate::time::Millis;

/// What one window end closed: its signal points with their label sets, the detectors'
/// findings on them, the windows' latency distributions, and the incidents as they stood
/// after it. Immutable once published.
#[derive(Debug, Clone)]
pub struct WindowSnapshot {
    /// The window end.
    pub window_end: Millis,
    /// Every signal point of windows ending there, in label-set order.
    pub points: Vec<(Arc<SeriesKey>, SignalPoint)>,
    /// The findings on those points.
    pub findings: Vec<(Arc<SeriesKey>, Finding)>,
    /// The latency distribution of each window ending there that timed requests, by label set.
    pub latencies: Vec<(Arc<SeriesKey>, LatencyHistogram)>,
    /// Open incidents and those resolved within the flap window.
    pub incidents: Vec<Incident>,
}

/// Someone who gets every snapshot as it is published (on the publishing thread: it must not block).
pub type Subscriber = Box<dyn Fn(&Arc<WindowSnapshot>) + Send + Sync>;

/// Where a pipeline publishes its latest [`WindowSnapshot`]: the pipeline
/// swaps in a new `Arc` at each window end (a write lock held for a pointer
/// swap); readers clone the `Arc` and read it at leisure, and subscribers
/// ([`SnapshotCell::subscribe`]) are handed each one.
#[derive(Clone, Default)]
pub struct SnapshotCell {
    latest: Arc<RwLock<Option<Arc<WindowSnapshot>>>>,
    subscribers: Arc<Mutex<Vec<Subscriber>>>,
}

impl std::fmt::Debug for SnapshotCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotCell").field("latest", &self.latest).finish_non_exhaustive()
    }
}

impl SnapshotCell {
    /// The latest snapshot, `None` before the first window end.
    pub fn latest(&self) -> Option<Arc<WindowSnapshot>> {
        self.latest.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Hands every snapshot published from now on to `subscriber`, on the pipeline's thread:
    /// it must return at once (send it on a bounded queue with `try_send`, say).
    pub fn subscribe(&self, subscriber: Subscriber) {
        self.subscribers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(subscriber);
    }

    /// Whether anyone subscribed (the pipeline then copies latencies and findings).
    pub(crate) fn has_subscribers(&self) -> bool {
        !self.subscribers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_empty()
    }

    pub(crate) fn publish(&self, snapshot: WindowSnapshot) {
        let snapshot = Arc::new(snapshot);
        for s in self.subscribers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            s(&snapshot);
        }
        *self.latest.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(snapshot);
    }
}
