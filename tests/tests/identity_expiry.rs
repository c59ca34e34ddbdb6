//! The warning ahead of the identity's expiry: one log line per identity once it is within the
//! margin, and the expiry in the stream's stats.

mod support;

use std::time::Duration;

use teleport_audit::{Client, StreamConfig};
use teleport_audit_sim::SimCluster;
use teleport_audit_sim::ca::IdentitySpec;
use time::OffsetDateTime;
use tracing_subscriber::util::SubscriberInitExt as _;

use support::capture::Capture;
use support::{empty_cluster, proxy_config};

const WARNING: &str = "the identity expires soon";

fn identity(sim: &SimCluster, not_before: OffsetDateTime, not_after: OffsetDateTime) -> String {
    sim.issue_identity(
        &IdentitySpec::default()
            .username("auditor")
            .roles(["auditor"])
            .not_before(not_before)
            .not_after(not_after),
    )
    .unwrap()
}

/// Connects with `identity` (and `margin`), reads the stats a few times, and returns them with
/// the captured log. The tests run on one thread, so the watcher task logs to this capture.
async fn run(
    sim: &SimCluster,
    identity: &str,
    margin: Option<Duration>,
) -> (teleport_audit::StreamStats, Option<bool>, String) {
    let capture = Capture::default();
    let writer = capture.clone();
    let _guard = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish()
        .set_default();
    let mut config = proxy_config(sim, identity);
    if let Some(margin) = margin {
        config = config.expiry_warning_margin(margin);
    }
    let client = Client::connect(config).await.unwrap();
    let stream = client.audit_events(StreamConfig::default());
    let mut stats = stream.stats();
    for _ in 0..5 {
        client.ping().await.unwrap();
        stats = stream.stats();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (stats, client.identity_expiring_soon(), capture.text())
}

#[tokio::test]
async fn an_identity_within_the_default_margin_is_warned_about_once_and_shows_in_stats() {
    let sim = empty_cluster().await;
    let now = OffsetDateTime::now_utc();
    // 55 minutes of life, 5 left: inside the default margin (a tenth: 5.5 minutes).
    let not_after = now + time::Duration::minutes(5);
    let text = identity(&sim, now - time::Duration::minutes(50), not_after);
    let (stats, soon, log) = run(&sim, &text, None).await;
    assert_eq!(
        stats.identity_expires_at.map(|t| t.unix_timestamp()),
        Some(not_after.unix_timestamp())
    );
    assert!(stats.identity_expiring_soon);
    assert_eq!(soon, Some(true));
    assert_eq!(log.matches(WARNING).count(), 1, "{log}");
    assert!(log.contains("WARN"), "{log}");
}

#[tokio::test]
async fn a_fresh_identity_is_not_warned_about_unless_the_margin_says_so() {
    let sim = empty_cluster().await;
    let now = OffsetDateTime::now_utc();
    let not_after = now + time::Duration::hours(8);
    let text = identity(&sim, now - time::Duration::minutes(1), not_after);
    let (stats, soon, log) = run(&sim, &text, None).await;
    assert_eq!(
        stats.identity_expires_at.map(|t| t.unix_timestamp()),
        Some(not_after.unix_timestamp())
    );
    assert!(!stats.identity_expiring_soon);
    assert_eq!(soon, Some(false));
    assert!(!log.contains(WARNING), "{log}");
    // A margin longer than what is left: warned.
    let (stats, soon, log) = run(&sim, &text, Some(Duration::from_secs(9 * 3600))).await;
    assert!(stats.identity_expiring_soon);
    assert_eq!(soon, Some(true));
    assert_eq!(log.matches(WARNING).count(), 1, "{log}");
}
