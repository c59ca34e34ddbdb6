//! Session recording events of the legacy RPC, `proto.AuthService/StreamSessionEvents`
//! (Teleport's `events.OneOf`), turned into the JSON of Teleport's `apievents.ToUnstructured`,
//! and back.
//!
//! Teleport 13.3.8 and 14.2.3 (and every 13/14 release before teleport#37580) do not serve the
//! unstructured session stream; their Go client falls back to `StreamSessionEvents`, which sends
//! each event as a typed `events.OneOf`, and converts it with `ToUnstructured`: `json.Marshal` of
//! the gogo-generated Go struct, read back into a `google.protobuf.Struct`, plus `"data"` (the
//! raw terminal output, standard base64) for `print`. [`oneof_to_struct`] does the same from
//! the bytes, so the client reads a recording event exactly like a search event (the same
//! `teleport_audit_types::AuditEvent::from_struct_bytes`).
//!
//! Which Go client: a 14.2.3 one (the vendored `events.proto` is 14.2.3's, a superset of
//! 13.3.8's). On events from a 13.x server the only difference from a 13.3.8 Go client is three
//! fields 14.2.3 added without `omitempty`, which come out as zero values: `KubeRequest`'s
//! `"sid": ""`, `WindowsDesktopSessionStart`'s `"allow_user_creation": false` and
//! `InstanceJoin`'s `"token_expires": "0001-01-01T00:00:00Z"` (`tests/oneof_golden.rs` checks
//! both versions' Go output, from `golden/main.go`).
//!
//! How: `build.rs` reads the vendored `events.proto` (with its gogoproto options) and generates a
//! table of every message `OneOf` reaches (`table.rs`); a generic wire walker (`decode.rs`)
//! applies Go's rules for each field. No prost structs are generated for `events.proto`.
//!
//! Transport: the rpc's response type is mapped to [`crate::RawOneOf`] (the message's bytes) in
//! the generated client and server, so the tonic codegen stays as small as it was.
//!
//! [`json_to_oneof`] is the inverse, for the simulated cluster (it serves the legacy RPC from
//! the same JSON events it serves through the unstructured one).
//!
//! Pure code: no I/O, no async, no panics on any input; nesting is bounded by [`MAX_DEPTH`].

mod decode;
mod encode;
mod error;
mod table;
mod time;
mod value;
mod wire;

pub use error::{Malformed, OneOfError};

/// How deeply messages and JSON values may nest before [`OneOfError::TooDeep`].
pub const MAX_DEPTH: usize = 100;

/// Converts one encoded `events.OneOf` (a message of `proto.AuthService/StreamSessionEvents`)
/// into the encoded `google.protobuf.Struct` that Teleport's `apievents.ToUnstructured` makes of
/// it (the `unstructured` field of an `EventUnstructured`).
///
/// # Errors
///
/// [`OneOfError::Empty`] when no event is set, [`OneOfError::UnknownVariant`] for an event kind
/// this build does not know, [`OneOfError::Malformed`] for bytes that are not a valid encoding,
/// [`OneOfError::Unrepresentable`] for values Go cannot write as JSON, [`OneOfError::TooDeep`],
/// [`OneOfError::TooLarge`].
pub fn oneof_to_struct(bytes: &[u8]) -> Result<Vec<u8>, OneOfError> {
    let (_, object) = decode::decode_oneof(bytes)?;
    Ok(value::encode_struct(&object))
}

/// Encodes an event's JSON (as `ToUnstructured` makes it) as an `events.OneOf`, choosing the
/// variant from the event's type (its `"event"` key). `print` events take their raw output from
/// `"data"` (standard base64). Keys the Go struct of Teleport 14.2.3 does not have are left
/// out, as Go's `json.Unmarshal` leaves them out.
///
/// # Errors
///
/// [`OneOfError::MissingType`], [`OneOfError::UnknownType`] when no variant is known for the
/// type, [`OneOfError::InvalidValue`] for a value of the wrong type or range,
/// [`OneOfError::TooDeep`].
pub fn json_to_oneof(
    event: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<u8>, OneOfError> {
    encode::encode_oneof(event)
}

/// The event types [`json_to_oneof`] can encode, with the `events.OneOf` variant of each.
pub fn known_types() -> impl Iterator<Item = (&'static str, &'static str)> {
    encode::TYPES.iter().copied()
}

#[cfg(test)]
mod tests;
