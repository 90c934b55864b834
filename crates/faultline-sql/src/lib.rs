//! SQL over Faultline's state through Apache DataFusion: the only crate that knows Arrow.
//!
//! One catalog, `faultline` (schema `public`):
//! - `signals`: a row per series, window and signal (service, kind, name, dims as a map,
//!   window start and end, value, the detectors' strongest score and which detector, and on
//!   each window's `latency_p95` row its latency histogram as an HDR V2 blob);
//! - `incidents`: a row per incident, its latest state; `incident_events`: every opened,
//!   updated and resolved event;
//! - views for the runbooks' questions: `monthly_report`, `noisy_services`, `error_budget`.
//!
//! The live rows are immutable Arrow batches appended by one writer thread ([`SqlStore`],
//! fed through [`SqlFeed`], which never blocks the engine) with bounded retention; a query
//! copies the list of batches and holds no lock while it runs. `hdr_merge(histogram)` and
//! `hdr_quantile(histogram, q)` give exact quantiles over any set of windows.
//!
//! Queries ([`SqlEngine`]) are read-only (no DDL, DML or `COPY`), run on a runtime of their
//! own, and each has a row limit, a memory limit and a timeout ([`Limits`]).

mod engine;
pub mod hdr;
mod history;
mod store;
mod views;

pub use engine::{Answer, Format, Limits, SqlEngine, SqlError, ipc_to, write};
pub use store::{
    Retention, SqlFeed, SqlInput, SqlStore, incident_events_schema, incidents_schema, signals_schema, write_all,
};
