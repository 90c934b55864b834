//! Delivery of incident events: one durable outbox, then a worker per sink.
//!
//! Every incident event is appended to the [`Outbox`] (fsynced) before any
//! sink sees it; each sink's worker takes the events after its cursor in
//! order, delivers them with retries (a failing sink holds back only
//! itself), and moves its cursor once the receiver took one. After a crash,
//! what was pending is delivered again, with the same (dedup key, action).

pub mod alertmanager;
pub mod deliver;
#[cfg(feature = "fake")]
pub mod fake;
pub mod kafka;
pub mod lines;
pub mod outbox;
pub mod pagerduty;
pub mod slack;
mod text;
pub mod webhook;

pub use deliver::{Attempt, Receiver, RetryPolicy, Route, SharedOutbox, SinkStats, Worker};
pub use outbox::{Action, Entry, NewEntry, Outbox, SinkState};
