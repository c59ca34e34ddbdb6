//! gRPC bindings for the parts of Teleport's API that teleport-audit uses.
//!
//! The `.proto` files under `proto/` at the workspace root are our own, trimmed to what we call,
//! with Teleport's package names, message names and field numbers (the wire contract). Both the
//! client stubs (used by `teleport-audit`) and the server traits (used by the simulated cluster in
//! `teleport-audit-sim`) are generated here, at build time, without a system `protoc`.
//!
//! One deliberate deviation from plain codegen: `google.protobuf.Struct` (the JSON payload of an
//! audit event) is mapped to [`RawStruct`], which keeps the field's encoded bytes instead of
//! decoding them into a tree. `teleport_audit_types::wire` turns those bytes into JSON in one pass.
//! A search page can also be read without copying its events at all: [`SearchClient`] answers with
//! a [`SearchPage`], whose payloads are slices of the received message.

pub mod legacy_events;
mod raw_struct;
mod search_page;

pub use raw_struct::{RawOneOf, RawStruct};
pub use search_page::{SearchClient, SearchPage, SearchPageEvent};

/// `teleport.auditlog.v1`: the audit log search, session stream and export RPCs.
pub mod auditlog {
    /// Version 1 of the audit log API.
    #[allow(
        missing_docs,
        unreachable_pub,
        missing_debug_implementations,
        clippy::all
    )]
    pub mod v1 {
        tonic::include_proto!("teleport.auditlog.v1");
    }
}

/// Teleport's legacy `proto` package, trimmed to `AuthService/Ping`.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
pub mod authservice {
    tonic::include_proto!("proto");
}
