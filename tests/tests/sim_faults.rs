//! Every fault knob of the simulated cluster, observed by a plain tonic client.

mod support;

use std::time::Duration;

use support::rpc::{
    ASCENDING, assert_status, chunks, direct_clients, export, export_request, page, pages, ping,
    proxy_clients, search_error, session_request, session_stream, start_cluster, ts,
};
use teleport_audit_proto::auditlog::v1::GetUnstructuredEventsRequest;
use teleport_audit_proto::auditlog::v1::audit_log_service_client::AuditLogServiceClient;
use teleport_audit_proto::authservice::PingRequest;
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, LATE_CHUNK_EVENTS, Rpc, SimCluster};
use teleport_audit_tests::plain_client::Clients;
use time::OffsetDateTime;
use time::macros::datetime;
use tonic::Code;

const T0: OffsetDateTime = datetime!(2024-06-01 00:00 UTC);
const T1: OffsetDateTime = datetime!(2024-06-02 00:00 UTC);

fn search(limit: i32) -> GetUnstructuredEventsRequest {
    GetUnstructuredEventsRequest {
        start_date: ts(T0),
        end_date: ts(T1 + time::Duration::days(1)),
        limit,
        order: ASCENDING,
        ..Default::default()
    }
}

async fn cluster(backend: Backend, backlog: u64) -> (SimCluster, Clients) {
    let builder = SimCluster::builder()
        .backend(backend)
        .backlog(backlog, T0, T1)
        .final_page_key_probability(0.0);
    start_cluster(builder, &IdentitySpec::default()).await
}

fn is_connection_failure(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
    )
}

#[tokio::test]
async fn fail_next_returns_the_code_for_k_audit_calls_and_spares_ping() {
    let (sim, mut c) = cluster(Backend::Immediate, 20).await;
    sim.faults().fail_next(Code::Unavailable, 2);
    ping(&mut c).await;
    for _ in 0..2 {
        let err = search_error(&mut c, search(10)).await;
        assert_status(&err, Code::Unavailable, "injected fault");
    }
    page(&mut c, search(10)).await;
    for code in [Code::ResourceExhausted, Code::Internal] {
        sim.faults().fail_next(code, 1);
        assert_eq!(search_error(&mut c, search(10)).await.code(), code);
    }
    sim.faults().fail_next_on(Rpc::Ping, Code::Unavailable, 1);
    page(&mut c, search(10)).await;
    assert_eq!(
        c.auth.ping(PingRequest {}).await.unwrap_err().code(),
        Code::Unavailable
    );
    ping(&mut c).await;
    let stats = sim.rpc_stats();
    assert_eq!(stats.rpc(Rpc::GetUnstructuredEvents).errors, 4);
    assert_eq!(stats.rpc(Rpc::GetUnstructuredEvents).calls, 6);
    assert_eq!(stats.rpc(Rpc::Ping).errors, 1);
}

#[tokio::test]
async fn stalled_calls_never_answer_until_the_client_gives_up() {
    let (sim, mut c) = cluster(Backend::Immediate, 20).await;
    sim.faults().stall_next(1);
    let mut req = tonic::Request::new(search(10));
    req.set_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = search_error(&mut c, req).await;
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(page(&mut c, search(10)).await.items.len(), 10);
}

#[tokio::test]
async fn a_restart_ends_stalled_calls_and_keeps_the_store_and_ports() {
    let (sim, mut c) = cluster(Backend::Immediate, 300).await;
    let before = sim.store().ids_in_range(T0, T1);
    let extra = sim
        .store()
        .insert(r#"{"event":"user.login","uid":"0f5b6a5e-5a58-4f3e-9a53-0a4d9a2b0001","time":"2024-06-01T12:00:00Z","code":"T1000I"}"#, None)
        .unwrap();
    let (proxy, auth) = (sim.proxy_addr(), sim.auth_addr());
    sim.faults().stall_next(1);
    let mut stalled = c.clone();
    let call = tokio::spawn(async move { stalled.audit.get_unstructured_events(search(10)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.restart().await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("the stalled call ends")
        .unwrap();
    assert!(ended.is_err());
    assert_eq!((sim.proxy_addr(), sim.auth_addr()), (proxy, auth));
    // The channel reconnects; the store is intact.
    let mut answer = c.audit.get_unstructured_events(search(500)).await;
    if answer.is_err() {
        answer = c.audit.get_unstructured_events(search(500)).await;
    }
    let items = answer.unwrap().into_inner().items;
    assert_eq!(items.len(), before.len() + 1);
    assert!(items.iter().any(|e| e.id == extra.uid()));
    assert_eq!(sim.store().ids_in_range(T0, T1).len(), before.len() + 1);
    // Down for a while: connections are refused meanwhile.
    let restarting = tokio::spawn({
        let sim_addr = sim.proxy_addr();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tokio::net::TcpStream::connect(sim_addr).await.is_err()
        }
    });
    sim.restart_after(Duration::from_millis(1_500))
        .await
        .unwrap();
    assert!(restarting.await.unwrap(), "refused while down");
    ping(&mut proxy_clients(&sim, &IdentitySpec::default()).await).await;
}

#[tokio::test]
async fn drop_after_events_cuts_the_call_that_would_pass_the_limit() {
    let (sim, mut c) = cluster(Backend::Immediate, 400).await;
    sim.faults().drop_after_events(100);
    assert_eq!(page(&mut c, search(60)).await.items.len(), 60);
    let err = search_error(&mut c, search(60)).await;
    assert!(is_connection_failure(err.code()), "{err:?}");
    // Fired once: the next connection works.
    let mut d = direct_clients(&sim, &IdentitySpec::default()).await;
    assert_eq!(page(&mut d, search(60)).await.items.len(), 60);
}

#[tokio::test]
async fn drop_after_events_in_a_stream_delivers_up_to_the_limit() {
    let (sim, mut c) = cluster(Backend::Immediate, 400).await;
    let all = sim.store().events_in_range(T0, T1).unwrap();
    let start = all
        .iter()
        .find(|e| e.event_type == "session.start")
        .unwrap();
    let sid = serde_json::from_str::<serde_json::Value>(&start.json).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_string();
    sim.faults().drop_after_events(3);
    let mut stream = session_stream(&mut c, session_request(&sid, 0)).await;
    let mut got = 0;
    let err = loop {
        match stream.message().await {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("the stream ended cleanly after {got} events"),
            Err(e) => break e,
        }
    };
    assert_eq!(got, 3);
    assert!(is_connection_failure(err.code()), "{err:?}");
}

#[tokio::test]
async fn drop_after_bytes_cuts_the_connection_mid_response() {
    let (sim, _c) = cluster(Backend::Immediate, 2_000).await;
    let mut c = direct_clients(&sim, &IdentitySpec::default()).await;
    ping(&mut c).await;
    sim.faults().drop_after_bytes(20_000);
    let err = search_error(&mut c, search(1_000)).await;
    assert!(is_connection_failure(err.code()), "{err:?}");
    let mut d = direct_clients(&sim, &IdentitySpec::default()).await;
    assert_eq!(page(&mut d, search(1_000)).await.items.len(), 1_000);
}

#[tokio::test]
async fn oversized_events_are_served_untrimmed() {
    let (sim, mut c) = cluster(Backend::Immediate, 10).await;
    let t = T0 + time::Duration::hours(1);
    let two = sim.faults().insert_oversized_event(t, 2 << 20).unwrap();
    let five = sim
        .faults()
        .insert_oversized_event(t + time::Duration::seconds(1), 5 << 20)
        .unwrap();
    let alone: Vec<_> = pages(&mut c, search(500))
        .await
        .into_iter()
        .filter(|p| p.items.len() == 1)
        .flat_map(|p| p.items)
        .map(|e| (e.id, e.unstructured.unwrap().as_bytes().len()))
        .collect();
    assert!(
        alone
            .iter()
            .any(|(id, len)| id == two.uid() && *len > 2 << 20),
        "{alone:?}"
    );
    assert!(
        alone
            .iter()
            .any(|(id, len)| id == five.uid() && *len > 5 << 20),
        "{alone:?}"
    );
    // A client keeping gRPC's default 4 MiB limit cannot receive the 5 MiB one.
    let plain = direct_clients(&sim, &IdentitySpec::default()).await;
    let mut default_limit = AuditLogServiceClient::new(plain.channel.clone());
    let mut req = search(1);
    req.start_date = ts(t + time::Duration::seconds(1));
    let err = default_limit
        .get_unstructured_events(req)
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_malformed_struct_is_served_once() {
    let (sim, mut c) = cluster(Backend::Immediate, 50).await;
    sim.faults().malformed_struct_next_page();
    let bad_page = page(&mut c, search(20)).await;
    let decode =
        |bytes: &[u8]| teleport_audit_types::wire::struct_to_json(bytes, &mut Vec::new()).is_ok();
    let bad: Vec<_> = bad_page
        .items
        .iter()
        .filter(|e| !decode(e.unstructured.as_ref().unwrap().as_bytes()))
        .collect();
    assert_eq!(bad.len(), 1);
    let good_page = page(&mut c, search(20)).await;
    assert!(
        good_page
            .items
            .iter()
            .all(|e| decode(e.unstructured.as_ref().unwrap().as_bytes()))
    );
}

#[tokio::test]
async fn a_late_chunk_appears_for_a_past_date() {
    let (sim, mut c) = cluster(
        Backend::Athena {
            flush_interval: Duration::from_millis(200),
        },
        300,
    )
    .await;
    let before = chunks(&mut c, T0).await;
    let late = sim.faults().late_chunk(T0.date()).unwrap();
    assert_eq!(late.len(), LATE_CHUNK_EVENTS);
    let after = chunks(&mut c, T0).await;
    let new: Vec<_> = after.iter().filter(|n| !before.contains(n)).collect();
    assert_eq!(new.len(), 1);
    let mut ids = Vec::new();
    for e in export(&mut c, export_request(T0, new[0], "")).await {
        let e = e.event.unwrap();
        assert_eq!(
            OffsetDateTime::from_unix_timestamp(e.time.unwrap().seconds)
                .unwrap()
                .date(),
            T0.date()
        );
        ids.push(e.id);
    }
    ids.sort();
    let mut want: Vec<String> = late.iter().map(|e| e.uid().to_string()).collect();
    want.sort();
    assert_eq!(ids, want);
}
