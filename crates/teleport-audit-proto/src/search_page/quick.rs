//! The usual encoding of one [`SearchPageEvent`], read straight from the received bytes.
//!
//! prost's generic decoding of an event costs about as much as turning its payload into JSON
//! text: a key, a dispatch and a length check per field through the `Buf` trait, a fresh
//! `Timestamp` merged field by field, the `type` string skipped the long way. Every Teleport
//! server writes an event as a handful of plain fields, so [`read_event`] reads that encoding
//! directly from the contiguous bytes in front of the reader, and answers `None` (having
//! consumed nothing) for anything else: a field repeated where protobuf would merge, an unknown
//! field or wire type, invalid UTF-8, a malformed varint, an event split across buffers. The
//! caller then decodes the event the generic way, which gives the same result or the error.

use bytes::{Buf, Bytes};

use super::SearchPageEvent;

/// Reads a length-delimited `EventUnstructured` at the front of `buf` (its length first), or
/// returns `None` and leaves `buf` untouched.
pub(super) fn read_event(buf: &mut impl Buf) -> Option<SearchPageEvent> {
    let chunk = buf.chunk();
    let (len, len_bytes) = varint(chunk)?;
    let len = usize::try_from(len).ok()?;
    let body = chunk.get(len_bytes..len_bytes.checked_add(len)?)?;
    let fields = read_fields(body)?;
    let id = match fields.id {
        Some((start, end)) => std::str::from_utf8(body.get(start..end)?).ok()?.to_owned(),
        None => String::new(),
    };
    let unstructured = match fields.payload {
        Some((start, end)) => {
            buf.advance(len_bytes + start);
            let payload = buf.copy_to_bytes(end - start);
            buf.advance(len - end);
            payload
        }
        None => {
            buf.advance(len_bytes + len);
            Bytes::new()
        }
    };
    Some(SearchPageEvent {
        id,
        time: fields.time,
        unstructured,
    })
}

/// Where the fields of an event are in its body.
#[derive(Default)]
struct Fields {
    id: Option<(usize, usize)>,
    time: Option<prost_types::Timestamp>,
    payload: Option<(usize, usize)>,
}

/// The fields of an event's body, when it has the usual encoding.
fn read_fields(body: &[u8]) -> Option<Fields> {
    let mut fields = Fields::default();
    let mut pos = 0;
    while pos < body.len() {
        let (key, n) = varint(body.get(pos..)?)?;
        pos += n;
        match (key >> 3, key & 7) {
            // `type` (skipped), `id`, `time`, `unstructured`: length-delimited.
            (number @ (1 | 2 | 3 | 5), 2) => {
                let (len, n) = varint(body.get(pos..)?)?;
                let start = pos + n;
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                let value = body.get(start..end)?;
                match number {
                    // A field seen twice (merged, or each occurrence checked): the generic way.
                    2 if fields.id.is_some() => return None,
                    3 if fields.time.is_some() => return None,
                    5 if fields.payload.is_some() => return None,
                    2 => fields.id = Some((start, end)),
                    3 => fields.time = Some(read_timestamp(value)?),
                    5 => fields.payload = Some((start, end)),
                    _ => {}
                }
                pos = end;
            }
            // `index` (skipped): a varint.
            (4, 0) => pos += varint(body.get(pos..)?)?.1,
            _ => return None,
        }
    }
    Some(fields)
}

/// A `google.protobuf.Timestamp`: `seconds = 1` (int64), `nanos = 2` (int32), as prost reads
/// them (the last occurrence wins; an int32 is the varint's low 32 bits).
fn read_timestamp(bytes: &[u8]) -> Option<prost_types::Timestamp> {
    let mut time = prost_types::Timestamp::default();
    let mut pos = 0;
    while pos < bytes.len() {
        let (key, n) = varint(bytes.get(pos..)?)?;
        pos += n;
        let (value, n) = varint(bytes.get(pos..)?)?;
        pos += n;
        match key {
            0x08 => time.seconds = value as i64,
            0x10 => time.nanos = value as i32,
            _ => return None,
        }
    }
    Some(time)
}

/// A varint at the start of `bytes` and its length, as prost reads one (at most 10 bytes, the
/// last at most 1); `None` when there is none.
#[inline(always)]
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    match bytes.first() {
        Some(&byte) if byte < 0x80 => Some((u64::from(byte), 1)),
        _ => long_varint(bytes),
    }
}

fn long_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (index, &byte) in bytes.iter().take(10).enumerate() {
        if index == 9 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte < 0x80 {
            return Some((value, index + 1));
        }
    }
    None
}
