//! Shared helpers for the integration tests.

pub mod plain_client;
