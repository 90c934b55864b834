//! The live tables: immutable Arrow record batches appended as windows close and incidents
//! change, by one writer thread, with bounded retention; queries take a copy of the batch
//! list (a few `Arc`s) and never hold a lock while they run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, Float64Builder, MapBuilder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
    UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::MemTable;
use faultline_core::incident::{Action, Incident, IncidentEvent, Status};
use faultline_core::pipeline::WindowSnapshot;
use faultline_core::signal::Signal;

/// One table's rows, shared with the [`MemTable`] DataFusion scans.
type Partition = Arc<tokio::sync::RwLock<Vec<RecordBatch>>>;

/// How much the live tables keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Signal rows kept in memory; the oldest windows go first.
    pub signal_rows: usize,
    /// Incident event rows kept.
    pub incident_events: usize,
    /// Incidents kept (their latest state); the oldest resolved go first.
    pub incidents: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { signal_rows: 2_000_000, incident_events: 100_000, incidents: 10_000 }
    }
}

/// A live table: its schema, its rows, how many.
#[derive(Debug)]
struct Live {
    schema: SchemaRef,
    rows: Partition,
    n_rows: usize,
    max_rows: usize,
}

impl Live {
    fn new(schema: SchemaRef, max_rows: usize) -> Live {
        Live { schema, rows: Arc::default(), n_rows: 0, max_rows }
    }

    fn table(&self) -> MemTable {
        let mut t = MemTable::try_new(self.schema.clone(), vec![Vec::new()]).expect("one partition, one schema");
        t.batches = vec![self.rows.clone()];
        t
    }

    /// Appends a batch, dropping the oldest whole batches past the retention.
    fn append(&mut self, batch: RecordBatch) {
        if batch.num_rows() == 0 {
            return;
        }
        let mut rows = self.rows.blocking_write();
        self.n_rows += batch.num_rows();
        rows.push(batch);
        let mut drop = 0;
        while self.n_rows > self.max_rows && drop + 1 < rows.len() {
            self.n_rows -= rows[drop].num_rows();
            drop += 1;
        }
        rows.drain(..drop);
    }

    /// Replaces every row.
    fn replace(&mut self, batch: RecordBatch) {
        let mut rows = self.rows.blocking_write();
        self.n_rows = batch.num_rows();
        *rows = vec![batch];
    }
}

fn ts(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), nullable)
}

/// The `signals` table's columns.
pub fn signals_schema() -> SchemaRef {
    let dims = Field::new_map(
        "dims",
        "entries",
        Field::new("keys", DataType::Utf8, false),
        Field::new("values", DataType::Utf8, true),
        false,
        false,
    );
    Arc::new(Schema::new(vec![
        Field::new("service", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        dims,
        ts("window_start", false),
        ts("window_end", false),
        Field::new("signal", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("n", DataType::UInt64, false),
        Field::new("k", DataType::UInt64, false),
        Field::new("anomaly_score", DataType::Float64, true),
        Field::new("verdict", DataType::Utf8, true),
        Field::new("latency_hist", DataType::Binary, true),
    ]))
}

/// The `incidents` table's columns (one row per incident, its latest state).
pub fn incidents_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("dedup_key", DataType::Utf8, false),
        Field::new("service", DataType::Utf8, false),
        Field::new("services", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        ts("onset_at", false),
        ts("detected_at", false),
        ts("resolved_at", true),
        ts("last_abnormal_at", false),
        Field::new("requests", DataType::UInt64, false),
        Field::new("errors", DataType::UInt64, false),
        Field::new("txn_total", DataType::UInt64, false),
        Field::new("txn_failed", DataType::UInt64, false),
        Field::new("top_cause", DataType::Utf8, true),
        Field::new("incident", DataType::Utf8, false),
    ]))
}

/// The `incident_events` table's columns (every opened, updated and resolved event).
pub fn incident_events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        ts("at", false),
        Field::new("action", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("dedup_key", DataType::Utf8, false),
        Field::new("service", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("event", DataType::Utf8, false),
    ]))
}

/// The live tables, written by [`SqlStore::window`] and [`SqlStore::events`] on one thread.
#[derive(Debug)]
pub struct SqlStore {
    dimension_names: Vec<String>,
    signals: crate::history::HistoryTable,
    signals_schema: SchemaRef,
    max_signal_rows: usize,
    /// Where `signals` goes past the rows kept in memory, and the next file's number.
    history: Option<(std::path::PathBuf, u64)>,
    incidents: Live,
    incident_events: Live,
    /// Every incident's latest state, by id.
    latest: BTreeMap<String, Incident>,
    max_incidents: usize,
    /// `series`' rows, and what the service posts for `late_events` and `ingest_stats`.
    series: Arc<std::sync::Mutex<crate::status::SeriesSeen>>,
    board: Arc<crate::status::StatusBoard>,
    /// The objectives `error_budget` measures against.
    slos: Vec<crate::status::Slo>,
}

impl SqlStore {
    /// Empty tables; `dimension_names` name the series' dimensions (the decoder's `dims`).
    pub fn new(dimension_names: Vec<String>, retention: Retention) -> SqlStore {
        let schema = signals_schema();
        SqlStore {
            dimension_names,
            signals: crate::history::HistoryTable::open(schema.clone(), std::path::Path::new("/nonexistent"))
                .expect("no directory to read"),
            signals_schema: schema,
            max_signal_rows: retention.signal_rows,
            history: None,
            incidents: Live::new(incidents_schema(), usize::MAX),
            incident_events: Live::new(incident_events_schema(), retention.incident_events),
            latest: BTreeMap::new(),
            max_incidents: retention.incidents,
            series: Arc::default(),
            board: Arc::default(),
            slos: crate::status::slos_of(&faultline_core::detect::DetectorBankSpec::default()),
        }
    }

    /// Keeps `signals` past the rows in memory as Parquet files under `dir` (one directory
    /// per day, `date=YYYY-MM-DD`), and reads the files already there: a restart keeps its history.
    pub fn with_history(mut self, dir: &std::path::Path) -> std::io::Result<SqlStore> {
        self.signals = crate::history::HistoryTable::open(self.signals_schema.clone(), dir)?;
        let next = self.signals.n_files() as u64;
        // File numbers go on from the largest there, so a restart never overwrites one.
        let seq = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
            .filter_map(|f| {
                let name = f.file_name().to_string_lossy().into_owned();
                name.strip_prefix("part-")?.strip_suffix(".parquet")?.parse::<u64>().ok()
            })
            .max()
            .map_or(next, |m| m + 1);
        self.history = Some((dir.to_path_buf(), seq));
        Ok(self)
    }

    /// The objectives of `error_budget` (the table `slos`): those of the pipeline's detectors
    /// ([`slos_of`](crate::slos_of)); the default bank's until set.
    pub fn with_slos(mut self, slos: Vec<crate::status::Slo>) -> SqlStore {
        self.slos = slos;
        self
    }

    /// The tables, by name, as DataFusion scans them.
    pub fn tables(&self) -> Vec<(&'static str, Arc<dyn datafusion::catalog::TableProvider>)> {
        use crate::status::{StatusTable, Which};
        let dims = Arc::new(self.dimension_names.clone());
        let status = |which| Arc::new(StatusTable::new(which, dims.clone(), self.board.clone(), self.series.clone()));
        vec![
            ("signals", Arc::new(self.signals.clone())),
            ("incidents", Arc::new(self.incidents.table())),
            ("incident_events", Arc::new(self.incident_events.table())),
            ("series", status(Which::Series)),
            ("late_events", status(Which::Late)),
            ("ingest_stats", status(Which::Ingest)),
            ("slos", Arc::new(crate::status::slos_table(&self.slos))),
        ]
    }

    /// Where the service posts the rows of `late_events` and `ingest_stats`.
    pub fn status_board(&self) -> Arc<crate::status::StatusBoard> {
        self.board.clone()
    }

    /// Rows of `signals` in memory.
    pub fn signal_rows(&self) -> usize {
        self.signals.rows_in_memory()
    }

    /// Parquet files of `signals`.
    pub fn signal_files(&self) -> usize {
        self.signals.n_files()
    }

    /// Appends a window end's signal points (with their findings and latency histograms).
    /// Past the rows kept in memory, the oldest half goes to the Parquet history (or, without
    /// one, is dropped).
    pub fn window(&mut self, snapshot: &WindowSnapshot) {
        {
            // Points come in label-set order: one lookup per series and window.
            let mut seen = self.series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut last: Option<&Arc<faultline_core::SeriesKey>> = None;
            for (key, _) in &snapshot.points {
                if last.is_none_or(|l| !Arc::ptr_eq(l, key)) {
                    seen.saw(key, snapshot.window_end.0);
                    last = Some(key);
                }
            }
        }
        let batch = self.signals_batch(snapshot);
        if batch.num_rows() > 0 {
            self.signals.append(batch);
        }
        if self.signals.rows_in_memory() > self.max_signal_rows {
            let keep = self.max_signal_rows / 2;
            if self.history.is_some() {
                self.flush(keep);
            } else {
                self.signals.drop_oldest(keep);
            }
        }
    }

    /// Moves the rows in memory but the newest `keep_rows` to the Parquet history (nothing
    /// without one). A failed write keeps the rows in memory and says so in the log.
    pub fn flush(&mut self, keep_rows: usize) {
        let Some((dir, seq)) = &mut self.history else { return };
        match self.signals.flush(dir, 4, keep_rows, *seq) {
            Ok(next) => *seq = next,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "writing the SQL history failed: the rows stay in memory")
            }
        }
    }

    fn signals_batch(&self, snap: &WindowSnapshot) -> RecordBatch {
        // The strongest finding per (series, signal): the row's score and verdict.
        let mut found: HashMap<(*const faultline_core::SeriesKey, &str), (f64, &'static str)> = HashMap::new();
        for (key, f) in &snap.findings {
            let slot = found.entry((Arc::as_ptr(key), f.signal.as_str())).or_insert((f.score, f.detector.as_str()));
            if f.score > slot.0 {
                *slot = (f.score, f.detector.as_str());
            }
        }
        let latency: HashMap<*const faultline_core::SeriesKey, &faultline_core::latency::LatencyHistogram> =
            snap.latencies.iter().map(|(k, h)| (Arc::as_ptr(k), h)).collect();
        let n = snap.points.len();
        let (mut service, mut kind, mut name) = (strings(n), strings(n), strings(n));
        let mut dims = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        let (mut start, mut end) =
            (TimestampMillisecondBuilder::with_capacity(n), TimestampMillisecondBuilder::with_capacity(n));
        let mut signal = strings(n);
        let mut value = Float64Builder::with_capacity(n);
        let (mut count, mut k) = (UInt64Builder::with_capacity(n), UInt64Builder::with_capacity(n));
        let mut score = Float64Builder::with_capacity(n);
        let mut verdict = strings(n);
        let mut hist = BinaryBuilder::new();
        for (key, p) in &snap.points {
            service.append_value(&key.service);
            kind.append_value(key.kind.as_str());
            name.append_value(&key.name);
            for (dim, v) in self.dimension_names.iter().zip(key.dims.iter()) {
                if !v.is_empty() {
                    dims.keys().append_value(dim);
                    dims.values().append_value(v);
                }
            }
            dims.append(true).expect("keys and values appended in pairs");
            start.append_value(p.window.start.0);
            end.append_value(p.window.end.0);
            signal.append_value(p.signal.as_str());
            value.append_value(p.value);
            count.append_value(p.n);
            k.append_value(p.k);
            match found.get(&(Arc::as_ptr(key), p.signal.as_str())) {
                Some((s, detector)) => {
                    score.append_value(*s);
                    verdict.append_value(detector);
                }
                None => {
                    score.append_null();
                    verdict.append_null();
                }
            }
            // The window's histogram rides on its latency_p95 row.
            match latency.get(&Arc::as_ptr(key)).filter(|_| p.signal == Signal::LatencyP95) {
                Some(h) => hist.append_value(crate::hdr::encode(h)),
                None => hist.append_null(),
            }
        }
        let utc = |b: &mut TimestampMillisecondBuilder| -> ArrayRef { Arc::new(b.finish().with_timezone("UTC")) };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(service.finish()),
            Arc::new(kind.finish()),
            Arc::new(name.finish()),
            Arc::new(dims.finish()),
            utc(&mut start),
            utc(&mut end),
            Arc::new(signal.finish()),
            Arc::new(value.finish()),
            Arc::new(count.finish()),
            Arc::new(k.finish()),
            Arc::new(score.finish()),
            Arc::new(verdict.finish()),
            Arc::new(hist.finish()),
        ];
        RecordBatch::try_new(self.signals_schema.clone(), columns).expect("columns match the schema")
    }

    /// Records incident events: appended to `incident_events`, and each incident's latest
    /// state to `incidents`.
    pub fn events(&mut self, events: &[IncidentEvent]) {
        if events.is_empty() {
            return;
        }
        let n = events.len();
        let mut at = TimestampMillisecondBuilder::with_capacity(n);
        let (mut action, mut id, mut key, mut service) = (strings(n), strings(n), strings(n), strings(n));
        let (mut severity, mut status, mut title, mut json) = (strings(n), strings(n), strings(n), strings(n));
        for ev in events {
            let i = &ev.incident;
            let when = match ev.action {
                Action::Opened => i.detected_at,
                Action::Resolved => i.resolved_at.unwrap_or(i.last_abnormal_at),
                Action::Updated => i.timeline.last().map_or(i.last_abnormal_at, |t| t.at),
            };
            at.append_value(when.0);
            action.append_value(ev.action.as_str());
            id.append_value(&i.id);
            key.append_value(&i.dedup_key);
            service.append_value(&i.service);
            severity.append_value(i.severity.as_str());
            status.append_value(status_str(i.status));
            title.append_value(&i.title);
            json.append_value(ev.to_json_line());
            self.latest.insert(i.id.clone(), i.clone());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(at.finish().with_timezone("UTC")),
            Arc::new(action.finish()),
            Arc::new(id.finish()),
            Arc::new(key.finish()),
            Arc::new(service.finish()),
            Arc::new(severity.finish()),
            Arc::new(status.finish()),
            Arc::new(title.finish()),
            Arc::new(json.finish()),
        ];
        let batch =
            RecordBatch::try_new(self.incident_events.schema.clone(), columns).expect("columns match the schema");
        self.incident_events.append(batch);
        self.trim_incidents();
        let batch = self.incidents_batch();
        self.incidents.replace(batch);
    }

    /// Past the retention, resolved incidents go first (the oldest), then the oldest open ones.
    fn trim_incidents(&mut self) {
        while self.latest.len() > self.max_incidents {
            let oldest = |open: bool| {
                self.latest
                    .values()
                    .filter(|i| (i.status == Status::Open) == open)
                    .min_by_key(|i| i.detected_at)
                    .map(|i| i.id.clone())
            };
            let Some(id) = oldest(false).or_else(|| oldest(true)) else { break };
            self.latest.remove(&id);
        }
    }

    fn incidents_batch(&self) -> RecordBatch {
        let n = self.latest.len();
        let (mut id, mut key, mut service, mut services) = (strings(n), strings(n), strings(n), strings(n));
        let (mut severity, mut status, mut title, mut cause, mut json) =
            (strings(n), strings(n), strings(n), strings(n), strings(n));
        let mut times: Vec<TimestampMillisecondBuilder> =
            (0..4).map(|_| TimestampMillisecondBuilder::with_capacity(n)).collect();
        let mut counts: Vec<UInt64Builder> = (0..4).map(|_| UInt64Builder::with_capacity(n)).collect();
        for i in self.latest.values() {
            id.append_value(&i.id);
            key.append_value(&i.dedup_key);
            service.append_value(&i.service);
            services.append_value(i.services.iter().map(String::as_str).collect::<Vec<_>>().join(","));
            severity.append_value(i.severity.as_str());
            status.append_value(status_str(i.status));
            title.append_value(&i.title);
            times[0].append_value(i.onset_at.0);
            times[1].append_value(i.detected_at.0);
            times[2].append_option(i.resolved_at.map(|t| t.0));
            times[3].append_value(i.last_abnormal_at.0);
            for (b, v) in
                counts.iter_mut().zip([i.impact.requests, i.impact.errors, i.impact.txn_total, i.impact.txn_failed])
            {
                b.append_value(v);
            }
            cause.append_option(i.causes.first().map(|c| c.cause.as_str()));
            let one = faultline_core::incident::wire::IncidentJson::from(i);
            json.append_value(serde_json::to_string(&one).expect("incident JSON serialises"));
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(key.finish()),
            Arc::new(service.finish()),
            Arc::new(services.finish()),
            Arc::new(severity.finish()),
            Arc::new(status.finish()),
            Arc::new(title.finish()),
        ];
        columns.extend(times.iter_mut().map(|b| Arc::new(b.finish().with_timezone("UTC")) as ArrayRef));
        columns.extend(counts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.push(Arc::new(cause.finish()));
        columns.push(Arc::new(json.finish()));
        RecordBatch::try_new(self.incidents.schema.clone(), columns).expect("columns match the schema")
    }
}

fn strings(n: usize) -> StringBuilder {
    StringBuilder::with_capacity(n, n * 16)
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Open => "open",
        Status::Resolved => "resolved",
    }
}

/// What the engine thread hands the SQL writer.
#[derive(Debug)]
pub enum SqlInput {
    /// A window end closed.
    Window(Arc<WindowSnapshot>),
    /// Incidents changed.
    Events(Vec<IncidentEvent>),
}

/// The engine thread's end of the queue to the SQL writer: sending never blocks; what a
/// full queue refuses is counted (the SQL tables fall behind; ingest never waits on them).
#[derive(Debug, Clone)]
pub struct SqlFeed {
    tx: SyncSender<SqlInput>,
    dropped: Arc<AtomicU64>,
}

impl SqlFeed {
    /// A feed and its receiving end, holding at most `capacity` inputs.
    pub fn new(capacity: usize) -> (SqlFeed, Receiver<SqlInput>) {
        let (tx, rx) = sync_channel(capacity);
        (SqlFeed { tx, dropped: Arc::default() }, rx)
    }

    /// Offers an input; `false` when the queue was full or the writer gone.
    pub fn send(&self, input: SqlInput) -> bool {
        match self.tx.try_send(input) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Inputs refused so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Runs the SQL writer: every input into `store`, until the feed is dropped.
pub fn write_all(store: &mut SqlStore, rx: &Receiver<SqlInput>) {
    for input in rx {
        match input {
            SqlInput::Window(snapshot) => store.window(&snapshot),
            SqlInput::Events(events) => store.events(&events),
        }
    }
}
