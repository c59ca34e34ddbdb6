//! Helpers shared by the integration tests: fixture loading and independent reference code
//! (prost's protobuf types, serde_json's writer) to check our wire code against.
#![allow(dead_code)]

use prost_types::value::Kind;
use serde_json::{Map, Value};
use teleport_audit_types::AuditEvent;

/// The lines of a fixture file in `tests/data`.
pub(crate) fn fixture_lines(name: &str) -> Vec<String> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every fixture line: the seed's samples, then our realistic events.
pub(crate) fn all_fixture_lines() -> Vec<String> {
    let mut lines = fixture_lines("sample-events.ndjson");
    lines.extend(fixture_lines("events.ndjson"));
    lines
}

pub(crate) fn parse(line: &str) -> AuditEvent {
    AuditEvent::from_json(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

pub(crate) fn events() -> Vec<AuditEvent> {
    fixture_lines("events.ndjson")
        .iter()
        .map(|l| parse(l))
        .collect()
}

/// The fixture event with `code` that satisfies `pred` (exactly one must).
pub(crate) fn find(
    events: &[AuditEvent],
    code: &str,
    pred: impl Fn(&AuditEvent) -> bool,
) -> AuditEvent {
    let found: Vec<_> = events
        .iter()
        .filter(|e| e.code() == Some(code) && pred(e))
        .collect();
    assert_eq!(found.len(), 1, "fixtures with code {code}: {}", found.len());
    found[0].clone()
}

/// `value` with every object's keys sorted (what Go's encoding/json writes).
pub(crate) fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// `value` with every number replaced by its f64 (a Struct keeps only doubles).
pub(crate) fn as_doubles(value: &Value) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), as_doubles(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(as_doubles).collect()),
        other => other.clone(),
    }
}

/// Whether every object in `value` has its keys in byte order (`serde_json` is built with
/// `preserve_order` here, so a parsed map keeps the order of the text).
pub(crate) fn keys_sorted_everywhere(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            let keys: Vec<_> = map.keys().collect();
            keys.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes())
                && map.values().all(keys_sorted_everywhere)
        }
        Value::Array(items) => items.iter().all(keys_sorted_everywhere),
        _ => true,
    }
}

/// The top-level keys of a JSON object text, in text order.
pub(crate) fn key_order(text: &str) -> Vec<String> {
    let map: Map<String, Value> = serde_json::from_str(text).unwrap_or_default();
    map.keys().cloned().collect()
}

// ---- prost_types::Struct <-> serde_json::Value, written independently of the crate ----

pub(crate) fn value_to_prost(value: &Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(value_to_prost).collect(),
        }),
        Value::Object(map) => Kind::StructValue(object_to_prost(map)),
    };
    prost_types::Value { kind: Some(kind) }
}

pub(crate) fn object_to_prost(map: &Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), value_to_prost(v)))
            .collect(),
    }
}

pub(crate) fn prost_to_value(value: &prost_types::Value) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
        }
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.iter().map(prost_to_value).collect())
        }
        Some(Kind::StructValue(s)) => Value::Object(prost_to_object(s)),
    }
}

pub(crate) fn prost_to_object(s: &prost_types::Struct) -> Map<String, Value> {
    s.fields
        .iter()
        .map(|(k, v)| (k.clone(), prost_to_value(v)))
        .collect()
}
