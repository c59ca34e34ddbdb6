//! Store semantics: pagination, ordering, visibility, byte caps, cursors, sessions, export.

use std::collections::BTreeSet;
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::datetime;

use super::*;

const T0: OffsetDateTime = datetime!(2024-03-10 00:00 UTC);

fn store(backend: Backend, backlog: u64, clock: Clock) -> EventStore {
    EventStore::new(StoreConfig {
        seed: 11,
        cluster: "sim.test".into(),
        clock,
        backend,
        backlog: (backlog > 0).then_some((backlog, T0, T0 + time::Duration::hours(2))),
        live_rate: 0.0,
        cache_bytes: 8 << 20,
        final_page_key_probability: 0.0,
        sessions: 0,
        recordings: None,
    })
    .unwrap()
}

fn n(t: OffsetDateTime) -> Nanos {
    to_nanos(t).unwrap()
}

/// Pages through a whole range, returning the ids in order and the number of calls.
fn drain(
    store: &EventStore,
    start: Nanos,
    end: Nanos,
    limit: usize,
    ascending: bool,
    types: &[String],
) -> (Vec<String>, usize) {
    let inner = store.inner();
    let dynamo = matches!(inner.rules.backend, Backend::Dynamo { .. });
    let mut out = Vec::new();
    let mut key = String::new();
    let mut calls = 0;
    loop {
        calls += 1;
        let resume = if key.is_empty() {
            Resume::Start
        } else {
            Resume::After(decode_search(&key, dynamo).unwrap())
        };
        let page = inner
            .search(&SearchQuery {
                start,
                end,
                event_types: types,
                limit,
                resume,
                ascending,
                byte_cap: 1 << 20,
            })
            .unwrap();
        out.extend(page.events.iter().map(|e| e.body.uid_text.to_string()));
        if page.last_key.is_empty() {
            return (out, calls);
        }
        key = page.last_key;
        assert!(calls < 10_000);
    }
}

#[test]
fn pagination_returns_exactly_the_range_in_both_orders() {
    let clock = Clock::manual(T0 + time::Duration::days(1));
    let s = store(Backend::Immediate, 3_000, clock);
    let (a, b) = (
        T0 + time::Duration::minutes(10),
        T0 + time::Duration::minutes(70),
    );
    let expected: Vec<String> = s.ids_in_range(a, b).into_iter().map(|(_, id)| id).collect();
    assert!(expected.len() > 1_000, "{}", expected.len());
    for limit in [1, 7, 500] {
        let (asc, _) = drain(&s, n(a), n(b), limit, true, &[]);
        assert_eq!(asc, expected, "limit {limit}");
        let (mut desc, _) = drain(&s, n(a), n(b), limit, false, &[]);
        desc.reverse();
        assert_eq!(desc, expected, "limit {limit} descending");
    }
}

#[test]
fn dynamo_orders_a_second_by_id_hash_and_compares_whole_seconds() {
    let clock = Clock::manual(T0 + time::Duration::days(1));
    let s = store(
        Backend::Dynamo {
            max_visibility_delay: Duration::from_secs(2),
        },
        0,
        clock,
    );
    let base = T0 + time::Duration::hours(1);
    let mut ids = Vec::new();
    for ms in [100, 300, 500, 700, 900] {
        let t = base + time::Duration::milliseconds(ms);
        let uid = crate::uid::Uid::v4(crate::det::Draw::new(&[ms as u64]).bytes16());
        let json = format!(
            r#"{{"event":"user.login","uid":"{uid}","time":"{}","code":"T1000I"}}"#,
            crate::json::rfc3339_nano(n(t))
        );
        s.insert(&json, Some(T0)).unwrap();
        ids.push(uid);
    }
    // A range ending at .2 of the same second still holds the whole second.
    let (got, _) = drain(
        &s,
        n(base + time::Duration::milliseconds(800)),
        n(base + time::Duration::milliseconds(200)),
        500,
        true,
        &[],
    );
    let mut by_hash = ids.clone();
    by_hash.sort_by_key(|u| (u.digest(), *u));
    let by_hash: Vec<String> = by_hash.iter().map(|u| u.to_string()).collect();
    assert_eq!(got, by_hash);
    let by_time: Vec<String> = ids.iter().map(|u| u.to_string()).collect();
    assert_ne!(
        got, by_time,
        "the hash order differs from time order for this sample"
    );
    // Athena-like ordering is by time.
    let clock = Clock::manual(T0 + time::Duration::days(1));
    let x = store(Backend::Immediate, 0, clock);
    for (i, uid) in ids.iter().enumerate() {
        let t = base + time::Duration::milliseconds([100, 300, 500, 700, 900][i]);
        let json = format!(
            r#"{{"event":"user.login","uid":"{uid}","time":"{}"}}"#,
            crate::json::rfc3339_nano(n(t))
        );
        x.insert(&json, None).unwrap();
    }
    let (got, _) = drain(
        &x,
        n(base),
        n(base + time::Duration::seconds(1)),
        500,
        true,
        &[],
    );
    assert_eq!(got, by_time);
    // Microsecond ranges: an end at .2 excludes later events of the second.
    let (got, _) = drain(
        &x,
        n(base),
        n(base + time::Duration::milliseconds(200)),
        500,
        true,
        &[],
    );
    assert_eq!(got, by_time[..1]);
}

#[test]
fn byte_cap_stops_pages_early_but_never_below_one_event() {
    let clock = Clock::manual(T0 + time::Duration::days(1));
    let s = store(Backend::Immediate, 200, clock);
    let inner = s.inner();
    let q = |cap: usize| SearchQuery {
        start: n(T0),
        end: n(T0 + time::Duration::hours(3)),
        event_types: &[],
        limit: 500,
        resume: Resume::Start,
        ascending: true,
        byte_cap: cap,
    };
    let page = inner.search(&q(5_000)).unwrap();
    let total: usize = page.events.iter().map(|e| e.body.json_len).sum();
    assert!(total <= 5_000 && page.events.len() > 1 && page.events.len() < 200);
    assert!(
        !page.last_key.is_empty(),
        "a page cut by the byte cap has a key"
    );
    let page = inner.search(&q(1)).unwrap();
    assert_eq!(page.events.len(), 1);
    assert!(!page.last_key.is_empty());
}

#[test]
fn final_pages_carry_a_key_as_configured_and_full_pages_always_do() {
    let clock = Clock::manual(T0 + time::Duration::days(1));
    let mut config = StoreConfig {
        seed: 11,
        cluster: "c".into(),
        clock,
        backend: Backend::Immediate,
        backlog: Some((10, T0, T0 + time::Duration::minutes(1))),
        live_rate: 0.0,
        cache_bytes: 1 << 20,
        final_page_key_probability: 1.0,
        sessions: 0,
        recordings: None,
    };
    // Only DynamoDB (its LastEvaluatedKey) hands out a key on a final short page.
    let s = EventStore::new(config.clone()).unwrap();
    let (ids, calls) = drain(&s, n(T0), n(T0 + time::Duration::hours(1)), 500, true, &[]);
    assert_eq!((ids.len(), calls), (10, 1));
    config.backend = Backend::Dynamo {
        max_visibility_delay: Duration::ZERO,
    };
    let s = EventStore::new(config.clone()).unwrap();
    let (ids, calls) = drain(&s, n(T0), n(T0 + time::Duration::hours(1)), 500, true, &[]);
    assert_eq!(
        (ids.len(), calls),
        (10, 2),
        "short final page with a key, then an empty page"
    );
    config.final_page_key_probability = 0.0;
    let s = EventStore::new(config).unwrap();
    let (ids, calls) = drain(&s, n(T0), n(T0 + time::Duration::hours(1)), 500, true, &[]);
    assert_eq!((ids.len(), calls), (10, 1));
    let (ids, calls) = drain(&s, n(T0), n(T0 + time::Duration::hours(1)), 10, true, &[]);
    assert_eq!(
        (ids.len(), calls),
        (10, 2),
        "a full page has a key even when nothing follows"
    );
}

#[test]
fn type_filter_is_applied_server_side() {
    let clock = Clock::manual(T0 + time::Duration::days(1));
    let s = store(Backend::Immediate, 2_000, clock);
    let wanted = vec!["user.login".to_string(), "exec".to_string()];
    let (got, _) = drain(
        &s,
        n(T0),
        n(T0 + time::Duration::hours(3)),
        100,
        true,
        &wanted,
    );
    let all = s
        .events_in_range(T0, T0 + time::Duration::hours(3))
        .unwrap();
    let expected: Vec<String> = all
        .iter()
        .filter(|e| wanted.contains(&e.event_type))
        .map(|e| e.uid.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn late_visibility_behind_a_cursor_is_missed_by_that_query() {
    let clock = Clock::manual(T0 + time::Duration::days(1));
    let s = store(
        Backend::Dynamo {
            max_visibility_delay: Duration::from_secs(5),
        },
        0,
        clock.clone(),
    );
    let now = clock.now();
    let mk = |secs: i64, k: u8| {
        let uid = crate::uid::Uid::v4([k; 16]);
        (
            format!(
                r#"{{"event":"exec","uid":"{uid}","time":"{}"}}"#,
                crate::json::rfc3339_nano(n(now - time::Duration::seconds(secs)))
            ),
            uid.to_string(),
        )
    };
    let (early, early_id) = mk(30, 1);
    let (late, late_id) = mk(20, 2);
    let (mid, _) = mk(10, 3);
    s.insert(&early, Some(now)).unwrap();
    s.insert(&late, Some(now + time::Duration::seconds(3)))
        .unwrap();
    s.insert(&mid, Some(now)).unwrap();
    let range = (n(now - time::Duration::minutes(1)), n(now));
    let inner = s.inner();
    let query = |limit: usize, resume: Resume<'static>| SearchQuery {
        start: range.0,
        end: range.1,
        event_types: &[],
        limit,
        resume,
        ascending: true,
        byte_cap: 1 << 20,
    };
    // The first page ends at `mid`: the late event is not visible yet.
    let page = inner.search(&query(2, Resume::Start)).unwrap();
    let ids: Vec<_> = page
        .events
        .iter()
        .map(|e| e.body.uid_text.to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&early_id) && !ids.contains(&late_id));
    let key = decode_search(&page.last_key, true).unwrap();
    clock.advance(Duration::from_secs(4));
    assert_eq!(
        s.visible_ids_in_range(now - time::Duration::minutes(1), now)
            .len(),
        3
    );
    // Resuming after `mid` never returns the late event, which sorts before the cursor...
    let resumed = inner.search(&query(500, Resume::After(key))).unwrap();
    assert!(resumed.events.is_empty());
    assert!(resumed.last_key.is_empty());
    // ...while a fresh query does.
    let (fresh, _) = drain(&s, range.0, range.1, 500, true, &[]);
    assert!(fresh.contains(&late_id));
    assert_eq!(fresh.len(), 3);
}

#[test]
fn live_events_appear_as_the_clock_moves_and_clear_live_removes_them() {
    let clock = Clock::manual(T0);
    let s = store(Backend::Immediate, 100, clock.clone());
    s.set_live_rate(10.0).unwrap();
    assert_eq!(s.len(), 100);
    clock.advance(Duration::from_secs(2));
    let live = s.len() - 100;
    assert!((19..=21).contains(&live), "{live}");
    let ids = s.ids_in_range(T0, T0 + time::Duration::seconds(3));
    assert_eq!(ids.len() as u64, live);
    s.clear_live().unwrap();
    assert_eq!(s.len(), 100);
    clock.advance(Duration::from_secs(1));
    assert!(s.len() > 100);
    let after: BTreeSet<_> = s
        .ids_in_range(T0, T0 + time::Duration::seconds(4))
        .into_iter()
        .map(|x| x.1)
        .collect();
    assert!(
        ids.iter().all(|(_, id)| !after.contains(id)),
        "new live ids after clear_live"
    );
}

#[test]
fn sessions_of_generated_and_inserted_events() {
    let clock = Clock::manual(T0 + time::Duration::days(1));
    let s = store(Backend::Immediate, 400, clock);
    let inner = s.inner();
    let all = s
        .events_in_range(T0, T0 + time::Duration::hours(3))
        .unwrap();
    let start = all
        .iter()
        .find(|e| e.event_type == "session.start")
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&start.json).unwrap();
    let sid = v["sid"].as_str().unwrap();
    let events = inner.session(sid, 0).unwrap().unwrap();
    let types: Vec<_> = events
        .iter()
        .map(|e| e.body.event_type.to_string())
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("session.start"));
    assert_eq!(types.last().map(String::as_str), Some("session.end"));
    let eis: Vec<_> = events.iter().map(|e| e.body.ei).collect();
    assert_eq!(eis, (0..eis.len() as i64).collect::<Vec<_>>());
    let tail = inner.session(sid, 3).unwrap().unwrap();
    assert_eq!(tail.len(), events.len() - 3);
    assert!(
        inner
            .session("00000000-0000-4000-8000-000000000000", 0)
            .unwrap()
            .is_none()
    );
    s.insert(r#"{"event":"session.start","uid":"00000000-0000-4000-8000-000000000001","time":"2024-03-10T01:00:00Z","sid":"my-session","ei":0}"#, None).unwrap();
    s.insert(r#"{"event":"session.end","uid":"00000000-0000-4000-8000-000000000002","time":"2024-03-10T01:00:05Z","sid":"my-session","ei":1}"#, None).unwrap();
    let mine = inner.session("my-session", 0).unwrap().unwrap();
    assert_eq!(mine.len(), 2);
}

#[test]
fn insert_explains_what_is_wrong() {
    let clock = Clock::manual(T0);
    let s = store(Backend::Immediate, 0, clock);
    let err = |json: &str| s.insert(json, None).unwrap_err().to_string();
    assert!(
        err("nope").contains("`(object)` is not JSON"),
        "{}",
        err("nope")
    );
    assert!(err("[]").contains("not an object"));
    assert!(
        err(r#"{"uid":"00000000-0000-4000-8000-000000000001","event":"x"}"#)
            .contains("`time` is missing")
    );
    assert!(
        err(r#"{"time":"yesterday","uid":"00000000-0000-4000-8000-000000000001","event":"x"}"#)
            .contains("not RFC 3339")
    );
    assert!(err(r#"{"time":"2024-01-01T00:00:00Z","uid":"abc","event":"x"}"#).contains("`uid`"));
    assert!(
        err(r#"{"time":"2024-01-01T00:00:00Z","uid":"00000000-0000-4000-8000-000000000001"}"#)
            .contains("`event` is missing")
    );
    let ok = r#"{"time":"2024-01-01T00:00:00Z","uid":"00000000-0000-4000-8000-000000000001","event":"x"}"#;
    s.insert(ok, None).unwrap();
    assert!(matches!(
        s.insert(ok, None),
        Err(SimError::DuplicateEvent { .. })
    ));
}

#[test]
fn athena_chunks_flush_list_and_export_every_event_once() {
    let clock = Clock::manual(T0 + time::Duration::hours(2));
    let interval = Duration::from_millis(200);
    let s = store(
        Backend::Athena {
            flush_interval: interval,
        },
        500,
        clock.clone(),
    );
    let inner = s.inner();
    let day = day_of(n(T0));
    let collect = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .flat_map(|c| inner.chunk_events(day, c).unwrap().unwrap())
            .map(|e| e.body.uid_text.to_string())
            .collect()
    };
    let names = inner.chunks(day);
    assert!(
        names.len() > 50,
        "history: a chunk per minute with events: {}",
        names.len()
    );
    let mut exported = collect(&names);
    exported.sort();
    let mut expected: Vec<String> = s
        .ids_in_range(T0, T0 + time::Duration::days(1))
        .into_iter()
        .map(|x| x.1)
        .collect();
    expected.sort();
    assert_eq!(exported, expected);

    // An inserted event waits for the next flush: invisible to search and export until then.
    let now = clock.now();
    s.insert(
        &format!(
            r#"{{"event":"exec","uid":"00000000-0000-4000-8000-00000000000a","time":"{}"}}"#,
            crate::json::rfc3339_nano(n(now))
        ),
        None,
    )
    .unwrap();
    assert_eq!(inner.chunks(day).len(), names.len());
    assert_eq!(s.visible_ids_in_range(now, now).len(), 0);
    clock.advance(interval);
    assert_eq!(inner.chunks(day).len(), names.len() + 1);
    assert_eq!(s.visible_ids_in_range(now, now).len(), 1);

    // A late chunk for the day appears at once, as a chunk of its own.
    let late = s.late_chunk(T0.date(), 3).unwrap();
    let names2 = inner.chunks(day);
    assert_eq!(names2.len(), names.len() + 2);
    let new: Vec<_> = names2
        .iter()
        .filter(|n| !names.contains(n))
        .cloned()
        .collect();
    let mut got = collect(&new);
    got.sort();
    let mut want: Vec<String> = late
        .iter()
        .map(|e| e.uid().to_string())
        .chain(["00000000-0000-4000-8000-00000000000a".to_string()])
        .collect();
    want.sort();
    assert_eq!(got, want);
    // Unknown chunk names and wrong dates find nothing.
    assert!(inner.chunk_events(day, "nope").unwrap().is_none());
    assert!(inner.chunk_events(day + 1, &names[0]).unwrap().is_none());
}

#[test]
fn a_huge_backlog_costs_nothing_until_queried() {
    let clock = Clock::manual(T0 + time::Duration::days(400));
    let s = EventStore::new(StoreConfig {
        seed: 3,
        cluster: "big".into(),
        clock,
        backend: Backend::Immediate,
        backlog: Some((50_000_000, T0, T0 + time::Duration::days(365))),
        live_rate: 0.0,
        cache_bytes: 1 << 20,
        final_page_key_probability: 0.0,
        sessions: 0,
        recordings: None,
    })
    .unwrap();
    assert_eq!(s.len(), 50_000_000);
    let minute = (
        T0 + time::Duration::days(200),
        T0 + time::Duration::days(200) + time::Duration::minutes(1),
    );
    let ids = s.ids_in_range(minute.0, minute.1);
    assert!((80..=110).contains(&ids.len()), "{}", ids.len());
    let (paged, _) = drain(&s, n(minute.0), n(minute.1), 30, true, &[]);
    assert_eq!(paged, ids.iter().map(|x| x.1.clone()).collect::<Vec<_>>());
    assert!(s.cache_bytes() <= 1 << 20, "{}", s.cache_bytes());
}

#[test]
fn no_live_event_predates_the_call_that_starts_it() {
    // Event times are cut to the millisecond: a live series started inside a millisecond must
    // not stamp its first event before the call (with Athena it would land in a chunk already
    // flushed, where export never finds it).
    let start = T0 + time::Duration::nanoseconds(1);
    let clock = Clock::manual(start);
    let s = store(Backend::Immediate, 0, clock.clone());
    s.set_live_rate(1000.0).unwrap();
    clock.advance(Duration::from_millis(50));
    let live = s.ids_in_range(T0, start + time::Duration::seconds(1));
    assert!(!live.is_empty());
    assert!(
        live.iter().all(|(time, _)| *time >= start),
        "first live event at {:?}, the call at {start}",
        live.first()
    );
}
