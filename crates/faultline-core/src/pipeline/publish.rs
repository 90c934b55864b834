//! The read-only snapshot a pipeline publishes at each window end, for readers on other threads (the SQL tables).

use std::sync::{Arc, RwLock};

use crate::incident::Incident;
use crate::series::SeriesKey;
use crate::signal::SignalPoint;
use crate::time::Millis;

/// What one window end closed: its signal points with their label sets, and
/// the incidents as they stood after it. Immutable once published.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSnapshot {
    /// The window end.
    pub window_end: Millis,
    /// Every signal point of windows ending there, in label-set order.
    pub points: Vec<(Arc<SeriesKey>, SignalPoint)>,
    /// Open incidents and those resolved within the flap window.
    pub incidents: Vec<Incident>,
}

/// Where a pipeline publishes its latest [`WindowSnapshot`]: the pipeline
/// swaps in a new `Arc` at each window end (a write lock held for a pointer
/// swap); readers clone the `Arc` and read it at leisure.
#[derive(Debug, Clone, Default)]
pub struct SnapshotCell(Arc<RwLock<Option<Arc<WindowSnapshot>>>>);

impl SnapshotCell {
    /// The latest snapshot, `None` before the first window end.
    pub fn latest(&self) -> Option<Arc<WindowSnapshot>> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub(crate) fn publish(&self, snapshot: WindowSnapshot) {
        let snapshot = Arc::new(snapshot);
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(snapshot);
    }
}
