//! Tables of the service's present state, built when a query scans them: `series` (every label
//! set that closed a window: first and last window end, windows, whether it is an overflow
//! series the cardinality cap folded label sets into), `late_events` (events that came after
//! their window had closed, per series) and `ingest_stats` (per source: events, bytes, rejects
//! by reason, rate; per source partition: watermark lag, idleness, Kafka lag).
//!
//! The writer thread keeps `series` from the window snapshots; the service's engine thread
//! posts `late_events` and `ingest_stats` to a [`StatusBoard`] once a second or so. A scan takes
//! the rows posted last (an `Arc` swap) and holds no lock while it runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, MapBuilder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
    UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use faultline_core::SeriesKey;

/// One row of `ingest_stats`: a source's (`partition` none) or one of its partitions'.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestRow {
    /// The source's name.
    pub source: String,
    /// The partition (a file, a Kafka `topic/N`, a listener); `None` on the source's own row.
    pub partition: Option<String>,
    /// Events accepted (the source's row).
    pub events: Option<u64>,
    /// Bytes read (the source's row).
    pub bytes: Option<u64>,
    /// Records rejected, by reason (the source's row).
    pub rejects: Vec<(String, u64)>,
    /// Events accepted per second lately (the source's row).
    pub events_per_second: Option<f64>,
    /// Wall clock minus the partition's own watermark, seconds (a partition's row).
    pub watermark_lag_s: Option<f64>,
    /// The partition holds back nothing because it is idle (a partition's row).
    pub idle: Option<bool>,
    /// Messages the broker has past what this instance consumed (a Kafka partition's row).
    pub kafka_lag: Option<u64>,
}

/// Late events per series.
type LateRows = Arc<Vec<(Arc<SeriesKey>, u64)>>;

/// What the service posts for the status tables.
#[derive(Debug, Default)]
pub struct StatusBoard {
    ingest: Mutex<Arc<Vec<IngestRow>>>,
    late: Mutex<LateRows>,
}

impl StatusBoard {
    /// Replaces `ingest_stats`' rows.
    pub fn set_ingest(&self, rows: Vec<IngestRow>) {
        *self.ingest.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(rows);
    }

    /// Replaces `late_events`' rows: late events per series.
    pub fn set_late(&self, rows: Vec<(Arc<SeriesKey>, u64)>) {
        *self.late.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(rows);
    }

    fn ingest(&self) -> Arc<Vec<IngestRow>> {
        self.ingest.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn late(&self) -> LateRows {
        self.late.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// `series`' rows, kept by the writer from the window snapshots.
#[derive(Debug, Default)]
pub(crate) struct SeriesSeen {
    rows: HashMap<Arc<SeriesKey>, Seen>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    first: i64,
    last: i64,
    windows: u64,
}

impl SeriesSeen {
    /// `key` closed a window ending at `end`.
    pub(crate) fn saw(&mut self, key: &Arc<SeriesKey>, end: i64) {
        match self.rows.get_mut(key) {
            Some(s) => {
                s.last = s.last.max(end);
                s.windows += 1;
            }
            None => {
                self.rows.insert(key.clone(), Seen { first: end, last: end, windows: 1 });
            }
        }
    }
}

/// Which status table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    Series,
    Late,
    Ingest,
}

/// A status table: its rows built at each scan.
#[derive(Debug, Clone)]
pub(crate) struct StatusTable {
    which: Which,
    schema: SchemaRef,
    dims: Arc<Vec<String>>,
    board: Arc<StatusBoard>,
    series: Arc<Mutex<SeriesSeen>>,
}

impl StatusTable {
    pub(crate) fn new(
        which: Which,
        dims: Arc<Vec<String>>,
        board: Arc<StatusBoard>,
        series: Arc<Mutex<SeriesSeen>>,
    ) -> StatusTable {
        let schema = match which {
            Which::Series => series_schema(),
            Which::Late => late_events_schema(),
            Which::Ingest => ingest_stats_schema(),
        };
        StatusTable { which, schema, dims, board, series }
    }

    fn batch(&self) -> Result<RecordBatch> {
        let columns = match self.which {
            Which::Series => {
                let rows: Vec<(Arc<SeriesKey>, Seen)> = {
                    let seen = self.series.lock().unwrap_or_else(PoisonError::into_inner);
                    seen.rows.iter().map(|(k, s)| (k.clone(), *s)).collect()
                };
                let mut cols = KeyColumns::new(rows.len());
                let (mut first, mut last) = (TimestampMillisecondBuilder::new(), TimestampMillisecondBuilder::new());
                let (mut windows, mut folded) = (UInt64Builder::new(), BooleanBuilder::new());
                for (key, s) in &rows {
                    cols.push(key, &self.dims);
                    first.append_value(s.first);
                    last.append_value(s.last);
                    windows.append_value(s.windows);
                    folded.append_value(&*key.name == faultline_core::series::OVERFLOW_NAME);
                }
                let mut out = cols.finish();
                out.push(Arc::new(first.finish().with_timezone("UTC")));
                out.push(Arc::new(last.finish().with_timezone("UTC")));
                out.push(Arc::new(windows.finish()));
                out.push(Arc::new(folded.finish()));
                out
            }
            Which::Late => {
                let rows = self.board.late();
                let mut cols = KeyColumns::new(rows.len());
                let mut late = UInt64Builder::new();
                for (key, n) in rows.iter() {
                    cols.push(key, &self.dims);
                    late.append_value(*n);
                }
                let mut out = cols.finish();
                out.push(Arc::new(late.finish()));
                out
            }
            Which::Ingest => {
                let rows = self.board.ingest();
                let (mut source, mut partition) = (StringBuilder::new(), StringBuilder::new());
                let (mut events, mut bytes, mut rejected) =
                    (UInt64Builder::new(), UInt64Builder::new(), UInt64Builder::new());
                let mut rejects = MapBuilder::new(None, StringBuilder::new(), UInt64Builder::new());
                let (mut rate, mut lag) = (Float64Builder::new(), Float64Builder::new());
                let (mut idle, mut kafka_lag) = (BooleanBuilder::new(), UInt64Builder::new());
                for r in rows.iter() {
                    source.append_value(&r.source);
                    partition.append_option(r.partition.as_deref());
                    events.append_option(r.events);
                    bytes.append_option(r.bytes);
                    if r.partition.is_none() {
                        rejected.append_value(r.rejects.iter().map(|(_, n)| n).sum());
                        for (reason, n) in &r.rejects {
                            rejects.keys().append_value(reason);
                            rejects.values().append_value(*n);
                        }
                        rejects.append(true)?;
                    } else {
                        rejected.append_null();
                        rejects.append(false)?;
                    }
                    rate.append_option(r.events_per_second);
                    lag.append_option(r.watermark_lag_s);
                    idle.append_option(r.idle);
                    kafka_lag.append_option(r.kafka_lag);
                }
                vec![
                    Arc::new(source.finish()) as ArrayRef,
                    Arc::new(partition.finish()),
                    Arc::new(events.finish()),
                    Arc::new(bytes.finish()),
                    Arc::new(rejected.finish()),
                    Arc::new(rejects.finish()),
                    Arc::new(rate.finish()),
                    Arc::new(lag.finish()),
                    Arc::new(idle.finish()),
                    Arc::new(kafka_lag.finish()),
                ]
            }
        };
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// The label-set columns every per-series table starts with.
struct KeyColumns {
    service: StringBuilder,
    kind: StringBuilder,
    name: StringBuilder,
    dims: MapBuilder<StringBuilder, StringBuilder>,
}

impl KeyColumns {
    fn new(n: usize) -> KeyColumns {
        let s = || StringBuilder::with_capacity(n, n * 16);
        KeyColumns {
            service: s(),
            kind: s(),
            name: s(),
            dims: MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()),
        }
    }

    fn push(&mut self, key: &SeriesKey, names: &[String]) {
        self.service.append_value(&key.service);
        self.kind.append_value(key.kind.as_str());
        self.name.append_value(&key.name);
        for (dim, v) in names.iter().zip(key.dims.iter()) {
            if !v.is_empty() {
                self.dims.keys().append_value(dim);
                self.dims.values().append_value(v);
            }
        }
        self.dims.append(true).expect("keys and values appended in pairs");
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.service.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.dims.finish()),
        ]
    }
}

fn key_fields() -> Vec<Field> {
    let s = crate::store::signals_schema();
    ["service", "kind", "name", "dims"]
        .iter()
        .map(|n| s.field_with_name(n).expect("a signals column").clone())
        .collect()
}

/// `series`: service, kind, name, dims, first_seen, last_seen, windows, folded.
pub fn series_schema() -> SchemaRef {
    let ts = DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Millisecond, Some("UTC".into()));
    let mut f = key_fields();
    f.push(Field::new("first_seen", ts.clone(), false));
    f.push(Field::new("last_seen", ts, false));
    f.push(Field::new("windows", DataType::UInt64, false));
    f.push(Field::new("folded", DataType::Boolean, false));
    Arc::new(Schema::new(f))
}

/// `late_events`: service, kind, name, dims, late.
pub fn late_events_schema() -> SchemaRef {
    let mut f = key_fields();
    f.push(Field::new("late", DataType::UInt64, false));
    Arc::new(Schema::new(f))
}

/// `ingest_stats`: source, partition, events, bytes, rejected, rejects, events_per_second,
/// watermark_lag_s, idle, kafka_lag.
pub fn ingest_stats_schema() -> SchemaRef {
    let rejects = Field::new_map(
        "rejects",
        "entries",
        Field::new("keys", DataType::Utf8, false),
        Field::new("values", DataType::UInt64, true),
        false,
        true,
    );
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("partition", DataType::Utf8, true),
        Field::new("events", DataType::UInt64, true),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("rejected", DataType::UInt64, true),
        rejects,
        Field::new("events_per_second", DataType::Float64, true),
        Field::new("watermark_lag_s", DataType::Float64, true),
        Field::new("idle", DataType::Boolean, true),
        Field::new("kafka_lag", DataType::UInt64, true),
    ]))
}

#[async_trait]
impl TableProvider for StatusTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table = MemTable::try_new(self.schema.clone(), vec![vec![self.batch()?]])?;
        table.scan(state, projection, filters, limit).await
    }
}

/// One service level objective: a burn-rate detector's objective on a signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The service whose own detectors set it; `None`: every service without its own.
    pub service: Option<String>,
    /// The signal (`error_rate`, `txn_failure_rate`, a latency signal…).
    pub signal: String,
    /// The objective (0.999); `None` where a service's own detectors have no burn rate on the
    /// signal (that service has no objective there).
    pub objective: Option<f64>,
}

/// The objectives of a detector bank: its burn-rate detectors' (the strictest where a signal has several).
pub fn slos_of(bank: &faultline_core::detect::DetectorBankSpec) -> Vec<Slo> {
    use faultline_core::detect::DetectorSpec;
    let objective = |detectors: &[DetectorSpec]| {
        detectors
            .iter()
            .filter_map(|d| match d {
                DetectorSpec::BurnRate(b) => Some(b.objective),
                _ => None,
            })
            .reduce(f64::max)
    };
    let mut out: Vec<Slo> = bank
        .signals
        .iter()
        .filter_map(|(signal, d)| {
            objective(d).map(|o| Slo { service: None, signal: signal.clone(), objective: Some(o) })
        })
        .collect();
    for o in &bank.services {
        // An override replaces the signal's detectors for that service, objective or none.
        out.push(Slo {
            service: Some(o.service.clone()),
            signal: o.signal.clone(),
            objective: objective(&o.detectors),
        });
    }
    out
}

/// `slos`: service (NULL: the default), signal, objective.
pub fn slos_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("service", DataType::Utf8, true),
        Field::new("signal", DataType::Utf8, false),
        Field::new("objective", DataType::Float64, true),
    ]))
}

/// The `slos` table.
pub(crate) fn slos_table(slos: &[Slo]) -> MemTable {
    let (mut service, mut signal, mut objective) = (StringBuilder::new(), StringBuilder::new(), Float64Builder::new());
    for s in slos {
        service.append_option(s.service.as_deref());
        signal.append_value(&s.signal);
        objective.append_option(s.objective);
    }
    let columns: Vec<ArrayRef> =
        vec![Arc::new(service.finish()), Arc::new(signal.finish()), Arc::new(objective.finish())];
    let batch = RecordBatch::try_new(slos_schema(), columns).expect("columns match the schema");
    MemTable::try_new(slos_schema(), vec![vec![batch]]).expect("one partition, one schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_core::detect::{BurnRateConfig, DetectorBankSpec, DetectorSpec, ServiceOverride};

    #[test]
    fn the_objectives_are_the_burn_rate_detectors_and_an_override_replaces_them() {
        let mut bank = DetectorBankSpec::default();
        let burn = |objective| DetectorSpec::BurnRate(BurnRateConfig { objective, ..BurnRateConfig::default() });
        bank.signals.insert("error_rate".into(), vec![burn(0.99), burn(0.995)]);
        bank.services = vec![
            ServiceOverride { service: "checkout".into(), signal: "error_rate".into(), detectors: vec![burn(0.9999)] },
            ServiceOverride { service: "wallet".into(), signal: "error_rate".into(), detectors: vec![] },
        ];
        let slos = slos_of(&bank);
        let error_rate: Vec<_> = slos.iter().filter(|s| s.signal == "error_rate").collect();
        assert_eq!(
            error_rate,
            [
                &Slo { service: None, signal: "error_rate".into(), objective: Some(0.995) },
                &Slo { service: Some("checkout".into()), signal: "error_rate".into(), objective: Some(0.9999) },
                &Slo { service: Some("wallet".into()), signal: "error_rate".into(), objective: None },
            ]
        );
    }
}
