//! Property tests: arbitrary JSON objects round-trip through `AuditEvent` and through the
//! Struct wire format; arbitrary bytes never make the decoder panic.

mod common;

use common::*;
use proptest::prelude::*;
use prost::Message;
use serde_json::{Map, Value};
use teleport_audit_types::AuditEvent;
use teleport_audit_types::wire::{json_to_struct, struct_to_json};

/// Keys: short ASCII, the common field names, and arbitrary unicode.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_.]{1,12}",
        Just("user".to_owned()),
        Just("ei".to_owned()),
        Just("code".to_owned()),
        Just("success".to_owned()),
        Just("addr.remote".to_owned()),
        Just("event".to_owned()),
        Just("time".to_owned()),
        Just("user_kind".to_owned()),
        Just("sid".to_owned()),
        Just("message".to_owned()),
        any::<String>(),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (-1_000_000i64..1_000_000).prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        any::<String>().prop_map(Value::String),
        "[ -~]{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json_value()), 0..10)
        .prop_map(|entries| entries.into_iter().collect())
}

/// An RFC 3339 timestamp with 0 to 9 fractional digits and a `Z` or numeric offset.
fn timestamp() -> impl Strategy<Value = String> {
    (
        1u32..9999,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        prop::option::of((1usize..=9, 0u32..1_000_000_000)),
        prop::option::of((any::<bool>(), 0u32..24, 0u32..60)),
    )
        .prop_map(|(y, mo, d, h, mi, s, frac, offset)| {
            let mut text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
            if let Some((digits, nanos)) = frac {
                let all = format!("{nanos:09}");
                text.push('.');
                text.push_str(&all[..digits]);
            }
            match offset {
                None => text.push('Z'),
                Some((negative, oh, om)) => text.push_str(&format!(
                    "{}{oh:02}:{om:02}",
                    if negative { '-' } else { '+' }
                )),
            }
            text
        })
}

/// An event: an arbitrary object with a string `event` and a valid `time` somewhere in it.
fn event_object() -> impl Strategy<Value = Map<String, Value>> {
    (
        json_object(),
        "[a-z.]{1,20}",
        timestamp(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(object, event_type, time, position)| {
            let mut entries: Vec<(String, Value)> = object
                .into_iter()
                .filter(|(k, _)| k != "event" && k != "time")
                .collect();
            let at = position.index(entries.len() + 1);
            entries.insert(at, ("event".to_owned(), Value::String(event_type)));
            let at = position.index(entries.len() + 1);
            entries.insert(at, ("time".to_owned(), Value::String(time)));
            entries.into_iter().collect()
        })
}

/// Every common field of an event, as text (for comparing two events' headers).
fn common_fields(event: &AuditEvent) -> Vec<String> {
    vec![
        format!(
            "{:?}",
            (event.event_type(), event.code(), event.time(), event.uid())
        ),
        format!(
            "{:?}",
            (
                event.index(),
                event.cluster_name(),
                event.user(),
                event.login()
            )
        ),
        format!(
            "{:?}",
            (event.impersonator(), event.user_kind(), event.session_id())
        ),
        format!(
            "{:?}",
            (
                event.server_id(),
                event.server_hostname(),
                event.server_addr()
            )
        ),
        format!(
            "{:?}",
            (event.namespace(), event.addr_local(), event.addr_remote())
        ),
        format!(
            "{:?}",
            (
                event.protocol(),
                event.success(),
                event.error(),
                event.message()
            )
        ),
    ]
}

/// An object that may or may not be a valid event: a valid one, an arbitrary object, or a valid
/// one with `event` or `time` replaced by an arbitrary value.
fn maybe_event_object() -> impl Strategy<Value = Map<String, Value>> {
    prop_oneof![
        event_object(),
        json_object(),
        (
            event_object(),
            prop_oneof![Just("event"), Just("time")],
            json_value()
        )
            .prop_map(|(mut object, key, value)| {
                object.insert(key.to_owned(), value);
                object
            }),
    ]
}

/// Whether two values are equal once every number is compared as a double (the Struct rule).
fn equal_as_doubles(a: &Value, b: &Value) -> bool {
    as_doubles(a) == as_doubles(b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn events_round_trip_through_serde(object in event_object()) {
        let original = Value::Object(object.clone());
        let event = AuditEvent::from_fields(object).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Exact text kept.
        let text = original.to_string();
        prop_assert_eq!(event.as_json(), text.as_str());
        // Serialising gives back the same object, in the same order.
        let written = serde_json::to_string(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let reread: Value = serde_json::from_str(&written).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&reread, &original);
        prop_assert_eq!(key_order(&written), key_order(&text));
        // Reading the text again gives an equal event.
        let again = AuditEvent::from_json(&written).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again, &event);
        prop_assert_eq!(again.time(), event.time());
        prop_assert_eq!(again.user(), original.get("user").and_then(Value::as_str));
        prop_assert_eq!(Some(event.fields()), original.as_object());
    }

    #[test]
    fn objects_round_trip_through_the_wire(object in json_object()) {
        let original = Value::Object(object);
        let encoded = json_to_struct(&original.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut json = Vec::new();
        struct_to_json(&encoded, &mut json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let decoded: Value = serde_json::from_slice(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(equal_as_doubles(&decoded, &original), "{} vs {}", decoded, original);
        prop_assert!(keys_sorted_everywhere(&decoded));
        // prost agrees with our encoding.
        let prost_struct = prost_types::Struct::decode(encoded.as_slice())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(equal_as_doubles(&Value::Object(prost_to_object(&prost_struct)), &original));
        // And our decoder reads prost's encoding (entries in another order) to the same text.
        let mut from_prost = Vec::new();
        struct_to_json(&prost_struct.encode_to_vec(), &mut from_prost)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(from_prost, json);
    }

    #[test]
    fn struct_bytes_and_json_text_give_the_same_event(object in maybe_event_object()) {
        let encoded = json_to_struct(&Value::Object(object).to_string())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut json = Vec::new();
        struct_to_json(&encoded, &mut json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = String::from_utf8(json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match (AuditEvent::from_json(&text), AuditEvent::from_struct_bytes(&encoded)) {
            (Ok(from_text), Ok(from_wire)) => {
                prop_assert_eq!(from_wire.as_json(), text.as_str());
                prop_assert_eq!(common_fields(&from_wire), common_fields(&from_text));
                prop_assert_eq!(&from_wire, &from_text);
            }
            (Err(from_text), Err(from_wire)) => {
                prop_assert_eq!(from_wire.code(), from_text.code(), "{} / {}", from_wire, from_text);
                prop_assert_eq!(from_wire.field(), from_text.field());
            }
            (from_text, from_wire) => {
                prop_assert!(false, "text: {:?}, wire: {:?}", from_text.err(), from_wire.err());
            }
        }
    }

    #[test]
    fn numbers_follow_go_and_read_back_exactly(number in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let encoded = json_to_struct(&serde_json::json!({ "n": number }).to_string())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut json = Vec::new();
        struct_to_json(&encoded, &mut json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = String::from_utf8(json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let written = text.trim_start_matches("{\"n\":").trim_end_matches('}');
        prop_assert_eq!(written.parse::<f64>().ok(), Some(number), "{}", written);
        prop_assert!(!written.ends_with(".0") && !written.contains('E'), "{}", written);
        let magnitude = number.abs();
        let exponent_form = magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude);
        prop_assert_eq!(written.contains('e'), exponent_form, "{}", written);
        if exponent_form {
            // Go: one leading digit, a sign, no zero-padded negative exponents.
            let (mantissa, exp) = written.split_once('e').unwrap_or_default();
            prop_assert!(exp.starts_with('+') || exp.starts_with('-'), "{}", written);
            prop_assert!(!exp[1..].starts_with('0'), "{}", written);
            prop_assert_eq!(mantissa.trim_start_matches('-').find('.').unwrap_or(1), 1);
        }
        if number.fract() == 0.0 && magnitude < 9_007_199_254_740_992.0 {
            #[allow(clippy::cast_possible_truncation)]
            let integer = (number as i64).to_string();
            let expected = if number == 0.0 && number.is_sign_negative() { "-0".to_owned() } else { integer };
            prop_assert_eq!(written, expected.as_str());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut out = Vec::new();
        if struct_to_json(&bytes, &mut out).is_ok() {
            prop_assert!(serde_json::from_slice::<Value>(&out).is_ok(), "{:?}", String::from_utf8_lossy(&out));
        } else {
            prop_assert!(out.is_empty());
        }
        let _ = AuditEvent::from_struct_bytes(&bytes);
        let _ = AuditEvent::from_slice(&bytes);
    }

    #[test]
    fn damaged_encodings_never_panic(
        object in json_object(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in any::<prop::sample::Index>(),
    ) {
        let mut encoded = json_to_struct(&Value::Object(object).to_string())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        if encoded.is_empty() {
            return Ok(());
        }
        for (at, byte) in cuts {
            let i = at.index(encoded.len());
            encoded[i] = byte;
        }
        let keep = truncate.index(encoded.len() + 1);
        encoded.truncate(keep);
        let mut out = Vec::new();
        match struct_to_json(&encoded, &mut out) {
            Ok(()) => prop_assert!(serde_json::from_slice::<Value>(&out).is_ok()),
            Err(error) => {
                prop_assert!(out.is_empty());
                prop_assert!(error.offset().is_some_and(|o| o <= encoded.len()), "{error}");
                prop_assert!(error.path().is_some_and(|p| p.starts_with('.')), "{error}");
            }
        }
    }
}
