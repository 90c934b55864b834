//! Watermarks per input partition, idleness, and the lateness verdict for each event.

use rustc_hash::FxHashMap;

use crate::series::SeriesId;
use crate::time::{DurationMs, Millis};
use crate::window::WindowSpec;

/// An input partition (a file, a Kafka partition, a connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct InputId(pub u32);

/// Timing rules shared by the router and the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Window shape.
    pub windows: WindowSpec,
    /// The watermark trails the largest event time seen by this much.
    pub out_of_orderness: DurationMs,
    /// Windows stay open this much past the watermark reaching their end.
    pub lateness: DurationMs,
    /// An input with no events for this much processing time stops holding the watermark back.
    pub idle_timeout: DurationMs,
}

/// The state of one input partition, checkpointed with the engine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputState {
    /// Largest event time seen.
    pub max_ts: Millis,
    /// True once idle (no events for the idle timeout); cleared by the next event.
    pub idle: bool,
    /// True once the input reached its end (also idle): when every active
    /// input has ended, the watermark goes to where the furthest one reached.
    #[serde(default)]
    pub ended: bool,
    /// Events of this input before this time are late whatever the watermark: where
    /// windows had closed when the watermark last went back (an input taken over from
    /// another instance, [`Router::adopt`]), so no window closes twice.
    #[serde(default = "beginning_of_time")]
    pub floor: Millis,
    /// Processing time of the last check that saw this input active.
    #[serde(skip)]
    pub last_active: Option<Millis>,
    #[serde(skip)]
    touched: bool,
}

fn beginning_of_time() -> Millis {
    Millis::MIN
}

impl InputState {
    /// An input with no events yet.
    fn unseen(idle: bool) -> InputState {
        InputState { max_ts: Millis::MIN, idle, ended: false, floor: Millis::MIN, last_active: None, touched: false }
    }
}

/// Decides, event by event, whether an event is on time, and tracks the
/// engine's watermark: the minimum over active inputs of (max event time −
/// out-of-orderness), never moving backwards. An event is late when its
/// earliest window has closed: `first window end + lateness <= watermark`.
/// The verdict uses the watermark as of the previous event, so it does not
/// depend on how the input is split into batches.
#[derive(Debug, Clone)]
pub struct Router {
    timing: Timing,
    inputs: Vec<Option<InputState>>,
    watermark: Millis,
    /// Events at or after this time are on time: the start of the earliest
    /// window slot still open, `floor((watermark - lateness) / slide) * slide`.
    on_time_from: Millis,
    /// `on_time_from` is recomputed (a division) only once the close threshold reaches this.
    recompute_at: Millis,
    late: FxHashMap<SeriesId, u64>,
    n_late: u64,
    /// The active input with the smallest `max_ts` (the one holding the
    /// watermark back), so an event of any other input skips the scan.
    slowest: Option<usize>,
}

impl Router {
    /// A router with no inputs yet; the watermark starts at the beginning of time.
    pub fn new(timing: Timing) -> Router {
        Router {
            timing,
            inputs: Vec::new(),
            watermark: Millis::MIN,
            on_time_from: Millis::MIN,
            recompute_at: Millis::MIN,
            late: FxHashMap::default(),
            n_late: 0,
            slowest: None,
        }
    }

    /// The timing rules.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// The engine's watermark.
    pub fn watermark(&self) -> Millis {
        self.watermark
    }

    /// Windows ending at or before this are closed.
    pub fn closed_through(&self) -> Millis {
        self.watermark.minus(self.timing.lateness)
    }

    /// Verdict for one event from `input`, updating the watermark. `false`
    /// means late: counted against its series, not to be recorded.
    #[inline]
    pub fn admit(&mut self, input: InputId, ts: Millis, series: SeriesId) -> bool {
        // first_end(ts) > closed_through  <=>  ts >= floor(closed_through / slide) * slide.
        let mut on_time = ts >= self.on_time_from;
        debug_assert_eq!(on_time, self.timing.windows.first_end(ts) > self.closed_through());
        match self.inputs.get_mut(input.0 as usize) {
            Some(Some(state)) => {
                on_time &= ts >= state.floor;
                state.touched = true;
                if ts > state.max_ts || state.idle {
                    self.advance_input(input, ts);
                }
            }
            _ => self.advance_input(input, ts),
        }
        if !on_time {
            self.count_late(series);
        }
        on_time
    }

    /// Declares an input before its first event: from now on it holds the
    /// watermark back (at the beginning of time) until it sends events or is
    /// idle for the idle timeout, so a source that starts late does not find
    /// its first windows already closed. Declaring a known input changes nothing.
    pub fn declare(&mut self, input: InputId) {
        let slot = self.slot(input);
        if slot.is_none() {
            *slot = Some(InputState::unseen(false));
            self.recompute();
        }
    }

    /// The state of `input`, growing the table to hold it.
    fn slot(&mut self, input: InputId) -> &mut Option<InputState> {
        let idx = input.0 as usize;
        if idx >= self.inputs.len() {
            self.inputs.resize(idx + 1, None);
        }
        &mut self.inputs[idx]
    }

    /// The input reached its end: it holds the watermark back no more. Once
    /// no input is active and every input has ended, the watermark goes to
    /// where the furthest one reached, whatever order they ended in.
    pub fn end(&mut self, input: InputId) {
        if let Some(Some(state)) = self.inputs.get_mut(input.0 as usize) {
            state.idle = true;
            state.ended = true;
            self.recompute();
        }
        let all_ended = self.inputs.iter().flatten().all(|s| s.ended);
        if self.slowest.is_none() && all_ended {
            let ooo = self.timing.out_of_orderness;
            if let Some(furthest) = self.inputs.iter().flatten().map(|s| s.max_ts.minus(ooo)).max() {
                self.watermark = self.watermark.max(furthest);
                self.update_on_time_from();
            }
        }
    }

    /// A new input, a newer event time, or an idle input waking up.
    fn advance_input(&mut self, input: InputId, ts: Millis) {
        let idx = input.0 as usize;
        // Undeclared until now: it counts as waking up.
        let state = self.slot(input).get_or_insert(InputState::unseen(true));
        let woke = std::mem::replace(&mut state.idle, false);
        // An ended input that gets events again (a finished file that grew) is live again.
        state.ended = false;
        state.touched = true;
        state.max_ts = state.max_ts.max(ts);
        let max_ts = state.max_ts;
        if self.inputs.len() == 1 {
            // One input: the minimum over inputs is this one; skip the scan.
            self.slowest = Some(idx);
            self.watermark = self.watermark.max(max_ts.minus(self.timing.out_of_orderness));
            self.update_on_time_from();
            return;
        }
        match self.slowest {
            // The input holding the watermark back moved: find the new slowest.
            Some(s) if s == idx => self.recompute(),
            // Another active input moved forward: the minimum is unchanged.
            Some(s) if !woke => {
                debug_assert!(self.inputs[s].as_ref().is_some_and(|st| st.max_ts <= max_ts));
            }
            // A new or waking input may be the slowest now.
            Some(s) => {
                if self.inputs[s].as_ref().is_none_or(|st| max_ts < st.max_ts) {
                    self.slowest = Some(idx);
                }
                self.apply_slowest();
            }
            None => self.recompute(),
        }
    }

    #[cold]
    fn count_late(&mut self, series: SeriesId) {
        *self.late.entry(series).or_insert(0) += 1;
        self.n_late += 1;
    }

    /// Finds the slowest active input by a scan (only when the slowest one moved or went idle).
    fn recompute(&mut self) {
        self.slowest = self
            .inputs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|s| !s.idle).map(|s| (s.max_ts, i)))
            .min()
            .map(|(_, i)| i);
        self.apply_slowest();
    }

    fn apply_slowest(&mut self) {
        if let Some(state) = self.slowest.and_then(|i| self.inputs[i].as_ref()) {
            self.watermark = self.watermark.max(state.max_ts.minus(self.timing.out_of_orderness));
        }
        self.update_on_time_from();
    }

    #[inline]
    fn update_on_time_from(&mut self) {
        let through = self.closed_through();
        if through >= self.recompute_at {
            let slide = self.timing.windows.slide().0;
            let from = through.0.div_euclid(slide).saturating_mul(slide);
            self.on_time_from = Millis(from);
            self.recompute_at = Millis(from.saturating_add(slide));
        }
    }

    /// Marks inputs without events for the idle timeout as idle, so they stop
    /// holding the watermark back. `processing_now` comes from the caller.
    pub fn check_idle(&mut self, processing_now: Millis) {
        let timeout = self.timing.idle_timeout;
        let mut changed = false;
        for s in self.inputs.iter_mut().flatten() {
            if std::mem::take(&mut s.touched) || s.last_active.is_none() {
                s.last_active = Some(processing_now);
            } else if !s.idle && s.last_active.is_some_and(|t| processing_now.0.saturating_sub(t.0) >= timeout.0) {
                s.idle = true;
                changed = true;
            }
        }
        if changed {
            self.recompute();
        }
    }

    /// Late events per series.
    pub fn late_by_series(&self) -> &FxHashMap<SeriesId, u64> {
        &self.late
    }

    /// Late events in all.
    pub fn n_late(&self) -> u64 {
        self.n_late
    }

    /// Input states, for checkpoints.
    pub fn inputs(&self) -> impl Iterator<Item = (InputId, &InputState)> {
        self.inputs.iter().enumerate().filter_map(|(i, s)| s.as_ref().map(|s| (InputId(i as u32), s)))
    }

    /// The start of the earliest window slot still open: events before it are late.
    pub fn on_time_from(&self) -> Millis {
        self.on_time_from
    }

    /// Takes over `input` in the state another instance checkpointed it in (a Kafka
    /// partition moved here): the input is live with that state, and the watermark
    /// becomes the minimum over active inputs again, which may take it *back* to the
    /// adopted input's. Windows already closed here stay closed: every other input's
    /// floor rises to where windows had closed, and the adopted input keeps the floor it
    /// was checkpointed with, so an event either side rejects is late.
    pub fn adopt(&mut self, input: InputId, mut state: InputState) {
        let closed_from = self.on_time_from;
        for s in self.inputs.iter_mut().flatten() {
            s.floor = s.floor.max(closed_from);
        }
        state.idle = false;
        state.ended = false;
        state.touched = true;
        state.last_active = None;
        *self.slot(input) = Some(state);
        self.watermark = Millis::MIN;
        self.on_time_from = Millis::MIN;
        self.recompute_at = Millis::MIN;
        self.recompute();
    }

    /// Restores inputs and the watermark from a checkpoint.
    pub fn restore(&mut self, inputs: Vec<(InputId, InputState)>, watermark: Millis) {
        for (id, state) in inputs {
            *self.slot(id) = Some(state);
        }
        self.watermark = watermark;
        self.recompute_at = Millis::MIN;
        self.recompute();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(Timing {
            windows: WindowSpec::tumbling(DurationMs(10_000)).unwrap(),
            out_of_orderness: DurationMs(2_000),
            lateness: DurationMs(0),
            idle_timeout: DurationMs(30_000),
        })
    }

    const S: SeriesId = SeriesId(7);

    #[test]
    fn an_adopted_input_takes_the_watermark_back_and_closed_windows_stay_closed() {
        let mut r = router();
        r.declare(InputId(1));
        r.end(InputId(1));
        assert!(r.admit(InputId(0), Millis(55_000), S));
        assert_eq!(r.watermark(), Millis(53_000));
        // Input 1 comes from another instance, which had read it to 21 s.
        let mut theirs = InputState::unseen(false);
        theirs.max_ts = Millis(21_000);
        theirs.floor = Millis(10_000);
        r.adopt(InputId(1), theirs);
        assert_eq!(r.watermark(), Millis(19_000), "the minimum over live inputs, back in time");
        assert!(r.admit(InputId(1), Millis(12_000), S), "[10 s, 20 s) is open for input 1");
        assert!(!r.admit(InputId(1), Millis(9_000), S), "its floor: [0, 10 s) closed over there");
        assert!(!r.admit(InputId(0), Millis(45_000), S), "[40 s, 50 s) closed here for input 0");
        assert!(r.admit(InputId(0), Millis(50_500), S));
        assert!(r.admit(InputId(1), Millis(60_000), S));
        assert_eq!(r.watermark(), Millis(53_000), "input 0 holds it back again");
    }

    #[test]
    fn watermark_trails_max_by_out_of_orderness() {
        let mut r = router();
        assert!(r.admit(InputId(0), Millis(15_000), S));
        assert_eq!(r.watermark(), Millis(13_000));
        assert!(!r.admit(InputId(0), Millis(9_000), S), "[0s, 10s) closed at watermark 13s");
        assert!(r.admit(InputId(0), Millis(10_000), S), "[10s, 20s) open");
    }

    #[test]
    fn events_of_closed_windows_are_late_and_counted() {
        let mut r = router();
        r.admit(InputId(0), Millis(22_500), S);
        assert_eq!(r.watermark(), Millis(20_500));
        assert!(!r.admit(InputId(0), Millis(19_999), S));
        assert!(r.admit(InputId(0), Millis(20_000), S));
        assert_eq!(r.late_by_series()[&S], 1);
        assert_eq!(r.n_late(), 1);
    }

    #[test]
    fn a_declared_input_holds_the_watermark_before_its_first_event_and_not_after_its_end() {
        let mut r = router();
        r.declare(InputId(1));
        r.admit(InputId(0), Millis(100_000), S);
        assert_eq!(r.watermark(), Millis::MIN.minus(DurationMs(2_000)), "input 1 has said nothing yet");
        assert!(r.admit(InputId(1), Millis(50_000), S), "its first events are on time");
        assert_eq!(r.watermark(), Millis(48_000));
        r.end(InputId(1));
        assert_eq!(r.watermark(), Millis(98_000), "an ended input holds nothing back");
        r.declare(InputId(1));
        assert_eq!(r.watermark(), Millis(98_000), "declaring a known input changes nothing");
    }

    #[test]
    fn once_every_input_ended_the_watermark_is_the_furthest_whatever_the_order() {
        for order in [[0, 1], [1, 0]] {
            let mut r = router();
            // Both declared up front, so input 1 holds the watermark at 48 s until it ends.
            r.declare(InputId(0));
            r.declare(InputId(1));
            r.admit(InputId(0), Millis(100_000), S);
            r.admit(InputId(1), Millis(50_000), S);
            r.end(InputId(order[0]));
            r.end(InputId(order[1]));
            assert_eq!(r.watermark(), Millis(98_000), "ended in order {order:?}");
        }
    }

    #[test]
    fn slowest_input_holds_watermark_until_idle() {
        let mut r = router();
        r.admit(InputId(0), Millis(100_000), S);
        r.admit(InputId(1), Millis(50_000), S);
        assert_eq!(r.watermark(), Millis(98_000), "watermark never moves back");
        r.admit(InputId(0), Millis(200_000), S);
        assert_eq!(r.watermark(), Millis(98_000), "input 1 holds it");
        r.check_idle(Millis(0));
        r.admit(InputId(0), Millis(201_000), S);
        r.check_idle(Millis(10_000));
        assert_eq!(r.watermark(), Millis(98_000));
        r.admit(InputId(0), Millis(202_000), S);
        r.check_idle(Millis(40_000));
        assert_eq!(r.watermark(), Millis(200_000), "idle input 1 released it");
    }
}
