//! An identity file renewed in place (as Machine ID / tbot does) is picked up on reconnect:
//! the stream outlives the first certificate without a fatal error and without losing events.

mod support;

use std::time::Duration;

use futures::StreamExt as _;
use teleport_audit::{Client, ClientConfig, HttpProxy, StreamConfig};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

fn write_atomically(path: &std::path::Path, text: &str) {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

#[tokio::test]
async fn a_renewed_identity_file_is_used_after_the_old_certificate_expires() {
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .live_rate(40.0)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identity");
    let short = sim
        .issue_identity(
            &IdentitySpec::default()
                .roles(["auditor"])
                .not_after(OffsetDateTime::now_utc() + time::Duration::seconds(3)),
        )
        .unwrap();
    write_atomically(&path, &short);

    let config = ClientConfig::from_identity_file(&sim.proxy_addr().to_string(), &path)
        .unwrap()
        .proxy_ca_pem(sim.web_ca_pem())
        .http_proxy(HttpProxy::Disabled);
    let client = Client::connect(config).await.unwrap();
    let start = OffsetDateTime::now_utc();
    let mut stream = client.audit_events(
        StreamConfig::default()
            .backfill_start(start)
            .poll_interval(Duration::from_millis(100))
            .max_lateness(Duration::from_millis(300)),
    );

    // The renewal lands while the first certificate is still valid, as tbot's does.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let renewed = sim
        .issue_identity(
            &IdentitySpec::default()
                .roles(["auditor"])
                .ttl(time::Duration::hours(1)),
        )
        .unwrap();
    write_atomically(&path, &renewed);

    // Past the first certificate's expiry the server closes its connection; the client
    // reconnects with the renewed file and carries on.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let mut ids = std::collections::HashSet::new();
    let mut after_expiry = 0;
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => break,
            Ok(None) => panic!("the stream ended"),
            Ok(Some(Ok(event))) => {
                assert!(ids.insert(event.uid().unwrap().to_owned()), "duplicate");
                if event.time() > start + time::Duration::seconds(4) {
                    after_expiry += 1;
                }
            }
            Ok(Some(Err(error))) => panic!("the stream ended with {error:?}"),
        }
    }
    assert!(
        after_expiry > 20,
        "only {after_expiry} events after the first certificate expired"
    );
    let expected: Vec<String> = sim
        .store()
        .ids_in_range(
            start,
            stream.cursor().watermark() - time::Duration::nanoseconds(1),
        )
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert!(
        expected.iter().all(|id| ids.contains(id)),
        "events lost across the renewal"
    );
}
