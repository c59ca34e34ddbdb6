//! End-to-end throughput of the client: `AuditEventStream` draining a backfill from the simulated
//! cluster over loopback TLS + gRPC (TLS routing through the sim's proxy), events decoded into
//! `AuditEvent`s and their JSON touched as a sink would write it.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt as _;
use teleport_audit::{Client, ClientConfig, HttpProxy, StreamConfig};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

const EVENTS: u64 = 200_000;

fn client_stream(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let now = OffsetDateTime::now_utc();
    let (start, end) = (
        now - time::Duration::hours(3),
        now - time::Duration::hours(2),
    );
    let (sim, client) = runtime.block_on(async {
        let sim = SimCluster::builder()
            .backend(Backend::Immediate)
            .backlog(EVENTS, start, end)
            .start()
            .await
            .unwrap_or_else(|e| panic!("sim: {e}"));
        let identity = sim
            .issue_identity(&IdentitySpec::default().roles(["auditor"]))
            .unwrap_or_else(|e| panic!("identity: {e}"));
        let config = ClientConfig::from_identity_str(&sim.proxy_addr().to_string(), &identity)
            .unwrap_or_else(|e| panic!("config: {e}"))
            .proxy_ca_pem(sim.web_ca_pem())
            .http_proxy(HttpProxy::Disabled);
        let client = Client::connect(config)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        (sim, client)
    });

    let mut group = c.benchmark_group("client_stream");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    group.throughput(criterion::Throughput::Elements(EVENTS));
    for page_size in [500u32, 5000] {
        group.bench_function(format!("backfill_{EVENTS}_events/page_{page_size}"), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    total += runtime.block_on(async {
                        let started = Instant::now();
                        let mut stream = client.audit_events(
                            StreamConfig::default()
                                .backfill_start(start)
                                .end_time(end)
                                .page_size(page_size)
                                .max_lateness(Duration::from_millis(100)),
                        );
                        let mut count = 0u64;
                        let mut bytes = 0usize;
                        while let Some(item) = stream.next().await {
                            let event = item.unwrap_or_else(|e| panic!("stream: {e}"));
                            bytes += event.as_json().len();
                            count += 1;
                        }
                        assert_eq!(count, EVENTS, "{bytes}");
                        started.elapsed()
                    });
                }
                total
            })
        });
    }
    group.finish();
    drop(client);
    runtime.block_on(sim.shutdown());
}

criterion_group!(benches, client_stream);
criterion_main!(benches);
