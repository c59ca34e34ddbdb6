//! The client's whole path for a legacy session event: `events.OneOf` bytes →
//! `legacy_events::oneof_to_struct` → `AuditEvent::from_struct_bytes` (the same call a search
//! event goes through), against what Teleport 14.2.3's Go client makes of the same bytes (the
//! golden file of teleport-audit-proto, written by its `golden/main.go`). Every event that Go
//! converts and that has a type and a time (every variant, with every field set) comes out as an
//! `AuditEvent` whose JSON is Go's.

use base64::Engine as _;
use serde_json::Value;
use teleport_audit_proto::legacy_events::oneof_to_struct;
use teleport_audit_types::AuditEvent;

const GOLDEN: &str =
    include_str!("../../crates/teleport-audit-proto/tests/data/oneof_golden.ndjson");

/// Every number as a double, as Go's Struct holds it.
fn doubles(v: Value) -> Value {
    match v {
        Value::Number(n) => {
            serde_json::Number::from_f64(n.as_f64().unwrap()).map_or(Value::Null, Value::Number)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(doubles).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, doubles(v))).collect()),
        other => other,
    }
}

#[test]
fn every_fully_set_golden_event_becomes_the_audit_event_go_makes() {
    let mut checked = 0;
    for line in GOLDEN.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap();
        if !name.contains("/full") {
            continue;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(case["oneof_b64"].as_str().unwrap())
            .unwrap();
        let encoded = oneof_to_struct(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let event = AuditEvent::from_struct_bytes(&encoded)
            .unwrap_or_else(|e| panic!("{name}: the client refuses it: {e}"));
        let ours: Value = serde_json::from_str(event.as_json()).unwrap();
        assert_eq!(doubles(ours), doubles(case["json"].clone()), "{name}");
        assert_eq!(
            Some(event.event_type()),
            case["json"]["event"].as_str(),
            "{name}"
        );
        checked += 1;
    }
    // 136 variants, twice.
    assert_eq!(checked, 272);
}
