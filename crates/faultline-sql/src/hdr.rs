//! Latency histograms in SQL: a window's distribution as an HDR V2 blob, `hdr_merge` (an
//! aggregate) and `hdr_quantile` (a scalar), so a day's p99 of a service is exact, not an
//! average of p99s.
//!
//! The blobs use the windows' own bucket arithmetic (32 µs lowest discernible value, 2
//! significant digits, up to 60 s), so merging them and taking a quantile gives what one
//! histogram over all those windows' latencies gives.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use faultline_core::latency::{HIGHEST_US, LOWEST_US, LatencyHistogram, SIGFIG};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// An empty histogram with the windows' bucket arithmetic.
fn empty() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("constant bounds are valid")
}

/// A window's latency distribution as an HDR V2 blob (µs), written straight from its buckets
/// (no full-range histogram is built: that was most of the SQL writer's time).
pub fn encode(latency: &LatencyHistogram) -> Vec<u8> {
    let values = bucket_values();
    let mut payload = Vec::with_capacity(32);
    let mut next = 0usize;
    let mut pending: Option<(usize, u64)> = None;
    let emit = |index: usize, count: u64, payload: &mut Vec<u8>, next: &mut usize| {
        if index > *next {
            put_varint(payload, zig_zag(-((index - *next) as i64)));
        }
        put_varint(payload, zig_zag(count.min(i64::MAX as u64) as i64));
        *next = index + 1;
    };
    for (value, count) in latency.buckets() {
        // The bucket whose highest equivalent value is the first at or above `value`; above
        // the range, the last (as recording saturates).
        let index = values.partition_point(|&v| v < value).min(values.len() - 1);
        match &mut pending {
            Some((i, n)) if *i == index => *n = n.saturating_add(count),
            _ => {
                if let Some((i, n)) = pending.take() {
                    emit(i, n, &mut payload, &mut next);
                }
                pending = Some((index, count));
            }
        }
    }
    if let Some((i, n)) = pending {
        emit(i, n, &mut payload, &mut next);
    }
    let mut out = Vec::with_capacity(V2_HEADER + payload.len());
    out.extend_from_slice(&V2_COOKIE.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&u32::from(SIGFIG).to_be_bytes());
    out.extend_from_slice(&LOWEST_US.to_be_bytes());
    out.extend_from_slice(&HIGHEST_US.to_be_bytes());
    out.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

fn zig_zag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// LEB128 as HDR V2 has it: at most 9 bytes, the ninth taken whole.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    for _ in 0..8 {
        if v < 0x80 {
            out.push(v as u8);
            return;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn to_bytes(h: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    V2Serializer::new().serialize(h, &mut out).expect("writing to a Vec does not fail");
    out
}

/// A blob back as a histogram; an error names what is wrong with it.
pub fn decode(bytes: &[u8]) -> Result<Histogram<u64>> {
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| DataFusionError::Execution(format!("not an HDR histogram (V2 serialisation): {e:?}")))
}

/// `hdr_quantile(histogram, q)`: the latency in milliseconds at quantile `q` (0 to 1) of an
/// HDR blob; NULL for a NULL or empty histogram.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HdrQuantile {
    signature: Signature,
}

impl HdrQuantile {
    /// The function, for registering.
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(HdrQuantile {
            signature: Signature::exact(vec![DataType::Binary, DataType::Float64], Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for HdrQuantile {
    fn name(&self) -> &str {
        "hdr_quantile"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [hist, q] = args.args.as_slice() else {
            return exec_err!("hdr_quantile takes a histogram and a quantile");
        };
        let n = args.number_rows;
        let (hist, q) = (hist.to_array(n)?, q.to_array(n)?);
        let (hist, q): (&BinaryArray, &Float64Array) = (hist.as_binary(), q.as_primitive());
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            if hist.is_null(i) || q.is_null(i) {
                out.push(None);
                continue;
            }
            let q = q.value(i);
            if !(0.0..=1.0).contains(&q) {
                return exec_err!("hdr_quantile: the quantile must be between 0 and 1, not {q}");
            }
            let h = decode(hist.value(i))?;
            out.push((!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0));
        }
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(out))))
    }
}

/// `hdr_merge(histogram)`: the HDR blob of all the rows' histograms together (NULLs skipped).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HdrMerge {
    signature: Signature,
}

impl HdrMerge {
    /// The function, for registering.
    pub fn udaf() -> AggregateUDF {
        AggregateUDF::from(HdrMerge { signature: Signature::exact(vec![DataType::Binary], Volatility::Immutable) })
    }
}

impl AggregateUDFImpl for HdrMerge {
    fn name(&self) -> &str {
        "hdr_merge"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MergeAcc::new()))
    }
}

/// The uncompressed HDR V2 cookie.
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
/// Header bytes of a V2 blob: cookie, payload length, normalizing offset, significant digits,
/// lowest and highest value, integer-to-double ratio.
const V2_HEADER: usize = 4 + 4 + 4 + 4 + 8 + 8 + 8;

/// The value each bucket index of the windows' arithmetic stands for (its highest equivalent).
fn bucket_values() -> &'static [u64] {
    static VALUES: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    VALUES.get_or_init(|| {
        let mut h = empty();
        h.saturating_record(HIGHEST_US);
        h.iter_all().map(|v| v.value_iterated_to()).collect()
    })
}

/// Adds a V2 blob of the windows' arithmetic (what [`encode`] writes) to `counts`, bucket by
/// bucket, without building a histogram; `Ok(false)` when the blob has other parameters
/// (compressed, other bounds) and needs the general path.
fn add_v2_counts(blob: &[u8], counts: &mut [u64]) -> Result<bool> {
    let bad = || DataFusionError::Execution("not an HDR histogram (V2 serialisation): cut short or too long".into());
    if blob.len() < V2_HEADER {
        return Err(bad());
    }
    let be32 = |at: usize| u32::from_be_bytes([blob[at], blob[at + 1], blob[at + 2], blob[at + 3]]);
    let be64 = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&blob[at..at + 8]);
        u64::from_be_bytes(b)
    };
    let ours = be32(0) == V2_COOKIE
        && be32(8) == 0
        && be32(12) == u32::from(SIGFIG)
        && be64(16) == LOWEST_US
        && be64(24) == HIGHEST_US
        && f64::from_bits(be64(32)) == 1.0;
    if !ours {
        return Ok(false);
    }
    let len = be32(4) as usize;
    let payload = blob.get(V2_HEADER..V2_HEADER + len).ok_or_else(bad)?;
    let (mut at, mut index) = (0usize, 0usize);
    while at < payload.len() {
        // LEB128, at most 9 bytes, the ninth taken whole.
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let b = *payload.get(at).ok_or_else(bad)?;
            at += 1;
            if shift == 56 {
                value |= u64::from(b) << 56;
                break;
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let n = ((value >> 1) as i64) ^ -((value & 1) as i64);
        if n < 0 {
            index = index.checked_add(n.unsigned_abs() as usize).ok_or_else(bad)?;
        } else {
            let slot = counts.get_mut(index).ok_or_else(bad)?;
            *slot = slot.saturating_add(n as u64);
            index += 1;
        }
    }
    Ok(true)
}

/// The histograms merged so far: the windows' blobs bucket by bucket, any other kind of blob
/// as a histogram beside them.
#[derive(Debug)]
struct MergeAcc {
    counts: Vec<u64>,
    other: Option<Histogram<u64>>,
}

impl MergeAcc {
    fn new() -> MergeAcc {
        MergeAcc { counts: vec![0; bucket_values().len()], other: None }
    }

    fn add(&mut self, blobs: &ArrayRef) -> Result<()> {
        let blobs: &BinaryArray = blobs.as_binary();
        for blob in blobs.iter().flatten() {
            if add_v2_counts(blob, &mut self.counts)? {
                continue;
            }
            let h = decode(blob)?;
            let other = self.other.get_or_insert_with(empty);
            other.add(&h).map_err(|e| DataFusionError::Execution(format!("hdr_merge: {e:?}")))?;
        }
        Ok(())
    }

    fn merged(&self) -> Histogram<u64> {
        let mut h = self.other.clone().unwrap_or_else(empty);
        for (&value, &n) in bucket_values().iter().zip(&self.counts).filter(|(_, n)| **n > 0) {
            h.saturating_record_n(value, n);
        }
        h
    }
}

impl Accumulator for MergeAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values.first() {
            Some(v) => self.add(v),
            None => exec_err!("hdr_merge takes a histogram"),
        }
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Binary(Some(to_bytes(&self.merged()))))
    }

    fn size(&self) -> usize {
        let other = self.other.as_ref().map_or(0, |h| h.distinct_values() * std::mem::size_of::<u64>());
        std::mem::size_of::<Self>() + self.counts.len() * std::mem::size_of::<u64>() + other
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bucket_reads_back_at_its_index() {
        let values = bucket_values();
        assert!(values.len() > 100, "{}", values.len());
        for (i, &v) in values.iter().enumerate().step_by(7) {
            let mut h = empty();
            h.record_n(v, 3).unwrap();
            let mut counts = vec![0; values.len()];
            assert!(add_v2_counts(&to_bytes(&h), &mut counts).unwrap());
            assert_eq!(counts.iter().position(|&n| n == 3), Some(i), "value {v}");
            assert_eq!(counts.iter().sum::<u64>(), 3);
        }
    }

    #[test]
    fn encoded_windows_read_back_as_the_histogram_they_were() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // From a few latencies (kept inline) to many (a histogram), across and past the range.
        for n in [0usize, 1, 3, 20, 500, 70_000] {
            let mut latency = LatencyHistogram::new();
            let mut reference = empty();
            for _ in 0..n {
                let us = match next() % 10 {
                    0 => next() % 100,
                    1 => HIGHEST_US + next() % 1_000_000,
                    _ => 100 + next() % 2_000_000,
                };
                latency.record(us);
            }
            for (value, count) in latency.buckets() {
                reference.saturating_record_n(value, count);
            }
            let back = decode(&encode(&latency)).unwrap();
            assert_eq!(back, reference, "{n} latencies");
            let mut counts = vec![0; bucket_values().len()];
            assert!(add_v2_counts(&encode(&latency), &mut counts).unwrap());
            assert_eq!(counts.iter().sum::<u64>(), reference.len(), "{n} latencies");
        }
    }

    #[test]
    fn other_blobs_take_the_general_path_and_garbage_is_an_error() {
        let mut wide = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        wide.record(12_345).unwrap();
        let mut counts = vec![0; bucket_values().len()];
        assert!(!add_v2_counts(&to_bytes(&wide), &mut counts).unwrap(), "other bounds");
        let mut ours = empty();
        ours.record(12_345).unwrap();
        let mut blob = to_bytes(&ours);
        blob.truncate(blob.len() - 1);
        assert!(add_v2_counts(&blob, &mut counts).is_err(), "cut short");
        assert!(add_v2_counts(b"short", &mut counts).is_err());
    }
}
