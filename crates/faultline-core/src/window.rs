//! Event-time windows: epoch-aligned, half-open `[start, end)`, tumbling or hopping.

use crate::aggregate::Aggregate;
use crate::series::SeriesId;
use crate::time::{DurationMs, Millis};

/// Window shape: `size`, advancing by `slide` (`slide == size` is tumbling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    size: DurationMs,
    slide: DurationMs,
}

/// Why a window shape is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowSpecError {
    /// Size or slide not positive.
    #[error("window size and slide must be positive, got size {size} slide {slide}")]
    NotPositive {
        /// Size given.
        size: DurationMs,
        /// Slide given.
        slide: DurationMs,
    },
    /// Size not a whole multiple of the slide.
    #[error("window size {size} must be a whole multiple of the slide {slide}")]
    NotMultiple {
        /// Size given.
        size: DurationMs,
        /// Slide given.
        slide: DurationMs,
    },
}

impl WindowSpec {
    /// Tumbling windows of `size`.
    pub fn tumbling(size: DurationMs) -> Result<WindowSpec, WindowSpecError> {
        WindowSpec::hopping(size, size)
    }

    /// Hopping windows of `size` every `slide`; `size` must be a multiple of `slide`.
    pub fn hopping(size: DurationMs, slide: DurationMs) -> Result<WindowSpec, WindowSpecError> {
        if size.0 <= 0 || slide.0 <= 0 {
            return Err(WindowSpecError::NotPositive { size, slide });
        }
        if size.0 % slide.0 != 0 {
            return Err(WindowSpecError::NotMultiple { size, slide });
        }
        Ok(WindowSpec { size, slide })
    }

    /// Window length.
    pub fn size(&self) -> DurationMs {
        self.size
    }

    /// Distance between window starts.
    pub fn slide(&self) -> DurationMs {
        self.slide
    }

    /// How many windows each instant belongs to.
    pub fn windows_per_event(&self) -> usize {
        (self.size.0 / self.slide.0) as usize
    }

    /// The start of the latest window containing `ts`.
    #[inline]
    pub fn last_start(&self, ts: Millis) -> Millis {
        Millis(ts.0.div_euclid(self.slide.0) * self.slide.0)
    }

    /// The end of the earliest window containing `ts`: once the close
    /// threshold passes it, some window of the event is closed.
    #[inline]
    pub fn first_end(&self, ts: Millis) -> Millis {
        let last = self.last_start(ts).0;
        Millis(last - (self.size.0 - self.slide.0) + self.size.0)
    }

    /// Starts of every window containing `ts`, latest first.
    pub fn starts(&self, ts: Millis) -> impl Iterator<Item = Millis> + use<> {
        let last = self.last_start(ts).0;
        let slide = self.slide.0;
        (0..self.windows_per_event() as i64).map(move |k| Millis(last - k * slide))
    }

    /// The window starting at `start`.
    pub fn at(&self, start: Millis) -> Window {
        Window { start, end: start.plus(self.size) }
    }
}

/// One window, `[start, end)` in event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// Inclusive start.
    pub start: Millis,
    /// Exclusive end.
    pub end: Millis,
}

impl Window {
    /// Length in seconds, for rates.
    pub fn secs(&self) -> f64 {
        (self.end.0 - self.start.0) as f64 / 1000.0
    }
}

/// A window the watermark has passed: final, never updated again.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedWindow {
    /// The series.
    pub series: SeriesId,
    /// The window.
    pub window: Window,
    /// What the series saw in it.
    pub aggregate: Aggregate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_aligns_to_epoch() {
        let w = WindowSpec::tumbling(DurationMs(10_000)).unwrap();
        assert_eq!(w.starts(Millis(12_345)).collect::<Vec<_>>(), vec![Millis(10_000)]);
        assert_eq!(w.starts(Millis(-1)).collect::<Vec<_>>(), vec![Millis(-10_000)]);
        assert_eq!(w.first_end(Millis(10_000)), Millis(20_000));
        assert_eq!(w.first_end(Millis(19_999)), Millis(20_000));
    }

    #[test]
    fn hopping_assigns_every_covering_window() {
        let w = WindowSpec::hopping(DurationMs(30_000), DurationMs(10_000)).unwrap();
        let starts: Vec<_> = w.starts(Millis(25_000)).collect();
        assert_eq!(starts, vec![Millis(20_000), Millis(10_000), Millis(0)]);
        for s in starts {
            let win = w.at(s);
            assert!(win.start <= Millis(25_000) && Millis(25_000) < win.end);
        }
        assert_eq!(w.first_end(Millis(25_000)), Millis(30_000));
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(WindowSpec::hopping(DurationMs(0), DurationMs(0)).is_err());
        assert!(matches!(
            WindowSpec::hopping(DurationMs(25), DurationMs(10)),
            Err(WindowSpecError::NotMultiple { .. })
        ));
    }
}
