//! The machinery of the exactly-once property tests (search and export): events inserted with
//! chosen times and visibility, faults armed at chosen delivery counts, the stream dropped and
//! resumed from its cursor at chosen counts, and the final check against what the cluster holds.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt as _;
use proptest::prelude::*;
use teleport_audit::{Client, Cursor, ExponentialBackoff, Mode, StreamConfig};
use teleport_audit_sim::SimCluster;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{auditor, proxy_config};

/// A fault armed on the simulated cluster at some delivery count.
#[derive(Clone, Debug)]
pub enum Fault {
    Fail(tonic::Code, u32),
    DropAfterBytes(u64),
    DropAfterEvents(u64),
    Stall,
    Restart,
    /// A chunk for today minus this many days appears now (export backends).
    LateChunk(u8),
}

/// Transient server errors, as a strategy.
pub fn failure() -> impl Strategy<Value = Fault> {
    (
        prop_oneof![
            Just(tonic::Code::Unavailable),
            Just(tonic::Code::ResourceExhausted),
            Just(tonic::Code::Internal)
        ],
        1u32..4,
    )
        .prop_map(|(code, k)| Fault::Fail(code, k))
}

/// A UUID-shaped id, distinct per (case, index).
pub fn uid(case: u64, index: usize) -> String {
    let n = u128::from(case) << 64 | index as u128;
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Stores one `user.login` per `(offset ms from base, visibility delay ms)`.
pub fn insert_logins(sim: &SimCluster, base: OffsetDateTime, events: &[(u32, u32)], case: u64) {
    for (index, (offset, delay)) in events.iter().enumerate() {
        let time = base + time::Duration::milliseconds(i64::from(*offset));
        let visible_at = time + time::Duration::milliseconds(i64::from(*delay));
        let json = serde_json::json!({
            "event": "user.login",
            "code": "T1000I",
            "time": time.format(&Rfc3339).unwrap(),
            "uid": uid(case, index),
            "user": format!("user-{index}"),
            "success": true,
        });
        sim.store()
            .insert(&json.to_string(), Some(visible_at))
            .unwrap();
    }
}

/// How a scenario drops, resumes and disturbs its stream (the part both property tests draw
/// alike).
#[derive(Clone, Debug)]
pub struct Resumes {
    /// Delivered-event counts at which the stream is dropped and resumed from its cursor
    /// (sorted, each once).
    pub checkpoints: Vec<usize>,
    /// Delivered-event counts at which a fault is armed.
    pub faults: Vec<(usize, Fault)>,
    pub through_json: bool,
    pub new_client_on_resume: bool,
}

impl Resumes {
    pub fn new(
        mut checkpoints: Vec<usize>,
        faults: Vec<(usize, Fault)>,
        through_json: bool,
        new_client_on_resume: bool,
    ) -> Resumes {
        checkpoints.sort_unstable();
        checkpoints.dedup();
        Resumes {
            checkpoints,
            faults,
            through_json,
            new_client_on_resume,
        }
    }
}

/// The settings both property tests share: the stream ends at `end`, events are up to
/// `lateness_ms` late, a call gives up after 400 ms, retries come after 5 to 50 ms.
pub fn settings(end: OffsetDateTime, lateness_ms: u32) -> StreamConfig {
    StreamConfig::default()
        .end_time(end)
        .max_lateness(Duration::from_millis(u64::from(lateness_ms)))
        .request_timeout(Duration::from_millis(400))
        .backoff(ExponentialBackoff::new(
            Duration::from_millis(5),
            Duration::from_millis(50),
        ))
}

/// Stores one `user.login` per scenario event from 300 ms from now on (see [`insert_logins`]);
/// returns that start and the end of the run, `span_ms` after it.
pub fn insert_live_logins(
    sim: &SimCluster,
    events: &[(u32, u32)],
    case: u64,
    span_ms: u32,
) -> (OffsetDateTime, OffsetDateTime) {
    let start = OffsetDateTime::now_utc() + time::Duration::milliseconds(300);
    insert_logins(sim, start, events, case);
    (
        start,
        start + time::Duration::milliseconds(i64::from(span_ms)),
    )
}

/// How one run drops, resumes and disturbs its stream (as the auditor).
pub struct Run<'a> {
    pub sim: &'a SimCluster,
    pub resumes: &'a Resumes,
    /// Late chunks are only written before this time (after it they are out of the guarantee).
    pub end: OffsetDateTime,
    /// The mode every cursor taken must be in, if it matters.
    pub cursor_mode: Option<Mode>,
}

/// Drives a stream from `first` to its end, resuming with `resume(cursor)` at each checkpoint;
/// returns how many times each event id was delivered.
pub async fn drive(
    run: Run<'_>,
    first: StreamConfig,
    resume: impl Fn(Cursor) -> StreamConfig,
) -> Result<HashMap<String, usize>, TestCaseError> {
    let identity = auditor(run.sim);
    let mut client = Client::connect(proxy_config(run.sim, &identity))
        .await
        .unwrap();
    let mut stream = client.audit_events(first);
    let mut delivered: HashMap<String, usize> = HashMap::new();
    let mut count = 0usize;
    let mut checkpoints = run.resumes.checkpoints.iter().peekable();
    let mut faults = run.resumes.faults.clone();
    faults.sort_by_key(|(at, _)| *at);
    let mut faults = faults.into_iter().peekable();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);

    loop {
        while let Some((_, fault)) = faults.next_if(|(at, _)| *at <= count) {
            arm(run.sim, fault, run.end).await;
        }
        if checkpoints.next_if(|at| **at <= count).is_some() {
            let cursor = stream.cursor();
            drop(stream);
            let cursor = if run.resumes.through_json {
                Cursor::from_json(&cursor.to_json()).unwrap()
            } else {
                cursor
            };
            if let Some(mode) = run.cursor_mode {
                prop_assert_eq!(cursor.mode(), mode);
            }
            if run.resumes.new_client_on_resume {
                client = Client::connect(proxy_config(run.sim, &identity))
                    .await
                    .unwrap();
            }
            stream = client.audit_events(resume(cursor));
            continue;
        }
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(TestCaseError::fail("the stream did not end in time")),
            Ok(None) => break,
            Ok(Some(Ok(event))) => {
                *delivered
                    .entry(event.uid().unwrap().to_owned())
                    .or_default() += 1;
                count += 1;
            }
            // Every error ends the stream: a transient fault must never come out as one.
            Ok(Some(Err(error))) => {
                return Err(TestCaseError::fail(format!(
                    "the stream ended with {error:?}"
                )));
            }
        }
    }
    Ok(delivered)
}

async fn arm(sim: &SimCluster, fault: Fault, end: OffsetDateTime) {
    match fault {
        Fault::Fail(code, k) => sim.faults().fail_next(code, k),
        Fault::DropAfterBytes(n) => sim.faults().drop_after_bytes(n),
        Fault::DropAfterEvents(n) => sim.faults().drop_after_events(n),
        Fault::Stall => sim.faults().stall_next(1),
        Fault::Restart => sim.restart().await.unwrap(),
        Fault::LateChunk(days_back) => {
            if OffsetDateTime::now_utc() < end {
                let date =
                    OffsetDateTime::now_utc().date() - time::Duration::days(i64::from(days_back));
                sim.faults().late_chunk(date).unwrap();
            }
        }
    }
}

/// Drives `run` (see [`drive`]) and checks that every event the cluster holds from `start` to
/// the run's end was delivered exactly once; returns how many that is.
pub async fn drive_and_check(
    run: Run<'_>,
    start: OffsetDateTime,
    first: StreamConfig,
    resume: impl Fn(Cursor) -> StreamConfig,
) -> Result<usize, TestCaseError> {
    let (sim, end) = (run.sim, run.end);
    let delivered = drive(run, first, resume).await?;
    let expected: Vec<String> = sim
        .store()
        .ids_in_range(start, end)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    check(&delivered, &expected)?;
    Ok(expected.len())
}

/// Every expected id delivered exactly once, and nothing else.
pub fn check(delivered: &HashMap<String, usize>, expected: &[String]) -> Result<(), TestCaseError> {
    let twice: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    prop_assert!(twice.is_empty(), "delivered twice: {twice:?}");
    let missing: Vec<_> = expected
        .iter()
        .filter(|id| !delivered.contains_key(*id))
        .collect();
    prop_assert!(
        missing.is_empty(),
        "missing {} of {}: {missing:?}",
        missing.len(),
        expected.len()
    );
    prop_assert_eq!(delivered.len(), expected.len());
    Ok(())
}
