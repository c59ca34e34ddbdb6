//! `Client::session_events` against the simulated cluster: one session's recording read whole,
//! resumed from `next_index`, filtered by type; a recording that is not there, a missing
//! permission, a server without the unstructured call (13.x), a connection cut mid-stream and
//! a server that fails reading the recording.

mod support;

use std::time::Duration;

use futures::TryStreamExt as _;
use teleport_audit::{
    AuditEvent, Client, Error, ExponentialBackoff, RecordingFailure, Rpc, ServerError,
    SessionEventsConfig,
};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{
    Backend, Permissions, RecordingKind, RecordingSettings, Rpc as SimRpc, SimCluster,
};
use tonic::Code;

use support::rpc::{all, proxy_clients, session_request, session_stream};
use support::{connect, past_window, proxy_config};

/// Reads at test speed, skipping nothing.
fn fast() -> SessionEventsConfig {
    SessionEventsConfig::default()
        .skip_types(Vec::<String>::new())
        .backoff(ExponentialBackoff::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
}

async fn cluster(version: &str) -> SimCluster {
    let (start, end) = past_window();
    SimCluster::builder()
        .backend(Backend::Immediate)
        .server_version(version)
        .backlog(2000, start, end)
        .role(
            "events-no-sessions",
            Permissions::none().event_list(true).event_read(true),
        )
        .start()
        .await
        .expect("start the simulated cluster")
}

/// The sessions of the backlog, the longest first.
fn sessions(sim: &SimCluster) -> Vec<(String, usize)> {
    let (start, end) = past_window();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for event in sim.store().events_in_range(start, end).unwrap() {
        let json: serde_json::Value = serde_json::from_str(&event.json).unwrap();
        if let Some(sid) = json["sid"].as_str().filter(|s| !s.is_empty()) {
            *counts.entry(sid.to_owned()).or_default() += 1;
        }
    }
    let mut sessions: Vec<_> = counts.into_iter().collect();
    sessions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    sessions
}

fn longest_session(sim: &SimCluster) -> String {
    let (sid, count) = sessions(sim).remove(0);
    assert!(count >= 4, "the longest session has {count} events");
    sid
}

/// The recording as the server sends it (the plain tonic client), as `(ei, JSON)`.
async fn expected(sim: &SimCluster, sid: &str) -> Vec<(i64, serde_json::Value)> {
    let mut c = proxy_clients(sim, &IdentitySpec::default().roles(["auditor"])).await;
    all(session_stream(&mut c, session_request(sid, 0)).await)
        .await
        .into_iter()
        .map(|e| {
            let event = AuditEvent::from_struct_bytes(e.unstructured.unwrap().as_bytes()).unwrap();
            (e.index, serde_json::from_str(event.as_json()).unwrap())
        })
        .collect()
}

fn indexed(events: &[AuditEvent]) -> Vec<(i64, serde_json::Value)> {
    events
        .iter()
        .map(|e| {
            (
                e.index().expect("ei"),
                serde_json::from_str(e.as_json()).unwrap(),
            )
        })
        .collect()
}

async fn read_all(client: &Client, sid: &str, config: SessionEventsConfig) -> Vec<AuditEvent> {
    client
        .session_events(sid, config)
        .try_collect()
        .await
        .expect("the recording reads to its end")
}

async fn read_error(client: &Client, sid: &str, config: SessionEventsConfig) -> Error {
    let mut stream = client.session_events(sid, config);
    loop {
        match stream.try_next().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended without an error"),
            Err(error) => {
                assert!(
                    stream.try_next().await.unwrap().is_none(),
                    "the stream ends after its error"
                );
                return error;
            }
        }
    }
}

#[tokio::test]
async fn a_recording_reads_whole_with_its_sid_and_next_index() {
    let sim = cluster("18.2.0").await;
    let sid = longest_session(&sim);
    let want = expected(&sim, &sid).await;
    let client = connect(&sim).await;
    let mut stream = client.session_events(&sid, fast());
    assert_eq!(stream.session_id(), sid);
    assert_eq!(stream.next_index(), 0);
    let mut got = Vec::new();
    while let Some(event) = stream.try_next().await.unwrap() {
        assert_eq!(event.session_id(), Some(sid.as_str()));
        assert_eq!(stream.next_index(), event.index().unwrap() + 1);
        got.push(event);
    }
    assert_eq!(indexed(&got), want);
    assert_eq!(stream.next_index(), want.last().unwrap().0 + 1);
}

#[tokio::test]
async fn resuming_from_next_index_gives_exactly_the_rest() {
    let sim = cluster("18.2.0").await;
    let sid = longest_session(&sim);
    let want = expected(&sim, &sid).await;
    let client = connect(&sim).await;
    for take in 1..want.len() {
        let mut stream = client.session_events(&sid, fast());
        let mut got = Vec::new();
        for _ in 0..take {
            got.push(stream.try_next().await.unwrap().unwrap());
        }
        let next = stream.next_index();
        drop(stream);
        got.extend(read_all(&client, &sid, fast().start_index(next)).await);
        assert_eq!(indexed(&got), want, "resumed after {take} events");
    }
}

#[tokio::test]
async fn skipped_types_are_read_not_yielded() {
    let sim = cluster("18.2.0").await;
    let sid = longest_session(&sim);
    let want = expected(&sim, &sid).await;
    let client = connect(&sim).await;
    let skip = want[0].1["event"].as_str().unwrap().to_owned();
    let mut stream = client.session_events(&sid, fast().skip_types([skip.as_str()]));
    let mut got = Vec::new();
    while let Some(event) = stream.try_next().await.unwrap() {
        got.push(event);
    }
    let kept: Vec<_> = want
        .iter()
        .filter(|(_, e)| e["event"] != skip.as_str())
        .cloned()
        .collect();
    assert!(kept.len() < want.len());
    assert!(got.iter().all(|e| e.event_type() != skip));
    assert_eq!(indexed(&got), kept);
    // Skipped events move the index too: it ends past the last event.
    assert_eq!(stream.next_index(), want.last().unwrap().0 + 1);
    // The default skips only print (none in this recording).
    let defaults = read_all(
        &client,
        &sid,
        SessionEventsConfig::default().skip_types(["print"]),
    )
    .await;
    assert_eq!(defaults.len(), want.len());
}

#[tokio::test]
async fn a_recording_that_never_appears_is_not_found_after_the_wait() {
    let sim = cluster("18.2.0").await;
    let client = connect(&sim).await;
    let unknown = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";
    let config = fast().recording_wait(Duration::from_millis(300));
    let error = read_error(&client, unknown, config).await;
    assert_eq!(error.recording_failure(), Some(RecordingFailure::NotFound));
    assert_eq!(error.code(), "recording_not_found");
    match &error {
        Error::Server(ServerError::RecordingNotFound {
            session_id, waited, ..
        }) => {
            assert_eq!(session_id, unknown);
            assert!(*waited >= Duration::from_millis(300), "{waited:?}");
        }
        other => panic!("{other:?}"),
    }
    // Asked more than once: the wait is spent retrying, not sleeping once.
    assert!(
        sim.rpc_stats()
            .calls(SimRpc::StreamUnstructuredSessionEvents)
            >= 2
    );
}

#[tokio::test]
async fn a_malformed_session_id_is_refused_before_any_call() {
    let sim = cluster("18.2.0").await;
    let client = connect(&sim).await;
    for bad in [
        "",
        "not-a-session-id",
        "6ba7b810-9dad-41d1-80b4-00c04fd430c",
    ] {
        let error = read_error(&client, bad, fast()).await;
        assert_eq!(error.code(), "invalid_config", "{bad:?}");
    }
    let error = read_error(
        &client,
        "6ba7b810-9dad-41d1-80b4-00c04fd430c8",
        fast().start_index(-1),
    )
    .await;
    assert_eq!(error.code(), "invalid_config");
    assert_eq!(
        sim.rpc_stats()
            .calls(SimRpc::StreamUnstructuredSessionEvents),
        0
    );
}

#[tokio::test]
async fn without_session_read_the_stream_ends_with_permission_denied() {
    let sim = cluster("18.2.0").await;
    let sid = longest_session(&sim);
    let identity = sim
        .issue_identity(&IdentitySpec::default().roles(["events-no-sessions"]))
        .unwrap();
    let client = Client::connect(proxy_config(&sim, &identity))
        .await
        .unwrap();
    let error = read_error(&client, &sid, fast()).await;
    assert!(
        matches!(&error, Error::Permission(p) if p.rpc == Rpc::StreamUnstructuredSessionEvents),
        "{error:?}"
    );
    assert_eq!(error.recording_failure(), None);
    // Not retried.
    assert_eq!(
        sim.rpc_stats()
            .calls(SimRpc::StreamUnstructuredSessionEvents),
        1
    );
}

/// 13.3.8 answers the unstructured call `Unimplemented`: the client goes to the legacy
/// `StreamSessionEvents` (typed `events.OneOf`, turned into the JSON Teleport's own client
/// makes), and remembers it for the next stream.
#[tokio::test]
async fn unimplemented_falls_back_to_the_legacy_call_and_is_remembered() {
    let (start, end) = past_window();
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .server_version("13.3.8")
        .backlog(100, start, end)
        .sessions(6)
        .recordings(RecordingSettings::default())
        .start()
        .await
        .expect("start the simulated cluster");
    let small = sim
        .store()
        .recorded_sessions()
        .into_iter()
        .find(|s| s.kind == RecordingKind::Small)
        .expect("a small recording");
    let client = connect(&sim).await;
    let first: Vec<AuditEvent> = client
        .session_events(&small.sid, fast())
        .try_collect()
        .await
        .expect("the legacy call serves the recording");
    let second: Vec<AuditEvent> = client
        .clone()
        .session_events(&small.sid, fast())
        .try_collect()
        .await
        .expect("the legacy call serves the recording");
    assert_eq!(
        sim.rpc_stats()
            .calls(SimRpc::StreamUnstructuredSessionEvents),
        1,
        "the switch is remembered by the client and its clones"
    );
    assert_eq!(sim.rpc_stats().calls(SimRpc::StreamSessionEvents), 2);
    for events in [&first, &second] {
        // The whole recording, in order, every event with the session's id (`print` too,
        // which has none on the wire), and `print` with its terminal bytes.
        let indices: Vec<i64> = indexed(events).into_iter().map(|(ei, _)| ei).collect();
        let expected: Vec<i64> = (0..i64::try_from(small.events).unwrap()).collect();
        assert_eq!(indices, expected);
        assert!(
            events
                .iter()
                .all(|e| e.session_id() == Some(small.sid.as_str()))
        );
        let print = events
            .iter()
            .find(|e| e.event_type() == "print")
            .expect("a print event");
        let json: serde_json::Value = serde_json::from_str(print.as_json()).unwrap();
        assert!(
            json["data"].as_str().is_some_and(|d| !d.is_empty()),
            "{json}"
        );
    }
    assert_eq!(indexed(&first), indexed(&second));
}

#[tokio::test]
async fn a_connection_cut_mid_stream_resumes_without_duplicate_or_gap() {
    let sim = cluster("18.2.0").await;
    let sid = longest_session(&sim);
    let want = expected(&sim, &sid).await;
    let client = connect(&sim).await;
    let before = sim
        .rpc_stats()
        .calls(SimRpc::StreamUnstructuredSessionEvents);
    sim.faults().drop_after_events(2);
    let got = read_all(&client, &sid, fast()).await;
    assert_eq!(indexed(&got), want);
    assert!(
        sim.rpc_stats()
            .calls(SimRpc::StreamUnstructuredSessionEvents)
            >= before + 2,
        "the cut call was followed by another"
    );
}

#[tokio::test]
async fn the_server_failing_to_read_the_recording_is_retried_once_then_corrupt() {
    let sim = cluster("18.2.0").await;
    let sid = longest_session(&sim);
    let want = expected(&sim, &sid).await;
    let client = connect(&sim).await;
    // Once: retried, the recording comes out whole.
    sim.faults()
        .fail_next_on(SimRpc::StreamUnstructuredSessionEvents, Code::Unknown, 1);
    assert_eq!(indexed(&read_all(&client, &sid, fast()).await), want);
    // Twice at the same place: corrupt, said with the session and the index.
    sim.faults()
        .fail_next_on(SimRpc::StreamUnstructuredSessionEvents, Code::Unknown, 2);
    let error = read_error(&client, &sid, fast()).await;
    assert_eq!(error.recording_failure(), Some(RecordingFailure::Corrupt));
    match &error {
        Error::Server(ServerError::RecordingCorrupt {
            session_id,
            next_index,
            ..
        }) => {
            assert_eq!(session_id, &sid);
            assert_eq!(*next_index, 0);
        }
        other => panic!("{other:?}"),
    }
    assert!(std::error::Error::source(&error).is_some());
}

/// Teleport downloads the whole recording before its first event: a call that stays silent
/// past the first-event timeout is given up and made again, and a long failure is a stall
/// notice, then a recovery.
#[tokio::test]
async fn a_silent_call_times_out_and_a_long_failure_is_a_stall_notice() {
    let sim = cluster("18.2.0").await;
    let sid = longest_session(&sim);
    let want = expected(&sim, &sid).await;
    let client = connect(&sim).await;
    sim.faults()
        .stall_next_on(SimRpc::StreamUnstructuredSessionEvents, 1);
    sim.faults().fail_next_on(
        SimRpc::StreamUnstructuredSessionEvents,
        Code::Unavailable,
        2,
    );
    let config = fast()
        .first_event_timeout(Duration::from_millis(300))
        .stall_report_after(Duration::ZERO);
    let mut stream = client.session_events(&sid, config);
    let mut notices = stream.notices();
    let mut got = Vec::new();
    while let Some(event) = stream.try_next().await.unwrap() {
        got.push(event);
    }
    assert_eq!(indexed(&got), want);
    drop(stream);
    let mut codes = Vec::new();
    while let Some(notice) = futures::StreamExt::next(&mut notices).await {
        codes.push(notice.code());
    }
    assert!(codes.contains(&"stalled"), "{codes:?}");
    assert_eq!(codes.last(), Some(&"stall_recovered"), "{codes:?}");
    assert!(
        sim.rpc_stats()
            .calls(SimRpc::StreamUnstructuredSessionEvents)
            >= 4
    );
}
