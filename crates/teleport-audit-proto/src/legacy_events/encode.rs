//! JSON event → `events.OneOf` bytes: the inverse of `decode`, for the simulated cluster.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::MAX_DEPTH;
use super::decode::PRINT_VARIANT;
use super::error::OneOfError;
use super::table::{Field, Kind, Msg, VARIANTS};
use super::time;
use super::value::{Json, encode_struct};
use super::wire::Writer;

/// Event types (Teleport's `lib/events/api.go`) and their `events.OneOf` variants: the types
/// a session recording holds, and a few audit ones.
pub(crate) const TYPES: &[(&str, &str)] = &[
    ("print", "SessionPrint"),
    ("session.start", "SessionStart"),
    ("session.join", "SessionJoin"),
    ("session.leave", "SessionLeave"),
    ("session.end", "SessionEnd"),
    ("session.data", "SessionData"),
    ("session.upload", "SessionUpload"),
    ("session.rejected", "SessionReject"),
    ("resize", "Resize"),
    ("session.command", "SessionCommand"),
    ("session.disk", "SessionDisk"),
    ("session.network", "SessionNetwork"),
    ("exec", "Exec"),
    ("scp", "SCP"),
    ("sftp", "SFTP"),
    ("port", "PortForward"),
    ("x11-forward", "X11Forward"),
    ("subsystem", "Subsystem"),
    ("kube.request", "KubeRequest"),
    ("app.session.start", "AppSessionStart"),
    ("app.session.end", "AppSessionEnd"),
    ("app.session.chunk", "AppSessionChunk"),
    ("app.session.request", "AppSessionRequest"),
    ("db.session.start", "DatabaseSessionStart"),
    ("db.session.end", "DatabaseSessionEnd"),
    ("db.session.query", "DatabaseSessionQuery"),
    (
        "windows.desktop.session.start",
        "WindowsDesktopSessionStart",
    ),
    ("windows.desktop.session.end", "WindowsDesktopSessionEnd"),
    ("desktop.recording", "DesktopRecording"),
    ("desktop.clipboard.send", "DesktopClipboardSend"),
    ("desktop.clipboard.receive", "DesktopClipboardReceive"),
    ("user.login", "UserLogin"),
    ("session.recording.access", "SessionRecordingAccess"),
];

pub(crate) fn encode_oneof(event: &Map<String, Value>) -> Result<Vec<u8>, OneOfError> {
    let event_type = event
        .get("event")
        .and_then(Value::as_str)
        .ok_or(OneOfError::MissingType)?;
    let unknown = || OneOfError::UnknownType(event_type.to_string());
    let name = TYPES
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, v)| *v)
        .ok_or_else(unknown)?;
    let variant = VARIANTS
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(unknown)?;
    let msg = Msg::at(variant.msg)?;
    let mut body = encode_message(msg, event, 1)?;
    if variant.name == PRINT_VARIANT {
        let hidden = msg
            .fields
            .iter()
            .find(|f| f.json == "-" && f.kind == Kind::Bytes);
        if let (Some(field), Some(data)) = (hidden, event.get("data")) {
            let bytes = bytes_of("data", data)?;
            if !bytes.is_empty() {
                body.bytes_field(field.number, &bytes);
            }
        }
    }
    let mut out = Writer::default();
    out.bytes_field(variant.number, &body.buf);
    Ok(out.buf)
}

/// 2^63 and 2^64: a whole double below these converts to `i64` / `u64` exactly.
const I64_RANGE: f64 = 9_223_372_036_854_775_808.0;
const U64_RANGE: f64 = 18_446_744_073_709_551_616.0;

fn invalid(key: &str, expected: &'static str) -> OneOfError {
    OneOfError::InvalidValue {
        key: key.to_string(),
        expected,
    }
}

/// Encodes the fields of `msg` found in `object` (embedded structs read the same object). Keys
/// the Go struct does not have are ignored, as Go's `json.Unmarshal` ignores them (the sim's
/// events carry fields of newer Teleport versions, such as `user_kind`).
fn encode_message(
    msg: &Msg,
    object: &Map<String, Value>,
    depth: usize,
) -> Result<Writer, OneOfError> {
    if depth > MAX_DEPTH {
        return Err(OneOfError::TooDeep);
    }
    let mut w = Writer::default();
    for field in msg.fields {
        if field.json == "-" {
            continue;
        }
        if let Kind::Embed { msg: child } = field.kind {
            let child = Msg::at(child)?;
            let inner = encode_message(child, object, depth + 1)?;
            if !inner.buf.is_empty() {
                w.bytes_field(field.number, &inner.buf);
            }
            continue;
        }
        let Some((key, value)) = object.get_key_value(field.json) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        if field.repeated {
            let items = value.as_array().ok_or_else(|| invalid(key, "an array"))?;
            for item in items {
                encode_value(&mut w, field, key, item, depth)?;
            }
        } else {
            encode_value(&mut w, field, key, value, depth)?;
        }
    }
    Ok(w)
}

/// Encodes one value (one element of a repeated field) of `field`. Zero scalars are not
/// written (proto3); messages are written when present, even empty (a Go pointer).
fn encode_value(
    w: &mut Writer,
    field: &Field,
    key: &str,
    value: &Value,
    depth: usize,
) -> Result<(), OneOfError> {
    let n = field.number;
    let int = |min: i64, max: i64| -> Result<i64, OneOfError> {
        let v = value
            .as_i64()
            .or_else(|| {
                value
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && (-I64_RANGE..I64_RANGE).contains(f))
                    .map(|f| f as i64)
            })
            .ok_or_else(|| invalid(key, "an integer"))?;
        if v < min || v > max {
            return Err(invalid(key, "an integer in range"));
        }
        Ok(v)
    };
    let uint = |max: u64| -> Result<u64, OneOfError> {
        let v = value
            .as_u64()
            .or_else(|| {
                value
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && (0.0..U64_RANGE).contains(f))
                    .map(|f| f as u64)
            })
            .ok_or_else(|| invalid(key, "a non-negative integer"))?;
        if v > max {
            return Err(invalid(key, "an integer in range"));
        }
        Ok(v)
    };
    let always = field.repeated;
    match field.kind {
        Kind::Bool => {
            let b = value.as_bool().ok_or_else(|| invalid(key, "a boolean"))?;
            if b || always {
                w.varint_field(n, u64::from(b));
            }
        }
        Kind::Int32 | Kind::Enum => {
            let v = int(i64::from(i32::MIN), i64::from(i32::MAX))?;
            if v != 0 || always {
                w.varint_field(n, v as u64);
            }
        }
        Kind::Int64 => {
            let v = int(i64::MIN, i64::MAX)?;
            if v != 0 || always {
                w.varint_field(n, v as u64);
            }
        }
        Kind::Uint32 => {
            let v = uint(u64::from(u32::MAX))?;
            if v != 0 || always {
                w.varint_field(n, v);
            }
        }
        Kind::Uint64 => {
            let v = uint(u64::MAX)?;
            if v != 0 || always {
                w.varint_field(n, v);
            }
        }
        Kind::Sint32 | Kind::Sint64 => {
            let v = if field.kind == Kind::Sint32 {
                int(i64::from(i32::MIN), i64::from(i32::MAX))?
            } else {
                int(i64::MIN, i64::MAX)?
            };
            if v != 0 || always {
                w.varint_field(n, ((v << 1) ^ (v >> 63)) as u64);
            }
        }
        Kind::Fixed32 | Kind::Sfixed32 => {
            let v = if field.kind == Kind::Fixed32 {
                uint(u64::from(u32::MAX))? as u32
            } else {
                int(i64::from(i32::MIN), i64::from(i32::MAX))? as i32 as u32
            };
            if v != 0 || always {
                w.fixed32_field(n, v);
            }
        }
        Kind::Fixed64 | Kind::Sfixed64 => {
            let v = if field.kind == Kind::Fixed64 {
                uint(u64::MAX)?
            } else {
                int(i64::MIN, i64::MAX)? as u64
            };
            if v != 0 || always {
                w.fixed64_field(n, v);
            }
        }
        Kind::Float | Kind::Double => {
            let v = value.as_f64().ok_or_else(|| invalid(key, "a number"))?;
            if v != 0.0 || always {
                if field.kind == Kind::Float {
                    w.fixed32_field(n, (v as f32).to_bits());
                } else {
                    w.fixed64_field(n, v.to_bits());
                }
            }
        }
        Kind::String => {
            let s = value.as_str().ok_or_else(|| invalid(key, "a string"))?;
            if !s.is_empty() || always {
                w.bytes_field(n, s.as_bytes());
            }
        }
        Kind::Bytes => {
            let bytes = bytes_of(key, value)?;
            if !bytes.is_empty() || always {
                w.bytes_field(n, &bytes);
            }
        }
        Kind::Message { msg, .. } => {
            let object = value.as_object().ok_or_else(|| invalid(key, "an object"))?;
            let child = Msg::at(msg)?;
            let inner = encode_message(child, object, depth + 1)?;
            w.bytes_field(n, &inner.buf);
        }
        Kind::Embed { .. } => {}
        Kind::Time { .. } => {
            let text = value
                .as_str()
                .ok_or_else(|| invalid(key, "an RFC 3339 time"))?;
            let (seconds, nanos) =
                time::parse(text).ok_or_else(|| invalid(key, "an RFC 3339 time"))?;
            let mut ts = Writer::default();
            if seconds != 0 {
                ts.varint_field(1, seconds as u64);
            }
            if nanos != 0 {
                ts.varint_field(2, nanos as u64);
            }
            w.bytes_field(n, &ts.buf);
        }
        Kind::Struct { .. } => {
            let object = value.as_object().ok_or_else(|| invalid(key, "an object"))?;
            let mut tree = BTreeMap::new();
            for (k, v) in object {
                tree.insert(k.clone(), to_json(v, depth + 1)?);
            }
            w.bytes_field(n, &encode_struct(&tree));
        }
        Kind::Traits => {
            let object = value.as_object().ok_or_else(|| invalid(key, "an object"))?;
            let mut labels = Writer::default();
            for (k, v) in object {
                let mut list = Writer::default();
                if !v.is_null() {
                    let items = v
                        .as_array()
                        .ok_or_else(|| invalid(key, "an object of string lists"))?;
                    for item in items {
                        let s = item
                            .as_str()
                            .ok_or_else(|| invalid(key, "an object of string lists"))?;
                        list.bytes_field(1, s.as_bytes());
                    }
                }
                let mut entry = Writer::default();
                entry.bytes_field(1, k.as_bytes());
                entry.bytes_field(2, &list.buf);
                labels.bytes_field(1, &entry.buf);
            }
            w.bytes_field(n, &labels.buf);
        }
        Kind::U32Ptr | Kind::U64Ptr => {
            let v = if field.kind == Kind::U32Ptr {
                uint(u64::from(u32::MAX))?
            } else {
                uint(u64::MAX)?
            };
            let mut inner = Writer::default();
            if v != 0 {
                inner.varint_field(1, v);
            }
            w.bytes_field(n, &inner.buf);
        }
        Kind::StringMap => {
            let object = value
                .as_object()
                .ok_or_else(|| invalid(key, "an object of strings"))?;
            for (k, v) in object {
                let s = v
                    .as_str()
                    .ok_or_else(|| invalid(key, "an object of strings"))?;
                let mut entry = Writer::default();
                entry.bytes_field(1, k.as_bytes());
                entry.bytes_field(2, s.as_bytes());
                w.bytes_field(n, &entry.buf);
            }
        }
    }
    Ok(())
}

fn bytes_of(key: &str, value: &Value) -> Result<Vec<u8>, OneOfError> {
    let text = value
        .as_str()
        .ok_or_else(|| invalid(key, "a base64 string"))?;
    STANDARD
        .decode(text)
        .map_err(|_| invalid(key, "a base64 string"))
}

/// A JSON value as the tree `value::encode_struct` writes.
fn to_json(value: &Value, depth: usize) -> Result<Json, OneOfError> {
    if depth > MAX_DEPTH {
        return Err(OneOfError::TooDeep);
    }
    Ok(match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Json::String(s.clone()),
        Value::Array(items) => Json::List(
            items
                .iter()
                .map(|v| to_json(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut tree = BTreeMap::new();
            for (k, v) in o {
                tree.insert(k.clone(), to_json(v, depth + 1)?);
            }
            Json::Object(tree)
        }
    })
}
