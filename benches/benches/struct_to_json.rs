//! Struct bytes to JSON bytes: `teleport_audit_types::wire::struct_to_json` against the obvious
//! path (decode a `prost_types::Struct`, convert it to a `serde_json::Value`, `serde_json::to_vec`),
//! and the full `AuditEvent::from_struct_bytes` the client runs per event.
//!
//! The input is a page of 500 events, as the Auth Service sends them: the realistic fixtures of
//! `teleport-audit-types` (every event family), repeated, each encoded as a
//! `google.protobuf.Struct`. Results are written up in `docs/benchmarks.md`.
//!
//! Each benchmark runs twice: timed by the wall clock (criterion's default), and by the CPU time
//! of the benchmarking thread (`.../cpu`), which stays meaningful when other work shares the
//! machine's cores.

use std::hint::black_box;
use std::time::Duration;

use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter};
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

/// CPU time used by the benchmarking thread (`CLOCK_THREAD_CPUTIME_ID`), in nanoseconds.
struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = ThreadTime;
    type Value = Duration;

    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }
    fn end(&self, start: ThreadTime) -> Duration {
        start.elapsed()
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NanosFormatter
    }
}

/// Formats nanoseconds as criterion's wall-clock measurement does (time, bytes or elements/s).
struct NanosFormatter;

impl ValueFormatter for NanosFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            t if t < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        values.iter_mut().for_each(|value| *value *= factor);
        unit
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (amount, unit) = match *throughput {
            Throughput::Bytes(bytes) | Throughput::BytesDecimal(bytes) => {
                (bytes as f64 / (1024.0 * 1024.0), "MiB/s")
            }
            Throughput::Elements(count)
            | Throughput::ElementsAndBytes {
                elements: count, ..
            } => (count as f64, "elem/s"),
            Throughput::Bits(bits) => (bits as f64, "bit/s"),
        };
        values
            .iter_mut()
            .for_each(|nanos| *nanos = amount * 1e9 / *nanos);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn bench_wall_clock(c: &mut Criterion) {
    bench(c, "struct_to_json/page_of_500");
}

fn bench_cpu_time(c: &mut Criterion<ThreadCpuTime>) {
    bench(c, "struct_to_json/page_of_500/cpu");
}

fn bench<M: Measurement>(c: &mut Criterion<M>, group_name: &str) {
    let page = page();
    let input_bytes: usize = page.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group(group_name);
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

criterion_group!(wall_clock, bench_wall_clock);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench_cpu_time
}
criterion_main!(wall_clock, cpu_time);
