//! Per-(series, window) aggregates, with exact, associative and commutative merge.

use std::sync::Arc;

use crate::event::{Change, EventBody, Gauge, Outcome, Request, Transaction};
use crate::latency::LatencyHistogram;
use crate::series::SeriesKind;
use crate::time::Millis;

/// What one series saw in one window. The variant follows the series' kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// Requests and outbound calls.
    Request(RequestAggregate),
    /// Gauge readings.
    Gauge(GaugeAggregate),
    /// Business transactions.
    Transaction(TransactionAggregate),
    /// Change events.
    Change(ChangeAggregate),
}

/// Requests in a window.
#[derive(Debug, Clone, Default)]
pub struct RequestAggregate {
    /// Requests seen.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// Latency distribution, `Some` from the first request with a latency; the first few
    /// latencies stay inline, HDR counts are allocated past them.
    /// Inline, not boxed: recording then costs one dependent load less.
    pub latency: Option<LatencyHistogram>,
}

impl PartialEq for RequestAggregate {
    fn eq(&self, other: &Self) -> bool {
        let buckets = |l: &Option<LatencyHistogram>| l.as_ref().map(|h| h.buckets()).unwrap_or_default();
        self.requests == other.requests
            && self.errors == other.errors
            && buckets(&self.latency) == buckets(&other.latency)
    }
}

/// Gauge readings in a window. "Last" is the reading with the greatest
/// (time, value), so that merging in any order picks the same one.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeAggregate {
    /// Readings seen.
    pub n: u64,
    /// Time of the last reading.
    pub last_at: Millis,
    /// The last reading.
    pub last: f64,
    /// Capacity given with the last reading.
    pub last_max: Option<f64>,
    /// Smallest reading.
    pub min: f64,
    /// Largest reading.
    pub max: f64,
    /// Sum of readings in millionths, an integer so merges are exact.
    pub sum_micros: i128,
}

/// Transactions in a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransactionAggregate {
    /// Successful transactions.
    pub succeeded: u64,
    /// Failed transactions.
    pub failed: u64,
    /// Declined transactions (not failures).
    pub declined: u64,
    /// Sum of amounts, minor units.
    pub amount_minor: i128,
}

/// Change events in a window, sorted, so merge order does not matter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeAggregate {
    /// The changes, sorted by time then content.
    pub changes: Vec<Arc<Change>>,
}

impl Aggregate {
    /// An empty aggregate for a series of `kind`.
    pub fn empty(kind: SeriesKind) -> Aggregate {
        match kind {
            SeriesKind::Request | SeriesKind::Dependency => Aggregate::Request(RequestAggregate::default()),
            SeriesKind::Gauge => Aggregate::Gauge(GaugeAggregate::empty()),
            SeriesKind::Transaction => Aggregate::Transaction(TransactionAggregate::default()),
            SeriesKind::Change => Aggregate::Change(ChangeAggregate::default()),
        }
    }

    /// An empty aggregate of the same variant as `self`.
    pub fn empty_like(&self) -> Aggregate {
        match self {
            Aggregate::Request(_) => Aggregate::Request(RequestAggregate::default()),
            Aggregate::Gauge(_) => Aggregate::Gauge(GaugeAggregate::empty()),
            Aggregate::Transaction(_) => Aggregate::Transaction(TransactionAggregate::default()),
            Aggregate::Change(_) => Aggregate::Change(ChangeAggregate::default()),
        }
    }

    /// An empty aggregate that `body` can be recorded into.
    pub fn for_body(body: &EventBody) -> Aggregate {
        match body {
            EventBody::Request(_) => Aggregate::Request(RequestAggregate::default()),
            EventBody::Gauge(_) => Aggregate::Gauge(GaugeAggregate::empty()),
            EventBody::Transaction(_) => Aggregate::Transaction(TransactionAggregate::default()),
            EventBody::Change(_) => Aggregate::Change(ChangeAggregate::default()),
        }
    }

    /// Adds one event. A body of another variant than the aggregate is ignored
    /// and reported as `false` (the decoder never produces that).
    #[inline]
    pub fn record(&mut self, ts: Millis, body: &EventBody) -> bool {
        self.record_reusing(ts, body, &mut Vec::new())
    }

    /// [`Aggregate::record`], taking a histogram from `spare` (emptied ones, see
    /// [`LatencyHistogram::into_reusable`]) when the window's inline latencies overflow.
    #[inline]
    pub fn record_reusing(&mut self, ts: Millis, body: &EventBody, spare: &mut Vec<LatencyHistogram>) -> bool {
        match (self, body) {
            (Aggregate::Request(a), EventBody::Request(r)) => a.record(r, spare),
            (Aggregate::Gauge(a), EventBody::Gauge(g)) => a.record(ts, g),
            (Aggregate::Transaction(a), EventBody::Transaction(t)) => a.record(t),
            (Aggregate::Change(a), EventBody::Change(c)) => a.record(c.clone()),
            _ => return false,
        }
        true
    }

    /// Adds everything `other` saw. Exact, associative and commutative.
    /// Aggregates of different variants do not merge; `false` says so.
    pub fn merge(&mut self, other: &Aggregate) -> bool {
        match (self, other) {
            (Aggregate::Request(a), Aggregate::Request(b)) => a.merge(b),
            (Aggregate::Gauge(a), Aggregate::Gauge(b)) => a.merge(b),
            (Aggregate::Transaction(a), Aggregate::Transaction(b)) => a.merge(b),
            (Aggregate::Change(a), Aggregate::Change(b)) => a.merge(b),
            _ => return false,
        }
        true
    }

    /// Number of events recorded.
    pub fn n_events(&self) -> u64 {
        match self {
            Aggregate::Request(a) => a.requests,
            Aggregate::Gauge(a) => a.n,
            Aggregate::Transaction(a) => a.succeeded + a.failed + a.declined,
            Aggregate::Change(a) => a.changes.len() as u64,
        }
    }

    /// Bytes held by this aggregate, including its histogram.
    pub fn size_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + match self {
                Aggregate::Request(a) => {
                    a.latency.as_ref().map_or(0, |h| h.size_bytes() - std::mem::size_of::<LatencyHistogram>())
                }
                Aggregate::Change(a) => a.changes.capacity() * std::mem::size_of::<Arc<Change>>(),
                _ => 0,
            }
    }
}

impl RequestAggregate {
    #[inline]
    fn record(&mut self, r: &Request, spare: &mut Vec<LatencyHistogram>) {
        self.requests += 1;
        self.errors += u64::from(r.is_error);
        if let Some(us) = r.latency_us {
            self.latency.get_or_insert_with(LatencyHistogram::new).record_reusing(us, spare);
        }
    }

    fn merge(&mut self, b: &RequestAggregate) {
        self.requests += b.requests;
        self.errors += b.errors;
        if let Some(h) = &b.latency {
            match &mut self.latency {
                Some(mine) => mine.merge(h),
                None => self.latency = Some(h.clone()),
            }
        }
    }
}

impl GaugeAggregate {
    fn empty() -> GaugeAggregate {
        GaugeAggregate {
            n: 0,
            last_at: Millis::MIN,
            last: f64::NEG_INFINITY,
            last_max: None,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum_micros: 0,
        }
    }

    /// Mean of the readings, if any.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_micros as f64 / 1e6 / self.n as f64)
    }

    fn newer(at: Millis, v: f64, max: Option<f64>, than: &GaugeAggregate) -> bool {
        let key = (at, v, max.unwrap_or(f64::NEG_INFINITY));
        let cur = (than.last_at, than.last, than.last_max.unwrap_or(f64::NEG_INFINITY));
        key.0.cmp(&cur.0).then(key.1.total_cmp(&cur.1)).then(key.2.total_cmp(&cur.2)).is_gt()
    }

    #[inline]
    fn record(&mut self, ts: Millis, g: &Gauge) {
        if Self::newer(ts, g.value, g.max, self) {
            self.last_at = ts;
            self.last = g.value;
            self.last_max = g.max;
        }
        self.n += 1;
        self.min = self.min.min(g.value);
        self.max = self.max.max(g.value);
        self.sum_micros += to_micros(g.value);
    }

    fn merge(&mut self, b: &GaugeAggregate) {
        if b.n > 0 && Self::newer(b.last_at, b.last, b.last_max, self) {
            self.last_at = b.last_at;
            self.last = b.last;
            self.last_max = b.last_max;
        }
        self.n += b.n;
        self.min = self.min.min(b.min);
        self.max = self.max.max(b.max);
        self.sum_micros += b.sum_micros;
    }
}

/// A reading in millionths; the decoder rejects values outside ±1e24, so this cannot overflow.
fn to_micros(v: f64) -> i128 {
    (v * 1e6).round() as i128
}

impl TransactionAggregate {
    #[inline]
    fn record(&mut self, t: &Transaction) {
        match t.outcome {
            Outcome::Success => self.succeeded += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Declined => self.declined += 1,
        }
        self.amount_minor += i128::from(t.amount_minor);
    }

    fn merge(&mut self, b: &TransactionAggregate) {
        self.succeeded += b.succeeded;
        self.failed += b.failed;
        self.declined += b.declined;
        self.amount_minor += b.amount_minor;
    }

    /// All transactions, declined included.
    pub fn total(&self) -> u64 {
        self.succeeded + self.failed + self.declined
    }
}

impl ChangeAggregate {
    fn record(&mut self, c: Arc<Change>) {
        let at = self.changes.partition_point(|x| **x <= *c);
        self.changes.insert(at, c);
    }

    fn merge(&mut self, b: &ChangeAggregate) {
        for c in &b.changes {
            self.record(c.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ChangeKind;

    fn req(latency_us: u64, is_error: bool) -> EventBody {
        EventBody::Request(Request { latency_us: Some(latency_us), is_error })
    }

    #[test]
    fn request_counts_and_latency() {
        let mut a = Aggregate::empty(SeriesKind::Request);
        a.record(Millis(0), &req(1000, false));
        a.record(Millis(1), &req(2000, true));
        let Aggregate::Request(r) = &a else { panic!("variant") };
        assert_eq!((r.requests, r.errors), (2, 1));
        assert_eq!(r.latency.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn gauge_last_is_order_independent() {
        let g = |v: f64| EventBody::Gauge(Gauge { value: v, max: Some(100.0) });
        let mut a = Aggregate::empty(SeriesKind::Gauge);
        let mut b = Aggregate::empty(SeriesKind::Gauge);
        a.record(Millis(5), &g(10.0));
        a.record(Millis(5), &g(30.0));
        a.record(Millis(1), &g(99.0));
        b.record(Millis(1), &g(99.0));
        b.record(Millis(5), &g(30.0));
        b.record(Millis(5), &g(10.0));
        assert_eq!(a, b);
        let Aggregate::Gauge(ga) = &a else { panic!("variant") };
        assert_eq!((ga.last, ga.min, ga.max, ga.n), (30.0, 10.0, 99.0, 3));
        assert!((ga.mean().unwrap() - 139.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn declined_is_not_a_failure() {
        let t = |o| EventBody::Transaction(Transaction { outcome: o, amount_minor: 4210 });
        let mut a = Aggregate::empty(SeriesKind::Transaction);
        for o in [Outcome::Success, Outcome::Failed, Outcome::Declined, Outcome::Success] {
            a.record(Millis(0), &t(o));
        }
        let Aggregate::Transaction(x) = &a else { panic!("variant") };
        assert_eq!((x.succeeded, x.failed, x.declined, x.total()), (2, 1, 1, 4));
        assert_eq!(x.amount_minor, 4 * 4210);
    }

    #[test]
    fn changes_merge_sorted() {
        let c = |at: i64, id: &str| {
            EventBody::Change(Arc::new(Change {
                at: Millis(at),
                kind: ChangeKind::Deploy,
                id: id.into(),
                text: String::new(),
            }))
        };
        let mut a = Aggregate::empty(SeriesKind::Change);
        let mut b = Aggregate::empty(SeriesKind::Change);
        a.record(Millis(2), &c(2, "v2"));
        b.record(Millis(1), &c(1, "v1"));
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.n_events(), 2);
    }

    #[test]
    fn mismatched_variants_do_not_merge() {
        let mut a = Aggregate::empty(SeriesKind::Request);
        assert!(!a.merge(&Aggregate::empty(SeriesKind::Gauge)));
        assert!(!a.record(Millis(0), &EventBody::Gauge(Gauge { value: 1.0, max: None })));
    }
}
