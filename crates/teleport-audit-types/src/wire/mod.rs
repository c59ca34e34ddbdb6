//! `google.protobuf.Struct` on the wire, to and from JSON text.
//!
//! Teleport's `GetUnstructuredEvents` answer carries each event as a `google.protobuf.Struct`
//! (`map<string, Value> fields = 1`; `Value` is a oneof of `null_value = 1`, `number_value = 2`
//! (double), `string_value = 3`, `bool_value = 4`, `struct_value = 5`, `list_value = 6`;
//! `ListValue` is `repeated Value values = 1`). [`struct_to_json`] reads those bytes directly and
//! writes compact JSON text in a single pass, without building a tree of values in between.
//!
//! # The JSON written
//!
//! - **Object keys are sorted** by their UTF-8 bytes, as Go's `encoding/json` sorts map keys.
//!   A Go server sends map entries in random order, so their order on the wire means nothing.
//!   When a key appears twice, the last entry wins (protobuf map semantics).
//! - **Numbers.** A Struct stores every number as an IEEE-754 double. Each is written exactly as
//!   Go's `encoding/json` writes a `float64`: the shortest digits that read back as the same
//!   double; no exponent when the magnitude is zero or within `[1e-6, 1e21)`, and never a
//!   trailing `.0`, so integral values look like integers (`"ei":0`, `"response_code":200`,
//!   `"cgroup_id":4294968064`); outside that range, an exponent without leading zeros
//!   (`1e+21`, `1.5e-7`). Integers above 2^53 have already lost precision on the wire
//!   (`2^60` arrives as `1152921504606846976.0` and is written `1152921504606847000`, as Go
//!   does). `NaN` and infinities have no JSON form and are an error naming the field.
//! - **Strings** are escaped as JSON requires (`"`, `\`, control characters) and nothing more.
//!   Invalid UTF-8 in a key or string is an error naming the field.
//! - A `Value` with no kind set is written as `null` (what Go's `structpb` does with it).
//!
//! # Robustness
//!
//! Unknown fields are skipped according to their wire type (groups included). Truncated input,
//! malformed varints, invalid keys and known fields with the wrong wire type are errors carrying
//! the byte offset and the JSON path of the value being decoded (for example
//! `.user_roles[2]`). Objects and lists may nest at most 100 levels deep. Repeated occurrences of
//! a message field are merged as protobuf specifies.
//!
//! ```
//! use teleport_audit_types::wire::{json_to_struct, struct_to_json};
//!
//! let encoded = json_to_struct(r#"{"user":"alice","ei":0,"success":true}"#)?;
//! let mut json = Vec::new();
//! struct_to_json(&encoded, &mut json)?;
//! assert_eq!(json, br#"{"ei":0,"success":true,"user":"alice"}"#);
//! # Ok::<(), teleport_audit_types::WireError>(())
//! ```

mod decode;
mod encode;
mod json_text;
mod key_order;
mod number;

use decode::{Decoder, NoSink, Scratch};
pub(crate) use decode::{TopLevelSink, WrittenValue};
pub(crate) use encode::encode_struct;

use crate::error::EventError;
pub use crate::error::{WireError, WireType};

/// Deepest nesting of objects and lists [`struct_to_json`] accepts (the top level counts as 1).
pub const MAX_DEPTH: usize = decode::MAX_DEPTH;

/// Appends the JSON object text of an encoded `google.protobuf.Struct` to `out`.
///
/// See the [module documentation](self) for the exact form of the output (sorted keys, Go's
/// number format).
///
/// # Errors
///
/// A [`WireError`] naming the byte offset and JSON path when the bytes are not a valid Struct:
/// truncated input, a malformed varint or key, a known field with the wrong wire type, invalid
/// UTF-8 in a key or string, a NaN or infinite number, or nesting deeper than [`MAX_DEPTH`].
/// On error `out` is left as it was.
pub fn struct_to_json(encoded_struct: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    let mark = out.len();
    let result = Scratch::with(|scratch| {
        Decoder::new(encoded_struct, scratch, &mut NoSink).write_top_level(out)
    });
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// Like [`struct_to_json`], telling `sink` about each top-level field as it is written, and
/// returning the JSON text in an allocation of exactly its size: the text is written first into
/// this thread's reused buffer, checked as UTF-8 there, then copied once (instead of growing,
/// then shrinking, a fresh buffer, and checking the copy).
///
/// The decoder validates every string it copies, so the check cannot fail; it is kept rather
/// than trusted (the text becomes a `str`), with SIMD instructions where the CPU has them.
pub(crate) fn struct_to_json_exact(
    encoded_struct: &[u8],
    sink: &mut impl TopLevelSink,
) -> Result<Box<str>, EventError> {
    Scratch::with(|scratch| {
        let mut out = std::mem::take(&mut scratch.text);
        let result = Decoder::new(encoded_struct, scratch, sink).write_top_level(&mut out);
        let text = result
            .map_err(EventError::from)
            .and_then(|()| exact_text(&out));
        scratch.text = out;
        text
    })
}

/// `out` as a `str` of exactly its size.
fn exact_text(out: &[u8]) -> Result<Box<str>, EventError> {
    if let Ok(text) = simdutf8::basic::from_utf8(out) {
        return Ok(Box::from(text));
    }
    // Only std's error says where.
    match std::str::from_utf8(out) {
        Ok(text) => Ok(Box::from(text)),
        Err(source) => Err(EventError::InvalidUtf8 {
            offset: source.valid_up_to(),
            source,
        }),
    }
}

/// Encodes a JSON object as a `google.protobuf.Struct` (what a Teleport server puts on the wire).
///
/// Every JSON number becomes a double: integers above 2^53 lose precision, as they do on
/// Teleport's wire. Entries are encoded in the object's order.
///
/// # Errors
///
/// [`WireError::InvalidJson`] when the text is not JSON, [`WireError::NotAnObject`] when it is
/// JSON but not an object.
pub fn json_to_struct(object_json: &str) -> Result<Vec<u8>, WireError> {
    let value: serde_json::Value =
        serde_json::from_str(object_json).map_err(|source| WireError::InvalidJson {
            line: source.line(),
            column: source.column(),
            source,
        })?;
    match value {
        serde_json::Value::Object(object) => Ok(encode_struct(&object)),
        other => Err(WireError::NotAnObject {
            found: crate::error::json_type_name(&other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_json(bytes: &[u8]) -> Result<String, WireError> {
        let mut out = Vec::new();
        struct_to_json(bytes, &mut out)?;
        Ok(String::from_utf8(out).unwrap_or_default())
    }

    /// Builds an encoded Struct entry by hand: key `key`, value message bytes `value`.
    fn entry(key: &str, value: &[u8]) -> Vec<u8> {
        let mut inner = vec![0x0a, u8::try_from(key.len()).unwrap_or(0)];
        inner.extend_from_slice(key.as_bytes());
        inner.push(0x12);
        inner.push(u8::try_from(value.len()).unwrap_or(0));
        inner.extend_from_slice(value);
        let mut out = vec![0x0a, u8::try_from(inner.len()).unwrap_or(0)];
        out.extend(inner);
        out
    }

    fn string_value(text: &[u8]) -> Vec<u8> {
        let mut out = vec![0x1a, u8::try_from(text.len()).unwrap_or(0)];
        out.extend_from_slice(text);
        out
    }

    #[test]
    fn empty_input_is_an_empty_object() {
        assert_eq!(to_json(&[]).ok().as_deref(), Some("{}"));
    }

    #[test]
    fn keys_are_sorted_and_the_last_duplicate_wins() {
        let mut bytes = entry("zeta", &string_value(b"1"));
        bytes.extend(entry("alpha", &string_value(b"2")));
        bytes.extend(entry("zeta", &string_value(b"3")));
        assert_eq!(
            to_json(&bytes).ok().as_deref(),
            Some(r#"{"alpha":"2","zeta":"3"}"#)
        );
    }

    #[test]
    fn value_without_kind_and_missing_value_are_null() {
        let mut bytes = entry("a", &[]);
        // An entry with a key but no value field at all.
        bytes.extend([0x0a, 0x03, 0x0a, 0x01, b'b']);
        assert_eq!(
            to_json(&bytes).ok().as_deref(),
            Some(r#"{"a":null,"b":null}"#)
        );
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped() {
        let mut bytes = vec![
            0x10, 0x96, 0x01, // field 2 varint
            0x1b, 0x08, 0x01, 0x1c, // field 3 group holding field 1 varint, then end group
            0x25, 1, 2, 3, 4, // field 4 fixed32
        ];
        let mut value = string_value(b"x");
        value.extend([0x38, 0x05]); // Value field 7 (unknown) varint
        bytes.extend(entry("k", &value));
        assert_eq!(to_json(&bytes).ok().as_deref(), Some(r#"{"k":"x"}"#));
    }

    #[test]
    fn the_last_kind_of_a_value_wins() {
        let mut value = string_value(b"first");
        value.extend([0x20, 0x01]); // bool_value true
        assert_eq!(
            to_json(&entry("k", &value)).ok().as_deref(),
            Some(r#"{"k":true}"#)
        );
    }

    #[test]
    fn repeated_struct_values_are_merged() {
        let first = entry("a", &string_value(b"1"));
        let second = entry("b", &string_value(b"2"));
        let mut value = vec![0x2a, u8::try_from(first.len()).unwrap_or(0)];
        value.extend(&first);
        value.push(0x2a);
        value.push(u8::try_from(second.len()).unwrap_or(0));
        value.extend(&second);
        assert_eq!(
            to_json(&entry("o", &value)).ok().as_deref(),
            Some(r#"{"o":{"a":"1","b":"2"}}"#)
        );
    }

    #[test]
    fn truncation_reports_offset_and_path() {
        let mut bytes = entry("user", &string_value(b"alice"));
        bytes.truncate(bytes.len() - 2);
        let error = to_json(&bytes).err();
        assert!(
            matches!(&error, Some(WireError::Truncated { offset: 1, path, .. }) if path == "."),
            "{error:?}"
        );
    }

    #[test]
    fn invalid_utf8_names_the_field() {
        let list_item = string_value(&[b'o', 0xff]);
        let mut list = vec![0x0a, 0x02, 0x20, 0x01]; // [true, ...]
        list.push(0x0a);
        list.push(u8::try_from(list_item.len()).unwrap_or(0));
        list.extend(&list_item);
        let mut value = vec![0x32, u8::try_from(list.len()).unwrap_or(0)];
        value.extend(&list);
        let bytes = entry("user_roles", &value);
        match to_json(&bytes) {
            Err(WireError::InvalidUtf8 { path, what, offset }) => {
                assert_eq!(path, ".user_roles[1]");
                assert_eq!(what, "a string value");
                assert_eq!(bytes[offset], 0xff);
            }
            other => panic!("expected invalid UTF-8, got {other:?}"),
        }
    }

    #[test]
    fn non_finite_numbers_are_rejected() {
        let mut value = vec![0x11];
        value.extend(f64::NAN.to_le_bytes());
        let error = to_json(&entry("ei", &value)).err();
        assert!(
            matches!(&error, Some(WireError::NonFiniteNumber { path, .. }) if path == ".ei"),
            "{error:?}"
        );
    }

    #[test]
    fn wrong_wire_type_of_a_known_field_is_an_error() {
        // Value.string_value sent as a varint.
        let error = to_json(&entry("k", &[0x18, 0x01])).err();
        assert!(
            matches!(
                &error,
                Some(WireError::WrongWireType {
                    field: "google.protobuf.Value.string_value",
                    expected: WireType::LengthDelimited,
                    found: WireType::Varint,
                    ..
                })
            ),
            "{error:?}"
        );
    }

    #[test]
    fn bad_varints_and_keys_are_errors() {
        let eleven = [0x80u8; 11];
        assert!(matches!(
            to_json(&eleven),
            Err(WireError::BadVarint { offset: 0, .. })
        ));
        assert!(matches!(
            to_json(&[0x0f]),
            Err(WireError::InvalidKey { key: 0x0f, .. })
        ));
        assert!(matches!(
            to_json(&[0x02, 0x00]),
            Err(WireError::InvalidKey { .. })
        ));
        assert!(matches!(
            to_json(&[0x0c]),
            Err(WireError::UnbalancedGroup { .. })
        ));
        assert!(matches!(
            to_json(&[0x0b, 0x08]),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn nesting_is_limited() {
        fn nested(levels: usize) -> serde_json::Value {
            (0..levels).fold(serde_json::json!(1), |inner, _| serde_json::json!([inner]))
        }
        // The top-level object counts as one level, so 99 arrays inside it are fine.
        let ok = json_to_struct(&serde_json::json!({ "a": nested(99) }).to_string());
        assert!(ok.as_deref().map(to_json).is_ok_and(|r| r.is_ok()));
        let deep = json_to_struct(&serde_json::json!({ "a": nested(100) }).to_string());
        let error = deep.as_deref().map(to_json).ok().and_then(Result::err);
        assert!(
            matches!(&error, Some(WireError::TooDeep { limit: 100, path, .. }) if path.starts_with(".a[0][0]")),
            "{error:?}"
        );
    }

    #[test]
    fn output_is_appended_and_left_alone_on_error() {
        let mut out = b"prefix".to_vec();
        assert!(struct_to_json(&[0x0a, 0x05], &mut out).is_err());
        assert_eq!(out, b"prefix");
        let encoded = json_to_struct(r#"{"a":1}"#).unwrap_or_default();
        assert!(struct_to_json(&encoded, &mut out).is_ok());
        assert_eq!(out, br#"prefix{"a":1}"#);
    }

    #[test]
    fn json_to_struct_rejects_non_objects() {
        assert!(matches!(
            json_to_struct("[1]"),
            Err(WireError::NotAnObject { found: "an array" })
        ));
        assert!(matches!(
            json_to_struct("{"),
            Err(WireError::InvalidJson { .. })
        ));
    }
}
