//! Notices against the simulated cluster: a `try_next().await?` loop runs through transient
//! faults and stalls without seeing an error; stalls come as notices, in the stats while they
//! last; a receiver that falls behind never slows the events and is told what it missed.

mod support;

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use teleport_audit::{
    AuditEventStream, Error, ExponentialBackoff, Mode, Notice, StreamConfig, StreamStats,
};
use teleport_audit_sim::{Backend, SimCluster};

use support::{assert_exactly, connect, expected_ids, fast_export, past_backlog, sent};

/// The loop a user writes: `?` on every item. Arms a fault every 150 events.
async fn drain(stream: &mut AuditEventStream, sim: &SimCluster) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    while let Some(event) = stream.try_next().await? {
        ids.push(event.uid().unwrap().to_owned());
        match ids.len() {
            150 => sim.faults().fail_next(tonic::Code::Unavailable, 3),
            300 => sim.faults().stall_next(5),
            450 => sim.faults().drop_after_events(7),
            600 => sim.faults().fail_next(tonic::Code::ResourceExhausted, 2),
            _ => {}
        }
    }
    Ok(ids)
}

/// What a notices reader saw: every notice, and the stats read right when each stall notice
/// arrived.
async fn through_faults_and_a_stall(mode: Mode, backend: Backend) {
    let (sim, start, end) = past_backlog(backend, 1000).await;
    let client = connect(&sim).await;
    // A stall is reported by the part of the stream (a scan, a listing, a chunk reader) whose
    // calls keep failing for `stall_report_after`, dated from when the first of them was sent:
    // one stalled call (the sim holds it past the 300 ms request timeout) is enough, however
    // the sim's 5 stalled calls spread over the export readers and listings.
    let mut stream = client.audit_events(
        fast_export(StreamConfig::default())
            .mode(mode)
            .backfill_start(start)
            .end_time(end)
            .page_size(50)
            .request_timeout(Duration::from_millis(300))
            .stall_report_after(Duration::from_millis(200)),
    );
    let stats = stream.stats_handle();
    let mut notices = stream.notices();
    let reader = tokio::spawn(async move {
        let mut seen: Vec<(Notice, StreamStats)> = Vec::new();
        while let Some(notice) = notices.next().await {
            seen.push((notice, stats.get()));
        }
        seen
    });
    let ids = tokio::time::timeout(Duration::from_secs(90), drain(&mut stream, &sim))
        .await
        .expect("the backfill ends")
        .expect("no error comes out of the stream");
    assert_exactly(&ids, &expected_ids(&sim, start, end));
    let final_stats = stream.stats();
    drop(stream);
    let seen = reader.await.unwrap();

    let stalls: Vec<&(Notice, StreamStats)> = seen
        .iter()
        .filter(|(n, _)| matches!(n, Notice::Stalled { .. }))
        .collect();
    assert!(!stalls.is_empty(), "{seen:?}");
    for (notice, _) in &seen {
        assert!(
            matches!(notice, Notice::Stalled { .. } | Notice::Recovered { .. }),
            "{notice:?}"
        );
    }
    // While stalled, the stats say since when (read in another task, right at the notice).
    assert!(
        stalls.iter().any(|(_, s)| s.stalled_since.is_some()),
        "{stalls:?}"
    );
    assert!(stalls.iter().all(|(_, s)| s.stalls >= 1));
    let Notice::Stalled { last_error, .. } = &stalls[0].0 else {
        unreachable!()
    };
    assert!(last_error.is_retryable(), "{last_error:?}");
    // Every stall ended, and the stats say so.
    assert!(
        matches!(seen.last(), Some((Notice::Recovered { .. }, _))),
        "{seen:?}"
    );
    assert_eq!(final_stats.stalls, stalls.len() as u64, "{final_stats:?}");
    assert_eq!(final_stats.stalled_since, None, "{final_stats:?}");
    assert!(final_stats.retries >= 9, "{final_stats:?}");
    assert_eq!(final_stats.fatal, None);
}

#[tokio::test]
async fn search_a_try_next_loop_runs_through_faults_and_a_stall() {
    through_faults_and_a_stall(Mode::Search, Backend::Immediate).await;
}

#[tokio::test]
async fn export_a_try_next_loop_runs_through_faults_and_a_stall() {
    through_faults_and_a_stall(
        Mode::Export,
        Backend::Athena {
            flush_interval: Duration::from_millis(100),
        },
    )
    .await;
}

#[tokio::test]
async fn a_receiver_that_falls_behind_slows_nothing_and_is_told_what_it_missed() {
    const FAILURES: u32 = 300;
    let (sim, start, end) = past_backlog(Backend::Immediate, 500).await;
    let client = connect(&sim).await;
    let mut stream = client.audit_events(
        fast_export(StreamConfig::default())
            .mode(Mode::Search)
            .backfill_start(start)
            .end_time(end)
            .page_size(100)
            // Every failure is a stall report: hundreds of notices, quickly.
            .stall_report_after(Duration::ZERO)
            .backoff(ExponentialBackoff::new(
                Duration::from_millis(1),
                Duration::from_millis(1),
            )),
    );
    // Subscribed, and never read while the stream runs.
    let mut idle = stream.notices();
    sim.faults().fail_next(tonic::Code::Unavailable, FAILURES);
    let ids = tokio::time::timeout(Duration::from_secs(60), async {
        let mut ids = Vec::new();
        while let Some(event) = stream.try_next().await? {
            ids.push(event.uid().unwrap().to_owned());
        }
        Ok::<_, Error>(ids)
    })
    .await
    .expect("the stream does not wait for the idle receiver")
    .expect("no error");
    assert_exactly(&ids, &expected_ids(&sim, start, end));
    let stats = stream.stats();
    // Every retried failure was reported (the server-time probe may take one failure: it is not
    // retried, the stream goes on without it).
    assert_eq!(stats.stalls, stats.retries, "{stats:?}");
    assert!(stats.stalls >= u64::from(FAILURES) - 1, "{stats:?}");

    let got = sent(&mut idle);
    let Some(Notice::Missed { count, .. }) = got.first() else {
        panic!("expected a Missed notice first, got {:?}", got.first());
    };
    assert_eq!(got.len(), teleport_audit::NOTICE_BUFFER + 1);
    // One stall notice per failure and one recovery: each either missed or received.
    assert_eq!(*count + (got.len() as u64 - 1), stats.stalls + 1);
    assert_eq!(idle.missed(), *count);
    assert!(matches!(got.last(), Some(Notice::Recovered { .. })));
    assert!(
        got[1..got.len() - 1]
            .iter()
            .all(|n| matches!(n, Notice::Stalled { .. }))
    );
}
