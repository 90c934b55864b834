//! Integration tests of faultline-core: one binary, one module per concern.

mod engine_model;
mod tidy;
