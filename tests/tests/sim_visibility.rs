//! The two visibility models: DynamoDB's late visibility and Athena's flushed chunks.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::rpc::{ASCENDING, chunks, drain, start_cluster, ts};
use teleport_audit_proto::auditlog::v1::GetUnstructuredEventsRequest;
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, Clock, SimCluster};
use teleport_audit_tests::plain_client::Clients;
use time::OffsetDateTime;

/// The ids of every event a search of `[start, end]` returns, page after page.
async fn ids(c: &mut Clients, start: OffsetDateTime, end: OffsetDateTime) -> Vec<String> {
    let req = GetUnstructuredEventsRequest {
        start_date: ts(start),
        end_date: ts(end),
        limit: 1_000,
        order: ASCENDING,
        ..Default::default()
    };
    drain(c, req).await.0.into_iter().map(|e| e.id).collect()
}

fn event_at(t: OffsetDateTime, n: u8) -> String {
    format!(
        r#"{{"event":"exec","code":"T3002I","uid":"00000000-0000-4000-8000-0000000000{n:02x}","time":"{}","user":"alice"}}"#,
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    )
}

#[tokio::test]
async fn dynamo_shows_events_seconds_late() {
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let clock = Clock::manual(start);
    let (sim, mut c) = start_cluster(
        SimCluster::builder()
            .backend(Backend::Dynamo {
                max_visibility_delay: Duration::from_secs(3),
            })
            .clock(clock.clone())
            .live_rate(20.0)
            .final_page_key_probability(0.0),
        &IdentitySpec::default(),
    )
    .await;
    clock.advance(Duration::from_secs(2));
    let window = (start, start + time::Duration::seconds(10));
    let held = sim.store().ids_in_range(window.0, window.1);
    let visible = sim.store().visible_ids_in_range(window.0, window.1);
    assert!(held.len() >= 38, "{}", held.len());
    assert!(
        visible.len() < held.len(),
        "some live events are not visible yet"
    );
    let searched: BTreeSet<String> = ids(&mut c, window.0, window.1).await.into_iter().collect();
    let visible: BTreeSet<String> = visible.into_iter().map(|x| x.1).collect();
    assert_eq!(searched, visible);
    // After the longest delay, everything that existed two seconds in is visible.
    clock.advance(Duration::from_secs(3));
    let searched: BTreeSet<String> = ids(&mut c, window.0, window.1).await.into_iter().collect();
    assert!(held.iter().all(|(_, id)| searched.contains(id)));
    // An explicit visibility time is honoured.
    let now = clock.now();
    let late = sim
        .store()
        .insert(
            &event_at(now - time::Duration::seconds(1), 1),
            Some(now + time::Duration::seconds(5)),
        )
        .unwrap();
    assert!(
        !ids(&mut c, window.0, now + time::Duration::seconds(10))
            .await
            .contains(&late.uid().to_string())
    );
    clock.advance(Duration::from_secs(5));
    assert!(
        ids(&mut c, window.0, now + time::Duration::seconds(10))
            .await
            .contains(&late.uid().to_string())
    );
}

#[tokio::test]
async fn athena_shows_events_when_their_chunk_is_flushed() {
    let now = OffsetDateTime::now_utc();
    let clock = Clock::manual(now);
    let (sim, mut c) = start_cluster(
        SimCluster::builder()
            .backend(Backend::Athena {
                flush_interval: Duration::from_millis(200),
            })
            .clock(clock.clone())
            .final_page_key_probability(0.0),
        &IdentitySpec::default(),
    )
    .await;
    let window = (
        now - time::Duration::minutes(1),
        now + time::Duration::minutes(1),
    );
    let before = chunks(&mut c, now).await.len();
    let stored = sim.store().insert(&event_at(now, 2), None).unwrap();
    assert!(stored.visible_at() > now);
    assert!(
        ids(&mut c, window.0, window.1).await.is_empty(),
        "not flushed yet"
    );
    clock.advance(Duration::from_millis(250));
    assert_eq!(
        ids(&mut c, window.0, window.1).await,
        vec![stored.uid().to_string()]
    );
    assert_eq!(chunks(&mut c, now).await.len(), before + 1);
}

#[tokio::test]
async fn search_returns_exactly_what_the_store_says_is_visible_under_live_load() {
    let start = OffsetDateTime::now_utc();
    let clock = Clock::manual(start);
    let (sim, mut c) = start_cluster(
        SimCluster::builder()
            .backend(Backend::Immediate)
            .clock(clock.clone())
            .backlog(500, start - time::Duration::hours(1), start)
            .live_rate(100.0),
        &IdentitySpec::default(),
    )
    .await;
    clock.advance(Duration::from_secs(3));
    let (a, b) = (
        start - time::Duration::hours(2),
        start + time::Duration::hours(1),
    );
    let searched = ids(&mut c, a, b).await;
    let stored = support::expected_ids(&sim, a, b);
    assert_eq!(searched, stored);
    assert!(stored.len() >= 790, "{}", stored.len());
}
