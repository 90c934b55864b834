//! Integration tests of the sources.

mod file;
