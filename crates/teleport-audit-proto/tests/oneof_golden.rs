//! `legacy_events::oneof_to_struct` against Teleport's own Go code: `tests/data/oneof_golden.ndjson`
//! was written by `golden/main.go` with Teleport 14.2.3's api module (`OneOf.Unmarshal`,
//! `events.FromOneOf`, `events.ToUnstructured`, then protojson of the Struct), and
//! `oneof_golden_13.ndjson` by the same program with 13.3.8's (`go13.mod`). Every variant of
//! `events.OneOf`, empty and with every field set, plus hand-written byte strings.
//!
//! We write what a 14.2.3 Go client writes. On what a 13.3.8 server sends, a 13.3.8 client
//! differs from it only in the fields 14.2.3 added without `omitempty` (`ZERO_IN_14`), which
//! 14.2.3 writes as zero values.

use base64::Engine as _;
use prost::Message as _;
use serde_json::Value;
use teleport_audit_proto::legacy_events::{Malformed, OneOfError, oneof_to_struct};

const GOLDEN_14: &str = include_str!("data/oneof_golden.ndjson");
const GOLDEN_13: &str = include_str!("data/oneof_golden_13.ndjson");

/// Fields 14.2.3 added to 13.3.8's events without `omitempty`: (variant, key, zero value).
const ZERO_IN_14: &[(&str, &str, &str)] = &[
    ("KubeRequest", "sid", "\"\""),
    ("WindowsDesktopSessionStart", "allow_user_creation", "false"),
    ("InstanceJoin", "token_expires", "\"0001-01-01T00:00:00Z\""),
];

/// A decoded `google.protobuf.Struct` as JSON, every number a double.
fn struct_json(bytes: &[u8]) -> Value {
    fn value(v: prost_types::Value) -> Value {
        use prost_types::value::Kind;
        match v.kind {
            None | Some(Kind::NullValue(_)) => Value::Null,
            Some(Kind::NumberValue(n)) => number(n),
            Some(Kind::StringValue(s)) => Value::String(s),
            Some(Kind::BoolValue(b)) => Value::Bool(b),
            Some(Kind::StructValue(s)) => object(s),
            Some(Kind::ListValue(l)) => Value::Array(l.values.into_iter().map(value).collect()),
        }
    }
    fn object(s: prost_types::Struct) -> Value {
        Value::Object(s.fields.into_iter().map(|(k, v)| (k, value(v))).collect())
    }
    object(prost_types::Struct::decode(bytes).expect("oneof_to_struct writes a valid Struct"))
}

fn number(n: f64) -> Value {
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

/// Go's protojson text, with every number read as a double (as structpb holds it).
fn normalize(v: Value) -> Value {
    match v {
        Value::Number(n) => number(n.as_f64().expect("a number")),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

#[test]
fn every_golden_event_matches_go_14() {
    assert_eq!(check(GOLDEN_14, false), 423);
}

#[test]
fn every_golden_event_matches_go_13_but_for_fields_14_added() {
    assert_eq!(check(GOLDEN_13, true), 387);
}

/// Compares every case of a golden file with ours; returns how many there were.
fn check(golden: &str, is_13: bool) -> usize {
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in golden.lines() {
        let case: Value = serde_json::from_str(line).expect("a golden line");
        let name = case["name"].as_str().expect("a name");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(case["oneof_b64"].as_str().expect("bytes"))
            .expect("base64");
        let ours = oneof_to_struct(&bytes);
        match (&case.get("json"), ours) {
            (Some(expected), Ok(struct_bytes)) => {
                let mut expected = normalize((*expected).clone());
                let variant = name.split('/').next().unwrap_or_default();
                for (_, key, zero) in ZERO_IN_14.iter().filter(|z| is_13 && z.0 == variant) {
                    if let Some(object) = expected.as_object_mut() {
                        object
                            .entry(*key)
                            .or_insert_with(|| serde_json::from_str(zero).unwrap());
                    }
                }
                let got = struct_json(&struct_bytes);
                if got != expected {
                    failures.push(format!("{name}:\n  go:   {expected}\n  ours: {got}"));
                }
            }
            (Some(_), Err(error)) => {
                failures.push(format!("{name}: Go converts it, we fail: {error}"))
            }
            (None, Ok(_)) => failures.push(format!(
                "{name}: Go fails ({}), we convert it",
                case["error"]
            )),
            (None, Err(error)) => {
                let expected = match name {
                    "unknown-variant" => OneOfError::UnknownVariant(999),
                    "empty-oneof" => OneOfError::Empty,
                    "wrong-wire-type" => OneOfError::Malformed(Malformed::FieldWireType),
                    "truncated" => OneOfError::Malformed(Malformed::Truncated),
                    "time/out-of-range" | "time/bad-nanos" => {
                        OneOfError::Malformed(Malformed::Timestamp)
                    }
                    other => panic!("{other}: no expected error written in this test"),
                };
                if error != expected {
                    failures.push(format!("{name}: expected {expected:?}, got {error:?}"));
                }
            }
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ from Go:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}
