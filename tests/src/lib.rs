//! Shared helpers for the integration tests.

pub mod plain_client;

/// The README's examples, compiled as doctests (`cargo test --workspace` runs them).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
