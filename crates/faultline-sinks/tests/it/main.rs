//! Integration tests of delivery: the outbox and workers against local receivers over real HTTP.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns: a failed setup step should panic")]

mod alertmanager;
mod common;
mod pagerduty;
mod slack;
mod webhook;
