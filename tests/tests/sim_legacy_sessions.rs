//! The legacy session stream of the simulated cluster, `proto.AuthService/StreamSessionEvents`
//! (what 13.x and 14.x serve, since their unstructured session stream answers `Unimplemented`):
//! read with a plain tonic client, each `events.OneOf` decoded with
//! `teleport_audit_proto::legacy_events::oneof_to_struct`. Same events as the unstructured
//! stream, same start index, same errors; on every version.

mod support;

use serde_json::Value;
use support::rpc::{assert_status, proxy_clients, session_request, session_stream, start_cluster};
use teleport_audit_proto::RawOneOf;
use teleport_audit_proto::authservice::StreamSessionEventsRequest;
use teleport_audit_proto::legacy_events::{OneOfError, oneof_to_struct};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{
    Backend, Permissions, RecordedSession, RecordingKind, RecordingSettings, Rpc, SimCluster,
};
use teleport_audit_tests::plain_client::Clients;
use time::OffsetDateTime;
use time::macros::datetime;
use tonic::{Code, Status, Streaming};

const T0: OffsetDateTime = datetime!(2024-05-01 00:00 UTC);
const T1: OffsetDateTime = datetime!(2024-05-01 06:00 UTC);

/// Fields of the sim's events that Teleport 14.2.3's `events.proto` does not have (the sim
/// writes newer versions' events on every version), so a `OneOf` cannot carry them.
const NEWER_FIELDS: &[&str] = &["user_kind"];

async fn cluster(version: &str, sessions: u64) -> (SimCluster, Clients) {
    let builder = SimCluster::builder()
        .server_version(version)
        .backend(Backend::Immediate)
        .backlog(100, T0, T1)
        .sessions(sessions)
        .recordings(RecordingSettings::default());
    start_cluster(builder, &IdentitySpec::default().roles(["auditor"])).await
}

fn request(sid: &str, start_index: i32) -> StreamSessionEventsRequest {
    StreamSessionEventsRequest {
        session_id: sid.into(),
        start_index,
    }
}

async fn open(c: &mut Clients, sid: &str, start_index: i32) -> Result<Streaming<RawOneOf>, Status> {
    c.auth
        .stream_session_events(request(sid, start_index))
        .await
        .map(tonic::Response::into_inner)
}

/// A Struct's JSON as a value (what the client turns every event into).
fn struct_json(bytes: &[u8]) -> Value {
    let mut out = Vec::new();
    teleport_audit_types::wire::struct_to_json(bytes, &mut out).expect("a valid Struct");
    serde_json::from_slice(&out).expect("a JSON object")
}

/// Reads the legacy stream to its end: each event's JSON, and the status it ended with.
async fn legacy(c: &mut Clients, sid: &str, start_index: i32) -> (Vec<Value>, Option<Status>) {
    let mut stream = open(c, sid, start_index)
        .await
        .unwrap_or_else(|status| panic!("legacy stream refused: {status:?}"));
    let mut events = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(raw)) => {
                let bytes = oneof_to_struct(raw.as_bytes())
                    .unwrap_or_else(|e| panic!("event {} does not decode: {e}", events.len()));
                events.push(struct_json(&bytes));
            }
            Ok(None) => return (events, None),
            Err(status) => return (events, Some(status)),
        }
    }
}

fn of_kind(sessions: &[RecordedSession], kind: RecordingKind) -> RecordedSession {
    sessions
        .iter()
        .find(|s| s.kind == kind)
        .unwrap_or_else(|| panic!("a {kind:?} session among {sessions:?}"))
        .clone()
}

#[tokio::test]
async fn the_legacy_stream_serves_what_the_unstructured_one_serves() {
    let (sim, mut c) = cluster("18.2.0", 8).await;
    let small = of_kind(&sim.store().recorded_sessions(), RecordingKind::Small);
    let mut unstructured = Vec::new();
    let mut stream = session_stream(&mut c, session_request(&small.sid, 0)).await;
    while let Some(e) = stream.message().await.unwrap() {
        let raw = e.unstructured.expect("a Struct");
        unstructured.push(struct_json(raw.as_bytes()));
    }
    let (events, end) = legacy(&mut c, &small.sid, 0).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(events.len() as u64, small.events);
    assert_eq!(events.len(), unstructured.len());
    let mut types = std::collections::BTreeSet::new();
    for (i, (ours, theirs)) in events.iter().zip(&unstructured).enumerate() {
        // The sim writes 18.x's events; a OneOf has 14.2.3's fields, without these.
        let mut theirs = theirs.clone();
        for newer in NEWER_FIELDS {
            theirs.as_object_mut().unwrap().remove(*newer);
        }
        assert_eq!(*ours, theirs, "event {i}");
        assert_eq!(ours["ei"], i as u64);
        types.insert(ours["event"].as_str().unwrap().to_string());
    }
    assert!(
        types.contains("print") && types.contains("session.start"),
        "{types:?}"
    );
    let stats = sim.rpc_stats().rpc(Rpc::StreamSessionEvents);
    assert_eq!(
        (stats.calls, stats.errors, stats.events),
        (1, 0, small.events)
    );
}

#[tokio::test]
async fn every_version_serves_it_and_start_index_is_inclusive() {
    for version in ["13.3.8", "14.2.3", "15.1.0"] {
        let (sim, mut c) = cluster(version, 6).await;
        let small = of_kind(&sim.store().recorded_sessions(), RecordingKind::Small);
        let (all, end) = legacy(&mut c, &small.sid, 0).await;
        assert!(end.is_none(), "{version}: {end:?}");
        assert_eq!(all.len() as u64, small.events, "{version}");
        for k in [1, all.len() / 2, all.len()] {
            let (tail, end) = legacy(&mut c, &small.sid, k as i32).await;
            assert!(end.is_none());
            assert_eq!(tail, all[k..], "{version} from {k}");
        }
    }
}

#[tokio::test]
async fn missing_corrupt_and_empty_recordings_fail_as_on_the_unstructured_stream() {
    let (sim, mut c) = cluster("14.2.3", 5).await;
    let sessions = sim.store().recorded_sessions();

    let missing = of_kind(&sessions, RecordingKind::Missing);
    let err = open(&mut c, &missing.sid, 0).await.expect_err("refused");
    assert_status(
        &err,
        Code::NotFound,
        &format!("open /var/lib/teleport/log/records/{}.tar", missing.sid),
    );

    let corrupt = of_kind(&sessions, RecordingKind::Corrupt);
    let (events, end) = legacy(&mut c, &corrupt.sid, 0).await;
    assert_eq!(events.len() as u64, corrupt.served);
    let end = end.expect("a corrupt recording ends with an error");
    assert_eq!(
        (end.code(), end.message()),
        (Code::Unknown, "unexpected EOF")
    );

    let empty = of_kind(&sessions, RecordingKind::Empty);
    let (events, end) = legacy(&mut c, &empty.sid, 0).await;
    assert!(events.is_empty() && end.is_none());

    let stats = sim.rpc_stats().rpc(Rpc::StreamSessionEvents);
    assert_eq!((stats.calls, stats.errors), (3, 2));
}

#[tokio::test]
async fn the_malformed_knob_sends_one_oneof_that_does_not_decode() {
    let (sim, mut c) = cluster("13.3.8", 6).await;
    let small = of_kind(&sim.store().recorded_sessions(), RecordingKind::Small);
    sim.faults().malformed_struct_next_page();
    let mut stream = open(&mut c, &small.sid, 0).await.unwrap();
    let mut bad = Vec::new();
    let mut n = 0;
    while let Some(raw) = stream.message().await.unwrap() {
        if let Err(e) = oneof_to_struct(raw.as_bytes()) {
            assert!(matches!(e, OneOfError::Malformed(_)), "{e:?}");
            bad.push(n);
        }
        n += 1;
    }
    assert_eq!(n as u64, small.events);
    assert_eq!(bad.len(), 1, "{bad:?}");
}

#[tokio::test]
async fn reading_a_recording_needs_session_read() {
    let builder = SimCluster::builder()
        .server_version("14.2.3")
        .backend(Backend::Immediate)
        .backlog(10, T0, T1)
        .sessions(2)
        .role(
            "events-only",
            Permissions::none().event_list(true).event_read(true),
        );
    let (sim, _c) = start_cluster(builder, &IdentitySpec::default()).await;
    let mut denied = proxy_clients(&sim, &IdentitySpec::default().roles(["events-only"])).await;
    for s in sim.store().recorded_sessions() {
        let err = open(&mut denied, &s.sid, 0).await.expect_err("refused");
        assert_status(&err, Code::PermissionDenied, "\"read\" on \"session\"");
    }
}

#[tokio::test]
async fn the_large_recording_streams_through_the_legacy_rpc() {
    let (sim, mut c) = cluster("13.3.8", 1).await;
    let large = of_kind(&sim.store().recorded_sessions(), RecordingKind::Large);
    let mut stream = open(&mut c, &large.sid, 0).await.unwrap();
    let mut next = 0i64;
    while let Some(raw) = stream.message().await.unwrap() {
        let bytes = oneof_to_struct(raw.as_bytes()).unwrap();
        let mut out = Vec::new();
        teleport_audit_types::wire::struct_to_json(&bytes, &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ei"], next);
        next += 1;
    }
    assert_eq!(next as u64, large.events);
}
