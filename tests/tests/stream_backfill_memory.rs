//! A backfill over a backlog of 1,000,000 events delivers all of them once, in order, with
//! memory bounded by about two pages whatever the backlog: peak resident memory of this test
//! process (the simulated cluster included) stays under a fixed bound.
//!
//! This file holds a single test so that nothing else runs in the process while it measures.

mod support;

use std::time::Duration;

use futures::StreamExt as _;
use teleport_audit::StreamConfig;
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

const EVENTS: u64 = 1_000_000;
/// Peak resident set size allowed for the whole test process. Holding the backlog would take
/// well over 500 MB (each event is ~500 bytes of JSON plus its parsed form).
const PEAK_RSS_BOUND_MB: u64 = 160;

/// Peak resident set size of this process, from /proc (Linux).
fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_event_backfill_is_complete_and_memory_stays_bounded() {
    let now = OffsetDateTime::now_utc();
    let (start, end) = (
        now - time::Duration::hours(3),
        now - time::Duration::hours(2),
    );
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .backlog(EVENTS, start, end)
        .start()
        .await
        .unwrap();
    let client = support::connect(&sim).await;
    let mut stream = client.audit_events(
        StreamConfig::default()
            .backfill_start(start)
            .end_time(end)
            .page_size(5000)
            .max_lateness(Duration::from_millis(200)),
    );

    let mut count = 0u64;
    let mut last_time = start;
    let mut previous_uid = String::new();
    let mut max_seen = 0usize;
    while let Some(item) = stream.next().await {
        let event = item.unwrap();
        assert!(event.time() >= last_time, "out of order at event {count}");
        last_time = event.time();
        let uid = event.uid().unwrap();
        assert_ne!(uid, previous_uid, "the same event twice in a row");
        previous_uid.clear();
        previous_uid.push_str(uid);
        count += 1;
        if count.is_multiple_of(50_000) {
            // The cursor stays small during a backfill: about a second of events.
            max_seen = max_seen.max(stream.cursor().seen_len());
        }
    }
    assert_eq!(count, EVENTS);
    assert_eq!(stream.stats().events_delivered, EVENTS);
    assert_eq!(stream.stats().duplicates_dropped, 0);
    // A cursor taken mid-page holds the delivered part of that page plus about a second.
    assert!(max_seen < 5_000 + 1_000, "seen set grew to {max_seen} ids");
    let peak = peak_rss_mb().expect("/proc/self/status is readable");
    assert!(
        peak < PEAK_RSS_BOUND_MB,
        "peak RSS {peak} MB is over the {PEAK_RSS_BOUND_MB} MB bound"
    );
    eprintln!("1M-event backfill: peak RSS {peak} MB, max seen-set {max_seen} ids");
}
