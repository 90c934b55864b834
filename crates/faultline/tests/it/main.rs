//! Integration tests of the `faultline` binary: one test binary, a module per area.

#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] fns: a failed setup step should panic")]

mod api;
mod checkpoint;
mod delivery;
mod demo;
mod deploy;
mod harness;
mod kafka;
mod load;
mod logs;
mod otlp;
mod postmortem;
mod service;
mod sink_failure;
mod sources;
mod sql;
mod titles;
