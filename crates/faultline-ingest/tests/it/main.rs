//! Integration tests of the sources.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns: a failed setup step should panic")]

mod file;
mod otlp;
mod stream;
