//! `teleport-audit tail --output FILE` is exactly once through SIGKILL: the binary, tailing a
//! simulated cluster (a backlog and live events), is killed at random moments and restarted
//! from its cursor file, again and again; at the end the file holds every event the cluster
//! holds in the range exactly once, as whole lines of JSON. And a second `tail` on the same
//! cursor file is refused (`file_locked`) without disturbing the first.
//!
//! After every kill the test also checks what the cursor file says was committed (its output
//! length): that part of the file only grows, is never rewritten, and is whole JSON lines with
//! no uid twice; bytes past it (written, not committed) must be cut by the next run.
//!
//! The kill times come from a seeded generator; the seed is printed and appears in every
//! failure message. Replay one with `CRASH_SEED=<seed>`; `--nocapture` shows each kill.

mod support;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use support::{ClientFiles, Rng, seed, sigterm};

/// Kills (each followed by a restart) before the final run.
const KILLS: usize = 24;
/// Shortest and longest time a run lives before its SIGKILL.
const MIN_LIFE_MS: f64 = 50.0;
const MAX_LIFE_MS: f64 = 1500.0;
/// Backlog events, spread over the hour before the cluster starts: enough (at ~30,000 events a
/// second on loopback) for several runs to be killed while backfilling, mid-batch.
const BACKLOG: u64 = 100_000;
/// Live events per second while the runs are killed.
const LIVE_RATE: f64 = 50.0;
/// Longest wait for the final `--until-now` run.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

impl Rng {
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A run's life in [min, max): half the time log-uniform (many kills in the first 50-250
    /// ms: starting, connecting, the first pages), half uniform (many after the first commits
    /// and, once caught up, in the live tail, whose first commit comes a second in).
    fn life(&mut self, min: f64, max: f64) -> f64 {
        let u = self.unit();
        if self.next_u64() & 1 == 0 {
            (min.ln() + u * (max.ln() - min.ln())).exp()
        } else {
            min + u * (max - min)
        }
    }
}

/// A child process, killed (SIGKILL) and reaped when dropped: a failing assertion leaves no
/// `tail` running.
struct Guard {
    child: Option<Child>,
    what: String,
}

impl Guard {
    fn spawn(mut command: Command, what: impl Into<String>) -> Guard {
        let what = what.into();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        Guard {
            child: Some(child),
            what,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The exit status if the process has ended.
    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().unwrap().try_wait().unwrap()
    }

    /// Waits for the exit, polling (the sim runs on this runtime), at most `timeout`.
    async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}",
                self.what
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL, then the exit status.
    async fn kill(&mut self) -> ExitStatus {
        // An error here means it exited already; `wait` reports how.
        let _ = self.child.as_mut().unwrap().kill();
        self.wait(Duration::from_secs(10)).await
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Setup {
    sim: SimCluster,
    dir: tempfile::TempDir,
    identity: PathBuf,
    proxy_ca: PathBuf,
    /// Before the first backlog event: where every run's backfill starts.
    start: OffsetDateTime,
    /// The end of the backlog: later events are live ones.
    live_from: OffsetDateTime,
}

async fn setup(seed: u64, backend: Backend, backlog: u64, live_rate: f64) -> Setup {
    let now = OffsetDateTime::now_utc();
    let (backlog_start, backlog_end) = (now - time::Duration::hours(1), now);
    let sim = SimCluster::builder()
        .seed(seed)
        .backend(backend)
        .backlog(backlog, backlog_start, backlog_end)
        .live_rate(live_rate)
        .start()
        .await
        .unwrap();
    let ClientFiles {
        dir,
        identity,
        proxy_ca,
    } = ClientFiles::for_sim(&sim);
    Setup {
        sim,
        dir,
        identity,
        proxy_ca,
        start: backlog_start - time::Duration::minutes(1),
        live_from: backlog_end,
    }
}

impl Setup {
    /// `tail --output output --cursor-file cursor`, stderr to `stderr`.
    fn tail(&self, cursor: &Path, output: &Path, until_now: bool, stderr: &Path) -> Command {
        let mut command = support::command(["tail"]);
        command
            .arg("--proxy")
            .arg(self.sim.proxy_addr().to_string())
            .arg("--identity-file")
            .arg(&self.identity)
            .arg("--proxy-ca")
            .arg(&self.proxy_ca)
            .arg("--timeout")
            .arg("5s")
            .arg("--backfill-start")
            .arg(self.start.format(&Rfc3339).unwrap())
            .arg("--cursor-file")
            .arg(cursor)
            .arg("--output")
            .arg(output)
            .args(["--page-size", "100"])
            .args(["--poll-interval", "200ms"])
            .args(["--max-lateness", "1s"]);
        if until_now {
            command.arg("--until-now");
        }
        command
            .stdout(Stdio::null())
            .stderr(File::create(stderr).unwrap());
        command
    }

    /// Stops the live events, waits until every event is visible, and returns every id the
    /// cluster holds from the backfill start on: what the output must hold once a final
    /// `--until-now` run (started after this) has finished.
    async fn freeze(&self) -> Vec<String> {
        self.sim.store().set_live_rate(0.0).unwrap();
        // Longer than the backend's visibility delay.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = OffsetDateTime::now_utc();
        self.sim
            .store()
            .ids_in_range(self.start, now)
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }
}

fn tail_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The output length the cursor file records (its last commit), `None` before the first one.
fn committed_len(cursor: &Path, seed: u64) -> Option<u64> {
    let text = match std::fs::read_to_string(cursor) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("seed {seed}: read the cursor file: {e}"),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("seed {seed}: the cursor file is not JSON ({e}): {text:?}"));
    let len = value["output"]["len"].as_u64();
    assert!(
        len.is_some(),
        "seed {seed}: the cursor file records no output length: {text}"
    );
    len
}

/// The uid of each line of `bytes` (whole lines, each ending in a newline), panicking on a line
/// that is not a JSON object with a uid.
fn uids_of(bytes: &[u8], seed: u64, what: &str) -> Vec<String> {
    assert!(
        bytes.is_empty() || bytes.ends_with(b"\n"),
        "seed {seed}: {what} does not end with a newline (a torn last line): ...{:?}",
        String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(200)..])
    );
    let text = std::str::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("seed {seed}: {what} is not UTF-8: {e}"));
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "seed {seed}: {what}, line {}: not JSON ({e}): {line:?}",
                    n + 1
                )
            });
            value["uid"]
                .as_str()
                .unwrap_or_else(|| panic!("seed {seed}: {what}, line {}: no uid: {line}", n + 1))
                .to_owned()
        })
        .collect()
}

/// The output against what the cluster holds: every expected id exactly once, no other.
fn check_exactly_once(output: &Path, expected: &[String], seed: u64) {
    let bytes = std::fs::read(output).unwrap();
    assert!(
        bytes.ends_with(b"\n"),
        "seed {seed}: the output does not end with a newline"
    );
    let written = uids_of(&bytes, seed, "the output");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for uid in &written {
        *counts.entry(uid).or_default() += 1;
    }
    let expected_set: HashSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(
        expected_set.len(),
        expected.len(),
        "the cluster lists an id twice"
    );
    let lost: Vec<&str> = expected
        .iter()
        .map(String::as_str)
        .filter(|id| !counts.contains_key(id))
        .collect();
    let duplicated: Vec<(&str, usize)> = counts
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(&id, &n)| (id, n))
        .collect();
    let extra: Vec<&str> = counts
        .keys()
        .copied()
        .filter(|id| !expected_set.contains(id))
        .collect();
    let first = |ids: &[&str]| ids.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    assert!(
        lost.is_empty() && duplicated.is_empty() && extra.is_empty(),
        "seed {seed}: {} lines for {} events the cluster holds: lost {} (e.g. {}), duplicated {} \
         (e.g. {:?}), {} not in the cluster's range (e.g. {})",
        written.len(),
        expected.len(),
        lost.len(),
        first(&lost),
        duplicated.len(),
        &duplicated[..duplicated.len().min(5)],
        extra.len(),
        first(&extra),
    );
    assert_eq!(written.len(), expected.len());
}

/// What one kill left behind.
#[derive(Debug, Default)]
struct KillStats {
    /// Kills before the run committed anything new.
    nothing_new: usize,
    /// Kills that left written but uncommitted bytes after the last commit.
    uncommitted_tail: usize,
    /// ... of which ended in a torn line.
    torn_line: usize,
    /// Kills after a run that committed backlog events (backfilling).
    in_backfill: usize,
    /// Kills after a run that committed live events only (caught up, tailing).
    in_live_tail: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_output_is_exactly_once_through_repeated_sigkill() {
    let seed = seed();
    eprintln!("crash test seed {seed} (replay with CRASH_SEED={seed})");
    let began = Instant::now();
    let mut rng = Rng(seed);
    let setup = setup(
        seed,
        Backend::Dynamo {
            max_visibility_delay: Duration::from_millis(300),
        },
        BACKLOG,
        LIVE_RATE,
    )
    .await;
    let cursor = setup.dir.path().join("cursor.json");
    let output = setup.dir.path().join("events.ndjson");

    // What the cursor file says was committed, checked after every kill: the committed part
    // only grows, is never rewritten, and is whole JSON lines with no uid twice.
    let mut committed: Vec<u8> = Vec::new();
    let mut committed_uids: HashSet<String> = HashSet::new();
    let mut stats = KillStats::default();
    let mut lives = Vec::with_capacity(KILLS);
    for round in 0..KILLS {
        let life = Duration::from_secs_f64(rng.life(MIN_LIFE_MS, MAX_LIFE_MS) / 1000.0);
        lives.push(life.as_millis());
        let stderr = setup.dir.path().join(format!("stderr-{round}.log"));
        let mut child = Guard::spawn(
            setup.tail(&cursor, &output, false, &stderr),
            format!("tail run {round}"),
        );
        tokio::time::sleep(life).await;
        if let Some(status) = child.try_wait() {
            panic!(
                "seed {seed}: tail run {round} exited on its own ({status}) after {life:?}:\n{}",
                tail_of(&stderr)
            );
        }
        let status = child.kill().await;
        assert!(
            !status.success(),
            "seed {seed}: run {round} was killed yet exited 0"
        );

        let Some(len) = committed_len(&cursor, seed) else {
            stats.nothing_new += 1;
            continue;
        };
        let bytes = std::fs::read(&output).unwrap();
        let len = usize::try_from(len).unwrap();
        assert!(
            len >= committed.len() && len <= bytes.len(),
            "seed {seed}: after kill {round} the cursor records {len} bytes of output, the \
             previous commit {} and the file holds {}",
            committed.len(),
            bytes.len()
        );
        assert!(
            bytes[..committed.len()] == committed[..],
            "seed {seed}: after kill {round} the committed part of the output changed"
        );
        if len == committed.len() {
            stats.nothing_new += 1;
        }
        if bytes.len() > len {
            stats.uncommitted_tail += 1;
            if !bytes.ends_with(b"\n") {
                stats.torn_line += 1;
            }
        }
        let new = uids_of(
            &bytes[committed.len()..len],
            seed,
            &format!("the output committed before kill {round}"),
        );
        eprintln!(
            "kill {round} after {life:?}: {} events committed, {} bytes after the commit",
            new.len(),
            bytes.len() - len
        );
        for uid in new {
            assert!(
                committed_uids.insert(uid.clone()),
                "seed {seed}: after kill {round}, {uid} is committed twice"
            );
        }
        if len > committed.len() {
            // The first new line: a backlog event means the run was backfilling.
            let first = bytes[committed.len()..len]
                .split(|&b| b == b'\n')
                .next()
                .unwrap();
            let event: serde_json::Value = serde_json::from_slice(first).unwrap();
            let time = event["time"]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .unwrap_or_else(|| panic!("seed {seed}: an event without a time: {event}"));
            if time >= setup.live_from {
                stats.in_live_tail += 1;
            } else {
                stats.in_backfill += 1;
            }
        }
        committed = bytes[..len].to_vec();
    }
    let killed_for = began.elapsed();

    // The end: no more live events, then one run to "now" that must finish by itself.
    let expected = setup.freeze().await;
    let stderr = setup.dir.path().join("stderr-final.log");
    let mut last = Guard::spawn(
        setup.tail(&cursor, &output, true, &stderr),
        "the final tail --until-now",
    );
    let status = last.wait(CHILD_TIMEOUT).await;
    assert!(
        status.success(),
        "seed {seed}: the final run failed ({status}):\n{}",
        tail_of(&stderr)
    );
    assert_eq!(
        committed_len(&cursor, seed),
        Some(std::fs::metadata(&output).unwrap().len()),
        "seed {seed}: after a clean end the cursor covers the whole output"
    );
    check_exactly_once(&output, &expected, seed);
    eprintln!(
        "seed {seed}: {KILLS} kills (lives in ms: {lives:?}) in {killed_for:.1?}, {stats:?}; \
         {} events exactly once, {:.1?} in all",
        expected.len(),
        began.elapsed()
    );
    // The runs got somewhere between the kills (not all killed while connecting).
    assert!(
        committed_uids.len() >= 1000,
        "seed {seed}: only {} events committed during the kills: the runs never got going",
        committed_uids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_tail_on_the_same_cursor_file_is_refused() {
    let seed = seed();
    eprintln!("seed {seed}");
    let setup = setup(seed, Backend::Immediate, 2000, 20.0).await;
    let cursor = setup.dir.path().join("cursor.json");
    let output = setup.dir.path().join("events.ndjson");
    let other_output = setup.dir.path().join("other.ndjson");

    let first_stderr = setup.dir.path().join("first.log");
    let mut first = Guard::spawn(
        setup.tail(&cursor, &output, false, &first_stderr),
        "the first tail",
    );
    // Running and committing: the cursor file exists.
    let deadline = Instant::now() + Duration::from_secs(30);
    while committed_len(&cursor, seed).is_none() {
        assert!(
            first.try_wait().is_none(),
            "the first tail exited:\n{}",
            tail_of(&first_stderr)
        );
        assert!(
            Instant::now() < deadline,
            "the first tail saved no cursor in 30 s:\n{}",
            tail_of(&first_stderr)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The second, on the same cursor file (another output, so only the cursor is shared).
    let second_stderr = setup.dir.path().join("second.log");
    let mut second = Guard::spawn(
        setup.tail(&cursor, &other_output, false, &second_stderr),
        "the second tail",
    );
    let status = second.wait(Duration::from_secs(10)).await;
    let message = std::fs::read_to_string(&second_stderr).unwrap();
    assert_eq!(status.code(), Some(69), "EX_UNAVAILABLE: {message}");
    assert!(
        message.contains("in use by another process") && message.contains("code: file_locked"),
        "{message}"
    );
    assert!(
        message.contains(&cursor.display().to_string()),
        "the message names the cursor file: {message}"
    );
    assert!(
        std::fs::metadata(&other_output).map_or(true, |m| m.len() == 0),
        "the refused tail wrote no events"
    );

    // The first goes on: it commits more, then stops cleanly on SIGTERM.
    let before = committed_len(&cursor, seed).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while committed_len(&cursor, seed).unwrap() == before {
        assert!(
            first.try_wait().is_none(),
            "the first tail exited after the second was refused:\n{}",
            tail_of(&first_stderr)
        );
        assert!(
            Instant::now() < deadline,
            "the first tail committed nothing more in 30 s after the second was refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sigterm(first.pid());
    let status = first.wait(Duration::from_secs(15)).await;
    assert_eq!(
        status.code(),
        Some(130),
        "SIGTERM is a clean stop, reported as interrupted ({status}):\n{}",
        tail_of(&first_stderr)
    );

    // And what it wrote, completed by a final run, is exactly what the cluster holds.
    let expected = setup.freeze().await;
    let stderr = setup.dir.path().join("final.log");
    let mut last = Guard::spawn(
        setup.tail(&cursor, &output, true, &stderr),
        "the final tail --until-now",
    );
    let status = last.wait(CHILD_TIMEOUT).await;
    assert!(status.success(), "{status}:\n{}", tail_of(&stderr));
    check_exactly_once(&output, &expected, seed);
}
