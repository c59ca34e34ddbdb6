//! `teleport-audit session SESSION_ID` end to end against the simulated cluster: the recording
//! as NDJSON (each line with the session's `sid`), `--from-index`, `--skip-session-types`, a
//! recording that never appears, and a malformed session id refused before connecting.

use std::time::Duration;

mod support;

use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;
use tokio::process::Command;

use support::ClientFiles;

struct Setup {
    sim: SimCluster,
    files: ClientFiles,
}

async fn setup() -> Setup {
    let now = OffsetDateTime::now_utc();
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .backlog(
            1000,
            now - time::Duration::hours(2),
            now - time::Duration::hours(1),
        )
        .start()
        .await
        .unwrap();
    let files = ClientFiles::for_sim(&sim);
    Setup { sim, files }
}

impl Setup {
    /// The backlog's longest session: its id and its number of events.
    fn longest_session(&self) -> (String, usize) {
        let now = OffsetDateTime::now_utc();
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for event in self
            .sim
            .store()
            .events_in_range(now - time::Duration::hours(3), now)
            .unwrap()
        {
            let json: serde_json::Value = serde_json::from_str(&event.json).unwrap();
            if let Some(sid) = json["sid"].as_str().filter(|s| !s.is_empty()) {
                *counts.entry(sid.to_owned()).or_default() += 1;
            }
        }
        let longest = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .unwrap();
        assert!(longest.1 >= 3, "{longest:?}");
        longest
    }

    fn session(&self, sid: &str, extra: &[&str]) -> Command {
        let mut args = vec![
            "session".to_owned(),
            sid.to_owned(),
            "--proxy".into(),
            self.sim.proxy_addr().to_string(),
            "--identity-file".into(),
            self.files.identity.display().to_string(),
            "--proxy-ca".into(),
            self.files.proxy_ca.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut command = Command::from(support::command(args));
        command.kill_on_drop(true);
        command
    }
}

async fn run(mut command: Command) -> (i32, String, String) {
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the command finished in time")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Each line's `(ei, event)`, checking it is JSON with the session's `sid`.
fn lines(stdout: &str, sid: &str) -> Vec<(i64, String)> {
    stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(value["sid"], sid, "{line}");
            (
                value["ei"].as_i64().expect("ei"),
                value["event"].as_str().expect("event").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn session_prints_the_recording_as_ndjson_and_resumes_from_an_index() {
    let setup = setup().await;
    let (sid, count) = setup.longest_session();
    let (code, stdout, stderr) = run(setup.session(&sid, &[])).await;
    assert_eq!(code, 0, "{stderr}");
    let all = lines(&stdout, &sid);
    assert_eq!(all.len(), count, "{stdout}");
    let indices: Vec<i64> = all.iter().map(|(ei, _)| *ei).collect();
    assert_eq!(indices, (0..count as i64).collect::<Vec<_>>());

    let (code, stdout, stderr) = run(setup.session(&sid, &["--from-index", "2"])).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines(&stdout, &sid), all[2..]);

    let first_type = all[0].1.clone();
    let skip = format!("{first_type}, print");
    let (code, stdout, stderr) = run(setup.session(&sid, &["--skip-session-types", &skip])).await;
    assert_eq!(code, 0, "{stderr}");
    let kept: Vec<_> = all
        .iter()
        .filter(|(_, t)| *t != first_type)
        .cloned()
        .collect();
    assert_eq!(lines(&stdout, &sid), kept);
    let (_, stdout, _) = run(setup.session(&sid, &["--skip-session-types", "none"])).await;
    assert_eq!(lines(&stdout, &sid), all);
}

#[tokio::test]
async fn an_unknown_recording_type_is_refused_unless_unknown_types_are_allowed() {
    let setup = setup().await;
    let (sid, _) = setup.longest_session();
    let skip = ["--skip-session-types", "print,sesion.end"];
    let (code, stdout, stderr) = run(setup.session(&sid, &skip)).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("closest: session.end"), "{stderr}");

    let (code, stdout, stderr) = run(setup.session(&sid, &["--skip-session-types", "none"])).await;
    assert_eq!(code, 0, "{stderr}");
    let all = lines(&stdout, &sid);
    let without_print: Vec<_> = all.iter().filter(|(_, t)| t != "print").cloned().collect();
    let allowed = [&skip[..], &["--allow-unknown-types"]].concat();
    let (code, stdout, stderr) = run(setup.session(&sid, &allowed)).await;
    assert_eq!(code, 0, "{stderr}");
    // The unknown name skips nothing; `print` is still skipped.
    assert_eq!(lines(&stdout, &sid), without_print);
    assert!(
        stderr.contains("sesion.end"),
        "logged once as taken as given: {stderr}"
    );
}

#[tokio::test]
async fn a_recording_that_never_appears_exits_unavailable_with_its_code() {
    let setup = setup().await;
    let unknown = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";
    let (code, stdout, stderr) = run(setup.session(unknown, &["--recording-wait", "300ms"])).await;
    assert_eq!(code, 69, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("recording_not_found"), "{stderr}");
    assert!(stderr.contains(unknown), "{stderr}");
}

#[tokio::test]
async fn a_malformed_session_id_is_a_usage_error_before_connecting() {
    let setup = setup().await;
    let mut command = Command::from(support::command([
        "session",
        "not-a-session-id",
        "--proxy",
        "127.0.0.1:9",
        "--identity-file",
        &setup.files.identity.display().to_string(),
    ]));
    command.kill_on_drop(true);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("session_id"), "{stderr}");
    assert!(stderr.contains("invalid_config"), "{stderr}");
    let (code, _, stderr) = run(setup.session(
        "6ba7b810-9dad-41d1-80b4-00c04fd430c8",
        &["--from-index", "-1"],
    ))
    .await;
    assert_eq!(code, 2, "{stderr}");
}
