//! `hdr_merge` and `hdr_quantile` against a direct merge of the windows' histograms.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BinaryArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::prelude::SessionContext;
use faultline_core::latency::LatencyHistogram;
use faultline_sql::hdr::{HdrMerge, HdrQuantile, encode};
use proptest::prelude::*;

fn quantiles(windows: &[(u8, Vec<u64>)], qs: &[f64]) -> Vec<(String, Vec<Option<f64>>)> {
    let schema =
        Arc::new(Schema::new(vec![Field::new("g", DataType::Utf8, false), Field::new("h", DataType::Binary, true)]));
    let groups: Vec<String> = windows.iter().map(|(g, _)| format!("g{}", g % 3)).collect();
    let blobs: Vec<Option<Vec<u8>>> = windows
        .iter()
        .map(|(_, lat)| {
            let mut h = LatencyHistogram::new();
            lat.iter().for_each(|v| h.record(*v));
            (!lat.is_empty()).then(|| encode(&h))
        })
        .collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(groups)), Arc::new(BinaryArray::from_iter(blobs.iter().map(|b| b.as_deref())))],
    )
    .expect("a batch");
    let ctx = SessionContext::new();
    ctx.register_table("w", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("a table")))
        .expect("registered");
    ctx.register_udf(HdrQuantile::udf());
    ctx.register_udaf(HdrMerge::udaf());
    let cols: Vec<String> =
        qs.iter().map(|q| format!("hdr_quantile(hdr_merge(h), {q:?}) AS q{}", (q * 1000.0) as u32)).collect();
    let sql = format!("SELECT g, {} FROM w GROUP BY g ORDER BY g", cols.join(", "));
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let batches = rt.block_on(async { ctx.sql(&sql).await?.collect().await }).expect("the query runs");
    let mut out = Vec::new();
    for b in &batches {
        let g = b.column(0).as_any().downcast_ref::<StringArray>().expect("strings");
        for row in 0..b.num_rows() {
            let values = (1..=qs.len())
                .map(|c| {
                    let col =
                        b.column(c).as_any().downcast_ref::<datafusion::arrow::array::Float64Array>().expect("floats");
                    (!col.is_null(row)).then(|| col.value(row))
                })
                .collect();
            out.push((g.value(row).to_string(), values));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Merged in SQL across windows and groups, the quantiles equal one histogram of every
    /// latency of the group (inline windows, dense ones, and windows with none).
    #[test]
    fn merged_quantiles_equal_a_direct_merge(
        windows in proptest::collection::vec((0u8..6, proptest::collection::vec(0u64..90_000_000, 0..80)), 1..12),
    ) {
        let qs = [0.0, 0.5, 0.95, 0.99, 1.0];
        let got = quantiles(&windows, &qs);
        for (g, values) in got {
            let mut direct = LatencyHistogram::new();
            for (w, lat) in &windows {
                if format!("g{}", w % 3) == g {
                    let mut h = LatencyHistogram::new();
                    lat.iter().for_each(|v| h.record(*v));
                    direct.merge(&h);
                }
            }
            let want: Vec<Option<f64>> = qs.iter().map(|q| (!direct.is_empty()).then(|| direct.quantile_ms(*q))).collect();
            prop_assert_eq!(values, want, "group {}", g);
        }
    }
}
