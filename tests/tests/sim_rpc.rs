//! The simulated Auth Service's RPCs and their edge cases, driven by a plain tonic client.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::rpc::{
    ASCENDING, DESCENDING, all, assert_status, chunks, chunks_error, direct_clients, drain, export,
    export_error, export_request, export_stream, page, ping, proxy_clients, search_error,
    session_error, session_request, session_stream, start_cluster, ts, when,
};
use teleport_audit_proto::auditlog::v1::{
    GetUnstructuredEventsRequest, StreamUnstructuredSessionEventsRequest,
};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, Permissions, Rpc, SimCluster};
use teleport_audit_tests::plain_client::Clients;
use time::OffsetDateTime;
use time::macros::datetime;
use tonic::Code;

const T0: OffsetDateTime = datetime!(2024-05-01 00:00 UTC);
const T1: OffsetDateTime = datetime!(2024-05-01 06:00 UTC);

const DYNAMO: Backend = Backend::Dynamo {
    max_visibility_delay: Duration::ZERO,
};
const ATHENA: Backend = Backend::Athena {
    flush_interval: Duration::from_millis(200),
};

fn search(
    start: OffsetDateTime,
    end: OffsetDateTime,
    limit: i32,
    order: i32,
    key: &str,
) -> GetUnstructuredEventsRequest {
    GetUnstructuredEventsRequest {
        namespace: "default".into(),
        start_date: ts(start),
        end_date: ts(end),
        event_types: vec![],
        limit,
        start_key: key.into(),
        order,
    }
}

/// `limit` events of the whole backlog, ascending, from the start.
fn first(limit: i32) -> GetUnstructuredEventsRequest {
    search(T0, T1, limit, ASCENDING, "")
}

async fn cluster(backlog: u64, backend: Backend) -> (SimCluster, Clients) {
    let builder = SimCluster::builder()
        .backend(backend)
        .backlog(backlog, T0, T1)
        .final_page_key_probability(0.0);
    start_cluster(builder, &IdentitySpec::default().roles(["auditor"])).await
}

/// The id of a session that starts in the backlog.
fn a_session_id(sim: &SimCluster) -> String {
    let all = sim.store().events_in_range(T0, T1).unwrap();
    let start = all
        .iter()
        .find(|e| e.event_type == "session.start")
        .unwrap();
    serde_json::from_str::<serde_json::Value>(&start.json).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn ping_reports_the_cluster() {
    let (sim, mut c) = cluster(0, Backend::Immediate).await;
    let pong = ping(&mut c).await;
    assert_eq!(pong.cluster_name, sim.cluster_name());
    assert_eq!(pong.server_version, "18.2.0");
    assert_eq!(
        pong.proxy_public_addr,
        format!("localhost:{}", sim.proxy_addr().port())
    );
    assert!(pong.remote_addr.starts_with("127.0.0.1:"));
    assert_eq!(sim.rpc_stats().calls(Rpc::Ping), 1);
}

#[tokio::test]
async fn order_zero_is_ascending_on_the_wire_and_limit_zero_means_500() {
    let (sim, mut c) = cluster(1_200, Backend::Immediate).await;
    let stored = sim.store().ids_in_range(T0, T1);
    // The proto's default (0, named ORDER_DESCENDING_UNSPECIFIED) is what Teleport reads as
    // ascending.
    let up = page(&mut c, first(0)).await;
    assert_eq!(up.items.len(), 500);
    assert!(!up.last_key.is_empty());
    let times: Vec<_> = up.items.iter().map(when).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "ascending");
    assert_eq!(up.items[0].id, stored[0].1);
    let down = page(&mut c, search(T0, T1, -1, DESCENDING, "")).await;
    assert_eq!(down.items.len(), 500);
    let times: Vec<_> = down.items.iter().map(when).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "descending");
    assert_eq!(down.items[0].id, stored.last().unwrap().1);
    assert_eq!(
        sim.rpc_stats().rpc(Rpc::GetUnstructuredEvents).events,
        1_000
    );
}

#[tokio::test]
async fn limit_over_10000_is_invalid_argument() {
    let (_sim, mut c) = cluster(10, Backend::Immediate).await;
    let err = search_error(&mut c, first(10_001)).await;
    assert_status(&err, Code::InvalidArgument, "10001 exceeds 10000");
    assert_eq!(page(&mut c, first(10_000)).await.items.len(), 10);
}

#[tokio::test]
async fn ranges_are_inclusive_and_search_matches_the_store() {
    let (sim, mut c) = cluster(3_000, Backend::Immediate).await;
    let all = sim.store().ids_in_range(T0, T1);
    // Bounds exactly on events: both are included.
    let (a, b) = (all[100].0, all[1_900].0);
    let (events, calls) = drain(&mut c, search(a, b, 333, ASCENDING, "")).await;
    let got: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(got.first(), Some(&all[100].1));
    assert_eq!(got.last(), Some(&all[1_900].1));
    assert_eq!(got, support::expected_ids(&sim, a, b));
    assert_eq!(
        calls,
        1_801usize.div_ceil(333) + usize::from(1_801 % 333 == 0)
    );
    // Every event decodes to JSON with its id and type.
    for e in events.iter().take(50) {
        let mut json = Vec::new();
        teleport_audit_types::wire::struct_to_json(
            e.unstructured.as_ref().unwrap().as_bytes(),
            &mut json,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["uid"], e.id.as_str());
        assert_eq!(v["event"], e.r#type.as_str());
        assert_eq!(v["ei"].as_i64(), Some(e.index));
    }
}

#[tokio::test]
async fn pages_are_capped_by_bytes_with_at_least_one_event() {
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .backlog(300, T0, T1)
        .page_byte_cap(8 * 1024)
        .final_page_key_probability(0.0)
        .start()
        .await
        .unwrap();
    let mut c = direct_clients(&sim, &IdentitySpec::default()).await;
    let capped = page(&mut c, first(500)).await;
    assert!(
        capped.items.len() > 1 && capped.items.len() < 300,
        "{}",
        capped.items.len()
    );
    assert!(!capped.last_key.is_empty());
    let (events, _) = drain(&mut c, first(500)).await;
    assert_eq!(events.len(), 300);
    // A single event bigger than the cap still comes, alone.
    let big = sim
        .faults()
        .insert_oversized_event(T1 + time::Duration::minutes(1), 20_000)
        .unwrap();
    let alone = page(
        &mut c,
        search(T1, T1 + time::Duration::hours(1), 500, ASCENDING, ""),
    )
    .await;
    assert_eq!(alone.items.len(), 1);
    assert_eq!(alone.items[0].id, big.uid());
}

#[tokio::test]
async fn a_final_page_may_carry_a_key_then_an_empty_page_ends_the_query() {
    // DynamoDB's LastEvaluatedKey can be set on the last page.
    let (_sim, mut c) = start_cluster(
        SimCluster::builder()
            .backend(DYNAMO)
            .backlog(40, T0, T1)
            .final_page_key_probability(1.0),
        &IdentitySpec::default(),
    )
    .await;
    let one = page(&mut c, first(100)).await;
    assert_eq!(one.items.len(), 40);
    assert!(!one.last_key.is_empty());
    let two = page(&mut c, search(T0, T1, 100, ASCENDING, &one.last_key)).await;
    assert!(two.items.is_empty());
    assert!(two.last_key.is_empty());
}

#[tokio::test]
async fn a_start_key_that_does_not_decode_is_invalid_argument() {
    let (_sim, mut c) = cluster(10, Backend::Immediate).await;
    let err = search_error(&mut c, search(T0, T1, 10, ASCENDING, "garbage!")).await;
    assert_status(
        &err,
        Code::InvalidArgument,
        "start_key \"garbage!\" is not a valid immediate cursor",
    );
    let (_sim, mut d) = cluster(10, DYNAMO).await;
    let key = "{\"date\":\"2024-05-01\"}";
    let err = search_error(&mut d, search(T0, T1, 10, ASCENDING, key)).await;
    assert_status(&err, Code::InvalidArgument, "dynamo cursor");
}

#[tokio::test]
async fn dynamo_cursors_are_json_and_athena_cursors_base64() {
    let (_sim, mut d) = cluster(100, DYNAMO).await;
    let key = page(&mut d, first(10)).await.last_key;
    let key: serde_json::Value = serde_json::from_str(&key).unwrap();
    assert_eq!(key["date"], "2024-05-01");
    assert!(key["iterator"]["CreatedAt"]["N"].is_string());
    let (_sim, mut a) = cluster(100, ATHENA).await;
    let key = page(&mut a, first(10)).await.last_key;
    assert_eq!(key.len(), 32);
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
    );
}

#[tokio::test]
async fn event_types_filter_server_side() {
    let (sim, mut c) = cluster(2_000, Backend::Immediate).await;
    let mut req = first(1_000);
    req.event_types = vec!["session.start".into(), "user.login".into()];
    let (events, _) = drain(&mut c, req).await;
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e.r#type == "session.start" || e.r#type == "user.login")
    );
    let expected = sim
        .store()
        .events_in_range(T0, T1)
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "session.start" || e.event_type == "user.login")
        .count();
    assert_eq!(events.len(), expected);
}

#[tokio::test]
async fn session_stream_returns_the_session_from_start_index_and_not_found_otherwise() {
    let (sim, mut c) = cluster(500, Backend::Immediate).await;
    let sid = a_session_id(&sim);
    let got = all(session_stream(&mut c, session_request(&sid, 2)).await).await;
    assert!(!got.is_empty());
    assert_eq!(got[0].index, 2);
    assert!(got.windows(2).all(|w| w[0].index + 1 == w[1].index));
    assert_eq!(got.last().unwrap().r#type, "session.end");
    let unknown = session_request("6ba7b810-9dad-41d1-80b4-00c04fd430c8", 0);
    assert_eq!(session_error(&mut c, unknown).await.code(), Code::NotFound);
}

#[tokio::test]
async fn export_is_unimplemented_on_dynamo_and_works_on_athena() {
    let (_sim, mut d) = cluster(10, DYNAMO).await;
    let err = chunks_error(&mut d, T0).await;
    assert_status(
        &err,
        Code::Unimplemented,
        "export not supported by this backend",
    );
    let err = export_error(&mut d, export_request(T0, "x", "")).await;
    assert_eq!(err.code(), Code::Unimplemented);

    let (sim, mut a) = cluster(800, ATHENA).await;
    let chunks = chunks(&mut a, T0).await;
    assert!(chunks.len() > 100, "{}", chunks.len());
    let mut exported = BTreeSet::new();
    for chunk in &chunks {
        for e in export(&mut a, export_request(T0, chunk, "")).await {
            exported.insert(e.event.unwrap().id);
        }
    }
    let stored: BTreeSet<String> = support::expected_ids(&sim, T0, T1).into_iter().collect();
    assert_eq!(exported, stored);

    // A per-event cursor resumes right after its event.
    let big = &chunks[0];
    let all = export(&mut a, export_request(T0, big, "")).await;
    if all.len() > 1 {
        let mut s = export_stream(&mut a, export_request(T0, big, &all[0].cursor)).await;
        let first_resumed = s.message().await.unwrap().unwrap();
        assert_eq!(
            first_resumed.event.unwrap().id,
            all[1].event.as_ref().unwrap().id
        );
    }
    let err = export_error(&mut a, export_request(T0, big, "bad")).await;
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = export_error(&mut a, export_request(T0, "no-such-chunk", "")).await;
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn chunk_order_is_not_time_order() {
    let sim = SimCluster::builder()
        .backend(ATHENA)
        .backlog(5_000, T0, T0 + time::Duration::minutes(10))
        .start()
        .await
        .unwrap();
    let mut a = direct_clients(&sim, &IdentitySpec::default()).await;
    let chunk = chunks(&mut a, T0).await.remove(0);
    let times: Vec<_> = export(&mut a, export_request(T0, &chunk, ""))
        .await
        .into_iter()
        .map(|e| when(&e.event.unwrap()))
        .collect();
    assert!(times.len() > 100);
    assert!(
        times.windows(2).any(|w| w[0] > w[1]),
        "chunk events are not sorted by time"
    );
}

#[tokio::test]
async fn roles_without_permissions_get_permission_denied() {
    let sim = SimCluster::builder()
        .backend(ATHENA)
        .backlog(10, T0, T1)
        .role("lister-only", Permissions::none().event_list(true))
        .role(
            "events-no-sessions",
            Permissions::none().event_list(true).event_read(true),
        )
        .start()
        .await
        .unwrap();
    let mut access = proxy_clients(
        &sim,
        &IdentitySpec::default().username("bob").roles(["access"]),
    )
    .await;
    let err = search_error(&mut access, first(10)).await;
    assert_status(&err, Code::PermissionDenied, "\"list\" on \"event\"");
    let err = chunks_error(&mut access, T0).await;
    assert_eq!(err.code(), Code::PermissionDenied);
    // Ping needs no permission.
    ping(&mut access).await;

    let mut lister = proxy_clients(&sim, &IdentitySpec::default().roles(["lister-only"])).await;
    let err = search_error(&mut lister, first(10)).await;
    assert_status(&err, Code::PermissionDenied, "\"read\" on \"event\"");

    let mut no_sessions =
        proxy_clients(&sim, &IdentitySpec::default().roles(["events-no-sessions"])).await;
    page(&mut no_sessions, first(10)).await;
    let err = session_error(&mut no_sessions, session_request("x", 0)).await;
    assert_status(&err, Code::PermissionDenied, "\"read\" on \"session\"");
    assert!(sim.rpc_stats().total_errors() >= 4);
}

#[tokio::test]
async fn the_file_backend_keys_pages_by_uid_and_ends_quietly_on_a_foreign_key() {
    let (sim, mut c) = cluster(120, Backend::File).await;
    let stored = sim.store().ids_in_range(T0, T1);
    assert_eq!(
        page(&mut c, first(50)).await.last_key,
        stored[49].1,
        "the key is the last event's uid"
    );
    let (all, calls) = drain(&mut c, first(50)).await;
    assert_eq!(calls, 3, "a short final page has no key");
    assert_eq!(all.len(), 120);
    // A key that is not in the window: an empty page that looks finished.
    let foreign = page(&mut c, search(T0, T1, 50, ASCENDING, "not-a-key")).await;
    assert!(foreign.items.is_empty() && foreign.last_key.is_empty());
    // Exact ranges: one nanosecond off excludes the event.
    let t = stored[10].0;
    let only = page(&mut c, search(t, t, 50, ASCENDING, "")).await;
    assert!(only.items.iter().any(|e| e.id == stored[10].1));
    let next_ns = t + time::Duration::nanoseconds(1);
    let after = page(&mut c, search(next_ns, T1, 500, ASCENDING, "")).await;
    assert!(after.items.iter().all(|e| e.id != stored[10].1));
    // Dates backwards by under a day: empty; by a day or more: "invalid days".
    let back = search(T1, T0 + time::Duration::hours(1), 50, ASCENDING, "");
    assert!(page(&mut c, back).await.items.is_empty());
    let back = search(T1 + time::Duration::days(1), T0, 50, ASCENDING, "");
    let err = search_error(&mut c, back).await;
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "invalid days")
    );
    let err = search_error(&mut c, first(10_001)).await;
    assert_eq!(
        err.message(),
        "limit 10001 exceeds max iteration limit 1000"
    );
}

#[tokio::test]
async fn older_versions_lack_the_rpcs_they_lacked() {
    let (_sim, mut c) = start_cluster(
        SimCluster::builder()
            .server_version("13.3.8")
            .backend(ATHENA)
            .backlog(10, T0, T1),
        &IdentitySpec::default(),
    )
    .await;
    let pong = ping(&mut c).await;
    assert_eq!(pong.server_version, "13.3.8");
    page(&mut c, first(10)).await;
    let err = session_error(&mut c, StreamUnstructuredSessionEventsRequest::default()).await;
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::Unimplemented,
            "method StreamUnstructuredSessionEvents not implemented"
        )
    );
    let err = chunks_error(&mut c, T0).await;
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(
        err.message()
            .starts_with("unknown method GetEventExportChunks"),
        "{}",
        err.message()
    );
}
