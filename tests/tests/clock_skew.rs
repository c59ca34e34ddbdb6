//! The client's clock is not trusted: with this machine's clock an hour ahead of the server's or
//! an hour behind it, a search stream resumed across restarts loses nothing and repeats nothing,
//! a stream started "from now" starts at the server's now, and a watermark ahead of every clock is
//! refused. (The sim's clock is offset; the client runs on the real one.)

mod support;

use std::collections::HashSet;
use std::time::Duration;

use teleport_audit::{Cursor, Error, ExponentialBackoff, Mode, StreamConfig};
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

use support::{collect, connect};

fn fast(config: StreamConfig) -> StreamConfig {
    config
        .mode(Mode::Search)
        .poll_interval(Duration::from_millis(100))
        .max_lateness(Duration::from_millis(800))
        .backoff(ExponentialBackoff::new(
            Duration::from_millis(10),
            Duration::from_millis(100),
        ))
}

/// A cluster whose clock runs `offset` from the real one, with ten minutes of past events and
/// 200 new ones a second, visible up to half a second late.
async fn skewed(offset: time::Duration) -> SimCluster {
    SimCluster::builder()
        .clock_offset(offset)
        .backend(Backend::Dynamo {
            max_visibility_delay: Duration::from_millis(500),
        })
        .recent_backlog(3000, Duration::from_secs(600))
        .live_rate(200.0)
        .start()
        .await
        .unwrap()
}

/// Backfills from ten minutes before the server's now through three restarts from the cursor,
/// then checks every event the server holds before the final watermark arrived exactly once.
async fn exactly_once_across_restarts(offset: time::Duration) {
    let sim = skewed(offset).await;
    let client = connect(&sim).await;
    let start = sim.clock().now() - time::Duration::minutes(10);
    let mut delivered: Vec<String> = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for run in 0..4 {
        let config = match cursor.take() {
            Some(cursor) => fast(StreamConfig::default()).resume_from(cursor),
            None => fast(StreamConfig::default()).backfill_start(start),
        };
        let mut stream = client.audit_events(config);
        let got = collect(&mut stream, usize::MAX, Duration::from_millis(1500)).await;
        assert!(got.errors.is_empty(), "run {run}: {:?}", got.errors);
        assert!(!got.ended, "run {run}: the stream ended by itself");
        delivered.extend(got.ids());
        cursor = Some(stream.cursor());
    }
    let watermark = cursor.unwrap().watermark();
    let server_now = sim.clock().now();
    // The watermark follows the server's clock, not this machine's.
    assert!(
        watermark <= server_now,
        "watermark {watermark} is past the server's now {server_now}"
    );
    assert!(
        watermark > server_now - time::Duration::seconds(30),
        "watermark {watermark} lags the server's now {server_now}"
    );
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "{} duplicates",
        delivered.len() - unique.len()
    );
    let expected: HashSet<String> = sim
        .store()
        .ids_in_range(start, watermark - time::Duration::nanoseconds(1))
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let lost: Vec<&String> = expected.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} events before the watermark lost, e.g. {:?}",
        lost.len(),
        expected.len(),
        lost.first()
    );
    // Live events arrived during the runs, beyond the backlog.
    assert!(expected.len() > 3000, "{}", expected.len());
}

#[tokio::test]
async fn a_client_clock_an_hour_ahead_loses_nothing_and_repeats_nothing() {
    exactly_once_across_restarts(time::Duration::hours(-1)).await;
}

#[tokio::test]
async fn a_client_clock_an_hour_behind_loses_nothing_and_repeats_nothing() {
    exactly_once_across_restarts(time::Duration::hours(1)).await;
}

/// From now: the first events delivered are the server's new ones, in both directions.
async fn from_now_starts_at_the_servers_now(offset: time::Duration) {
    let sim = skewed(offset).await;
    let client = connect(&sim).await;
    let before = sim.clock().now();
    let mut stream = client.audit_events(fast(StreamConfig::default()).start_now());
    let got = collect(&mut stream, 100, Duration::from_secs(10)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(got.events.len(), 100, "live events were not delivered");
    let oldest = got.events.iter().map(|e| e.time()).min().unwrap();
    // Nothing from the backlog (up to a second of events in flight at the start).
    assert!(
        oldest >= before - time::Duration::seconds(2),
        "delivered an event from {oldest}, before the server's now {before}"
    );
}

#[tokio::test]
async fn from_now_with_a_client_clock_an_hour_ahead_delivers_live_events() {
    from_now_starts_at_the_servers_now(time::Duration::hours(-1)).await;
}

#[tokio::test]
async fn from_now_with_a_client_clock_an_hour_behind_delivers_no_past_hour() {
    from_now_starts_at_the_servers_now(time::Duration::hours(1)).await;
}

#[tokio::test]
async fn the_proxy_tells_its_clock_and_a_cursor_ahead_of_it_is_refused() {
    // The server's clock an hour behind this machine's; the proxy's Date header says so.
    let sim = skewed(time::Duration::hours(-1)).await;
    let client = connect(&sim).await;
    let offset = client
        .server_clock_offset()
        .expect("the proxy told its time");
    assert!(
        (offset + time::Duration::hours(1)).abs() < time::Duration::seconds(3),
        "{offset}"
    );
    // A cursor written by this machine's clock (an hour ahead of the server's): refused, though
    // it is not ahead of this machine's clock at all.
    let now = OffsetDateTime::now_utc();
    let text = format!(
        r#"{{"v":1,"watermark":"{}","seen":{{}}}}"#,
        now.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let mut stream = client
        .audit_events(fast(StreamConfig::default()).resume_from(Cursor::from_json(&text).unwrap()));
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(10)).await;
    assert!(got.events.is_empty());
    assert_eq!(got.errors.len(), 1, "{:?}", got.errors);
    assert!(
        matches!(&got.errors[0], Error::CursorAhead { field: "watermark", tolerance, .. }
            if *tolerance == teleport_audit::CURSOR_AHEAD_TOLERANCE),
        "{:?}",
        got.errors[0]
    );
    // A minute after the server's now is within the tolerance.
    let near = sim.clock().now() + time::Duration::seconds(30);
    let text = format!(
        r#"{{"v":1,"watermark":"{}","seen":{{}}}}"#,
        near.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let mut stream = client
        .audit_events(fast(StreamConfig::default()).resume_from(Cursor::from_json(&text).unwrap()));
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(2)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
}

#[tokio::test]
async fn a_watermark_ahead_of_every_clock_is_refused_not_trusted() {
    let sim = skewed(time::Duration::ZERO).await;
    let client = connect(&sim).await;
    let ahead = OffsetDateTime::now_utc() + time::Duration::days(1);
    let text = format!(
        r#"{{"v":1,"watermark":"{}","seen":{{}}}}"#,
        ahead
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let mut stream = client
        .audit_events(fast(StreamConfig::default()).resume_from(Cursor::from_json(&text).unwrap()));
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(10)).await;
    assert!(got.events.is_empty());
    assert!(
        got.ended,
        "the stream went on with a watermark in the future"
    );
    assert_eq!(got.errors.len(), 1, "{:?}", got.errors);
    let error = &got.errors[0];
    assert!(
        matches!(error, Error::CursorAhead { field: "watermark", time, .. } if *time == ahead),
        "{error:?}"
    );
    assert!(error.is_fatal());
    assert_eq!(error.code(), "invalid_cursor");
    assert!(error.advice().contains("clocks"), "{}", error.advice());

    // The proxy told its time (no skew here), so an hour ahead is refused too.
    assert_eq!(
        resume_at(
            &client,
            OffsetDateTime::now_utc() + time::Duration::hours(1)
        )
        .await
        .len(),
        1
    );

    // Straight to the Auth Service, nothing tells the server's time: this machine's clock may be
    // up to MAX_CLOCK_SKEW behind it, so an hour ahead of it is accepted, a day is not.
    let direct = teleport_audit::Client::connect(
        teleport_audit::ClientConfig::from_identity_str(
            &sim.auth_addr().to_string(),
            &support::auditor(&sim),
        )
        .unwrap()
        .auth_addr(sim.auth_addr().to_string()),
    )
    .await
    .unwrap();
    assert_eq!(direct.server_clock_offset(), None);
    let near = OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert!(resume_at(&direct, near).await.is_empty());
    assert_eq!(resume_at(&direct, ahead).await.len(), 1);
}

/// The errors of a stream resumed from a search cursor at `watermark` (within two seconds).
async fn resume_at(client: &teleport_audit::Client, watermark: OffsetDateTime) -> Vec<Error> {
    let text = format!(
        r#"{{"v":1,"watermark":"{}","seen":{{}}}}"#,
        watermark
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let mut stream = client
        .audit_events(fast(StreamConfig::default()).resume_from(Cursor::from_json(&text).unwrap()));
    collect(&mut stream, usize::MAX, Duration::from_secs(2))
        .await
        .errors
}

// --- export mode (Athena: chunks flushed every 300 ms of the server's clock) ---

const FLUSH: Duration = Duration::from_millis(300);

fn fast_export(config: StreamConfig) -> StreamConfig {
    config
        .mode(Mode::Export)
        .export_poll_interval(Duration::from_millis(100))
        .max_lateness(Duration::from_millis(400))
        .backoff(ExponentialBackoff::new(
            Duration::from_millis(10),
            Duration::from_millis(100),
        ))
}

async fn skewed_athena(offset: time::Duration) -> SimCluster {
    SimCluster::builder()
        .clock_offset(offset)
        .backend(Backend::Athena {
            flush_interval: FLUSH,
        })
        .recent_backlog(2000, Duration::from_secs(600))
        .live_rate(100.0)
        .start()
        .await
        .unwrap()
}

/// Export through three restarts from the cursor; then every event flushed well before the last
/// run began has arrived exactly once.
async fn export_exactly_once_across_restarts(offset: time::Duration) {
    let sim = skewed_athena(offset).await;
    let client = connect(&sim).await;
    let start = sim.clock().now() - time::Duration::minutes(10);
    let mut delivered: Vec<String> = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let mut last_run_began = start;
    for run in 0..4 {
        let config = match cursor.take() {
            Some(cursor) => fast_export(StreamConfig::default()).resume_from(cursor),
            None => fast_export(StreamConfig::default()).backfill_start(start),
        };
        last_run_began = sim.clock().now();
        let mut stream = client.audit_events(config);
        let got = collect(&mut stream, usize::MAX, Duration::from_millis(1500)).await;
        assert!(got.errors.is_empty(), "run {run}: {:?}", got.errors);
        delivered.extend(got.ids());
        cursor = Some(stream.cursor());
    }
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "{} duplicates",
        delivered.len() - unique.len()
    );
    // Flushed (two flush intervals) before the last run began: listed by it.
    let settled = last_run_began - 2 * FLUSH;
    let expected: HashSet<String> = sim
        .store()
        .ids_in_range(start, settled)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let lost: Vec<&String> = expected.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} events lost, e.g. {:?}",
        lost.len(),
        expected.len(),
        lost.first()
    );
    let all: HashSet<String> = sim
        .store()
        .ids_in_range(start, sim.clock().now())
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert!(
        unique.iter().all(|id| all.contains(*id)),
        "delivered an event the cluster does not hold in the range"
    );
    assert!(expected.len() > 2000, "{}", expected.len());
}

#[tokio::test]
async fn export_with_a_client_clock_an_hour_ahead_loses_nothing_and_repeats_nothing() {
    export_exactly_once_across_restarts(time::Duration::hours(-1)).await;
}

#[tokio::test]
async fn export_with_a_client_clock_an_hour_behind_loses_nothing_and_repeats_nothing() {
    export_exactly_once_across_restarts(time::Duration::hours(1)).await;
}

/// Export from now: live events arrive, and nothing from the backlog.
async fn export_from_now(offset: time::Duration) {
    let sim = skewed_athena(offset).await;
    let client = connect(&sim).await;
    let before = sim.clock().now();
    let mut stream = client.audit_events(fast_export(StreamConfig::default()).start_now());
    let got = collect(&mut stream, 50, Duration::from_secs(10)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(got.events.len(), 50, "live events were not delivered");
    let oldest = got.events.iter().map(|e| e.time()).min().unwrap();
    assert!(
        oldest >= before - time::Duration::seconds(2),
        "delivered an event from {oldest}, before the server's now {before}"
    );
}

#[tokio::test]
async fn export_from_now_with_a_client_clock_an_hour_ahead_delivers_live_events() {
    export_from_now(time::Duration::hours(-1)).await;
}

#[tokio::test]
async fn export_from_now_with_a_client_clock_an_hour_behind_delivers_no_backlog() {
    export_from_now(time::Duration::hours(1)).await;
}
