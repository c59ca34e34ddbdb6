//! The exactly-once property in export mode, on an Athena-like simulated cluster: a backlog
//! over the past two days (chunks per minute), events arriving during the run in batches
//! flushed every 50 ms (visible late by up to the lateness bound), chunks written late for past
//! dates, random cursor checkpoints where the stream is dropped and resumed from the stored
//! cursor (through JSON or not, on a new connection or not), random faults. The union of what
//! was delivered must be exactly the events the cluster holds in the range, none twice.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use teleport_audit::{ExponentialBackoff, Mode, StreamConfig};
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

use support::auditor;
use support::exactly_once::{Fault, Run, check, drive, failure, insert_logins};

const SPAN_MS: u32 = 1500;
const LATENESS_MS: u32 = 1000;

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
        failure(),
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
    insert_logins(&sim, live, &scenario.events, case);

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
    let run = Run {
        sim: &sim,
        identity: &identity,
        checkpoints: &scenario.checkpoints,
        faults: &scenario.faults,
        through_json: scenario.through_json,
        new_client_on_resume: scenario.new_client_on_resume,
        end,
        cursor_mode: Some(Mode::Export),
    };
    // Resumed streams are in Auto mode: they follow the cursor's mode.
    let first = config().mode(Mode::Export).backfill_start(backfill_start);
    let delivered = drive(run, first, |cursor| config().resume_from(cursor)).await?;
    let expected: Vec<String> = sim
        .store()
        .ids_in_range(backfill_start, end)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    check(&delivered, &expected)?;
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
