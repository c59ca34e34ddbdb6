//! Encoded `google.protobuf.Struct` to JSON text, in one pass over the bytes.

use std::ops::Range;

use super::json_text::write_json_string;
use super::number::write_go_float;
use crate::error::{WireError, WireType};

/// Deepest nesting of objects and lists accepted (the top-level object is level 1).
pub(crate) const MAX_DEPTH: usize = 100;

/// A byte range `[start, end)` of the input.
type Span = (usize, usize);

/// Where the encoding of one logical message lies. Usually one range; protobuf merges repeated
/// occurrences of a message-typed field, so the message is then the concatenation of several.
#[derive(Debug, Default)]
enum Parts {
    #[default]
    Empty,
    One(Span),
    Many(Vec<Span>),
}

impl Parts {
    fn push(&mut self, range: Span) {
        match self {
            Self::Empty => *self = Self::One(range),
            Self::One(first) => *self = Self::Many(vec![*first, range]),
            Self::Many(ranges) => ranges.push(range),
        }
    }

    fn as_slice(&self) -> &[Span] {
        match self {
            Self::Empty => &[],
            Self::One(range) => std::slice::from_ref(range),
            Self::Many(ranges) => ranges,
        }
    }
}

/// One `fields` map entry of a Struct, not yet written.
#[derive(Debug)]
struct Entry<'a> {
    key: &'a [u8],
    key_offset: usize,
    value: Parts,
    /// Position among the entries of its Struct (for "last duplicate wins").
    seq: usize,
}

/// One step of the JSON path of the value being decoded, for error messages.
#[derive(Debug)]
enum Step<'a> {
    Key(&'a [u8]),
    Index(usize),
}

/// The payload of one protobuf field.
#[derive(Debug)]
enum Payload {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(Span),
    Group,
}

impl Payload {
    fn wire_type(&self) -> WireType {
        match self {
            Self::Varint(_) => WireType::Varint,
            Self::Fixed64(_) => WireType::Fixed64,
            Self::Fixed32 => WireType::Fixed32,
            Self::Bytes(_) => WireType::LengthDelimited,
            Self::Group => WireType::StartGroup,
        }
    }
}

/// One protobuf field as read: its number, where its key starts, and its payload.
#[derive(Debug)]
struct Field {
    number: u64,
    offset: usize,
    payload_offset: usize,
    payload: Payload,
}

/// The value of a `google.protobuf.Value` (its `kind` oneof), once the message is read.
#[derive(Debug)]
enum Kind {
    Null,
    Number { value: f64, offset: usize },
    String(Span),
    Bool(bool),
    Struct(Parts),
    List(Parts),
}

/// A decoding failure, without its JSON path: kept small so the hot path's `Result`s stay cheap.
/// [`Decoder::write_top_level`] adds the path (still on the path stack when a failure unwinds).
#[derive(Debug, Clone, Copy)]
enum Fault {
    Truncated {
        offset: usize,
        what: Missing,
    },
    BadVarint {
        offset: usize,
    },
    InvalidKey {
        offset: usize,
        key: u64,
    },
    WrongWireType {
        offset: usize,
        field: &'static str,
        expected: WireType,
        found: WireType,
    },
    UnbalancedGroup {
        offset: usize,
    },
    InvalidUtf8 {
        offset: usize,
        what: &'static str,
    },
    NonFiniteNumber {
        offset: usize,
        value: f64,
    },
    TooDeep {
        offset: usize,
    },
}

/// What a truncated message was missing.
#[derive(Debug, Clone, Copy)]
enum Missing {
    Varint,
    Bytes { length: u64, left: usize },
    Fixed { what: &'static str, left: usize },
}

impl Fault {
    fn into_error(self, path: String) -> WireError {
        match self {
            Self::Truncated { offset, what } => WireError::Truncated {
                offset,
                path,
                what: match what {
                    Missing::Varint => "a varint".to_owned(),
                    Missing::Bytes { length, left } => {
                        format!("a length-delimited field of {length} bytes, {left} left")
                    }
                    Missing::Fixed { what, left } => format!("{what}, {left} bytes left"),
                },
            },
            Self::BadVarint { offset } => WireError::BadVarint { offset, path },
            Self::InvalidKey { offset, key } => WireError::InvalidKey { offset, path, key },
            Self::WrongWireType {
                offset,
                field,
                expected,
                found,
            } => WireError::WrongWireType {
                offset,
                path,
                field,
                expected,
                found,
            },
            Self::UnbalancedGroup { offset } => WireError::UnbalancedGroup { offset, path },
            Self::InvalidUtf8 { offset, what } => WireError::InvalidUtf8 { offset, path, what },
            Self::NonFiniteNumber { offset, value } => WireError::NonFiniteNumber {
                offset,
                path,
                value,
            },
            Self::TooDeep { offset } => WireError::TooDeep {
                offset,
                path,
                limit: MAX_DEPTH,
            },
        }
    }
}

/// A top-level value as written, for a [`TopLevelSink`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum WrittenValue<'a> {
    Null,
    Bool(bool),
    /// A number: its text is the written range.
    Number,
    /// A string: its bytes as they were on the wire (valid UTF-8).
    Str(&'a [u8]),
    Array,
    Object,
}

/// Told about each top-level field of the object as it is written, in output (sorted) order.
pub(crate) trait TopLevelSink {
    /// `key` was written with `value`, whose JSON text is `out[written]`.
    fn field(&mut self, key: &[u8], value: WrittenValue<'_>, out: &[u8], written: Range<usize>);
}

/// What [`Decoder::write_value`] wrote.
#[derive(Debug, Clone)]
enum Written {
    Null,
    Bool(bool),
    Number,
    Str(Range<usize>),
    Struct,
    List,
}

/// Transcodes one encoded Struct; holds the scratch space reused across nesting levels.
pub(crate) struct Decoder<'a, 's> {
    input: &'a [u8],
    entries: Vec<Entry<'a>>,
    path: Vec<Step<'a>>,
    sink: Option<&'s mut dyn TopLevelSink>,
}

impl<'a, 's> Decoder<'a, 's> {
    pub(crate) fn new(input: &'a [u8], sink: Option<&'s mut dyn TopLevelSink>) -> Self {
        Self {
            input,
            entries: Vec::with_capacity(32),
            path: Vec::new(),
            sink,
        }
    }

    /// Writes the whole input, an encoded `Struct`, as a JSON object.
    pub(crate) fn write_top_level(&mut self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let whole = (0, self.input.len());
        self.write_struct(std::slice::from_ref(&whole), 1, out)
            .map_err(|fault| fault.into_error(self.path_text()))
    }

    fn write_struct(
        &mut self,
        parts: &[Span],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Fault> {
        self.check_depth(parts, depth)?;
        let base = self.entries.len();
        let mut seq = 0;
        for &(start, end) in parts {
            let mut pos = start;
            while pos < end {
                let field = self.read_field(&mut pos, end)?;
                if field.number == 1 {
                    let range = self.expect_bytes(&field, "google.protobuf.Struct.fields")?;
                    let entry = self.read_entry(range, seq)?;
                    self.entries.push(entry);
                    seq += 1;
                }
            }
        }
        self.entries[base..].sort_unstable_by(|a, b| a.key.cmp(b.key).then(a.seq.cmp(&b.seq)));

        out.push(b'{');
        let mut first = true;
        for index in base..self.entries.len() {
            let key = self.entries[index].key;
            if self
                .entries
                .get(index + 1)
                .is_some_and(|next| next.key == key)
            {
                continue; // a later entry with the same key replaces this one
            }
            let key_offset = self.entries[index].key_offset;
            let value = std::mem::take(&mut self.entries[index].value);
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_string(key, out).map_err(|bad| Fault::InvalidUtf8 {
                offset: key_offset + bad,
                what: "an object key",
            })?;
            out.push(b':');
            self.path.push(Step::Key(key));
            let value_start = out.len();
            let written = self.write_value(value.as_slice(), depth, out)?;
            self.path.pop();
            if depth == 1
                && let Some(sink) = self.sink.as_deref_mut()
            {
                let value = match written {
                    Written::Null => WrittenValue::Null,
                    Written::Bool(flag) => WrittenValue::Bool(flag),
                    Written::Number => WrittenValue::Number,
                    Written::Str(range) => WrittenValue::Str(&self.input[range]),
                    Written::Struct => WrittenValue::Object,
                    Written::List => WrittenValue::Array,
                };
                sink.field(key, value, out, value_start..out.len());
            }
        }
        self.entries.truncate(base);
        out.push(b'}');
        Ok(())
    }

    /// Reads a `Struct.FieldsEntry` message: `key = 1` (string), `value = 2` (Value).
    fn read_entry(&self, (start, end): Span, seq: usize) -> Result<Entry<'a>, Fault> {
        let mut entry = Entry {
            key: &[],
            key_offset: start,
            value: Parts::Empty,
            seq,
        };
        let mut pos = start;
        while pos < end {
            let field = self.read_field(&mut pos, end)?;
            match field.number {
                1 => {
                    let (key_start, key_end) =
                        self.expect_bytes(&field, "google.protobuf.Struct.FieldsEntry.key")?;
                    entry.key = &self.input[key_start..key_end];
                    entry.key_offset = key_start;
                }
                2 => {
                    let range =
                        self.expect_bytes(&field, "google.protobuf.Struct.FieldsEntry.value")?;
                    entry.value.push(range);
                }
                _ => {}
            }
        }
        Ok(entry)
    }

    /// Writes a `google.protobuf.Value`. A Value with no kind set is written as `null`, as Go's
    /// `structpb.Value.AsInterface` does.
    fn write_value(
        &mut self,
        parts: &[Span],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<Written, Fault> {
        let mut kind = Kind::Null;
        for &(start, end) in parts {
            let mut pos = start;
            while pos < end {
                let field = self.read_field(&mut pos, end)?;
                match field.number {
                    1 => {
                        self.expect_varint(&field, "google.protobuf.Value.null_value")?;
                        kind = Kind::Null;
                    }
                    2 => {
                        let bits = match field.payload {
                            Payload::Fixed64(bits) => bits,
                            _ => {
                                return Err(self.wrong_wire_type(
                                    &field,
                                    "google.protobuf.Value.number_value",
                                    WireType::Fixed64,
                                ));
                            }
                        };
                        kind = Kind::Number {
                            value: f64::from_bits(bits),
                            offset: field.payload_offset,
                        };
                    }
                    3 => {
                        let range =
                            self.expect_bytes(&field, "google.protobuf.Value.string_value")?;
                        kind = Kind::String(range);
                    }
                    4 => {
                        let flag =
                            self.expect_varint(&field, "google.protobuf.Value.bool_value")?;
                        kind = Kind::Bool(flag != 0);
                    }
                    5 => {
                        let range =
                            self.expect_bytes(&field, "google.protobuf.Value.struct_value")?;
                        match &mut kind {
                            Kind::Struct(previous) => previous.push(range),
                            _ => kind = Kind::Struct(Parts::One(range)),
                        }
                    }
                    6 => {
                        let range =
                            self.expect_bytes(&field, "google.protobuf.Value.list_value")?;
                        match &mut kind {
                            Kind::List(previous) => previous.push(range),
                            _ => kind = Kind::List(Parts::One(range)),
                        }
                    }
                    _ => {}
                }
            }
        }

        Ok(match kind {
            Kind::Null => {
                out.extend_from_slice(b"null");
                Written::Null
            }
            Kind::Bool(flag) => {
                out.extend_from_slice(if flag { b"true" } else { b"false" });
                Written::Bool(flag)
            }
            Kind::Number { value, offset } => {
                if !value.is_finite() {
                    return Err(Fault::NonFiniteNumber { offset, value });
                }
                write_go_float(value, out);
                Written::Number
            }
            Kind::String((start, end)) => {
                write_json_string(&self.input[start..end], out).map_err(|bad| {
                    Fault::InvalidUtf8 {
                        offset: start + bad,
                        what: "a string value",
                    }
                })?;
                Written::Str(start..end)
            }
            Kind::Struct(parts) => {
                self.write_struct(parts.as_slice(), depth + 1, out)?;
                Written::Struct
            }
            Kind::List(parts) => {
                self.write_list(parts.as_slice(), depth + 1, out)?;
                Written::List
            }
        })
    }

    /// Writes a `google.protobuf.ListValue`: `repeated Value values = 1`.
    fn write_list(&mut self, parts: &[Span], depth: usize, out: &mut Vec<u8>) -> Result<(), Fault> {
        self.check_depth(parts, depth)?;
        out.push(b'[');
        let mut index = 0;
        for &(start, end) in parts {
            let mut pos = start;
            while pos < end {
                let field = self.read_field(&mut pos, end)?;
                if field.number == 1 {
                    let range = self.expect_bytes(&field, "google.protobuf.ListValue.values")?;
                    if index > 0 {
                        out.push(b',');
                    }
                    self.path.push(Step::Index(index));
                    self.write_value(std::slice::from_ref(&range), depth, out)?;
                    self.path.pop();
                    index += 1;
                }
            }
        }
        out.push(b']');
        Ok(())
    }

    fn check_depth(&self, parts: &[Span], depth: usize) -> Result<(), Fault> {
        if depth > MAX_DEPTH {
            return Err(Fault::TooDeep {
                offset: parts.first().map_or(0, |range| range.0),
            });
        }
        Ok(())
    }

    /// Reads one field (key and payload) starting at `pos`, skipping over groups whole.
    #[inline]
    fn read_field(&self, pos: &mut usize, end: usize) -> Result<Field, Fault> {
        let offset = *pos;
        let (number, wire) = self.read_key(pos, end)?;
        let payload_offset = *pos;
        let payload = match wire {
            WireType::Varint => Payload::Varint(self.read_varint(pos, end)?),
            WireType::Fixed64 => {
                let bytes = self.take(pos, end, 8, "a 64-bit number")?;
                let mut array = [0u8; 8];
                array.copy_from_slice(bytes);
                Payload::Fixed64(u64::from_le_bytes(array))
            }
            WireType::Fixed32 => {
                self.take(pos, end, 4, "a 32-bit number")?;
                Payload::Fixed32
            }
            WireType::LengthDelimited => Payload::Bytes(self.read_length_delimited(pos, end)?),
            WireType::StartGroup => {
                self.skip_group(pos, end, number)?;
                Payload::Group
            }
            WireType::EndGroup => return Err(Fault::UnbalancedGroup { offset }),
        };
        Ok(Field {
            number,
            offset,
            payload_offset,
            payload,
        })
    }

    #[inline]
    fn read_key(&self, pos: &mut usize, end: usize) -> Result<(u64, WireType), Fault> {
        let offset = *pos;
        let key = self.read_varint(pos, end)?;
        let number = key >> 3;
        match WireType::from_bits(key & 7) {
            Some(wire) if number != 0 && number <= u64::from(u32::MAX >> 3) => Ok((number, wire)),
            _ => Err(Fault::InvalidKey { offset, key }),
        }
    }

    #[inline(always)]
    fn read_varint(&self, pos: &mut usize, end: usize) -> Result<u64, Fault> {
        // Fast path: keys and lengths below 128 are one byte.
        if *pos < end && self.input[*pos] < 0x80 {
            let value = u64::from(self.input[*pos]);
            *pos += 1;
            return Ok(value);
        }
        self.read_long_varint(pos, end)
    }

    fn read_long_varint(&self, pos: &mut usize, end: usize) -> Result<u64, Fault> {
        let start = *pos;
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            if *pos >= end {
                return Err(Fault::Truncated {
                    offset: start,
                    what: Missing::Varint,
                });
            }
            let byte = self.input[*pos];
            *pos += 1;
            if shift == 63 && byte > 1 {
                return Err(Fault::BadVarint { offset: start });
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    #[inline]
    fn read_length_delimited(&self, pos: &mut usize, end: usize) -> Result<Span, Fault> {
        let length_offset = *pos;
        let length = self.read_varint(pos, end)?;
        let available = end - *pos;
        match usize::try_from(length) {
            Ok(length) if length <= available => {
                let start = *pos;
                *pos += length;
                Ok((start, *pos))
            }
            _ => Err(Fault::Truncated {
                offset: length_offset,
                what: Missing::Bytes {
                    length,
                    left: available,
                },
            }),
        }
    }

    fn take(
        &self,
        pos: &mut usize,
        end: usize,
        count: usize,
        what: &'static str,
    ) -> Result<&'a [u8], Fault> {
        if end - *pos < count {
            return Err(Fault::Truncated {
                offset: *pos,
                what: Missing::Fixed {
                    what,
                    left: end - *pos,
                },
            });
        }
        let start = *pos;
        *pos += count;
        Ok(&self.input[start..*pos])
    }

    /// Skips a group whose start key (field `number`) was just read, nested groups included.
    fn skip_group(&self, pos: &mut usize, end: usize, number: u64) -> Result<(), Fault> {
        let mut open = vec![number];
        while let Some(&innermost) = open.last() {
            if *pos >= end {
                return Err(Fault::UnbalancedGroup { offset: *pos });
            }
            let key_offset = *pos;
            let (field, wire) = self.read_key(pos, end)?;
            match wire {
                WireType::Varint => {
                    self.read_varint(pos, end)?;
                }
                WireType::Fixed64 => {
                    self.take(pos, end, 8, "a 64-bit number")?;
                }
                WireType::Fixed32 => {
                    self.take(pos, end, 4, "a 32-bit number")?;
                }
                WireType::LengthDelimited => {
                    self.read_length_delimited(pos, end)?;
                }
                WireType::StartGroup => open.push(field),
                WireType::EndGroup if field == innermost => {
                    open.pop();
                }
                WireType::EndGroup => return Err(Fault::UnbalancedGroup { offset: key_offset }),
            }
        }
        Ok(())
    }

    fn expect_bytes(&self, field: &Field, name: &'static str) -> Result<Span, Fault> {
        match field.payload {
            Payload::Bytes(range) => Ok(range),
            _ => Err(self.wrong_wire_type(field, name, WireType::LengthDelimited)),
        }
    }

    fn expect_varint(&self, field: &Field, name: &'static str) -> Result<u64, Fault> {
        match field.payload {
            Payload::Varint(value) => Ok(value),
            _ => Err(self.wrong_wire_type(field, name, WireType::Varint)),
        }
    }

    #[cold]
    fn wrong_wire_type(&self, field: &Field, name: &'static str, expected: WireType) -> Fault {
        Fault::WrongWireType {
            offset: field.offset,
            field: name,
            expected,
            found: field.payload.wire_type(),
        }
    }

    /// The JSON path of the value being decoded: `.`, `.user_roles[2]`, `.identity.logins[0]`.
    fn path_text(&self) -> String {
        if self.path.is_empty() {
            return ".".to_owned();
        }
        let mut text = String::new();
        for step in &self.path {
            match step {
                Step::Key(key) => {
                    text.push('.');
                    text.push_str(&String::from_utf8_lossy(key));
                }
                Step::Index(index) => {
                    text.push('[');
                    text.push_str(itoa::Buffer::new().format(*index));
                    text.push(']');
                }
            }
        }
        text
    }
}
