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
//! `tail -F`) and [`ReaderSource`] (any reader to its end: stdin, `replay`).
//! OTLP, TCP/syslog and Kafka come with their issues, on the same contract.

mod decode;
mod file;
#[doc(hidden)]
pub mod fuzzing;
mod line;
pub mod logs;
pub mod otlp;
mod reader;
mod source;
pub mod wal;

pub use decode::LineDecoder;
pub use faultline_core::Position;
pub use file::FileSource;
pub use line::MAX_LINE_BYTES;
pub use logs::{FormatOptions, LineFormat, LogParser};
pub use otlp::{OtlpConfig, OtlpSource};
pub use reader::ReaderSource;
pub use source::{
    BatchSender, Committed, NotQueued, QueueDepth, Source, SourceBatch, SourceMessage, SourceStats, StartAt,
};
