//! A table over memory and Parquet files: recent rows as Arrow batches, older ones flushed to
//! files partitioned by day (`DIR/date=2026-11-20/part-N.parquet`). A row is in one place or
//! the other, never both and never neither: the writer moves batches to a file and drops them
//! from memory under one lock, and a scan copies both lists under it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::logical_expr::Expr;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;

/// What a scan sees: the batches in memory and the files on disk, swapped together.
#[derive(Debug, Default)]
struct Contents {
    batches: Vec<RecordBatch>,
    files: Vec<PathBuf>,
}

/// A table whose older rows live in Parquet files.
#[derive(Debug, Clone)]
pub(crate) struct HistoryTable {
    schema: SchemaRef,
    contents: Arc<RwLock<Contents>>,
}

impl HistoryTable {
    /// A table over the files already in `dir` (a restart keeps its history), nothing in memory.
    pub(crate) fn open(schema: SchemaRef, dir: &Path) -> std::io::Result<HistoryTable> {
        let mut files = Vec::new();
        if dir.exists() {
            for day in std::fs::read_dir(dir)? {
                let day = day?.path();
                if !day.is_dir() {
                    continue;
                }
                for f in std::fs::read_dir(&day)? {
                    let f = f?.path();
                    if f.extension().is_some_and(|e| e == "parquet") {
                        files.push(f);
                    }
                }
            }
        }
        files.sort();
        Ok(HistoryTable { schema, contents: Arc::new(RwLock::new(Contents { batches: Vec::new(), files })) })
    }

    /// Appends a batch in memory.
    pub(crate) fn append(&self, batch: RecordBatch) {
        self.contents.write().unwrap_or_else(std::sync::PoisonError::into_inner).batches.push(batch);
    }

    /// Rows in memory.
    pub(crate) fn rows_in_memory(&self) -> usize {
        let c = self.contents.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        c.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Drops the oldest whole batches past `keep_rows` rows in memory (no history kept).
    pub(crate) fn drop_oldest(&self, keep_rows: usize) {
        let mut c = self.contents.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut total: usize = c.batches.iter().map(RecordBatch::num_rows).sum();
        let mut n = 0;
        while total > keep_rows && n + 1 < c.batches.len() {
            total -= c.batches[n].num_rows();
            n += 1;
        }
        c.batches.drain(..n);
    }

    /// Files on disk.
    pub(crate) fn n_files(&self) -> usize {
        self.contents.read().unwrap_or_else(std::sync::PoisonError::into_inner).files.len()
    }

    /// Moves every batch in memory but the newest `keep_rows` rows' worth to Parquet files
    /// under `dir`, one per day of `day_column` (a millisecond timestamp), named from `seq`
    /// up; returns the next `seq`. The files are whole (written, synced, renamed) before the
    /// batches leave memory.
    pub(crate) fn flush(&self, dir: &Path, day_column: usize, keep_rows: usize, mut seq: u64) -> Result<u64> {
        let moving: Vec<RecordBatch> = {
            let c = self.contents.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            let total: usize = c.batches.iter().map(RecordBatch::num_rows).sum();
            let mut over = total.saturating_sub(keep_rows);
            let mut n = 0;
            while n < c.batches.len() && over > 0 {
                over = over.saturating_sub(c.batches[n].num_rows());
                n += 1;
            }
            c.batches[..n].to_vec()
        };
        if moving.is_empty() {
            return Ok(seq);
        }
        // Rows by day, in order.
        let mut days: std::collections::BTreeMap<i64, Vec<RecordBatch>> = std::collections::BTreeMap::new();
        for b in &moving {
            let ts = b.column(day_column).as_primitive::<TimestampMillisecondType>();
            let day_of = |i: usize| ts.value(i).div_euclid(86_400_000);
            let present: std::collections::BTreeSet<i64> =
                (0..b.num_rows()).filter(|i| !ts.is_null(*i)).map(day_of).collect();
            for day in present {
                let mask: datafusion::arrow::array::BooleanArray =
                    (0..b.num_rows()).map(|i| Some(!ts.is_null(i) && day_of(i) == day)).collect();
                days.entry(day).or_default().push(filter_record_batch(b, &mask)?);
            }
        }
        let mut written = Vec::new();
        for (day, batches) in days {
            let date = time_of_day(day);
            let day_dir = dir.join(format!("date={date}"));
            std::fs::create_dir_all(&day_dir)?;
            let path = day_dir.join(format!("part-{seq:08}.parquet"));
            seq += 1;
            let tmp = path.with_extension("parquet.tmp");
            let file = std::fs::File::create(&tmp)?;
            let mut w = ArrowWriter::try_new(file, self.schema.clone(), None)?;
            for b in &batches {
                w.write(b)?;
            }
            let file = w.into_inner()?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            written.push(path);
        }
        std::fs::File::open(dir).and_then(|d| d.sync_all())?;
        let mut c = self.contents.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        c.batches.drain(..moving.len());
        c.files.extend(written);
        Ok(seq)
    }
}

/// `YYYY-MM-DD` of a day number since the epoch.
fn time_of_day(day: i64) -> String {
    let t = faultline_core::Millis(day * 86_400_000).to_rfc3339();
    t[..10].to_string()
}

#[async_trait]
impl TableProvider for HistoryTable {
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
        let (batches, files) = {
            let c = self.contents.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            (c.batches.clone(), c.files.clone())
        };
        let memory = MemTable::try_new(self.schema.clone(), vec![batches])?;
        let mut plans = vec![memory.scan(state, projection, filters, limit).await?];
        if !files.is_empty() {
            let urls = files.iter().map(|f| ListingTableUrl::parse(f.to_string_lossy())).collect::<Result<Vec<_>>>()?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
            let config = ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options)
                .with_schema(self.schema.clone());
            let disk = ListingTable::try_new(config)?;
            plans.push(disk.scan(state, projection, filters, limit).await?);
        }
        UnionExec::try_new(plans)
    }
}
