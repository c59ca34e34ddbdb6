//! The Struct decoder fuzz target's oracle, shared with the stable replay test
//! (`crates/teleport-audit-types/tests/fuzz_corpus.rs`), which feeds it the committed seeds.

use prost::Message as _;
use teleport_audit_types::wire::{json_to_struct, struct_to_json};
use teleport_audit_types::{AuditEvent, WireError};

/// Feeds `data`, as encoded `google.protobuf.Struct` bytes, to [`struct_to_json`] and
/// [`AuditEvent::from_struct_bytes`]. Neither may panic; on error the output buffer is left as it
/// was. Accepted bytes must give one JSON object that:
///
/// - round-trips: [`json_to_struct`] then [`struct_to_json`] give the same text;
/// - agrees with prost where prost accepts the bytes: prost's re-encoding decodes to the same
///   text. (prost may refuse what we accept: it checks fields that a later field or a later entry
///   with the same key overwrites, which we never read, and its recursion limit is tighter.)
/// - gives the same event whether it comes from the bytes or from the JSON text
///   ([`AuditEvent::from_json`]): both refuse it, or both accept it with the same common fields.
///
/// Bytes we refuse that prost accepts must hold a NaN or an infinity (no JSON form) or nest too
/// deep. Returns whether `data` was accepted.
pub(crate) fn check(data: &[u8]) -> bool {
    let mut out = b"#".to_vec();
    let decoded = struct_to_json(data, &mut out);
    let event = AuditEvent::from_struct_bytes(data);
    let prost = prost_types::Struct::decode(data);
    if let Err(error) = decoded {
        let _ = (error.to_string(), format!("{error:?}"));
        assert_eq!(out, b"#", "output changed by a failed decode: {error}");
        if let Ok(event) = event {
            panic!("from_struct_bytes accepted bytes struct_to_json refused ({error}): {event:?}");
        }
        if prost.is_ok()
            && !matches!(
                error,
                WireError::NonFiniteNumber { .. } | WireError::TooDeep { .. }
            )
        {
            panic!("prost accepts bytes struct_to_json refused: {error}");
        }
        return false;
    }
    let Ok(text) = std::str::from_utf8(&out[1..]) else {
        panic!("struct_to_json wrote invalid UTF-8: {:?}", &out[1..]);
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) if value.is_object() => {}
        other => panic!("struct_to_json wrote {text:?}, not a JSON object: {other:?}"),
    }

    // Round trip through our encoder.
    let encoded = json_to_struct(text)
        .unwrap_or_else(|error| panic!("json_to_struct refused {text:?}: {error}"));
    let mut again = Vec::new();
    if let Err(error) = struct_to_json(&encoded, &mut again) {
        panic!("the re-encoding of {text:?} does not decode: {error}");
    }
    assert_eq!(
        String::from_utf8_lossy(&again),
        text,
        "decode -> encode -> decode changed the JSON"
    );

    // An independent decoder: prost's.
    if let Ok(message) = prost {
        let mut via_prost = Vec::new();
        if let Err(error) = struct_to_json(&message.encode_to_vec(), &mut via_prost) {
            panic!("prost's re-encoding of accepted bytes does not decode: {error}");
        }
        assert_eq!(
            String::from_utf8_lossy(&via_prost),
            text,
            "prost reads the bytes differently"
        );
    }

    // The event read from the bytes and the event read from their JSON text.
    match (event, AuditEvent::from_json(text)) {
        (Ok(from_bytes), Ok(from_text)) => {
            assert_eq!(from_bytes.as_json(), text);
            assert_eq!(
                common_fields(&from_bytes),
                common_fields(&from_text),
                "the two paths read the common fields differently"
            );
            let bytes = from_bytes.to_struct_bytes();
            match AuditEvent::from_struct_bytes(&bytes) {
                Ok(back) => assert_eq!(back.as_json(), text, "event round trip"),
                Err(error) => panic!("an event's own Struct bytes are refused: {error}"),
            }
        }
        (Err(a), Err(b)) => {
            let _ = (a.to_string(), b.to_string(), format!("{a:?}"));
        }
        (a, b) => panic!("from_struct_bytes: {a:?}, but from_json of its text: {b:?}\n{text}"),
    }
    true
}

/// Every common field an event parses up front, as text.
fn common_fields(event: &AuditEvent) -> String {
    format!(
        "{:?}",
        (
            (event.event_type(), event.code(), event.time(), event.uid()),
            (
                event.index(),
                event.cluster_name(),
                event.user(),
                event.login()
            ),
            (event.impersonator(), event.user_kind(), event.roles()),
            (
                event.session_id(),
                event.server_id(),
                event.server_hostname()
            ),
            (event.server_addr(), event.namespace(), event.addr_local()),
            (event.addr_remote(), event.protocol(), event.success()),
            (event.error(), event.message(), event.is_known()),
        )
    )
}
