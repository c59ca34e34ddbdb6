//! JSON to encoded `google.protobuf.Struct` (the direction a Teleport server writes).

use serde_json::{Map, Value};

// Field keys: (field number << 3) | wire type.
const STRUCT_FIELDS: u8 = 0x0a; // Struct.fields = 1, length-delimited
const ENTRY_KEY: u8 = 0x0a; // FieldsEntry.key = 1, length-delimited
const ENTRY_VALUE: u8 = 0x12; // FieldsEntry.value = 2, length-delimited
const VALUE_NULL: u8 = 0x08; // Value.null_value = 1, varint
const VALUE_NUMBER: u8 = 0x11; // Value.number_value = 2, 64-bit
const VALUE_STRING: u8 = 0x1a; // Value.string_value = 3, length-delimited
const VALUE_BOOL: u8 = 0x20; // Value.bool_value = 4, varint
const VALUE_STRUCT: u8 = 0x2a; // Value.struct_value = 5, length-delimited
const VALUE_LIST: u8 = 0x32; // Value.list_value = 6, length-delimited
const LIST_VALUES: u8 = 0x0a; // ListValue.values = 1, length-delimited

/// Encodes a JSON object as a `google.protobuf.Struct` message.
pub(crate) fn encode_struct(object: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(struct_len(object));
    write_struct(object, &mut out);
    out
}

fn varint_len(value: usize) -> usize {
    let bits = usize::BITS - (value | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

/// Length of a field whose payload is `len` bytes, key included.
fn delimited_len(len: usize) -> usize {
    1 + varint_len(len) + len
}

fn struct_len(object: &Map<String, Value>) -> usize {
    object
        .iter()
        .map(|(key, value)| delimited_len(entry_len(key, value)))
        .sum()
}

fn entry_len(key: &str, value: &Value) -> usize {
    delimited_len(key.len()) + delimited_len(value_len(value))
}

fn list_len(items: &[Value]) -> usize {
    items
        .iter()
        .map(|item| delimited_len(value_len(item)))
        .sum()
}

fn value_len(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 2,
        Value::Number(_) => 9,
        Value::String(text) => delimited_len(text.len()),
        Value::Object(object) => delimited_len(struct_len(object)),
        Value::Array(items) => delimited_len(list_len(items)),
    }
}

fn write_varint(mut value: usize, out: &mut Vec<u8>) {
    while value >= 0x80 {
        // Truncation keeps the low seven bits, which is the point.
        #[allow(clippy::cast_possible_truncation)]
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(value as u8);
}

fn write_delimited_header(key: u8, len: usize, out: &mut Vec<u8>) {
    out.push(key);
    write_varint(len, out);
}

fn write_struct(object: &Map<String, Value>, out: &mut Vec<u8>) {
    for (key, value) in object {
        write_delimited_header(STRUCT_FIELDS, entry_len(key, value), out);
        write_delimited_header(ENTRY_KEY, key.len(), out);
        out.extend_from_slice(key.as_bytes());
        write_delimited_header(ENTRY_VALUE, value_len(value), out);
        write_value(value, out);
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(&[VALUE_NULL, 0]),
        Value::Bool(flag) => out.extend_from_slice(&[VALUE_BOOL, u8::from(*flag)]),
        Value::Number(number) => {
            // Every JSON number becomes a double, as on Teleport's wire.
            let double = number.as_f64().unwrap_or(0.0);
            out.push(VALUE_NUMBER);
            out.extend_from_slice(&double.to_le_bytes());
        }
        Value::String(text) => {
            write_delimited_header(VALUE_STRING, text.len(), out);
            out.extend_from_slice(text.as_bytes());
        }
        Value::Object(object) => {
            write_delimited_header(VALUE_STRUCT, struct_len(object), out);
            write_struct(object, out);
        }
        Value::Array(items) => {
            write_delimited_header(VALUE_LIST, list_len(items), out);
            for item in items {
                write_delimited_header(LIST_VALUES, value_len(item), out);
                write_value(item, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(16_383), 2);
        assert_eq!(varint_len(16_384), 3);
        assert_eq!(varint_len(usize::MAX), 10);
    }

    #[test]
    fn encodes_a_known_message_byte_for_byte() {
        // {"ei": 0} -> Struct{fields: {"ei": Value{number_value: 0}}}
        let object: Map<String, Value> = serde_json::from_str(r#"{"ei":0}"#).unwrap_or_default();
        let expected = [
            0x0a, 0x0f, // fields entry, 15 bytes
            0x0a, 0x02, b'e', b'i', // key "ei"
            0x12, 0x09, // value, 9 bytes
            0x11, 0, 0, 0, 0, 0, 0, 0, 0, // number_value 0.0
        ];
        assert_eq!(encode_struct(&object), expected);
    }
}
