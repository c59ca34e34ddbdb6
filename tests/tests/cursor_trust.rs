//! A cursor is only trusted where it belongs: a cursor taken on one cluster is refused by
//! another (it would silently skip events), and cursors written before the cluster was recorded
//! keep working.

mod support;

use std::time::Duration;

use teleport_audit::{Cursor, CursorError, Error, StreamConfig};
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

use support::{assert_exactly, collect, connect, expected_ids};

async fn cluster(name: &str, start: OffsetDateTime, end: OffsetDateTime) -> SimCluster {
    SimCluster::builder()
        .cluster_name(name)
        .backend(Backend::Immediate)
        .backlog(500, start, end)
        .start()
        .await
        .unwrap()
}

fn past_hour() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (
        now - time::Duration::hours(2),
        now - time::Duration::hours(1),
    )
}

#[tokio::test]
async fn a_cursor_from_another_cluster_is_refused_naming_both() {
    let (start, end) = past_hour();
    let a = cluster("a.example.com", start, end).await;
    let b = cluster("b.example.com", start, end).await;

    // Half of A's backlog, then a cursor.
    let client_a = connect(&a).await;
    let mut stream = client_a.audit_events(
        StreamConfig::default()
            .backfill_start(start)
            .end_time(end)
            .page_size(100),
    );
    let got = collect(&mut stream, 250, Duration::from_secs(30)).await;
    assert_eq!(got.events.len(), 250);
    let mut delivered = got.ids();
    let cursor = stream.cursor();
    assert_eq!(cursor.cluster(), Some("a.example.com"));
    let text = cursor.to_json();
    assert!(text.contains(r#""cluster":"a.example.com""#), "{text}");

    // On B: refused, once, fatally; the stream ends and keeps the cursor it was given.
    let client_b = connect(&b).await;
    let mut stream = client_b
        .audit_events(StreamConfig::default().resume_from(Cursor::from_json(&text).unwrap()));
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(10)).await;
    assert!(got.events.is_empty());
    assert!(got.ended);
    assert_eq!(got.errors.len(), 1, "{:?}", got.errors);
    let error = &got.errors[0];
    assert!(
        matches!(error, Error::Cursor(CursorError::FromOtherCluster { cursor, client })
            if cursor == "a.example.com" && client == "b.example.com"),
        "{error:?}"
    );
    assert!(error.is_fatal());
    assert_eq!(error.code(), "invalid_cursor");
    assert_eq!(
        error.to_string(),
        "the cursor was taken on cluster \"a.example.com\", but the client is connected to \"b.example.com\""
    );
    assert_eq!(stream.cursor().to_json(), text);

    // On A it resumes exactly.
    let mut stream = client_a.audit_events(
        StreamConfig::default()
            .resume_from(Cursor::from_json(&text).unwrap())
            .end_time(end),
    );
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(rest.errors.is_empty(), "{:?}", rest.errors);
    delivered.extend(rest.ids());
    assert_exactly(&delivered, &expected_ids(&a, start, end));
}

#[tokio::test]
async fn a_cursor_without_a_cluster_resumes_on_any_cluster_and_gains_one() {
    let (start, end) = past_hour();
    let sim = cluster("c.example.com", start, end).await;
    let client = connect(&sim).await;
    // Written by a version that did not record the cluster.
    let old = format!(
        r#"{{"v":1,"watermark":"{}","seen":{{}}}}"#,
        start
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let cursor = Cursor::from_json(&old).unwrap();
    assert_eq!(cursor.cluster(), None);
    let mut stream = client.audit_events(StreamConfig::default().resume_from(cursor).end_time(end));
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(30)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_exactly(&got.ids(), &expected_ids(&sim, start, end));
    assert_eq!(stream.cursor().cluster(), Some("c.example.com"));
}
