//! The simulated Auth Service's RPCs and their edge cases, driven by a plain tonic client.

use std::collections::BTreeSet;
use std::time::Duration;

use prost_types::Timestamp;
use teleport_audit_proto::auditlog::v1::{
    EventUnstructured, ExportUnstructuredEventsRequest, GetEventExportChunksRequest,
    GetUnstructuredEventsRequest, StreamUnstructuredSessionEventsRequest,
};
use teleport_audit_proto::authservice::PingRequest;
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, Permissions, Rpc, SimCluster};
use teleport_audit_tests::plain_client::{Clients, direct, identity, via_proxy};
use time::OffsetDateTime;
use time::macros::datetime;
use tonic::Code;

/// `order` values as Teleport reads them (`types.EventOrder`): 0 is ascending, 1 descending,
/// whatever the proto's enum names say (measured on a real cluster).
const ASCENDING: i32 = 0;
const DESCENDING: i32 = 1;

const T0: OffsetDateTime = datetime!(2024-05-01 00:00 UTC);
const T1: OffsetDateTime = datetime!(2024-05-01 06:00 UTC);

fn ts(t: OffsetDateTime) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    })
}

fn when(e: &EventUnstructured) -> OffsetDateTime {
    let t = e.time.unwrap();
    OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos),
    )
    .unwrap()
}

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

async fn cluster(backlog: u64, backend: Backend) -> (SimCluster, Clients) {
    let sim = SimCluster::builder()
        .backend(backend)
        .backlog(backlog, T0, T1)
        .final_page_key_probability(0.0)
        .start()
        .await
        .unwrap();
    let id = identity(&sim, &IdentitySpec::default().roles(["auditor"]));
    let clients = via_proxy(&sim, &id).await.unwrap();
    (sim, clients)
}

/// Pages through a query until the key is empty; returns every event.
async fn drain(
    c: &mut Clients,
    mut req: GetUnstructuredEventsRequest,
) -> (Vec<EventUnstructured>, usize) {
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        calls += 1;
        let page = c
            .audit
            .get_unstructured_events(req.clone())
            .await
            .unwrap()
            .into_inner();
        out.extend(page.items);
        if page.last_key.is_empty() {
            return (out, calls);
        }
        req.start_key = page.last_key;
    }
}

#[tokio::test]
async fn ping_reports_the_cluster() {
    let (sim, mut c) = cluster(0, Backend::Immediate).await;
    let pong = c.auth.ping(PingRequest {}).await.unwrap().into_inner();
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
    let up = c
        .audit
        .get_unstructured_events(search(T0, T1, 0, ASCENDING, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(up.items.len(), 500);
    assert!(!up.last_key.is_empty());
    let times: Vec<_> = up.items.iter().map(when).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "ascending");
    assert_eq!(up.items[0].id, stored[0].1);
    let down = c
        .audit
        .get_unstructured_events(search(T0, T1, -1, DESCENDING, ""))
        .await
        .unwrap()
        .into_inner();
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
    let err = c
        .audit
        .get_unstructured_events(search(T0, T1, 10_001, ASCENDING, ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("10001 exceeds 10000"),
        "{}",
        err.message()
    );
    let ok = c
        .audit
        .get_unstructured_events(search(T0, T1, 10_000, ASCENDING, ""))
        .await;
    assert_eq!(ok.unwrap().into_inner().items.len(), 10);
}

#[tokio::test]
async fn ranges_are_inclusive_and_search_matches_the_store() {
    let (sim, mut c) = cluster(3_000, Backend::Immediate).await;
    let all = sim.store().ids_in_range(T0, T1);
    // Bounds exactly on events: both are included.
    let (a, b) = (all[100].0, all[1_900].0);
    let (events, calls) = drain(&mut c, search(a, b, 333, ASCENDING, "")).await;
    let got: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let want: Vec<String> = sim
        .store()
        .ids_in_range(a, b)
        .into_iter()
        .map(|x| x.1)
        .collect();
    assert_eq!(got.first(), Some(&all[100].1));
    assert_eq!(got.last(), Some(&all[1_900].1));
    assert_eq!(got, want);
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
    let mut c = direct(&sim, &identity(&sim, &IdentitySpec::default()))
        .await
        .unwrap();
    let page = c
        .audit
        .get_unstructured_events(search(T0, T1, 500, ASCENDING, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(
        page.items.len() > 1 && page.items.len() < 300,
        "{}",
        page.items.len()
    );
    assert!(!page.last_key.is_empty());
    let (events, _) = drain(&mut c, search(T0, T1, 500, ASCENDING, "")).await;
    assert_eq!(events.len(), 300);
    // A single event bigger than the cap still comes, alone.
    let big = sim
        .faults()
        .insert_oversized_event(T1 + time::Duration::minutes(1), 20_000)
        .unwrap();
    let page = c
        .audit
        .get_unstructured_events(search(
            T1,
            T1 + time::Duration::hours(1),
            500,
            ASCENDING,
            "",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, big.uid());
}

#[tokio::test]
async fn a_final_page_may_carry_a_key_then_an_empty_page_ends_the_query() {
    // DynamoDB's LastEvaluatedKey can be set on the last page.
    let sim = SimCluster::builder()
        .backend(Backend::Dynamo {
            max_visibility_delay: Duration::ZERO,
        })
        .backlog(40, T0, T1)
        .final_page_key_probability(1.0)
        .start()
        .await
        .unwrap();
    let mut c = via_proxy(&sim, &identity(&sim, &IdentitySpec::default()))
        .await
        .unwrap();
    let first = c
        .audit
        .get_unstructured_events(search(T0, T1, 100, ASCENDING, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.items.len(), 40);
    assert!(!first.last_key.is_empty());
    let second = c
        .audit
        .get_unstructured_events(search(T0, T1, 100, ASCENDING, &first.last_key))
        .await
        .unwrap()
        .into_inner();
    assert!(second.items.is_empty());
    assert!(second.last_key.is_empty());
}

#[tokio::test]
async fn a_start_key_that_does_not_decode_is_invalid_argument() {
    let (_sim, mut c) = cluster(10, Backend::Immediate).await;
    let err = c
        .audit
        .get_unstructured_events(search(T0, T1, 10, ASCENDING, "garbage!"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message()
            .contains("start_key \"garbage!\" is not a valid immediate cursor"),
        "{}",
        err.message()
    );
    let (_sim, mut d) = cluster(
        10,
        Backend::Dynamo {
            max_visibility_delay: Duration::ZERO,
        },
    )
    .await;
    let err = d
        .audit
        .get_unstructured_events(search(T0, T1, 10, ASCENDING, "{\"date\":\"2024-05-01\"}"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("dynamo cursor"), "{}", err.message());
}

#[tokio::test]
async fn dynamo_cursors_are_json_and_athena_cursors_base64() {
    let (_sim, mut d) = cluster(
        100,
        Backend::Dynamo {
            max_visibility_delay: Duration::ZERO,
        },
    )
    .await;
    let page = d
        .audit
        .get_unstructured_events(search(T0, T1, 10, ASCENDING, ""))
        .await
        .unwrap()
        .into_inner();
    let key: serde_json::Value = serde_json::from_str(&page.last_key).unwrap();
    assert_eq!(key["date"], "2024-05-01");
    assert!(key["iterator"]["CreatedAt"]["N"].is_string());
    let (_sim, mut a) = cluster(
        100,
        Backend::Athena {
            flush_interval: Duration::from_millis(200),
        },
    )
    .await;
    let page = a
        .audit
        .get_unstructured_events(search(T0, T1, 10, ASCENDING, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.last_key.len(), 32);
    assert!(
        page.last_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
    );
}

#[tokio::test]
async fn event_types_filter_server_side() {
    let (sim, mut c) = cluster(2_000, Backend::Immediate).await;
    let mut req = search(T0, T1, 1_000, ASCENDING, "");
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
    let all = sim.store().events_in_range(T0, T1).unwrap();
    let start = all
        .iter()
        .find(|e| e.event_type == "session.start")
        .unwrap();
    let sid = serde_json::from_str::<serde_json::Value>(&start.json).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let mut stream = c
        .audit
        .stream_unstructured_session_events(StreamUnstructuredSessionEventsRequest {
            session_id: sid.clone(),
            start_index: 2,
            format: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(e) = stream.message().await.unwrap() {
        got.push(e);
    }
    assert!(!got.is_empty());
    assert_eq!(got[0].index, 2);
    assert!(got.windows(2).all(|w| w[0].index + 1 == w[1].index));
    assert_eq!(got.last().unwrap().r#type, "session.end");
    let err = c
        .audit
        .stream_unstructured_session_events(StreamUnstructuredSessionEventsRequest {
            session_id: "6ba7b810-9dad-41d1-80b4-00c04fd430c8".into(),
            start_index: 0,
            format: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn export_is_unimplemented_on_dynamo_and_works_on_athena() {
    let (_sim, mut d) = cluster(
        10,
        Backend::Dynamo {
            max_visibility_delay: Duration::ZERO,
        },
    )
    .await;
    let err = d
        .audit
        .get_event_export_chunks(GetEventExportChunksRequest { date: ts(T0) })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(
        err.message()
            .contains("export not supported by this backend")
    );
    let err = d
        .audit
        .export_unstructured_events(ExportUnstructuredEventsRequest {
            date: ts(T0),
            chunk: "x".into(),
            cursor: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    let (sim, mut a) = cluster(
        800,
        Backend::Athena {
            flush_interval: Duration::from_millis(200),
        },
    )
    .await;
    let mut chunks = Vec::new();
    let mut list = a
        .audit
        .get_event_export_chunks(GetEventExportChunksRequest { date: ts(T0) })
        .await
        .unwrap()
        .into_inner();
    while let Some(c) = list.message().await.unwrap() {
        chunks.push(c.chunk);
    }
    assert!(chunks.len() > 100, "{}", chunks.len());
    let mut exported = Vec::new();
    for chunk in &chunks {
        let mut s = a
            .audit
            .export_unstructured_events(ExportUnstructuredEventsRequest {
                date: ts(T0),
                chunk: chunk.clone(),
                cursor: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        while let Some(e) = s.message().await.unwrap() {
            exported.push(e.event.unwrap().id);
        }
    }
    let exported: BTreeSet<String> = exported.into_iter().collect();
    let stored: BTreeSet<String> = sim
        .store()
        .ids_in_range(T0, T1)
        .into_iter()
        .map(|x| x.1)
        .collect();
    assert_eq!(exported, stored);

    // A per-event cursor resumes right after its event.
    let big = chunks[0].clone();
    let all: Vec<_> = {
        let mut s = a
            .audit
            .export_unstructured_events(ExportUnstructuredEventsRequest {
                date: ts(T0),
                chunk: big.clone(),
                cursor: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut v = Vec::new();
        while let Some(e) = s.message().await.unwrap() {
            v.push(e);
        }
        v
    };
    if all.len() > 1 {
        let mut s = a
            .audit
            .export_unstructured_events(ExportUnstructuredEventsRequest {
                date: ts(T0),
                chunk: big.clone(),
                cursor: all[0].cursor.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let first_resumed = s.message().await.unwrap().unwrap();
        assert_eq!(
            first_resumed.event.unwrap().id,
            all[1].event.as_ref().unwrap().id
        );
    }
    let err = a
        .audit
        .export_unstructured_events(ExportUnstructuredEventsRequest {
            date: ts(T0),
            chunk: big.clone(),
            cursor: "bad".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = a
        .audit
        .export_unstructured_events(ExportUnstructuredEventsRequest {
            date: ts(T0),
            chunk: "no-such-chunk".into(),
            cursor: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn chunk_order_is_not_time_order() {
    let sim = SimCluster::builder()
        .backend(Backend::Athena {
            flush_interval: Duration::from_millis(200),
        })
        .backlog(5_000, T0, T0 + time::Duration::minutes(10))
        .start()
        .await
        .unwrap();
    let mut a = direct(&sim, &identity(&sim, &IdentitySpec::default()))
        .await
        .unwrap();
    let mut list = a
        .audit
        .get_event_export_chunks(GetEventExportChunksRequest { date: ts(T0) })
        .await
        .unwrap()
        .into_inner();
    let chunk = list.message().await.unwrap().unwrap().chunk;
    let mut s = a
        .audit
        .export_unstructured_events(ExportUnstructuredEventsRequest {
            date: ts(T0),
            chunk,
            cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut times = Vec::new();
    while let Some(e) = s.message().await.unwrap() {
        times.push(when(&e.event.unwrap()));
    }
    assert!(times.len() > 100);
    assert!(
        times.windows(2).any(|w| w[0] > w[1]),
        "chunk events are not sorted by time"
    );
}

#[tokio::test]
async fn roles_without_permissions_get_permission_denied() {
    let sim = SimCluster::builder()
        .backend(Backend::Athena {
            flush_interval: Duration::from_millis(200),
        })
        .backlog(10, T0, T1)
        .role("lister-only", Permissions::none().event_list(true))
        .role(
            "events-no-sessions",
            Permissions::none().event_list(true).event_read(true),
        )
        .start()
        .await
        .unwrap();
    let mut access = via_proxy(
        &sim,
        &identity(
            &sim,
            &IdentitySpec::default().username("bob").roles(["access"]),
        ),
    )
    .await
    .unwrap();
    let err = access
        .audit
        .get_unstructured_events(search(T0, T1, 10, ASCENDING, ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("\"list\" on \"event\""),
        "{}",
        err.message()
    );
    let err = access
        .audit
        .get_event_export_chunks(GetEventExportChunksRequest { date: ts(T0) })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Ping needs no permission.
    access.auth.ping(PingRequest {}).await.unwrap();

    let mut lister = via_proxy(
        &sim,
        &identity(&sim, &IdentitySpec::default().roles(["lister-only"])),
    )
    .await
    .unwrap();
    let err = lister
        .audit
        .get_unstructured_events(search(T0, T1, 10, ASCENDING, ""))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("\"read\" on \"event\""),
        "{}",
        err.message()
    );

    let mut no_sessions = via_proxy(
        &sim,
        &identity(&sim, &IdentitySpec::default().roles(["events-no-sessions"])),
    )
    .await
    .unwrap();
    no_sessions
        .audit
        .get_unstructured_events(search(T0, T1, 10, ASCENDING, ""))
        .await
        .unwrap();
    let err = no_sessions
        .audit
        .stream_unstructured_session_events(StreamUnstructuredSessionEventsRequest {
            session_id: "x".into(),
            start_index: 0,
            format: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("\"read\" on \"session\""),
        "{}",
        err.message()
    );
    assert!(sim.rpc_stats().total_errors() >= 4);
}

#[tokio::test]
async fn the_file_backend_keys_pages_by_uid_and_ends_quietly_on_a_foreign_key() {
    let (sim, mut c) = cluster(120, Backend::File).await;
    let stored = sim.store().ids_in_range(T0, T1);
    let first = c
        .audit
        .get_unstructured_events(search(T0, T1, 50, ASCENDING, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.last_key, stored[49].1,
        "the key is the last event's uid"
    );
    let (all, calls) = drain(&mut c, search(T0, T1, 50, ASCENDING, "")).await;
    assert_eq!(calls, 3, "a short final page has no key");
    assert_eq!(all.len(), 120);
    // A key that is not in the window: an empty page that looks finished.
    let page = c
        .audit
        .get_unstructured_events(search(T0, T1, 50, ASCENDING, "not-a-key"))
        .await
        .unwrap()
        .into_inner();
    assert!(page.items.is_empty() && page.last_key.is_empty());
    // Exact ranges: one nanosecond off excludes the event.
    let t = stored[10].0;
    let only = c
        .audit
        .get_unstructured_events(search(t, t, 50, ASCENDING, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(only.items.iter().any(|e| e.id == stored[10].1));
    let after = c
        .audit
        .get_unstructured_events(search(
            t + time::Duration::nanoseconds(1),
            T1,
            500,
            ASCENDING,
            "",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(after.items.iter().all(|e| e.id != stored[10].1));
    // Dates backwards by under a day: empty; by a day or more: "invalid days".
    let back = c
        .audit
        .get_unstructured_events(search(T1, T0 + time::Duration::hours(1), 50, ASCENDING, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(back.items.is_empty());
    let err = c
        .audit
        .get_unstructured_events(search(T1 + time::Duration::days(1), T0, 50, ASCENDING, ""))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "invalid days")
    );
    let err = c
        .audit
        .get_unstructured_events(search(T0, T1, 10_001, ASCENDING, ""))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "limit 10001 exceeds max iteration limit 1000"
    );
}

#[tokio::test]
async fn older_versions_lack_the_rpcs_they_lacked() {
    let sim = SimCluster::builder()
        .server_version("13.3.8")
        .backend(Backend::Athena {
            flush_interval: Duration::from_millis(200),
        })
        .backlog(10, T0, T1)
        .start()
        .await
        .unwrap();
    let mut c = via_proxy(&sim, &identity(&sim, &IdentitySpec::default()))
        .await
        .unwrap();
    assert_eq!(
        c.auth
            .ping(PingRequest {})
            .await
            .unwrap()
            .into_inner()
            .server_version,
        "13.3.8"
    );
    c.audit
        .get_unstructured_events(search(T0, T1, 10, ASCENDING, ""))
        .await
        .unwrap();
    let err = c
        .audit
        .stream_unstructured_session_events(StreamUnstructuredSessionEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::Unimplemented,
            "method StreamUnstructuredSessionEvents not implemented"
        )
    );
    let err = c
        .audit
        .get_event_export_chunks(GetEventExportChunksRequest { date: ts(T0) })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(
        err.message()
            .starts_with("unknown method GetEventExportChunks"),
        "{}",
        err.message()
    );
}
