//! `teleport-audit tail --session-recordings --output FILE` is exactly once through SIGKILL,
//! including kills inside a large recording: the binary, backfilling a simulated cluster's
//! recorded sessions (one large recording, missing, late, corrupt, empty and small ones), is
//! killed at random moments and restarted from its cursor file; at the end the file holds the
//! same lines as one uninterrupted run (the reference drain), each exactly as often.
//!
//! After every kill the committed part of the output (the length the cursor file records) must
//! be what the previous commit held plus whole lines. The kill times come from a seeded
//! generator: replay one with `CRASH_SEED=<seed>`; `--nocapture` shows each kill.
//!
//! The size of the large recording is [`LARGE`] (the 100,000 by default here; a smaller
//! value with `CRASH_LARGE=<events>` for a quick run).

mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use teleport_audit_sim::{Backend, RecordingSettings, SimCluster};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use support::{ClientFiles, Rng, seed};

/// Most kills (each followed by a restart) before the final run.
const KILLS: usize = 40;
/// Recorded sessions in the history.
const SESSIONS: u64 = 24;
/// Audit events besides the sessions'.
const BACKLOG: u64 = 3_000;
/// Longest wait for a run to the end.
const CHILD_TIMEOUT: Duration = Duration::from_secs(240);

/// Events of the large recording.
fn large() -> u64 {
    std::env::var("CRASH_LARGE")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000)
}

impl Rng {
    /// Uniform in [min, max) milliseconds.
    fn life(&mut self, min: u64, max: u64) -> Duration {
        Duration::from_millis(min + self.next_u64() % (max - min))
    }
}

/// A child process, killed and reaped when dropped.
struct Guard(Option<Child>);

impl Guard {
    fn spawn(mut command: Command) -> Guard {
        Guard(Some(command.spawn().expect("start tail")))
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.0.as_mut().unwrap().try_wait().unwrap()
    }

    async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                self.0 = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tail did not exit within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn kill(&mut self) -> ExitStatus {
        let _ = self.0.as_mut().unwrap().kill();
        self.wait(Duration::from_secs(10)).await
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Setup {
    sim: SimCluster,
    files: ClientFiles,
    start: OffsetDateTime,
}

impl Setup {
    async fn new(seed: u64) -> Setup {
        let now = OffsetDateTime::now_utc();
        let (from, to) = (
            now - time::Duration::hours(2),
            now - time::Duration::hours(1),
        );
        let sim = SimCluster::builder()
            .seed(seed)
            .backend(Backend::Immediate)
            .backlog(BACKLOG, from, to)
            .sessions(SESSIONS)
            .recordings(
                RecordingSettings::default()
                    .large_events(large())
                    // Served at once: a late one would otherwise be missing in one run and
                    // there in another, by timing alone.
                    .late_upload_delay(Duration::ZERO),
            )
            .start()
            .await
            .unwrap();
        let files = ClientFiles::for_sim(&sim);
        Setup {
            sim,
            files,
            start: from - time::Duration::minutes(1),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.files.dir.path().join(name)
    }

    /// `tail --session-recordings --skip-session-types none --output output --cursor-file
    /// cursor`, stderr to `stderr`.
    fn tail(&self, cursor: &Path, output: &Path, until_now: bool, stderr: &Path) -> Command {
        let mut command = support::command(["tail"]);
        command
            .arg("--proxy")
            .arg(self.sim.proxy_addr().to_string())
            .arg("--identity-file")
            .arg(&self.files.identity)
            .arg("--proxy-ca")
            .arg(&self.files.proxy_ca)
            .args(["--timeout", "5s", "--mode", "search"])
            .arg("--backfill-start")
            .arg(self.start.format(&Rfc3339).unwrap())
            .arg("--cursor-file")
            .arg(cursor)
            .arg("--output")
            .arg(output)
            .args(["--session-recordings", "--skip-session-types", "none"])
            .args(["--session-concurrency", "3"])
            .args(["--poll-interval", "200ms", "--max-lateness", "1s"]);
        if until_now {
            command.arg("--until-now");
        }
        command
            .stdout(Stdio::null())
            .stderr(File::create(stderr).unwrap());
        command
    }

    /// One run to the end.
    async fn run_to_end(&self, cursor: &Path, output: &Path, name: &str) {
        let stderr = self.path(&format!("{name}.log"));
        let mut run = Guard::spawn(self.tail(cursor, output, true, &stderr));
        let status = run.wait(CHILD_TIMEOUT).await;
        assert!(
            status.success(),
            "{name} failed ({status}):\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
    }
}

/// The cursor file's record: the committed output length and the cursor itself.
fn committed(cursor: &Path) -> Option<(u64, serde_json::Value)> {
    let text = std::fs::read_to_string(cursor).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).expect("a JSON cursor file");
    let len = value["output"]["len"].as_u64().expect("an output length");
    Some((len, value))
}

/// Whether the cursor holds a session in progress with part of its recording delivered.
fn inside_a_recording(cursor: &serde_json::Value) -> bool {
    let mut found = false;
    let mut stack = vec![cursor];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Array(sessions)) = map.get("sessions") {
                    found |= sessions
                        .iter()
                        .any(|s| s["next"].as_i64().is_some_and(|next| next > 0));
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// Each line of the file and how often it occurs.
fn lines(path: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        *counts.entry(line.to_owned()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_with_session_recordings_is_exactly_once_through_repeated_sigkill() {
    let seed = seed();
    eprintln!("crash test seed {seed} (replay with CRASH_SEED={seed})");
    let began = Instant::now();
    let setup = Setup::new(seed).await;

    // The reference: one uninterrupted run.
    let reference = setup.path("reference.ndjson");
    setup
        .run_to_end(&setup.path("reference.cursor"), &reference, "reference")
        .await;
    let expected = lines(&reference);
    let total: usize = expected.values().sum();
    let reference_took = began.elapsed();
    eprintln!("reference: {total} lines in {reference_took:.1?}");
    assert!(
        total as u64 > large(),
        "the large recording is in the reference"
    );

    // Killed runs, each resumed from the cursor file: each is killed a random 0 to 80 ms after
    // its first commit (so mid-batch, and, while the large recording is read, inside it), until
    // a run commits nothing new within 5 s (caught up).
    let cursor = setup.path("cursor.json");
    let output = setup.path("events.ndjson");
    let mut rng = Rng(seed);
    let mut committed_before = Vec::new();
    let mut kills_inside = 0;
    let mut kills = 0;
    for round in 0..KILLS {
        let stderr = setup.path(&format!("run-{round}.log"));
        let mut run = Guard::spawn(setup.tail(&cursor, &output, false, &stderr));
        let previous = committed(&cursor).map(|(len, _)| len);
        let deadline = Instant::now() + Duration::from_secs(5);
        while committed(&cursor).map(|(len, _)| len) == previous && Instant::now() < deadline {
            if let Some(status) = run.try_wait() {
                panic!(
                    "seed {seed}: run {round} exited by itself ({status}):\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let caught_up = committed(&cursor).map(|(len, _)| len) == previous;
        let life = rng.life(0, 80);
        tokio::time::sleep(life).await;
        run.kill().await;
        let Some((len, value)) = committed(&cursor) else {
            continue;
        };
        let bytes = std::fs::read(&output).unwrap();
        let len = usize::try_from(len).unwrap();
        assert!(
            len >= committed_before.len() && len <= bytes.len(),
            "seed {seed}: kill {round}: the cursor records {len} bytes, the file holds {}",
            bytes.len()
        );
        assert!(
            bytes[..committed_before.len()] == committed_before[..],
            "seed {seed}: kill {round}: the committed part of the output changed"
        );
        assert!(
            len == 0 || bytes[len - 1] == b'\n',
            "seed {seed}: kill {round}: the commit ends inside a line"
        );
        let inside = inside_a_recording(&value);
        kills_inside += usize::from(inside);
        eprintln!(
            "kill {round} {life:?} after a commit: {len} bytes committed{}",
            if inside { ", inside a recording" } else { "" }
        );
        committed_before = bytes[..len].to_vec();
        kills += 1;
        if caught_up {
            break;
        }
    }
    setup.run_to_end(&cursor, &output, "final").await;

    let got = lines(&output);
    let lost: Vec<&String> = expected
        .iter()
        .filter(|(line, n)| got.get(*line).copied().unwrap_or(0) < **n)
        .map(|(line, _)| line)
        .collect();
    let extra: Vec<&String> = got
        .iter()
        .filter(|(line, n)| expected.get(*line).copied().unwrap_or(0) < **n)
        .map(|(line, _)| line)
        .collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "seed {seed}: {} lines lost (e.g. {:?}), {} written too often (e.g. {:?})",
        lost.len(),
        lost.first(),
        extra.len(),
        extra.first()
    );
    // Prints (no sid of their own in Teleport) say their session too.
    let prints: Vec<&String> = got
        .keys()
        .filter(|line| line.contains("\"event\":\"print\""))
        .collect();
    assert!(
        !prints.is_empty(),
        "prints are written (--skip-session-types none)"
    );
    assert!(
        prints.iter().all(|line| line.contains("\"sid\":\"")),
        "a print without its session: {:?}",
        prints.iter().find(|line| !line.contains("\"sid\":\""))
    );
    eprintln!(
        "seed {seed}: {kills} kills ({kills_inside} inside a recording), {total} lines exactly \
         once, {:.1?} in all",
        began.elapsed()
    );
    assert!(
        kills_inside >= 5,
        "seed {seed}: no kill landed inside a recording (the cursor never held one in progress)"
    );
}
