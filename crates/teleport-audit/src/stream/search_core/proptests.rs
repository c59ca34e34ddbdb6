//! The rules against a model server, for random event sets and server behaviours: every event in
//! the stream's range is delivered exactly once, and the watermark never moves backwards.
//!
//! The model: events with times in about 90 seconds (many in one second, some with one
//! timestamp, gaps longer than the window, often none after the end time), each visible from its time plus a delay of at most `max_lateness` (exactly it,
//! sometimes); a server clock that moves on with every request; ascending pages ordered by whole
//! second only (by id inside a second, as DynamoDB), with an offset as the page key and a key
//! after every full page (so a last page can be empty). For a while, keyed requests are
//! sometimes refused or answered from the start (a key ignored). The stream restarts from its
//! cursor (through its JSON form) at random events; the server may then no longer know the
//! stored key, and refuse it or answer it with an empty last page (Teleport's file backend).

use proptest::prelude::*;
use time::macros::datetime;

use super::*;
use crate::cursor::{Cursor, Position};

const LATENESS: Duration = Duration::from_secs(3);
const T0: OffsetDateTime = datetime!(2025-12-02 07:00 UTC);
/// The stream's range, in milliseconds after `T0`, and where events may be.
const START_MS: u64 = 3_000;
const END_MS: u64 = 60_500;
const SPAN_S: u64 = 90;

struct Event {
    time: OffsetDateTime,
    id: String,
    visible_at: OffsetDateTime,
}

struct Server {
    /// Sorted by (second, id): the order of a search.
    events: Vec<Event>,
    now: OffsetDateTime,
    /// Keys carry it; a key of an older generation is not known.
    generation: u32,
}

impl Server {
    fn visible(&self, from: OffsetDateTime, to: OffsetDateTime) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| e.visible_at <= self.now && e.time >= from && e.time <= to)
            .collect()
    }
}

fn roundtrip(position: &SearchPosition) -> SearchPosition {
    let cursor = Cursor {
        cluster: None,
        event_types: Vec::new(),
        position: Position::Search(position.clone()),
        sessions: crate::cursor::SessionsPosition::default(),
    };
    match Cursor::from_json(&cursor.to_json()).unwrap().position {
        Position::Search(position) => position,
        Position::Export(_) => panic!("a search cursor came back as export"),
    }
}

#[derive(Debug)]
struct Case {
    /// (second after T0, nanoseconds, visibility delay in ms)
    events: Vec<(u64, u32, u64)>,
    page_size: u32,
    /// 0: a day, following the live end of the log; 1: 5 s, a backfill (the server's clock is
    /// past every event); 2: 5 s, live; 3: 2 s (shorter than the lateness), live.
    window: u8,
    server_start_ms: u64,
    client_behind_ms: u64,
    clock_steps: Vec<u64>,
    quirks: Vec<u8>,
    restarts: Vec<bool>,
    /// What a key from before a restart gets: 0 honoured, 1 an empty last page, 2 refused.
    stale: u8,
}

fn case() -> impl Strategy<Value = Case> {
    let event = (
        prop_oneof![0..SPAN_S, 0..20u64],
        prop_oneof![Just(0u32), 0..1_000_000_000u32],
        prop_oneof![Just(0u64), Just(3000u64), 0..=3000u64],
    );
    (
        proptest::collection::vec(event, 0..60),
        1..8u32,
        0..4u8,
        0..50_000u64,
        prop_oneof![Just(0u64), 0..60_000u64],
        proptest::collection::vec(0..3000u64, 1..16),
        proptest::collection::vec(0..100u8, 1..32),
        proptest::collection::vec(prop::bool::weighted(0.05), 1..64),
        0..3u8,
    )
        .prop_map(
            |(
                events,
                page_size,
                window,
                server_start_ms,
                client_behind_ms,
                clock_steps,
                quirks,
                restarts,
                stale,
            )| Case {
                events,
                page_size,
                window,
                server_start_ms,
                client_behind_ms,
                clock_steps,
                quirks,
                restarts,
                stale,
            },
        )
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs the stream against the model until its end; returns the ids delivered.
fn run(case: &Case) -> Vec<String> {
    let start = later(T0, ms(START_MS));
    let end = later(T0, ms(END_MS));
    let settings = Settings {
        window: match case.window {
            0 => Duration::from_secs(86_400),
            1 | 2 => Duration::from_secs(5),
            _ => Duration::from_secs(2),
        },
        end: Some(end),
        max_lateness: LATENESS,
        page_size: case.page_size,
        max_receive_size: 4 << 20,
        max_receive_size_limit: 64 << 20,
    };
    let mut events: Vec<Event> = case
        .events
        .iter()
        .enumerate()
        .map(|(i, (second, nanos, delay))| {
            let time = later(
                T0,
                Duration::from_secs(*second) + Duration::from_nanos(u64::from(*nanos)),
            );
            Event {
                time,
                id: format!("e{i}"),
                visible_at: later(time, ms(*delay)),
            }
        })
        .collect();
    events.sort_by(|a, b| (a.time.unix_timestamp(), &a.id).cmp(&(b.time.unix_timestamp(), &b.id)));
    let mut server = Server {
        events,
        now: if case.window == 1 {
            later(
                T0,
                Duration::from_secs(SPAN_S + 3) + ms(case.server_start_ms),
            )
        } else {
            later(T0, ms(case.server_start_ms))
        },
        generation: 0,
    };
    let client_behind = ms(case.client_behind_ms);
    let mut core = SearchCore::new(settings.clone(), SearchPosition::starting_at(start), false);
    let mut delivered = Vec::new();
    let mut watermark = core.watermark();
    let mut pending: Option<Fetch> = None;
    let (mut steps, mut quirk_at, mut restart_at) = (0usize, 0usize, 0usize);
    loop {
        steps += 1;
        assert!(steps < 50_000, "the stream does not end");
        assert!(core.watermark() >= watermark, "the watermark moved back");
        watermark = core.watermark();
        let client_now = earlier(server.now, client_behind);
        let fetch = match pending.take() {
            Some(fetch) => fetch,
            None => match core.plan(client_now) {
                Plan::Done => break,
                Plan::ServerTime { from, to } => {
                    let newest = server.visible(from, to).iter().map(|e| e.time).max();
                    core.server_time_answered(newest);
                    continue;
                }
                Plan::Scan(fetch) => fetch,
            },
        };
        server.now = later(
            server.now,
            ms(case.clock_steps[steps % case.clock_steps.len()]),
        );
        let keyed = !fetch.key.is_empty();
        let (generation, offset) = match fetch.key.split_once(':') {
            Some((generation, offset)) => (generation.parse().unwrap(), offset.parse().unwrap()),
            None => (server.generation, 0usize),
        };
        // A server misbehaves for a while, not forever (a key refused forever is fatal).
        let quirk = if quirk_at < 500 {
            case.quirks[quirk_at % case.quirks.len()]
        } else {
            u8::MAX
        };
        quirk_at += 1;
        let stale = generation != server.generation;
        let offset = if keyed && ((stale && case.stale == 2) || (!stale && quirk < 10)) {
            // Refused (InvalidArgument): continue without the key, else retry.
            pending = Some(core.continue_without_key().unwrap_or(fetch));
            continue;
        } else if keyed && stale && case.stale == 1 {
            None // a key the server cannot find: an empty last page
        } else if keyed && quirk < 25 {
            Some(0) // a key ignored: the first page again
        } else {
            Some(offset)
        };
        let limit = core.page_limit() as usize;
        let visible = server.visible(fetch.from, fetch.to);
        let page: Vec<&Event> = offset
            .map(|offset| visible.iter().skip(offset).take(limit).copied().collect())
            .unwrap_or_default();
        let full = page.len() == limit;
        let last_key = match offset {
            Some(offset) if full => format!("{}:{}", server.generation, offset + limit),
            _ => String::new(),
        };
        let newest = page.iter().map(|e| e.time).max();
        core.page_received(newest);
        let mut restarted = false;
        for event in &page {
            if core.admit(event.time, &event.id) == Admission::Deliver {
                delivered.push(event.id.clone());
            }
            restart_at += 1;
            // Restarts for a while (restarting at every event forever makes no progress).
            if restart_at < 300 && case.restarts[restart_at % case.restarts.len()] {
                core = SearchCore::new(settings.clone(), roundtrip(core.position()), false);
                if case.stale != 0 {
                    server.generation += 1;
                }
                restarted = true;
                break;
            }
        }
        if restarted {
            continue;
        }
        match core.page_consumed(PageEnd {
            newest,
            last_key,
            full,
            keyed,
        }) {
            AfterPage::NextPage(fetch) | AfterPage::Recheck(fetch) => pending = Some(fetch),
            AfterPage::ScanComplete(ScanComplete {
                then: Then::Poll, ..
            }) => server.now = later(server.now, Duration::from_secs(2)),
            AfterPage::ScanComplete(_) | AfterPage::Replan => {}
        }
    }
    assert!(core.watermark() >= watermark, "the watermark moved back");
    delivered
}

proptest! {
    // 512 cases unless PROPTEST_CASES says otherwise (an explicit count would override it).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn every_event_in_range_is_delivered_exactly_once(case in case()) {
        let delivered = run(&case);
        let start = later(T0, ms(START_MS));
        let end = later(T0, ms(END_MS));
        let mut expected: Vec<String> = case
            .events
            .iter()
            .enumerate()
            .filter(|(_, (second, nanos, _))| {
                let time = later(
                    T0,
                    Duration::from_secs(*second) + Duration::from_nanos(u64::from(*nanos)),
                );
                time >= start && time <= end
            })
            .map(|(i, _)| format!("e{i}"))
            .collect();
        expected.sort();
        let mut got = delivered.clone();
        got.sort();
        prop_assert_eq!(got, expected, "delivered in order: {:?}", delivered);
    }
}
