//! The session recordings mode of `AuditEventStream` against the simulated cluster's recorded
//! sessions (large, missing, late, corrupt, empty, small): every recording event of every
//! readable session is yielded once after its `session.upload`, missing and corrupt ones are
//! notices naming the session, and a stream resumed from a cursor taken at any item (inside the
//! large recording too) yields exactly the rest.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use teleport_audit::{Cursor, Mode, Notice, SessionRecordings, StreamConfig};
use teleport_audit_sim::{Backend, RecordingKind, RecordingSettings, SimCluster};
use time::OffsetDateTime;

/// Events of the large recording (the is 100,000; the benchmark reads that one).
const LARGE: u64 = 3_000;
const SESSIONS: u64 = 12;

/// The simulated cluster's default version serves the unstructured session stream; 14.2.3
/// only the legacy one (`events.OneOf`).
async fn cluster(version: Option<&str>) -> (SimCluster, OffsetDateTime, OffsetDateTime) {
    let (start, end) = support::past_window();
    let mut builder = SimCluster::builder();
    if let Some(version) = version {
        builder = builder.server_version(version);
    }
    let sim = builder
        .backend(Backend::Immediate)
        .backlog(200, start, end)
        .sessions(SESSIONS)
        .recordings(
            RecordingSettings::default()
                .large_events(LARGE)
                .late_upload_delay(Duration::ZERO),
        )
        .start()
        .await
        .unwrap();
    (sim, start, end)
}

fn config(start: OffsetDateTime, end: OffsetDateTime) -> StreamConfig {
    support::search_backfill(start, end)
        .mode(Mode::Search)
        .session_recordings(
            SessionRecordings::default()
                .skip_types(Vec::<String>::new())
                .concurrency(3)
                .max_pending(4),
        )
}

/// One yielded item: the session for a recording event (`None` for an audit event) and its JSON.
type Item = (Option<String>, String);

/// Reads `stream` to its end or `limit` items; the items, the cursor after the last one, the
/// notices.
async fn read(
    sim: &SimCluster,
    config: StreamConfig,
    limit: usize,
) -> (Vec<Item>, Cursor, Vec<Notice>, bool) {
    let mut stream = support::open_stream(sim, config).await;
    let mut notices = stream.notices();
    let mut items = Vec::new();
    let mut ended = false;
    while items.len() < limit {
        match tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .expect("an item within 60 s")
        {
            Some(Ok(event)) => items.push((
                stream.last_recording().map(str::to_owned),
                event.as_json().to_owned(),
            )),
            Some(Err(error)) => panic!("the stream failed: {error}"),
            None => {
                ended = true;
                break;
            }
        }
    }
    let cursor = stream.cursor();
    drop(stream);
    (items, cursor, support::sent(&mut notices), ended)
}

fn sorted(mut items: Vec<Item>) -> Vec<Item> {
    items.sort();
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recording_event_once_after_its_upload_and_the_failures_as_notices() {
    every_recording_event_once(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_through_the_legacy_session_stream_of_14_2_3() {
    every_recording_event_once(Some("14.2.3")).await;
}

async fn every_recording_event_once(version: Option<&str>) {
    let (sim, start, end) = cluster(version).await;
    let (items, cursor, notices, ended) = read(&sim, config(start, end), usize::MAX).await;
    assert!(ended);
    // Every recording event carries its session's sid and comes after that session's upload.
    let mut uploaded = std::collections::HashSet::new();
    let mut per_session: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (session, json) in &items {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        match session {
            None if value["event"] == "session.upload" => {
                uploaded.insert(value["sid"].as_str().unwrap().to_owned());
            }
            None => {}
            Some(sid) => {
                assert_eq!(value["sid"].as_str(), Some(sid.as_str()), "{json}");
                assert!(uploaded.contains(sid), "before its upload: {json}");
                per_session
                    .entry(sid.clone())
                    .or_default()
                    .push(value["ei"].as_i64().unwrap());
            }
        }
    }
    // Against the sim's own list: each readable recording whole, in order, once.
    let recorded = sim.store().recorded_sessions();
    assert_eq!(recorded.len() as u64, SESSIONS);
    for session in &recorded {
        let got = per_session.get(&session.sid).cloned().unwrap_or_default();
        let expected: Vec<i64> = match session.kind {
            RecordingKind::Missing | RecordingKind::Empty => Vec::new(),
            RecordingKind::Corrupt => (0..session.served as i64).collect(),
            _ => (0..session.events as i64).collect(),
        };
        assert_eq!(got, expected, "{:?} session {}", session.kind, session.sid);
    }
    let given_up: Vec<(&str, String)> = notices
        .iter()
        .filter_map(|notice| match notice {
            Notice::RecordingMissing { session_id, .. } => {
                Some(("recording_missing", session_id.clone()))
            }
            Notice::RecordingCorrupt { session_id, .. } => {
                Some(("recording_corrupt", session_id.clone()))
            }
            _ => None,
        })
        .collect();
    let of = |kind| {
        recorded
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| s.sid.clone())
            .unwrap()
    };
    let mut expected = vec![
        ("recording_missing", of(RecordingKind::Missing)),
        ("recording_corrupt", of(RecordingKind::Corrupt)),
    ];
    expected.sort();
    let mut given_up = given_up;
    given_up.sort();
    assert_eq!(given_up, expected);
    // Done: nothing in progress, every session remembered as finished.
    let value: serde_json::Value = serde_json::from_str(&cursor.to_json()).unwrap();
    assert!(value.get("sessions").is_none(), "{value}");
    assert_eq!(value["finished"].as_array().unwrap().len() as u64, SESSIONS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumed_at_any_item_yields_exactly_the_rest() {
    let (sim, start, end) = cluster(None).await;
    let (reference, _, _, _) = read(&sim, config(start, end), usize::MAX).await;
    let recordings = reference.iter().filter(|(s, _)| s.is_some()).count();
    assert!(recordings as u64 > LARGE / 2, "{recordings}");
    // Runs of these lengths, each resumed from the previous one's cursor (through its JSON):
    // short ones at the start, long ones that stop inside the large recording.
    let mut all = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let mut resumed_inside = 0;
    for (n, limit) in [1, 2, 5, 40, 700, 3, 1100, 17, 900, 250, usize::MAX]
        .into_iter()
        .enumerate()
    {
        let config = match &cursor {
            None => config(start, end),
            Some(cursor) => {
                config(start, end).resume_from(Cursor::from_json(&cursor.to_json()).unwrap())
            }
        };
        let (items, next, _, ended) = read(&sim, config, limit).await;
        all.extend(items);
        let text = next.to_json();
        if text.contains("\"sessions\"")
            && text.contains("\"next\":")
            && !text.contains("\"next\":0")
        {
            resumed_inside += 1;
        }
        cursor = Some(next);
        if ended {
            assert_eq!(limit, usize::MAX, "run {n} ended early");
        }
    }
    assert!(resumed_inside > 0, "no run stopped inside a recording");
    assert_eq!(sorted(all), sorted(reference));
}
