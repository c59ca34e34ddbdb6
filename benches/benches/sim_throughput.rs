//! How fast the simulated cluster serves search pages: a plain tonic client pages through a
//! 100 000-event backlog over loopback mTLS (straight to the Auth Service, and through the
//! proxy's TLS routing), after one warm-up pass so the pages are pre-generated.
//!
//! Run: `cargo bench -p teleport-audit-benches --bench sim_throughput`

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hyper_util::rt::TokioIo;
use prost_types::Timestamp;
use teleport_audit_proto::auditlog::v1::audit_log_service_client::AuditLogServiceClient;
use teleport_audit_proto::auditlog::v1::{GetUnstructuredEventsRequest, Order};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};
use teleport_identity::{AUTH_SERVER_NAME, AuthRoute, Identity};
use time::macros::datetime;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};

const EVENTS: u64 = 100_000;

async fn channel(addr: std::net::SocketAddr, identity: &Identity, route: AuthRoute) -> Channel {
    let config = Arc::new(
        identity
            .tls_client_config(route)
            .expect("client TLS config"),
    );
    let connector = tower::service_fn(move |_: http::Uri| {
        let config = config.clone();
        async move {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let name = rustls::pki_types::ServerName::try_from(AUTH_SERVER_NAME)
                .map_err(std::io::Error::other)?;
            let tls = TlsConnector::from(config).connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Endpoint::from_static("http://teleport.cluster.local")
        .connect_with_connector(connector)
        .await
        .expect("connect")
}

/// Pages through the whole backlog; returns the number of events received.
async fn drain(client: &mut AuditLogServiceClient<Channel>, limit: i32) -> u64 {
    let mut req = GetUnstructuredEventsRequest {
        start_date: Some(Timestamp {
            seconds: datetime!(2024-01-01 0:00 UTC).unix_timestamp(),
            nanos: 0,
        }),
        end_date: Some(Timestamp {
            seconds: datetime!(2024-01-02 0:00 UTC).unix_timestamp(),
            nanos: 0,
        }),
        limit,
        order: Order::Ascending as i32,
        ..Default::default()
    };
    let mut n = 0;
    loop {
        let page = client
            .get_unstructured_events(req.clone())
            .await
            .expect("page")
            .into_inner();
        n += page.items.len() as u64;
        if page.last_key.is_empty() {
            return n;
        }
        req.start_key = page.last_key;
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (sim, direct, proxied) = rt.block_on(async {
        let sim = SimCluster::builder()
            .backend(Backend::Immediate)
            .backlog(
                EVENTS,
                datetime!(2024-01-01 0:00 UTC),
                datetime!(2024-01-01 12:00 UTC),
            )
            .final_page_key_probability(0.0)
            .event_cache_bytes(512 << 20)
            .start()
            .await
            .expect("start the sim");
        let text = sim
            .issue_identity(&IdentitySpec::default())
            .expect("identity");
        let identity = Identity::from_identity_str(&text).expect("parse identity");
        let direct = AuditLogServiceClient::new(
            channel(sim.auth_addr(), &identity, AuthRoute::Direct).await,
        )
        .max_decoding_message_size(16 << 20);
        let proxied = AuditLogServiceClient::new(
            channel(sim.proxy_addr(), &identity, AuthRoute::ThroughProxy).await,
        )
        .max_decoding_message_size(16 << 20);
        // Warm-up: generate and encode every page once.
        let mut warm = direct.clone();
        assert_eq!(drain(&mut warm, 10_000).await, EVENTS);
        (sim, direct, proxied)
    });

    let mut group = c.benchmark_group("sim_search");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    for (name, client, limit) in [
        ("direct_limit_500", &direct, 500),
        ("direct_limit_10000", &direct, 10_000),
        ("proxy_limit_500", &proxied, 500),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut client = client.clone();
                let n = rt.block_on(drain(&mut client, limit));
                assert_eq!(n, EVENTS);
            });
        });
    }
    group.finish();
    drop(sim);
}

criterion_group!(benches, bench);
criterion_main!(benches);
