//! Struct bytes to JSON bytes: `teleport_audit_types::wire::struct_to_json` against the obvious
//! path (decode a `prost_types::Struct`, convert it to a `serde_json::Value`, `serde_json::to_vec`),
//! and the full `AuditEvent::from_struct_bytes` the client runs per event.
//!
//! The input is a page of 500 events, as the Auth Service sends them: the realistic fixtures of
//! `teleport-audit-types` (every event family), repeated, each encoded as a
//! `google.protobuf.Struct`. Results are written up in `docs/benchmarks.md`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use prost_types::value::Kind;
use serde_json::{Map, Value};
use teleport_audit_types::AuditEvent;
use teleport_audit_types::wire::{json_to_struct, struct_to_json};

const FIXTURES: &str = include_str!("../../crates/teleport-audit-types/tests/data/events.ndjson");
const PAGE: usize = 500;

/// A page of `PAGE` encoded Structs built from the fixtures.
fn page() -> Vec<Vec<u8>> {
    let encoded: Vec<Vec<u8>> = FIXTURES
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| json_to_struct(line).unwrap_or_else(|e| panic!("fixture: {e}")))
        .collect();
    encoded.iter().cycle().take(PAGE).cloned().collect()
}

/// The obvious conversion, as one would write it with prost-types and serde_json.
fn prost_value_to_json(value: &prost_types::Value) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(flag)) => Value::Bool(*flag),
        Some(Kind::NumberValue(number)) => {
            serde_json::Number::from_f64(*number).map_or(Value::Null, Value::Number)
        }
        Some(Kind::StringValue(text)) => Value::String(text.clone()),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.iter().map(prost_value_to_json).collect())
        }
        Some(Kind::StructValue(object)) => Value::Object(prost_struct_to_json(object)),
    }
}

fn prost_struct_to_json(object: &prost_types::Struct) -> Map<String, Value> {
    object
        .fields
        .iter()
        .map(|(key, value)| (key.clone(), prost_value_to_json(value)))
        .collect()
}

fn bench(c: &mut Criterion) {
    let page = page();
    let input_bytes: usize = page.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("struct_to_json/page_of_500");
    group.throughput(Throughput::Bytes(input_bytes as u64));

    group.bench_function("wire::struct_to_json", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            for encoded in &page {
                out.clear();
                struct_to_json(black_box(encoded), &mut out).unwrap_or_else(|e| panic!("{e}"));
                black_box(&out);
            }
        });
    });

    group.bench_function("prost_types+serde_json::Value+to_vec", |b| {
        b.iter(|| {
            for encoded in &page {
                let decoded = prost_types::Struct::decode(black_box(encoded.as_slice()))
                    .unwrap_or_else(|e| panic!("{e}"));
                let value = Value::Object(prost_struct_to_json(&decoded));
                let out = serde_json::to_vec(&value).unwrap_or_else(|e| panic!("{e}"));
                black_box(out);
            }
        });
    });

    group.bench_function("AuditEvent::from_struct_bytes", |b| {
        b.iter(|| {
            for encoded in &page {
                let event = AuditEvent::from_struct_bytes(black_box(encoded))
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(event);
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
