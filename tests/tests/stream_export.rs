//! `AuditEventStream` in export mode (and `Mode::Auto`) against the simulated cluster over real
//! TLS + gRPC: Athena's chunks per UTC date, backfills over several dates, late chunks, start
//! from now, resuming from a cursor, every fault, oversized and malformed events, refused
//! cursors and modes.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt as _;
use teleport_audit::{
    AuditEventStream, Client, Cursor, CursorError, Error, Mode, Notice, PermissionError,
    ServerError, StreamConfig,
};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, Rpc, SimCluster};
use time::{Date, OffsetDateTime};

use support::{
    Collected, assert_exactly, assert_stalled_by_timeouts, collect, connect, expected_ids,
    expected_ids_of_types, export_backfill, fast_export, open_stream, past_window, proxy_config,
};

const FLUSH: Duration = Duration::from_millis(100);

/// Drains until every id in `wanted` has been seen (or `within` passes).
async fn collect_until(
    stream: &mut AuditEventStream,
    wanted: &HashSet<String>,
    within: Duration,
) -> Collected {
    let mut out = Collected::default();
    let deadline = tokio::time::Instant::now() + within;
    let mut missing = wanted.clone();
    while !missing.is_empty() {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(Ok(event))) => {
                missing.remove(event.uid().unwrap_or_default());
                out.events.push(event);
            }
            Ok(Some(Err(error))) => panic!("the stream ended with {error:?}"),
        }
    }
    out
}

fn athena() -> Backend {
    Backend::Athena {
        flush_interval: FLUSH,
    }
}

async fn cluster(
    backend: Backend,
    count: u64,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> SimCluster {
    SimCluster::builder()
        .backend(backend)
        .backlog(count, start, end)
        .start()
        .await
        .unwrap()
}

fn cursor_json(stream: &AuditEventStream) -> serde_json::Value {
    serde_json::from_str(&stream.cursor().to_json()).unwrap()
}

/// From `from` hours ago to `to` hours ago.
fn hours_ago(from: i64, to: i64) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (
        now - time::Duration::hours(from),
        now - time::Duration::hours(to),
    )
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// Runs a test whose assertions name today's UTC date. Should the date change while it runs (a
/// run around midnight UTC), its failure is retried once, wholly on the new date; any other
/// failure stands.
async fn on_one_utc_date<F, Fut>(test: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let date = today();
    match tokio::spawn(test()).await {
        Ok(()) => {}
        Err(failure) if failure.is_panic() && today() != date => {
            eprintln!("the UTC date changed during the test: running it again");
            test().await;
        }
        Err(failure) => std::panic::resume_unwind(failure.into_panic()),
    }
}

#[tokio::test]
async fn auto_mode_uses_export_on_athena() {
    let (start, end) = past_window();
    let sim = cluster(athena(), 600, start, end).await;
    let mut stream = open_stream(
        &sim,
        fast_export(StreamConfig::default())
            .backfill_start(start)
            .end_time(end),
    )
    .await;
    assert_eq!(stream.mode(), Mode::Auto);
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert!(got.ended, "the stream ends after the end time");
    assert_exactly(&got.ids(), &expected_ids(&sim, start, end));
    assert_eq!(stream.mode(), Mode::Export);
    assert_eq!(stream.cursor().mode(), Mode::Export);
    let stats = stream.stats();
    assert_eq!(stats.mode, Some(Mode::Export));
    assert_eq!(stats.events_delivered, 600);
    assert!(stats.chunks_done >= 50, "{stats:?}");
    let rpc = sim.rpc_stats();
    assert_eq!(rpc.calls(Rpc::GetUnstructuredEvents), 0);
    assert!(
        rpc.calls(Rpc::GetEventExportChunks) >= 2,
        "the probe and a listing"
    );
    assert_eq!(rpc.calls(Rpc::ExportUnstructuredEvents), stats.chunks_done);
    // Every chunk was read completely, and the whole range is covered.
    assert!(stats.watermark.unwrap() >= end, "{stats:?}");
}

#[tokio::test]
async fn auto_mode_falls_back_to_search_on_every_other_backend() {
    let (start, end) = past_window();
    let cases = [
        (Backend::File, "18.2.0"),
        (Backend::Immediate, "18.2.0"),
        (
            Backend::Dynamo {
                max_visibility_delay: Duration::from_millis(200),
            },
            "18.2.0",
        ),
        // Before 16.4 the RPC does not exist at all: gRPC's "unknown method".
        (athena(), "15.4.2"),
    ];
    for (backend, version) in cases {
        let sim = SimCluster::builder()
            .backend(backend)
            .server_version(version)
            .backlog(300, start, end)
            .start()
            .await
            .unwrap();
        let mut stream = open_stream(
            &sim,
            fast_export(StreamConfig::default())
                .backfill_start(start)
                .end_time(end),
        )
        .await;
        let got = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
        assert!(got.errors.is_empty(), "{backend:?}: {:?}", got.errors);
        assert_exactly(&got.ids(), &expected_ids(&sim, start, end));
        assert_eq!(stream.mode(), Mode::Search, "{backend:?}");
        assert_eq!(stream.stats().mode, Some(Mode::Search));
        assert_eq!(stream.cursor().mode(), Mode::Search);
        let rpc = sim.rpc_stats();
        assert_eq!(
            rpc.calls(Rpc::GetEventExportChunks),
            1,
            "one probe, {backend:?}"
        );
        assert_eq!(rpc.calls(Rpc::ExportUnstructuredEvents), 0);
        assert!(rpc.calls(Rpc::GetUnstructuredEvents) > 0);
    }
}

#[tokio::test]
async fn search_mode_never_probes() {
    let (start, end) = past_window();
    let sim = cluster(athena(), 200, start, end).await;
    let mut stream = open_stream(
        &sim,
        fast_export(StreamConfig::default())
            .mode(Mode::Search)
            .backfill_start(start)
            .end_time(end),
    )
    .await;
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    got.assert_delivered_exactly(&sim, start, end);
    assert_eq!(sim.rpc_stats().calls(Rpc::GetEventExportChunks), 0);
}

#[tokio::test]
async fn export_mode_without_export_is_one_fatal_unimplemented_with_advice() {
    for (backend, version) in [(Backend::Immediate, "18.2.0"), (athena(), "16.3.0")] {
        let sim = SimCluster::builder()
            .backend(backend)
            .server_version(version)
            .start()
            .await
            .unwrap();
        let mut stream = open_stream(
            &sim,
            fast_export(StreamConfig::default())
                .mode(Mode::Export)
                .backfill_start(OffsetDateTime::now_utc() - time::Duration::hours(1)),
        )
        .await;
        let got = collect(&mut stream, usize::MAX, Duration::from_secs(10)).await;
        assert!(got.events.is_empty());
        assert_eq!(got.errors.len(), 1, "{:?}", got.errors);
        let error = &got.errors[0];
        assert!(
            matches!(error, Error::Server(ServerError::Unimplemented { .. })),
            "{error:?}"
        );
        assert!(error.is_fatal());
        assert!(
            error.advice().contains("Mode::Search"),
            "{}",
            error.advice()
        );
        assert!(got.ended);
        assert_eq!(sim.rpc_stats().calls(Rpc::GetUnstructuredEvents), 0);
        assert_eq!(sim.rpc_stats().calls(Rpc::GetEventExportChunks), 1);
    }
}

#[tokio::test]
async fn a_backfill_over_several_dates_gets_late_chunks_of_past_dates_exactly_once() {
    on_one_utc_date(backfill_over_several_dates).await;
}

async fn backfill_over_several_dates() {
    let now = OffsetDateTime::now_utc();
    // From two days ago (the oldest date of the default lookback window) to a minute ago.
    let start = now - time::Duration::days(2);
    let sim = cluster(athena(), 700, start, now - time::Duration::minutes(1)).await;
    let mut stream = open_stream(&sim, export_backfill(start).export_concurrency(3)).await;
    let base: HashSet<String> = expected_ids(&sim, start, now).into_iter().collect();
    assert_eq!(base.len(), 700);
    let first = collect_until(&mut stream, &base, Duration::from_secs(40)).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(cursor_json(&stream)["listed_through"], today().to_string());

    // Chunks written late for yesterday and for the start date, after both were read (those
    // of the start date's events that are before the start are not delivered).
    let yesterday = today().previous_day().unwrap();
    let mut late: HashSet<String> = HashSet::new();
    for date in [yesterday, start.date()] {
        for id in sim.faults().late_chunk(date).unwrap() {
            if id.time() >= start {
                late.insert(id.uid().to_owned());
            }
        }
    }
    assert!(late.len() >= 5, "{late:?}");
    let second = collect_until(&mut stream, &late, Duration::from_secs(10)).await;
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    // Nothing else comes.
    let rest = collect(&mut stream, usize::MAX, Duration::from_millis(500)).await;
    assert!(rest.events.is_empty(), "{:?}", rest.ids());

    let mut all = first.ids();
    all.extend(second.ids());
    assert_exactly(&all, &expected_ids(&sim, start, OffsetDateTime::now_utc()));
    // Export is not in time order, but every event is from the range.
    assert!(first.events.iter().all(|e| e.time() >= start));
    let stats = stream.stats();
    assert_eq!(stats.events_delivered, 700 + late.len() as u64);
    assert!(stats.chunk_listings >= 4, "{stats:?}");
}

#[tokio::test]
async fn dates_older_than_the_lookback_are_dropped_once_read() {
    on_one_utc_date(dates_older_than_the_lookback).await;
}

async fn dates_older_than_the_lookback() {
    let now = OffsetDateTime::now_utc();
    let start = now - time::Duration::days(3);
    let sim = cluster(athena(), 300, start, now - time::Duration::minutes(1)).await;
    let client = connect(&sim).await;
    let mut stream = client
        .audit_events(export_backfill(start).export_lookback(Duration::from_secs(24 * 60 * 60)));
    let expected: HashSet<String> = expected_ids(&sim, start, now).into_iter().collect();
    let got = collect_until(&mut stream, &expected, Duration::from_secs(30)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_exactly(&got.ids(), &expected.iter().cloned().collect::<Vec<_>>());
    // Let the driver see every chunk finished and drop the old dates.
    let _ = collect(&mut stream, usize::MAX, Duration::from_millis(500)).await;
    let cursor = cursor_json(&stream);
    let yesterday = today().previous_day().unwrap();
    let followed: Vec<String> = cursor["dates"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(followed, vec![yesterday.to_string(), today().to_string()]);
    assert_eq!(cursor["listed_through"], today().to_string());

    // A chunk that appears now for a dropped date is past the lookback: not delivered; a
    // resumed stream does not read the dropped dates again either.
    sim.faults().late_chunk(start.date()).unwrap();
    let calls = sim.rpc_stats().calls(Rpc::ExportUnstructuredEvents);
    let mut resumed =
        client.audit_events(fast_export(StreamConfig::default()).resume_from(stream.cursor()));
    drop(stream);
    let after = collect(&mut resumed, usize::MAX, Duration::from_millis(800)).await;
    assert!(after.events.is_empty(), "{:?}", after.ids());
    assert!(after.errors.is_empty(), "{:?}", after.errors);
    assert_eq!(sim.rpc_stats().calls(Rpc::ExportUnstructuredEvents), calls);
}

#[tokio::test]
async fn start_from_now_delivers_nothing_older_and_skips_the_chunks_written_before() {
    let now = OffsetDateTime::now_utc();
    let sim = SimCluster::builder()
        .backend(athena())
        .backlog(500, now - time::Duration::hours(1), now)
        .live_rate(60.0)
        .start()
        .await
        .unwrap();
    let client = connect(&sim).await;
    let created = OffsetDateTime::now_utc();
    let mut stream = client.audit_events(fast_export(StreamConfig::default()).mode(Mode::Export));
    let got = collect(&mut stream, 40, Duration::from_secs(20)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(got.events.len(), 40, "live events arrive");
    // The start is the server's time at the first listing, which the proxy's `Date` header
    // tells to the second: a chunk flushed after that listing may hold events of the second
    // before it (the events of the chunks listed then are never read).
    let start_bound = created - time::Duration::SECOND - FLUSH;
    for event in &got.events {
        assert!(event.time() >= start_bound, "{}", event.as_json());
    }
    let unique: HashSet<String> = got.ids().into_iter().collect();
    assert_eq!(unique.len(), 40);
    let cursor = cursor_json(&stream);
    let from = OffsetDateTime::parse(
        cursor["from"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        from >= created - time::Duration::SECOND,
        "the start settles at the first listing"
    );
    // The hour of history (about 60 chunks) was taken as read, not read.
    let reads = sim.rpc_stats().calls(Rpc::ExportUnstructuredEvents);
    assert!(reads < 40, "{reads} chunk reads");
}

#[tokio::test]
async fn resuming_mid_chunk_through_json_is_exact() {
    let (start, end) = hours_ago(3, 1);
    // 1,500 events over 2 hours: about 12 events per chunk, so cuts fall inside chunks.
    let sim = cluster(athena(), 1500, start, end).await;
    let client = connect(&sim).await;
    let config = || {
        fast_export(StreamConfig::default())
            .end_time(end)
            .event_types(Vec::<String>::new())
            .export_concurrency(4)
    };
    let mut all = Vec::new();
    let mut stream = client.audit_events(config().mode(Mode::Export).backfill_start(start));
    for take in [37usize, 1, 200, 5, 400] {
        let part = collect(&mut stream, take, Duration::from_secs(20)).await;
        assert_eq!(part.events.len(), take);
        all.extend(part.ids());
        let stored = stream.cursor().to_json();
        let value: serde_json::Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(value["mode"], "export");
        drop(stream);
        // Auto follows the cursor's mode.
        stream = client.audit_events(config().resume_from(Cursor::from_json(&stored).unwrap()));
    }
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(rest.errors.is_empty(), "{:?}", rest.errors);
    assert!(rest.ended);
    all.extend(rest.ids());
    assert_exactly(&all, &expected_ids(&sim, start, end));
}

/// Reads events one at a time until the cursor has a chunk in progress; returns the events and
/// the cursor as JSON.
async fn until_a_chunk_is_in_progress(
    stream: &mut AuditEventStream,
) -> (Vec<String>, serde_json::Value) {
    let mut ids = Vec::new();
    for _ in 0..200 {
        let part = collect(stream, 1, Duration::from_secs(10)).await;
        ids.extend(part.ids());
        let cursor = cursor_json(stream);
        let in_progress = cursor["dates"]
            .as_object()
            .unwrap()
            .values()
            .any(|date| date.get("reading").is_some());
        if in_progress {
            return (ids, cursor);
        }
    }
    panic!("no chunk was ever in progress");
}

#[tokio::test]
async fn a_chunk_the_server_no_longer_has_is_reported_and_the_rest_delivered() {
    let (start, end) = hours_ago(3, 1);
    let sim = cluster(athena(), 1500, start, end).await;
    let client = connect(&sim).await;
    let config = || fast_export(StreamConfig::default()).end_time(end);
    let mut stream = client.audit_events(config().mode(Mode::Export).backfill_start(start));
    let (mut all, mut cursor) = until_a_chunk_is_in_progress(&mut stream).await;
    drop(stream);
    // As if retention had removed a chunk the cursor was reading.
    let date = cursor["dates"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    cursor["dates"][&date]["reading"]["0badc0de-0000-4000-8000-000000000000"] = "a1:3".into();
    let mut resumed =
        client.audit_events(config().resume_from(Cursor::from_json(&cursor.to_string()).unwrap()));
    let rest = collect(&mut resumed, usize::MAX, Duration::from_secs(30)).await;
    assert!(rest.ended);
    assert!(rest.errors.is_empty(), "{:?}", rest.errors);
    match &rest.notices[..] {
        [
            notice @ Notice::ChunkSkipped {
                date: d,
                chunk,
                reason,
                ..
            },
        ] => {
            assert_eq!(d.to_string(), date);
            assert_eq!(chunk, "0badc0de-0000-4000-8000-000000000000");
            assert!(reason.contains("NotFound"), "{reason}");
            assert_eq!(notice.code(), "export_chunk_skipped");
        }
        other => panic!("expected one ChunkSkipped notice, got {other:?}"),
    }
    all.extend(rest.ids());
    assert_exactly(&all, &expected_ids(&sim, start, end));
    assert_eq!(resumed.stats().chunks_skipped, 1);
}

#[tokio::test]
async fn a_stored_position_the_server_refuses_is_a_fatal_invalid_cursor() {
    let (start, end) = hours_ago(3, 1);
    let sim = cluster(athena(), 1500, start, end).await;
    let client = connect(&sim).await;
    let config = || fast_export(StreamConfig::default()).end_time(end);
    let mut stream = client.audit_events(config().mode(Mode::Export).backfill_start(start));
    let (_, mut cursor) = until_a_chunk_is_in_progress(&mut stream).await;
    drop(stream);
    let (date, chunk) = cursor["dates"]
        .as_object()
        .unwrap()
        .iter()
        .find_map(|(date, d)| {
            d.get("reading")
                .and_then(|r| r.as_object())
                .and_then(|r| r.keys().next().cloned())
                .map(|chunk| (date.clone(), chunk))
        })
        .unwrap();
    cursor["dates"][&date]["reading"][&chunk] = "not a position this server wrote".into();
    let mut resumed =
        client.audit_events(config().resume_from(Cursor::from_json(&cursor.to_string()).unwrap()));
    let rest = collect(&mut resumed, usize::MAX, Duration::from_secs(30)).await;
    assert!(rest.ended);
    let last = rest.errors.last().expect("a fatal error");
    match last {
        Error::Cursor(CursorError::Invalid { reason, .. }) => {
            assert!(
                reason.contains(&chunk) && reason.contains(&date),
                "{reason}"
            );
            assert!(
                reason.contains("not a position this server wrote"),
                "{reason}"
            );
        }
        other => panic!("expected InvalidCursor, got {other:?}"),
    }
    assert!(last.is_fatal());
    assert_eq!(rest.errors.len(), 1, "{:?}", rest.errors);
}

#[tokio::test]
async fn transient_errors_drops_stalls_and_restarts_lose_nothing() {
    let (start, end) = hours_ago(3, 1);
    let sim = cluster(athena(), 1200, start, end).await;
    let mut stream = open_stream(
        &sim,
        export_backfill(start)
            .end_time(end)
            .request_timeout(Duration::from_millis(400))
            .stall_report_after(Duration::from_millis(300)),
    )
    .await;
    let mut all = Vec::new();
    let mut errors = Vec::new();
    let mut notices = Vec::new();
    let faults: [&dyn Fn(); 5] = [
        &|| sim.faults().fail_next(tonic::Code::Unavailable, 3),
        &|| sim.faults().fail_next(tonic::Code::ResourceExhausted, 2),
        &|| sim.faults().fail_next(tonic::Code::Internal, 2),
        &|| sim.faults().drop_after_events(7),
        &|| sim.faults().stall_next(2),
    ];
    for arm in faults {
        let part = collect(&mut stream, 150, Duration::from_secs(30)).await;
        all.extend(part.ids());
        errors.extend(part.errors);
        notices.extend(part.notices);
        arm();
    }
    let part = collect(&mut stream, 150, Duration::from_secs(30)).await;
    all.extend(part.ids());
    errors.extend(part.errors);
    notices.extend(part.notices);
    sim.restart().await.unwrap();
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
    assert!(rest.ended);
    all.extend(rest.ids());
    errors.extend(rest.errors);
    notices.extend(rest.notices);
    // No error at all; at most stall notices (and their ends).
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        notices
            .iter()
            .all(|n| matches!(n, Notice::Stalled { .. } | Notice::Recovered { .. })),
        "{notices:?}"
    );
    assert_exactly(&all, &expected_ids(&sim, start, end));
    assert!(stream.stats().retries >= 8, "{:?}", stream.stats());
}

#[tokio::test]
async fn failed_listings_are_retried_and_a_long_failure_is_reported() {
    let (start, end) = past_window();
    let sim = cluster(athena(), 200, start, end).await;
    let client = connect(&sim).await;
    sim.faults()
        .fail_next_on(Rpc::GetEventExportChunks, tonic::Code::Unavailable, 6);
    let mut stream = client.audit_events(
        export_backfill(start)
            .end_time(end)
            .stall_report_after(Duration::from_millis(150)),
    );
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(got.ended);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let stalls = got.stalls().len();
    assert!(stalls > 0, "six failed listings in a row are reported");
    for notice in &got.notices {
        match notice {
            Notice::Stalled { last_error, .. } => {
                assert!(
                    matches!(**last_error, Error::Server(ServerError::Unavailable { .. })),
                    "{last_error:?}"
                );
            }
            Notice::Recovered { .. } => {}
            other => panic!("expected only stall notices, got {other:?}"),
        }
    }
    assert!(
        matches!(got.notices.last(), Some(Notice::Recovered { .. })),
        "{:?}",
        got.notices
    );
    assert_exactly(&got.ids(), &expected_ids(&sim, start, end));
    let stats = stream.stats();
    assert_eq!(stats.stalls, stalls as u64, "{stats:?}");
    assert_eq!(stats.stalled_since, None, "recovered");
    assert!(stats.retries >= 6, "{stats:?}");
    assert_eq!(stats.consecutive_failures, 0);
    assert_eq!(stats.last_error, Some("unavailable"));
}

#[tokio::test]
async fn a_stalled_chunk_is_retried_and_reported_not_hidden() {
    let (start, end) = past_window();
    let sim = cluster(athena(), 300, start, end).await;
    let mut stream = open_stream(
        &sim,
        export_backfill(start)
            .end_time(end)
            .export_concurrency(1)
            .request_timeout(Duration::from_millis(300))
            .stall_report_after(Duration::from_millis(200)),
    )
    .await;
    let first = collect(&mut stream, 100, Duration::from_secs(20)).await;
    sim.faults().stall_next_on(Rpc::ExportUnstructuredEvents, 3);
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(rest.ended);
    assert!(rest.errors.is_empty(), "{:?}", rest.errors);
    let stalls = rest.stalls();
    assert!(
        !stalls.is_empty(),
        "a chunk stalled three times must be reported"
    );
    // Dated from when the call was sent: the first call held past the 300 ms timeout is
    // already a stall of 300 ms or more.
    assert_stalled_by_timeouts(stalls[0], 1);
    let Notice::Stalled { stalled_for, .. } = stalls[0] else {
        unreachable!("checked above")
    };
    assert!(
        *stalled_for >= Duration::from_millis(300),
        "{stalled_for:?}"
    );
    assert_eq!(stream.stats().stalls, stalls.len() as u64);
    let mut all = first.ids();
    all.extend(rest.ids());
    assert_exactly(&all, &expected_ids(&sim, start, end));
}

#[tokio::test]
async fn a_malformed_event_is_reported_and_the_rest_delivered() {
    let (start, end) = past_window();
    let sim = cluster(athena(), 400, start, end).await;
    let mut stream = open_stream(&sim, export_backfill(start).end_time(end)).await;
    let first = collect(&mut stream, 50, Duration::from_secs(20)).await;
    sim.faults().malformed_struct_next_page();
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(rest.errors.is_empty(), "{:?}", rest.errors);
    let [Notice::MalformedEvent { id, .. }] = &rest.notices[..] else {
        panic!("expected one MalformedEvent notice, got {:?}", rest.notices);
    };
    let mut all = first.ids();
    all.extend(rest.ids());
    all.push(id.clone());
    assert_exactly(&all, &expected_ids(&sim, start, end));
    assert_eq!(stream.stats().malformed, 1);
}

#[tokio::test]
async fn oversized_events_are_received_up_to_the_limit_and_skipped_by_position_beyond() {
    let now = OffsetDateTime::now_utc();
    let (start, end) = (
        now - time::Duration::hours(2),
        now - time::Duration::minutes(30),
    );
    let sim = cluster(athena(), 300, start, end).await;
    let fits = sim
        .faults()
        .insert_oversized_event(now - time::Duration::minutes(50), 2 * 1024 * 1024)
        .unwrap();
    let too_big = sim
        .faults()
        .insert_oversized_event(now - time::Duration::minutes(40), 5 * 1024 * 1024)
        .unwrap();
    // A few ordinary events written at the same time (in the same or the next batch).
    for k in 0..4 {
        let json = serde_json::json!({
            "event": "user.login",
            "code": "T1000I",
            "time": (now - time::Duration::minutes(45) + time::Duration::seconds(k))
                .format(&time::format_description::well_known::Rfc3339).unwrap(),
            "uid": format!("00000000-0000-4000-8000-00000000000{k}"),
            "user": "alice",
        });
        sim.store().insert(&json.to_string(), None).unwrap();
    }
    tokio::time::sleep(FLUSH * 3).await;
    let mut stream = open_stream(
        &sim,
        export_backfill(start)
            .end_time(end)
            .max_receive_size(1024 * 1024)
            .max_receive_size_limit(4 * 1024 * 1024),
    )
    .await;
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(got.ended);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    match &got.notices[..] {
        [
            Notice::EventSkipped {
                id,
                time,
                size,
                limit,
                ..
            },
        ] => {
            assert_eq!(id, too_big.uid());
            assert_eq!(*time, too_big.time());
            assert!(*size > 5 * 1024 * 1024 - 1024, "{size}");
            assert_eq!(*limit, 4 * 1024 * 1024);
        }
        other => panic!("expected one EventSkipped notice, got {other:?}"),
    }
    let big = got
        .events
        .iter()
        .find(|e| e.uid() == Some(fits.uid()))
        .expect("the 2 MiB event is delivered whole");
    assert!(big.as_json().len() >= 2 * 1024 * 1024);
    let mut expected = expected_ids(&sim, start, end);
    expected.retain(|id| id != too_big.uid());
    assert_exactly(&got.ids(), &expected);
    assert_eq!(stream.stats().skipped_oversized, 1);
}

#[tokio::test]
async fn the_type_filter_is_applied_client_side() {
    let (start, end) = past_window();
    let sim = cluster(athena(), 800, start, end).await;
    let client = connect(&sim).await;
    let types = ["user.login", "role.created"];
    let mut stream = client.audit_events(export_backfill(start).end_time(end).event_types(types));
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let expected = expected_ids_of_types(&sim, start, end, &types);
    assert!(!expected.is_empty());
    assert_exactly(&got.ids(), &expected);
    assert!(stream.cursor().to_json().contains("\"types\""));
}

#[tokio::test]
async fn a_cursor_of_the_other_mode_is_refused() {
    let sim = cluster(
        athena(),
        10,
        OffsetDateTime::now_utc() - time::Duration::hours(1),
        OffsetDateTime::now_utc(),
    )
    .await;
    let client = connect(&sim).await;
    let search_cursor = Cursor::starting_at(OffsetDateTime::now_utc());
    let export_cursor = Cursor::from_json(
        r#"{"v":1,"mode":"export","from":"2025-12-01T00:00:00Z","caught_up":"2025-12-01T00:00:00Z","dates":{}}"#,
    )
    .unwrap();
    for (cursor, mode, taken) in [
        (search_cursor, Mode::Export, "search"),
        (export_cursor, Mode::Search, "export"),
    ] {
        let mut stream = client.audit_events(
            fast_export(StreamConfig::default())
                .mode(mode)
                .resume_from(cursor),
        );
        let got = collect(&mut stream, usize::MAX, Duration::from_secs(5)).await;
        assert!(got.events.is_empty());
        match &got.errors[..] {
            [Error::Cursor(CursorError::Invalid { reason, .. })] => {
                assert!(
                    reason.contains(&format!("taken in {taken} mode")),
                    "{reason}"
                );
                assert!(reason.contains(&format!("set to {mode} mode")), "{reason}");
            }
            other => panic!("expected one InvalidCursor, got {other:?}"),
        }
    }
    assert_eq!(
        sim.rpc_stats().total_calls(),
        1,
        "only the connect-time ping"
    );
}

#[tokio::test]
async fn a_role_without_event_access_is_fatal_in_auto_and_export_mode() {
    let sim = cluster(
        athena(),
        10,
        OffsetDateTime::now_utc() - time::Duration::hours(1),
        OffsetDateTime::now_utc(),
    )
    .await;
    let identity = sim
        .issue_identity(&IdentitySpec::default().roles(["access"]))
        .unwrap();
    let client = Client::connect(proxy_config(&sim, &identity))
        .await
        .unwrap();
    for mode in [Mode::Auto, Mode::Export] {
        let mut stream = client.audit_events(fast_export(StreamConfig::default()).mode(mode));
        let got = collect(&mut stream, usize::MAX, Duration::from_secs(10)).await;
        assert!(got.events.is_empty());
        match &got.errors[..] {
            [error @ Error::Permission(PermissionError { .. })] => assert!(error.is_auth()),
            other => panic!("{mode}: expected one PermissionDenied, got {other:?}"),
        }
    }
}
