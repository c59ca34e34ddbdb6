//! The exactly-once property, on a DynamoDB-like simulated cluster (second-granular ranges,
//! arbitrary order within a second, events visible late): random arrivals (bursts, equal
//! timestamps, late visibility up to the lateness bound), random cursor checkpoints where the
//! stream is dropped and resumed from the stored cursor, random faults. The union of what was
//! delivered must be exactly the events the cluster holds in the range, none twice.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt as _;
use proptest::prelude::*;
use teleport_audit::{Client, Cursor, ExponentialBackoff, StreamConfig};
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use support::{auditor, proxy_config};

const SPAN_MS: u32 = 2000;
const LATENESS_MS: u32 = 1000;

#[derive(Clone, Debug)]
enum Fault {
    Fail(tonic::Code, u32),
    DropAfterBytes(u64),
    Stall,
    Restart,
}

#[derive(Clone, Debug)]
struct Scenario {
    /// (offset of the event's time from the start, visibility delay), both in ms.
    events: Vec<(u32, u32)>,
    /// Delivered-event counts at which the stream is dropped and resumed from its cursor.
    checkpoints: Vec<usize>,
    /// Delivered-event counts at which a fault is armed.
    faults: Vec<(usize, Fault)>,
    page_size: u32,
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
        (2_000u64..40_000).prop_map(Fault::DropAfterBytes),
        Just(Fault::Stall),
        Just(Fault::Restart),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    // Times cluster on a few instants (bursts, equal timestamps) or spread over the span.
    let time = prop_oneof![
        3 => 0u32..SPAN_MS,
        1 => prop::sample::select(vec![0u32, 1, 999, 1000, 1001, 1500]),
    ];
    let event = (time, 0u32..=(LATENESS_MS - 200));
    (
        prop::collection::vec(event, 1..250),
        prop::collection::vec(0usize..250, 0..5),
        prop::collection::vec((0usize..250, fault()), 0..4),
        1u32..60,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(events, mut checkpoints, faults, page_size, through_json, new_client_on_resume)| {
                checkpoints.sort_unstable();
                checkpoints.dedup();
                Scenario {
                    events,
                    checkpoints,
                    faults,
                    page_size,
                    through_json,
                    new_client_on_resume,
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
    let sim = SimCluster::builder()
        .backend(Backend::Dynamo {
            max_visibility_delay: Duration::from_millis(u64::from(LATENESS_MS) - 200),
        })
        .start()
        .await
        .unwrap();
    let identity = auditor(&sim);
    let start = OffsetDateTime::now_utc() + time::Duration::milliseconds(300);
    let end = start + time::Duration::milliseconds(i64::from(SPAN_MS));
    for (index, (offset, delay)) in scenario.events.iter().enumerate() {
        let time = start + time::Duration::milliseconds(i64::from(*offset));
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
            .page_size(scenario.page_size)
            .poll_interval(Duration::from_millis(50))
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
    let mut stream = client.audit_events(config().backfill_start(start));
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
                Fault::DropAfterBytes(n) => sim.faults().drop_after_bytes(n),
                Fault::Stall => sim.faults().stall_next(1),
                Fault::Restart => sim.restart().await.unwrap(),
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
            if scenario.new_client_on_resume {
                client = Client::connect(proxy_config(&sim, &identity))
                    .await
                    .unwrap();
            }
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
        .ids_in_range(start, end)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    prop_assert_eq!(expected.len(), scenario.events.len());
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
        cases: 12,
        max_shrink_iters: 20,
        .. ProptestConfig::default()
    })]

    #[test]
    fn resumed_runs_deliver_every_event_exactly_once(scenario in scenario(), case in any::<u64>()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(scenario, case))?;
    }
}
