//! SQL over Faultline's state through Apache DataFusion: the only crate that knows Arrow.
//!
//! One catalog, `faultline` (schema `public`):
//! - `signals`: a row per series, window and signal (service, kind, name, dims as a map,
//!   window start and end, value, the detectors' strongest score and which detector, and on
//!   each window's `latency_p95` row its latency histogram as an HDR V2 blob);
//! - `incidents`: a row per incident, its latest state; `incident_events`: every opened,
//!   updated and resolved event;
//! - `series` (every label set that closed a window), `late_events` (late events per series)
//!   and `ingest_stats` (per source and partition), built when a query scans them;
//! - `slos`: the objectives of the pipeline's burn-rate detectors;
//! - views for the runbooks' questions: `monthly_report`, `noisy_services`, `error_budget` (per SLO).
//!
//! The live rows are immutable Arrow batches appended by one writer thread ([`SqlStore`],
//! fed through [`SqlFeed`], which never blocks the engine) with bounded retention; a query
//! copies the list of batches and holds no lock while it runs. `hdr_merge(histogram)` and
//! `hdr_quantile(histogram, q)` give exact quantiles over any set of windows.
//!
//! Queries ([`SqlEngine`]) are read-only (no DDL, DML or `COPY`), run on a runtime of their
//! own, and each has a row limit, a memory limit and a timeout ([`Limits`]). [`FlightSql`]
//! serves the same session over Arrow Flight SQL.

mod engine;
mod flight;
pub mod hdr;
mod history;
mod status;
mod store;
mod views;

pub use engine::{Answer, Described, Format, Limits, SqlEngine, SqlError, TableEntry, ipc_to, write};
pub use flight::{FlightSql, OnQuery, TokenCheck, serve_flight, status_of, token_matches};
pub use status::{
    IngestRow, Slo, StatusBoard, ingest_stats_schema, late_events_schema, series_schema, slos_of, slos_schema,
};
pub use store::{
    Retention, SqlFeed, SqlInput, SqlStore, incident_events_schema, incidents_schema, signals_schema, write_all,
};
