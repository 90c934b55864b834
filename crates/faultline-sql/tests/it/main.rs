//! The SQL tables over a real pipeline run, the HDR functions against a direct merge, and the limits.

mod hdr;
mod live;
