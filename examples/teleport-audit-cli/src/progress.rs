//! What `tail` shows while it runs, on stderr.
//!
//! - **On a terminal** (and with the events going elsewhere: `--output`, a pipe, a file), one
//!   line redrawn in place by [`indicatif`]: `12,345 events · 850/s · newest
//!   2025-12-01 10:02:03Z · 4s behind`. Log lines are printed above it: every write to stderr
//!   goes through [`write_stderr`], which hides the line, writes, and draws it again.
//! - **Otherwise** (a service, a pipe to a log collector), one summary log line a minute, at
//!   info level: events, rate over the minute, newest event time, lag and retries.
//! - **With `-q`**, neither.
//!
//! Either way, with an end time (`--until-now`, `--until`), an info line says when the stream
//! has read everything up to the end and waits for late events, and until when.
//!
//! The summary's interval can be shortened for tests with the environment variable
//! `__TELEPORT_AUDIT_SUMMARY_INTERVAL_MS` (milliseconds; not a user setting, so it is not a
//! flag).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use teleport_audit::{Mode, StatsHandle, StreamStats};
use time::OffsetDateTime;
use tokio::sync::watch;

use teleport_audit_cli::secret_guard::RedactedStderr;

/// Time between two summary lines without a terminal.
pub(crate) const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);
/// The test hook for [`SUMMARY_INTERVAL`] (see the [module](self) docs).
const SUMMARY_INTERVAL_ENV: &str = "__TELEPORT_AUDIT_SUMMARY_INTERVAL_MS";
/// Time between two looks at the stream's stats (and updates of the progress line).
const TICK: Duration = Duration::from_millis(250);
/// The span the progress line's rate is measured over.
const RATE_SPAN: Duration = Duration::from_secs(10);

/// The progress line on the terminal, while one is shown: [`write_stderr`] prints above it.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Writes `bytes` to stderr in one write, with secrets [redacted](RedactedStderr), above the
/// progress line if one is shown (so the line is never torn by a log line).
pub(crate) fn write_stderr(bytes: &[u8]) {
    let bar = ACTIVE_BAR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let write = || {
        let _ = RedactedStderr.write_all(bytes);
    };
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    /// The redrawn line on the terminal.
    Bar,
    /// A summary log line every interval.
    Summary,
    /// Nothing (`-q`).
    Off,
}

impl View {
    /// The rule: nothing when quiet; the redrawn line when stderr is a terminal that can redraw
    /// a line ([`stderr_can_redraw`]), logs are text and the events do not go to that terminal
    /// too (they would tear the line); else summary lines.
    pub(crate) fn choose(
        quiet: bool,
        json_logs: bool,
        stderr_can_redraw: bool,
        events_on_terminal: bool,
    ) -> Self {
        if quiet {
            View::Off
        } else if stderr_can_redraw && !json_logs && !events_on_terminal {
            View::Bar
        } else {
            View::Summary
        }
    }
}

/// Whether stderr is a terminal the progress line can be drawn on: indicatif's own rule (a
/// terminal whose `TERM` is set and not `dumb`; it draws nothing on others). A dumb terminal gets
/// the summary lines instead of nothing at all.
pub(crate) fn stderr_can_redraw() -> bool {
    !ProgressDrawTarget::stderr().is_hidden()
}

/// One look at the stream, in the form shown.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Sample {
    pub(crate) events: u64,
    /// Events per second over the last span; `None` until there is a span.
    pub(crate) rate: Option<f64>,
    pub(crate) newest: Option<OffsetDateTime>,
    /// How far behind now every event has been delivered (the watermark's age).
    pub(crate) lag: Option<Duration>,
    pub(crate) retries: u64,
    /// Waiting for late events until this time (with an end time).
    pub(crate) waiting_until: Option<OffsetDateTime>,
}

impl Sample {
    pub(crate) fn of(stats: &StreamStats, rate: Option<f64>, now: OffsetDateTime) -> Self {
        Self {
            events: stats.events_delivered,
            rate,
            newest: stats.newest_event_time,
            lag: stats.lag(now),
            retries: stats.retries,
            waiting_until: stats.waiting_for_late_events_until,
        }
    }

    /// The progress line: `12,345 events · 850/s · newest 2025-12-01 10:02:03Z · 4s behind`,
    /// then retries and the wait for late events when there are any.
    pub(crate) fn line(&self) -> String {
        let mut parts = vec![format!("{} events", thousands(self.events))];
        if let Some(rate) = self.rate {
            parts.push(format!("{}/s", per_second(rate)));
        }
        parts.push(match self.newest {
            Some(newest) => format!("newest {}", clock_time(newest)),
            None => "no events yet".to_owned(),
        });
        parts.push(match self.lag {
            Some(lag) => format!("{} behind", human_duration(lag)),
            None => "starting".to_owned(),
        });
        if self.retries > 0 {
            parts.push(format!(
                "{} {}",
                thousands(self.retries),
                if self.retries == 1 {
                    "retry"
                } else {
                    "retries"
                }
            ));
        }
        if let Some(until) = self.waiting_until {
            parts.push(format!(
                "waiting for late events until {}",
                time_of_day(until)
            ));
        }
        parts.join(" · ")
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A rate: whole numbers from 10 up (`850`, `12,000`), one decimal below (`2.5`, `0`).
pub(crate) fn per_second(rate: f64) -> String {
    if !rate.is_finite() || rate <= 0.0 {
        "0".to_owned()
    } else if rate < 9.95 {
        format!("{rate:.1}")
    } else {
        // Rounded, and far below u64::MAX for any real stream.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        thousands(rate.round() as u64)
    }
}

/// A duration in at most two units: `4s`, `2m05s`, `3h12m`, `2d04h`.
pub(crate) fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (days, hours, minutes, seconds) =
        (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if days > 0 {
        format!("{days}d{hours:02}h")
    } else if hours > 0 {
        format!("{hours}h{minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m{seconds:02}s")
    } else if seconds == 0 && !duration.is_zero() {
        format!("{}ms", duration.subsec_millis())
    } else {
        format!("{seconds}s")
    }
}

/// A time in UTC to the second: `2025-12-01 10:02:03Z`.
pub(crate) fn clock_time(time: OffsetDateTime) -> String {
    let time = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// The time of day in UTC to the second: `10:02:03Z`.
pub(crate) fn time_of_day(time: OffsetDateTime) -> String {
    let time = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:02}:{:02}:{:02}Z",
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// Events per second over the recent past, from counts taken at known instants.
#[derive(Debug)]
pub(crate) struct RateMeter {
    span: Duration,
    samples: VecDeque<(Instant, u64)>,
}

impl RateMeter {
    pub(crate) fn new(span: Duration) -> Self {
        Self {
            span,
            samples: VecDeque::new(),
        }
    }

    /// Records `count` at `at` and returns the rate since the oldest count kept (the newest one
    /// at least `span` old, or the first); `None` for the first count.
    pub(crate) fn record(&mut self, at: Instant, count: u64) -> Option<f64> {
        while self.samples.len() > 1
            && self
                .samples
                .get(1)
                .is_some_and(|&(t, _)| at.saturating_duration_since(t) >= self.span)
        {
            self.samples.pop_front();
        }
        let rate = self.samples.front().and_then(|&(t, n)| {
            let secs = at.saturating_duration_since(t).as_secs_f64();
            // Counts are far below 2^52: exact as f64.
            #[allow(clippy::cast_precision_loss)]
            let delta = count.saturating_sub(n) as f64;
            (secs > 0.0).then(|| delta / secs)
        });
        self.samples.push_back((at, count));
        rate
    }
}

/// The running display; [`Reporter::finish`] ends it.
#[derive(Debug)]
pub(crate) struct Reporter {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Reporter {
    /// Starts showing the progress of the stream whose stats are `stats`, as `view` says.
    /// `json_logs`: summary lines carry their figures as fields rather than in the message.
    /// `end` and `export_poll`: the stream's end time and export poll interval, to tell the wait
    /// for late events.
    pub(crate) fn start(
        stats: StatsHandle,
        view: View,
        json_logs: bool,
        end: Option<OffsetDateTime>,
        export_poll: Duration,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = (view != View::Off || end.is_some()).then(|| {
            tokio::spawn(run(
                stats,
                view,
                json_logs,
                summary_interval(),
                end,
                export_poll,
                stopped,
            ))
        });
        Self { stop, task }
    }

    /// Removes the progress line (the last figures are in the final log line).
    pub(crate) async fn finish(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if self.task.is_some() {
            clear_bar();
        }
    }
}

fn summary_interval() -> Duration {
    std::env::var(SUMMARY_INTERVAL_ENV)
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map_or(SUMMARY_INTERVAL, Duration::from_millis)
}

fn clear_bar() {
    let bar = ACTIVE_BAR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

async fn run(
    stats: StatsHandle,
    view: View,
    json_logs: bool,
    every: Duration,
    end: Option<OffsetDateTime>,
    export_poll: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    if view == View::Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar);
    }
    let mut bar_rate = RateMeter::new(RATE_SPAN);
    let mut summary_rate = RateMeter::new(every);
    let started = Instant::now();
    summary_rate.record(started, 0);
    let mut next_summary = started + every;
    let mut told_waiting = false;
    loop {
        let now = Instant::now();
        let current = stats.get();
        let wall = OffsetDateTime::now_utc();
        if let (Some(end), Some(until), false) =
            (end, current.waiting_for_late_events_until, told_waiting)
        {
            told_waiting = true;
            tracing::info!(
                "{}",
                waiting_message(end, until, wall, current.mode, export_poll)
            );
        }
        match view {
            View::Bar => {
                let rate = bar_rate.record(now, current.events_delivered);
                let line = Sample::of(&current, rate, wall).line();
                if let Some(bar) = ACTIVE_BAR
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                {
                    bar.set_message(Cow::Owned(line));
                }
            }
            View::Summary if now >= next_summary => {
                next_summary = now + every;
                let rate = summary_rate.record(now, current.events_delivered);
                log_summary(&Sample::of(&current, rate, wall), json_logs);
            }
            View::Summary | View::Off => {}
        }
        let wake = match view {
            View::Summary => next_summary.min(now + TICK),
            View::Bar | View::Off => now + TICK,
        };
        tokio::select! {
            _ = stopped.changed() => break,
            () = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    clear_bar();
}

/// What the stream does once it has read everything up to its `end` and waits `until` for late
/// events (`now`: this machine's clock; `mode`: the stream's). Export mode stops at the first
/// chunk listing after `until` (listings run every `export_poll`).
pub(crate) fn waiting_message(
    end: OffsetDateTime,
    until: OffsetDateTime,
    now: OffsetDateTime,
    mode: Option<Mode>,
    export_poll: Duration,
) -> String {
    let left: Duration = (until - now).try_into().unwrap_or(Duration::ZERO);
    // Whole seconds, rounded up: "up to".
    let left = Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0));
    let then = match mode {
        Some(Mode::Export) => format!(
            "then stopping at the next chunk listing (one every {})",
            human_duration(export_poll)
        ),
        _ => "then stopping".to_owned(),
    };
    format!(
        "caught up to the end time, {}; waiting up to {} (until {}) for events that become \
         visible late, {then}",
        clock_time(end),
        human_duration(left),
        time_of_day(until)
    )
}

/// One summary line: in text, the progress line as the message; in JSON, its figures as fields.
fn log_summary(sample: &Sample, json_logs: bool) {
    if json_logs {
        tracing::info!(
            events = sample.events,
            events_per_second = sample.rate.unwrap_or(0.0),
            newest_event_time = sample.newest.map(clock_time),
            lag_seconds = sample.lag.map(|lag| lag.as_secs()),
            retries = sample.retries,
            "progress"
        );
    } else {
        tracing::info!("progress: {}", sample.line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teleport_audit::DEFAULT_EXPORT_POLL_INTERVAL;
    use time::macros::datetime;

    #[test]
    fn the_view_follows_the_terminal() {
        assert_eq!(View::choose(false, false, true, false), View::Bar);
        // Events printed on the same terminal would tear the line.
        assert_eq!(View::choose(false, false, true, true), View::Summary);
        assert_eq!(View::choose(false, false, false, false), View::Summary);
        // JSON logs are for machines: lines only.
        assert_eq!(View::choose(false, true, true, false), View::Summary);
        for terminal in [false, true] {
            assert_eq!(View::choose(true, false, terminal, false), View::Off);
        }
    }

    #[test]
    fn numbers_in_human_form() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_345), "12,345");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(per_second(0.0), "0");
        assert_eq!(per_second(f64::NAN), "0");
        assert_eq!(per_second(2.46), "2.5");
        assert_eq!(per_second(9.96), "10");
        assert_eq!(per_second(849.6), "850");
        assert_eq!(per_second(12_000.0), "12,000");
        assert_eq!(human_duration(Duration::ZERO), "0s");
        assert_eq!(human_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(human_duration(Duration::from_millis(4900)), "4s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(
            human_duration(Duration::from_secs(3 * 3600 + 12 * 60)),
            "3h12m"
        );
        assert_eq!(
            human_duration(Duration::from_secs(2 * 86_400 + 4 * 3600)),
            "2d04h"
        );
        assert_eq!(
            clock_time(datetime!(2025-12-01 11:02:03.9 +01:00)),
            "2025-12-01 10:02:03Z"
        );
    }

    #[test]
    fn the_progress_line() {
        let sample = Sample {
            events: 12_345,
            rate: Some(850.0),
            newest: Some(datetime!(2025-12-01 10:02:03 UTC)),
            lag: Some(Duration::from_secs(4)),
            retries: 0,
            waiting_until: None,
        };
        assert_eq!(
            sample.line(),
            "12,345 events · 850/s · newest 2025-12-01 10:02:03Z · 4s behind"
        );
        let waiting = Sample {
            retries: 1,
            waiting_until: Some(datetime!(2025-12-01 10:02:13 UTC)),
            ..sample
        };
        assert_eq!(
            waiting.line(),
            "12,345 events · 850/s · newest 2025-12-01 10:02:03Z · 4s behind · 1 retry · \
             waiting for late events until 10:02:13Z"
        );
        assert_eq!(
            Sample::default().line(),
            "0 events · no events yet · starting"
        );
    }

    #[test]
    fn a_sample_of_the_stats() {
        let now = datetime!(2025-12-01 10:02:10 UTC);
        let mut stats = StreamStats::default();
        stats.events_delivered = 7;
        stats.retries = 2;
        stats.watermark = Some(datetime!(2025-12-01 10:02:00 UTC));
        stats.newest_event_time = Some(datetime!(2025-12-01 10:02:05 UTC));
        let sample = Sample::of(&stats, Some(1.5), now);
        assert_eq!(sample.events, 7);
        assert_eq!(sample.lag, Some(Duration::from_secs(10)));
        assert_eq!(sample.retries, 2);
        assert_eq!(sample.newest, stats.newest_event_time);
    }

    #[test]
    fn the_wait_for_late_events() {
        let end = datetime!(2025-12-01 10:02:03 UTC);
        let until = datetime!(2025-12-01 10:02:13 UTC);
        assert_eq!(
            waiting_message(
                end,
                until,
                end + Duration::from_millis(500),
                Some(Mode::Search),
                DEFAULT_EXPORT_POLL_INTERVAL
            ),
            "caught up to the end time, 2025-12-01 10:02:03Z; waiting up to 10s (until \
             10:02:13Z) for events that become visible late, then stopping"
        );
        assert_eq!(
            waiting_message(
                end,
                until,
                until + Duration::from_secs(1),
                Some(Mode::Export),
                DEFAULT_EXPORT_POLL_INTERVAL
            ),
            "caught up to the end time, 2025-12-01 10:02:03Z; waiting up to 0s (until \
             10:02:13Z) for events that become visible late, then stopping at the next chunk \
             listing (one every 15s)"
        );
    }

    #[test]
    fn the_rate_is_over_the_last_span() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let mut meter = RateMeter::new(Duration::from_secs(10));
        assert_eq!(meter.record(at(0), 0), None);
        assert_eq!(meter.record(at(2), 100), Some(50.0));
        assert_eq!(meter.record(at(10), 500), Some(50.0));
        // The count at 0 s is older than the span once the one at 2 s is: measured from 2 s.
        assert_eq!(meter.record(at(12), 1100), Some(100.0));
        // Same instant twice: no span to divide by.
        let mut meter = RateMeter::new(Duration::from_secs(10));
        meter.record(at(1), 5);
        assert_eq!(meter.record(at(1), 6), None);
    }
}
