//! A shard: the open windows of the series it owns, closed as the watermark passes them.

use std::collections::BTreeMap;

use crate::aggregate::{Aggregate, RequestAggregate};
use crate::event::Event;
use crate::latency::LatencyHistogram;
use crate::series::SeriesId;
use crate::time::{DurationMs, Millis};
use crate::window::{ClosedWindow, Window, WindowSpec};

/// Open windows kept inline per series before spilling to the heap: with
/// tumbling windows and a short out-of-orderness a series rarely has more
/// than two, and inline storage saves a dependent cache miss per event.
type OpenWindows = smallvec::SmallVec<[OpenWindow; 2]>;

/// Open windows of the series routed to one shard. Recording touches only
/// this shard's memory: no lock, no atomic. Windows close when
/// [`Shard::advance`] passes their end plus the allowed lateness.
#[derive(Debug)]
pub struct Shard {
    windows: WindowSpec,
    tumbling: bool,
    lateness: DurationMs,
    empty_windows: u32,
    /// This shard owns the series with `id % n_shards == shard_idx`.
    shard_idx: u32,
    n_shards: u32,
    /// Indexed by `series id / n_shards`: one slot per series this shard owns.
    slots: Vec<SeriesWindows>,
    n_series: usize,
    /// Window end → series with an open window ending there.
    schedule: BTreeMap<Millis, Vec<u32>>,
    closed: Vec<ClosedWindow>,
    n_open: usize,
    /// Emptied histograms of closed windows, for windows whose inline latencies overflow.
    spare: Vec<LatencyHistogram>,
}

/// Most emptied histograms a shard keeps for reuse (about 40 MB).
const MAX_SPARE_HISTOGRAMS: usize = 16 * 1024;

#[derive(Debug)]
struct SeriesWindows {
    open: OpenWindows,
    empty_streak: u32,
    seen: bool,
}

/// An open window copied out of a shard (for a checkpoint) or put back into one.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowCopy {
    /// The series.
    pub series: SeriesId,
    /// Window start.
    pub start: Millis,
    /// What the window saw so far.
    pub aggregate: Aggregate,
    /// Empty windows emitted in a row for the series so far.
    pub empty_streak: u32,
}

/// A window still accepting events.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenWindow {
    /// Window start.
    pub start: Millis,
    /// What it saw so far.
    pub aggregate: Aggregate,
}

impl Shard {
    /// An empty shard. `empty_windows`: after a request or transaction series
    /// goes quiet, emit up to this many empty windows for it, so a traffic
    /// collapse shows as zero volume rather than as silence.
    pub fn new(windows: WindowSpec, lateness: DurationMs, empty_windows: u32) -> Shard {
        Shard {
            windows,
            tumbling: windows.windows_per_event() == 1,
            lateness,
            empty_windows,
            shard_idx: 0,
            n_shards: 1,
            slots: Vec::new(),
            n_series: 0,
            schedule: BTreeMap::new(),
            closed: Vec::new(),
            n_open: 0,
            spare: Vec::new(),
        }
    }

    /// This shard as shard `shard_idx` of `n_shards` (`n_shards` at least 1): it will only
    /// be given the series with `id % n_shards == shard_idx`, so its slot table holds those
    /// alone instead of a mostly empty slot for every series of every shard.
    pub fn owning_share(mut self, shard_idx: usize, n_shards: usize) -> Shard {
        assert!(shard_idx < n_shards && self.slots.is_empty(), "a fresh shard, one of n_shards");
        self.shard_idx = u32::try_from(shard_idx).expect("fewer than 2^32 shards");
        self.n_shards = u32::try_from(n_shards).expect("fewer than 2^32 shards");
        self
    }

    /// The series in `slot`.
    #[inline]
    fn series_of(&self, slot: usize) -> SeriesId {
        SeriesId(slot as u32 * self.n_shards + self.shard_idx)
    }

    #[inline]
    fn slot(&mut self, series: SeriesId) -> usize {
        debug_assert_eq!(series.0 % self.n_shards, self.shard_idx, "a series routed to the shard owning it");
        // A division is a dozen cycles on the event's dependent chain: skip it for one shard.
        let idx = if self.n_shards == 1 { series.index() } else { (series.0 / self.n_shards) as usize };
        if idx >= self.slots.len() {
            self.grow(idx);
        }
        if !self.slots[idx].seen {
            self.slots[idx].seen = true;
            self.n_series += 1;
        }
        idx
    }

    #[cold]
    fn grow(&mut self, idx: usize) {
        let want = (idx + 1).max(self.slots.len() * 2);
        self.slots.resize_with(want, || SeriesWindows { open: OpenWindows::new(), empty_streak: 0, seen: false });
    }

    /// Records an event the router admitted into every window containing it.
    #[inline]
    pub fn record(&mut self, ev: &Event) {
        let slot = self.slot(ev.series);
        if self.tumbling {
            // Fast path: find the open window containing `ts` by comparison, no division.
            let size = self.windows.size().0;
            let sw = &mut self.slots[slot];
            if let Some(w) = sw.open.iter_mut().find(|w| (ev.ts.0.wrapping_sub(w.start.0) as u64) < size as u64) {
                w.aggregate.record_reusing(ev.ts, &ev.body, &mut self.spare);
                return;
            }
            let start = self.windows.last_start(ev.ts);
            self.open_and_record(slot, start, ev);
            return;
        }
        for start in self.windows.starts(ev.ts) {
            let sw = &mut self.slots[slot];
            match sw.open.iter_mut().find(|w| w.start == start) {
                Some(w) => {
                    w.aggregate.record_reusing(ev.ts, &ev.body, &mut self.spare);
                }
                None => self.open_and_record(slot, start, ev),
            }
        }
    }

    #[inline(never)]
    fn open_and_record(&mut self, slot: usize, start: Millis, ev: &Event) {
        let mut aggregate = Aggregate::for_body(&ev.body);
        aggregate.record_reusing(ev.ts, &ev.body, &mut self.spare);
        self.slots[slot].open.push(OpenWindow { start, aggregate });
        self.schedule.entry(start.plus(self.windows.size())).or_default().push(slot as u32);
        self.n_open += 1;
    }

    /// Closes every window with `end + lateness <= watermark`.
    pub fn advance(&mut self, watermark: Millis) {
        self.close_through(watermark.minus(self.lateness), None);
    }

    /// End of input: closes every open window. Empty trailing windows past
    /// `data_watermark` (the last watermark the data itself reached) are
    /// dropped rather than emitted, and no new ones are made.
    pub fn finish(&mut self, data_watermark: Millis) {
        let through = data_watermark.minus(self.lateness);
        self.close_through(through, None);
        self.close_through(Millis::MAX, Some(through));
    }

    fn close_through(&mut self, through: Millis, final_after: Option<Millis>) {
        while let Some(entry) = self.schedule.first_entry() {
            if *entry.key() > through {
                break;
            }
            let (end, slots) = entry.remove_entry();
            let start = end.minus(self.windows.size());
            for slot in slots {
                self.close_one(slot as usize, start, final_after);
            }
        }
    }

    fn close_one(&mut self, slot: usize, start: Millis, final_after: Option<Millis>) {
        let sw = &mut self.slots[slot];
        let Some(i) = sw.open.iter().position(|w| w.start == start) else {
            return;
        };
        let w = sw.open.swap_remove(i);
        self.n_open -= 1;
        let window = self.windows.at(start);
        let is_empty = w.aggregate.n_events() == 0;
        if is_empty && final_after.is_some_and(|t| window.end > t) {
            return;
        }
        sw.empty_streak = if is_empty { sw.empty_streak + 1 } else { 0 };
        let wants_successor = final_after.is_none()
            && sw.empty_streak < self.empty_windows
            && matches!(w.aggregate, Aggregate::Request(_) | Aggregate::Transaction(_));
        if wants_successor {
            let next = start.plus(self.windows.slide());
            if !sw.open.iter().any(|o| o.start == next) {
                sw.open.push(OpenWindow { start: next, aggregate: w.aggregate.empty_like() });
                self.schedule.entry(next.plus(self.windows.size())).or_default().push(slot as u32);
                self.n_open += 1;
            }
        }
        let series = self.series_of(slot);
        self.closed.push(ClosedWindow { series, window, aggregate: w.aggregate });
    }

    /// Takes back windows drained earlier, once their reader is done with them:
    /// their histograms are emptied and handed to windows opened later, instead
    /// of being freed and allocated again. Keeps at most as many as windows are
    /// open (and [`MAX_SPARE_HISTOGRAMS`]), so memory does not grow.
    pub fn recycle(&mut self, closed: impl IntoIterator<Item = ClosedWindow>) {
        let cap = self.n_open.min(MAX_SPARE_HISTOGRAMS);
        for c in closed {
            if self.spare.len() >= cap {
                break;
            }
            if let Aggregate::Request(RequestAggregate { latency: Some(h), .. }) = c.aggregate
                && let Some(h) = h.into_reusable()
            {
                self.spare.push(h);
            }
        }
    }

    /// Takes the windows closed so far, in (end, series) order.
    pub fn drain_closed(&mut self) -> Vec<ClosedWindow> {
        let mut out = std::mem::take(&mut self.closed);
        out.sort_by_key(|c| (c.window.end, c.series));
        out
    }

    /// Number of open windows.
    pub fn n_open_windows(&self) -> usize {
        self.n_open
    }

    /// Number of series this shard has seen.
    pub fn n_series(&self) -> usize {
        self.n_series
    }

    /// Bytes held by open windows (aggregates and histograms), approximately.
    pub fn open_size_bytes(&self) -> usize {
        self.slots
            .iter()
            .flat_map(|s| s.open.iter())
            // Heap parts of every window (histograms); the inline parts are in the slot table.
            .map(|w| w.aggregate.size_bytes() - std::mem::size_of::<Aggregate>())
            .sum::<usize>()
            + self.slots.capacity() * std::mem::size_of::<SeriesWindows>()
    }

    /// Every open window with its series, for checkpoints.
    pub fn open_windows(&self) -> impl Iterator<Item = (SeriesId, Window, &Aggregate, u32)> {
        self.slots.iter().enumerate().flat_map(move |(i, s)| {
            s.open.iter().map(move |w| (self.series_of(i), self.windows.at(w.start), &w.aggregate, s.empty_streak))
        })
    }

    /// Copies of every open window (a plain copy: serialising is the caller's, off this thread).
    pub fn copy_open_windows(&self) -> Vec<WindowCopy> {
        let mut out = Vec::with_capacity(self.n_open);
        for (i, s) in self.slots.iter().enumerate() {
            for w in &s.open {
                out.push(WindowCopy {
                    series: self.series_of(i),
                    start: w.start,
                    aggregate: w.aggregate.clone(),
                    empty_streak: s.empty_streak,
                });
            }
        }
        out
    }

    /// Takes out the open windows of every series `take` picks (a partition handed to
    /// another instance), as copies; they close here no more.
    pub fn take_windows(&mut self, take: &dyn Fn(SeriesId) -> bool) -> Vec<WindowCopy> {
        let mut out = Vec::new();
        for i in 0..self.slots.len() {
            if self.slots[i].open.is_empty() || !take(self.series_of(i)) {
                continue;
            }
            let series = self.series_of(i);
            let sw = &mut self.slots[i];
            let empty_streak = std::mem::take(&mut sw.empty_streak);
            self.n_open -= sw.open.len();
            // Their close-schedule entries stay: closing finds no window there and moves on.
            out.extend(sw.open.drain(..).map(|w| WindowCopy {
                series,
                start: w.start,
                aggregate: w.aggregate,
                empty_streak,
            }));
        }
        out
    }

    /// Puts back an open window from a checkpoint (merging if one is already open).
    pub fn restore_window(&mut self, series: SeriesId, start: Millis, aggregate: Aggregate, empty_streak: u32) {
        let slot = self.slot(series);
        let size = self.windows.size();
        let sw = &mut self.slots[slot];
        sw.empty_streak = empty_streak;
        if let Some(w) = sw.open.iter_mut().find(|w| w.start == start) {
            w.aggregate.merge(&aggregate);
            return;
        }
        sw.open.push(OpenWindow { start, aggregate });
        self.schedule.entry(start.plus(size)).or_default().push(slot as u32);
        self.n_open += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventBody, Request};

    #[test]
    fn a_share_of_the_series_gets_a_slot_table_of_its_share_and_the_same_windows() {
        let spec = WindowSpec::tumbling(DurationMs(10_000)).expect("valid");
        let mut whole = Shard::new(spec, DurationMs(0), 2);
        let mut share = Shard::new(spec, DurationMs(0), 2).owning_share(1, 4);
        let events: Vec<Event> = (0..1000u32)
            .flat_map(|k| {
                [3_000, 12_000].map(|ts| Event {
                    ts: Millis(ts + i64::from(k)),
                    series: SeriesId(4 * k + 1),
                    body: EventBody::Request(Request { latency_us: Some(1_000 + u64::from(k)), is_error: k % 7 == 0 }),
                })
            })
            .collect();
        for shard in [&mut whole, &mut share] {
            events.iter().for_each(|ev| shard.record(ev));
            shard.advance(Millis(10_000));
        }
        assert!(share.slots.len() < 1100, "a slot per owned series, with growth slack: {}", share.slots.len());
        assert!(whole.slots.len() > 4 * 999, "{}", whole.slots.len());
        assert_eq!(share.copy_open_windows(), whole.copy_open_windows());
        assert_eq!(share.drain_closed(), whole.drain_closed());
        share.finish(Millis(20_000));
        whole.finish(Millis(20_000));
        let closed = share.drain_closed();
        assert_eq!(closed.len(), 1000);
        assert_eq!(closed, whole.drain_closed());
    }
}
