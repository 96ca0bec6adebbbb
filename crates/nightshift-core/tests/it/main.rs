//! Integration tests for `nightshift-core`: the project file end to end.

mod config;
