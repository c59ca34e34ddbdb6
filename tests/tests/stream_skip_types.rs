//! `StreamConfig::skip_event_types` against the simulated cluster, in search and export mode:
//! skipped types are consumed (the cursor moves past them) but not yielded, counted in
//! `StreamStats::events_filtered`, and a cursor resumes with another skip set.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use teleport_audit::{Cursor, Mode, StreamConfig};
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

use support::{assert_exactly, collect, connect, fast_export, past_backlog};

/// The type of every event the cluster holds in `[start, end]`, by id.
fn types_by_id(
    sim: &SimCluster,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> Vec<(String, String)> {
    sim.store()
        .events_in_range(start, end)
        .unwrap()
        .into_iter()
        .map(|e| (e.uid, e.event_type))
        .collect()
}

/// Backfill with one skip set, stop midway, resume from the stored cursor with another: each run
/// yields no event of its own skipped types, nothing is yielded twice, every event of a type
/// neither run skips is yielded once, and every event is consumed once (yielded or filtered).
async fn resume_with_another_skip_set(mode: Mode, backend: Backend) {
    const TOTAL: u64 = 1500;
    let (sim, start, end) = past_backlog(backend, TOTAL).await;
    let client = connect(&sim).await;
    let all = types_by_id(&sim, start, end);
    assert_eq!(all.len() as u64, TOTAL);
    let first_skip = ["db.session.query", "kube.request"];
    let second_skip = ["kube.request", "session.start", "user.login"];
    for skip in first_skip.iter().chain(&second_skip) {
        assert!(
            all.iter().any(|(_, t)| t == skip),
            "the cluster holds no {skip}: the test would prove nothing"
        );
    }
    let config = || {
        fast_export(StreamConfig::default())
            .mode(mode)
            .end_time(end)
            .page_size(100)
    };

    let mut first =
        client.audit_events(config().backfill_start(start).skip_event_types(first_skip));
    let got_first = collect(&mut first, 500, Duration::from_secs(60)).await;
    assert!(got_first.errors.is_empty(), "{:?}", got_first.errors);
    assert_eq!(got_first.events.len(), 500, "the first run stops midway");
    let first_stats = first.stats();
    let stored = first.cursor().to_json();
    drop(first);

    let mut second = client.audit_events(
        config()
            .resume_from(Cursor::from_json(&stored).unwrap())
            .skip_event_types(second_skip),
    );
    let got_second = collect(&mut second, usize::MAX, Duration::from_secs(60)).await;
    assert!(got_second.errors.is_empty(), "{:?}", got_second.errors);
    assert!(got_second.ended, "the second run reaches the end time");
    let second_stats = second.stats();

    for (events, skip) in [
        (&got_first.events, &first_skip[..]),
        (&got_second.events, &second_skip[..]),
    ] {
        for event in events {
            assert!(
                !skip.contains(&event.event_type()),
                "{} yielded by a run that skips it",
                event.event_type()
            );
        }
    }
    let mut delivered = got_first.ids();
    delivered.extend(got_second.ids());
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(unique.len(), delivered.len(), "an event was yielded twice");
    // The types neither run skips: exactly once across the two runs.
    let neither: Vec<String> = all
        .iter()
        .filter(|(_, t)| !first_skip.contains(&t.as_str()) && !second_skip.contains(&t.as_str()))
        .map(|(id, _)| id.clone())
        .collect();
    let delivered_of_neither: Vec<String> = delivered
        .iter()
        .filter(|id| neither.contains(id))
        .cloned()
        .collect();
    assert_exactly(&delivered_of_neither, &neither);
    // Every event was consumed exactly once: yielded, or filtered by the run that read it.
    assert_eq!(first_stats.events_delivered, 500);
    assert!(first_stats.events_filtered > 0, "{first_stats:?}");
    assert!(second_stats.events_filtered > 0, "{second_stats:?}");
    assert_eq!(
        first_stats.events_delivered
            + first_stats.events_filtered
            + second_stats.events_delivered
            + second_stats.events_filtered,
        TOTAL,
        "{first_stats:?} {second_stats:?}"
    );
    // A type only the first run skips is yielded by the second for what it reads, and the
    // other way round.
    let type_of = |id: &String| all.iter().find(|(i, _)| i == id).map(|(_, t)| t.as_str());
    assert!(
        got_second
            .ids()
            .iter()
            .any(|id| type_of(id) == Some("db.session.query"))
    );
    assert!(
        got_first
            .ids()
            .iter()
            .any(|id| type_of(id) == Some("user.login"))
    );
}

#[tokio::test]
async fn search_resumes_with_another_skip_set_and_loses_nothing() {
    resume_with_another_skip_set(Mode::Search, Backend::Immediate).await;
}

#[tokio::test]
async fn export_resumes_with_another_skip_set_and_loses_nothing() {
    resume_with_another_skip_set(
        Mode::Export,
        Backend::Athena {
            flush_interval: Duration::from_millis(100),
        },
    )
    .await;
}

#[tokio::test]
async fn skipping_a_type_the_server_also_filters_yields_the_rest_of_the_filter() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 800).await;
    let client = connect(&sim).await;
    let mut stream = client.audit_events(
        fast_export(StreamConfig::default())
            .mode(Mode::Search)
            .backfill_start(start)
            .end_time(end)
            .event_types(["user.login", "session.start"])
            .skip_event_types(["session.start"]),
    );
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let all = types_by_id(&sim, start, end);
    let logins: Vec<String> = all
        .iter()
        .filter(|(_, t)| t == "user.login")
        .map(|(id, _)| id.clone())
        .collect();
    assert_exactly(&got.ids(), &logins);
    let starts = all.iter().filter(|(_, t)| t == "session.start").count() as u64;
    assert!(starts > 0);
    assert_eq!(stream.stats().events_filtered, starts);
}
