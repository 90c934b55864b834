//! Sources and decoders: every source, pull or push, yields decoded event batches with its position after them.
//!
//! One contract ([`Source`]) for every adapter: a source declares its
//! partitions, decodes on its own thread (the engine's router only routes),
//! and sends [`SourceBatch`]es, each with the partition's [`Position`] just
//! past it, through a bounded queue ([`BatchSender`]): a full queue holds the
//! source back, never drops. Positions are saved in the engine's checkpoint,
//! so a restart resumes each partition where the restored state ends.
//!
//! Sources here: [`FileSource`] (a file read to its end, or followed like
//! `tail -F`), [`ReaderSource`] (any reader to its end: stdin, `replay`) and
//! [`OtlpSource`] (the OTLP receiver), TCP/UDP lines and syslog ([`StreamSource`]) and
//! [`KafkaSource`] (a consumer group member, a partition per topic partition).
//!
//! A line source reads its lines in one [`LineFormat`] (module [`logs`]): the
//! event JSON of DESIGN.md, JSON logs and logfmt through a [`FieldMap`],
//! nginx and Apache access logs, RFC 5424 / RFC 3164 syslog. A source's config
//! ([`FormatOptions`]) is checked once by [`LineFormat::from_options`] (a
//! [`FormatError`] names the key at fault); a [`LogParser`] then turns each line
//! into the core's borrowed `Fields` and the core's event rules
//! (`Decoder::emit`), so every format rejects for the same reasons:
//!
//! ```
//! use std::sync::Arc;
//! use faultline_core::wire::{Decoder, DecoderConfig};
//! use faultline_core::SeriesRegistry;
//! use faultline_ingest::{FormatOptions, LogParser};
//!
//! let options = FormatOptions { format: "nginx".into(), service: Some("shop".into()), ..Default::default() };
//! let mut parser = LogParser::from_options(&options)?;
//! let mut decoder = Decoder::new(Arc::new(SeriesRegistry::new(1000)), DecoderConfig::default());
//! let mut events = Vec::new();
//! let line = r#"203.0.113.9 - - [20/Nov/2026:18:00:00 +0000] "GET /users/42 HTTP/1.1" 503 0 "-" "curl/8" 0.120"#;
//! parser.decode(1, line.as_bytes(), &mut decoder, None, &mut events).expect("an access line");
//! let key = decoder.registry().key(events[0].series);
//! assert_eq!((&*key.service, &*key.name), ("shop", "GET /users/:id"));
//! # Ok::<(), faultline_ingest::FormatError>(())
//! ```

mod batches;
mod decode;
mod file;
#[doc(hidden)]
pub mod fuzzing;
pub mod kafka;
mod line;
pub mod logs;
pub mod otlp;
mod partition_store;
mod reader;
mod source;
pub mod stream;
pub mod wal;

pub use decode::LineDecoder;
pub use faultline_core::Position;
pub use file::FileSource;
pub use kafka::{KafkaConfig, KafkaSource, KafkaStats};
pub use line::MAX_LINE_BYTES;
pub use logs::{FieldMap, FormatError, FormatOptions, LatencyUnit, LineFormat, LogParser, MappedField};
pub use otlp::{OtlpConfig, OtlpSource};
pub use partition_store::PartitionStore;
pub use reader::ReaderSource;
pub use source::{
    BatchSender, Committed, EXCERPT_CHARS, NotQueued, Offer, QueueDepth, RejectSample, Source, SourceBatch,
    SourceMessage, SourceStats, StartAt,
};
pub use stream::{Framing, StreamConfig, StreamSource};
