//! Property tests: the Struct-to-JSON transcoder (`wire::struct_to_json` and
//! `AuditEvent::from_struct_bytes`) writes, byte for byte, what a plain reference conversion
//! writes: prost decodes the Struct into `prost_types` values, and a deliberately simple writer
//! (no tables, no word-at-a-time scans, `format!` for numbers) prints them as Go's
//! `encoding/json` would: keys sorted by bytes, `"`, `\` and control characters escaped, numbers
//! in Go's float64 form. The inputs are random Structs: nested lists and objects, every kind of
//! number (including -0, the limits of the exponent-free range, integers past 2^53, subnormals),
//! unicode, control characters, long strings, empty strings and objects, entries in random order
//! with repeated keys (the last one wins), NaN and infinities (refused, as before); and the same
//! Structs in encodings that protobuf allows but encoders rarely write (see [`Unusual`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use proptest::prelude::*;
use prost::Message;
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};
use teleport_audit_types::wire::struct_to_json;
use teleport_audit_types::{AuditEvent, WireError};

// ---------------------------------------------------------------------------------------------
// The reference conversion.

/// Go's `encoding/json` form of a finite float64: the shortest digits that read back the same
/// (an exact tie between two shortest candidates goes to the even digit, as ryu, which the
/// transcoder has always used, does; Rust's own `{}` rounds such a tie up: 773577449224713.25 is
/// `...713.2` from ryu, `...713.3` from `{}`), without an exponent when zero or within
/// [1e-6, 1e21), else `d.ddde±x`. The digits come from ryu; the layout is done here, by the
/// plainest code (the transcoder's own layout code is not used).
fn reference_number(value: f64) -> String {
    let shortest = ryu::Buffer::new().format_finite(value.abs()).to_owned();
    let (mantissa, exponent) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exponent: i32 = exponent
        .parse()
        .unwrap_or_else(|e| panic!("{shortest}: {e}"));
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{integer}{fraction}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    // value = 0.DIGITS * 10^point
    let point =
        i32::try_from(integer.len()).unwrap_or(0) + exponent - i32::try_from(leading).unwrap_or(0);
    let sign = if value.is_sign_negative() { "-" } else { "" };
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let e = point - 1;
        let e_sign = if e < 0 { '-' } else { '+' };
        format!("{sign}{first}{rest}e{e_sign}{}", e.abs())
    } else if magnitude == 0.0 {
        format!("{sign}0")
    } else if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        )
    } else {
        let point = point.unsigned_abs() as usize;
        if point >= digits.len() {
            format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
        }
    }
}

fn reference_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Why the reference refuses a Struct (what the transcoder must refuse too).
#[derive(Debug)]
struct NonFinite;

fn reference_value(value: &Value, out: &mut String) -> Result<(), NonFinite> {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => out.push_str("null"),
        Some(Kind::BoolValue(flag)) => out.push_str(if *flag { "true" } else { "false" }),
        Some(Kind::NumberValue(number)) if number.is_finite() => {
            out.push_str(&reference_number(*number));
        }
        Some(Kind::NumberValue(_)) => return Err(NonFinite),
        Some(Kind::StringValue(text)) => reference_string(text, out),
        Some(Kind::ListValue(list)) => {
            out.push('[');
            for (index, item) in list.values.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                reference_value(item, out)?;
            }
            out.push(']');
        }
        Some(Kind::StructValue(object)) => reference_object(&object.fields, out)?,
    }
    Ok(())
}

/// `fields` is a `BTreeMap<String, _>`: its order is the keys' byte order, Go's order.
fn reference_object(fields: &BTreeMap<String, Value>, out: &mut String) -> Result<(), NonFinite> {
    out.push('{');
    for (index, (key, value)) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        reference_string(key, out);
        out.push(':');
        reference_value(value, out)?;
    }
    out.push('}');
    Ok(())
}

/// The reference JSON of encoded Struct bytes (prost decodes; repeated keys: the last wins).
fn reference(encoded: &[u8]) -> Result<String, NonFinite> {
    let decoded = Struct::decode(encoded).unwrap_or_else(|e| panic!("prost refused: {e}"));
    let mut out = String::new();
    reference_object(&decoded.fields, &mut out)?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Random Structs.

fn value(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        2 => any::<i64>().prop_map(|n| n as f64),
        2 => (-100_000i32..100_000).prop_map(f64::from),
        1 => prop::sample::select(vec![
            0.0,
            -0.0,
            1e21,
            -1e21,
            1e21 - 65536.0,
            1e-6,
            f64::from_bits(1e-6f64.to_bits() - 1), // just below 1e-6
            9_007_199_254_740_992.0,
            9_007_199_254_740_993.0,
            1_152_921_504_606_846_976.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            0.1,
            4_294_968_064.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]),
        1 => (any::<u32>(), -30i32..30).prop_map(|(m, e)| f64::from(m) * 10f64.powi(e)),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9_.:/-]{0,24}",
        2 => any::<String>(),
        2 => "[\\u{0}-\\u{1f}\"\\\\a-z \\u{7f}]{0,24}",
        1 => "[ -~\\u{0}-\\u{1f}éß✓日本\\u{2028}\\u{10ffff}]{0,40}",
        1 => ("[ -~]{0,8}", 200usize..3000, "[\\n\"\\\\é]")
            .prop_map(|(head, len, tail)| format!("{head}{}{tail}", "x".repeat(len))),
        1 => Just(String::new()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_.]{1,12}",
        // Keys that share their first 8 bytes (or differ only by zero bytes after a short
        // key), often repeated: the decoder orders those by their bytes after a first sort.
        2 => "(server_|kubernetes_|abcdefgh)[a-c\\u{0}]{0,3}|abc\\u{0}{0,2}",
        1 => prop::sample::select(vec![
            "event", "time", "code", "uid", "user", "ei", "success", "user_kind", "sid",
            "addr.remote", "message", "error", "",
        ])
        .prop_map(str::to_owned),
        1 => text(),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value { kind: None }),
        1 => Just(value(Kind::NullValue(0))),
        1 => any::<bool>().prop_map(|flag| value(Kind::BoolValue(flag))),
        3 => number().prop_map(|n| value(Kind::NumberValue(n))),
        4 => text().prop_map(|s| value(Kind::StringValue(s))),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8)
                .prop_map(|values| value(Kind::ListValue(ListValue { values }))),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|fields| value(Kind::StructValue(Struct { fields }))),
        ]
    })
}

/// A timestamp string, sometimes not one (then `from_struct_bytes` must refuse the event).
fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u32..60, 0u32..1_000_000_000)
            .prop_map(|(s, nanos)| format!("2025-12-02T07:14:{s:02}.{nanos:09}Z")),
        1 => text(),
    ]
}

/// Top-level entries in wire order (keys may repeat: the last one wins), sometimes with the
/// `event` and `time` an `AuditEvent` needs.
fn entries() -> impl Strategy<Value = Vec<(String, Value)>> {
    (
        prop::collection::vec((key(), any_value()), 0..24),
        prop::option::of(("[a-z.]{1,20}", time_text())),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut entries, event, at)| {
            if let Some((event_type, time)) = event {
                let i = at.index(entries.len() + 1);
                entries.insert(i, ("event".into(), value(Kind::StringValue(event_type))));
                entries.push(("time".into(), value(Kind::StringValue(time))));
            }
            entries
        })
}

/// The Struct holding `entries` in this order: each single-entry Struct's encoding is one
/// `fields` entry, and a Struct's encoding is the concatenation of its entries.
fn encode(entries: &[(String, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in entries {
        let one = Struct {
            fields: BTreeMap::from([(key.clone(), value.clone())]),
        };
        one.encode(&mut out)
            .unwrap_or_else(|e| panic!("encoding: {e}"));
    }
    out
}

/// Re-encodes a Struct in the ways protobuf allows but encoders rarely use, chosen by `seed`:
/// lengths and keys as non-minimal varints, an entry's value before its key, unknown fields,
/// a Value whose kind is set twice (the last wins), a nested Struct or list split in two
/// occurrences (merged). The transcoder has quick paths for the usual encoding; these take the
/// general ones, and must give the same text.
struct Unusual {
    seed: u64,
}

impl Unusual {
    fn coin(&mut self) -> bool {
        // xorshift64
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed.is_multiple_of(4)
    }

    fn varint(&mut self, mut value: u64, out: &mut Vec<u8>) {
        let padded = self.coin();
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        if padded {
            out.push((value as u8) | 0x80);
            out.push(0);
        } else {
            out.push(value as u8);
        }
    }

    fn bytes_field(&mut self, field: u64, bytes: &[u8], out: &mut Vec<u8>) {
        self.varint(field << 3 | 2, out);
        self.varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    fn unknown(&mut self, out: &mut Vec<u8>) {
        if self.coin() {
            self.varint(9 << 3, out); // field 9, varint
            self.varint(300, out);
        }
    }

    fn encode_struct(&mut self, object: &Struct) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in &object.fields {
            let value = self.encode_value(value);
            let mut entry = Vec::new();
            self.unknown(&mut entry);
            if self.coin() {
                self.bytes_field(2, &value, &mut entry);
                self.bytes_field(1, key.as_bytes(), &mut entry);
            } else {
                self.bytes_field(1, key.as_bytes(), &mut entry);
                self.bytes_field(2, &value, &mut entry);
            }
            self.bytes_field(1, &entry, &mut out);
            self.unknown(&mut out);
        }
        out
    }

    fn encode_list(&mut self, list: &ListValue) -> Vec<u8> {
        let mut out = Vec::new();
        for value in &list.values {
            let value = self.encode_value(value);
            self.bytes_field(1, &value, &mut out);
            self.unknown(&mut out);
        }
        out
    }

    fn encode_value(&mut self, value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        if value.kind.is_some() && self.coin() {
            // A kind set first and overridden by the real one.
            self.varint(4 << 3, &mut out);
            self.varint(1, &mut out);
        }
        self.unknown(&mut out);
        match &value.kind {
            None => {}
            Some(Kind::NullValue(_)) => {
                self.varint(1 << 3, &mut out);
                self.varint(0, &mut out);
            }
            Some(Kind::NumberValue(number)) => {
                self.varint(2 << 3 | 1, &mut out);
                out.extend_from_slice(&number.to_le_bytes());
            }
            Some(Kind::StringValue(text)) => self.bytes_field(3, text.as_bytes(), &mut out),
            Some(Kind::BoolValue(flag)) => {
                self.varint(4 << 3, &mut out);
                self.varint(u64::from(*flag), &mut out);
            }
            Some(Kind::StructValue(object)) => {
                let encoded = self.encode_struct(object);
                let cut = if self.coin() { encoded.len() / 2 } else { 0 };
                // Split only between entries: re-encode the two halves of the map instead.
                if cut > 0 && object.fields.len() > 1 {
                    let half = object.fields.len() / 2;
                    let first = Struct {
                        fields: object
                            .fields
                            .iter()
                            .take(half)
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    };
                    let second = Struct {
                        fields: object
                            .fields
                            .iter()
                            .skip(half)
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    };
                    let first = self.encode_struct(&first);
                    let second = self.encode_struct(&second);
                    self.bytes_field(5, &first, &mut out);
                    self.bytes_field(5, &second, &mut out);
                } else {
                    self.bytes_field(5, &encoded, &mut out);
                }
            }
            Some(Kind::ListValue(list)) => {
                let encoded = self.encode_list(list);
                self.bytes_field(6, &encoded, &mut out);
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn struct_to_json_writes_what_the_reference_writes(entries in entries()) {
        let encoded = encode(&entries);
        let mut out = b"prefix:".to_vec();
        let ours = struct_to_json(&encoded, &mut out);
        match reference(&encoded) {
            Ok(expected) => {
                prop_assert!(ours.is_ok(), "{:?}", ours);
                let written = String::from_utf8_lossy(&out[7..]);
                prop_assert_eq!(written.as_ref(), expected.as_str());
                prop_assert!(out.starts_with(b"prefix:"));
            }
            Err(NonFinite) => {
                prop_assert!(matches!(ours, Err(WireError::NonFiniteNumber { .. })), "{:?}", ours);
                prop_assert_eq!(out.as_slice(), b"prefix:".as_slice());
            }
        }
    }

    #[test]
    fn unusual_encodings_give_the_same_text(entries in entries(), seed in 1u64..) {
        let usual = encode(&entries);
        let decoded = Struct::decode(usual.as_slice()).unwrap_or_else(|e| panic!("prost: {e}"));
        let unusual = Unusual { seed }.encode_struct(&decoded);
        // prost reads the unusual encoding as the same Struct (compared re-encoded: NaN != NaN).
        let reread = Struct::decode(unusual.as_slice()).unwrap_or_default();
        prop_assert_eq!(reread.encode_to_vec(), decoded.encode_to_vec());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let from_usual = struct_to_json(&usual, &mut a).map_err(|e| e.to_string());
        let from_unusual = struct_to_json(&unusual, &mut b).map_err(|e| e.to_string());
        prop_assert_eq!(from_usual.is_ok(), from_unusual.is_ok(), "{:?} / {:?}", from_usual, from_unusual);
        prop_assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
        if let Ok(expected) = reference(&usual) {
            prop_assert_eq!(String::from_utf8_lossy(&b), expected.as_str());
        }
    }

    #[test]
    fn from_struct_bytes_keeps_the_reference_text(entries in entries()) {
        let encoded = encode(&entries);
        let event = AuditEvent::from_struct_bytes(&encoded);
        match reference(&encoded) {
            Ok(expected) => {
                // The event is refused exactly when its JSON text is.
                let from_text = AuditEvent::from_json(&expected);
                match (&event, &from_text) {
                    (Ok(event), Ok(from_text)) => {
                        prop_assert_eq!(event.as_json(), expected.as_str());
                        prop_assert_eq!(event, from_text);
                    }
                    (Err(a), Err(b)) => prop_assert_eq!(a.code(), b.code()),
                    _ => prop_assert!(false, "wire: {:?}, text: {:?}", event.as_ref().err(), from_text.err()),
                }
            }
            Err(NonFinite) => prop_assert!(event.is_err()),
        }
    }

    #[test]
    fn one_string_value_of_any_content(content in prop_oneof![
        any::<String>(),
        "[\\u{0}-\\u{7f}]{0,300}",
        prop::collection::vec(prop::sample::select(vec!['a', '"', '\\', '\n', '\u{1}', '\u{1f}', 'é', '✓', '🎉', '\u{7f}', ' ']), 0..200)
            .prop_map(|chars| chars.into_iter().collect::<String>()),
    ]) {
        let entries = vec![("s".to_owned(), value(Kind::StringValue(content)))];
        let encoded = encode(&entries);
        let mut out = Vec::new();
        prop_assert!(struct_to_json(&encoded, &mut out).is_ok());
        let expected = reference(&encoded).unwrap_or_default();
        prop_assert_eq!(String::from_utf8_lossy(&out), expected.as_str());
    }
}

#[test]
fn the_reference_itself_writes_go_forms() {
    // Spot checks of the oracle against Go's output, so the property tests check the right thing.
    let cases: [(f64, &str); 13] = [
        (0.0, "0"),
        (-0.0, "-0"),
        (200.0, "200"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (1_152_921_504_606_846_976.0, "1152921504606847000"),
        (f64::MAX, "1.7976931348623157e+308"),
        (773_577_449_224_713.0 + 0.25, "773577449224713.2"),
        (-5e-324, "-5e-324"),
        (123.456, "123.456"),
    ];
    for (number, go) in cases {
        assert_eq!(reference_number(number), go, "{number:?}");
    }
    let mut out = String::new();
    reference_string("a\"\\\n\u{1}é<", &mut out);
    assert_eq!(out, "\"a\\\"\\\\\\n\\u0001é<\"");
}
