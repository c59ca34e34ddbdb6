//! The exactly-once property, on a DynamoDB-like simulated cluster (second-granular ranges,
//! arbitrary order within a second, events visible late): random arrivals (bursts, equal
//! timestamps, late visibility up to the lateness bound), random cursor checkpoints where the
//! stream is dropped and resumed from the stored cursor, random faults. The union of what was
//! delivered must be exactly the events the cluster holds in the range, none twice.

mod support;

use std::time::Duration;

use proptest::prelude::*;

use teleport_audit_sim::{Backend, SimCluster};

use support::exactly_once::{
    Fault, Resumes, Run, drive_and_check, failure, insert_live_logins, settings,
};

const SPAN_MS: u32 = 2000;
const LATENESS_MS: u32 = 1000;

#[derive(Clone, Debug)]
struct Scenario {
    /// (offset of the event's time from the start, visibility delay), both in ms.
    events: Vec<(u32, u32)>,
    page_size: u32,
    resumes: Resumes,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        failure(),
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
            |(events, checkpoints, faults, page_size, through_json, new_client_on_resume)| {
                Scenario {
                    events,
                    page_size,
                    resumes: Resumes::new(checkpoints, faults, through_json, new_client_on_resume),
                }
            },
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
    let (start, end) = insert_live_logins(&sim, &scenario.events, case, SPAN_MS);

    let config = || {
        settings(end, LATENESS_MS)
            .page_size(scenario.page_size)
            .poll_interval(Duration::from_millis(50))
    };
    let run = Run {
        sim: &sim,
        resumes: &scenario.resumes,
        end,
        cursor_mode: None,
    };
    let first = config().backfill_start(start);
    let expected =
        drive_and_check(run, start, first, |cursor| config().resume_from(cursor)).await?;
    prop_assert_eq!(expected, scenario.events.len());
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
