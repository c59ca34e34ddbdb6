//! The two error types of this crate: [`EventError`] (reading an event) and [`WireError`]
//! (decoding or encoding a `google.protobuf.Struct`).

use std::fmt;

/// Longest excerpt of an offending value quoted in an error message.
const EXCERPT_LIMIT: usize = 64;

/// Why a piece of input could not be read as an [`AuditEvent`](crate::AuditEvent).
///
/// Every variant names the field or byte position at fault. `Display` is a sentence of our own;
/// the underlying parser's error, when there is one, is only available through
/// [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The bytes are not valid UTF-8.
    #[error("event is not valid UTF-8: bad byte sequence at byte offset {offset}")]
    InvalidUtf8 {
        /// Offset of the first byte that is not part of a valid UTF-8 sequence.
        offset: usize,
        /// The UTF-8 decoder's error.
        #[source]
        source: std::str::Utf8Error,
    },
    /// The text is not valid JSON.
    #[error("event is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The JSON parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON value is not an object.
    #[error("event must be a JSON object, found {found}")]
    NotAnObject {
        /// What was found instead (`"an array"`, `"a string"`, ...).
        found: &'static str,
    },
    /// A field every event must carry is absent.
    #[error("event has no `{field}` field")]
    MissingField {
        /// The missing field.
        field: &'static str,
    },
    /// A field has a JSON type the event model cannot accept.
    #[error("event field `{field}` must be {expected}, found {found}")]
    WrongType {
        /// The field at fault.
        field: &'static str,
        /// The type required (`"a string"`).
        expected: &'static str,
        /// What was found, with a short excerpt of the value.
        found: String,
    },
    /// The `time` field is a string but not an RFC 3339 timestamp.
    #[error("event field `time` is not an RFC 3339 timestamp: {value}")]
    InvalidTime {
        /// Excerpt of the offending value, quoted.
        value: String,
        /// The timestamp parser's error.
        #[source]
        source: time::error::Parse,
    },
    /// The same top-level key appears twice in the object.
    #[error("event has the field \"{field}\" more than once")]
    DuplicateField {
        /// The repeated key (cut to 64 characters when longer).
        field: String,
    },
    /// The event text is larger than this crate indexes (4 GiB).
    #[error("event of {len} bytes is too large (the limit is 4 GiB)")]
    TooLarge {
        /// Length of the text in bytes.
        len: usize,
    },
    /// The event arrived as an encoded `google.protobuf.Struct` that could not be decoded.
    #[error("event payload is not a valid google.protobuf.Struct")]
    Wire(#[from] WireError),
}

impl EventError {
    /// A short, stable identifier of the variant, for metrics and log fields.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::InvalidJson { .. } => "invalid_json",
            Self::NotAnObject { .. } => "not_an_object",
            Self::MissingField { .. } => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::InvalidTime { .. } => "invalid_time",
            Self::DuplicateField { .. } => "duplicate_field",
            Self::TooLarge { .. } => "too_large",
            Self::Wire(_) => "invalid_struct",
        }
    }

    /// The event field at fault, when the error concerns one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::MissingField { field } | Self::WrongType { field, .. } => Some(field),
            Self::InvalidTime { .. } => Some("time"),
            Self::DuplicateField { field } => Some(field),
            _ => None,
        }
    }

    pub(crate) fn from_json_error(source: serde_json::Error) -> Self {
        Self::InvalidJson {
            line: source.line(),
            column: source.column(),
            source,
        }
    }
}

/// The protobuf wire type of a field, as named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireType {
    /// Wire type 0: a varint.
    Varint,
    /// Wire type 1: eight little-endian bytes.
    Fixed64,
    /// Wire type 2: a length followed by that many bytes.
    LengthDelimited,
    /// Wire type 3: start of a group (deprecated).
    StartGroup,
    /// Wire type 4: end of a group (deprecated).
    EndGroup,
    /// Wire type 5: four little-endian bytes.
    Fixed32,
}

impl WireType {
    pub(crate) fn from_bits(bits: u64) -> Option<Self> {
        Some(match bits {
            0 => Self::Varint,
            1 => Self::Fixed64,
            2 => Self::LengthDelimited,
            3 => Self::StartGroup,
            4 => Self::EndGroup,
            5 => Self::Fixed32,
            _ => return None,
        })
    }
}

impl fmt::Display for WireType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Varint => "varint",
            Self::Fixed64 => "64-bit",
            Self::LengthDelimited => "length-delimited",
            Self::StartGroup => "start-group",
            Self::EndGroup => "end-group",
            Self::Fixed32 => "32-bit",
        })
    }
}

/// Why bytes could not be read as (or JSON could not be written as) a `google.protobuf.Struct`.
///
/// Decoding errors carry the byte `offset` in the encoded message where the problem was found and
/// the `path` of the JSON value being decoded there (`.user_roles[2]`, or `.` for the top-level
/// object), so one bad event can be diagnosed without a hex dump.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The message ends in the middle of a field.
    #[error("Struct is truncated at byte {offset} (at `{path}`): {what}")]
    Truncated {
        /// Where the missing bytes should have started.
        offset: usize,
        /// JSON path of the value being decoded.
        path: String,
        /// What was being read (for example "a length-delimited field of 300 bytes, 12 left").
        what: String,
    },
    /// A varint runs over ten bytes or overflows 64 bits.
    #[error("Struct has a malformed varint at byte {offset} (at `{path}`)")]
    BadVarint {
        /// Offset of the varint's first byte.
        offset: usize,
        /// JSON path of the value being decoded.
        path: String,
    },
    /// A field key uses wire type 6 or 7, or field number 0.
    #[error("Struct has an invalid field key {key:#x} at byte {offset} (at `{path}`)")]
    InvalidKey {
        /// Offset of the key.
        offset: usize,
        /// JSON path of the value being decoded.
        path: String,
        /// The key as read.
        key: u64,
    },
    /// A known field arrived with the wrong wire type.
    #[error(
        "Struct field `{field}` at byte {offset} (at `{path}`) has wire type {found}, expected {expected}"
    )]
    WrongWireType {
        /// Offset of the field's key.
        offset: usize,
        /// JSON path of the value being decoded.
        path: String,
        /// The protobuf field (`google.protobuf.Value.string_value`, ...).
        field: &'static str,
        /// The wire type the field is declared with.
        expected: WireType,
        /// The wire type found.
        found: WireType,
    },
    /// An end-group key without a matching start, or a group left open.
    #[error("Struct has an unbalanced group at byte {offset} (at `{path}`)")]
    UnbalancedGroup {
        /// Offset of the offending key.
        offset: usize,
        /// JSON path of the value being decoded.
        path: String,
    },
    /// A string value or object key is not valid UTF-8.
    #[error("Struct has invalid UTF-8 in {what} at byte {offset} (at `{path}`)")]
    InvalidUtf8 {
        /// Offset of the first bad byte.
        offset: usize,
        /// JSON path of the value (for a key: of the object holding it).
        path: String,
        /// `"a string value"` or `"an object key"`.
        what: &'static str,
    },
    /// A number is NaN or infinite, which JSON cannot represent.
    #[error(
        "Struct has the number {value} at byte {offset} (at `{path}`), which JSON cannot represent"
    )]
    NonFiniteNumber {
        /// Offset of the number's eight bytes.
        offset: usize,
        /// JSON path of the value.
        path: String,
        /// The value (NaN, inf or -inf).
        value: f64,
    },
    /// Objects and lists are nested deeper than the limit.
    #[error(
        "Struct nests objects and lists deeper than {limit} levels at byte {offset} (at `{path}`)"
    )]
    TooDeep {
        /// Offset of the value that goes past the limit.
        offset: usize,
        /// JSON path of that value.
        path: String,
        /// The nesting limit.
        limit: usize,
    },
    /// The input given to [`json_to_struct`](crate::wire::json_to_struct) is not valid JSON.
    #[error("input is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The JSON parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The input given to [`json_to_struct`](crate::wire::json_to_struct) is not a JSON object.
    #[error("a Struct must be made from a JSON object, found {found}")]
    NotAnObject {
        /// What was found instead.
        found: &'static str,
    },
}

impl WireError {
    /// A short, stable identifier of the variant, for metrics and log fields.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "truncated",
            Self::BadVarint { .. } => "bad_varint",
            Self::InvalidKey { .. } => "invalid_key",
            Self::WrongWireType { .. } => "wrong_wire_type",
            Self::UnbalancedGroup { .. } => "unbalanced_group",
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::NonFiniteNumber { .. } => "non_finite_number",
            Self::TooDeep { .. } => "too_deep",
            Self::InvalidJson { .. } => "invalid_json",
            Self::NotAnObject { .. } => "not_an_object",
        }
    }

    /// Byte offset in the encoded message where decoding failed (decoding errors only).
    pub fn offset(&self) -> Option<usize> {
        match self {
            Self::Truncated { offset, .. }
            | Self::BadVarint { offset, .. }
            | Self::InvalidKey { offset, .. }
            | Self::WrongWireType { offset, .. }
            | Self::UnbalancedGroup { offset, .. }
            | Self::InvalidUtf8 { offset, .. }
            | Self::NonFiniteNumber { offset, .. }
            | Self::TooDeep { offset, .. } => Some(*offset),
            Self::InvalidJson { .. } | Self::NotAnObject { .. } => None,
        }
    }

    /// JSON path of the value being decoded when decoding failed (decoding errors only).
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Truncated { path, .. }
            | Self::BadVarint { path, .. }
            | Self::InvalidKey { path, .. }
            | Self::WrongWireType { path, .. }
            | Self::UnbalancedGroup { path, .. }
            | Self::InvalidUtf8 { path, .. }
            | Self::NonFiniteNumber { path, .. }
            | Self::TooDeep { path, .. } => Some(path),
            Self::InvalidJson { .. } | Self::NotAnObject { .. } => None,
        }
    }
}

/// Names the JSON type of a value for error messages.
pub(crate) fn json_type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Names the JSON type that starts with `byte` (the first non-blank byte of a document).
pub(crate) fn json_type_of_first_byte(byte: Option<u8>) -> &'static str {
    match byte {
        None => "nothing (empty input)",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'-' | b'0'..=b'9') => "a number",
        Some(_) => "something that is not JSON",
    }
}

/// `text` cut to [`EXCERPT_LIMIT`] characters (with `...` when cut), for an error message.
pub(crate) fn cut(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Quotes `text` for an error message, cut to [`EXCERPT_LIMIT`] characters.
pub(crate) fn excerpt(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(EXCERPT_LIMIT) + 8);
    out.push('"');
    let mut chars = text.chars();
    for c in chars.by_ref().take(EXCERPT_LIMIT) {
        out.extend(c.escape_debug());
    }
    out.push('"');
    if chars.next().is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_long_values_and_escapes_quotes() {
        assert_eq!(excerpt("a\"b"), "\"a\\\"b\"");
        let long = "x".repeat(100);
        assert_eq!(excerpt(&long), format!("\"{}\"...", "x".repeat(64)));
        assert_eq!(cut(&long), format!("{}...", "x".repeat(64)));
        assert_eq!(cut("short é"), "short é");
    }

    #[test]
    fn error_codes_and_fields() {
        let err = EventError::MissingField { field: "event" };
        assert_eq!(err.code(), "missing_field");
        assert_eq!(err.field(), Some("event"));
        assert_eq!(err.to_string(), "event has no `event` field");
        let wire = WireError::BadVarint {
            offset: 7,
            path: ".a".into(),
        };
        assert_eq!(wire.offset(), Some(7));
        assert_eq!(wire.path(), Some(".a"));
        assert_eq!(wire.code(), "bad_varint");
    }
}
