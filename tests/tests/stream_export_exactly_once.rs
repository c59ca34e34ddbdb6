//! The exactly-once property in export mode, on an Athena-like simulated cluster: a backlog
//! over the past two days (chunks per minute), events arriving during the run in batches
//! flushed every 50 ms (visible late by up to the lateness bound), chunks written late for past
//! dates, random cursor checkpoints where the stream is dropped and resumed from the stored
//! cursor (through JSON or not, on a new connection or not), random faults. The union of what
//! was delivered must be exactly the events the cluster holds in the range, none twice.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt as _;
use proptest::prelude::*;
use teleport_audit::{Client, Cursor, ExponentialBackoff, Mode, StreamConfig};
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use support::{auditor, proxy_config};

const SPAN_MS: u32 = 1500;
const LATENESS_MS: u32 = 1000;

#[derive(Clone, Debug)]
enum Fault {
    Fail(tonic::Code, u32),
    DropAfterEvents(u64),
    Stall,
    Restart,
    /// A chunk of 5 events for yesterday (0) or today (1) appears now.
    LateChunk(u8),
}

#[derive(Clone, Debug)]
struct Scenario {
    backlog: u64,
    /// (offset of the event's time from the live start, visibility delay), both in ms.
    events: Vec<(u32, u32)>,
    /// Delivered-event counts at which the stream is dropped and resumed from its cursor.
    checkpoints: Vec<usize>,
    /// Delivered-event counts at which a fault is armed.
    faults: Vec<(usize, Fault)>,
    concurrency: usize,
    through_json: bool,
    new_client_on_resume: bool,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (
            prop_oneof![
                Just(tonic::Code::Unavailable),
                Just(tonic::Code::ResourceExhausted),
                Just(tonic::Code::Internal)
            ],
            1u32..4
        )
            .prop_map(|(code, k)| Fault::Fail(code, k)),
        (0u64..30).prop_map(Fault::DropAfterEvents),
        Just(Fault::Stall),
        Just(Fault::Restart),
        (0u8..2).prop_map(Fault::LateChunk),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let time = prop_oneof![
        3 => 0u32..SPAN_MS,
        1 => prop::sample::select(vec![0u32, 1, 999, 1000, 1001, SPAN_MS]),
    ];
    let event = (time, 0u32..=(LATENESS_MS - 300));
    (
        20u64..150,
        prop::collection::vec(event, 0..150),
        prop::collection::vec(0usize..300, 0..5),
        prop::collection::vec((0usize..300, fault()), 0..5),
        1usize..5,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(backlog, events, mut checkpoints, faults, concurrency, through_json, new_client)| {
                checkpoints.sort_unstable();
                checkpoints.dedup();
                Scenario {
                    backlog,
                    events,
                    checkpoints,
                    faults,
                    concurrency,
                    through_json,
                    new_client_on_resume: new_client,
                }
            },
        )
}

fn uid(case: u64, index: usize) -> String {
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

async fn run(scenario: Scenario, case: u64) -> Result<(), TestCaseError> {
    let now = OffsetDateTime::now_utc();
    let backfill_start = now - time::Duration::days(2);
    let sim = SimCluster::builder()
        .backend(Backend::Athena {
            flush_interval: Duration::from_millis(50),
        })
        .backlog(
            scenario.backlog,
            backfill_start,
            now - time::Duration::seconds(1),
        )
        .seed(case)
        .start()
        .await
        .unwrap();
    let identity = auditor(&sim);
    let live = OffsetDateTime::now_utc() + time::Duration::milliseconds(300);
    let end = live + time::Duration::milliseconds(i64::from(SPAN_MS));
    for (index, (offset, delay)) in scenario.events.iter().enumerate() {
        let time = live + time::Duration::milliseconds(i64::from(*offset));
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

    let config = || {
        StreamConfig::default()
            .end_time(end)
            .export_concurrency(scenario.concurrency)
            .export_poll_interval(Duration::from_millis(50))
            .max_lateness(Duration::from_millis(u64::from(LATENESS_MS)))
            .request_timeout(Duration::from_millis(400))
            .backoff(ExponentialBackoff::new(
                Duration::from_millis(5),
                Duration::from_millis(50),
            ))
    };
    let mut client = Client::connect(proxy_config(&sim, &identity))
        .await
        .unwrap();
    let mut stream =
        client.audit_events(config().mode(Mode::Export).backfill_start(backfill_start));
    let mut delivered: HashMap<String, usize> = HashMap::new();
    let mut count = 0usize;
    let mut checkpoints = scenario.checkpoints.iter().peekable();
    let mut faults: Vec<(usize, Fault)> = scenario.faults.clone();
    faults.sort_by_key(|(at, _)| *at);
    let mut faults = faults.into_iter().peekable();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);

    loop {
        while let Some((_, fault)) = faults.next_if(|(at, _)| *at <= count) {
            match fault {
                Fault::Fail(code, k) => sim.faults().fail_next(code, k),
                Fault::DropAfterEvents(n) => sim.faults().drop_after_events(n),
                Fault::Stall => sim.faults().stall_next(1),
                Fault::Restart => sim.restart().await.unwrap(),
                // Late chunks must appear before the end: later than the lateness bound after
                // it, they are out of the guarantee.
                Fault::LateChunk(days_back) => {
                    if OffsetDateTime::now_utc() < end {
                        let date = OffsetDateTime::now_utc().date()
                            - time::Duration::days(i64::from(days_back));
                        sim.faults().late_chunk(date).unwrap();
                    }
                }
            }
        }
        if checkpoints.next_if(|at| **at <= count).is_some() {
            let cursor = stream.cursor();
            drop(stream);
            let cursor = if scenario.through_json {
                Cursor::from_json(&cursor.to_json()).unwrap()
            } else {
                cursor
            };
            prop_assert_eq!(cursor.mode(), Mode::Export);
            if scenario.new_client_on_resume {
                client = Client::connect(proxy_config(&sim, &identity))
                    .await
                    .unwrap();
            }
            // Auto follows the cursor's mode.
            stream = client.audit_events(config().resume_from(cursor));
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
            Ok(Some(Err(error))) => {
                prop_assert!(!error.is_fatal(), "fatal: {error:?}");
            }
        }
    }

    let expected: Vec<String> = sim
        .store()
        .ids_in_range(backfill_start, end)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
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
    sim.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10,
        max_shrink_iters: 20,
        .. ProptestConfig::default()
    })]

    #[test]
    fn resumed_export_runs_deliver_every_event_exactly_once(scenario in scenario(), case in any::<u64>()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(scenario, case))?;
    }
}
