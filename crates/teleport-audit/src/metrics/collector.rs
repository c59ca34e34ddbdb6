//! [`StreamMetrics`]: a stream's stats and the identity's expiry as Prometheus metrics, read at
//! each scrape.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use time::OffsetDateTime;

use crate::client::Client;
use crate::health::Health;
use crate::health::HealthRule;
use crate::stats::StatsHandle;
use crate::stats::StreamStats;

/// A stream's metrics: a `prometheus-client` [`Collector`] that reads the watched stream's
/// [`StreamStats`] and the client's identity expiry at each scrape, and the stream's
/// [`Health`] by a [`HealthRule`].
///
/// Cheap to clone; clones share what they watch, so register a clone in a registry (or hand one
/// to [`super::MetricsServer::serve`]) and call [`StreamMetrics::watch`] later, once the
/// stream exists. Before that the counters read 0, the time gauges are absent, and the health
/// rule counts from when this value was made.
#[derive(Clone, Debug)]
pub struct StreamMetrics {
    rule: HealthRule,
    /// When watching began: the health rule's reference before any successful call.
    since: OffsetDateTime,
    sources: Arc<Mutex<Sources>>,
}

#[derive(Debug, Default)]
struct Sources {
    stats: Option<StatsHandle>,
    client: Option<Client>,
}

impl Default for StreamMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamMetrics {
    /// Metrics with the default [`HealthRule`], watching nothing yet.
    pub fn new() -> Self {
        Self::with_health_rule(HealthRule::default())
    }

    /// Metrics whose health (`/healthz`, `teleport_audit_healthy`) follows `rule`.
    pub fn with_health_rule(rule: HealthRule) -> Self {
        Self {
            rule,
            since: OffsetDateTime::now_utc(),
            sources: Arc::default(),
        }
    }

    /// Reads this stream's stats from now on (for example
    /// [`crate::AuditEventStream::stats_handle`]); replaces a stream watched before (its
    /// counters start again from the new stream's, which Prometheus reads as a reset).
    pub fn watch(&self, stats: StatsHandle) {
        self.lock().stats = Some(stats);
    }

    /// Reads the identity's expiry from this client at each scrape
    /// ([`Client::identity_expiry`]: an identity file renewed in place shows its new expiry).
    /// Not needed with [`StreamMetrics::watch`]: a stream's stats carry its client's identity
    /// expiry ([`StreamStats::identity_expires_at`], read the same way), which wins; this is
    /// for metrics without a stream.
    pub fn watch_identity(&self, client: &Client) {
        self.lock().client = Some(client.clone());
    }

    /// The health rule these metrics apply.
    pub fn health_rule(&self) -> HealthRule {
        self.rule
    }

    /// A snapshot of the watched stream's stats (all zero before [`StreamMetrics::watch`]).
    pub fn stats(&self) -> StreamStats {
        self.lock()
            .stats
            .as_ref()
            .map(StatsHandle::get)
            .unwrap_or_default()
    }

    /// The watched stream's health at `now` ([`HealthRule::check`], counting from when this
    /// value was made until a call succeeds).
    pub fn health(&self, now: OffsetDateTime) -> Health {
        self.rule.check(&self.stats(), self.since, now)
    }

    fn identity_expiry(&self) -> Option<OffsetDateTime> {
        // Cloned out of the lock: reading the expiry may re-read the identity file.
        let client = self.lock().client.clone();
        client?.identity_expiry()
    }

    fn lock(&self) -> MutexGuard<'_, Sources> {
        // Nothing here can be left half-updated by a panic: keep serving.
        self.sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Collector for StreamMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let now = OffsetDateTime::now_utc();
        let stats = self.stats();
        let health = self.rule.check(&stats, self.since, now);
        let out = &mut encoder;
        let counters: [(&str, &str, u64); 14] = [
            (
                "teleport_audit_events",
                "Events delivered to the caller.",
                stats.events_delivered,
            ),
            (
                "teleport_audit_events_filtered",
                "Events read but not delivered because their type is skipped (StreamConfig::skip_event_types); the cursor moves past them.",
                stats.events_filtered,
            ),
            (
                "teleport_audit_events_skipped",
                "Events skipped because they are larger than the receive size limit.",
                stats.skipped_oversized,
            ),
            (
                "teleport_audit_events_malformed",
                "Events that could not be decoded, skipped.",
                stats.malformed,
            ),
            (
                "teleport_audit_duplicates_dropped",
                "Events received again (re-reads of the lateness window) and dropped.",
                stats.duplicates_dropped,
            ),
            (
                "teleport_audit_pages",
                "Search mode: pages of events received from the Auth Service.",
                stats.pages,
            ),
            (
                "teleport_audit_export_chunks",
                "Export mode: chunks read to the end.",
                stats.chunks_done,
            ),
            (
                "teleport_audit_export_chunks_skipped",
                "Export mode: chunks given up (no longer on the server, or an event too large to receive).",
                stats.chunks_skipped,
            ),
            (
                "teleport_audit_export_chunk_listings",
                "Export mode: successful listings of a date's chunks.",
                stats.chunk_listings,
            ),
            (
                "teleport_audit_retries",
                "Failed calls to the Auth Service that were retried.",
                stats.retries,
            ),
            (
                "teleport_audit_stalls",
                "Stall reports: times the stream went without a successful call for the stall report period (StreamConfig::stall_report_after, 60 s by default).",
                stats.stalls,
            ),
            (
                "teleport_audit_recording_events",
                "Session recordings mode: recording events delivered (not counted in teleport_audit_events).",
                stats.recording_events_delivered,
            ),
            (
                "teleport_audit_sessions_finished",
                "Session recordings mode: sessions whose recording was read to the end.",
                stats.sessions_finished,
            ),
            (
                "teleport_audit_recordings_given_up",
                "Session recordings mode: recordings given up, missing after the wait or corrupt (each a notice naming the session).",
                stats.recordings_given_up,
            ),
        ];
        for (name, help, value) in counters {
            counter(out, name, help, value)?;
        }
        let seconds = Some(&Unit::Seconds);
        let gauges: [(&str, &str, Option<&Unit>, Option<f64>); 8] = [
            (
                "teleport_audit_sessions_pending",
                "Session recordings mode: sessions in progress (uploaded, recording not yet delivered to the end); the audit log is not read while it is at max_pending.",
                None,
                Some(stats.sessions_pending as f64),
            ),
            (
                "teleport_audit_consecutive_failures",
                "Failed calls since the last successful one.",
                None,
                Some(f64::from(stats.consecutive_failures)),
            ),
            (
                "teleport_audit_healthy",
                "1 while the stream makes progress or polls successfully; 0 when it has had no successful call for longer than the stall bound, or ended with a fatal error (the reason is on /healthz).",
                None,
                Some(if health.is_healthy() { 1.0 } else { 0.0 }),
            ),
            (
                "teleport_audit_lag",
                "How far the stream is behind this machine's clock (StreamStats::lag): the age of the watermark, before which every event has been delivered, or, once caught up, of the last scan that reached the present, whichever is newer. Absent before the first scan.",
                seconds,
                stats.lag(now).map(|lag| lag.as_secs_f64()),
            ),
            (
                "teleport_audit_watermark_timestamp",
                "The watermark as a Unix time: every event before it has been delivered (export mode: every chunk listed before it has been read).",
                seconds,
                stats.watermark.map(unix_seconds),
            ),
            (
                "teleport_audit_last_event_timestamp",
                "The time of the newest event delivered, as a Unix time.",
                seconds,
                stats.newest_event_time.map(unix_seconds),
            ),
            (
                "teleport_audit_last_success_timestamp",
                "When a call to the Auth Service last succeeded, as a Unix time (this machine's clock).",
                seconds,
                stats.last_success.map(unix_seconds),
            ),
            (
                "teleport_audit_identity_expiry_timestamp",
                "When the identity's certificate expires, as a Unix time; an identity file renewed in place shows its new expiry.",
                seconds,
                stats
                    .identity_expires_at
                    .or_else(|| self.identity_expiry())
                    .map(unix_seconds),
            ),
        ];
        for (name, help, unit, value) in gauges {
            gauge(out, name, help, unit, value)?;
        }
        Ok(())
    }
}

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A gauge, left out of the exposition when `value` is `None` (nothing to report yet).
fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: Option<f64>,
) -> Result<(), fmt::Error> {
    let Some(value) = value else {
        return Ok(());
    };
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

fn unix_seconds(time: OffsetDateTime) -> f64 {
    // Milliseconds are all the precision an audit event's time has.
    (time.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prometheus_client::encoding::text;
    use prometheus_client::registry::Registry;

    use super::*;

    fn render(metrics: &StreamMetrics) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(metrics.clone()));
        let mut out = String::new();
        text::encode(&mut out, &registry).unwrap();
        out
    }

    /// The value of the sample `name` (no labels), if present.
    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .map(|value| value.parse().unwrap())
    }

    const COUNTERS: [&str; 14] = [
        "teleport_audit_events",
        "teleport_audit_events_filtered",
        "teleport_audit_events_skipped",
        "teleport_audit_events_malformed",
        "teleport_audit_duplicates_dropped",
        "teleport_audit_pages",
        "teleport_audit_export_chunks",
        "teleport_audit_export_chunks_skipped",
        "teleport_audit_export_chunk_listings",
        "teleport_audit_retries",
        "teleport_audit_stalls",
        "teleport_audit_recording_events",
        "teleport_audit_sessions_finished",
        "teleport_audit_recordings_given_up",
    ];

    const TIME_GAUGES: [&str; 5] = [
        "teleport_audit_lag_seconds",
        "teleport_audit_watermark_timestamp_seconds",
        "teleport_audit_last_event_timestamp_seconds",
        "teleport_audit_last_success_timestamp_seconds",
        "teleport_audit_identity_expiry_timestamp_seconds",
    ];

    #[test]
    fn every_counter_has_help_a_type_and_a_total() {
        let text = render(&StreamMetrics::new());
        for name in COUNTERS {
            assert!(
                text.contains(&format!("# TYPE {name} counter\n")),
                "{name}: {text}"
            );
            let help = text
                .lines()
                .find_map(|line| line.strip_prefix(&format!("# HELP {name} ")))
                .unwrap_or_else(|| panic!("no HELP for {name}: {text}"));
            assert!(help.len() > 20, "{name}: {help}");
            assert_eq!(sample(&text, &format!("{name}_total")), Some(0.0), "{name}");
        }
    }

    #[test]
    fn before_anything_is_watched_time_gauges_are_absent_and_the_stream_is_healthy() {
        let text = render(&StreamMetrics::new());
        for name in TIME_GAUGES {
            assert!(!text.contains(name), "{name}: {text}");
        }
        assert!(
            text.contains("# TYPE teleport_audit_healthy gauge\n"),
            "{text}"
        );
        assert_eq!(sample(&text, "teleport_audit_healthy"), Some(1.0));
        assert_eq!(
            sample(&text, "teleport_audit_consecutive_failures"),
            Some(0.0)
        );
    }

    #[test]
    fn the_watched_stats_are_rendered() {
        let metrics = StreamMetrics::new();
        let stats = StatsHandle::default();
        metrics.watch(stats.clone());
        let newest = time::macros::datetime!(2025-12-01 10:00:00.250 UTC);
        let now = OffsetDateTime::now_utc();
        stats.update(|s| {
            s.events_delivered = 1234;
            s.events_filtered = 5;
            s.skipped_oversized = 1;
            s.malformed = 2;
            s.duplicates_dropped = 7;
            s.pages = 3;
            s.chunks_done = 4;
            s.chunks_skipped = 6;
            s.chunk_listings = 8;
            s.retries = 9;
            s.stalls = 10;
            s.recording_events_delivered = 11;
            s.sessions_finished = 12;
            s.recordings_given_up = 13;
            s.sessions_pending = 14;
            s.consecutive_failures = 2;
            s.newest_event_time = Some(newest);
            s.watermark = Some(now - Duration::from_secs(30));
            s.last_success = Some(now);
        });
        let text = render(&metrics);
        let expected = [
            ("teleport_audit_events_total", 1234.0),
            ("teleport_audit_events_filtered_total", 5.0),
            ("teleport_audit_events_skipped_total", 1.0),
            ("teleport_audit_events_malformed_total", 2.0),
            ("teleport_audit_duplicates_dropped_total", 7.0),
            ("teleport_audit_pages_total", 3.0),
            ("teleport_audit_export_chunks_total", 4.0),
            ("teleport_audit_export_chunks_skipped_total", 6.0),
            ("teleport_audit_export_chunk_listings_total", 8.0),
            ("teleport_audit_retries_total", 9.0),
            ("teleport_audit_stalls_total", 10.0),
            ("teleport_audit_recording_events_total", 11.0),
            ("teleport_audit_sessions_finished_total", 12.0),
            ("teleport_audit_recordings_given_up_total", 13.0),
            ("teleport_audit_sessions_pending", 14.0),
            ("teleport_audit_consecutive_failures", 2.0),
            (
                "teleport_audit_last_event_timestamp_seconds",
                1_764_583_200.25,
            ),
            ("teleport_audit_healthy", 1.0),
        ];
        for (name, value) in expected {
            assert_eq!(sample(&text, name), Some(value), "{name}: {text}");
        }
        let lag = sample(&text, "teleport_audit_lag_seconds").unwrap();
        assert!((30.0..3600.0).contains(&lag), "{lag}");
        assert!(
            text.contains("# UNIT teleport_audit_lag_seconds seconds\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE teleport_audit_last_event_timestamp_seconds gauge\n"),
            "{text}"
        );
        assert!(sample(&text, "teleport_audit_watermark_timestamp_seconds").is_some());
        assert!(sample(&text, "teleport_audit_last_success_timestamp_seconds").is_some());
    }

    #[test]
    fn a_fatal_error_makes_the_stream_unhealthy() {
        let metrics = StreamMetrics::new();
        let stats = StatsHandle::default();
        metrics.watch(stats.clone());
        stats.update(|s| {
            s.last_success = Some(OffsetDateTime::now_utc());
            s.fatal = Some("identity_expired");
        });
        assert_eq!(
            sample(&render(&metrics), "teleport_audit_healthy"),
            Some(0.0)
        );
        assert_eq!(
            metrics.health(OffsetDateTime::now_utc()),
            Health::Failed {
                code: "identity_expired"
            }
        );
    }

    #[test]
    fn clones_share_what_they_watch() {
        let metrics = StreamMetrics::new();
        let registered = metrics.clone();
        let stats = StatsHandle::default();
        stats.update(|s| s.events_delivered = 3);
        metrics.watch(stats);
        assert_eq!(registered.stats().events_delivered, 3);
    }

    #[test]
    fn unix_seconds_keep_milliseconds() {
        assert_eq!(
            unix_seconds(time::macros::datetime!(1970-01-01 00:00:01.5009 UTC)),
            1.5
        );
    }
}
