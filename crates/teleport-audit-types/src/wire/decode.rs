//! Encoded `google.protobuf.Struct` to JSON text, in one pass over the bytes.

use std::cell::RefCell;
use std::ops::Range;

use super::json_text::write_json_substring;
use super::key_order::{SortKey, key_prefix_at, sort_entries};
use super::number::write_go_float;
use crate::error::{WireError, WireType};

/// Deepest nesting of objects and lists accepted (the top-level object is level 1).
pub(crate) const MAX_DEPTH: usize = 100;

/// The one-byte keys of the usual fields: field 1 length-delimited (`Struct.fields`,
/// `FieldsEntry.key`, `ListValue.values`), field 2 length-delimited (`FieldsEntry.value`), and
/// each kind of `Value`.
const FIELD_1_BYTES: u8 = 1 << 3 | 2;
const FIELD_2_BYTES: u8 = 2 << 3 | 2;
const NULL_VALUE: u8 = 1 << 3;
const NUMBER_VALUE: u8 = 2 << 3 | 1;
const STRING_VALUE: u8 = 3 << 3 | 2;
const BOOL_VALUE: u8 = 4 << 3;
const STRUCT_VALUE: u8 = 5 << 3 | 2;
const LIST_VALUE: u8 = 6 << 3 | 2;

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
struct Entry {
    /// The key's first 8 bytes as a big-endian number, zero-padded: ordering two keys by it
    /// orders them by their bytes whenever it differs, so most comparisons read no key bytes
    /// ([`key_prefix_at`]).
    prefix: u64,
    /// Where the key's bytes are in the input.
    key: Span,
    value: Parts,
}

/// One step of the JSON path of the value being decoded, for error messages.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// An object key: where its bytes are in the input.
    Key(Span),
    Index(usize),
}

/// Scratch space of a decoder (the pending entries of the objects being written, the JSON path,
/// and a buffer for output of unknown length), kept per thread so that decoding an event
/// allocates nothing but its output.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    entries: Vec<Entry>,
    order: Vec<SortKey>,
    path: Vec<Step>,
    pub(crate) text: Vec<u8>,
}

/// Entries kept in a thread's scratch space between calls; a rare huge Struct's space is freed.
const SCRATCH_KEPT: usize = 4096;
/// Bytes of output buffer kept in a thread's scratch space between calls.
const SCRATCH_TEXT_KEPT: usize = 1 << 20;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Scratch {
    /// Runs `f` with this thread's scratch space (or a fresh one, should it be in use).
    pub(crate) fn with<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                scratch.entries.clear();
                scratch.order.clear();
                scratch.path.clear();
                scratch.text.clear();
                let result = f(&mut scratch);
                if scratch.entries.capacity() > SCRATCH_KEPT
                    || scratch.order.capacity() > SCRATCH_KEPT
                    || scratch.text.capacity() > SCRATCH_TEXT_KEPT
                {
                    *scratch = Scratch::default();
                }
                result
            }
            Err(_) => f(&mut Scratch::default()),
        })
    }
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
/// As a failure unwinds, each level adds its step to the path stack (innermost first), and
/// [`Decoder::write_top_level`] turns the stack into the path; a success records no path.
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

/// A [`TopLevelSink`] that wants nothing.
pub(crate) struct NoSink;

impl TopLevelSink for NoSink {
    #[inline(always)]
    fn field(&mut self, _: &[u8], _: WrittenValue<'_>, _: &[u8], _: Range<usize>) {}
}

/// Transcodes one encoded Struct, with scratch space reused across nesting levels and calls.
/// Generic over its sink, so that the sink's work is compiled into the loop over the fields.
pub(crate) struct Decoder<'a, 's, S> {
    input: &'a [u8],
    entries: &'s mut Vec<Entry>,
    order: &'s mut Vec<SortKey>,
    path: &'s mut Vec<Step>,
    sink: &'s mut S,
}

impl<'a, 's, S: TopLevelSink> Decoder<'a, 's, S> {
    pub(crate) fn new(input: &'a [u8], scratch: &'s mut Scratch, sink: &'s mut S) -> Self {
        Self {
            input,
            entries: &mut scratch.entries,
            order: &mut scratch.order,
            path: &mut scratch.path,
            sink,
        }
    }

    /// Writes the whole input, an encoded `Struct`, as a JSON object.
    pub(crate) fn write_top_level(&mut self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let whole = (0, self.input.len());
        self.write_struct(std::slice::from_ref(&whole), 1, out)
            .map_err(|fault| fault.into_error(self.path_text()))
    }

    #[inline(never)]
    fn write_struct(
        &mut self,
        parts: &[Span],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Fault> {
        self.check_depth(parts, depth)?;
        let base = self.entries.len();
        let order_base = self.order.len();
        for &(start, end) in parts {
            let mut pos = start;
            while pos < end {
                let Some(range) =
                    self.read_field_1(&mut pos, end, "google.protobuf.Struct.fields")?
                else {
                    continue;
                };
                let entry = self.read_entry(range)?;
                self.order.push(SortKey {
                    prefix: entry.prefix,
                    index: self.entries.len(),
                });
                self.entries.push(entry);
            }
        }
        let input = self.input;
        let bytes_of = |(start, end): Span| &input[start..end];
        let entries = &*self.entries;
        sort_entries(&mut self.order[order_base..], |index| {
            bytes_of(entries[index].key)
        });

        out.push(b'{');
        let mut first = true;
        for place in order_base..self.order.len() {
            let SortKey { prefix, index } = self.order[place];
            let key_span = self.entries[index].key;
            let key = bytes_of(key_span);
            if self.order.get(place + 1).is_some_and(|next| {
                next.prefix == prefix && bytes_of(self.entries[next.index].key) == key
            }) {
                continue; // a later entry with the same key replaces this one
            }
            let value = std::mem::take(&mut self.entries[index].value);
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_substring(input, key_span, true, out).map_err(|bad| Fault::InvalidUtf8 {
                offset: key_span.0 + bad,
                what: "an object key",
            })?;
            let value_start = out.len();
            let written = self
                .write_value(value.as_slice(), depth, out)
                .map_err(|fault| self.failed_at(Step::Key(key_span), fault))?;
            if depth == 1 {
                let value = match written {
                    Written::Null => WrittenValue::Null,
                    Written::Bool(flag) => WrittenValue::Bool(flag),
                    Written::Number => WrittenValue::Number,
                    Written::Str(range) => WrittenValue::Str(&self.input[range]),
                    Written::Struct => WrittenValue::Object,
                    Written::List => WrittenValue::Array,
                };
                self.sink.field(key, value, out, value_start..out.len());
            }
        }
        self.entries.truncate(base);
        self.order.truncate(order_base);
        out.push(b'}');
        Ok(())
    }

    /// Reads a `Struct.FieldsEntry` message: `key = 1` (string), `value = 2` (Value).
    fn read_entry(&self, (start, end): Span) -> Result<Entry, Fault> {
        // The usual encoding: the key, then the value, each once with a one-byte length, filling
        // the entry exactly. Anything else goes the general way below.
        let input = self.input;
        if end - start >= 4 && input[start] == FIELD_1_BYTES && input[start + 1] < 0x80 {
            let key_end = start + 2 + usize::from(input[start + 1]);
            if key_end + 2 <= end
                && input[key_end] == FIELD_2_BYTES
                && input[key_end + 1] < 0x80
                && key_end + 2 + usize::from(input[key_end + 1]) == end
            {
                let key = (start + 2, key_end);
                return Ok(Entry {
                    prefix: key_prefix_at(input, key),
                    key,
                    value: Parts::One((key_end + 2, end)),
                });
            }
        }
        let mut entry = Entry {
            prefix: 0,
            key: (start, start),
            value: Parts::Empty,
        };
        let mut pos = start;
        while pos < end {
            let field = self.read_field(&mut pos, end)?;
            match field.number {
                1 => {
                    let key =
                        self.expect_bytes(&field, "google.protobuf.Struct.FieldsEntry.key")?;
                    entry.key = key;
                    entry.prefix = key_prefix_at(self.input, key);
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
    /// `structpb.Value.AsInterface` does. Inlined into the loops over entries and items (a
    /// nested object or list is a call to [`Self::write_struct`] or [`Self::write_list`]).
    #[inline(always)]
    fn write_value(
        &mut self,
        parts: &[Span],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<Written, Fault> {
        let kind = match parts {
            [only] => self.single_field_kind(*only),
            _ => None,
        };
        let kind = match kind {
            Some(kind) => kind,
            None => self.read_kind(parts)?,
        };
        self.write_kind(kind, depth, out)
    }

    /// The kind of a Value encoded as one field with a one-byte length or value (nearly every
    /// Value), as [`Self::read_kind`] would read it; `None` for any other encoding.
    #[inline(always)]
    fn single_field_kind(&self, (start, end): Span) -> Option<Kind> {
        let input = self.input;
        let len = end - start;
        if len < 2 {
            return None;
        }
        let second = input[start + 1];
        // `second` as a whole length (or varint value) only when it is a one-byte varint.
        let one_byte_len = (second < 0x80).then_some(2 + usize::from(second));
        match input[start] {
            NUMBER_VALUE if len == 9 => {
                let mut bits = [0u8; 8];
                bits.copy_from_slice(&input[start + 1..end]);
                Some(Kind::Number {
                    value: f64::from_le_bytes(bits),
                    offset: start + 1,
                })
            }
            STRING_VALUE if one_byte_len == Some(len) => Some(Kind::String((start + 2, end))),
            BOOL_VALUE if len == 2 && second < 0x80 => Some(Kind::Bool(second != 0)),
            NULL_VALUE if len == 2 && second < 0x80 => Some(Kind::Null),
            STRUCT_VALUE if one_byte_len == Some(len) => {
                Some(Kind::Struct(Parts::One((start + 2, end))))
            }
            LIST_VALUE if one_byte_len == Some(len) => {
                Some(Kind::List(Parts::One((start + 2, end))))
            }
            _ => None,
        }
    }

    /// Reads the kind of a Value, in general: any fields, in any number of parts.
    #[inline(never)]
    fn read_kind(&self, parts: &[Span]) -> Result<Kind, Fault> {
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
        Ok(kind)
    }

    #[inline(always)]
    fn write_kind(
        &mut self,
        kind: Kind,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<Written, Fault> {
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
                write_json_substring(self.input, (start, end), false, out).map_err(|bad| {
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
    #[inline(never)]
    fn write_list(&mut self, parts: &[Span], depth: usize, out: &mut Vec<u8>) -> Result<(), Fault> {
        self.check_depth(parts, depth)?;
        out.push(b'[');
        let mut index = 0;
        for &(start, end) in parts {
            let mut pos = start;
            while pos < end {
                let Some(range) =
                    self.read_field_1(&mut pos, end, "google.protobuf.ListValue.values")?
                else {
                    continue;
                };
                if index > 0 {
                    out.push(b',');
                }
                self.write_value(std::slice::from_ref(&range), depth, out)
                    .map_err(|fault| self.failed_at(Step::Index(index), fault))?;
                index += 1;
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

    /// Reads the field at `pos` of a message whose only known field is `repeated <message> name
    /// = 1` (`Struct.fields`, `ListValue.values`): the range of its payload, or `None` for any
    /// other field (skipped). The usual key, one byte, is read without the general dispatch.
    #[inline(always)]
    fn read_field_1(
        &self,
        pos: &mut usize,
        end: usize,
        name: &'static str,
    ) -> Result<Option<Span>, Fault> {
        if self.input[*pos] == FIELD_1_BYTES {
            *pos += 1;
            return self.read_length_delimited(pos, end).map(Some);
        }
        let field = self.read_field(pos, end)?;
        if field.number != 1 {
            return Ok(None);
        }
        self.expect_bytes(&field, name).map(Some)
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

    /// Adds `step` to the path of a failure unwinding through it (see [`Fault`]).
    #[cold]
    fn failed_at(&mut self, step: Step, fault: Fault) -> Fault {
        self.path.push(step);
        fault
    }

    /// The JSON path of the value that failed: `.`, `.user_roles[2]`, `.identity.logins[0]`.
    fn path_text(&self) -> String {
        if self.path.is_empty() {
            return ".".to_owned();
        }
        let mut text = String::new();
        for step in self.path.iter().rev() {
            match *step {
                Step::Key((start, end)) => {
                    text.push('.');
                    text.push_str(&String::from_utf8_lossy(&self.input[start..end]));
                }
                Step::Index(index) => {
                    text.push('[');
                    text.push_str(itoa::Buffer::new().format(index));
                    text.push(']');
                }
            }
        }
        text
    }
}
