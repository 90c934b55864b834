//! Why an input record was rejected: a small enum, usable as a metric label.

use std::fmt;

/// The reason an input line or record was not turned into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Not valid JSON (or not a JSON object).
    InvalidJson,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or an unusable value.
    InvalidField,
    /// `kind` is not request, gauge, transaction or change.
    UnknownKind,
    /// A number is NaN or infinite (or too large to be meaningful).
    NotFinite,
    /// A latency, amount or capacity below zero.
    Negative,
    /// A timestamp that cannot be read.
    InvalidTimestamp,
    /// A timestamp before 1970.
    BeforeEpoch,
    /// A timestamp past the configured horizon ahead of processing time.
    TooFarInFuture,
    /// A line longer than a source accepts (it is skipped to its end, never held whole).
    LineTooLong,
    /// A log line that does not match its source's format (access log, logfmt, syslog).
    Unparsed,
}

impl RejectReason {
    /// Every reason, for metric catalogs.
    pub const ALL: [RejectReason; 11] = [
        RejectReason::InvalidJson,
        RejectReason::MissingField,
        RejectReason::InvalidField,
        RejectReason::UnknownKind,
        RejectReason::NotFinite,
        RejectReason::Negative,
        RejectReason::InvalidTimestamp,
        RejectReason::BeforeEpoch,
        RejectReason::TooFarInFuture,
        RejectReason::LineTooLong,
        RejectReason::Unparsed,
    ];

    /// snake_case name, as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::UnknownKind => "unknown_kind",
            RejectReason::NotFinite => "not_finite",
            RejectReason::Negative => "negative",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
            RejectReason::BeforeEpoch => "before_epoch",
            RejectReason::TooFarInFuture => "too_far_in_future",
            RejectReason::LineTooLong => "line_too_long",
            RejectReason::Unparsed => "unparsed",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rejections counted by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectCounts {
    counts: [u64; RejectReason::ALL.len()],
}

impl RejectCounts {
    /// Counts one rejection.
    pub fn add(&mut self, reason: RejectReason) {
        self.counts[reason as usize] += 1;
    }

    /// Counts `n` rejections.
    pub fn add_n(&mut self, reason: RejectReason, n: u64) {
        self.counts[reason as usize] += n;
    }

    /// Rejections for `reason`.
    pub fn get(&self, reason: RejectReason) -> u64 {
        self.counts[reason as usize]
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// (reason, count) for every reason with a count.
    pub fn iter(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL.iter().map(|r| (*r, self.get(*r))).filter(|(_, n)| *n > 0)
    }
}
