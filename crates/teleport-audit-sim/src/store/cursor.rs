//! Cursor texts: search `last_key`s in each backend's format, export chunk names and export
//! cursors. All are opaque to clients; the sim decodes its own and refuses anything else.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;

use super::model::{ChunkKey, Position};
use crate::det::hash_words;
use crate::json::{NANOS_PER_SEC, date_text, day_of};
use crate::uid::Uid;

/// Why a cursor text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CursorError(pub(crate) String);

/// A search `last_key` for `pos`. DynamoDB: Teleport's checkpoint JSON (a date and a DynamoDB
/// iterator); the others: URL-safe base64 of the time in microseconds (little-endian) and the
/// id, as Teleport's Athena keyset.
pub(crate) fn encode_search(backend: crate::Backend, pos: &Position, ei: i64) -> String {
    match pos {
        // The file backend's key is the last event's id, as plain text.
        Position::Micro { uid, .. } if backend == crate::Backend::File => uid.to_string(),
        Position::Second { sec, uid, .. } => {
            let date = date_text(day_of(sec.saturating_mul(NANOS_PER_SEC)));
            serde_json::json!({
                "date": date,
                "iterator": {
                    "CreatedAt": {"N": sec.to_string()},
                    "CreatedAtDate": {"S": date},
                    "EventIndex": {"N": ei.to_string()},
                    "SessionID": {"S": uid.to_string()},
                },
            })
            .to_string()
        }
        Position::Micro { micros, uid } => {
            let mut raw = [0u8; 24];
            raw[..8].copy_from_slice(&micros.to_le_bytes());
            raw[8..].copy_from_slice(&uid.0);
            URL_SAFE.encode(raw)
        }
    }
}

/// Decodes a search `start_key` in the format of the backend `dynamo` says.
pub(crate) fn decode_search(text: &str, dynamo: bool) -> Result<Position, CursorError> {
    if dynamo {
        decode_dynamo(text)
    } else {
        decode_keyset(text)
    }
}

fn decode_dynamo(text: &str) -> Result<Position, CursorError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| CursorError(format!("not a JSON checkpoint ({e})")))?;
    let iterator = value
        .get("iterator")
        .ok_or_else(|| CursorError("the checkpoint has no `iterator`".into()))?;
    let sec = iterator
        .pointer("/CreatedAt/N")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| CursorError("the iterator has no numeric `CreatedAt`".into()))?;
    let uid = iterator
        .pointer("/SessionID/S")
        .and_then(|v| v.as_str())
        .and_then(Uid::parse)
        .ok_or_else(|| CursorError("the iterator has no UUID `SessionID`".into()))?;
    if sec.checked_mul(NANOS_PER_SEC).is_none() {
        return Err(CursorError(format!("`CreatedAt` {sec} is out of range")));
    }
    Ok(Position::Second {
        sec,
        digest: uid.digest(),
        uid,
    })
}

fn decode_keyset(text: &str) -> Result<Position, CursorError> {
    let raw = URL_SAFE
        .decode(text)
        .map_err(|e| CursorError(format!("not URL-safe base64 ({e})")))?;
    if raw.len() != 24 {
        return Err(CursorError(format!(
            "malformed pagination key: {} bytes instead of 24",
            raw.len()
        )));
    }
    let mut micros = [0u8; 8];
    micros.copy_from_slice(&raw[..8]);
    let mut uid = [0u8; 16];
    uid.copy_from_slice(&raw[8..]);
    let micros = i64::from_le_bytes(micros);
    if micros.checked_mul(1_000).is_none() {
        return Err(CursorError(format!("time {micros}µs is out of range")));
    }
    Ok(Position::Micro {
        micros,
        uid: Uid(uid),
    })
}

const TAG_HISTORY: u8 = 1;
const TAG_FLUSH: u8 = 2;
const TAG_OWN: u8 = 3;

fn chunk_check(seed: u64, tag: u8, payload: u64, day: i32) -> [u8; 3] {
    let h = hash_words(&[seed, u64::from(tag), payload, day as u64, 0xc4]).to_be_bytes();
    [h[0], h[1], h[2]]
}

/// The opaque name of a chunk (UUID-shaped, as Athena's export names parquet files).
pub(crate) fn chunk_name(seed: u64, chunk: &ChunkKey) -> String {
    let (tag, payload) = match *chunk {
        ChunkKey::History { minute } => (TAG_HISTORY, minute as u64),
        ChunkKey::Flush { j, .. } => (TAG_FLUSH, j as u64),
        ChunkKey::Own { seq, .. } => (TAG_OWN, seq),
    };
    let day = chunk.day();
    let mut raw = [0u8; 16];
    raw[0] = tag;
    raw[1..9].copy_from_slice(&payload.to_be_bytes());
    raw[9..13].copy_from_slice(&day.to_be_bytes());
    raw[13..].copy_from_slice(&chunk_check(seed, tag, payload, day));
    // Scramble the visible digits so names do not look sequential.
    let mask = hash_words(&[seed, 0x5c]).to_be_bytes();
    for (i, b) in raw[..13].iter_mut().enumerate() {
        *b ^= mask[i % 8];
    }
    Uid(raw).to_string()
}

/// The chunk a name stands for, or `None` when it is not one of this cluster's names.
pub(crate) fn parse_chunk(seed: u64, name: &str) -> Option<ChunkKey> {
    let mut raw = Uid::parse(name)?.0;
    let mask = hash_words(&[seed, 0x5c]).to_be_bytes();
    for (i, b) in raw[..13].iter_mut().enumerate() {
        *b ^= mask[i % 8];
    }
    let tag = raw[0];
    let mut payload = [0u8; 8];
    payload.copy_from_slice(&raw[1..9]);
    let payload = u64::from_be_bytes(payload);
    let mut day = [0u8; 4];
    day.copy_from_slice(&raw[9..13]);
    let day = i32::from_be_bytes(day);
    if raw[13..] != chunk_check(seed, tag, payload, day) {
        return None;
    }
    let chunk = match tag {
        TAG_HISTORY => ChunkKey::History {
            minute: payload as i64,
        },
        TAG_FLUSH => ChunkKey::Flush {
            j: payload as i64,
            day,
        },
        TAG_OWN => ChunkKey::Own { seq: payload, day },
        _ => return None,
    };
    (chunk.day() == day).then_some(chunk)
}

/// The export cursor after the `n`th event of `chunk_name`.
pub(crate) fn encode_export(chunk_name: &str, n: usize) -> String {
    URL_SAFE.encode(format!("{chunk_name}/{n}"))
}

/// The number of events of `chunk_name` an export cursor says were delivered.
pub(crate) fn decode_export(chunk_name: &str, text: &str) -> Result<usize, CursorError> {
    let raw = URL_SAFE
        .decode(text)
        .map_err(|e| CursorError(format!("not URL-safe base64 ({e})")))?;
    let raw = String::from_utf8(raw).map_err(|_| CursorError("not UTF-8 inside".into()))?;
    let (name, n) = raw
        .rsplit_once('/')
        .ok_or_else(|| CursorError("no event offset inside".into()))?;
    if name != chunk_name {
        return Err(CursorError(format!(
            "it belongs to chunk {name}, not {chunk_name}"
        )));
    }
    n.parse()
        .map_err(|_| CursorError(format!("offset {n:?} is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_cursors_round_trip_in_both_formats() {
        let uid = Uid::v4([7; 16]);
        let dyn_pos = Position::Second {
            sec: 1_700_000_123,
            digest: uid.digest(),
            uid,
        };
        let text = encode_search(crate::Backend::default(), &dyn_pos, 3);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["date"], "2023-11-14");
        assert_eq!(json["iterator"]["CreatedAt"]["N"], "1700000123");
        assert_eq!(decode_search(&text, true), Ok(dyn_pos));

        let micro = Position::Micro { micros: -5, uid };
        let text = encode_search(crate::Backend::Immediate, &micro, 0);
        assert_eq!(text.len(), 32);
        assert_eq!(decode_search(&text, false), Ok(micro));
        assert_eq!(
            encode_search(crate::Backend::File, &micro, 0),
            uid.to_string()
        );
    }

    #[test]
    fn bad_search_cursors_say_why() {
        let err = decode_search("not json", true).unwrap_err();
        assert!(err.0.contains("not a JSON checkpoint"), "{err:?}");
        let err = decode_search(r#"{"date":"x"}"#, true).unwrap_err();
        assert!(err.0.contains("no `iterator`"), "{err:?}");
        let err = decode_search("%%%", false).unwrap_err();
        assert!(err.0.contains("base64"), "{err:?}");
        let err = decode_search(&URL_SAFE.encode([1u8; 10]), false).unwrap_err();
        assert!(err.0.contains("10 bytes"), "{err:?}");
    }

    #[test]
    fn chunk_names_round_trip_and_foreign_names_fail() {
        for chunk in [
            ChunkKey::History { minute: 28_333_333 },
            ChunkKey::Flush { j: 12, day: 19_700 },
            ChunkKey::Own { seq: 3, day: -2 },
        ] {
            let name = chunk_name(5, &chunk);
            assert_eq!(parse_chunk(5, &name), Some(chunk), "{name}");
            assert_eq!(parse_chunk(6, &name), None);
        }
        assert_eq!(parse_chunk(5, "00000000-0000-0000-0000-000000000000"), None);
        assert_eq!(parse_chunk(5, "chunk"), None);
    }

    #[test]
    fn export_cursors_are_bound_to_their_chunk() {
        let c = encode_export("abc", 4);
        assert_eq!(decode_export("abc", &c), Ok(4));
        assert!(
            decode_export("abd", &c)
                .unwrap_err()
                .0
                .contains("belongs to chunk abc")
        );
        assert!(decode_export("abc", "!!").is_err());
    }
}
