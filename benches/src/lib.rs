//! Shared inputs for the Faultline benchmarks.
