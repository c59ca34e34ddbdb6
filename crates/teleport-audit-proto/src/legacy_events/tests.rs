//! Unit and property tests of the conversions. The comparison with Teleport's own Go code is
//! `tests/oneof_golden.rs`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::table::{Kind, MESSAGES, Msg, VARIANTS};
use super::value::{self, struct_to_serde};
use super::wire;
use super::*;

/// The event types of session recordings (what the simulated cluster generates, and more).
const RECORDING_TYPES: &[&str] = &[
    "print",
    "session.start",
    "resize",
    "session.join",
    "session.leave",
    "session.end",
    "session.command",
    "session.disk",
    "session.network",
    "session.upload",
    "exec",
    "scp",
    "sftp",
    "port",
    "desktop.recording",
    "db.session.query",
    "app.session.chunk",
    "kube.request",
];

fn to_json(event: &Value) -> Value {
    let bytes = json_to_oneof(event.as_object().expect("an object")).expect("json_to_oneof");
    struct_to_serde(&oneof_to_struct(&bytes).expect("oneof_to_struct"))
}

#[test]
fn unknown_variant_and_bad_bytes_are_typed_errors() {
    // Field 999 (an event kind this build does not know), wire type 2, empty.
    assert_eq!(
        oneof_to_struct(&[0xba, 0x3e, 0x00]),
        Err(OneOfError::UnknownVariant(999))
    );
    assert_eq!(oneof_to_struct(&[]), Err(OneOfError::Empty));
    let print = json_to_oneof(
        json!({"event": "print", "ei": 3, "data": "aGVsbG8="})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    for cut in 1..print.len() {
        assert!(
            matches!(
                oneof_to_struct(&print[..cut]),
                Err(OneOfError::Malformed(Malformed::Truncated))
            ),
            "cut at {cut}"
        );
    }
    // SessionPrint (7) as a varint instead of a message.
    assert_eq!(
        oneof_to_struct(&[0x38, 0x01]),
        Err(OneOfError::Malformed(Malformed::FieldWireType))
    );
}

#[test]
fn print_carries_data_and_no_sid() {
    let got = to_json(&json!({
        "event": "print", "ei": 7, "time": "2023-11-14T22:13:20.5Z", "ci": 2, "bytes": 5,
        "ms": 1500, "offset": 10, "data": STANDARD.encode(b"ls\r\n\xff"),
    }));
    assert_eq!(
        got,
        json!({
            "event": "print", "ei": 7.0, "time": "2023-11-14T22:13:20.5Z", "ci": 2.0,
            "bytes": 5.0, "ms": 1500.0, "offset": 10.0, "data": "bHMNCv8=",
        })
    );
}

#[test]
fn json_to_oneof_refuses_what_it_cannot_carry() {
    let object = |v: Value| v.as_object().unwrap().clone();
    assert_eq!(
        json_to_oneof(&object(json!({"ei": 1}))),
        Err(OneOfError::MissingType)
    );
    assert_eq!(
        json_to_oneof(&object(json!({"event": "no.such.type"}))),
        Err(OneOfError::UnknownType("no.such.type".into()))
    );
    // A key the Go struct does not have (a newer Teleport's field) is left out, as Go does.
    let newer = object(json!({"event": "resize", "size": "80:25", "sid": "s", "user_kind": 1}));
    let back = struct_to_serde(&oneof_to_struct(&json_to_oneof(&newer).unwrap()).unwrap());
    assert_eq!(back["size"], "80:25");
    assert_eq!(back.get("user_kind"), None);
    assert!(matches!(
        json_to_oneof(&object(json!({"event": "resize", "ei": "seven"}))),
        Err(OneOfError::InvalidValue { .. })
    ));
    assert!(matches!(
        json_to_oneof(&object(json!({"event": "print", "data": "not base64!"}))),
        Err(OneOfError::InvalidValue { .. })
    ));
}

#[test]
fn every_known_type_has_a_variant() {
    for (event_type, variant) in known_types() {
        assert!(
            VARIANTS.iter().any(|v| v.name == variant),
            "{event_type}: no events.OneOf variant {variant}"
        );
        let bytes = json_to_oneof(json!({"event": event_type}).as_object().unwrap())
            .expect("the type alone encodes");
        let back = struct_to_serde(&oneof_to_struct(&bytes).expect("and decodes"));
        assert_eq!(back["event"], json!(event_type));
    }
}

/// A small deterministic generator, seeded by proptest.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn string(&mut self) -> String {
        const POOL: &[&str] = &[
            "",
            "alice",
            "node-1",
            "ls -la",
            "ü 日本 🎉",
            "quote \" back\\",
            "<b>&</b>",
            "line\nbreak",
            "\u{1}",
        ];
        POOL[self.below(POOL.len() as u64) as usize].to_string()
    }

    fn int(&mut self, min: i64, max: i64) -> Value {
        const SAFE: i64 = 1 << 53;
        let (min, max) = (min.max(-SAFE), max.min(SAFE));
        match self.below(4) {
            0 => json!(0),
            1 => json!(min),
            2 => json!(max),
            _ => json!(min + (self.next() % (max - min) as u64) as i64),
        }
    }

    fn scalar(&mut self, kind: Kind) -> Value {
        match kind {
            Kind::Bool => json!(self.below(2) == 0),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Enum => {
                self.int(i64::from(i32::MIN), i64::from(i32::MAX))
            }
            Kind::Uint32 | Kind::Fixed32 | Kind::U32Ptr => self.int(0, i64::from(u32::MAX)),
            Kind::Uint64 | Kind::Fixed64 | Kind::U64Ptr => self.int(0, i64::MAX),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => self.int(i64::MIN, i64::MAX),
            Kind::Float | Kind::Double => json!(0.5),
            Kind::String => json!(self.string()),
            Kind::Bytes => {
                let len = self.below(12) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
                json!(STANDARD.encode(bytes))
            }
            Kind::Time { .. } => {
                let seconds = time::MIN_SECONDS
                    + (self.next() % (time::MAX_SECONDS - time::MIN_SECONDS) as u64) as i64;
                let nanos = [0, 1, 120_000_000, 999_999_999][self.below(4) as usize];
                json!(time::format(seconds, nanos).unwrap())
            }
            Kind::Struct { .. } => {
                json!({"s": self.string(), "n": 1.5, "b": true, "z": null, "l": [1, "x"], "o": {"k": "v"}})
            }
            Kind::Traits => json!({"logins": ["root", self.string()], "teams": null}),
            Kind::StringMap => json!({"env": self.string(), "k2": "v2"}),
            Kind::Message { .. } | Kind::Embed { .. } => Value::Null,
        }
    }

    /// Random values for the fields of `msg`, flattening embedded structs into `out`.
    fn fields(&mut self, msg: &Msg, out: &mut Map<String, Value>, depth: usize) {
        for field in msg.fields {
            if field.json == "-" {
                continue;
            }
            let one = |g: &mut Gen| match field.kind {
                Kind::Message { msg, .. } if depth < 4 => {
                    let mut nested = Map::new();
                    g.fields(&MESSAGES[usize::from(msg)], &mut nested, depth + 1);
                    Some(Value::Object(nested))
                }
                Kind::Message { .. } => None,
                kind => Some(g.scalar(kind)),
            };
            if let Kind::Embed { msg } = field.kind {
                self.fields(&MESSAGES[usize::from(msg)], out, depth + 1);
            } else if field.repeated {
                let n = self.below(3);
                let items: Vec<Value> = (0..n).filter_map(|_| one(self)).collect();
                out.insert(field.json.to_string(), Value::Array(items));
            } else if let Some(value) = one(self) {
                out.insert(field.json.to_string(), value);
            }
        }
    }
}

/// Go leaves out (or writes as zero) what is zero; "equal modulo omitempty".
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || s == time::ZERO_TIME,
        Value::Array(items) => items.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().all(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => same(p, q),
                (Some(p), None) | (None, Some(p)) => is_zero(p),
                (None, None) => true,
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (x, y) if is_zero(x) && is_zero(y) => true,
        (x, y) => x == y,
    }
}

fn variant_msg(event_type: &str) -> &'static Msg {
    let (_, name) = known_types()
        .find(|(t, _)| *t == event_type)
        .expect("a known type");
    let variant = VARIANTS.iter().find(|v| v.name == name).expect("a variant");
    &MESSAGES[usize::from(variant.msg)]
}

proptest! {
    #[test]
    fn random_recording_events_round_trip(seed in 1u64.., which in 0..RECORDING_TYPES.len()) {
        let event_type = RECORDING_TYPES[which];
        let mut g = Gen(seed);
        let mut event = Map::new();
        g.fields(variant_msg(event_type), &mut event, 0);
        event.insert("event".into(), json!(event_type));
        if event_type == "print" {
            event.insert("data".into(), g.scalar(Kind::Bytes));
        }
        let input = Value::Object(event);
        let output = to_json(&input);
        prop_assert!(same(&input, &output), "{event_type}\n in: {input}\nout: {output}");
        // And the output is a fixed point.
        prop_assert_eq!(to_json(&output), output);
    }
}

#[test]
fn table_is_sorted_and_complete() {
    for (i, msg) in MESSAGES.iter().enumerate() {
        assert!(
            msg.fields.windows(2).all(|w| w[0].number < w[1].number),
            "message {i}"
        );
    }
    assert!(VARIANTS.windows(2).all(|w| w[0].number < w[1].number));
    // Teleport 14.2.3's OneOf has 136 variants.
    assert_eq!(VARIANTS.len(), 136);
}

proptest! {
    /// Any bytes: a result, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = oneof_to_struct(&bytes);
    }

    /// A valid event with bytes flipped, cut or inserted: a result, never a panic; and what
    /// decodes is a valid Struct.
    #[test]
    fn damaged_events_never_panic(
        seed in 1u64..,
        which in 0..RECORDING_TYPES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let event_type = RECORDING_TYPES[which];
        let mut g = Gen(seed);
        let mut event = Map::new();
        g.fields(variant_msg(event_type), &mut event, 0);
        event.insert("event".into(), json!(event_type));
        let mut bytes = json_to_oneof(&event).expect("encodes");
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = at % bytes.len();
            match op {
                0 => bytes[at] = byte,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, byte),
            }
        }
        if let Ok(encoded) = oneof_to_struct(&bytes) {
            prop_assert!(value::decode_struct(&encoded, 0, &mut value::Budget::for_input(encoded.len())).is_ok());
        }
    }
}

#[test]
fn many_empty_nested_messages_are_refused_not_amplified() {
    // OktaResourcesUpdate (OneOf field 122): its embedded OktaResourcesUpdatedMetadata (field 3)
    // with 100,000 empty `added_resources` (field 4) entries, two bytes each, each of which Go
    // writes as a whole object.
    let mut updated = Vec::new();
    for _ in 0..100_000 {
        updated.extend_from_slice(&[0x22, 0x00]);
    }
    let mut body = wire::Writer::default();
    body.bytes_field(3, &updated);
    let mut oneof = wire::Writer::default();
    oneof.bytes_field(122, &body.buf);
    assert_eq!(oneof_to_struct(&oneof.buf), Err(OneOfError::TooLarge));
    // A few of them are fine.
    let mut few = wire::Writer::default();
    few.bytes_field(3, &updated[..20]);
    let mut oneof = wire::Writer::default();
    oneof.bytes_field(122, &few.buf);
    let back = struct_to_serde(&oneof_to_struct(&oneof.buf).unwrap());
    assert_eq!(back["added_resources"].as_array().map(Vec::len), Some(10));
}
