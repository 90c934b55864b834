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

/// A window's latency distribution as an HDR V2 blob (µs).
pub fn encode(latency: &LatencyHistogram) -> Vec<u8> {
    let mut h = empty();
    for (value, count) in latency.buckets() {
        h.saturating_record_n(value, count);
    }
    to_bytes(&h)
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
        Ok(Box::new(MergeAcc { merged: empty() }))
    }
}

/// The histograms merged so far.
#[derive(Debug)]
struct MergeAcc {
    merged: Histogram<u64>,
}

impl MergeAcc {
    fn add(&mut self, blobs: &ArrayRef) -> Result<()> {
        let blobs: &BinaryArray = blobs.as_binary();
        for blob in blobs.iter().flatten() {
            let h = decode(blob)?;
            self.merged.add(&h).map_err(|e| DataFusionError::Execution(format!("hdr_merge: {e:?}")))?;
        }
        Ok(())
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
        Ok(ScalarValue::Binary(Some(to_bytes(&self.merged))))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.merged.distinct_values() * std::mem::size_of::<u64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }
}
