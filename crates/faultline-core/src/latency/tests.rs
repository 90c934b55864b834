//! Tests of `LatencyHistogram`: precision, growth, promotion, and the inline and HDR forms answering alike.

use proptest::prelude::*;

use super::*;

/// An HDR histogram from the start, as every window had before the inline form.
fn dense(values: &[u64]) -> LatencyHistogram {
    let mut h = LatencyHistogram { repr: Repr::Small(LatencyHistogram::new_dense()) };
    for &v in values {
        h.record_dense(v.min(HIGHEST_US));
    }
    h
}

const QUANTILES: [f64; 8] = [0.0, 0.001, 0.25, 0.5, 0.95, 0.99, 1.0, 1.5];

/// Everything a reader can ask, as bits, so that two forms can be compared exactly.
fn answers(h: &LatencyHistogram) -> (u64, Vec<u64>, u64, Vec<(u64, u64)>) {
    (h.len(), QUANTILES.map(|q| h.quantile_ms(q).to_bits()).to_vec(), h.max_ms().to_bits(), h.buckets())
}

fn is_inline(h: &LatencyHistogram) -> bool {
    matches!(h.repr, Repr::Inline(_))
}

/// Latencies from sub-step to past the clamp, with repeats and exact zeros.
fn latencies(max_len: usize) -> impl Strategy<Value = Vec<u64>> {
    let one = prop_oneof![
        Just(0u64),
        0u64..64,
        0u64..10_000,
        1_000u64..3_000_000,
        (0u32..36).prop_map(|bits| 1u64 << bits),
        50_000_000u64..u64::MAX,
    ];
    proptest::collection::vec(one, 0..max_len)
}

proptest! {
    #[test]
    fn inline_answers_as_the_hdr_histogram(values in latencies(3 * INLINE_LATENCIES), q in 0.0f64..1.0) {
        let mut h = LatencyHistogram::new();
        for &v in &values {
            h.record(v);
        }
        prop_assert_eq!(is_inline(&h), values.len() <= INLINE_LATENCIES);
        let want = dense(&values);
        prop_assert_eq!(answers(&h), answers(&want));
        prop_assert_eq!(h.quantile_ms(q).to_bits(), want.quantile_ms(q).to_bits());
    }

    #[test]
    fn merges_answer_as_one_hdr_histogram(a in latencies(2 * INLINE_LATENCIES), b in latencies(2 * INLINE_LATENCIES)) {
        let build = |vs: &[u64]| {
            let mut h = LatencyHistogram::new();
            vs.iter().for_each(|&v| h.record(v));
            h
        };
        let all: Vec<u64> = a.iter().chain(&b).copied().collect();
        let want = answers(&dense(&all));
        // Every pairing of forms, both ways round.
        for (x, y) in [(build(&a), build(&b)), (dense(&a), build(&b)), (build(&a), dense(&b)), (dense(&a), dense(&b))] {
            let mut xy = x.clone();
            xy.merge(&y);
            prop_assert_eq!(answers(&xy), want.clone());
            let mut yx = y.clone();
            yx.merge(&x);
            prop_assert_eq!(answers(&yx), want.clone());
        }
    }

    #[test]
    fn a_restore_keeps_every_bucket(values in latencies(3 * INLINE_LATENCIES), more in latencies(8)) {
        let mut h = LatencyHistogram::new();
        values.iter().for_each(|&v| h.record(v));
        let back = LatencyHistogram::from_buckets(&h.buckets());
        prop_assert_eq!(back.buckets(), h.buckets());
        prop_assert_eq!(back.len(), h.len());
        prop_assert_eq!(QUANTILES.map(|q| back.quantile_ms(q).to_bits()), QUANTILES.map(|q| h.quantile_ms(q).to_bits()));
        // FIXME: a window whose latencies are all 0 µs has max 0, but its buckets say only
        // "the first bucket", so the restored window reports the top of it (0.031 ms), as
        // restores did before the inline form.
        let zeros_only = values.iter().all(|&v| v == 0) && !values.is_empty();
        let max = if zeros_only { 0.031 } else { h.max_ms() };
        prop_assert_eq!(back.max_ms().to_bits(), max.to_bits());
        // Recording on after a restore continues as the original would.
        let mut cont = back.clone();
        let mut orig = h.clone();
        for &v in &more {
            cont.record(v);
            orig.record(v);
        }
        prop_assert_eq!(cont.buckets(), orig.buckets());
        prop_assert_eq!(QUANTILES.map(|q| cont.quantile_ms(q).to_bits()), QUANTILES.map(|q| orig.quantile_ms(q).to_bits()));
    }
}

#[test]
fn the_inline_form_costs_no_byte_more_than_the_histogram_header() {
    assert!(
        std::mem::size_of::<InlineLatencies>() <= std::mem::size_of::<Histogram<u16>>(),
        "{} > {}",
        std::mem::size_of::<InlineLatencies>(),
        std::mem::size_of::<Histogram<u16>>()
    );
    assert_eq!(std::mem::size_of::<Option<LatencyHistogram>>(), std::mem::size_of::<Histogram<u16>>() + 8);
    let mut h = LatencyHistogram::new();
    (0..INLINE_LATENCIES as u64).for_each(|v| h.record(v * 1000));
    assert_eq!(h.size_bytes(), std::mem::size_of::<LatencyHistogram>());
    h.record(5);
    assert!(!is_inline(&h) && h.size_bytes() > 2048, "{}", h.size_bytes());
}

#[test]
fn quantiles_within_two_digits() {
    let mut h = LatencyHistogram::new();
    for ms in 1..=1000u64 {
        h.record(ms * 1000);
    }
    let p50 = h.quantile_ms(0.5);
    let p99 = h.quantile_ms(0.99);
    assert!((p50 - 500.0).abs() <= 500.0 * 0.01 + 0.05, "{p50}");
    assert!((p99 - 990.0).abs() <= 990.0 * 0.01 + 0.05, "{p99}");
}

#[test]
fn a_reused_histogram_records_like_a_new_one() {
    let mut used = LatencyHistogram::new();
    for us in 0..100 {
        used.record(us * 1000 + 10);
    }
    used.record(1_999_999);
    let reused = used.into_reusable().expect("not grown");
    assert!(reused.is_empty());
    let mut with_spare = LatencyHistogram::new();
    let mut fresh = LatencyHistogram::new();
    let mut spare = vec![reused];
    for us in (0..40).map(|i| 77 + i * 3_300) {
        with_spare.record_reusing(us, &mut spare);
        fresh.record(us);
    }
    assert!(spare.is_empty(), "the spare histogram took the overflow");
    assert_eq!(answers(&with_spare), answers(&fresh));
    assert_eq!(with_spare.size_bytes(), fresh.size_bytes());
    let mut grown = LatencyHistogram::new();
    (0..30).for_each(|_| grown.record(30_000_000));
    assert!(grown.into_reusable().is_none(), "a grown histogram is not reused");
    assert!(LatencyHistogram::new().into_reusable().is_none(), "an inline one holds nothing to reuse");
}

#[test]
fn grows_for_slow_requests_and_clamps_past_60s() {
    let mut h = LatencyHistogram::new();
    h.record(15_000_000);
    h.record(u64::MAX);
    assert_eq!(h.len(), 2);
    assert!((h.max_ms() - 60_000.0).abs() < 60_000.0 * 0.01);
    (0..INLINE_LATENCIES).for_each(|_| h.record(u64::MAX));
    assert!(h.size_bytes() <= 4096 + 256, "{}", h.size_bytes());
}

#[test]
fn promotes_before_u16_saturates() {
    let mut h = LatencyHistogram::new();
    for _ in 0..70_000 {
        h.record(250_000);
    }
    assert!(matches!(h.repr, Repr::Large(_)));
    assert_eq!(h.len(), 70_000);
    assert_eq!(h.buckets().iter().map(|b| b.1).sum::<u64>(), 70_000);
    let back = LatencyHistogram::from_buckets(&h.buckets());
    assert!(matches!(back.repr, Repr::Large(_)));
    assert_eq!(back.buckets(), h.buckets());
}

#[test]
fn merge_adds_samples_and_promotes() {
    let mut a = LatencyHistogram::new();
    let mut b = LatencyHistogram::new();
    for _ in 0..40_000 {
        a.record(1000);
        b.record(3_000_000);
    }
    a.merge(&b);
    assert_eq!(a.len(), 80_000);
    assert!(matches!(a.repr, Repr::Large(_)));
    let back = LatencyHistogram::from_buckets(&a.buckets());
    assert_eq!(back.buckets(), a.buckets());
}
