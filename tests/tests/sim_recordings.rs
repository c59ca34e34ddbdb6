//! Session recordings in the simulated cluster (`SimClusterBuilder::sessions`), through
//! `teleport.auditlog.v1.AuditLogService/StreamUnstructuredSessionEvents` and a plain tonic
//! client: every kind of recording (small, large, missing, late, corrupt, empty), resuming
//! from an index, the `session.upload` audit events, and the version gate of the RPC.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};
use support::rpc::{
    assert_status, proxy_clients, session_error, session_request, session_stream, start_cluster,
};
use teleport_audit_proto::auditlog::v1::EventUnstructured;
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{
    Backend, Clock, Permissions, RecordedSession, RecordingKind, RecordingSettings, Rpc, SimCluster,
};
use teleport_audit_tests::plain_client::Clients;
use time::OffsetDateTime;
use time::macros::datetime;
use tonic::{Code, Status, Streaming};

const T0: OffsetDateTime = datetime!(2024-05-01 00:00 UTC);
const T1: OffsetDateTime = datetime!(2024-05-01 06:00 UTC);

/// A cluster with `sessions` recorded sessions over [T0, T1] and a backlog of 100 events.
async fn cluster(
    version: &str,
    sessions: u64,
    settings: RecordingSettings,
) -> (SimCluster, Clients) {
    let builder = SimCluster::builder()
        .server_version(version)
        .backend(Backend::Immediate)
        .backlog(100, T0, T1)
        .sessions(sessions)
        .recordings(settings);
    start_cluster(builder, &IdentitySpec::default().roles(["auditor"])).await
}

/// Reads a session stream to its end: the events, and the status it ended with (`None`: OK).
async fn read_to_end(
    mut stream: Streaming<EventUnstructured>,
) -> (Vec<EventUnstructured>, Option<Status>) {
    let mut events = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(event)) => events.push(event),
            Ok(None) => return (events, None),
            Err(status) => return (events, Some(status)),
        }
    }
}

/// The recording of `sid` from `start_index`, read to its end.
async fn recording(
    c: &mut Clients,
    sid: &str,
    start_index: i32,
) -> (Vec<EventUnstructured>, Option<Status>) {
    read_to_end(session_stream(c, session_request(sid, start_index)).await).await
}

fn json(e: &EventUnstructured) -> Map<String, Value> {
    let raw = e.unstructured.as_ref().expect("every event has a Struct");
    let mut out = Vec::new();
    teleport_audit_types::wire::struct_to_json(raw.as_bytes(), &mut out).expect("a valid Struct");
    serde_json::from_slice(&out).expect("a JSON object")
}

fn of_kind(sessions: &[RecordedSession], kind: RecordingKind) -> RecordedSession {
    sessions
        .iter()
        .find(|s| s.kind == kind)
        .unwrap_or_else(|| panic!("a {kind:?} session among {sessions:?}"))
        .clone()
}

fn is_std_base64(text: &str) -> bool {
    !text.is_empty()
        && text.len().is_multiple_of(4)
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

#[tokio::test]
async fn the_audit_log_has_a_session_upload_per_recorded_session() {
    let (sim, _c) = cluster("18.2.0", 12, RecordingSettings::default()).await;
    let sessions = sim.store().recorded_sessions();
    assert_eq!(sessions.len(), 12);
    let log = sim.store().events_in_range(T0, T1).unwrap();
    let mut uploads = BTreeMap::new();
    for e in log.iter().filter(|e| e.event_type == "session.upload") {
        let v: Value = serde_json::from_str(&e.json).unwrap();
        assert_eq!(v["code"], "T2005I", "{v}");
        assert_eq!(v["ei"], 2_147_483_647_i64, "{v}");
        let sid = v["sid"].as_str().unwrap().to_string();
        assert_eq!(
            v["url"],
            format!("file:///var/lib/teleport/log/records/{sid}.tar")
        );
        assert!(
            uploads.insert(sid, e.time).is_none(),
            "one upload per session"
        );
    }
    assert_eq!(uploads.len(), 12, "{uploads:?}");
    for s in &sessions {
        assert_eq!(uploads.get(&s.sid), Some(&s.uploaded_at), "{s:?}");
        let session_events: Vec<String> = log
            .iter()
            .filter(|e| e.json.contains(&s.sid))
            .map(|e| e.event_type.clone())
            .collect();
        assert_eq!(
            session_events,
            [
                "session.start",
                "session.join",
                "session.leave",
                "session.end",
                "session.upload"
            ],
            "{s:?}"
        );
    }
    // One of each special kind first, then small ones.
    assert_eq!(sessions[0].kind, RecordingKind::Large);
    assert!(sessions[5..].iter().all(|s| s.kind == RecordingKind::Small));
}

#[tokio::test]
async fn a_small_recording_is_served_whole_and_resumes_from_any_index() {
    let (sim, mut c) = cluster("18.2.0", 8, RecordingSettings::default()).await;
    let small = of_kind(&sim.store().recorded_sessions(), RecordingKind::Small);
    let (events, end) = recording(&mut c, &small.sid, 0).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(events.len() as u64, small.events);
    let indices: Vec<i64> = events.iter().map(|e| e.index).collect();
    assert_eq!(indices, (0..small.events as i64).collect::<Vec<_>>());

    // The recording's session.start is the audit log's (same uid).
    let audit_start = sim
        .store()
        .events_in_range(T0, T1)
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == "session.start" && e.json.contains(&small.sid))
        .unwrap();
    assert_eq!(events[0].r#type, "session.start");
    assert_eq!(events[0].id, audit_start.uid);
    assert_eq!(events.last().unwrap().r#type, "session.end");

    let mut prints = 0;
    for e in &events {
        let v = json(e);
        assert_eq!(v["ei"], e.index);
        assert_eq!(v["event"], e.r#type.as_str());
        if e.r#type == "print" {
            prints += 1;
            // As ToUnstructured: no uid, code or sid; the terminal bytes in std base64; the id
            // is the SHA-256 of the payload.
            for absent in ["uid", "code", "sid"] {
                assert!(!v.contains_key(absent), "{absent} in {v:?}");
            }
            assert!(is_std_base64(v["data"].as_str().unwrap()), "{v:?}");
            for field in ["ci", "bytes", "ms", "offset"] {
                assert!(v[field].is_u64(), "{field} in {v:?}");
            }
            assert_eq!(e.id.len(), 64, "{}", e.id);
        } else {
            assert_eq!(v["sid"], small.sid.as_str(), "{v:?}");
            assert_eq!(v["uid"], e.id.as_str());
        }
    }
    assert!(prints > 10, "{prints}");

    // start_index is inclusive: from k, exactly the events with ei >= k.
    for k in [1, 2, events.len() / 2, events.len() - 1, events.len()] {
        let (tail, end) = recording(&mut c, &small.sid, k as i32).await;
        assert!(end.is_none());
        let want: Vec<(&str, i64)> = events[k..]
            .iter()
            .map(|e| (e.id.as_str(), e.index))
            .collect();
        let got: Vec<(&str, i64)> = tail.iter().map(|e| (e.id.as_str(), e.index)).collect();
        assert_eq!(got, want, "from {k}");
    }
    let (past_the_end, end) = recording(&mut c, &small.sid, 100_000).await;
    assert!(past_the_end.is_empty() && end.is_none());
}

#[tokio::test]
async fn missing_corrupt_and_empty_recordings_fail_as_teleport_does() {
    let (sim, mut c) = cluster("18.2.0", 5, RecordingSettings::default()).await;
    let sessions = sim.store().recorded_sessions();

    let missing = of_kind(&sessions, RecordingKind::Missing);
    let err = session_error(&mut c, session_request(&missing.sid, 0)).await;
    assert_status(
        &err,
        Code::NotFound,
        &format!("a recording for session {} was not found", missing.sid),
    );
    // An id the cluster never generated is not found either.
    let err = session_error(&mut c, session_request("not-a-session-id", 0)).await;
    assert_eq!(err.code(), Code::NotFound);

    let corrupt = of_kind(&sessions, RecordingKind::Corrupt);
    assert!(corrupt.served > 0 && corrupt.served < corrupt.events);
    let (events, end) = recording(&mut c, &corrupt.sid, 0).await;
    assert_eq!(events.len() as u64, corrupt.served);
    let end = end.expect("a corrupt recording ends with an error");
    assert_eq!(
        (end.code(), end.message()),
        (Code::Unknown, "unexpected EOF")
    );
    // Resumed past the good part: the error at once.
    let (events, end) = recording(&mut c, &corrupt.sid, corrupt.served as i32).await;
    assert!(events.is_empty());
    assert_eq!(end.map(|s| s.code()), Some(Code::Unknown));

    let empty = of_kind(&sessions, RecordingKind::Empty);
    let (events, end) = recording(&mut c, &empty.sid, 0).await;
    assert!(events.is_empty() && end.is_none(), "{events:?} {end:?}");

    let stats = sim.rpc_stats().rpc(Rpc::StreamUnstructuredSessionEvents);
    assert_eq!(stats.calls, 5);
    assert_eq!(stats.errors, 4, "missing, unknown id, corrupt twice");
    assert_eq!(stats.events, corrupt.served);
}

#[tokio::test]
async fn a_late_upload_is_not_found_then_served() {
    let (sim, mut c) = cluster(
        "14.3.10",
        5,
        RecordingSettings::default().late_upload_delay(Duration::from_secs(2)),
    )
    .await;
    let late = of_kind(&sim.store().recorded_sessions(), RecordingKind::Late);
    let err = session_error(&mut c, session_request(&late.sid, 0)).await;
    // 13 to 15: the file backend's error, with the server's path.
    assert_status(
        &err,
        Code::NotFound,
        &format!(
            "open /var/lib/teleport/log/records/{}.tar: no such file or directory",
            late.sid
        ),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let events = loop {
        match c
            .audit
            .stream_unstructured_session_events(session_request(&late.sid, 0))
            .await
        {
            Ok(stream) => break read_to_end(stream.into_inner()).await,
            Err(status) => {
                assert_eq!(status.code(), Code::NotFound, "{status:?}");
                assert!(tokio::time::Instant::now() < deadline, "never uploaded");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(events.1.is_none());
    assert_eq!(events.0.len() as u64, late.events);
}

#[tokio::test]
async fn the_large_recording_has_100k_events_with_consecutive_indices() {
    let (sim, mut c) = cluster("18.2.0", 1, RecordingSettings::default()).await;
    let large = of_kind(&sim.store().recorded_sessions(), RecordingKind::Large);
    assert!(large.events >= 100_000, "{large:?}");
    let mut stream = session_stream(&mut c, session_request(&large.sid, 0)).await;
    let mut next = 0i64;
    let mut last_type = String::new();
    while let Some(e) = stream.message().await.unwrap() {
        assert_eq!(e.index, next);
        next += 1;
        last_type = e.r#type;
    }
    assert_eq!(next as u64, large.events);
    assert_eq!(last_type, "session.end");
    assert_eq!(
        sim.rpc_stats()
            .rpc(Rpc::StreamUnstructuredSessionEvents)
            .events,
        large.events
    );
}

#[tokio::test]
async fn the_unstructured_session_stream_exists_only_in_releases_with_the_fix() {
    for (version, served) in [
        ("13.3.8", false),
        ("14.2.3", false),
        ("13.4.20", true),
        ("14.3.10", true),
        ("15.1.0", true),
    ] {
        let (sim, mut c) = cluster(version, 6, RecordingSettings::default()).await;
        let small = of_kind(&sim.store().recorded_sessions(), RecordingKind::Small);
        match c
            .audit
            .stream_unstructured_session_events(session_request(&small.sid, 0))
            .await
        {
            Ok(stream) => {
                assert!(served, "{version} serves it");
                let (events, end) = read_to_end(stream.into_inner()).await;
                assert!(end.is_none());
                assert_eq!(events.len() as u64, small.events);
            }
            Err(status) => {
                assert!(!served, "{version}: {status:?}");
                assert_status(
                    &status,
                    Code::Unimplemented,
                    "method StreamUnstructuredSessionEvents not implemented",
                );
            }
        }
    }
}

#[tokio::test]
async fn reading_a_recording_needs_session_read_before_anything_else() {
    let builder = SimCluster::builder()
        .backend(Backend::Immediate)
        .backlog(10, T0, T1)
        .sessions(5)
        .role(
            "events-only",
            Permissions::none().event_list(true).event_read(true),
        );
    let (sim, _c) = start_cluster(builder, &IdentitySpec::default()).await;
    let mut denied = proxy_clients(&sim, &IdentitySpec::default().roles(["events-only"])).await;
    for s in sim.store().recorded_sessions() {
        let err = session_error(&mut denied, session_request(&s.sid, 0)).await;
        assert_status(&err, Code::PermissionDenied, "\"read\" on \"session\"");
    }
}

#[tokio::test]
async fn live_ssh_sessions_are_recorded_and_uploaded() {
    let start = OffsetDateTime::now_utc();
    let clock = Clock::manual(start);
    let builder = SimCluster::builder()
        .clock(clock.clone())
        .backend(Backend::Immediate)
        .live_rate(20.0)
        .sessions(1);
    let (sim, mut c) = start_cluster(builder, &IdentitySpec::default()).await;
    clock.advance(Duration::from_secs(120));
    let later = clock.now();
    let uploads: Vec<String> = sim
        .store()
        .events_in_range(start, later)
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "session.upload")
        .map(|e| {
            let v: Value = serde_json::from_str(&e.json).unwrap();
            v["sid"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(uploads.len() > 10, "{}", uploads.len());
    let mut served = 0;
    for sid in &uploads {
        let session = sim
            .store()
            .recorded_session(sid)
            .expect("a recorded session");
        assert_ne!(
            session.kind,
            RecordingKind::Large,
            "no large live recording"
        );
        if session.kind == RecordingKind::Small {
            let (events, end) = recording(&mut c, sid, 0).await;
            assert!(end.is_none());
            assert_eq!(events.len() as u64, session.events);
            served += 1;
        }
    }
    assert!(served > 0);
}
