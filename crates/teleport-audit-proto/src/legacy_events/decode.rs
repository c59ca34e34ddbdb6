//! `events.OneOf` bytes → the JSON of Teleport's `ToUnstructured`, as a tree ([`Json`]).
//!
//! What Go does, step by step, and where it is done here:
//! 1. gogo's generated `Unmarshal` reads the bytes into the event's Go struct: the last
//!    occurrence of a scalar wins, messages merge, unknown fields are skipped, a known field
//!    with the wrong wire type fails ([`scan`]);
//! 2. `encoding/json` writes the struct: the json tags from the table, `omitempty`, embedded
//!    structs flattened with Go's rules for duplicate names ([`collect`], [`resolve`]), Go's
//!    types behind gogoproto options ([`field_value`]);
//! 3. `structpb.Struct.UnmarshalJSON` makes every number a double ([`Json::Number`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::MAX_DEPTH;
use super::error::{Malformed, OneOfError};
use super::table::{Field, Kind, Msg, VARIANTS, Variant};
use super::time;
use super::value::{Budget, Json, decode_struct, go_string};
use super::wire::{Fields, Raw, WireType, unpack};

/// The variant whose extra `data` key `ToUnstructured` adds.
pub(crate) const PRINT_VARIANT: &str = "SessionPrint";

/// Decodes an `events.OneOf`: its variant and the event's JSON object.
pub(crate) fn decode_oneof(
    bytes: &[u8],
) -> Result<(&'static Variant, BTreeMap<String, Json>), OneOfError> {
    // gogo: each variant field replaces the event (no merge); unknown fields are skipped.
    let mut chosen = None;
    let mut unknown = None;
    let mut fields = Fields::new(bytes);
    while let Some((number, raw)) = fields.next_field()? {
        match VARIANTS.binary_search_by_key(&number, |v| v.number) {
            Ok(i) => {
                let Raw::Len(body) = raw else {
                    return Err(OneOfError::Malformed(Malformed::FieldWireType));
                };
                chosen = VARIANTS.get(i).map(|v| (v, body));
            }
            Err(_) => unknown = Some(number),
        }
    }
    let Some((variant, body)) = chosen else {
        return Err(unknown.map_or(OneOfError::Empty, OneOfError::UnknownVariant));
    };
    let msg = Msg::at(variant.msg)?;
    let mut budget = Budget::for_input(bytes.len());
    let mut object = object(msg, &[body], 1, &mut budget)?;
    if variant.name == PRINT_VARIANT {
        // `ToUnstructured` adds the raw bytes (`Data`, `json:"-"`) as standard base64.
        let data = hidden_bytes(msg, body)?;
        object.insert("data".to_string(), Json::String(STANDARD.encode(data)));
    }
    Ok((variant, object))
}

/// The last value of the message's `json:"-"` bytes field (`SessionPrint.Data`).
fn hidden_bytes<'a>(msg: &Msg, body: &'a [u8]) -> Result<&'a [u8], OneOfError> {
    let Some(field) = msg
        .fields
        .iter()
        .find(|f| f.json == "-" && f.kind == Kind::Bytes)
    else {
        return Ok(&[]);
    };
    let mut data: &[u8] = &[];
    let mut fields = Fields::new(body);
    while let Some((number, raw)) = fields.next_field()? {
        if let (true, Raw::Len(bytes)) = (number == field.number, raw) {
            data = bytes;
        }
    }
    Ok(data)
}

/// One JSON key a struct (with its embedded structs) can write, before Go's duplicate rules.
struct Entry {
    name: &'static str,
    /// How many embedded structs deep the field is (0: the struct's own field).
    level: usize,
    tagged: bool,
    /// `None`: left out by `omitempty` (the key still takes part in the duplicate rules,
    /// which Go applies to the type, not the value).
    value: Option<Json>,
}

/// The JSON object of a message whose encoding is the concatenation of `segments` (protobuf
/// merges repeated occurrences of a message field).
fn object(
    msg: &Msg,
    segments: &[&[u8]],
    depth: usize,
    budget: &mut Budget,
) -> Result<BTreeMap<String, Json>, OneOfError> {
    let mut entries = Vec::new();
    collect(msg, segments, 0, depth, &mut entries, budget)?;
    Ok(resolve(entries))
}

/// Go's `dominantField`: of the fields with one name, the shallowest wins; at equal depth a
/// tagged field beats an untagged one; otherwise (a tie) the name is dropped altogether.
fn resolve(mut entries: Vec<Entry>) -> BTreeMap<String, Json> {
    entries.sort_by(|a, b| (a.name, a.level, !a.tagged).cmp(&(b.name, b.level, !b.tagged)));
    let mut out = BTreeMap::new();
    let mut rest = entries.into_iter().peekable();
    while let Some(first) = rest.next() {
        let mut tie = false;
        while let Some(next) = rest.peek() {
            if next.name != first.name {
                break;
            }
            if next.level == first.level && next.tagged == first.tagged {
                tie = true;
            }
            rest.next();
        }
        if let (false, Some(value)) = (tie, first.value) {
            out.insert(first.name.to_string(), value);
        }
    }
    out
}

/// Every occurrence of each field of `msg`, in wire order, after checking wire types.
fn scan<'a>(msg: &Msg, segments: &[&'a [u8]]) -> Result<Vec<Vec<Raw<'a>>>, OneOfError> {
    let mut slots: Vec<Vec<Raw<'a>>> = vec![Vec::new(); msg.fields.len()];
    for segment in segments {
        let mut fields = Fields::new(segment);
        while let Some((number, raw)) = fields.next_field()? {
            let Ok(i) = msg.fields.binary_search_by_key(&number, |f| f.number) else {
                continue;
            };
            let (Some(field), Some(slot)) = (msg.fields.get(i), slots.get_mut(i)) else {
                continue;
            };
            let wire = raw.wire_type();
            let expected = wire_type_of(field.kind);
            let packed = field.repeated && wire == WireType::Len && expected != WireType::Len;
            if wire != expected && !packed {
                return Err(OneOfError::Malformed(Malformed::FieldWireType));
            }
            slot.push(raw);
        }
    }
    Ok(slots)
}

fn wire_type_of(kind: Kind) -> WireType {
    match kind {
        Kind::Bool
        | Kind::Int32
        | Kind::Int64
        | Kind::Uint32
        | Kind::Uint64
        | Kind::Sint32
        | Kind::Sint64
        | Kind::Enum => WireType::Varint,
        Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => WireType::Fixed64,
        Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => WireType::Fixed32,
        _ => WireType::Len,
    }
}

/// Adds the entries of `msg` (and of its embedded structs, one level deeper) to `entries`.
fn collect(
    msg: &Msg,
    segments: &[&[u8]],
    level: usize,
    depth: usize,
    entries: &mut Vec<Entry>,
    budget: &mut Budget,
) -> Result<(), OneOfError> {
    if depth > MAX_DEPTH {
        return Err(OneOfError::TooDeep);
    }
    let slots = scan(msg, segments)?;
    for (field, raws) in msg.fields.iter().zip(&slots) {
        if field.json == "-" {
            continue;
        }
        if let Kind::Embed { msg: child } = field.kind {
            let child_segments: Vec<&[u8]> = raws.iter().filter_map(len_bytes).collect();
            collect(
                Msg::at(child)?,
                &child_segments,
                level + 1,
                depth + 1,
                entries,
                budget,
            )?;
            continue;
        }
        budget.spend()?;
        entries.push(Entry {
            name: field.json,
            level,
            tagged: field.tagged,
            value: field_value(field, raws, depth, budget)?,
        });
    }
    Ok(())
}

fn len_bytes<'a>(raw: &Raw<'a>) -> Option<&'a [u8]> {
    match raw {
        Raw::Len(bytes) => Some(bytes),
        _ => None,
    }
}

/// What Go writes for a nil pointer, slice or map: nothing under `omitempty`, else `null`.
fn nil(field: &Field) -> Option<Json> {
    (!field.omit_empty).then_some(Json::Null)
}

/// A value that `omitempty` leaves out when it is empty.
fn unless_empty(field: &Field, empty: bool, value: Json) -> Option<Json> {
    (!(field.omit_empty && empty)).then_some(value)
}

/// The JSON of one (non-embedded) field from its occurrences on the wire.
fn field_value(
    field: &Field,
    raws: &[Raw<'_>],
    depth: usize,
    budget: &mut Budget,
) -> Result<Option<Json>, OneOfError> {
    if field.repeated {
        let mut items = Vec::new();
        for raw in raws {
            match (raw, wire_type_of(field.kind)) {
                (Raw::Len(packed), wire) if wire != WireType::Len => {
                    for item in unpack(packed, wire) {
                        items.push(single(field.kind, &item?, depth, budget)?);
                    }
                }
                _ => items.push(single(field.kind, raw, depth, budget)?),
            }
        }
        // gogo leaves a slice with no elements nil.
        return Ok(if items.is_empty() {
            nil(field)
        } else {
            Some(Json::List(items))
        });
    }
    let last = raws.last();
    Ok(match field.kind {
        Kind::Message { msg, nullable } => {
            let segments: Vec<&[u8]> = raws.iter().filter_map(len_bytes).collect();
            if segments.is_empty() && nullable {
                nil(field)
            } else {
                // A struct value is never empty for omitempty.
                Some(Json::Object(object(
                    Msg::at(msg)?,
                    &segments,
                    depth + 1,
                    budget,
                )?))
            }
        }
        Kind::Embed { .. } => None,
        Kind::Time { nullable } => match last {
            Some(raw) => Some(timestamp(raw)?),
            None if nullable => nil(field),
            None => Some(Json::String(time::ZERO_TIME.to_string())),
        },
        Kind::Struct { nullable } => {
            let segments: Vec<&[u8]> = raws.iter().filter_map(len_bytes).collect();
            if segments.is_empty() && nullable {
                nil(field)
            } else {
                Some(decode_struct(&concat(&segments), depth + 1, budget)?)
            }
        }
        Kind::Traits => {
            // `Traits.Unmarshal` replaces the map, unless the occurrence has no entries.
            let mut traits = None;
            for raw in raws {
                let map = label_values(len_bytes(raw).unwrap_or_default(), budget)?;
                if !map.is_empty() {
                    traits = Some(map);
                }
            }
            match traits {
                Some(map) => Some(Json::Object(map)),
                None => nil(field),
            }
        }
        Kind::U32Ptr | Kind::U64Ptr => match last {
            Some(raw) => Some(wrapped_number(field.kind, raw)?),
            None => nil(field),
        },
        Kind::StringMap => {
            let mut map = BTreeMap::new();
            for raw in raws {
                budget.spend()?;
                let (key, value) = string_entry(len_bytes(raw).unwrap_or_default())?;
                map.insert(key, Json::String(value));
            }
            if map.is_empty() {
                nil(field)
            } else {
                Some(Json::Object(map))
            }
        }
        Kind::Bytes => match last {
            // gogo makes a present field a non-nil (possibly empty) slice.
            Some(raw) => {
                let bytes = len_bytes(raw).unwrap_or_default();
                unless_empty(
                    field,
                    bytes.is_empty(),
                    Json::String(STANDARD.encode(bytes)),
                )
            }
            None => nil(field),
        },
        Kind::String => {
            let text = last.and_then(len_bytes).map(go_string).unwrap_or_default();
            unless_empty(field, text.is_empty(), Json::String(text))
        }
        Kind::Bool => {
            let b = matches!(last, Some(Raw::Varint(v)) if *v != 0);
            unless_empty(field, !b, Json::Bool(b))
        }
        _ => {
            let value = match last {
                Some(raw) => scalar(field.kind, raw)?,
                None => 0.0,
            };
            unless_empty(field, value == 0.0, Json::Number(value))
        }
    })
}

/// One element of a repeated field.
fn single(
    kind: Kind,
    raw: &Raw<'_>,
    depth: usize,
    budget: &mut Budget,
) -> Result<Json, OneOfError> {
    budget.spend()?;
    Ok(match kind {
        Kind::Message { msg, .. } => Json::Object(object(
            Msg::at(msg)?,
            &[len_bytes(raw).unwrap_or_default()],
            depth + 1,
            budget,
        )?),
        Kind::String => Json::String(go_string(len_bytes(raw).unwrap_or_default())),
        Kind::Bytes => Json::String(STANDARD.encode(len_bytes(raw).unwrap_or_default())),
        Kind::Bool => Json::Bool(matches!(raw, Raw::Varint(v) if *v != 0)),
        _ => Json::Number(scalar(kind, raw)?),
    })
}

/// A number as Go holds it, then as a double (what `structpb` keeps of Go's JSON).
fn scalar(kind: Kind, raw: &Raw<'_>) -> Result<f64, OneOfError> {
    let value = match (*raw, kind) {
        (Raw::Varint(v), Kind::Int32 | Kind::Enum) => f64::from(v as i32),
        (Raw::Varint(v), Kind::Int64) => v as i64 as f64,
        (Raw::Varint(v), Kind::Uint32) => f64::from(v as u32),
        (Raw::Varint(v), Kind::Uint64) => v as f64,
        (Raw::Varint(v), Kind::Sint32) => {
            let v = v as u32;
            f64::from(((v >> 1) as i32) ^ -((v & 1) as i32))
        }
        (Raw::Varint(v), Kind::Sint64) => (((v >> 1) as i64) ^ -((v & 1) as i64)) as f64,
        (Raw::Fixed32(v), Kind::Fixed32) => f64::from(v),
        (Raw::Fixed32(v), Kind::Sfixed32) => f64::from(v as i32),
        (Raw::Fixed32(v), Kind::Float) => {
            let f = f32::from_bits(v);
            // Go writes a float32 with float32 precision; the text is then read as a double.
            f.to_string().parse::<f64>().unwrap_or(f64::NAN)
        }
        (Raw::Fixed64(v), Kind::Fixed64) => v as f64,
        (Raw::Fixed64(v), Kind::Sfixed64) => v as i64 as f64,
        (Raw::Fixed64(v), Kind::Double) => f64::from_bits(v),
        _ => return Err(OneOfError::Malformed(Malformed::FieldWireType)),
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(OneOfError::Unrepresentable(
            "a number that is NaN or infinite",
        ))
    }
}

fn concat<'a>(segments: &[&'a [u8]]) -> Cow<'a, [u8]> {
    match segments {
        [] => Cow::Borrowed(&[]),
        [one] => Cow::Borrowed(one),
        many => Cow::Owned(many.concat()),
    }
}

/// A `google.protobuf.Timestamp` (last `seconds` and `nanos` win) as Go's `time.Time` JSON.
fn timestamp(raw: &Raw<'_>) -> Result<Json, OneOfError> {
    let mut seconds = 0i64;
    let mut nanos = 0i32;
    let mut fields = Fields::new(len_bytes(raw).unwrap_or_default());
    while let Some((number, raw)) = fields.next_field()? {
        match (number, raw) {
            (1, Raw::Varint(v)) => seconds = v as i64,
            (2, Raw::Varint(v)) => nanos = v as i32,
            (1 | 2, _) => return Err(OneOfError::Malformed(Malformed::FieldWireType)),
            _ => {}
        }
    }
    Ok(Json::String(time::format(seconds, nanos)?))
}

/// A `google.protobuf.UInt32Value` / `UInt64Value` (`wktpointer`: a Go `*uint32`).
fn wrapped_number(kind: Kind, raw: &Raw<'_>) -> Result<Json, OneOfError> {
    let mut value = 0u64;
    let mut fields = Fields::new(len_bytes(raw).unwrap_or_default());
    while let Some((number, raw)) = fields.next_field()? {
        match (number, raw) {
            (1, Raw::Varint(v)) => value = v,
            (1, _) => return Err(OneOfError::Malformed(Malformed::FieldWireType)),
            _ => {}
        }
    }
    Ok(Json::Number(if kind == Kind::U32Ptr {
        f64::from(value as u32)
    } else {
        value as f64
    }))
}

/// A `map<string, string>` entry (a missing key or value is `""`).
fn string_entry(bytes: &[u8]) -> Result<(String, String), OneOfError> {
    let mut key: &[u8] = &[];
    let mut value: &[u8] = &[];
    let mut fields = Fields::new(bytes);
    while let Some((number, raw)) = fields.next_field()? {
        match (number, raw) {
            (1, Raw::Len(b)) => key = b,
            (2, Raw::Len(b)) => value = b,
            (1 | 2, _) => return Err(OneOfError::Malformed(Malformed::FieldWireType)),
            _ => {}
        }
    }
    Ok((go_string(key), go_string(value)))
}

/// A `wrappers.LabelValues` as Go's `wrappers.Traits` (`map[string][]string`): a key whose list
/// is empty holds a nil slice, written `null`.
fn label_values(bytes: &[u8], budget: &mut Budget) -> Result<BTreeMap<String, Json>, OneOfError> {
    let mut map = BTreeMap::new();
    let mut fields = Fields::new(bytes);
    while let Some((number, raw)) = fields.next_field()? {
        let entry = match (number, raw) {
            (1, Raw::Len(entry)) => entry,
            (1, _) => return Err(OneOfError::Malformed(Malformed::FieldWireType)),
            _ => continue,
        };
        let mut key: &[u8] = &[];
        let mut values = Vec::new();
        let mut entry_fields = Fields::new(entry);
        while let Some((n, raw)) = entry_fields.next_field()? {
            match (n, raw) {
                (1, Raw::Len(b)) => key = b,
                (2, Raw::Len(list)) => {
                    // Each value message replaces the previous one.
                    values.clear();
                    let mut list_fields = Fields::new(list);
                    while let Some((m, raw)) = list_fields.next_field()? {
                        match (m, raw) {
                            (1, Raw::Len(s)) => {
                                budget.spend()?;
                                values.push(Json::String(go_string(s)));
                            }
                            (1, _) => return Err(OneOfError::Malformed(Malformed::FieldWireType)),
                            _ => {}
                        }
                    }
                }
                (1 | 2, _) => return Err(OneOfError::Malformed(Malformed::FieldWireType)),
                _ => {}
            }
        }
        budget.spend()?;
        let value = if values.is_empty() {
            Json::Null
        } else {
            Json::List(values)
        };
        map.insert(go_string(key), value);
    }
    Ok(map)
}
