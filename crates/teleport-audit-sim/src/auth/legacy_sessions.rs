//! The legacy session stream, `proto.AuthService/StreamSessionEvents`: the same recordings,
//! start index, `NotFound`, permission and fault behaviour as the unstructured stream (both go
//! through [`super::recordings::serve`]), but each event sent as Teleport's typed
//! `events.OneOf` (what 13.x and 14.x clients fall back to), encoded from the event's JSON by
//! [`teleport_audit_proto::legacy_events::json_to_oneof`].
//!
//! The generated service sends the message as bytes ([`RawOneOf`]), so no Rust types exist for
//! `events.proto`.

use teleport_audit_proto::RawOneOf;
use teleport_audit_proto::legacy_events::json_to_oneof;
use tonic::Status;

use crate::store::RecordedEvent;

/// A well-framed `OneOf` whose event cannot be decoded: a `SessionPrint` (field 7) whose
/// `Metadata` (field 1) claims 16 bytes and has 2. What the `malformed_struct_next_page` knob
/// sends on this RPC.
const MALFORMED_ONEOF: &[u8] = &[0x3a, 0x04, 0x0a, 0x10, 0x08, 0x01];

/// A recording event as `StreamSessionEvents` sends it.
///
/// # Errors
/// `Internal` when the event's JSON has no `events.OneOf` form (a simulator bug: every event
/// type it records must be one `json_to_oneof` knows).
pub(super) fn recorded_to_oneof(event: RecordedEvent, malformed: bool) -> Result<RawOneOf, Status> {
    if malformed {
        return Ok(RawOneOf::from_encoded(MALFORMED_ONEOF));
    }
    json_to_oneof(&event.json)
        .map(RawOneOf::from_encoded)
        .map_err(|e| Status::internal(format!("recording event {}: {e}", event.ei)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use teleport_audit_proto::legacy_events::{OneOfError, oneof_to_struct};

    #[test]
    fn the_malformed_knob_sends_a_oneof_that_does_not_decode() {
        assert!(matches!(
            oneof_to_struct(MALFORMED_ONEOF),
            Err(OneOfError::Malformed(_))
        ));
    }
}
