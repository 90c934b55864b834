//! The SQL tables over a real pipeline run, the HDR functions against a direct merge, the limits, and
//! Flight SQL with arrow-flight's client.

mod flight;
mod hdr;
mod live;
