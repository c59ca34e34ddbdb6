//! `AuditEventStream` against the simulated cluster: backfill, live tail, filters, every
//! retryable fault, fatal errors, oversized and malformed events, resuming from a cursor.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use teleport_audit::{Client, Cursor, Error, Notice, PermissionError, SettingError, StreamConfig};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

use support::{
    assert_exactly, assert_stalled_by_timeouts, auditor, collect, connect, empty_cluster,
    expected_ids, expected_ids_of_types, fast_search, open_stream, past_backlog, proxy_config,
    search_backfill,
};

#[tokio::test]
async fn backfill_delivers_every_event_once_in_time_order_then_ends() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 3000).await;
    let mut stream = open_stream(&sim, search_backfill(start, end).page_size(97)).await;
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
    got.assert_delivered_exactly(&sim, start, end);
    assert_eq!(got.events.len(), 3000);
    // Ascending by time.
    assert!(got.events.windows(2).all(|w| w[0].time() <= w[1].time()));
    // Field for field what the cluster holds.
    let stored = sim
        .store()
        .events_in_range(start, start + time::Duration::minutes(2))
        .unwrap();
    assert!(!stored.is_empty());
    for stored in stored {
        let delivered = got
            .events
            .iter()
            .find(|e| e.uid() == Some(stored.uid.as_str()))
            .unwrap();
        let a: serde_json::Value = serde_json::from_str(delivered.as_json()).unwrap();
        let b: serde_json::Value = serde_json::from_str(&stored.json).unwrap();
        assert_eq!(a, b);
    }
    let stats = stream.stats();
    assert_eq!(stats.events_delivered, 3000);
    assert!(stats.pages >= 3000 / 97);
    // The watermark follows the server's own times (the newest event, minus the lateness), not
    // this machine's clock: nothing after `end` exists, so it stops short of `end`.
    let newest = got.events.iter().map(|e| e.time()).max().unwrap();
    assert!(stats.watermark.unwrap() >= newest - time::Duration::seconds(1));
}

#[tokio::test]
async fn start_from_now_delivers_nothing_older_and_follows_live_events() {
    let now = OffsetDateTime::now_utc();
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .backlog(500, now - time::Duration::hours(1), now)
        .live_rate(50.0)
        .start()
        .await
        .unwrap();
    let client = connect(&sim).await;
    let started = OffsetDateTime::now_utc();
    let mut stream = client.audit_events(fast_search(StreamConfig::default()));
    let got = collect(&mut stream, 40, Duration::from_secs(20)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(got.events.len(), 40, "live events arrive");
    for event in &got.events {
        // Nothing from the backlog; live events are stamped at or after the start.
        assert!(
            event.time() >= started - time::Duration::seconds(1),
            "{}",
            event.as_json()
        );
    }
    let unique: HashSet<String> = got.ids().into_iter().collect();
    assert_eq!(unique.len(), 40);
}

/// In a quiet cluster the watermark stays at the last event, an hour ago; once the stream has
/// read everything, its lag is the age of its last scan, not of that event.
#[tokio::test]
async fn a_caught_up_stream_in_a_quiet_cluster_reports_a_small_lag() {
    let (sim, start, _end) = past_backlog(Backend::Immediate, 200).await;
    let client = connect(&sim).await;
    let mut stream =
        client.audit_events(fast_search(StreamConfig::default()).backfill_start(start));
    let got = collect(&mut stream, 200, Duration::from_secs(30)).await;
    assert_eq!(got.events.len(), 200, "{:?}", got.errors);
    let stats = stream.stats_handle();
    // Keep polling (nothing new comes) for a few poll intervals.
    let polling = collect(&mut stream, 1, Duration::from_millis(1500)).await;
    assert!(polling.events.is_empty());
    let now = OffsetDateTime::now_utc();
    let stats = stats.get();
    let watermark_age = now - stats.watermark.unwrap();
    assert!(watermark_age > time::Duration::minutes(50), "{stats:?}");
    let lag = stats.lag(now).unwrap();
    assert!(lag < Duration::from_secs(30), "lag {lag:?}: {stats:?}");
}

#[tokio::test]
async fn an_event_type_filter_is_applied_by_the_server() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 2000).await;
    let client = connect(&sim).await;
    let types = ["user.login", "role.created"];
    let mut stream = client.audit_events(search_backfill(start, end).event_types(types));
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let expected = expected_ids_of_types(&sim, start, end, &types);
    assert!(!expected.is_empty());
    assert_exactly(&got.ids(), &expected);
}

#[tokio::test]
async fn a_role_without_event_access_is_fatal_with_advice() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 10).await;
    let identity = sim
        .issue_identity(&IdentitySpec::default().roles(["access"]))
        .unwrap();
    let client = Client::connect(proxy_config(&sim, &identity))
        .await
        .unwrap();
    let mut stream = client.audit_events(search_backfill(start, end));
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(20)).await;
    assert!(got.events.is_empty());
    assert_eq!(got.errors.len(), 1);
    let error = &got.errors[0];
    assert!(
        matches!(error, Error::Permission(PermissionError { .. })),
        "{error:?}"
    );
    assert!(error.is_fatal() && error.is_auth());
    assert!(error.advice().contains("event"));
}

#[tokio::test]
async fn invalid_settings_are_a_single_fatal_item() {
    let (sim, _, _) = past_backlog(Backend::Immediate, 1).await;
    let mut stream = open_stream(&sim, StreamConfig::default().page_size(20_000)).await;
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(5)).await;
    assert!(
        matches!(
            &got.errors[..],
            [Error::Setting(SettingError::Config {
                field: "page_size",
                ..
            })]
        ),
        "{:?}",
        got.errors
    );
    assert_eq!(
        sim.rpc_stats().total_calls(),
        1,
        "only the connect-time ping"
    );
}

#[tokio::test]
async fn transient_server_errors_are_retried_without_loss() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 1500).await;
    let mut stream = open_stream(&sim, search_backfill(start, end).page_size(100)).await;
    let first = collect(&mut stream, 250, Duration::from_secs(30)).await;
    sim.faults().fail_next(tonic::Code::Unavailable, 3);
    let second = collect(&mut stream, 250, Duration::from_secs(30)).await;
    sim.faults().fail_next(tonic::Code::ResourceExhausted, 2);
    let third = collect(&mut stream, 250, Duration::from_secs(30)).await;
    sim.faults().fail_next(tonic::Code::Internal, 2);
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
    let mut all = Vec::new();
    for part in [&first, &second, &third, &rest] {
        assert!(part.errors.is_empty(), "{:?}", part.errors);
        all.extend(part.ids());
    }
    assert_exactly(&all, &expected_ids(&sim, start, end));
    assert!(stream.stats().retries >= 7, "{:?}", stream.stats());
}

#[tokio::test]
async fn dropped_connections_and_a_server_restart_lose_nothing() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 2000).await;
    let mut stream = open_stream(&sim, search_backfill(start, end).page_size(200)).await;
    let mut all = Vec::new();
    let part = collect(&mut stream, 300, Duration::from_secs(30)).await;
    all.extend(part.ids());
    sim.faults().drop_after_bytes(20_000);
    let part = collect(&mut stream, 300, Duration::from_secs(30)).await;
    assert!(part.errors.is_empty(), "{:?}", part.errors);
    all.extend(part.ids());
    sim.faults().drop_after_events(150);
    let part = collect(&mut stream, 300, Duration::from_secs(30)).await;
    assert!(part.errors.is_empty(), "{:?}", part.errors);
    all.extend(part.ids());
    sim.restart().await.unwrap();
    let part = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
    assert!(part.errors.is_empty(), "{:?}", part.errors);
    all.extend(part.ids());
    assert_exactly(&all, &expected_ids(&sim, start, end));
    assert!(stream.stats().retries >= 2);
}

#[tokio::test]
async fn a_stalled_server_is_retried_and_reported_not_hidden() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 300).await;
    let mut stream = open_stream(
        &sim,
        search_backfill(start, end)
            .page_size(100)
            .request_timeout(Duration::from_millis(300))
            .stall_report_after(Duration::from_millis(500)),
    )
    .await;
    let first = collect(&mut stream, 100, Duration::from_secs(20)).await;
    sim.faults().stall_next(3);
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(rest.errors.is_empty(), "{:?}", rest.errors);
    let stalls = rest.stalls();
    assert!(!stalls.is_empty(), "a stall of ~1 s must be reported");
    assert_stalled_by_timeouts(stalls[0], 1);
    // The stall ended: one recovery, last, and the stats say it is over.
    assert!(
        matches!(rest.notices.last(), Some(Notice::Recovered { .. })),
        "{:?}",
        rest.notices
    );
    let stats = stream.stats();
    assert_eq!(stats.stalls, stalls.len() as u64);
    assert_eq!(stats.stalled_since, None);
    let mut all = first.ids();
    all.extend(rest.ids());
    assert_exactly(&all, &expected_ids(&sim, start, end));
}

#[tokio::test]
async fn an_oversized_event_is_received_by_shrinking_pages_and_raising_the_limit() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 400).await;
    let big_time = start + time::Duration::minutes(30);
    sim.faults()
        .insert_oversized_event(big_time, 2 * 1024 * 1024)
        .unwrap();
    let mut stream = open_stream(
        &sim,
        search_backfill(start, end)
            .page_size(100)
            .max_receive_size(1024 * 1024)
            .max_receive_size_limit(8 * 1024 * 1024),
    )
    .await;
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
    got.assert_delivered_exactly(&sim, start, end);
    let big = got
        .events
        .iter()
        .find(|e| e.as_json().len() >= 2 * 1024 * 1024)
        .expect("the big event is delivered whole");
    assert_eq!(big.time(), big_time);
}

#[tokio::test]
async fn an_event_over_the_largest_limit_is_skipped_by_id_and_the_stream_goes_on() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 400).await;
    let big_time = start + time::Duration::minutes(30);
    let big_id = sim
        .faults()
        .insert_oversized_event(big_time, 5 * 1024 * 1024)
        .unwrap();
    let mut stream = open_stream(
        &sim,
        search_backfill(start, end)
            .page_size(100)
            .max_receive_size(1024 * 1024)
            .max_receive_size_limit(4 * 1024 * 1024),
    )
    .await;
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
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
            assert_eq!(id, big_id.uid());
            assert_eq!(*time, big_time);
            assert!(*size > 5 * 1024 * 1024 - 1024, "{size}");
            assert_eq!(*limit, 4 * 1024 * 1024);
        }
        other => panic!("expected one EventSkipped notice, got {other:?}"),
    }
    let mut expected = expected_ids(&sim, start, end);
    expected.retain(|id| id != big_id.uid());
    assert_exactly(&got.ids(), &expected);
    assert_eq!(stream.stats().skipped_oversized, 1);
}

#[tokio::test]
async fn a_malformed_event_is_reported_and_skipped() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 300).await;
    let mut stream = open_stream(&sim, search_backfill(start, end).page_size(50)).await;
    let first = collect(&mut stream, 60, Duration::from_secs(20)).await;
    sim.faults().malformed_struct_next_page();
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(rest.errors.is_empty(), "{:?}", rest.errors);
    let [Notice::MalformedEvent { id, .. }] = &rest.notices[..] else {
        panic!("expected one MalformedEvent notice, got {:?}", rest.notices);
    };
    assert_eq!(stream.stats().malformed, 1);
    let mut all = first.ids();
    all.extend(rest.ids());
    all.push(id.clone());
    assert_exactly(&all, &expected_ids(&sim, start, end));
}

#[tokio::test]
async fn resuming_from_a_stored_cursor_mid_page_is_exact() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 1000).await;
    let client = connect(&sim).await;
    let config = || {
        fast_search(StreamConfig::default())
            .end_time(end)
            .page_size(50)
            .event_types(Vec::<String>::new())
    };
    let mut all = Vec::new();
    let mut stream = client.audit_events(config().backfill_start(start));
    for take in [73usize, 1, 50, 199] {
        let part = collect(&mut stream, take, Duration::from_secs(20)).await;
        assert_eq!(part.events.len(), take);
        all.extend(part.ids());
        let stored = stream.cursor().to_json();
        drop(stream);
        let cursor = Cursor::from_json(&stored).unwrap();
        stream = client.audit_events(config().resume_from(cursor));
    }
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
    assert!(rest.errors.is_empty(), "{:?}", rest.errors);
    all.extend(rest.ids());
    assert_exactly(&all, &expected_ids(&sim, start, end));
}

/// Backfills part of a backlog, swaps the stored page key in the cursor for `key`, resumes from
/// that cursor, and checks every event arrived exactly once.
async fn resume_with_page_key(
    backend: Backend,
    backlog: u64,
    page_size: u32,
    before_resume: usize,
    key: &str,
) {
    let (sim, start, end) = past_backlog(backend, backlog).await;
    let client = connect(&sim).await;
    let config = || {
        fast_search(StreamConfig::default())
            .end_time(end)
            .page_size(page_size)
    };
    let mut stream = client.audit_events(config().backfill_start(start));
    let first = collect(&mut stream, before_resume, Duration::from_secs(20)).await;
    let mut cursor: serde_json::Value = serde_json::from_str(&stream.cursor().to_json()).unwrap();
    assert!(
        cursor["scan"]["key"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "{cursor}"
    );
    cursor["scan"]["key"] = key.into();
    let cursor = Cursor::from_json(&cursor.to_string()).unwrap();
    let mut resumed = client.audit_events(config().resume_from(cursor));
    let rest = collect(&mut resumed, usize::MAX, Duration::from_secs(30)).await;
    assert!(rest.errors.is_empty(), "{:?}", rest.errors);
    let mut all = first.ids();
    all.extend(rest.ids());
    assert_exactly(&all, &expected_ids(&sim, start, end));
}

#[tokio::test]
async fn a_page_key_the_server_refuses_restarts_the_scan_safely() {
    resume_with_page_key(
        Backend::Immediate,
        600,
        40,
        100,
        "not a key this server ever issued",
    )
    .await;
}

#[tokio::test]
async fn late_visible_events_within_the_lateness_bound_are_delivered() {
    let sim = SimCluster::builder()
        .backend(Backend::Dynamo {
            max_visibility_delay: Duration::from_millis(700),
        })
        .live_rate(150.0)
        .start()
        .await
        .unwrap();
    let client = connect(&sim).await;
    let start = OffsetDateTime::now_utc();
    let end = start + time::Duration::seconds(3);
    let mut stream = client.audit_events(
        StreamConfig::default()
            .backfill_start(start)
            .end_time(end)
            .poll_interval(Duration::from_millis(100))
            .max_lateness(Duration::from_secs(1)),
    );
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let expected = expected_ids(&sim, start, end);
    assert!(expected.len() > 300, "{}", expected.len());
    assert_exactly(&got.ids(), &expected);
}

#[tokio::test]
async fn an_identity_that_expires_mid_stream_ends_it_with_that_error() {
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .live_rate(20.0)
        .start()
        .await
        .unwrap();
    let identity = sim
        .issue_identity(
            &IdentitySpec::default()
                .roles(["auditor"])
                .not_after(OffsetDateTime::now_utc() + time::Duration::seconds(3)),
        )
        .unwrap();
    let client = Client::connect(proxy_config(&sim, &identity))
        .await
        .unwrap();
    let mut stream = client.audit_events(fast_search(StreamConfig::default()));
    let before = collect(&mut stream, 10, Duration::from_secs(10)).await;
    assert_eq!(before.events.len(), 10);
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The live connection outlives the certificate; a restart forces a new dial.
    sim.restart().await.unwrap();
    let after = collect(&mut stream, usize::MAX, Duration::from_secs(20)).await;
    let last = after.errors.last().expect("a fatal error");
    assert_eq!(last.code(), "identity_expired", "{:?}", after.errors);
    assert!(last.is_fatal());
    let _ = auditor(&sim);
}

#[tokio::test]
async fn a_page_key_the_file_backend_cannot_find_does_not_end_the_scan_early() {
    // Teleport's file backend answers a key it cannot find with an empty, final page: without a
    // check, the rest of the scan would be skipped. The key is a well-formed uid that is not in
    // the window, as after log retention removed the event.
    resume_with_page_key(
        Backend::File,
        800,
        60,
        150,
        "00000000-0000-4000-8000-000000000000",
    )
    .await;
}

#[tokio::test]
async fn every_backend_model_is_served_exactly() {
    for backend in [
        Backend::File,
        Backend::Immediate,
        Backend::Dynamo {
            max_visibility_delay: Duration::from_millis(300),
        },
    ] {
        let (sim, start, end) = past_backlog(backend, 700).await;
        let mut stream = open_stream(&sim, search_backfill(start, end).page_size(33)).await;
        let got = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
        assert!(got.errors.is_empty(), "{backend:?}: {:?}", got.errors);
        assert_exactly(&got.ids(), &expected_ids(&sim, start, end));
    }
}

/// Inserts an event stamped now into `sim`, numbered `n`; returns its uid.
fn insert_now(sim: &SimCluster, n: u8) -> String {
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let json = format!(
        r#"{{"event":"exec","code":"T3002I","uid":"00000000-0000-4000-8000-0000000000{n:02x}","time":"{now}","user":"alice"}}"#
    );
    sim.store().insert(&json, None).unwrap().uid().to_string()
}

/// The server's time is known to the stream only from the events it returned: after a quiet
/// spell longer than the window, the next window held nothing and the watermark could not move
/// past the last event, so the stream scanned that window forever and never saw the next event.
#[tokio::test]
async fn a_quiet_spell_longer_than_the_window_does_not_stall_the_live_tail() {
    let sim = empty_cluster().await;
    let first = insert_now(&sim, 1);
    let config = fast_search(StreamConfig::default())
        .backfill_start(OffsetDateTime::now_utc() - time::Duration::seconds(5))
        .window(Duration::from_secs(2));
    let mut stream = open_stream(&sim, config).await;
    let got = collect(&mut stream, 1, Duration::from_secs(20)).await;
    assert_eq!(got.ids(), [first], "{:?}", got.errors);
    // Quiet for longer than the window and the lateness.
    let quiet = collect(&mut stream, 1, Duration::from_secs(4)).await;
    assert!(quiet.events.is_empty() && !quiet.ended, "{quiet:?}");
    let second = insert_now(&sim, 2);
    let got = collect(&mut stream, 1, Duration::from_secs(20)).await;
    assert_eq!(got.ids(), [second], "{:?}", got.errors);
}

/// The same with an end time: the event after the quiet spell is delivered, and the stream ends
/// although no event follows the end.
#[tokio::test]
async fn an_end_time_stream_with_a_quiet_spell_longer_than_the_window_finishes() {
    let sim = empty_cluster().await;
    let start = OffsetDateTime::now_utc();
    let first = insert_now(&sim, 1);
    let config = fast_search(StreamConfig::default())
        .backfill_start(start - time::Duration::seconds(1))
        .end_time(start + time::Duration::seconds(8))
        .window(Duration::from_secs(2));
    let mut stream = open_stream(&sim, config).await;
    let got = collect(&mut stream, 1, Duration::from_secs(20)).await;
    assert_eq!(got.ids(), [first], "{:?}", got.errors);
    let quiet = collect(&mut stream, 1, Duration::from_secs(4)).await;
    assert!(quiet.events.is_empty() && !quiet.ended, "{quiet:?}");
    let second = insert_now(&sim, 2);
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(rest.ended && rest.errors.is_empty(), "{rest:?}");
    assert_eq!(rest.ids(), [second]);
}
