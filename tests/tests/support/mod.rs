//! Helpers shared by the client and stream integration tests: a simulated cluster with an
//! auditor identity, and a connected client; `rpc`: the sim tests' calls through the plain
//! tonic client.

#![allow(dead_code, unreachable_pub)]

pub mod capture;
pub mod exactly_once;
pub mod rpc;

use std::collections::HashSet;
use std::time::Duration;

use futures::FutureExt as _;
use futures::StreamExt as _;
use teleport_audit::{
    AuditEvent, AuditEventStream, Client, ClientConfig, Error, ExponentialBackoff, Mode, Notice,
    Notices, ServerError, StreamConfig,
};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

/// An hour of the past, from two hours ago to one hour ago: room for a backlog that is
/// complete before a test starts.
pub fn past_window() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (
        now - time::Duration::hours(2),
        now - time::Duration::hours(1),
    )
}

/// Search-mode settings at test speed: polls every 100 ms, events up to 500 ms late, retries
/// after 10 to 100 ms.
pub fn fast_search(config: StreamConfig) -> StreamConfig {
    config
        .poll_interval(Duration::from_millis(100))
        .max_lateness(Duration::from_millis(500))
        .backoff(fast_backoff())
}

/// Settings at test speed for streams that may read in export mode: chunk listings and search
/// polls every 100 ms, events up to 400 ms late, retries after 10 to 100 ms.
pub fn fast_export(config: StreamConfig) -> StreamConfig {
    config
        .export_poll_interval(Duration::from_millis(100))
        .poll_interval(Duration::from_millis(100))
        .max_lateness(Duration::from_millis(400))
        .backoff(fast_backoff())
}

/// Search-mode settings at test speed ([`fast_search`]) for a backfill of `[start, end]` that
/// ends there.
pub fn search_backfill(start: OffsetDateTime, end: OffsetDateTime) -> StreamConfig {
    fast_search(StreamConfig::default())
        .backfill_start(start)
        .end_time(end)
}

/// Export-mode settings at test speed ([`fast_export`]) for a backfill from `start`.
pub fn export_backfill(start: OffsetDateTime) -> StreamConfig {
    fast_export(StreamConfig::default())
        .mode(Mode::Export)
        .backfill_start(start)
}

fn fast_backoff() -> ExponentialBackoff {
    ExponentialBackoff::new(Duration::from_millis(10), Duration::from_millis(100))
}

/// An identity file for a user whose role may list and read events.
pub fn auditor(sim: &SimCluster) -> String {
    sim.issue_identity(
        &IdentitySpec::default()
            .username("auditor")
            .roles(["auditor"]),
    )
    .expect("issue identity")
}

/// A simulated cluster on `backend` holding `count` events over [`past_window`]; that window.
pub async fn past_backlog(
    backend: Backend,
    count: u64,
) -> (SimCluster, OffsetDateTime, OffsetDateTime) {
    let (start, end) = past_window();
    let sim = SimCluster::builder()
        .backend(backend)
        .backlog(count, start, end)
        .start()
        .await
        .expect("start the simulated cluster");
    (sim, start, end)
}

/// A simulated cluster with no events, answering immediately.
pub async fn empty_cluster() -> SimCluster {
    SimCluster::builder()
        .backend(Backend::Immediate)
        .start()
        .await
        .expect("start the simulated cluster")
}

/// A client connected through the sim's proxy with the auditor identity.
pub async fn connect(sim: &SimCluster) -> Client {
    Client::connect(proxy_config(sim, &auditor(sim)))
        .await
        .expect("connect through the proxy")
}

/// A stream with `config` on a new client connected through the sim's proxy as the auditor.
pub async fn open_stream(sim: &SimCluster, config: StreamConfig) -> AuditEventStream {
    connect(sim).await.audit_events(config)
}

/// The error connecting through the sim's proxy with an identity issued for `spec` ends in (the
/// connection must fail).
pub async fn connect_error(sim: &SimCluster, spec: &IdentitySpec) -> Error {
    let identity = sim.issue_identity(spec).expect("issue identity");
    match Client::connect(proxy_config(sim, &identity)).await {
        Ok(_) => panic!("connected with an identity that must fail"),
        Err(error) => error,
    }
}

/// A config for the sim's proxy port with the given identity text.
pub fn proxy_config(sim: &SimCluster, identity: &str) -> ClientConfig {
    ClientConfig::from_identity_str(&sim.proxy_addr().to_string(), identity)
        .expect("identity parses")
        .proxy_ca_pem(sim.web_ca_pem())
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(10))
        .http_proxy(teleport_audit::HttpProxy::Disabled)
}

/// What a stream yielded.
#[derive(Debug, Default)]
pub struct Collected {
    pub events: Vec<AuditEvent>,
    /// The error the stream ended with (every error ends it), if any.
    pub errors: Vec<Error>,
    /// The notices sent while draining (stalls, skipped events, ...).
    pub notices: Vec<Notice>,
    /// Whether the stream ended (as opposed to the limit or the deadline stopping the drain).
    pub ended: bool,
}

impl Collected {
    pub fn ids(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| e.uid().expect("every event has a uid").to_owned())
            .collect()
    }

    /// Asserts the drain met no error and delivered each event `sim` holds with a time in
    /// `[start, end]` exactly once, and nothing else.
    #[track_caller]
    pub fn assert_delivered_exactly(
        &self,
        sim: &SimCluster,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) {
        assert!(self.errors.is_empty(), "{:?}", self.errors);
        assert_exactly(&self.ids(), &expected_ids(sim, start, end));
    }
}

impl Collected {
    /// The stall notices sent while draining.
    pub fn stalls(&self) -> Vec<&Notice> {
        self.notices
            .iter()
            .filter(|n| matches!(n, Notice::Stalled { .. }))
            .collect()
    }
}

/// Asserts `notice` reports a stall whose last error is a timeout, after `min_attempts` failed
/// attempts or more.
#[track_caller]
pub fn assert_stalled_by_timeouts(notice: &Notice, min_attempts: u32) {
    match notice {
        Notice::Stalled {
            last_error,
            attempts,
            ..
        } => {
            assert!(
                matches!(**last_error, Error::Server(ServerError::Timeout { .. })),
                "{last_error:?}"
            );
            assert!(*attempts >= min_attempts, "{attempts} attempts");
        }
        other => panic!("expected a stall, got {other:?}"),
    }
}

/// Drains a stream until it ends, `limit` events, or `within` passes, and takes the notices
/// sent meanwhile. An error must be the last item.
pub async fn collect(stream: &mut AuditEventStream, limit: usize, within: Duration) -> Collected {
    let mut notices = stream.notices();
    let mut out = Collected::default();
    let deadline = tokio::time::Instant::now() + within;
    while out.events.len() < limit {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => break,
            Ok(None) => {
                out.ended = true;
                break;
            }
            Ok(Some(Ok(event))) => out.events.push(event),
            Ok(Some(Err(error))) => {
                out.errors.push(error);
                assert!(stream.next().await.is_none(), "items after an error");
                out.ended = true;
                break;
            }
        }
    }
    out.notices = sent(&mut notices);
    out
}

/// The notices `notices` has received so far (without waiting; outside tokio's cooperative
/// budget, which would otherwise cut a long drain short).
pub fn sent(notices: &mut Notices) -> Vec<Notice> {
    std::iter::from_fn(|| {
        tokio::task::unconstrained(notices.next())
            .now_or_never()
            .flatten()
    })
    .collect()
}

/// The ids of every event the cluster holds with a time in `[start, end]`.
pub fn expected_ids(sim: &SimCluster, start: OffsetDateTime, end: OffsetDateTime) -> Vec<String> {
    sim.store()
        .ids_in_range(start, end)
        .into_iter()
        .map(|(_, id)| id)
        .collect()
}

/// The ids of the events of `types` the cluster holds with a time in `[start, end]`.
pub fn expected_ids_of_types(
    sim: &SimCluster,
    start: OffsetDateTime,
    end: OffsetDateTime,
    types: &[&str],
) -> Vec<String> {
    sim.store()
        .events_in_range(start, end)
        .unwrap()
        .into_iter()
        .filter(|e| types.contains(&e.event_type.as_str()))
        .map(|e| e.uid)
        .collect()
}

/// Asserts `delivered` holds each expected id exactly once and nothing else.
pub fn assert_exactly(delivered: &[String], expected: &[String]) {
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(unique.len(), delivered.len(), "duplicates delivered");
    let expected_set: HashSet<&String> = expected.iter().collect();
    let missing: Vec<_> = expected_set.difference(&unique).take(5).collect();
    let extra: Vec<_> = unique.difference(&expected_set).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} missing (e.g. {missing:?}), {} extra (e.g. {extra:?})",
        expected_set.difference(&unique).count(),
        unique.difference(&expected_set).count()
    );
}
