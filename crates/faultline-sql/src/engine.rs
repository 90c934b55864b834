//! Queries: one DataFusion session over the catalog `faultline` (schema `public`), read-only,
//! on a runtime of its own (two workers: a query never takes the service's threads), each
//! with a row limit, a memory limit and a timeout, and one partition (one core) each.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt as _;

use crate::hdr::{HdrMerge, HdrQuantile};
use crate::store::SqlStore;

/// What one query may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rows returned at most; the answer says when more were left out.
    pub max_rows: usize,
    /// Memory a query's operators may hold (sorts, joins, aggregates), bytes.
    pub memory_bytes: usize,
    /// Wall time before the query is cancelled.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_rows: 100_000, memory_bytes: 512 << 20, timeout: Duration::from_secs(30) }
    }
}

/// How an answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of row objects.
    Json,
    /// CSV with a header line.
    Csv,
    /// An Arrow IPC stream.
    ArrowIpc,
    /// A table for a terminal.
    Table,
}

impl Format {
    /// The format an HTTP `Accept` header asks for (JSON unless CSV or Arrow is named).
    pub fn from_accept(accept: &str) -> Format {
        let accept = accept.to_ascii_lowercase();
        if accept.contains("text/csv") {
            Format::Csv
        } else if accept.contains("application/vnd.apache.arrow.stream") {
            Format::ArrowIpc
        } else if accept.contains("text/plain") {
            Format::Table
        } else {
            Format::Json
        }
    }

    /// Its media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::ArrowIpc => "application/vnd.apache.arrow.stream",
            Format::Table => "text/plain; charset=utf-8",
        }
    }
}

/// A query's answer, written in the format asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The bytes.
    pub body: Vec<u8>,
    /// Its media type.
    pub content_type: &'static str,
    /// Rows in it.
    pub rows: usize,
    /// Rows past the row limit were left out.
    pub truncated: bool,
}

/// Why a query gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// Not SQL (the message has the line and column), or not a query this endpoint runs.
    #[error("{0}")]
    Invalid(String),
    /// Valid SQL over something that does not exist or does not fit (a table, a column, a type).
    #[error("{0}")]
    Plan(String),
    /// It ran out of its memory.
    #[error("the query needs more memory than its limit ({limit} bytes): {detail}")]
    Memory {
        /// The limit.
        limit: usize,
        /// DataFusion's words.
        detail: String,
    },
    /// It ran past its time.
    #[error("the query ran past its time limit of {0:?} and was cancelled")]
    Timeout(Duration),
    /// It failed while running.
    #[error("{0}")]
    Execution(String),
}

impl SqlError {
    /// A word for its kind: `invalid`, `plan`, `memory`, `timeout` or `error`.
    pub fn kind(&self) -> &'static str {
        match self {
            SqlError::Invalid(_) => "invalid",
            SqlError::Plan(_) => "plan",
            SqlError::Memory { .. } => "memory",
            SqlError::Timeout(_) => "timeout",
            SqlError::Execution(_) => "error",
        }
    }

    fn from_datafusion(e: DataFusionError, limits: &Limits) -> SqlError {
        match e.find_root() {
            DataFusionError::SQL(..) | DataFusionError::NotImplemented(_) => SqlError::Invalid(e.strip_backtrace()),
            // What the read-only options refuse (DDL, DML, COPY, SET) says so in planning.
            DataFusionError::Plan(m) if m.contains("not supported") => SqlError::Invalid(e.strip_backtrace()),
            DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => SqlError::Plan(e.strip_backtrace()),
            DataFusionError::ResourcesExhausted(d) => {
                SqlError::Memory { limit: limits.memory_bytes, detail: d.clone() }
            }
            _ => SqlError::Execution(e.strip_backtrace()),
        }
    }
}

/// The SQL side of a running service: the session, its runtime and its limits.
pub struct SqlEngine {
    ctx: SessionContext,
    runtime: Option<tokio::runtime::Runtime>,
    limits: Limits,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEngine").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl SqlEngine {
    /// A session over `store`'s tables (registered now; the store keeps writing to them)
    /// with the HDR functions and the runbooks' views.
    pub fn new(store: &SqlStore, limits: Limits) -> SqlEngine {
        let config = SessionConfig::new()
            .with_default_catalog_and_schema("faultline", "public")
            .with_information_schema(true)
            .with_target_partitions(1);
        let env = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(limits.memory_bytes)))
            .build_arc()
            .expect("a memory pool is all this runtime has");
        let ctx = SessionContext::new_with_config_rt(config, env);
        for (name, table) in store.tables() {
            ctx.register_table(name, table).expect("a fresh catalog has no such table");
        }
        ctx.register_udf(HdrQuantile::udf());
        ctx.register_udaf(HdrMerge::udaf());
        for (name, select) in crate::views::VIEWS {
            let plan = futures::executor::block_on(ctx.state().create_logical_plan(select))
                .unwrap_or_else(|e| panic!("view {name} plans: {e}"));
            let view = datafusion::datasource::ViewTable::new(plan, Some(select.to_string()));
            ctx.register_table(*name, Arc::new(view)).expect("a fresh catalog has no such view");
        }
        // Two workers: a query computing without a yield (a cross join) holds one until it
        // yields, and the next query runs on the other.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sql")
            .enable_time()
            .build()
            .expect("a tokio runtime");
        SqlEngine { ctx, runtime: Some(runtime), limits }
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Runs `sql` (one read-only query) and writes its answer as `format`.
    pub async fn query(&self, sql: &str, format: Format) -> Result<Answer, SqlError> {
        let (schema, batches, truncated) = self.run(sql).await?;
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        let body = write(&schema, &batches, format).map_err(|e| SqlError::Execution(e.to_string()))?;
        Ok(Answer { body, content_type: format.content_type(), rows, truncated })
    }

    /// Runs `sql`: the answer's schema, its batches (at most the row limit) and whether rows were left out.
    pub async fn run(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>, bool), SqlError> {
        self.run_with(sql, Vec::new()).await
    }

    /// Runs `sql` with `params` bound to its placeholders `$1`, `$2`… in order.
    pub async fn run_with(
        &self,
        sql: &str,
        params: Vec<ScalarValue>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>, bool), SqlError> {
        let limits = self.limits;
        let (ctx, sql) = (self.ctx.clone(), sql.to_string());
        self.on_runtime(async move {
            let df = plan(&ctx, &sql, params).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let mut stream = df.execute_stream().await?;
            let (mut batches, mut rows, mut truncated) = (Vec::new(), 0usize, false);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let room = limits.max_rows - rows;
                if batch.num_rows() > room {
                    batches.push(batch.slice(0, room));
                    truncated = true;
                    break;
                }
                rows += batch.num_rows();
                batches.push(batch);
            }
            Ok((schema, batches, truncated))
        })
        .await
    }

    /// Plans `sql` without running it: the schema of its answer, and of its placeholders
    /// (`$1`, `$2`… in order; a type DataFusion cannot infer is `Null`). With `params`, the
    /// answer's schema once they are bound.
    pub async fn describe(&self, sql: &str, params: Vec<ScalarValue>) -> Result<Described, SqlError> {
        let (ctx, sql) = (self.ctx.clone(), sql.to_string());
        self.on_runtime(async move {
            let bound = !params.is_empty();
            let df = plan(&ctx, &sql, params).await?;
            let answer: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let mut fields: Vec<(usize, String, DataType)> = Vec::new();
            if !bound {
                for (name, ty) in df.logical_plan().get_parameter_types()? {
                    let index = name.trim_start_matches('$').parse().unwrap_or(usize::MAX);
                    fields.push((index, name, ty.unwrap_or(DataType::Null)));
                }
            }
            fields.sort();
            let params = Schema::new(fields.into_iter().map(|(_, n, t)| Field::new(n, t, true)).collect::<Vec<_>>());
            Ok(Described { answer, params: Arc::new(params) })
        })
        .await
    }

    /// Every table and view of the session: (catalog, schema, name, `TABLE` or `VIEW`, its columns).
    pub async fn tables(&self) -> Vec<TableEntry> {
        let mut out = Vec::new();
        for catalog_name in self.ctx.catalog_names() {
            let Some(catalog) = self.ctx.catalog(&catalog_name) else { continue };
            for schema_name in catalog.schema_names() {
                let Some(schema) = catalog.schema(&schema_name) else { continue };
                let mut names = schema.table_names();
                names.sort();
                for name in names {
                    let Ok(Some(table)) = schema.table(&name).await else { continue };
                    let kind = match table.table_type() {
                        datafusion::datasource::TableType::Base => "TABLE",
                        datafusion::datasource::TableType::View => "VIEW",
                        datafusion::datasource::TableType::Temporary => "LOCAL TEMPORARY",
                    };
                    out.push(TableEntry {
                        catalog: catalog_name.clone(),
                        schema: schema_name.clone(),
                        name,
                        kind,
                        columns: table.schema(),
                    });
                }
            }
        }
        out
    }

    /// Runs `work` on the SQL runtime within the time limit.
    async fn on_runtime<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, DataFusionError>> + Send + 'static,
    ) -> Result<T, SqlError> {
        let limits = self.limits;
        let runtime = self.runtime.as_ref().expect("the runtime lives as long as the engine");
        let mut task = runtime.spawn(async move { work.await.map_err(|e| SqlError::from_datafusion(e, &limits)) });
        // The clock runs here, not in the query's task: a query busy computing is still
        // stopped on time (aborted at its next yield; DataFusion's operators yield between batches).
        match tokio::time::timeout(limits.timeout, &mut task).await {
            Ok(done) => done.map_err(|e| SqlError::Execution(format!("the query failed: {e}")))?,
            Err(_) => {
                task.abort();
                Err(SqlError::Timeout(limits.timeout))
            }
        }
    }
}

/// One read-only query planned, with `params` bound when there are any.
async fn plan(ctx: &SessionContext, sql: &str, params: Vec<ScalarValue>) -> Result<DataFrame, DataFusionError> {
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let df = ctx.sql_with_options(sql, options).await?;
    if params.is_empty() { Ok(df) } else { df.with_param_values(params) }
}

/// What a query returns and what it takes, planned but not run.
#[derive(Debug, Clone)]
pub struct Described {
    /// The answer's columns.
    pub answer: SchemaRef,
    /// Its placeholders, `$1`, `$2`… in order (none once bound).
    pub params: SchemaRef,
}

/// A table or view of the catalog.
#[derive(Debug, Clone)]
pub struct TableEntry {
    /// Its catalog (`faultline`, or DataFusion's own).
    pub catalog: String,
    /// Its schema (`public`, `information_schema`).
    pub schema: String,
    /// Its name.
    pub name: String,
    /// `TABLE`, `VIEW` or `LOCAL TEMPORARY`.
    pub kind: &'static str,
    /// Its columns.
    pub columns: SchemaRef,
}

impl Drop for SqlEngine {
    fn drop(&mut self) {
        // Dropped from async code too: never wait for the runtime's threads here.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Writes batches as `format`.
pub fn write(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: Format,
) -> Result<Vec<u8>, datafusion::arrow::error::ArrowError> {
    use datafusion::arrow::{csv, ipc, json, util::pretty};
    let mut out = Vec::new();
    match format {
        Format::Json => {
            let mut w = json::ArrayWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                out = b"[]".to_vec();
            }
        }
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().with_header(true).build(&mut out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for b in batches {
                w.write(b)?;
            }
        }
        Format::ArrowIpc => {
            let mut w = ipc::writer::StreamWriter::try_new(&mut out, schema)?;
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Format::Table => {
            let shown =
                if batches.is_empty() { vec![RecordBatch::new_empty(schema.clone())] } else { batches.to_vec() };
            out = pretty::pretty_format_batches(&shown)?.to_string().into_bytes();
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// An Arrow IPC stream back as a table for a terminal (what `faultline sql` prints).
pub fn ipc_to(bytes: &[u8], format: Format) -> Result<String, datafusion::arrow::error::ArrowError> {
    let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    let out = write(&schema, &batches, format)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
