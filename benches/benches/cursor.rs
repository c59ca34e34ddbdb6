//! Cursor serialisation cost at the documented size bound: 1,000 events/s with the default
//! lateness (10 s) and poll interval (2 s) gives a seen set of about 13,000 ids over 13 seconds.

use std::collections::BTreeMap;
use std::hint::black_box;

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest as _, Sha256};
use teleport_audit::Cursor;

/// A cursor JSON as the stream would write it: `ids_per_second` ids in each of `seconds` seconds.
fn cursor_json(seconds: i64, ids_per_second: u64) -> String {
    let first: i64 = 1_764_659_676;
    let mut seen = BTreeMap::new();
    for s in 0..seconds {
        let mut hashes: Vec<u64> = (0..ids_per_second)
            .map(|i| {
                let digest = Sha256::digest(format!("event-{s}-{i}").as_bytes());
                u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
            })
            .collect();
        hashes.sort_unstable();
        let bytes: Vec<u8> = hashes.iter().flat_map(|h| h.to_le_bytes()).collect();
        seen.insert(
            (first + s).to_string(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        );
    }
    serde_json::json!({
        "v": 1,
        "watermark": "2025-12-02T07:14:36Z",
        "seen": seen,
        "scan": {
            "from": "2025-12-02T07:14:36Z",
            "to": "2025-12-02T07:14:50.25Z",
            "started": "2025-12-02T07:14:50.25Z",
            "key": "{\"date\":\"2025-12-02\",\"iterator\":\"eyJDcmVhdGVkQXQiOjE3NjQ2NTk2ODl9\"}"
        }
    })
    .to_string()
}

fn cursor(c: &mut Criterion) {
    for (label, seconds, rate) in [("1000ev_s", 13, 1000), ("10ev_s", 13, 10)] {
        let text = cursor_json(seconds, rate);
        let cursor = Cursor::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "cursor at {label}: {} ids, {} bytes of JSON",
            cursor.seen_len(),
            cursor.to_json().len()
        );
        c.bench_function(&format!("cursor_to_json/{label}"), |b| {
            b.iter(|| black_box(&cursor).to_json())
        });
        c.bench_function(&format!("cursor_clone/{label}"), |b| {
            b.iter(|| black_box(&cursor).clone())
        });
        c.bench_function(&format!("cursor_from_json/{label}"), |b| {
            b.iter(|| Cursor::from_json(black_box(&text)))
        });
    }
}

criterion_group!(benches, cursor);
criterion_main!(benches);
