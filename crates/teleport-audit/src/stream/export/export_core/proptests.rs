//! The rules against a model server, for random chunk sets, reader completions, failed
//! listings and clocks (crossing midnight): every chunk found is read exactly once, at most
//! `concurrency` at a time; the next date is listed only once every chunk found was started; a
//! relist lists only followed dates inside the window; nothing is listed before a retry time; the
//! caught-up time never moves back; a date is dropped only when older than the window, listed and
//! read completely; and once the writing stops, every chunk of a date inside the window is read.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use proptest::prelude::*;
use time::macros::datetime;

use super::*;

/// This machine's time when the stream starts (four hours before midnight).
const T0: OffsetDateTime = datetime!(2025-12-02 20:00 UTC);
const POLL: Duration = Duration::from_secs(15);
const RETRY: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
enum Op {
    /// The reader at this index (modulo the number running) reads its chunk to the end.
    Finish(usize),
    /// Time passes (seconds).
    Tick(u64),
    /// The server writes chunk `name` for the date this many days before today.
    Write(i64, u8),
    /// The next listing fails.
    Fail,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<usize>().prop_map(Op::Finish),
        2 => prop_oneof![0u64..30, 0u64..20_000].prop_map(Op::Tick),
        3 => (0i64..4, 0u8..8).prop_map(|(back, name)| Op::Write(back, name)),
        1 => Just(Op::Fail),
    ]
}

struct Model {
    core: ExportCore,
    concurrency: usize,
    lookback: i64,
    clock: Duration,
    /// The chunks that exist, per date.
    server: BTreeMap<Date, BTreeSet<String>>,
    /// The chunks listings returned, per date.
    found: BTreeMap<Date, BTreeSet<String>>,
    running: Vec<ChunkJob>,
    handed: HashSet<(Date, String)>,
    completed: HashSet<(Date, String)>,
    listed_first: BTreeSet<Date>,
    dropped: BTreeSet<Date>,
    caught_up: Option<OffsetDateTime>,
    fail_next: bool,
    retry_until: Option<Duration>,
}

impl Model {
    fn wall(&self) -> OffsetDateTime {
        later(T0, self.clock)
    }

    fn today(&self) -> Date {
        self.wall().date()
    }

    fn oldest(&self) -> Date {
        self.today()
            .checked_sub(time::Duration::days(self.lookback))
            .unwrap()
    }

    fn check(&mut self, progress: Vec<Progress>) -> Result<(), TestCaseError> {
        for progress in progress {
            match progress {
                Progress::Listed { date, from, .. } => {
                    prop_assert!(from.is_none());
                    prop_assert!(self.listed_first.insert(date), "{date} listed first twice");
                }
                Progress::CaughtUp(time) => {
                    prop_assert!(
                        self.caught_up.is_none_or(|before| time >= before),
                        "caught up moved back to {time} from {:?}",
                        self.caught_up
                    );
                    self.caught_up = Some(time);
                }
                Progress::Dropped { date } => {
                    prop_assert!(date < self.oldest(), "{date} dropped inside the window");
                    prop_assert!(self.found.contains_key(&date), "{date} dropped unlisted");
                    for name in &self.found[&date] {
                        prop_assert!(
                            self.completed.contains(&(date, name.clone())),
                            "{date} dropped before {name} was read"
                        );
                    }
                    prop_assert!(self.dropped.insert(date), "{date} dropped twice");
                }
            }
        }
        Ok(())
    }

    /// Does what the core asks until it waits.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..1000 {
            let today = self.today();
            match self.core.next_action(self.clock, today) {
                Action::Read(jobs) => {
                    for job in jobs {
                        let key = (job.date, job.name.to_string());
                        prop_assert!(
                            self.found
                                .get(&job.date)
                                .is_some_and(|f| f.contains(&key.1)),
                            "{key:?} read but never listed"
                        );
                        prop_assert!(self.handed.insert(key.clone()), "{key:?} read twice");
                        self.running.push(job);
                    }
                    prop_assert!(self.running.len() <= self.concurrency);
                }
                Action::List { kind, dates } => {
                    prop_assert!(
                        self.retry_until.is_none_or(|at| self.clock >= at),
                        "listed before the retry time"
                    );
                    prop_assert!(kind != Kind::Resume);
                    for date in &dates {
                        prop_assert!(!self.dropped.contains(date), "dropped {date} listed");
                        prop_assert!(*date <= today);
                    }
                    if kind == Kind::First {
                        prop_assert_eq!(dates.len(), 1);
                        prop_assert!(!self.listed_first.contains(&dates[0]));
                        for (date, names) in &self.found {
                            for name in names {
                                prop_assert!(
                                    self.handed.contains(&(*date, name.clone())),
                                    "{} listed before {date}'s {name} started",
                                    dates[0]
                                );
                            }
                        }
                    } else {
                        for date in &dates {
                            prop_assert!(
                                *date >= self.oldest(),
                                "{date} relisted out of the window"
                            );
                            prop_assert!(
                                self.found.contains_key(date),
                                "{date} relisted, not followed"
                            );
                        }
                    }
                    if std::mem::take(&mut self.fail_next) {
                        self.core.listing_failed(self.clock, RETRY);
                        self.retry_until = Some(self.clock + RETRY);
                        continue;
                    }
                    self.retry_until = None;
                    let answer: Vec<(Date, Vec<String>)> = dates
                        .iter()
                        .map(|date| {
                            let names = self.server.get(date).cloned().unwrap_or_default();
                            (*date, names.into_iter().collect())
                        })
                        .collect();
                    for (date, names) in &answer {
                        self.found
                            .entry(*date)
                            .or_default()
                            .extend(names.iter().cloned());
                    }
                    let wall = self.wall();
                    let taken = self
                        .core
                        .listed(kind, answer, wall, wall, self.clock, today);
                    self.check(taken.progress)?;
                }
                Action::Wait { until, .. } => {
                    prop_assert!(until > self.clock);
                    return Ok(());
                }
                Action::Finished { .. } => prop_assert!(false, "finished without an end time"),
            }
        }
        prop_assert!(false, "the core never waited");
        Ok(())
    }

    fn finish(&mut self, index: usize) -> Result<(), TestCaseError> {
        if self.running.is_empty() {
            return Ok(());
        }
        let job = self.running.remove(index % self.running.len());
        self.completed.insert((job.date, job.name.to_string()));
        let progress = self.core.reader_done(job.date, job.round, self.today());
        self.check(progress)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_chunk_found_is_read_once_and_the_position_moves_by_the_rules(
        concurrency in 1usize..4,
        lookback in 0i64..3,
        start_back in 0i64..4,
        initial in proptest::collection::vec((0i64..5, 0u8..8), 0..12),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let start = T0.date().checked_sub(time::Duration::days(start_back)).unwrap();
        let settings = Settings {
            concurrency,
            lookback_days: lookback,
            poll_interval: POLL,
            lateness: Duration::from_secs(120),
            end: None,
            clock_offset: None,
        };
        let position = ExportPosition::starting_at(start.midnight().assume_utc());
        let mut model = Model {
            core: ExportCore::new(settings, &position, false),
            concurrency,
            lookback,
            clock: Duration::ZERO,
            server: BTreeMap::new(),
            found: BTreeMap::new(),
            running: Vec::new(),
            handed: HashSet::new(),
            completed: HashSet::new(),
            listed_first: BTreeSet::new(),
            dropped: BTreeSet::new(),
            caught_up: None,
            fail_next: false,
            retry_until: None,
        };
        for (back, name) in initial {
            let date = T0.date().checked_sub(time::Duration::days(back)).unwrap();
            model.server.entry(date).or_default().insert(format!("c{name}"));
        }
        model.settle()?;
        for op in ops {
            match op {
                Op::Finish(index) => model.finish(index)?,
                Op::Tick(secs) => model.clock += Duration::from_secs(secs),
                Op::Write(back, name) => {
                    let date = model.today().checked_sub(time::Duration::days(back)).unwrap();
                    model.server.entry(date).or_default().insert(format!("c{name}"));
                }
                Op::Fail => model.fail_next = true,
            }
            model.settle()?;
        }
        // The writing stops: read everything, and poll until nothing is left.
        for _ in 0..4 {
            while !model.running.is_empty() {
                model.finish(0)?;
                model.settle()?;
            }
            model.clock += POLL + RETRY;
            model.settle()?;
        }
        prop_assert!(model.running.is_empty());
        let (oldest, today) = (model.oldest(), model.today());
        for (date, names) in &model.found {
            for name in names {
                prop_assert!(model.completed.contains(&(*date, name.clone())), "{date} {name} never read");
            }
            prop_assert!(*date >= oldest || model.dropped.contains(date), "{date} read, old, still followed");
        }
        for (date, names) in model.server.range(start.max(oldest)..=today) {
            for name in names {
                prop_assert!(model.completed.contains(&(*date, name.clone())), "{date} {name} never found");
            }
        }
    }
}
