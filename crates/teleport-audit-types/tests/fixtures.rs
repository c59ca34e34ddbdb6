//! Every fixture (the seed's samples and our realistic events) parses, round-trips exactly, and
//! survives the trip through an encoded `google.protobuf.Struct`.

mod common;

use common::*;
use prost::Message;
use serde_json::Value;
use teleport_audit_types::AuditEvent;
use teleport_audit_types::wire::{json_to_struct, struct_to_json};

#[test]
fn there_are_enough_fixtures() {
    assert_eq!(fixture_lines("sample-events.ndjson").len(), 7);
    assert!(fixture_lines("events.ndjson").len() >= 40);
}

#[test]
fn every_fixture_keeps_its_exact_text() {
    for line in all_fixture_lines() {
        let event = parse(&line);
        assert_eq!(event.as_json(), line);
        assert_eq!(event.to_string(), line);
        let again = parse(event.as_json());
        assert_eq!(again, event);
    }
}

#[test]
fn serde_gives_back_the_same_object_in_the_same_order() {
    for line in all_fixture_lines() {
        let event = parse(&line);
        let original: Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(
            serde_json::to_value(&event).ok(),
            Some(original.clone()),
            "{line}"
        );
        let written = serde_json::to_string(&event).unwrap_or_default();
        assert_eq!(key_order(&written), key_order(&line), "{line}");
        // Compact fixtures with plain numbers are written back byte for byte.
        assert_eq!(written, line);
        // And serde reads it back (through any map) into an equal event.
        let read: AuditEvent = serde_json::from_str(&written).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, event);
        assert_eq!(read.as_json(), line);
    }
}

#[test]
fn the_seed_sample_record_round_trips_exactly() {
    // The "Sample Record" of the Teleport Audit Logs input, as a single line.
    let sample = r#"{"cluster_name":"test.teleport-test.sh","code":"T543I","ei":0,"event":"account.settings.updated","expires":"0001-01-01T00:00:00Z","name":"admin","time":"2025-12-02T07:14:36Z","uid":"f1d66612-8f98-df5c-a9a0-724daf43a08e","user":"system"}"#;
    assert_eq!(fixture_lines("sample-events.ndjson")[0], sample);
    let event = parse(sample);
    assert_eq!(serde_json::to_string(&event).ok().as_deref(), Some(sample));
    // Through the wire too: the sample's keys are already sorted, so the text is identical.
    let mut json = Vec::new();
    assert!(struct_to_json(&event.to_struct_bytes(), &mut json).is_ok());
    assert_eq!(String::from_utf8(json).ok().as_deref(), Some(sample));
    let from_wire = AuditEvent::from_struct_bytes(&event.to_struct_bytes());
    assert_eq!(
        from_wire.ok().as_ref().map(AuditEvent::as_json),
        Some(sample)
    );
}

#[test]
fn struct_round_trip_gives_the_same_object_with_sorted_keys() {
    for line in all_fixture_lines() {
        let event = parse(&line);
        let original: Value = serde_json::from_str(&line).unwrap_or_default();
        let encoded = json_to_struct(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(encoded, event.to_struct_bytes(), "both encoders agree");

        let from_wire = AuditEvent::from_struct_bytes(&encoded).unwrap_or_else(|e| panic!("{e}"));
        let wire_value: Value = serde_json::from_str(from_wire.as_json()).unwrap_or_default();
        assert_eq!(wire_value, original, "{line}");
        assert!(
            keys_sorted_everywhere(&wire_value),
            "{}",
            from_wire.as_json()
        );
        // The text is exactly what serde_json writes for the key-sorted object: the fixtures'
        // numbers are integers, which Go (and we) write the same way serde_json does.
        assert_eq!(from_wire.as_json(), sorted(&original).to_string());
        assert_eq!(from_wire.time(), event.time());
        assert_eq!(from_wire.index(), event.index());
    }
}

#[test]
fn our_encoding_decodes_with_prost() {
    for line in all_fixture_lines() {
        let original: Value = serde_json::from_str(&line).unwrap_or_default();
        let encoded = json_to_struct(&line).unwrap_or_default();
        let decoded = prost_types::Struct::decode(encoded.as_slice())
            .unwrap_or_else(|e| panic!("prost rejects our encoding of {line}: {e}"));
        assert_eq!(
            Value::Object(prost_to_object(&decoded)),
            as_doubles(&original)
        );
    }
}

#[test]
fn prost_encoding_transcodes_to_the_same_object() {
    for line in all_fixture_lines() {
        let original: Value = serde_json::from_str(&line).unwrap_or_default();
        let Value::Object(map) = &original else {
            panic!("fixture is not an object: {line}");
        };
        // prost writes map entries in its own (hash) order: the output must not depend on it.
        let encoded = object_to_prost(map).encode_to_vec();
        let mut json = Vec::new();
        struct_to_json(&encoded, &mut json).unwrap_or_else(|e| panic!("{line}: {e}"));
        let text = String::from_utf8(json).unwrap_or_default();
        assert_eq!(text, sorted(&original).to_string());
    }
}

#[test]
fn integral_numbers_come_back_as_integers() {
    let events = events();
    let data = find(&events, "T2006I", |_| true);
    let from_wire = AuditEvent::from_struct_bytes(&data.to_struct_bytes()).ok();
    let text = from_wire
        .as_ref()
        .map(AuditEvent::as_json)
        .unwrap_or_default();
    assert!(text.contains(r#""ei":2147483646"#), "{text}");
    assert!(text.contains(r#""rx":183492"#), "{text}");
    assert!(text.contains(r#""tx":40211,"#), "{text}");

    let kube = find(&events, "T3009I", |e| {
        e.get_i64("response_code") == Some(403)
    });
    let from_wire = AuditEvent::from_struct_bytes(&kube.to_struct_bytes()).ok();
    let text = from_wire
        .as_ref()
        .map(AuditEvent::as_json)
        .unwrap_or_default();
    assert!(text.contains(r#""response_code":403"#), "{text}");
    assert!(text.contains(r#""ei":0"#), "{text}");
}
