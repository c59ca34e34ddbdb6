//! Bad input gives a clear error naming the field or position.

use teleport_audit_types::wire::json_to_struct;
use teleport_audit_types::{AuditEvent, EventError, WireError};

fn error(text: &str) -> EventError {
    match AuditEvent::from_json(text) {
        Ok(event) => panic!("accepted {text}: {event:?}"),
        Err(error) => error,
    }
}

#[test]
fn not_an_object() {
    for (text, found) in [
        ("[1,2]", "an array"),
        ("\"user.login\"", "a string"),
        ("42", "a number"),
        ("null", "null"),
        ("true", "a boolean"),
        ("", "nothing (empty input)"),
        ("   ", "nothing (empty input)"),
        ("<xml/>", "something that is not JSON"),
    ] {
        let err = error(text);
        assert!(
            matches!(&err, EventError::NotAnObject { found: f } if *f == found),
            "{text}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("event must be a JSON object, found {found}")
        );
        assert_eq!(err.code(), "not_an_object");
    }
}

#[test]
fn missing_or_mistyped_event() {
    let err = error(r#"{"time":"2024-01-01T00:00:00Z","user":"a"}"#);
    assert!(
        matches!(err, EventError::MissingField { field: "event" }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "event has no `event` field");
    assert_eq!(err.field(), Some("event"));

    let err = error(r#"{"event":5,"time":"2024-01-01T00:00:00Z"}"#);
    assert_eq!(
        err.to_string(),
        "event field `event` must be a string, found the number 5"
    );
    assert_eq!(err.field(), Some("event"));
    let err = error(r#"{"event":["a"],"time":"2024-01-01T00:00:00Z"}"#);
    assert_eq!(
        err.to_string(),
        "event field `event` must be a string, found an array"
    );
}

#[test]
fn missing_mistyped_or_malformed_time() {
    let err = error(r#"{"event":"user.login"}"#);
    assert!(
        matches!(err, EventError::MissingField { field: "time" }),
        "{err:?}"
    );

    let err = error(r#"{"event":"user.login","time":1714000000}"#);
    assert_eq!(
        err.to_string(),
        "event field `time` must be an RFC 3339 timestamp string, found the number 1714000000"
    );
    assert_eq!(err.code(), "wrong_type");
    let err = error(r#"{"event":"user.login","time":null}"#);
    assert!(err.to_string().ends_with("found null"), "{err}");

    let err = error(r#"{"event":"user.login","time":"yesterday at noon"}"#);
    assert_eq!(
        err.to_string(),
        "event field `time` is not an RFC 3339 timestamp: \"yesterday at noon\""
    );
    assert_eq!(err.field(), Some("time"));
    assert!(
        std::error::Error::source(&err).is_some(),
        "the parser's error is the source"
    );

    // A long bad value is cut in the message.
    let long = "x".repeat(500);
    let err = error(&format!(r#"{{"event":"user.login","time":"{long}"}}"#));
    let message = err.to_string();
    assert!(message.ends_with("...") && message.len() < 200, "{message}");
}

#[test]
fn invalid_utf8_reports_the_offset() {
    let mut bytes = br#"{"event":"user.login","time":"2024-01-01T00:00:00Z","user":"ab"#.to_vec();
    let offset = bytes.len();
    bytes.extend([0xc3, 0x28]); // an invalid two-byte sequence
    bytes.extend(br#""}"#);
    match AuditEvent::from_slice(&bytes) {
        Err(EventError::InvalidUtf8 { offset: at, .. }) => assert_eq!(at, offset),
        other => panic!("expected InvalidUtf8, got {other:?}"),
    }
    let err = AuditEvent::from_slice(&bytes).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            format!("event is not valid UTF-8: bad byte sequence at byte offset {offset}").as_str()
        )
    );
    // Valid bytes are accepted.
    assert!(AuditEvent::from_slice(br#"{"event":"x","time":"2024-01-01T00:00:00Z"}"#).is_ok());
}

#[test]
fn invalid_json_reports_line_and_column() {
    let err = error("{\"event\":\"x\",\n\"time\":\"2024-01-01T00:00:00Z\",\n\"user\": }");
    match &err {
        EventError::InvalidJson { line, column, .. } => assert_eq!((*line, *column), (3, 9)),
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "event is not valid JSON (line 3, column 9)"
    );

    let err = error(r#"{"event":"x","time":"2024-01-01T00:00:00Z"} trailing"#);
    assert!(matches!(err, EventError::InvalidJson { .. }), "{err:?}");
    let err = error(r#"{"event":"x","time":"2024-01-01T00:00:00Z","n":1e400}"#);
    assert!(
        matches!(err, EventError::InvalidJson { .. }),
        "numbers out of range: {err:?}"
    );
    let err = error(r#"{"event":"x","time":"2024-01-01T00:00:00Z","s":"\ud800"}"#);
    assert!(
        matches!(err, EventError::InvalidJson { .. }),
        "lone surrogate: {err:?}"
    );
}

#[test]
fn repeated_keys_are_rejected() {
    // Sorted input: the repeat is next to its twin.
    let err = error(r#"{"event":"x","time":"2024-01-01T00:00:00Z","user":"a","user":"b"}"#);
    assert_eq!(
        err.to_string(),
        "event has the field \"user\" more than once"
    );
    // Unsorted input: found by the second pass.
    let err = error(r#"{"user":"a","event":"x","time":"2024-01-01T00:00:00Z","user":"b"}"#);
    assert!(
        matches!(&err, EventError::DuplicateField { field } if field == "user"),
        "{err:?}"
    );
    let err = error(r#"{"zeta":1,"event":"x","time":"2024-01-01T00:00:00Z","zeta":2}"#);
    assert!(
        matches!(&err, EventError::DuplicateField { field } if field == "zeta"),
        "{err:?}"
    );
    // The same key in different nested objects is fine.
    assert!(
        AuditEvent::from_json(
            r#"{"a":{"k":1},"b":{"k":2},"event":"x","time":"2024-01-01T00:00:00Z"}"#
        )
        .is_ok()
    );
}

#[test]
fn wire_errors_are_wrapped_with_their_context() {
    let mut encoded =
        json_to_struct(r#"{"event":"x","time":"2024-01-01T00:00:00Z","user":"alice"}"#)
            .unwrap_or_default();
    encoded.truncate(encoded.len() - 3);
    let err = AuditEvent::from_struct_bytes(&encoded).err();
    match &err {
        Some(EventError::Wire(WireError::Truncated { path, .. })) => assert_eq!(path, "."),
        other => panic!("expected a wrapped Truncated error, got {other:?}"),
    }
    let err = err.unwrap_or_else(|| panic!("no error"));
    assert_eq!(err.code(), "invalid_struct");
    assert_eq!(
        err.to_string(),
        "event payload is not a valid google.protobuf.Struct"
    );
    let source = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        source.starts_with("Struct is truncated at byte"),
        "{source}"
    );

    // A valid Struct that is not a valid event.
    let encoded = json_to_struct(r#"{"user":"alice"}"#).unwrap_or_default();
    let err = AuditEvent::from_struct_bytes(&encoded).err();
    assert!(
        matches!(err, Some(EventError::MissingField { field: "event" })),
        "{err:?}"
    );
}
