//! `teleport-audit sim` as a script uses it: start it, read `proxy=` and `proxy_ca=` from its
//! stdout, point `teleport-audit tail` at it, stop it with SIGTERM; and its clear failures.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(60);

fn command(args: &[&str]) -> Command {
    let mut command = Command::from(support::command(args));
    command.kill_on_drop(true);
    command
}

/// A running `teleport-audit sim`.
struct Sim {
    child: Child,
    /// Its stdout after the announced lines (kept open so it never sees a closed pipe).
    rest: Lines<BufReader<ChildStdout>>,
    proxy: String,
    proxy_ca: PathBuf,
    identity: PathBuf,
}

impl Sim {
    async fn start(dir: &Path, extra: &[&str]) -> Sim {
        let identity = dir.join("identity");
        let mut args = vec!["sim", "--identity-out", identity.to_str().unwrap()];
        args.extend_from_slice(extra);
        let mut child = command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next = async || {
            tokio::time::timeout(WAIT, lines.next_line())
                .await
                .expect("the sim announced itself in time")
                .unwrap()
        };
        let Some(first) = next().await else {
            let mut stderr = String::new();
            let _ = child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .await;
            panic!("the sim printed nothing: {stderr}");
        };
        let proxy = first
            .strip_prefix("proxy=")
            .unwrap_or_else(|| panic!("first line {first:?}"))
            .to_owned();
        let second = next().await.expect("a second line");
        let proxy_ca = PathBuf::from(
            second
                .strip_prefix("proxy_ca=")
                .unwrap_or_else(|| panic!("second line {second:?}")),
        );
        Sim {
            child,
            rest: lines,
            proxy,
            proxy_ca,
            identity,
        }
    }

    /// `tail --until-now` against the sim; its exit code and stdout.
    async fn tail(&self, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec![
            "tail",
            "--proxy",
            &self.proxy,
            "--identity-file",
            self.identity.to_str().unwrap(),
            "--proxy-ca",
            self.proxy_ca.to_str().unwrap(),
            "--until-now",
            "--page-size",
            "200",
            "--max-lateness",
            "3s",
        ];
        args.extend_from_slice(extra);
        let output = tokio::time::timeout(WAIT, command(&args).output())
            .await
            .expect("tail finished in time")
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }

    /// SIGTERM, then its exit code, remaining stdout and stderr.
    async fn terminate(mut self) -> (Option<i32>, String, String) {
        support::sigterm(self.child.id().unwrap());
        let mut stdout = String::new();
        while let Some(line) = tokio::time::timeout(WAIT, self.rest.next_line())
            .await
            .unwrap()
            .unwrap()
        {
            stdout.push_str(&line);
        }
        let mut stderr = String::new();
        let mut err = self.child.stderr.take().unwrap();
        tokio::time::timeout(WAIT, err.read_to_string(&mut stderr))
            .await
            .unwrap()
            .unwrap();
        let exit = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the sim stopped in time")
            .unwrap();
        (exit.code(), stdout, stderr)
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The events' ids and times, checking each line is JSON with a uid seen once.
fn events(ndjson: &str) -> Vec<(String, OffsetDateTime)> {
    let mut seen = HashSet::new();
    ndjson
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
            let uid = value["uid"].as_str().expect("a uid").to_owned();
            assert!(seen.insert(uid.clone()), "{uid} written twice");
            let time =
                OffsetDateTime::parse(value["time"].as_str().expect("a time"), &Rfc3339).unwrap();
            (uid, time)
        })
        .collect()
}

async fn serves_its_backlog_exactly(backend: &str, read_mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    // An old identity file readable by everyone is replaced by one only its owner can read.
    std::fs::write(dir.path().join("identity"), "old").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.path().join("identity"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let sim = Sim::start(
        dir.path(),
        &["--backlog", "700", "--rate", "0", "--backend", backend],
    )
    .await;
    assert!(sim.proxy.starts_with("127.0.0.1:"), "{}", sim.proxy);
    assert_eq!(sim.proxy_ca, dir.path().join("identity.proxy-ca.pem"));
    #[cfg(unix)]
    {
        assert_eq!(mode(&sim.identity), 0o600);
        assert_eq!(mode(&sim.proxy_ca), 0o600);
    }
    let identity = std::fs::read_to_string(&sim.identity).unwrap();
    assert!(identity.contains("PRIVATE KEY"), "a real identity file");
    assert!(
        std::fs::read_to_string(&sim.proxy_ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    let (code, stdout, stderr) = sim
        .tail(&["--backfill-start", "2h", "--mode", read_mode])
        .await;
    assert_eq!(code, 0, "{stderr}");
    let got = events(&stdout);
    assert_eq!(got.len(), 700, "exactly the backlog; {stderr}");
    // Spread over the hour before now.
    let now = OffsetDateTime::now_utc();
    for (uid, time) in &got {
        assert!(
            *time > now - time::Duration::minutes(61) && *time <= now,
            "{uid} at {time}"
        );
    }

    let (exit, stdout, stderr) = sim.terminate().await;
    assert_eq!(exit, Some(0), "SIGTERM is a clean stop: {stderr}");
    assert!(stdout.is_empty(), "nothing after the two lines: {stdout}");
    assert!(
        !stderr.contains("error") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sim_serves_its_backlog_to_tail_by_search_and_stops_on_sigterm() {
    serves_its_backlog_exactly("dynamo", "search").await;
}

#[tokio::test]
async fn sim_with_athena_serves_its_backlog_by_export() {
    serves_its_backlog_exactly("athena", "export").await;
}

#[tokio::test]
async fn sim_runs_its_clock_an_hour_behind() {
    let dir = tempfile::tempdir().unwrap();
    // A leading minus is a value, not a flag.
    let sim = Sim::start(
        dir.path(),
        &[
            "--clock-offset",
            "-1h",
            "--backlog",
            "300",
            "--rate",
            "0",
            "--backend",
            "file",
        ],
    )
    .await;
    let (code, stdout, stderr) = sim.tail(&["--backfill-start", "3h"]).await;
    assert_eq!(code, 0, "{stderr}");
    let got = events(&stdout);
    assert_eq!(got.len(), 300, "{stderr}");
    // The backlog is the hour before the SERVER's now: between two and one hours ago.
    let now = OffsetDateTime::now_utc();
    for (uid, time) in &got {
        assert!(
            *time > now - time::Duration::minutes(121) && *time < now - time::Duration::minutes(59),
            "{uid} at {time}"
        );
    }
    let (exit, _, stderr) = sim.terminate().await;
    assert_eq!(exit, Some(0), "{stderr}");
}

#[tokio::test]
async fn sim_with_sessions_has_their_uploads_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(
        dir.path(),
        &[
            "--backlog",
            "100",
            "--rate",
            "0",
            "--sessions",
            "25",
            "--backend",
            "file",
        ],
    )
    .await;
    let (code, stdout, stderr) = sim.tail(&["--backfill-start", "2h"]).await;
    assert_eq!(code, 0, "{stderr}");
    // 100 events, then 8 per session (5 of the session, 3 unrelated).
    assert_eq!(events(&stdout).len(), 100 + 25 * 8, "{stderr}");
    let mut uploads = HashSet::new();
    for line in stdout.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        if value["event"] == "session.upload" {
            assert_eq!(value["code"], "T2005I", "{value}");
            assert!(uploads.insert(value["sid"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(uploads.len(), 25, "one upload per session");
    let (exit, _, stderr) = sim.terminate().await;
    assert_eq!(exit, Some(0), "{stderr}");
    assert!(stderr.contains("25 recorded sessions"), "{stderr}");
}

#[tokio::test]
async fn clock_offsets_are_taken_with_either_sign() {
    for (given, shown) in [("+30m", "30m"), ("90s", "1m30s")] {
        let dir = tempfile::tempdir().unwrap();
        let flag = format!("--clock-offset={given}");
        let sim = Sim::start(dir.path(), &[&flag, "--backlog", "0", "--rate", "0"]).await;
        let (exit, _, stderr) = sim.terminate().await;
        assert_eq!(exit, Some(0), "{stderr}");
        assert!(
            stderr.contains(&format!("clock offset {shown};")),
            "{given}: {stderr}"
        );
    }
}

/// Runs the sim expecting it to fail at once; its exit code, stdout and stderr.
async fn failing(args: &[&str]) -> (i32, String, String) {
    let output = tokio::time::timeout(WAIT, command(args).output())
        .await
        .expect("the sim gave up in time")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let identity = dir.path().join("identity");
    let (code, stdout, stderr) = failing(&[
        "sim",
        "--identity-out",
        identity.to_str().unwrap(),
        "--listen",
        &addr,
    ])
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    // One line: what failed, then why (the system's words).
    assert!(
        stderr.starts_with(&format!(
            "error: could not listen for the proxy on {addr}: "
        )),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error: ").count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !identity.exists(),
        "no identity for a cluster that never ran"
    );
    drop(taken);
}

#[tokio::test]
async fn an_unwritable_identity_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (dir.path().to_path_buf(), "a directory"),
        (
            dir.path().join("missing").join("identity"),
            "no such directory",
        ),
    ];
    for (path, why) in cases {
        let (code, stdout, stderr) =
            failing(&["sim", "--identity-out", path.to_str().unwrap()]).await;
        assert_eq!(code, 1, "{why}: {stderr}");
        assert!(stdout.is_empty(), "{why}: {stdout}");
        assert!(
            stderr.starts_with(&format!(
                "error: could not write the identity file to {}: ",
                path.display()
            )),
            "{why}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{why}: {stderr}");
    }
}

#[tokio::test]
async fn a_bad_clock_offset_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let identity = dir.path().join("identity");
    let (code, stdout, stderr) = failing(&[
        "sim",
        "--identity-out",
        identity.to_str().unwrap(),
        "--clock-offset",
        "-1 fortnight",
    ])
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("-1h, +30m or 90s"), "{stderr}");
    assert!(!identity.exists());
}
