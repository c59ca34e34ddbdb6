//! What the operator sees on stderr, through the binary against a simulated cluster: nothing
//! with `-q`; without a terminal, summary lines and no progress bytes; on a terminal (a pty made
//! by `script`), the progress line; `--until-now` saying that it waits; `--log-format json`
//! lines that all parse; `-vv` without frame dumps; each error printed once, on one line with
//! its code and advice.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod support;

use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::process::Command;

use support::ClientFiles;

/// The test hook for the summary interval (see the binary's `progress` module).
const SUMMARY_INTERVAL_ENV: &str = "__TELEPORT_AUDIT_SUMMARY_INTERVAL_MS";

struct Setup {
    sim: SimCluster,
    files: ClientFiles,
    start: OffsetDateTime,
}

const BACKLOG: u64 = 300;

async fn setup() -> Setup {
    setup_on(Backend::File).await
}

async fn setup_on(backend: Backend) -> Setup {
    let now = OffsetDateTime::now_utc();
    let start = now - time::Duration::hours(2);
    let sim = SimCluster::builder()
        .backend(backend)
        .backlog(BACKLOG, start, now - time::Duration::hours(1))
        .start()
        .await
        .unwrap();
    let files = ClientFiles::for_sim(&sim);
    Setup { sim, files, start }
}

impl Setup {
    /// `tail --until-now` from the backlog's start, with a lateness bound of `lateness`, and
    /// `global` flags before the subcommand.
    fn tail_args(&self, global: &[&str], lateness: &str) -> Vec<String> {
        let mut args: Vec<String> = global.iter().map(|a| (*a).to_owned()).collect();
        args.extend([
            "tail".to_owned(),
            "--proxy".to_owned(),
            self.sim.proxy_addr().to_string(),
            "--identity-file".to_owned(),
            self.files.identity.display().to_string(),
            "--proxy-ca".to_owned(),
            self.files.proxy_ca.display().to_string(),
            "--backfill-start".to_owned(),
            self.start.format(&Rfc3339).unwrap(),
            "--until-now".to_owned(),
            "--max-lateness".to_owned(),
            lateness.to_owned(),
            "--poll-interval".to_owned(),
            "200ms".to_owned(),
        ]);
        args
    }

    fn tail(&self, global: &[&str], lateness: &str) -> Command {
        command(&self.tail_args(global, lateness))
    }
}

fn command<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut command = Command::from(support::command(args));
    command.kill_on_drop(true);
    command
}

/// Exit code, stdout lines, stderr.
async fn run(mut command: Command) -> (i32, usize, String) {
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the command finished in time")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap().lines().count(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn quiet_prints_nothing_on_stderr_in_a_clean_run() {
    let setup = setup().await;
    let (code, events, stderr) = run(setup.tail(&["-q"], "1s")).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events, usize::try_from(BACKLOG).unwrap());
    assert_eq!(stderr, "", "-q: nothing on stderr");
}

#[tokio::test]
async fn without_a_terminal_summary_lines_and_no_progress_bytes() {
    let setup = setup().await;
    let mut tail = setup.tail(&[], "2s");
    tail.env(SUMMARY_INTERVAL_ENV, "300");
    let (code, events, stderr) = run(tail).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events, usize::try_from(BACKLOG).unwrap());
    // No redrawn line: no carriage return, no terminal escape, no spinner.
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    let summaries: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("progress: "))
        .collect();
    assert!(
        summaries.len() >= 2,
        "a summary line every 300 ms over at least 2 s: {stderr}"
    );
    let last = summaries.last().unwrap();
    assert!(last.contains(" INFO "), "{last}");
    assert!(last.contains(" events · "), "{last}");
    assert!(last.contains("/s · "), "{last}");
    assert!(last.contains(" behind"), "{last}");
    assert!(
        summaries
            .iter()
            .any(|l| l.contains(&format!("progress: {BACKLOG} events"))),
        "{stderr}"
    );
    // --until-now says when it waits, and until when.
    let waiting: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("waiting up to"))
        .collect();
    assert_eq!(waiting.len(), 1, "said once: {stderr}");
    assert!(
        waiting[0].contains("caught up to the end time, ")
            && waiting[0].contains("for events that become visible late"),
        "{}",
        waiting[0]
    );
    let done = stderr.lines().position(|l| l.contains(" done"));
    let said = stderr.lines().position(|l| l.contains("waiting up to"));
    assert!(said < done, "the wait is told before the end: {stderr}");
}

/// Export mode waits out the lateness bound, then stops at its next chunk listing, and says so.
#[tokio::test]
async fn in_export_mode_the_wait_names_the_next_listing() {
    let setup = setup_on(Backend::Athena {
        flush_interval: Duration::from_millis(200),
    })
    .await;
    let mut args = setup.tail_args(&[], "1s");
    args.extend(["--mode".to_owned(), "export".to_owned()]);
    let (code, events, stderr) = run(command(&args)).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events, usize::try_from(BACKLOG).unwrap(), "{stderr}");
    let waiting: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("waiting up to"))
        .collect();
    assert_eq!(waiting.len(), 1, "said once: {stderr}");
    assert!(
        waiting[0].contains("then stopping at the next chunk listing (one every 200ms)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_errors_too() {
    let setup = setup().await;
    let mut tail = setup.tail(&["--log-format", "json", "-v"], "1s");
    tail.env(SUMMARY_INTERVAL_ENV, "200");
    let (code, _, stderr) = run(tail).await;
    assert_eq!(code, 0, "{stderr}");
    let lines = json_lines(&stderr);
    assert!(
        lines.iter().any(|l| l["message"] == "connected"),
        "{stderr}"
    );
    let progress = lines
        .iter()
        .find(|l| l["message"] == "progress")
        .expect("summary lines in JSON");
    assert!(progress["events"].is_u64(), "{progress}");
    assert!(progress["lag_seconds"].is_u64(), "{progress}");

    // A failure: the report is one object too.
    let dir = tempfile::tempdir().unwrap();
    let cursor = dir.path().join("cursor.json");
    std::fs::write(&cursor, "{\"mode\":\"search\"}").unwrap();
    let mut args = setup.tail_args(&["--log-format", "json"], "1s");
    args.extend(["--cursor-file".to_owned(), cursor.display().to_string()]);
    let (code, events, stderr) = run(command(&args)).await;
    assert_eq!((code, events), (65, 0), "EX_DATAERR: {stderr}");
    let lines = json_lines(&stderr);
    assert_eq!(lines.len(), 1, "the error alone: {stderr}");
    let error = &lines[0];
    assert_eq!(error["level"], "ERROR");
    assert_eq!(error["code"], "invalid_cursor");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid cursor: "),
        "{error}"
    );
    assert!(error["causes"].is_array(), "{error}");
    assert!(!error["advice"].as_str().unwrap().is_empty(), "{error}");
}

fn json_lines(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
        })
        .collect()
}

#[tokio::test]
async fn very_verbose_logs_have_no_frame_dumps() {
    let setup = setup().await;
    let (code, _, stderr) = run(setup.tail(&["-vvv"], "1s")).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("DEBUG") || stderr.contains("TRACE"),
        "{stderr}"
    );
    assert_no_frames(&stderr);
    // The check can fail: RUST_LOG, which overrides -v, lets h2 dump its frames.
    let mut tail = setup.tail(&[], "1s");
    tail.env("RUST_LOG", "h2=debug");
    let (code, _, stderr) = run(tail).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("frame="), "RUST_LOG=h2=debug shows frames");
}

fn assert_no_frames(stderr: &str) {
    for needle in [
        "frame=", "Frame", "h2::", "hyper", "DATA", "HEADERS", "SETTINGS",
    ] {
        assert!(!stderr.contains(needle), "{needle} in: {stderr}");
    }
}

/// The lines of a failed run's stderr: exactly one `error:` line, then its code and advice, and
/// nothing else (no log line repeating the error first).
fn assert_reported_once(stderr: &str, code: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "the report alone: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert_eq!(lines[1], format!("  code: {code}"), "{stderr}");
    assert!(lines[2].starts_with("  what to do: "), "{stderr}");
    // Each part of the chain said once.
    let message = lines[0].trim_start_matches("error: ");
    for part in message.split(": ") {
        assert_eq!(
            stderr.matches(part).count(),
            1,
            "{part:?} repeated: {stderr}"
        );
    }
    lines[0].to_owned()
}

#[tokio::test]
async fn each_error_is_printed_once_with_its_causes_on_one_line() {
    let setup = setup().await;
    let dir = tempfile::tempdir().unwrap();

    // A refused port: our words, then the system's.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = listener.local_addr().unwrap().to_string();
    drop(listener);
    let args = [
        "tail",
        "--proxy",
        &refused,
        "--identity-file",
        &setup.files.identity.display().to_string(),
        "--timeout",
        "5s",
    ]
    .map(str::to_owned);
    let (code, _, stderr) = run(command(&args)).await;
    assert_ne!(code, 0, "{stderr}");
    let line = assert_reported_once(&stderr, "connection_refused");
    assert!(
        line.contains(&format!("nothing accepts connections at {refused}: ")),
        "{line}"
    );
    assert_eq!(line.matches("refused").count(), 1, "said once: {line}");

    // An expired identity.
    let expired = write(
        dir.path(),
        "expired",
        &setup
            .sim
            .issue_identity(&IdentitySpec::default().roles(["auditor"]).expired())
            .unwrap(),
    );
    let mut args = setup.tail_args(&[], "1s");
    let at = args.iter().position(|a| a == "--identity-file").unwrap() + 1;
    args[at] = expired.display().to_string();
    let (code, events, stderr) = run(command(&args)).await;
    assert_eq!((code, events), (77, 0), "EX_NOPERM: {stderr}");
    // Info lines (what the command was about to do) may come first; then the error, once.
    let first = stderr
        .lines()
        .find(|line| !line.contains(" INFO "))
        .unwrap_or_default();
    assert!(first.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.matches("error: ").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("  code: ").count(), 1, "{stderr}");
    assert!(
        !stderr.contains(" WARN ") && !stderr.contains(" ERROR "),
        "{stderr}"
    );

    // A cursor file that is not one: the parser's words are the cause, said once.
    let cursor = write(dir.path(), "cursor.json", "{\"mode\":\"search\"}");
    let mut args = setup.tail_args(&[], "1s");
    args.extend(["--cursor-file".to_owned(), cursor.display().to_string()]);
    let (code, _, stderr) = run(command(&args)).await;
    assert_ne!(code, 0, "{stderr}");
    let line = assert_reported_once(&stderr, "invalid_cursor");
    assert!(line.contains("cursor.json"), "{line}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `tail` on a terminal (a pty made by `script`) whose `TERM` is `term`, with the events
/// going to a file; returns what the terminal showed, or `None` without `script` (util-linux).
async fn tail_on_a_terminal(term: &str, env: &[(&str, &str)]) -> Option<String> {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        // Without it the terminal path is covered by the unit tests of the view rule and the
        // line's format only.
        eprintln!("no `script` command: the pty test is skipped");
        return None;
    }
    let setup = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    let mut shell = String::from("exec");
    shell.push_str(&format!(" '{}'", support::BIN));
    for arg in setup.tail_args(&[], "3s") {
        shell.push_str(&format!(" '{arg}'"));
    }
    shell.push_str(&format!(" > '{}'", events.display()));
    let mut pty = Command::new("script");
    pty.args(["-q", "-e", "-f", "-c", &shell, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    // The environment support::command clears for the binary.
    for (name, _) in support::command(["x"])
        .get_envs()
        .filter(|(_, v)| v.is_none())
    {
        pty.env_remove(name);
    }
    // The terminal's kind is the test's, not the machine's (CI may run without TERM).
    pty.env("TERM", term).envs(env.iter().copied());
    let output = tokio::time::timeout(Duration::from_secs(120), pty.output())
        .await
        .expect("finished in time")
        .unwrap();
    let terminal = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{terminal}");
    assert_eq!(
        std::fs::read_to_string(&events).unwrap().lines().count(),
        usize::try_from(BACKLOG).unwrap()
    );
    assert!(terminal.contains("waiting up to"), "{terminal:?}");
    Some(terminal)
}

/// On a terminal: the progress line is drawn, and log lines still come out whole.
#[tokio::test]
async fn on_a_terminal_the_progress_line_is_drawn() {
    let Some(terminal) = tail_on_a_terminal("xterm-256color", &[]).await else {
        return;
    };
    assert!(
        terminal.contains(&format!("{BACKLOG} events · ")),
        "the progress line: {terminal:?}"
    );
    assert!(
        !terminal.contains("progress: "),
        "no summary lines: {terminal:?}"
    );
    // The log lines are whole: the line is cleared before each one and drawn again after.
    for line in terminal.split('\n').filter(|l| l.contains(" INFO ")) {
        let shown = line.rsplit('\r').next().unwrap_or_default();
        let plain = strip_escapes(shown);
        assert!(
            plain.trim_start().starts_with(|c: char| c.is_ascii_digit()),
            "a log line starts with its time: {plain:?} in {terminal:?}"
        );
    }
}

/// On a terminal that cannot redraw a line (`TERM=dumb`, or no `TERM`), where the progress bar
/// library draws nothing: the summary lines, as without a terminal.
#[tokio::test]
async fn on_a_dumb_terminal_summary_lines_instead_of_the_progress_line() {
    let Some(terminal) = tail_on_a_terminal("dumb", &[(SUMMARY_INTERVAL_ENV, "300")]).await else {
        return;
    };
    let summaries: Vec<&str> = terminal
        .lines()
        .filter(|l| l.contains("progress: "))
        .collect();
    assert!(
        summaries
            .iter()
            .any(|l| l.contains(&format!("progress: {BACKLOG} events · "))),
        "{terminal:?}"
    );
    // Every mention of the figures is a summary line: no redrawn line.
    assert_eq!(
        terminal.matches(" events · ").count(),
        summaries.len(),
        "{terminal:?}"
    );
}

/// The text without ANSI escape sequences (CSI: ESC [ ... final byte).
fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
