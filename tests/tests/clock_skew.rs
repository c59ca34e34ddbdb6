//! The client's clock is not trusted: with this machine's clock an hour ahead of the server's or
//! an hour behind it, a stream (search or export) resumed across restarts loses nothing and
//! repeats nothing, a stream started "from now" starts at the server's now, and a cursor ahead of
//! the server's clock is refused. (The sim's clock is offset; the client runs on the real one.)

mod support;

use std::collections::HashSet;
use std::time::Duration;

use teleport_audit::{
    Client, ClientConfig, Cursor, CursorError, Error, ExponentialBackoff, Mode, StreamConfig,
};
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

use support::{auditor, collect, connect};

const HOUR: time::Duration = time::Duration::HOUR;
/// Athena's flush interval in the export tests (in the server's time).
const FLUSH: Duration = Duration::from_millis(300);

fn search(config: StreamConfig) -> StreamConfig {
    quick(config)
        .mode(Mode::Search)
        .max_lateness(Duration::from_millis(800))
}

fn export(config: StreamConfig) -> StreamConfig {
    quick(config)
        .mode(Mode::Export)
        .export_poll_interval(Duration::from_millis(100))
        .max_lateness(Duration::from_millis(400))
}

fn quick(config: StreamConfig) -> StreamConfig {
    config
        .poll_interval(Duration::from_millis(100))
        .backoff(ExponentialBackoff::new(
            Duration::from_millis(10),
            Duration::from_millis(100),
        ))
}

/// A cluster whose clock runs `offset` from the real one, with ten minutes of past events up to
/// the server's now and new ones every few milliseconds.
async fn skewed(offset: time::Duration, backend: Backend) -> SimCluster {
    SimCluster::builder()
        .clock_offset(offset)
        .backend(backend)
        .recent_backlog(2500, Duration::from_secs(600))
        .live_rate(150.0)
        .start()
        .await
        .unwrap()
}

fn dynamo() -> Backend {
    Backend::Dynamo {
        max_visibility_delay: Duration::from_millis(500),
    }
}

fn athena() -> Backend {
    Backend::Athena {
        flush_interval: FLUSH,
    }
}

/// Backfills from ten minutes before the server's now through three restarts from the cursor;
/// then every event the server holds up to `settled(final cursor, when the last run began by
/// the server's clock)` must have arrived once, and nothing twice. Returns the final cursor.
async fn exactly_once_across_restarts(
    sim: &SimCluster,
    configure: fn(StreamConfig) -> StreamConfig,
    settled: fn(&Cursor, OffsetDateTime) -> OffsetDateTime,
) -> Cursor {
    let client = connect(sim).await;
    let start = sim.clock().now() - time::Duration::minutes(10);
    let mut delivered: Vec<String> = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let mut last_run_began = start;
    for run in 0..4 {
        let config = match cursor.take() {
            Some(cursor) => configure(StreamConfig::default()).resume_from(cursor),
            None => configure(StreamConfig::default()).backfill_start(start),
        };
        last_run_began = sim.clock().now();
        let mut stream = client.audit_events(config);
        let got = collect(&mut stream, usize::MAX, Duration::from_millis(1500)).await;
        assert!(got.errors.is_empty(), "run {run}: {:?}", got.errors);
        assert!(!got.ended, "run {run}: the stream ended by itself");
        delivered.extend(got.ids());
        cursor = Some(stream.cursor());
    }
    let cursor = cursor.unwrap();
    let unique: HashSet<&String> = delivered.iter().collect();
    let duplicates = delivered.len() - unique.len();
    assert_eq!(duplicates, 0, "{duplicates} duplicates");
    let until = settled(&cursor, last_run_began);
    let expected: HashSet<String> = ids(sim, start, until);
    let lost: Vec<&String> = expected.iter().filter(|id| !unique.contains(id)).collect();
    let lost_at: Vec<_> = sim
        .store()
        .ids_in_range(start, until)
        .into_iter()
        .filter(|(_, id)| lost.contains(&id))
        .take(3)
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} events from {start} up to {until} lost (server now {}, cursor {}), e.g. {lost_at:?}",
        lost.len(),
        expected.len(),
        sim.clock().now(),
        cursor.to_json().chars().take(300).collect::<String>(),
    );
    let held = ids(sim, start, sim.clock().now());
    assert!(
        unique.iter().all(|id| held.contains(*id)),
        "delivered an event the cluster does not hold in the range"
    );
    // Live events arrived during the runs, beyond the backlog.
    assert!(expected.len() > 2500, "{}", expected.len());
    cursor
}

fn ids(sim: &SimCluster, from: OffsetDateTime, to: OffsetDateTime) -> HashSet<String> {
    sim.store()
        .ids_in_range(from, to)
        .into_iter()
        .map(|(_, id)| id)
        .collect()
}

/// Search: everything before the final watermark, which follows the server's clock.
async fn search_exactly_once(offset: time::Duration) {
    let sim = skewed(offset, dynamo()).await;
    let cursor = exactly_once_across_restarts(&sim, search, |cursor, _| {
        cursor.watermark() - time::Duration::nanoseconds(1)
    })
    .await;
    let (watermark, server_now) = (cursor.watermark(), sim.clock().now());
    assert!(
        watermark <= server_now,
        "watermark {watermark} is past the server's now {server_now}"
    );
    assert!(
        watermark > server_now - time::Duration::seconds(30),
        "watermark {watermark} lags the server's now {server_now}"
    );
}

/// Export: every event flushed (two flush intervals) before the last run began, which lists it
/// first thing.
async fn export_exactly_once(offset: time::Duration) {
    let sim = skewed(offset, athena()).await;
    exactly_once_across_restarts(&sim, export, |_, last_run_began| last_run_began - 2 * FLUSH)
        .await;
}

#[tokio::test]
async fn search_with_a_client_clock_an_hour_ahead_loses_nothing_and_repeats_nothing() {
    search_exactly_once(-HOUR).await;
}

#[tokio::test]
async fn search_with_a_client_clock_an_hour_behind_loses_nothing_and_repeats_nothing() {
    search_exactly_once(HOUR).await;
}

#[tokio::test]
async fn export_with_a_client_clock_an_hour_ahead_loses_nothing_and_repeats_nothing() {
    export_exactly_once(-HOUR).await;
}

#[tokio::test]
async fn export_with_a_client_clock_an_hour_behind_loses_nothing_and_repeats_nothing() {
    export_exactly_once(HOUR).await;
}

/// From now: live events arrive, and nothing from before the server's now (up to two seconds of
/// events in flight at the start).
async fn from_now(
    offset: time::Duration,
    backend: Backend,
    configure: fn(StreamConfig) -> StreamConfig,
) {
    let sim = skewed(offset, backend).await;
    let client = connect(&sim).await;
    let before = sim.clock().now();
    let mut stream = client.audit_events(configure(StreamConfig::default()).start_now());
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
async fn search_from_now_with_a_client_clock_an_hour_ahead_delivers_live_events() {
    from_now(-HOUR, dynamo(), search).await;
}

#[tokio::test]
async fn search_from_now_with_a_client_clock_an_hour_behind_delivers_no_past_hour() {
    from_now(HOUR, dynamo(), search).await;
}

#[tokio::test]
async fn export_from_now_with_a_client_clock_an_hour_ahead_delivers_live_events() {
    from_now(-HOUR, athena(), export).await;
}

#[tokio::test]
async fn export_from_now_with_a_client_clock_an_hour_behind_delivers_no_backlog() {
    from_now(HOUR, athena(), export).await;
}

/// The errors of a search stream resumed from a cursor at `watermark` (within two seconds).
async fn resume_at(client: &Client, watermark: OffsetDateTime) -> Vec<Error> {
    let text = format!(
        r#"{{"v":1,"watermark":"{}","seen":{{}}}}"#,
        watermark
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let mut stream = client.audit_events(
        search(StreamConfig::default()).resume_from(Cursor::from_json(&text).unwrap()),
    );
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(2)).await;
    assert!(got.events.is_empty() || got.errors.is_empty());
    if !got.errors.is_empty() {
        assert!(got.ended, "the stream went on after {:?}", got.errors);
    }
    got.errors
}

#[tokio::test]
async fn the_proxy_tells_its_clock_and_a_cursor_ahead_of_it_is_refused() {
    // The server's clock an hour behind this machine's; the proxy's Date header says so.
    let sim = skewed(-HOUR, dynamo()).await;
    let client = connect(&sim).await;
    let offset = client
        .server_clock_offset()
        .expect("the proxy told its time");
    assert!(
        (offset + HOUR).abs() < time::Duration::seconds(3),
        "{offset}"
    );
    // A cursor written by this machine's clock (an hour ahead of the server's): refused, though
    // it is not ahead of this machine's clock at all.
    let errors = resume_at(&client, OffsetDateTime::now_utc()).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(&errors[0], Error::Cursor(CursorError::Ahead { field: "watermark", tolerance, .. })
            if *tolerance == teleport_audit::CURSOR_AHEAD_TOLERANCE),
        "{:?}",
        errors[0]
    );
    // Half a minute after the server's now is within the tolerance.
    let near = sim.clock().now() + time::Duration::seconds(30);
    assert_eq!(resume_at(&client, near).await.len(), 0);
}

#[tokio::test]
async fn a_cursor_ahead_of_every_clock_is_refused_not_trusted() {
    let sim = skewed(time::Duration::ZERO, dynamo()).await;
    let client = connect(&sim).await;
    let ahead = OffsetDateTime::now_utc() + time::Duration::days(1);
    let errors = resume_at(&client, ahead).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    assert!(
        matches!(error, Error::Cursor(CursorError::Ahead { field: "watermark", time, .. }) if *time == ahead),
        "{error:?}"
    );
    assert!(error.is_fatal());
    assert_eq!(error.code(), "invalid_cursor");
    assert!(error.advice().contains("clocks"), "{}", error.advice());
    // The proxy told its time (no skew here), so an hour ahead is refused too.
    let hour_ahead = OffsetDateTime::now_utc() + HOUR;
    assert_eq!(resume_at(&client, hour_ahead).await.len(), 1);

    // Straight to the Auth Service nothing tells the server's time: this machine's clock may be
    // up to MAX_CLOCK_SKEW behind it, so an hour ahead of it is accepted, a day is not.
    let direct = Client::connect(
        ClientConfig::from_identity_str(&sim.auth_addr().to_string(), &auditor(&sim))
            .unwrap()
            .auth_addr(sim.auth_addr().to_string()),
    )
    .await
    .unwrap();
    assert_eq!(direct.server_clock_offset(), None);
    assert_eq!(resume_at(&direct, hour_ahead).await.len(), 0);
    assert_eq!(resume_at(&direct, ahead).await.len(), 1);
}

#[tokio::test]
async fn export_without_skew_loses_nothing_and_repeats_nothing() {
    export_exactly_once(time::Duration::ZERO).await;
}
