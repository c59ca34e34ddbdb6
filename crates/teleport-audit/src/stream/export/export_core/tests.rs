//! One test per rule of the export core (`docs/cursor.md`, "Export mode"), with its edges.

use super::*;
use time::macros::{date, datetime};

const POLL: Duration = Duration::from_secs(15);
const LATENESS: Duration = Duration::from_secs(120);
const SEC: Duration = Duration::from_secs(1);
/// This machine's date in most tests, and a time on it.
const TODAY: Date = date!(2025 - 12 - 02);
const NOW: OffsetDateTime = datetime!(2025-12-02 10:00 UTC);

fn settings() -> Settings {
    Settings {
        concurrency: 2,
        lookback_days: 2,
        poll_interval: POLL,
        lateness: LATENESS,
        end: None,
        clock_offset: Some(time::Duration::ZERO),
    }
}

fn day(offset: i64) -> Date {
    TODAY.checked_add(time::Duration::days(offset)).unwrap()
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn hashes(names: &[&str]) -> Vec<u64> {
    names.iter().map(|name| chunk_hash(name)).collect()
}

/// A backfill from the midnight of `start`.
fn backfill(settings: Settings, start: Date) -> ExportCore {
    let position = ExportPosition::starting_at(start.midnight().assume_utc());
    ExportCore::new(settings, &position, false)
}

/// A cursor that listed every date up to `listed_through`, still follows `followed`, and is
/// reading `reading` (date, chunk, position).
fn resumed(
    settings: Settings,
    listed_through: Date,
    followed: &[Date],
    reading: &[(Date, &str, &str)],
) -> ExportCore {
    let mut position = ExportPosition::starting_at(day(-10).midnight().assume_utc());
    for date in followed {
        position.listed(*date, &[], None);
    }
    position.listed(listed_through, &[], None);
    if !followed.contains(&listed_through) {
        position.drop_date(listed_through);
    }
    for (date, chunk, at) in reading {
        position.delivered(*date, chunk, (*at).to_owned());
    }
    position.caught_up_to(datetime!(2025-12-02 09:00 UTC));
    ExportCore::new(settings, &position, false)
}

fn read(action: Action) -> Vec<(Date, String, String)> {
    match action {
        Action::Read(jobs) => jobs
            .into_iter()
            .map(|job| (job.date, job.name.to_string(), job.position))
            .collect(),
        other => panic!("expected chunks to read, got {other:?}"),
    }
}

fn list(action: Action) -> (Kind, Vec<Date>) {
    match action {
        Action::List { kind, dates } => (kind, dates),
        other => panic!("expected a listing, got {other:?}"),
    }
}

fn wait(action: Action) -> (Duration, Option<OffsetDateTime>) {
    match action {
        Action::Wait {
            until,
            late_events_until,
        } => (until, late_events_until),
        other => panic!("expected a wait, got {other:?}"),
    }
}

/// Answers a listing at `NOW` (clock `clock`) with the same names for every date.
fn answer(core: &mut ExportCore, kind: Kind, dates: &[Date], found: &[&str], clock: Duration) {
    let found = dates.iter().map(|date| (*date, names(found))).collect();
    core.listed(kind, found, NOW, NOW, clock, TODAY);
}

/// Reads every chunk the core hands out, and returns their names.
fn read_all(core: &mut ExportCore, clock: Duration) -> Vec<String> {
    let mut done = Vec::new();
    while let Action::Read(jobs) = core.next_action(clock, TODAY) {
        for job in jobs {
            done.push(job.name.to_string());
            core.reader_done(job.date, job.round, TODAY);
        }
    }
    done
}

// --- Order of listings ---

#[test]
fn a_backfill_lists_its_start_date_first_then_each_next_date() {
    let mut core = backfill(settings(), day(-1));
    assert_eq!(
        list(core.next_action(Duration::ZERO, TODAY)),
        (Kind::First, vec![day(-1)])
    );
    answer(&mut core, Kind::First, &[day(-1)], &[], Duration::ZERO);
    assert_eq!(
        list(core.next_action(Duration::ZERO, TODAY)),
        (Kind::First, vec![TODAY])
    );
    answer(&mut core, Kind::First, &[TODAY], &[], Duration::ZERO);
    // Today is listed: nothing more until the poll.
    assert_eq!(wait(core.next_action(Duration::ZERO, TODAY)), (POLL, None));
    // At midnight, the new date is listed.
    assert_eq!(
        list(core.next_action(Duration::ZERO, day(1))),
        (Kind::First, vec![day(1)])
    );
}

#[test]
fn resume_dates_are_listed_before_anything_else() {
    let mut core = resumed(
        settings(),
        day(-1),
        &[day(-3), day(-1)],
        &[(day(-3), "a", "a1:7")],
    );
    // The chunk being read resumes at its position first (it needs no listing).
    assert_eq!(
        read(core.next_action(Duration::ZERO, TODAY)),
        vec![(day(-3), "a".to_owned(), "a1:7".to_owned())]
    );
    // Then the followed dates, though today is not listed yet (and even if the poll is due).
    let resume = (Kind::Resume, vec![day(-3), day(-1)]);
    assert_eq!(list(core.next_action(POLL, TODAY)), resume);
    assert_eq!(list(core.next_action(Duration::ZERO, TODAY)), resume);
    let found = vec![(day(-3), names(&["a", "b"])), (day(-1), names(&["b"]))];
    core.listed(Kind::Resume, found, NOW, NOW, Duration::ZERO, TODAY);
    // "a" was known; "b" is new on both dates.
    assert_eq!(
        read(core.next_action(Duration::ZERO, TODAY)),
        vec![(day(-3), "b".to_owned(), String::new())]
    );
    // At most two at once: day(-1)'s "b" waits for a reader, and the next date for it.
    assert_eq!(wait(core.next_action(Duration::ZERO, TODAY)).0, POLL);
    core.reader_done(day(-3), 0, TODAY);
    assert_eq!(
        read(core.next_action(Duration::ZERO, TODAY)),
        vec![(day(-1), "b".to_owned(), String::new())]
    );
    assert_eq!(
        list(core.next_action(Duration::ZERO, TODAY)),
        (Kind::First, vec![TODAY])
    );
}

#[test]
fn the_next_date_is_listed_only_when_every_chunk_found_so_far_was_started() {
    let mut core = backfill(
        Settings {
            concurrency: 1,
            ..settings()
        },
        day(-1),
    );
    let (kind, dates) = list(core.next_action(Duration::ZERO, TODAY));
    answer(&mut core, kind, &dates, &["a", "b"], Duration::ZERO);
    let first = read(core.next_action(Duration::ZERO, TODAY));
    assert_eq!(first.len(), 1);
    // "b" has not started: today waits, though nothing else is to do.
    assert_eq!(wait(core.next_action(Duration::ZERO, TODAY)).0, POLL);
    core.reader_done(day(-1), 1, TODAY);
    assert_eq!(read(core.next_action(Duration::ZERO, TODAY)).len(), 1);
    // "b" is being read (not read yet): today is listed now.
    assert_eq!(
        list(core.next_action(Duration::ZERO, TODAY)),
        (Kind::First, vec![TODAY])
    );
}

#[test]
fn dates_are_listed_up_to_the_end_times_date_only() {
    let mut core = backfill(
        Settings {
            end: Some(datetime!(2025-12-01 12:00 UTC)),
            ..settings()
        },
        day(-2),
    );
    for date in [day(-2), day(-1)] {
        assert_eq!(
            list(core.next_action(Duration::ZERO, TODAY)),
            (Kind::First, vec![date])
        );
        answer(&mut core, Kind::First, &[date], &[], Duration::ZERO);
    }
    assert!(matches!(
        core.next_action(Duration::ZERO, TODAY),
        Action::Wait { .. } | Action::Finished { .. }
    ));
}

#[test]
fn a_relist_covers_only_followed_dates_inside_the_lookback_window_and_not_past_the_end_date() {
    let followed = [day(-4), day(-2), day(-1), TODAY];
    for (end, expected) in [
        (None, vec![day(-2), day(-1), TODAY]),
        (
            Some(datetime!(2025-12-01 12:00 UTC)),
            vec![day(-2), day(-1)],
        ),
    ] {
        // day(-4) is still being read, so it is still followed.
        let mut core = resumed(
            Settings { end, ..settings() },
            TODAY,
            &followed,
            &[(day(-4), "a", "a1:1")],
        );
        read(core.next_action(Duration::ZERO, TODAY));
        let (kind, dates) = list(core.next_action(Duration::ZERO, TODAY));
        assert_eq!(kind, Kind::Resume);
        answer(&mut core, kind, &dates, &[], Duration::ZERO);
        // Not before the poll interval.
        assert_eq!(wait(core.next_action(POLL - SEC, TODAY)).0, POLL);
        assert_eq!(
            list(core.next_action(POLL, TODAY)),
            (Kind::Relist, expected.clone())
        );
        answer(&mut core, Kind::Relist, &expected, &[], POLL + SEC);
        // The next poll is one interval after the relist ended.
        assert_eq!(wait(core.next_action(POLL + SEC, TODAY)).0, POLL * 2 + SEC);
    }
}

#[test]
fn after_a_failed_listing_nothing_is_listed_before_the_retry_time() {
    let mut core = backfill(settings(), TODAY);
    let clock = Duration::from_secs(3);
    assert_eq!(list(core.next_action(clock, TODAY)).0, Kind::First);
    core.listing_failed(clock, Duration::from_secs(20));
    // The retry is after the poll, and the poll waits for it too.
    let retry = clock + Duration::from_secs(20);
    assert_eq!(wait(core.next_action(clock, TODAY)).0, retry);
    assert_eq!(wait(core.next_action(retry - SEC, TODAY)).0, retry);
    assert_eq!(
        list(core.next_action(retry, TODAY)),
        (Kind::First, vec![TODAY])
    );
    answer(&mut core, Kind::First, &[TODAY], &[], retry);
    // The poll missed while waiting comes at once; the next one an interval after it.
    assert_eq!(
        list(core.next_action(retry, TODAY)),
        (Kind::Relist, vec![TODAY])
    );
    answer(&mut core, Kind::Relist, &[TODAY], &[], retry);
    assert_eq!(wait(core.next_action(retry, TODAY)).0, retry + POLL);
    // A retry time passed leaves the poll as the next wake.
    core.listing_failed(retry, SEC);
    assert_eq!(wait(core.next_action(retry, TODAY)).0, retry + SEC);
    assert_eq!(
        wait(core.next_action(retry + SEC * 2, TODAY)).0,
        retry + POLL
    );
}

// --- New chunks ---

#[test]
fn a_chunk_name_seen_twice_is_read_once() {
    let mut core = backfill(settings(), TODAY);
    let (kind, dates) = list(core.next_action(Duration::ZERO, TODAY));
    answer(&mut core, kind, &dates, &["a", "b", "a"], Duration::ZERO);
    assert_eq!(read_all(&mut core, Duration::ZERO), names(&["a", "b"]));
    let (kind, dates) = list(core.next_action(POLL, TODAY));
    assert_eq!(kind, Kind::Relist);
    answer(&mut core, kind, &dates, &["b", "c", "a"], POLL);
    assert_eq!(read_all(&mut core, POLL), names(&["c"]));
}

#[test]
fn at_most_concurrency_chunks_are_read_at_once_in_the_order_found() {
    let mut core = backfill(settings(), TODAY);
    let (kind, dates) = list(core.next_action(Duration::ZERO, TODAY));
    answer(&mut core, kind, &dates, &["c", "a", "b"], Duration::ZERO);
    let first = read(core.next_action(Duration::ZERO, TODAY));
    assert_eq!(
        first
            .iter()
            .map(|(_, name, _)| name.as_str())
            .collect::<Vec<_>>(),
        ["c", "a"]
    );
    assert!(matches!(
        core.next_action(Duration::ZERO, TODAY),
        Action::Wait { .. }
    ));
    core.reader_done(TODAY, 1, TODAY);
    assert_eq!(
        read(core.next_action(Duration::ZERO, TODAY)),
        vec![(TODAY, "b".to_owned(), String::new())]
    );
}

// --- Start from now ---

#[test]
fn start_from_now_takes_every_chunk_of_the_first_listing_as_read_and_starts_at_its_server_time() {
    // 01:00: this machine's date may be a day ahead of the server's, so the day before is
    // listed too.
    let now = datetime!(2025-12-02 01:00 UTC);
    let offset = time::Duration::minutes(-3);
    let mut core = ExportCore::new(
        Settings {
            clock_offset: Some(offset),
            ..settings()
        },
        &ExportPosition::starting_at(now),
        true,
    );
    let listed_at = now + time::Duration::seconds(1);
    for date in [day(-1), TODAY] {
        assert_eq!(
            list(core.next_action(Duration::ZERO, TODAY)),
            (Kind::First, vec![date])
        );
        let taken = core.listed(
            Kind::First,
            vec![(date, names(&["a", "b"]))],
            now,
            listed_at,
            Duration::ZERO,
            TODAY,
        );
        assert_eq!(taken.new_chunks, vec![]);
        assert_eq!(
            taken.progress[0],
            Progress::Listed {
                date,
                taken_as_done: hashes(&["a", "b"]),
                from: Some(listed_at + offset),
            }
        );
    }
    assert!(matches!(
        core.next_action(Duration::ZERO, TODAY),
        Action::Wait { .. }
    ));
    // Chunks written after the first listing are read.
    let (kind, dates) = list(core.next_action(POLL, TODAY));
    assert_eq!((kind, dates.clone()), (Kind::Relist, vec![day(-1), TODAY]));
    let taken = core.listed(
        kind,
        dates
            .iter()
            .map(|date| (*date, names(&["a", "b", "c"])))
            .collect(),
        now,
        listed_at,
        POLL,
        TODAY,
    );
    assert_eq!(taken.new_chunks, vec![(day(-1), 1), (TODAY, 1)]);
    assert_eq!(read_all(&mut core, POLL), names(&["c", "c"]));
}

#[test]
fn start_from_now_without_the_servers_clock_allows_for_the_largest_skew() {
    let mut core = ExportCore::new(
        Settings {
            clock_offset: None,
            ..settings()
        },
        &ExportPosition::starting_at(NOW),
        true,
    );
    assert_eq!(
        list(core.next_action(Duration::ZERO, TODAY)),
        (Kind::First, vec![TODAY])
    );
    let taken = core.listed(
        Kind::First,
        vec![(TODAY, names(&["a"]))],
        NOW,
        NOW,
        Duration::ZERO,
        TODAY,
    );
    assert_eq!(
        taken.progress[0],
        Progress::Listed {
            date: TODAY,
            taken_as_done: hashes(&["a"]),
            from: Some(NOW - MAX_CLOCK_SKEW),
        }
    );
}

#[test]
fn a_cursor_that_listed_a_date_does_not_start_from_now_again() {
    let mut position = ExportPosition::starting_at(NOW);
    position.listed(day(-1), &[], None);
    let mut core = ExportCore::new(settings(), &position, true);
    let (kind, dates) = list(core.next_action(Duration::ZERO, TODAY));
    assert_eq!((kind, dates.clone()), (Kind::Resume, vec![day(-1)]));
    answer(&mut core, kind, &dates, &["a"], Duration::ZERO);
    assert_eq!(read_all(&mut core, Duration::ZERO), names(&["a"]));
    assert_eq!(
        list(core.next_action(Duration::ZERO, TODAY)),
        (Kind::First, vec![TODAY])
    );
    let taken = core.listed(
        Kind::First,
        vec![(TODAY, names(&["b"]))],
        NOW,
        NOW,
        Duration::ZERO,
        TODAY,
    );
    assert_eq!(
        taken.progress[0],
        Progress::Listed {
            date: TODAY,
            taken_as_done: vec![],
            from: None,
        }
    );
    assert_eq!(read_all(&mut core, Duration::ZERO), names(&["b"]));
}

// --- Caught up ---

#[test]
fn a_listing_covers_its_start_or_the_next_dates_midnight_once_read() {
    let mut core = backfill(settings(), day(-1));
    let (kind, dates) = list(core.next_action(Duration::ZERO, TODAY));
    let taken = core.listed(
        kind,
        vec![(dates[0], names(&["a"]))],
        NOW,
        NOW,
        Duration::ZERO,
        TODAY,
    );
    // Round 0 (nothing resumed) closes at the start; the round with "a" waits for it.
    assert_eq!(
        taken.progress,
        vec![
            Progress::Listed {
                date: day(-1),
                taken_as_done: vec![],
                from: None,
            },
            Progress::CaughtUp(day(-1).midnight().assume_utc()),
        ]
    );
    let (_, round) = match core.next_action(Duration::ZERO, TODAY) {
        Action::Read(jobs) => (jobs[0].date, jobs[0].round),
        other => panic!("{other:?}"),
    };
    // Only yesterday was listed: everything before today's midnight is covered.
    assert_eq!(
        core.reader_done(day(-1), round, TODAY),
        vec![Progress::CaughtUp(TODAY.midnight().assume_utc())]
    );
    let (kind, dates) = list(core.next_action(Duration::ZERO, TODAY));
    let taken = core.listed(
        kind,
        vec![(dates[0], vec![])],
        NOW,
        NOW,
        Duration::ZERO,
        TODAY,
    );
    assert_eq!(taken.progress[1], Progress::CaughtUp(NOW));
}

// --- Dropping ---

#[test]
fn a_date_is_dropped_only_when_older_than_the_window_listed_and_read() {
    let mut core = resumed(
        settings(),
        TODAY,
        &[day(-3), day(-2), TODAY],
        &[(day(-3), "a", "a1:1"), (day(-2), "b", "b1:1")],
    );
    let jobs = read(core.next_action(Duration::ZERO, TODAY));
    assert_eq!(jobs.len(), 2);
    // Read, but not listed since the resume: still followed.
    assert_eq!(core.reader_done(day(-3), 0, TODAY), vec![]);
    let (kind, dates) = list(core.next_action(Duration::ZERO, TODAY));
    assert_eq!(kind, Kind::Resume);
    let taken = core.listed(
        kind,
        dates.iter().map(|date| (*date, vec![])).collect(),
        NOW,
        NOW,
        Duration::ZERO,
        TODAY,
    );
    // day(-3) is out of the window, listed and read; day(-2) is inside the window.
    assert_eq!(taken.progress, vec![Progress::Dropped { date: day(-3) }]);
    // The next day, day(-2) leaves the window once its chunk is read.
    assert_eq!(
        core.reader_done(day(-2), 0, day(1)),
        vec![
            // Round 0 (the resumed chunks) and the resume listing's round close.
            Progress::CaughtUp(NOW),
            Progress::Dropped { date: day(-2) },
        ]
    );
    // A dropped date is not listed again.
    let (kind, dates) = list(core.next_action(POLL, TODAY));
    assert_eq!((kind, dates), (Kind::Relist, vec![TODAY]));
}

// --- End ---

#[test]
fn the_end_waits_for_every_date_up_to_it_listed_and_read_then_for_late_chunks() {
    let end = datetime!(2025-12-02 09:59 UTC);
    let settled = end + LATENESS;
    let mut core = backfill(
        Settings {
            end: Some(end),
            ..settings()
        },
        TODAY,
    );
    let (kind, dates) = list(core.next_action(Duration::ZERO, TODAY));
    // Listed at 10:00, before the end plus the lateness bound.
    answer(&mut core, kind, &dates, &["a"], Duration::ZERO);
    let jobs = match core.next_action(Duration::ZERO, TODAY) {
        Action::Read(jobs) => jobs,
        other => panic!("{other:?}"),
    };
    // A chunk being read: not waiting for late chunks yet.
    assert_eq!(wait(core.next_action(Duration::ZERO, TODAY)), (POLL, None));
    core.reader_done(TODAY, jobs[0].round, TODAY);
    assert_eq!(
        wait(core.next_action(Duration::ZERO, TODAY)),
        (POLL, Some(settled))
    );
    // The relist at the poll began before the end plus the lateness bound: not finished.
    let (kind, dates) = list(core.next_action(POLL, TODAY));
    core.listed(
        kind,
        vec![(dates[0], vec![])],
        settled - SEC,
        settled,
        POLL,
        TODAY,
    );
    assert!(matches!(core.next_action(POLL, TODAY), Action::Wait { .. }));
    // One that began at it finishes the stream.
    let (kind, dates) = list(core.next_action(POLL * 2, TODAY));
    core.listed(
        kind,
        vec![(dates[0], vec![])],
        settled,
        settled,
        POLL * 2,
        TODAY,
    );
    assert_eq!(
        core.next_action(POLL * 2, TODAY),
        Action::Finished {
            late_events_until: settled
        }
    );
}

#[test]
fn the_end_is_not_reached_before_its_date_was_listed() {
    let end = datetime!(2025-12-01 23:00 UTC);
    let mut core = backfill(
        Settings {
            end: Some(end),
            lookback_days: 0,
            ..settings()
        },
        day(-1),
    );
    // Nothing is followed inside the window yet, but the end's date is not listed; a failed
    // listing of it does not change that.
    core.listing_failed(Duration::ZERO, SEC);
    assert_eq!(wait(core.next_action(Duration::ZERO, TODAY)), (SEC, None));
    assert_eq!(
        list(core.next_action(SEC, TODAY)),
        (Kind::First, vec![day(-1)])
    );
    answer(&mut core, Kind::First, &[day(-1)], &[], SEC);
    // The end's date is listed and out of the window: nothing is left to wait for.
    assert_eq!(
        core.next_action(SEC, TODAY),
        Action::Finished {
            late_events_until: end + LATENESS
        }
    );
}

#[test]
fn the_dates_follow_the_server_s_calendar() {
    let late = datetime!(2025-12-02 23:30 UTC);
    let hour = time::Duration::hours(1);
    // A client an hour behind: the server is already on the next day.
    assert_eq!(server_date(late, Some(hour)), day(1));
    // A client an hour ahead, just after its midnight: the server is still on the day before.
    assert_eq!(
        server_date(datetime!(2025-12-03 00:30 UTC), Some(-hour)),
        TODAY
    );
    assert_eq!(server_date(late, Some(time::Duration::ZERO)), TODAY);
    // Without the server's clock, this machine's date.
    assert_eq!(server_date(late, None), TODAY);
    // An offset that overflows the calendar falls back to this machine's date.
    assert_eq!(server_date(late, Some(time::Duration::MAX)), TODAY);
}
