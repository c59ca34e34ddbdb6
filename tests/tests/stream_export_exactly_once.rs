//! The exactly-once property in export mode, on an Athena-like simulated cluster: a backlog
//! over the past two days (chunks per minute), events arriving during the run in batches
//! flushed every 50 ms (visible late by up to the lateness bound), chunks written late for past
//! dates, random cursor checkpoints where the stream is dropped and resumed from the stored
//! cursor (through JSON or not, on a new connection or not), random faults. The union of what
//! was delivered must be exactly the events the cluster holds in the range, none twice.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use teleport_audit::Mode;
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

use support::exactly_once::{
    Fault, Resumes, Run, drive_and_check, failure, insert_live_logins, settings,
};

const SPAN_MS: u32 = 1500;
const LATENESS_MS: u32 = 1000;

#[derive(Clone, Debug)]
struct Scenario {
    backlog: u64,
    /// (offset of the event's time from the live start, visibility delay), both in ms.
    events: Vec<(u32, u32)>,
    concurrency: usize,
    resumes: Resumes,
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
            |(backlog, events, checkpoints, faults, concurrency, through_json, new_client)| {
                Scenario {
                    backlog,
                    events,
                    concurrency,
                    resumes: Resumes::new(checkpoints, faults, through_json, new_client),
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
    let (_live, end) = insert_live_logins(&sim, &scenario.events, case, SPAN_MS);

    let config = || {
        settings(end, LATENESS_MS)
            .export_concurrency(scenario.concurrency)
            .export_poll_interval(Duration::from_millis(50))
    };
    let run = Run {
        sim: &sim,
        resumes: &scenario.resumes,
        end,
        cursor_mode: Some(Mode::Export),
    };
    // Resumed streams are in Auto mode: they follow the cursor's mode.
    let first = config().mode(Mode::Export).backfill_start(backfill_start);
    drive_and_check(run, backfill_start, first, |cursor| {
        config().resume_from(cursor)
    })
    .await?;
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
