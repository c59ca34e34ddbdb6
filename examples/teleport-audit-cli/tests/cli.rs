//! The `teleport-audit` binary end to end against the simulated cluster: the README's commands
//! (`identity`, `ping`, `tail` with a backfill and a cursor file, `demo`), a bad identity, and a
//! tail interrupted by SIGTERM then resumed from its cursor file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

mod support;

use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use support::{ClientFiles, sigterm};

struct Setup {
    sim: SimCluster,
    dir: tempfile::TempDir,
    identity: PathBuf,
    proxy_ca: PathBuf,
    start: OffsetDateTime,
    end: OffsetDateTime,
}

async fn setup(backlog: u64) -> Setup {
    let now = OffsetDateTime::now_utc();
    let (start, end) = (
        now - time::Duration::hours(2),
        now - time::Duration::hours(1),
    );
    let sim = SimCluster::builder()
        .backend(Backend::File)
        .backlog(backlog, start, end)
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
        start,
        end,
    }
}

impl Setup {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::from(support::command(args));
        command.kill_on_drop(true);
        command
    }

    fn connect_args(&self) -> Vec<String> {
        vec![
            "--proxy".into(),
            self.sim.proxy_addr().to_string(),
            "--identity-file".into(),
            self.identity.display().to_string(),
            "--proxy-ca".into(),
            self.proxy_ca.display().to_string(),
        ]
    }

    fn tail_args(&self, cursor: &Path, until_now: bool) -> Vec<String> {
        let mut args = vec!["tail".to_owned()];
        args.extend(self.connect_args());
        args.extend([
            "--backfill-start".into(),
            self.start.format(&Rfc3339).unwrap(),
            "--cursor-file".into(),
            cursor.display().to_string(),
            "--page-size".into(),
            "100".into(),
            "--poll-interval".into(),
            "200ms".into(),
            "--max-lateness".into(),
            "500ms".into(),
        ]);
        if until_now {
            args.push("--until-now".into());
        }
        args
    }

    /// The `tail` command with [`Setup::tail_args`].
    fn tail(&self, cursor: &Path, until_now: bool) -> Command {
        let args = self.tail_args(cursor, until_now);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.command(&args)
    }

    fn expected_ids(&self) -> HashSet<String> {
        self.sim
            .store()
            .ids_in_range(self.start, self.end)
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }
}

async fn run(mut command: Command) -> (i32, String, String) {
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the command finished in time")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn uids(ndjson: &str, seen: &mut HashSet<String>) {
    for line in ndjson.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        let uid = value["uid"]
            .as_str()
            .expect("every event has a uid")
            .to_owned();
        assert!(seen.insert(uid.clone()), "{uid} written twice");
    }
}

#[tokio::test]
async fn identity_prints_the_summary_and_fails_on_bad_files() {
    let setup = setup(1).await;
    let (code, stdout, stderr) =
        run(setup.command(&["identity", setup.identity.to_str().unwrap()])).await;
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["username"], "auditor");
    assert_eq!(summary["roles"], serde_json::json!(["auditor"]));
    assert_eq!(summary["cluster_name"], setup.sim.cluster_name());
    assert_eq!(summary["valid_now"], true);
    assert!(!stdout.contains("PRIVATE KEY"));

    // The secret's contents from the environment, as a secrets manager hands them over.
    let text = std::fs::read_to_string(&setup.identity).unwrap();
    let mut command = setup.command(&["identity"]);
    command.env("TELEPORT_IDENTITY", &text);
    let (code, stdout, _) = run(command).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("\"auditor\""));

    let garbage = setup.dir.path().join("garbage");
    std::fs::write(&garbage, "-----BEGIN PRIVATE KEY-----\nnot base64 !!\n").unwrap();
    let (code, stdout, stderr) = run(setup.command(&["identity", garbage.to_str().unwrap()])).await;
    assert_eq!(code, 77, "EX_NOPERM: the identity");
    assert!(stdout.is_empty());
    assert!(stderr.contains("code: identity_invalid"), "{stderr}");
    assert!(
        stderr.contains("line 1"),
        "the failing line is named: {stderr}"
    );

    let expired = setup.dir.path().join("expired");
    std::fs::write(
        &expired,
        setup
            .sim
            .issue_identity(&IdentitySpec::default().roles(["auditor"]).expired())
            .unwrap(),
    )
    .unwrap();
    let (code, stdout, stderr) = run(setup.command(&["identity", expired.to_str().unwrap()])).await;
    assert_eq!(code, 77, "EX_NOPERM: the identity");
    assert!(stdout.contains("\"valid_now\": false"), "{stdout}");
    assert!(stderr.contains("code: identity_expired"), "{stderr}");
}

#[tokio::test]
async fn ping_goes_through_the_proxy() {
    let setup = setup(1).await;
    let mut args = vec!["ping".to_owned()];
    args.extend(setup.connect_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run(setup.command(&args)).await;
    assert_eq!(code, 0, "{stderr}");
    let info: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(info["cluster_name"], setup.sim.cluster_name());
    assert!(
        info["server_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
}

#[tokio::test]
async fn tail_backfills_exactly_what_the_cluster_holds_as_ndjson() {
    let setup = setup(1500).await;
    let cursor = setup.dir.path().join("cursor.json");
    let args = setup.tail_args(&cursor, true);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run(setup.command(&args)).await;
    assert_eq!(code, 0, "{stderr}");
    let mut seen = HashSet::new();
    uids(&stdout, &mut seen);
    assert_eq!(seen, setup.expected_ids());
    // Each line is the event exactly as the cluster holds it.
    let stored = setup
        .sim
        .store()
        .events_in_range(setup.start, setup.start + time::Duration::minutes(5))
        .unwrap();
    for event in stored {
        let line = stdout
            .lines()
            .find(|l| l.contains(&event.uid))
            .expect("the event was written");
        let written: serde_json::Value = serde_json::from_str(line).unwrap();
        let held: serde_json::Value = serde_json::from_str(&event.json).unwrap();
        assert_eq!(written, held);
    }
    // The cursor file is JSON of version 1 whose watermark reached the end.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    assert_eq!(saved["v"], 1);
}

#[tokio::test]
async fn an_interrupted_tail_resumes_from_its_cursor_file_exactly() {
    let setup = setup(6000).await;
    let cursor = setup.dir.path().join("cursor.json");

    // First run: follow the log (no --until-now), stop it with SIGTERM after some events.
    let args = setup.tail_args(&cursor, false);
    let mut child = setup
        .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut first = String::new();
    for _ in 0..300 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("events arrive");
        first.push_str(&line);
        first.push('\n');
    }
    sigterm(child.id().unwrap());
    while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
    {
        first.push_str(&line);
        first.push('\n');
    }
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        exit.code(),
        Some(130),
        "SIGTERM is a clean stop, reported as interrupted"
    );
    assert!(cursor.exists(), "the cursor was saved on the way out");

    // Second run: resume from the cursor file and stop once caught up.
    let args = setup.tail_args(&cursor, true);
    let (code, second, stderr) =
        run(setup.command(&args.iter().map(String::as_str).collect::<Vec<_>>())).await;
    assert_eq!(code, 0, "{stderr}");

    let mut seen = HashSet::new();
    uids(&first, &mut seen);
    let first_count = seen.len();
    uids(&second, &mut seen);
    assert!(
        first_count >= 300 && seen.len() > first_count,
        "{first_count} then {}",
        seen.len()
    );
    assert_eq!(seen, setup.expected_ids(), "none missing, none twice");
}

#[tokio::test]
async fn tail_with_a_bad_identity_fails_clearly() {
    let setup = setup(1).await;
    let foreign = setup.dir.path().join("foreign");
    std::fs::write(
        &foreign,
        setup
            .sim
            .issue_identity(
                &IdentitySpec::default()
                    .roles(["auditor"])
                    .signer(teleport_audit_sim::ca::Signer::ForeignCa),
            )
            .unwrap(),
    )
    .unwrap();
    let cursor = setup.dir.path().join("cursor.json");
    let mut args = setup.tail_args(&cursor, true);
    let at = args.iter().position(|a| a == "--identity-file").unwrap() + 1;
    args[at] = foreign.display().to_string();
    let (code, stdout, stderr) =
        run(setup.command(&args.iter().map(String::as_str).collect::<Vec<_>>())).await;
    assert_eq!(code, 77, "EX_NOPERM: a rejected identity");
    assert!(stdout.is_empty());
    assert!(stderr.contains("code: certificate_rejected"), "{stderr}");
    assert!(stderr.contains("what to do:"), "{stderr}");
    assert!(!cursor.exists(), "no cursor without a connection");
}

#[tokio::test]
async fn demo_runs_and_checks_itself() {
    let mut command = Command::from(support::command([
        "demo",
        "--duration",
        "4s",
        "--no-events",
        "--backlog",
        "300",
    ]));
    command.kill_on_drop(true);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "--no-events writes no events");
    assert!(stderr.contains("none missing, none twice"), "{stderr}");
}

/// `COMMAND | head -n LINES`: reads `lines` JSON lines from the child's stdout, closes it, and
/// waits (30 s at most) for the child to exit: its exit code and stderr.
async fn into_head(mut command: Command, lines: usize) -> (Option<i32>, String) {
    let mut child = command
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..lines {
        let line = reader.next_line().await.unwrap().expect("a line");
        serde_json::from_str::<serde_json::Value>(&line).expect("a JSON line");
    }
    drop(reader);
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("it exits once its reader is gone")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn demo_into_head_exits_zero_quietly() {
    let demo = Command::from(support::command([
        "demo",
        "--duration",
        "20s",
        "--backlog",
        "2000",
    ]));
    // Two lines, then the reader goes away, long before the demo's restart.
    let (code, stderr) = into_head(demo, 2).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert!(
        !stderr.contains("resuming"),
        "no restart without a reader: {stderr}"
    );
}

#[tokio::test]
async fn tail_into_head_exits_zero_quietly() {
    let setup = setup(5000).await;
    let cursor = setup.dir.path().join("head.cursor");
    let (code, stderr) = into_head(setup.tail(&cursor, false), 5).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[tokio::test]
async fn sigterm_with_stdout_blocked_exits_within_seconds_and_loses_nothing() {
    let setup = setup(20_000).await;
    let cursor = setup.dir.path().join("blocked.cursor");
    let mut child = setup
        .tail(&cursor, false)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Nobody reads: the pipe fills and every write blocks.
    let stdout = child.stdout.take().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    sigterm(child.id().unwrap());
    let began = std::time::Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("tail exits within seconds of SIGTERM though stdout is blocked")
        .unwrap();
    assert_eq!(status.code(), Some(130), "interrupted");
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "{:?}",
        began.elapsed()
    );

    // What reached the pipe, then a resumed run from the cursor: at least once, nothing lost.
    let mut written = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut BufReader::new(stdout), &mut written)
        .await
        .unwrap();
    let mut delivered: HashSet<String> = HashSet::new();
    for line in written.lines() {
        // The last line may be torn: the pipe took part of a write.
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(line) {
            delivered.insert(value["uid"].as_str().unwrap().to_owned());
        }
    }
    assert!(!delivered.is_empty());
    let (code, rest, stderr) = run(setup.tail(&cursor, true)).await;
    assert_eq!(code, 0, "{stderr}");
    for line in rest.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        delivered.insert(value["uid"].as_str().unwrap().to_owned());
    }
    let expected = setup.expected_ids();
    let lost = expected.difference(&delivered).count();
    assert_eq!(lost, 0, "{lost} of {} events lost", expected.len());
}
