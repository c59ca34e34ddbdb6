//! [`Json`]: the JSON value Go's `encoding/json` writes for an event, kept as a tree until it is
//! encoded as a `google.protobuf.Struct` (what `structpb.Struct.UnmarshalJSON` makes of it:
//! every number a double). Also the reverse: a `google.protobuf.Struct` field of an event read
//! the way Teleport's `events.Struct.MarshalJSON` reads it.

use std::collections::BTreeMap;

use super::MAX_DEPTH;
use super::error::{Malformed, OneOfError};
use super::wire::{Fields, Raw, Writer};

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

/// How many more JSON values (keys, list items, scalars) one event may make. Go's `json.Marshal`
/// writes a full object for every empty occurrence of a nested message, so a hostile server's
/// two bytes could otherwise become a few kilobytes of JSON each.
#[derive(Debug)]
pub(crate) struct Budget {
    left: usize,
}

impl Budget {
    /// The budget for an event of `len` bytes: one value per two bytes (no real event comes
    /// close: a value takes at least two bytes on the wire, most take many more), plus 4096.
    pub(crate) fn for_input(len: usize) -> Budget {
        Budget {
            left: len / 2 + 4096,
        }
    }

    /// Takes one value from the budget.
    pub(crate) fn spend(&mut self) -> Result<(), OneOfError> {
        self.left = self.left.checked_sub(1).ok_or(OneOfError::TooLarge)?;
        Ok(())
    }
}

/// A Go string as `encoding/json` writes it: each byte of an invalid UTF-8 sequence becomes
/// U+FFFD (Go decodes invalid UTF-8 one byte at a time).
pub(crate) fn go_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

// google.protobuf.Struct / Value / ListValue field numbers.
const STRUCT_FIELDS: u32 = 1;
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;
const VALUE_NULL: u32 = 1;
const VALUE_NUMBER: u32 = 2;
const VALUE_STRING: u32 = 3;
const VALUE_BOOL: u32 = 4;
const VALUE_STRUCT: u32 = 5;
const VALUE_LIST: u32 = 6;
const LIST_VALUES: u32 = 1;

/// Encodes an object as a `google.protobuf.Struct` (entries in key order).
pub(crate) fn encode_struct(object: &BTreeMap<String, Json>) -> Vec<u8> {
    let mut w = Writer::default();
    for (key, value) in object {
        let mut entry = Writer::default();
        entry.bytes_field(ENTRY_KEY, key.as_bytes());
        entry.bytes_field(ENTRY_VALUE, &encode_value(value));
        w.bytes_field(STRUCT_FIELDS, &entry.buf);
    }
    w.buf
}

/// Encodes one `google.protobuf.Value`.
fn encode_value(value: &Json) -> Vec<u8> {
    let mut w = Writer::default();
    match value {
        Json::Null => w.varint_field(VALUE_NULL, 0),
        Json::Bool(b) => w.varint_field(VALUE_BOOL, u64::from(*b)),
        Json::Number(n) => w.fixed64_field(VALUE_NUMBER, n.to_bits()),
        Json::String(s) => w.bytes_field(VALUE_STRING, s.as_bytes()),
        Json::Object(object) => w.bytes_field(VALUE_STRUCT, &encode_struct(object)),
        Json::List(items) => {
            let mut list = Writer::default();
            for item in items {
                list.bytes_field(LIST_VALUES, &encode_value(item));
            }
            w.bytes_field(VALUE_LIST, &list.buf);
        }
    }
    w.buf
}

fn len_of<'a>(raw: Raw<'a>) -> Result<&'a [u8], OneOfError> {
    match raw {
        Raw::Len(bytes) => Ok(bytes),
        _ => Err(OneOfError::Malformed(Malformed::FieldWireType)),
    }
}

/// Reads an event's `google.protobuf.Struct` field as Teleport's `events.Struct.MarshalJSON`
/// writes it (gogo's map decoding: the last entry of a key wins).
pub(crate) fn decode_struct(
    bytes: &[u8],
    depth: usize,
    budget: &mut Budget,
) -> Result<Json, OneOfError> {
    if depth > MAX_DEPTH {
        return Err(OneOfError::TooDeep);
    }
    let mut object = BTreeMap::new();
    let mut fields = Fields::new(bytes);
    while let Some((number, raw)) = fields.next_field()? {
        if number != STRUCT_FIELDS {
            continue;
        }
        let entry = len_of(raw)?;
        let mut key = &[][..];
        let mut value = None;
        let mut entry_fields = Fields::new(entry);
        while let Some((n, raw)) = entry_fields.next_field()? {
            match n {
                ENTRY_KEY => key = len_of(raw)?,
                ENTRY_VALUE => value = Some(len_of(raw)?),
                _ => {}
            }
        }
        // gogo leaves a missing map value a nil `*Value`, on which `decodeValue` fails.
        let value = value.ok_or(OneOfError::Unrepresentable(
            "a google.protobuf.Struct field without a value",
        ))?;
        budget.spend()?;
        object.insert(go_string(key), decode_value(value, depth + 1, budget)?);
    }
    Ok(Json::Object(object))
}

/// Reads one `google.protobuf.Value` (its `kind` oneof: the last one on the wire wins).
fn decode_value(bytes: &[u8], depth: usize, budget: &mut Budget) -> Result<Json, OneOfError> {
    if depth > MAX_DEPTH {
        return Err(OneOfError::TooDeep);
    }
    budget.spend()?;
    let mut kind = None;
    let mut fields = Fields::new(bytes);
    while let Some((number, raw)) = fields.next_field()? {
        let value = match (number, raw) {
            (VALUE_NULL, Raw::Varint(_)) => Json::Null,
            (VALUE_NUMBER, Raw::Fixed64(bits)) => Json::Number(f64::from_bits(bits)),
            (VALUE_STRING, Raw::Len(s)) => Json::String(go_string(s)),
            (VALUE_BOOL, Raw::Varint(b)) => Json::Bool(b != 0),
            (VALUE_STRUCT, Raw::Len(s)) => decode_struct(s, depth + 1, budget)?,
            (VALUE_LIST, Raw::Len(l)) => decode_list(l, depth + 1, budget)?,
            (VALUE_NULL..=VALUE_LIST, _) => {
                return Err(OneOfError::Malformed(Malformed::FieldWireType));
            }
            _ => continue,
        };
        kind = Some(value);
    }
    match kind {
        Some(Json::Number(n)) if !n.is_finite() => Err(OneOfError::Unrepresentable(
            "a number that is NaN or infinite",
        )),
        Some(value) => Ok(value),
        None => Err(OneOfError::Unrepresentable(
            "a google.protobuf.Value without a kind",
        )),
    }
}

fn decode_list(bytes: &[u8], depth: usize, budget: &mut Budget) -> Result<Json, OneOfError> {
    let mut items = Vec::new();
    let mut fields = Fields::new(bytes);
    while let Some((number, raw)) = fields.next_field()? {
        if number == LIST_VALUES {
            items.push(decode_value(len_of(raw)?, depth + 1, budget)?);
        }
    }
    Ok(Json::List(items))
}

/// Decodes a `google.protobuf.Struct` into JSON (for tests and the sim's round trips).
#[cfg(test)]
pub(crate) fn struct_to_serde(bytes: &[u8]) -> serde_json::Value {
    fn convert(value: Json) -> serde_json::Value {
        match value {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => b.into(),
            Json::Number(n) => serde_json::Number::from_f64(n)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Json::String(s) => s.into(),
            Json::List(items) => items.into_iter().map(convert).collect(),
            Json::Object(o) => o.into_iter().map(|(k, v)| (k, convert(v))).collect(),
        }
    }
    convert(decode_struct(bytes, 0, &mut Budget::for_input(bytes.len())).expect("a valid Struct"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_replaces_each_invalid_byte() {
        assert_eq!(go_string(b"ok"), "ok");
        // A truncated three-byte sequence: Go writes one U+FFFD per byte.
        assert_eq!(go_string(b"a\xe2\x82b"), "a\u{fffd}\u{fffd}b");
        assert_eq!(go_string(b"\xff"), "\u{fffd}");
    }

    #[test]
    fn struct_round_trips() {
        let mut inner = BTreeMap::new();
        inner.insert("n".to_string(), Json::Number(-0.5));
        let mut object = BTreeMap::new();
        object.insert("a".to_string(), Json::Null);
        object.insert("b".to_string(), Json::Bool(true));
        object.insert("c".to_string(), Json::String("é".to_string()));
        object.insert(
            "d".to_string(),
            Json::List(vec![Json::Object(inner), Json::Number(1e300)]),
        );
        let bytes = encode_struct(&object);
        assert_eq!(
            decode_struct(&bytes, 0, &mut Budget::for_input(1 << 20)),
            Ok(Json::Object(object))
        );
    }

    #[test]
    fn values_go_cannot_write_are_refused() {
        // An entry "k" whose Value has no kind.
        let no_kind = [0x0a, 0x05, 0x0a, 0x01, b'k', 0x12, 0x00];
        assert!(matches!(
            decode_struct(&no_kind, 0, &mut Budget::for_input(1 << 20)),
            Err(OneOfError::Unrepresentable(_))
        ));
        // An entry without a value at all.
        let no_value = [0x0a, 0x03, 0x0a, 0x01, b'k'];
        assert!(matches!(
            decode_struct(&no_value, 0, &mut Budget::for_input(1 << 20)),
            Err(OneOfError::Unrepresentable(_))
        ));
        let mut object = BTreeMap::new();
        object.insert("nan".to_string(), Json::Number(f64::NAN));
        assert!(matches!(
            decode_struct(&encode_struct(&object), 0, &mut Budget::for_input(1 << 20)),
            Err(OneOfError::Unrepresentable(_))
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut value = Json::Null;
        for _ in 0..(MAX_DEPTH + 5) {
            value = Json::List(vec![value]);
        }
        let mut object = BTreeMap::new();
        object.insert("deep".to_string(), value);
        assert_eq!(
            decode_struct(&encode_struct(&object), 0, &mut Budget::for_input(1 << 20)),
            Err(OneOfError::TooDeep)
        );
    }
}
