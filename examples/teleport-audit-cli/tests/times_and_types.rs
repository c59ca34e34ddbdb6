//! `tail`'s time and type flags through the binary against the simulated cluster: the forms of
//! `--backfill-start` and `--until` (a range delivered exactly, in search and export mode),
//! `--types` with spaces and codes, `--skip-types`, and the usage errors of a typo, an
//! ambiguous number or a start in the future, given before anything is dialed.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::process::Command;

use support::ClientFiles;

/// A cluster with `backlog` events spread over the hour that ended an hour ago.
struct Cluster {
    sim: SimCluster,
    files: ClientFiles,
    /// The backlog's first and last possible times.
    start: OffsetDateTime,
}

impl Cluster {
    async fn start(backend: Backend, backlog: u64) -> Self {
        let now = OffsetDateTime::now_utc();
        let start = now - time::Duration::hours(2);
        let sim = SimCluster::builder()
            .backend(backend)
            .backlog(backlog, start, now - time::Duration::hours(1))
            .start()
            .await
            .unwrap();
        let files = ClientFiles::for_sim(&sim);
        Self { sim, files, start }
    }

    /// `tail` against the cluster with `args` after the connection flags; exit code, stdout,
    /// stderr.
    async fn tail(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec![
            "tail".to_owned(),
            "--proxy".into(),
            self.sim.proxy_addr().to_string(),
            "--identity-file".into(),
            self.files.identity.display().to_string(),
            "--proxy-ca".into(),
            self.files.proxy_ca.display().to_string(),
            "--page-size".into(),
            "100".into(),
            "--poll-interval".into(),
            "200ms".into(),
            "--max-lateness".into(),
            "500ms".into(),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        run(&all).await
    }

    /// The uids of the events in `[from, to]` whose type passes `keep`.
    fn expected(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        keep: impl Fn(&str) -> bool,
    ) -> BTreeSet<String> {
        self.sim
            .store()
            .events_in_range(from, to)
            .unwrap()
            .into_iter()
            .filter(|event| keep(&event.event_type))
            .map(|event| event.uid)
            .collect()
    }
}

/// The binary with `args`; exit code, stdout, stderr.
async fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (i32, String, String) {
    let mut command = Command::from(support::command(args));
    command.kill_on_drop(true);
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

/// The events written: uid to (type, time), each uid once.
fn written(ndjson: &str) -> BTreeMap<String, (String, OffsetDateTime)> {
    let mut events = BTreeMap::new();
    for line in ndjson.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        let uid = value["uid"].as_str().expect("a uid").to_owned();
        let event_type = value["event"].as_str().expect("a type").to_owned();
        let time = OffsetDateTime::parse(value["time"].as_str().expect("a time"), &Rfc3339)
            .expect("an RFC 3339 time");
        assert!(
            events.insert(uid.clone(), (event_type, time)).is_none(),
            "{uid} written twice"
        );
    }
    events
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap()
}

/// Whole seconds: a unix time in seconds says no more.
fn whole_second(time: OffsetDateTime) -> OffsetDateTime {
    time.replace_nanosecond(0).unwrap()
}

/// Whole milliseconds.
fn whole_milli(time: OffsetDateTime) -> OffsetDateTime {
    time.replace_millisecond(time.millisecond()).unwrap()
}

/// A range of the backlog given as unix seconds and unix milliseconds is delivered exactly, and
/// the log says how each was read. (`--backfill-start 1764547200` used to be an age of 56 years:
/// everything since 1970.)
async fn delivers_exactly_a_range(backend: Backend, mode: &str) {
    let cluster = Cluster::start(backend, 1500).await;
    let from = whole_second(cluster.start + time::Duration::minutes(15));
    let to = whole_milli(cluster.start + time::Duration::minutes(40));
    let (code, stdout, stderr) = cluster
        .tail(&[
            "--mode",
            mode,
            "--backfill-start",
            &from.unix_timestamp().to_string(),
            "--until",
            &(to.unix_timestamp_nanos() / 1_000_000).to_string(),
        ])
        .await;
    assert_eq!(code, 0, "{stderr}");
    let got = written(&stdout);
    let expected = cluster.expected(from, to, |_| true);
    assert!(
        expected.len() > 300,
        "a range of the backlog: {}",
        expected.len()
    );
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "{mode}: exactly the events of the range; {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "backfill from {} (read as unix seconds)",
            rfc3339(from)
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "until {} (read as unix milliseconds)",
            rfc3339(to)
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_range_in_unix_seconds_and_milliseconds_by_search() {
    delivers_exactly_a_range(Backend::File, "search").await;
}

#[tokio::test]
async fn a_range_in_unix_seconds_and_milliseconds_by_export() {
    delivers_exactly_a_range(
        Backend::Athena {
            flush_interval: Duration::from_secs(1),
        },
        "export",
    )
    .await;
}

/// The issue's example: `1764547200` is 2025-12-01T00:00:00Z, not an age back to 1970 (which
/// delivered the whole backlog).
#[tokio::test]
async fn the_issues_unix_seconds_are_the_first_of_december_2025() {
    let cluster = Cluster::start(Backend::File, 200).await;
    let (code, stdout, stderr) = cluster
        .tail(&[
            "--backfill-start",
            "1764547200",
            "--until",
            "2025-12-01T00:00:01Z",
        ])
        .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "nothing in that second: {stdout}");
    assert!(
        stderr.contains("backfill from 2025-12-01T00:00:00Z (read as unix seconds)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("until 2025-12-01T00:00:01Z (read as an RFC 3339 time)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn types_with_spaces_and_codes_and_skipped_types() {
    let cluster = Cluster::start(Backend::File, 3000).await;
    let from = cluster.start;
    let to = cluster.start + time::Duration::hours(1);
    let (backfill, until) = (rfc3339(from), rfc3339(to));

    // Both types with a space after the comma (the second used to be dropped), and a code.
    for types in ["user.login, role.created", "T1000I , t9000i"] {
        let (code, stdout, stderr) = cluster
            .tail(&[
                "--backfill-start",
                &backfill,
                "--until",
                &until,
                "--types",
                types,
            ])
            .await;
        assert_eq!(code, 0, "{stderr}");
        let got = written(&stdout);
        let expected = cluster.expected(from, to, |t| t == "user.login" || t == "role.created");
        assert_eq!(
            got.keys().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{types}"
        );
        let kinds: BTreeSet<&str> = got.values().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            kinds,
            BTreeSet::from(["role.created", "user.login"]),
            "{types}"
        );
    }

    // Skipped types are read and not written; a code stands for its type here too.
    let (code, stdout, stderr) = cluster
        .tail(&[
            "--backfill-start",
            &backfill,
            "--until",
            &until,
            "--skip-types",
            "user.login,T9000I",
        ])
        .await;
    assert_eq!(code, 0, "{stderr}");
    let got = written(&stdout);
    let expected = cluster.expected(from, to, |t| t != "user.login" && t != "role.created");
    assert!(expected.len() > 1000, "{}", expected.len());
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), expected);
}

/// A usage error before anything is opened or dialed (the proxy address answers nothing);
/// exit code 2, and stderr.
async fn usage_error(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let identity = dir.path().join("identity");
    std::fs::write(&identity, "not read: the flags are checked first").unwrap();
    let mut all = vec![
        "tail",
        "--proxy",
        "127.0.0.1:9",
        "--identity-file",
        identity.to_str().unwrap(),
    ];
    all.extend(args);
    let (code, stdout, stderr) = run(&all).await;
    assert_eq!(code, 2, "{args:?}: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!stderr.contains("connect"), "{args:?}: {stderr}");
    stderr
}

#[tokio::test]
async fn a_mistyped_type_is_a_usage_error_naming_the_closest() {
    let stderr = usage_error(&["--types", "role.created, user.lgoin"]).await;
    assert!(
        stderr.contains("user.lgoin (closest: user.login, "),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-unknown-types"), "{stderr}");
    let stderr = usage_error(&["--skip-types", "T1000X"]).await;
    assert!(stderr.contains("T1000X (closest: T1000"), "{stderr}");
}

#[tokio::test]
async fn unknown_types_are_taken_as_given_when_allowed() {
    let cluster = Cluster::start(Backend::File, 500).await;
    let (code, stdout, stderr) = cluster
        .tail(&[
            "--backfill-start",
            &rfc3339(cluster.start),
            "--until",
            "1h",
            "--types",
            "shiny.new, user.login",
            "--allow-unknown-types",
        ])
        .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("not in the event catalogue, taken as given: shiny.new"),
        "{stderr}"
    );
    let got = written(&stdout);
    assert!(!got.is_empty());
    assert!(got.values().all(|(t, _)| t == "user.login"));
}

#[tokio::test]
async fn ambiguous_and_future_times_are_usage_errors() {
    let stderr = usage_error(&["--backfill-start", "90"]).await;
    assert!(
        stderr.contains("write 90s or 90m for an age; a unix time has 10 digits"),
        "{stderr}"
    );
    let stderr = usage_error(&["--backfill-start", "17645472001"]).await;
    assert!(stderr.contains("has 11 digits"), "{stderr}");
    let stderr = usage_error(&["--until", "2025-12-01T00:00:00"]).await;
    assert!(
        stderr.contains("has no UTC offset: add Z for UTC"),
        "{stderr}"
    );
    let tomorrow = rfc3339(OffsetDateTime::now_utc() + time::Duration::days(1));
    let stderr = usage_error(&["--backfill-start", &tomorrow]).await;
    assert!(stderr.contains("is in the future"), "{stderr}");
    let stderr = usage_error(&["--until", "1h", "--until-now"]).await;
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let stderr = usage_error(&["--backfill-start", "2h", "--until", "3h"]).await;
    assert!(stderr.contains("is before the backfill start"), "{stderr}");
    let stderr = usage_error(&["--timeout", "30"]).await;
    assert!(stderr.contains("a number needs a unit"), "{stderr}");
}
