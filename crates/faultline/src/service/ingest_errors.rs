//! The last rejected records of every source, for `GET /api/v1/ingest/errors` and `/metrics`.
//!
//! The engine thread adds the samples each batch carries (a source keeps at
//! most a few per batch); each source keeps its latest [`KEPT`], newest
//! first. So an operator sees what a bad producer sends, and where, without
//! reading the log.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use faultline_core::Millis;
use faultline_ingest::RejectSample;
use serde::Serialize;

/// Samples kept per source.
pub(crate) const KEPT: usize = 20;

/// One sample as the API answers it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ErrorSample {
    /// When the engine received it (wall clock, RFC 3339).
    pub(crate) seen_at: String,
    /// The stream: a file's path, a TCP or UDP peer, an OTLP request.
    pub(crate) origin: String,
    /// The record's number in its stream (a line, a span).
    pub(crate) record: u64,
    /// Why, as the metric label `reason`.
    pub(crate) reason: &'static str,
    /// The field at fault, when one is.
    pub(crate) field: Option<&'static str>,
    /// What is wrong, for a person.
    pub(crate) detail: String,
    /// The record's first characters.
    pub(crate) excerpt: String,
}

/// The samples of every source that has rejected something.
#[derive(Debug, Default)]
pub(crate) struct IngestErrors {
    by_source: Mutex<BTreeMap<String, VecDeque<ErrorSample>>>,
}

/// The answer of `GET /api/v1/ingest/errors`.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorsReply {
    /// Per source with samples, by name.
    pub(crate) sources: Vec<SourceErrors>,
}

/// One source's samples, newest first.
#[derive(Debug, Serialize)]
pub(crate) struct SourceErrors {
    /// The source's name.
    pub(crate) source: String,
    /// Its latest samples, newest first.
    pub(crate) samples: Vec<ErrorSample>,
}

impl IngestErrors {
    /// Keeps `samples` of `source`, seen at `now`.
    pub(crate) fn add(&self, source: &str, samples: &[RejectSample], now: Millis) {
        let mut by = self.by_source.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = by.entry(source.to_string()).or_default();
        for s in samples {
            kept.push_front(ErrorSample {
                seen_at: now.to_rfc3339(),
                origin: s.origin.clone(),
                record: s.error.line,
                reason: s.error.reason.as_str(),
                field: s.error.field,
                detail: s.error.detail.clone(),
                excerpt: s.excerpt.clone(),
            });
        }
        kept.truncate(KEPT);
    }

    /// Every source's samples.
    pub(crate) fn reply(&self) -> ErrorsReply {
        let by = self.by_source.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ErrorsReply {
            sources: by
                .iter()
                .map(|(source, kept)| SourceErrors { source: source.clone(), samples: kept.iter().cloned().collect() })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use faultline_core::RejectReason;
    use faultline_core::wire::ParseError;

    use super::*;

    fn sample(line: u64) -> RejectSample {
        let e = ParseError { line, field: None, reason: RejectReason::Unparsed, detail: "no request line".into() };
        RejectSample::new(e, "tcp 127.0.0.1:9", format!("garbage {line}").as_bytes())
    }

    #[test]
    fn each_source_keeps_its_latest_samples_newest_first() {
        let errors = IngestErrors::default();
        let batch: Vec<RejectSample> = (1..=(KEPT as u64 + 5)).map(sample).collect();
        errors.add("web", &batch, Millis(0));
        errors.add("api", &[sample(7)], Millis(1000));
        let reply = errors.reply();
        let names: Vec<&str> = reply.sources.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(names, ["api", "web"]);
        let web = &reply.sources[1].samples;
        assert_eq!(web.len(), KEPT, "bounded");
        assert_eq!(web[0].record, KEPT as u64 + 5, "newest first");
        assert_eq!(web[KEPT - 1].record, 6, "the oldest fell out");
        assert_eq!(web[0].excerpt, format!("garbage {}", KEPT + 5));
        assert_eq!(web[0].reason, "unparsed");
        assert_eq!(reply.sources[0].samples[0].seen_at, "1970-01-01T00:00:01.000Z");
    }
}
