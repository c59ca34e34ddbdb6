//! One test per rule of `docs/cursor.md`, with its edges.

use super::*;
use time::macros::datetime;

const LATENESS: Duration = Duration::from_secs(10);
const DAY: Duration = Duration::from_secs(86_400);
const HOUR: Duration = Duration::from_secs(3600);
const NS: Duration = Duration::from_nanos(1);

fn settings() -> Settings {
    Settings {
        window: DAY,
        end: None,
        max_lateness: LATENESS,
        page_size: 500,
        max_receive_size: 4 << 20,
        max_receive_size_limit: 64 << 20,
    }
}

/// A core at `watermark` that has learnt the server's newest event time (`newest`).
fn core_at(watermark: OffsetDateTime, newest: Option<OffsetDateTime>) -> SearchCore {
    core_with(settings(), watermark, newest)
}

fn core_with(
    settings: Settings,
    watermark: OffsetDateTime,
    newest: Option<OffsetDateTime>,
) -> SearchCore {
    let mut core = SearchCore::new(settings, SearchPosition::starting_at(watermark), false);
    assert!(matches!(
        core.plan(watermark),
        Plan::ServerTime { .. } | Plan::Done
    ));
    assert_eq!(core.server_time_answered(newest), None);
    core
}

fn scan(core: &mut SearchCore, now: OffsetDateTime) -> Fetch {
    match core.plan(now) {
        Plan::Scan(fetch) => fetch,
        other => panic!("expected a scan, got {other:?}"),
    }
}

fn page(newest: Option<OffsetDateTime>, last_key: &str, full: bool, keyed: bool) -> PageEnd {
    PageEnd {
        newest,
        last_key: last_key.to_owned(),
        full,
        keyed,
    }
}

fn complete(after: AfterPage) -> ScanComplete {
    match after {
        AfterPage::ScanComplete(complete) => complete,
        other => panic!("expected a complete scan, got {other:?}"),
    }
}

#[test]
fn the_servers_time_is_asked_first_then_a_scan_from_the_watermarks_second() {
    let watermark = datetime!(2025-12-02 07:14:30.5 UTC);
    let now = datetime!(2025-12-02 08:00 UTC);
    let mut core = SearchCore::new(settings(), SearchPosition::starting_at(watermark), false);
    assert_eq!(
        core.plan(now),
        Plan::ServerTime {
            from: datetime!(2025-12-02 07:14:30 UTC),
            to: datetime!(2025-12-02 10:00 UTC),
        }
    );
    core.server_time_answered(Some(datetime!(2025-12-02 07:59:58 UTC)));
    let fetch = scan(&mut core, now);
    assert_eq!(fetch.from, datetime!(2025-12-02 07:14:30 UTC));
    // One window on, capped at the skew allowance past now.
    assert_eq!(fetch.to, datetime!(2025-12-02 10:00 UTC));
    assert_eq!(fetch.key, "");
    let scan = core.position().scan.as_ref().unwrap();
    // The scan settles on the server's newest event, not this machine's clock.
    assert_eq!(scan.started, datetime!(2025-12-02 07:59:58 UTC));
    // Asked once per stream.
    assert!(matches!(core.plan(now), Plan::Scan(_)));
}

#[test]
fn from_now_the_stream_starts_right_after_the_servers_newest_event() {
    let guess = datetime!(2025-12-02 08:00 UTC);
    let mut core = SearchCore::new(settings(), SearchPosition::starting_at(guess), true);
    // Looks around this machine's "now" by the skew allowance both ways.
    assert_eq!(
        core.plan(guess),
        Plan::ServerTime {
            from: earlier(guess, HOUR * 2),
            to: later(guess, HOUR * 2),
        }
    );
    let newest = datetime!(2025-12-02 07:00:01.25 UTC);
    assert_eq!(
        core.server_time_answered(Some(newest)),
        Some(later(newest, NS))
    );
    assert_eq!(core.watermark(), later(newest, NS));
    // No event near "now": this machine's guess stays the start.
    let mut core = SearchCore::new(settings(), SearchPosition::starting_at(guess), true);
    core.plan(guess);
    assert_eq!(core.server_time_answered(None), None);
    assert_eq!(core.watermark(), guess);
}

#[test]
fn a_resumed_scan_continues_at_its_stored_key() {
    let mut position = SearchPosition::starting_at(datetime!(2025-12-02 07:00 UTC));
    position.scan = Some(ScanPosition {
        from: datetime!(2025-12-02 07:00 UTC),
        to: datetime!(2025-12-02 09:00 UTC),
        started: datetime!(2025-12-02 07:30 UTC),
        key: "opaque".into(),
        reached: Some(datetime!(2025-12-02 07:10 UTC)),
    });
    let mut core = SearchCore::new(settings(), position, false);
    core.plan(datetime!(2025-12-02 08:00 UTC));
    core.server_time_answered(None);
    assert_eq!(
        scan(&mut core, datetime!(2025-12-02 08:00 UTC)),
        Fetch {
            from: datetime!(2025-12-02 07:00 UTC),
            to: datetime!(2025-12-02 09:00 UTC),
            key: "opaque".into(),
        }
    );
}

#[test]
fn a_resumed_scan_does_not_count_as_begun_now_for_the_end_time() {
    // The scan began (by the server's clock) before a late event became visible; resumed after
    // the end time plus lateness by this machine's clock, its completion must not end the stream:
    // the late event may be behind its pages.
    let end = datetime!(2025-12-02 07:00:30 UTC);
    let mut position = SearchPosition::starting_at(datetime!(2025-12-02 07:00 UTC));
    position.scan = Some(ScanPosition {
        from: datetime!(2025-12-02 07:00 UTC),
        to: end,
        started: datetime!(2025-12-02 07:00:03 UTC),
        key: "k".into(),
        reached: Some(datetime!(2025-12-02 07:00:11 UTC)),
    });
    let settings = Settings {
        end: Some(end),
        ..settings()
    };
    let now = datetime!(2025-12-02 08:00 UTC);
    let mut core = SearchCore::new(settings, position, false);
    core.plan(now);
    core.server_time_answered(None);
    scan(&mut core, now);
    let done = complete(core.page_consumed(page(None, "", false, false)));
    assert_eq!(done.caught_up_at, None);
    assert_eq!(done.then, Then::Poll);
    // The next scan, begun now, ends it.
    assert_eq!(scan(&mut core, now).from, datetime!(2025-12-02 07:00 UTC));
    let done = complete(core.page_consumed(page(None, "", false, false)));
    assert_eq!(done.then, Then::Finish);
}

#[test]
fn events_before_the_watermark_after_the_end_or_seen_are_not_delivered() {
    let watermark = datetime!(2025-12-02 07:00 UTC);
    let end = datetime!(2025-12-02 07:30 UTC);
    let mut core = core_with(
        Settings {
            end: Some(end),
            ..settings()
        },
        watermark,
        None,
    );
    assert_eq!(
        core.admit(earlier(watermark, NS), "a"),
        Admission::OutOfRange
    );
    assert_eq!(core.admit(watermark, "a"), Admission::Deliver);
    assert_eq!(core.admit(watermark, "a"), Admission::Duplicate);
    // The same id in another second is another event as far as the seen set knows.
    assert_eq!(
        core.admit(later(watermark, Duration::from_secs(1)), "a"),
        Admission::Deliver
    );
    // The end time itself is in range; a nanosecond after is not.
    assert_eq!(core.admit(end, "b"), Admission::Deliver);
    assert_eq!(core.admit(later(end, NS), "c"), Admission::OutOfRange);
    assert_eq!(core.position().seen.len(), 3);
}

#[test]
fn after_a_page_the_watermark_moves_to_its_newest_second_capped_at_settled() {
    let start = datetime!(2025-12-02 07:00 UTC);
    let newest_seen = datetime!(2025-12-02 07:30 UTC);
    let mut core = core_at(start, Some(newest_seen));
    let fetch = scan(&mut core, datetime!(2025-12-02 07:30 UTC));
    let t = datetime!(2025-12-02 07:05:07.75 UTC);
    core.admit(t, "a");
    let after = core.page_consumed(page(Some(t), "k1", true, false));
    assert_eq!(
        after,
        AfterPage::NextPage(Fetch {
            key: "k1".into(),
            ..fetch
        })
    );
    // The start of the newest event's second: the rest of that second may be on the next page.
    assert_eq!(core.watermark(), datetime!(2025-12-02 07:05:07 UTC));
    let scan = core.position().scan.as_ref().unwrap();
    assert_eq!(scan.key, "k1");
    assert_eq!(scan.reached, Some(datetime!(2025-12-02 07:05:07 UTC)));
    // The seen id is kept: its second is not before the watermark.
    assert!(core.position().seen.contains(t, "a"));

    // A page past `settled` (newest seen minus lateness) moves it only to `settled`.
    let late = datetime!(2025-12-02 07:29:55 UTC);
    core.admit(late, "b");
    core.page_consumed(page(Some(late), "k2", true, true));
    assert_eq!(core.watermark(), datetime!(2025-12-02 07:29:50 UTC));
}

#[test]
fn ids_are_hashed_at_a_pages_end_only_if_the_watermark_did_not_pass_them() {
    let start = datetime!(2025-12-02 07:00 UTC);
    let mut core = core_at(start, Some(datetime!(2025-12-02 07:30 UTC)));
    scan(&mut core, datetime!(2025-12-02 07:30 UTC));
    let (first, last) = (
        datetime!(2025-12-02 07:01:00.5 UTC),
        datetime!(2025-12-02 07:02:00.5 UTC),
    );
    assert_eq!(core.admit(first, "a"), Admission::Deliver);
    assert_eq!(core.admit(last, "b"), Admission::Deliver);
    // In the page: kept as text, still found.
    assert!(core.position().seen.has_pending());
    assert_eq!(core.admit(first, "a"), Admission::Duplicate);
    core.page_consumed(page(Some(last), "k1", true, false));
    // After it: the watermark passed "a"; "b" is kept, hashed.
    assert_eq!(core.watermark(), datetime!(2025-12-02 07:02 UTC));
    assert!(!core.position().seen.has_pending());
    assert_eq!(core.position().seen.len(), 1);
    assert_eq!(core.admit(last, "b"), Admission::Duplicate);
    assert_eq!(core.admit(last, "c"), Admission::Deliver);
}

#[test]
fn after_a_complete_scan_the_watermark_moves_to_the_scan_end_or_settled() {
    // A backfill window that ends long before the server's time: to the scan's end.
    let start = datetime!(2025-11-01 00:00 UTC);
    let now = datetime!(2025-12-02 12:00 UTC);
    let mut core = core_at(start, Some(datetime!(2025-12-02 11:59 UTC)));
    let fetch = scan(&mut core, now);
    assert_eq!(fetch.to, datetime!(2025-11-02 00:00 UTC));
    let done = complete(core.page_consumed(page(None, "", false, false)));
    assert_eq!(core.watermark(), fetch.to);
    assert!(core.position().scan.is_none());
    // More is waiting (the window ended before the watermark caught up): scan again at once.
    assert_eq!(done.then, Then::ScanAgain);
    assert_eq!(done.caught_up_at, None);

    // The live tail: to `settled`, then poll; caught up as of the scan's start.
    let newest = datetime!(2025-12-02 11:59:30 UTC);
    let mut core = core_at(datetime!(2025-12-02 11:59 UTC), Some(newest));
    scan(&mut core, now);
    let done = complete(core.page_consumed(page(Some(newest), "", false, false)));
    assert_eq!(core.watermark(), datetime!(2025-12-02 11:59:20 UTC));
    assert_eq!(done.then, Then::Poll);
    assert_eq!(done.caught_up_at, Some(now));
    // A full last page means more may be there: scan again at once.
    scan(&mut core, now);
    let done = complete(core.page_consumed(page(Some(newest), "", true, false)));
    assert_eq!(done.then, Then::ScanAgain);
}

#[test]
fn the_watermark_never_moves_backwards() {
    let start = datetime!(2025-12-02 07:00 UTC);
    let mut core = core_at(start, Some(datetime!(2025-12-02 08:00 UTC)));
    scan(&mut core, datetime!(2025-12-02 08:00 UTC));
    core.page_consumed(page(
        Some(datetime!(2025-12-02 07:20:00.5 UTC)),
        "k1",
        true,
        false,
    ));
    let moved = core.watermark();
    assert_eq!(moved, datetime!(2025-12-02 07:20 UTC));
    // A server that ignores the key answers with the first page again: older events.
    core.page_consumed(page(
        Some(datetime!(2025-12-02 07:01 UTC)),
        "k1",
        true,
        true,
    ));
    assert_eq!(core.watermark(), moved);
    assert_eq!(
        core.position().scan.as_ref().unwrap().reached,
        Some(datetime!(2025-12-02 07:20 UTC))
    );
    // A scan that starts before the watermark and completes does not lower it either.
    let mut core = core_at(start, None);
    scan(&mut core, start);
    complete(core.page_consumed(page(None, "", false, false)));
    assert_eq!(core.watermark(), start);
}

#[test]
fn a_same_second_burst_across_a_page_boundary_is_delivered_once() {
    let second = datetime!(2025-12-02 07:14:36 UTC);
    let mut core = core_at(second, Some(datetime!(2025-12-02 08:00 UTC)));
    scan(&mut core, datetime!(2025-12-02 08:00 UTC));
    // 1000 events in one second (one nanosecond apart), pages of 300.
    let times: Vec<_> = (0..1000u64)
        .map(|i| later(second, Duration::from_nanos(i)))
        .collect();
    let mut delivered = 0;
    for (n, chunk) in times.chunks(300).enumerate() {
        for (i, time) in chunk.iter().enumerate() {
            if core.admit(*time, &format!("e{}", n * 300 + i)) == Admission::Deliver {
                delivered += 1;
            }
        }
        core.page_consumed(page(chunk.last().copied(), &format!("k{n}"), true, n > 0));
        // The watermark stays at the second's start: its other events are still coming.
        assert_eq!(core.watermark(), second);
    }
    assert_eq!(delivered, 1000);
    // Resumed (or a server that re-sends the second): none twice.
    for (i, time) in times.iter().enumerate() {
        assert_eq!(core.admit(*time, &format!("e{i}")), Admission::Duplicate);
    }
    assert_eq!(core.position().seen.len(), 1000);
}

#[test]
fn a_late_event_at_exactly_max_lateness_is_delivered_one_nanosecond_more_is_not() {
    // The server had returned an event at `newest` before the scan began.
    let newest = datetime!(2025-12-02 08:00 UTC);
    let mut core = core_at(datetime!(2025-12-02 07:59 UTC), Some(newest));
    scan(&mut core, newest);
    complete(core.page_consumed(page(Some(newest), "", false, false)));
    let settled = earlier(newest, LATENESS);
    assert_eq!(core.watermark(), settled);
    // An event becoming visible now, exactly `max_lateness` older than the server's newest:
    // still at the watermark, so the next scan delivers it.
    assert_eq!(scan(&mut core, newest).from, settled);
    assert_eq!(core.admit(settled, "late"), Admission::Deliver);
    // One nanosecond older: behind the watermark, beyond the guarantee.
    assert_eq!(
        core.admit(earlier(settled, NS), "too-late"),
        Admission::OutOfRange
    );
}

#[test]
fn an_empty_last_page_answering_a_key_is_checked_once_without_the_key() {
    let start = datetime!(2025-12-02 07:00 UTC);
    let now = datetime!(2025-12-02 08:00 UTC);
    let mut core = core_at(start, Some(now));
    let first = scan(&mut core, now);
    let t = datetime!(2025-12-02 07:20:00.5 UTC);
    core.page_consumed(page(Some(t), "k1", true, false));
    // The key's answer: nothing, and no key.
    let after = core.page_consumed(page(None, "", false, true));
    let recheck = Fetch {
        from: datetime!(2025-12-02 07:20 UTC),
        to: first.to,
        key: String::new(),
    };
    assert_eq!(after, AfterPage::Recheck(recheck.clone()));
    assert_eq!(core.position().scan.as_ref().unwrap().from, recheck.from);
    assert_eq!(core.position().scan.as_ref().unwrap().key, "");
    // The recheck's answer repeats what was seen, with a key, then an empty page again: from
    // the same place, the answer is believed and the scan completes.
    core.page_consumed(page(Some(t), "k2", true, false));
    let done = core.page_consumed(page(None, "", false, true));
    assert!(matches!(done, AfterPage::ScanComplete(_)), "{done:?}");
    // A non-empty last page, or one asked for without a key, is believed at once.
    let mut core = core_at(start, Some(now));
    scan(&mut core, now);
    assert!(matches!(
        core.page_consumed(page(None, "", false, false)),
        AfterPage::ScanComplete(_)
    ));
}

#[test]
fn a_refused_key_continues_the_scan_without_it_from_the_second_reached() {
    let start = datetime!(2025-12-02 07:00 UTC);
    let now = datetime!(2025-12-02 08:00 UTC);
    let mut core = core_at(start, Some(now));
    // No scan in progress: nothing to continue.
    assert_eq!(core.continue_without_key(), None);
    let first = scan(&mut core, now);
    // Before any page was delivered: from the scan's start.
    assert_eq!(
        core.continue_without_key(),
        Some(Fetch {
            key: String::new(),
            ..first.clone()
        })
    );
    // Twice from one place: the refusal is believed (the caller retries or fails).
    assert_eq!(core.continue_without_key(), None);
    core.page_consumed(page(
        Some(datetime!(2025-12-02 07:30:01.5 UTC)),
        "k",
        true,
        false,
    ));
    assert_eq!(
        core.continue_without_key(),
        Some(Fetch {
            from: datetime!(2025-12-02 07:30:01 UTC),
            to: first.to,
            key: String::new(),
        })
    );
    // A new scan may continue without its key again.
    let mut core = core_at(start, Some(now));
    scan(&mut core, now);
    assert!(core.continue_without_key().is_some());
    complete(core.page_consumed(page(None, "", false, false)));
    scan(&mut core, now);
    assert!(core.continue_without_key().is_some());
}

#[test]
fn a_key_the_server_ignores_repeats_the_page_and_nothing_is_delivered_twice() {
    let start = datetime!(2025-12-02 07:00 UTC);
    let now = datetime!(2025-12-02 08:00 UTC);
    let mut core = core_at(start, Some(now));
    scan(&mut core, now);
    let events: Vec<_> = (0..4)
        .map(|i| (later(start, Duration::from_secs(i)), format!("e{i}")))
        .collect();
    let mut delivered = Vec::new();
    // The first page, then the same page again in answer to its key, then the rest.
    for (page_events, keyed) in [
        (&events[..2], false),
        (&events[..2], true),
        (&events[2..], true),
    ] {
        for (time, id) in page_events {
            if core.admit(*time, id) == Admission::Deliver {
                delivered.push(id.clone());
            }
        }
        let newest = page_events.last().map(|(time, _)| *time);
        core.page_consumed(page(newest, "k", true, keyed));
    }
    assert_eq!(delivered, ["e0", "e1", "e2", "e3"]);
}

#[test]
fn an_end_time_inside_a_page_drops_what_follows_and_finishes_the_stream() {
    let start = datetime!(2025-12-02 07:00 UTC);
    let end = datetime!(2025-12-02 07:00:05.5 UTC);
    let settings = Settings {
        end: Some(end),
        ..settings()
    };
    // The server's clock is well past the end: the watermark passes it after the scan.
    let mut core = core_with(
        settings.clone(),
        start,
        Some(datetime!(2025-12-02 08:00 UTC)),
    );
    let fetch = scan(&mut core, datetime!(2025-12-02 08:00 UTC));
    assert_eq!(fetch.to, end);
    let times: Vec<_> = (0..10)
        .map(|i| later(start, Duration::from_secs(i)))
        .collect();
    let delivered = times
        .iter()
        .enumerate()
        .filter(|(i, time)| core.admit(**time, &format!("e{i}")) == Admission::Deliver)
        .count();
    assert_eq!(delivered, 6);
    let done = complete(core.page_consumed(page(times.last().copied(), "", false, false)));
    assert_eq!(done.then, Then::Finish);
    assert_eq!(done.waiting_for_late_events_until, None);
    assert_eq!(core.plan(datetime!(2025-12-02 08:00 UTC)), Plan::Done);

    // The server's clock just past the end: the scan covers it, but the stream waits for late
    // events until a scan begins `max_lateness` after the end by this machine's clock.
    let mut core = core_with(settings, start, Some(end));
    scan(&mut core, later(end, Duration::from_secs(1)));
    let done = complete(core.page_consumed(page(None, "", false, false)));
    assert_eq!(done.then, Then::Poll);
    assert_eq!(
        done.waiting_for_late_events_until,
        Some(later(end, LATENESS))
    );
    assert!(!core.finished());
    scan(&mut core, earlier(later(end, LATENESS), NS));
    let done = complete(core.page_consumed(page(None, "", false, false)));
    assert_eq!(done.then, Then::Poll);
    scan(&mut core, later(end, LATENESS));
    let done = complete(core.page_consumed(page(None, "", false, false)));
    assert_eq!(done.then, Then::Finish);
    assert_eq!(core.plan(later(end, LATENESS)), Plan::Done);
}

#[test]
fn a_page_consumed_without_a_scan_asks_to_plan_again() {
    let mut core = core_at(datetime!(2025-12-02 07:00 UTC), None);
    assert_eq!(
        core.page_consumed(page(None, "", false, false)),
        AfterPage::Replan
    );
}

#[test]
fn oversized_responses_shrink_the_page_then_raise_the_limit_then_skip() {
    let mut core = core_at(datetime!(2025-12-02 07:00 UTC), None);
    assert_eq!(core.page_limit(), 500);
    assert_eq!(
        core.too_large(500, 4 << 20, None),
        LargeResponse::Shrink { limit: 250 }
    );
    assert_eq!(core.page_limit(), 250);
    assert_eq!(
        core.too_large(3, 4 << 20, None),
        LargeResponse::Shrink { limit: 1 }
    );
    // One event per page: raise the limit to fit it (a power of two), at least double.
    assert_eq!(
        core.too_large(1, 4 << 20, Some(20 << 20)),
        LargeResponse::Raise {
            max_receive: 32 << 20
        }
    );
    assert_eq!(core.receive_limit(), 32 << 20);
    assert_eq!(
        core.too_large(1, 32 << 20, Some(100 << 20)),
        LargeResponse::Raise {
            max_receive: 64 << 20
        }
    );
    assert_eq!(core.too_large(1, 64 << 20, None), LargeResponse::Skip);
    // Answered pages grow back, doubling, to the configured size.
    let sizes: Vec<u32> = (0..6)
        .map(|_| {
            core.page_received(None);
            core.page_limit()
        })
        .collect();
    assert_eq!(sizes, [2, 4, 8, 16, 32, 64]);
    for _ in 0..10 {
        core.page_received(None);
    }
    assert_eq!(core.page_limit(), 500);
}

#[test]
fn the_newest_event_seen_in_any_page_settles_the_next_scan() {
    let start = datetime!(2025-12-02 07:00 UTC);
    let now = datetime!(2025-12-02 08:00 UTC);
    let mut core = core_at(start, None);
    scan(&mut core, now);
    // No server time known: the first scan does not move the watermark past its start (minus
    // the lateness: nothing).
    assert_eq!(core.position().scan.as_ref().unwrap().started, start);
    core.page_received(Some(datetime!(2025-12-02 07:40 UTC)));
    core.page_received(Some(datetime!(2025-12-02 07:30 UTC)));
    complete(core.page_consumed(page(
        Some(datetime!(2025-12-02 07:40 UTC)),
        "",
        false,
        false,
    )));
    assert_eq!(core.watermark(), start);
    scan(&mut core, now);
    assert_eq!(
        core.position().scan.as_ref().unwrap().started,
        datetime!(2025-12-02 07:40 UTC)
    );
}

/// A live tail at `watermark` that saw the server's newest event at `newest`, caught up at
/// `now`: its first scan is complete and it polls.
fn caught_up(newest: OffsetDateTime, now: OffsetDateTime) -> SearchCore {
    let mut core = core_at(earlier(newest, Duration::from_secs(60)), Some(newest));
    assert_eq!(scan(&mut core, now).to, later(now, HOUR * 2));
    let done = complete(core.page_consumed(page(Some(newest), "", false, false)));
    assert_eq!(done.then, Then::Poll);
    assert_eq!(done.caught_up_at, Some(now));
    assert_eq!(core.watermark(), earlier(newest, LATENESS));
    core
}

/// Scans until a scan completes (every page empty); returns the scan and its outcome.
fn empty_scan(core: &mut SearchCore, now: OffsetDateTime) -> (Fetch, ScanComplete) {
    let fetch = scan(core, now);
    let done = complete(core.page_consumed(page(None, "", false, false)));
    (fetch, done)
}

#[test]
fn a_quiet_window_then_an_event_beyond_it_is_delivered() {
    let newest = datetime!(2025-12-01 10:00:30 UTC);
    let mut core = caught_up(newest, datetime!(2025-12-01 10:01 UTC));
    // Two days later: one window from the watermark, empty; the server's time (known only from
    // the events returned) holds the watermark where it was.
    let now = datetime!(2025-12-03 12:00 UTC);
    let (fetch, done) = empty_scan(&mut core, now);
    assert_eq!(fetch.to, datetime!(2025-12-02 10:00:20 UTC));
    assert_eq!(core.watermark(), datetime!(2025-12-01 10:00:20 UTC));
    assert_eq!(done.then, Then::Poll);
    assert_eq!(done.caught_up_at, None);
    // So the server's time is asked again, from the watermark on.
    assert_eq!(
        core.plan(now),
        Plan::ServerTime {
            from: datetime!(2025-12-01 10:00:20 UTC),
            to: datetime!(2025-12-03 14:00 UTC),
        }
    );
    let event = datetime!(2025-12-03 11:59 UTC);
    assert_eq!(core.server_time_answered(Some(event)), None);
    // The watermark moves a window per scan, at once, up to the new event's.
    let (fetch, done) = empty_scan(&mut core, now);
    assert_eq!(
        (fetch.from, fetch.to),
        (
            datetime!(2025-12-01 10:00:20 UTC),
            datetime!(2025-12-02 10:00:20 UTC)
        )
    );
    assert_eq!(done.then, Then::ScanAgain);
    let (fetch, done) = empty_scan(&mut core, now);
    assert_eq!(fetch.to, datetime!(2025-12-03 10:00:20 UTC));
    assert_eq!(done.then, Then::ScanAgain);
    let fetch = scan(&mut core, now);
    assert_eq!(
        (fetch.from, fetch.to),
        (
            datetime!(2025-12-03 10:00:20 UTC),
            datetime!(2025-12-03 14:00 UTC)
        )
    );
    assert_eq!(core.admit(event, "new"), Admission::Deliver);
    let done = complete(core.page_consumed(page(Some(event), "", false, false)));
    assert_eq!(done.caught_up_at, Some(now));
    assert_eq!(core.watermark(), earlier(event, LATENESS));
    // Caught up again: the next poll scans, no more asking.
    assert!(matches!(
        core.plan(later(now, Duration::from_secs(2))),
        Plan::Scan(_)
    ));
}

#[test]
fn the_live_tail_asks_the_servers_time_once() {
    let mut now = datetime!(2025-12-01 10:01 UTC);
    let mut core = caught_up(datetime!(2025-12-01 10:00:30 UTC), now);
    // Polls with events, and a quiet spell shorter than a window: scans only.
    for step in 1..=50u64 {
        now = later(
            now,
            Duration::from_secs(if step == 25 { 20 * 3600 } else { 2 }),
        );
        let fetch = scan(&mut core, now);
        assert_eq!(fetch.to, later(now, HOUR * 2));
        let event = (step % 3 != 0).then(|| earlier(now, Duration::from_millis(500)));
        if let Some(event) = event {
            assert_eq!(core.admit(event, &step.to_string()), Admission::Deliver);
            core.page_received(Some(event));
        }
        let done = complete(core.page_consumed(page(event, "", false, false)));
        assert_eq!(done.then, Then::Poll);
        assert_eq!(done.caught_up_at, Some(now));
    }
}

#[test]
fn a_backfill_asks_the_servers_time_once() {
    let now = datetime!(2025-12-02 12:00 UTC);
    let mut core = core_at(
        datetime!(2025-11-01 00:00 UTC),
        Some(datetime!(2025-12-02 11:59 UTC)),
    );
    let mut windows = 0;
    loop {
        let (fetch, done) = empty_scan(&mut core, now);
        if done.caught_up_at.is_some() {
            assert_eq!(fetch.to, datetime!(2025-12-02 14:00 UTC));
            break;
        }
        assert_eq!(done.then, Then::ScanAgain);
        assert_eq!(core.watermark(), fetch.to);
        windows += 1;
    }
    assert_eq!(windows, 31);
    assert!(matches!(core.plan(now), Plan::Scan(_)));
}

#[test]
fn asking_again_does_not_restart_a_stream_from_now() {
    let guess = datetime!(2025-12-01 10:00 UTC);
    let newest = datetime!(2025-12-01 09:59:30 UTC);
    // The first answer sets the start; the second only tells the server's time.
    let mut answered = SearchCore::new(settings(), SearchPosition::starting_at(guess), true);
    answered.plan(guess);
    assert_eq!(
        answered.server_time_answered(Some(newest)),
        Some(later(newest, NS))
    );
    // The first request failed (never answered): the start stays this machine's guess.
    let mut unanswered = SearchCore::new(settings(), SearchPosition::starting_at(guess), true);
    unanswered.plan(guess);
    for core in [&mut answered, &mut unanswered] {
        let start = core.watermark();
        scan(core, guess);
        let event = later(start, Duration::from_secs(5));
        assert_eq!(core.admit(event, "first"), Admission::Deliver);
        core.page_received(Some(event));
        complete(core.page_consumed(page(Some(event), "", false, false)));
        let now = datetime!(2025-12-03 12:00 UTC);
        empty_scan(core, now);
        let before = core.position().clone();
        assert!(matches!(core.plan(now), Plan::ServerTime { .. }));
        assert_eq!(
            core.server_time_answered(Some(datetime!(2025-12-03 11:00 UTC))),
            None
        );
        assert_eq!(core.position(), &before);
        assert_eq!(core.admit(event, "first"), Admission::Duplicate);
    }
}

#[test]
fn asking_again_answered_with_nothing_newer_reaches_the_present_and_keeps_polling() {
    let newest = datetime!(2025-12-01 10:00:30 UTC);
    let mut core = caught_up(newest, datetime!(2025-12-01 10:01 UTC));
    let mut now = datetime!(2025-12-03 12:00 UTC);
    empty_scan(&mut core, now);
    for answer in [None, Some(newest), None] {
        assert!(matches!(core.plan(now), Plan::ServerTime { .. }));
        assert_eq!(core.server_time_answered(answer), None);
        // Nothing newer up to the skew allowance past now: the scan reaches the present (it
        // reads nothing but what appeared since), and the watermark stays.
        let (fetch, done) = empty_scan(&mut core, now);
        assert_eq!(fetch.to, later(now, HOUR * 2));
        assert_eq!(done.then, Then::Poll);
        assert_eq!(done.caught_up_at, Some(now));
        assert_eq!(core.watermark(), earlier(newest, LATENESS));
        now = later(now, Duration::from_secs(2));
    }
}

#[test]
fn an_end_time_stream_past_a_quiet_window_finishes() {
    let settings = Settings {
        window: HOUR,
        end: Some(datetime!(2025-12-02 12:00 UTC)),
        ..settings()
    };
    let newest = datetime!(2025-12-01 10:00:30 UTC);
    let now = datetime!(2025-12-03 00:00 UTC);
    // Started after the end: the first answer lets the first scan reach the end.
    let mut core = core_with(
        settings.clone(),
        datetime!(2025-12-01 10:00 UTC),
        Some(newest),
    );
    let (fetch, done) = empty_scan(&mut core, now);
    assert_eq!(fetch.to, datetime!(2025-12-02 12:00 UTC));
    assert_eq!(done.then, Then::Finish);
    // Caught up before the quiet spell: one empty window, asking again, then the end.
    let mut core = core_with(settings, earlier(newest, HOUR / 2), Some(newest));
    let (fetch, done) = empty_scan(&mut core, datetime!(2025-12-01 10:01 UTC));
    assert_eq!(fetch.to, datetime!(2025-12-01 12:01 UTC));
    assert_eq!(done.then, Then::Poll);
    let (fetch, done) = empty_scan(&mut core, now);
    assert_eq!(fetch.to, datetime!(2025-12-01 11:00:20 UTC));
    assert_eq!(done.then, Then::Poll);
    assert!(matches!(core.plan(now), Plan::ServerTime { .. }));
    core.server_time_answered(None);
    let (fetch, done) = empty_scan(&mut core, now);
    assert_eq!(fetch.to, datetime!(2025-12-02 12:00 UTC));
    assert_eq!(done.then, Then::Finish);
    assert_eq!(core.plan(now), Plan::Done);
}
