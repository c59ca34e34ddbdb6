//! Settings and exit statuses through the binary: every flag's `TELEPORT_AUDIT_<FLAG>`
//! variable and Teleport's own names, the `--config` file and the precedence flag > variable >
//! file, settings refused before connecting (2), and an exit status per class of failure: a
//! cursor of another cluster (65), a refused port (69), an expired identity (77). (SIGTERM's 130
//! and a rejected identity's 77 are in cli.rs.)

use std::path::{Path, PathBuf};
use std::time::Duration;

mod support;

use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;
use tokio::process::Command;

use support::ClientFiles;

const USAGE: i32 = 2;
const DATA: i32 = 65;
const UNAVAILABLE: i32 = 69;
const PERMISSION: i32 = 77;

async fn run(command: std::process::Command) -> (i32, String, String) {
    let mut command = Command::from(command);
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

/// The binary with `args` and the environment variables `env` (and no others of ours).
fn command(args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut command = support::command(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// A loopback address where nothing listens.
fn refused_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

async fn sim(cluster: &str, backlog: u64) -> (SimCluster, ClientFiles) {
    let now = OffsetDateTime::now_utc();
    let sim = SimCluster::builder()
        .cluster_name(cluster)
        .backend(Backend::File)
        .backlog(
            backlog,
            now - time::Duration::hours(2),
            now - time::Duration::hours(1),
        )
        .start()
        .await
        .unwrap();
    let files = ClientFiles::for_sim(&sim);
    (sim, files)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("teleport-audit.toml");
    std::fs::write(&file, text).unwrap();
    file
}

#[tokio::test]
async fn settings_are_checked_before_connecting_and_exit_2() {
    // A port where nothing listens: a run that got as far as connecting would exit 69.
    let proxy = refused_addr();
    let dir = tempfile::tempdir().unwrap();
    let cursor = dir.path().join("cursor.json");
    let identity = dir.path().join("no-identity");
    let base = [
        "tail",
        "--proxy",
        &proxy,
        "--identity-file",
        path(&identity),
    ];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };
    for (args, env, expected) in [
        (with(&["--page-size", "0"]), vec![], "--page-size"),
        (with(&["--page-size", "20000"]), vec![], "--page-size"),
        (with(&["--output", "out.ndjson"]), vec![], "--cursor-file"),
        (
            with(&["--poll-interval", "soon"]),
            vec![],
            "--poll-interval",
        ),
        (
            with(&[]),
            vec![("TELEPORT_AUDIT_PAGE_SIZE", "0")],
            "--page-size",
        ),
        (
            with(&[]),
            vec![("TELEPORT_AUDIT_UNTIL_NOW", "maybe")],
            "--until-now",
        ),
        (
            {
                let mut args = with(&["--mode", "sideways"]);
                args.extend(["--cursor-file".to_owned(), path(&cursor).to_owned()]);
                args
            },
            vec![],
            "--mode",
        ),
        (vec!["tail".to_owned()], vec![], "--proxy"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = run(command(&args, &env)).await;
        assert_eq!(code, USAGE, "{args:?} {env:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(stderr.contains(expected), "{args:?} {env:?}: {stderr}");
        assert!(!cursor.exists(), "{args:?}: nothing was written");
    }
}

#[tokio::test]
async fn help_lists_the_exit_statuses_and_the_settings() {
    for args in [&["--help"][..], &["tail", "--help"]] {
        let (code, stdout, _) = run(command(args, &[])).await;
        assert_eq!(code, 0);
        for expected in [
            "Exit status:",
            "  65 ",
            "  69 ",
            "  77 ",
            "  130 ",
            "TELEPORT_AUDIT_<FLAG>",
            "--config <FILE>",
        ] {
            assert!(stdout.contains(expected), "{args:?}: {expected}: {stdout}");
        }
    }
    let (_, stdout, _) = run(command(&["tail", "--help"], &[])).await;
    assert!(
        stdout.contains("[env: TELEPORT_AUDIT_CURSOR_FILE]"),
        "{stdout}"
    );
    assert!(stdout.contains("TELEPORT_PROXY"), "{stdout}");
}

#[tokio::test]
async fn every_variable_name_reaches_its_flag() {
    let (sim, files) = sim("settings.teleport.test", 0).await;
    let good = sim.proxy_addr().to_string();
    let bad = refused_addr();
    let identity = path(&files.identity);
    let proxy_ca = path(&files.proxy_ca);
    let ping = |env: &[(&str, &str)]| command(&["ping", "--timeout", "3s"], env);

    // TELEPORT_AUDIT_<FLAG> for every setting.
    let (code, stdout, stderr) = run(ping(&[
        ("TELEPORT_AUDIT_PROXY", &good),
        ("TELEPORT_AUDIT_IDENTITY_FILE", identity),
        ("TELEPORT_AUDIT_PROXY_CA", proxy_ca),
    ]))
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("settings.teleport.test"), "{stdout}");

    // Teleport's own names.
    let (code, stdout, stderr) = run(ping(&[
        ("TELEPORT_PROXY", &good),
        ("TELEPORT_IDENTITY_FILE", identity),
        ("TELEPORT_AUDIT_PROXY_CA", proxy_ca),
    ]))
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("settings.teleport.test"), "{stdout}");
    let auth = sim.auth_addr().to_string();
    let (code, stdout, stderr) = run(ping(&[
        ("TELEPORT_AUTH_SERVER", &auth),
        ("TELEPORT_IDENTITY_FILE", identity),
    ]))
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("settings.teleport.test"), "{stdout}");

    // TELEPORT_AUDIT_* comes before Teleport's name.
    let (code, _, stderr) = run(ping(&[
        ("TELEPORT_AUDIT_PROXY", &bad),
        ("TELEPORT_PROXY", &good),
        ("TELEPORT_IDENTITY_FILE", identity),
        ("TELEPORT_AUDIT_PROXY_CA", proxy_ca),
    ]))
    .await;
    assert_eq!(code, UNAVAILABLE, "{stderr}");
    assert!(stderr.contains("connection_refused"), "{stderr}");

    // A flag beats a variable of the other kind of address (they conflict): --auth wins over
    // TELEPORT_PROXY.
    let (code, _, stderr) = run(command(
        &["ping", "--timeout", "3s", "--auth", &auth],
        &[
            ("TELEPORT_PROXY", &bad),
            ("TELEPORT_IDENTITY_FILE", identity),
        ],
    ))
    .await;
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test]
async fn a_flag_beats_its_variable_which_beats_the_file() {
    let (sim, files) = sim("precedence.teleport.test", 0).await;
    let good = sim.proxy_addr().to_string();
    let bad = refused_addr();
    let config = write_config(
        files.dir.path(),
        &format!(
            "# teleport-audit settings\nproxy = \"{bad}\"\nidentity-file = {:?}\nproxy-ca = {:?}\ntimeout = \"3s\"\n",
            path(&files.identity),
            path(&files.proxy_ca),
        ),
    );
    let config = path(&config);

    // The file alone: its proxy is where nothing listens.
    let (code, _, stderr) = run(command(&["ping", "--config", config], &[])).await;
    assert_eq!(code, UNAVAILABLE, "{stderr}");
    assert!(stderr.contains(&bad), "{stderr}");

    // The variable beats the file (and --config comes from its variable too).
    let env = [
        ("TELEPORT_AUDIT_CONFIG", config),
        ("TELEPORT_AUDIT_PROXY", good.as_str()),
    ];
    let (code, stdout, stderr) = run(command(&["ping"], &env)).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("precedence.teleport.test"), "{stdout}");

    // The flag beats the variable.
    let (code, _, stderr) = run(command(&["ping", "--proxy", &bad], &env)).await;
    assert_eq!(code, UNAVAILABLE, "{stderr}");

    // Teleport's names are variables too: they beat the file.
    let (code, _, stderr) = run(command(
        &["ping", "--config", config],
        &[("TELEPORT_PROXY", good.as_str())],
    ))
    .await;
    assert_eq!(code, 0, "{stderr}");

    // A flag beats a file value it conflicts with (--auth and the file's proxy).
    let auth = sim.auth_addr().to_string();
    let (code, _, stderr) = run(command(&["ping", "--config", config, "--auth", &auth], &[])).await;
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test]
async fn a_bad_config_file_is_a_usage_error_that_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = refused_addr();
    for (text, expected) in [
        (
            "proxxy = \"teleport.example.com:443\"\n",
            "unknown key `proxxy`; the closest key is `proxy`",
        ),
        (
            "page-size = \"1000\"\n",
            "`page-size` must be an integer, not string",
        ),
        (
            "page-size = 0\n",
            "invalid value for `page-size` (not shown)",
        ),
        (
            "timeout = \"3 fortnights\"\n",
            "invalid value for `timeout` (not shown)",
        ),
        (
            "until-now = 1\n",
            "`until-now` must be a boolean (true or false)",
        ),
        ("proxy = [\"a\"\n", "not valid TOML at line 1"),
    ] {
        let config = write_config(dir.path(), text);
        let args = ["tail", "--proxy", &proxy, "--config", path(&config)];
        let (code, stdout, stderr) = run(command(&args, &[])).await;
        assert_eq!(code, USAGE, "{text}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains(expected), "{text}: {stderr}");
        assert!(
            stderr.contains(&format!("config file {}", config.display())),
            "{stderr}"
        );
        assert!(!stderr.contains("fortnights"), "{stderr}");
    }
    // Not a regular file, or missing.
    for config in [dir.path().to_path_buf(), dir.path().join("missing.toml")] {
        let args = ["tail", "--proxy", &proxy, "--config", path(&config)];
        let (code, _, stderr) = run(command(&args, &[])).await;
        assert_eq!(code, USAGE, "{stderr}");
        assert!(stderr.contains("config file"), "{stderr}");
    }
}

#[tokio::test]
async fn key_material_in_the_config_file_or_teleports_variables_is_refused_unseen() {
    let (sim, files) = sim("secret.teleport.test", 0).await;
    let identity = std::fs::read_to_string(&files.identity).unwrap();
    let secret_lines: Vec<&str> = identity
        .lines()
        .filter(|line| line.len() > 20 && !line.starts_with("-----"))
        .collect();
    assert!(secret_lines.len() > 3);
    let check = |code: i32, stdout: &str, stderr: &str| {
        assert_eq!(code, USAGE, "{stderr}");
        assert!(stdout.is_empty());
        assert!(
            stderr.contains("looks like the identity file's contents or other key material"),
            "{stderr}"
        );
        for line in &secret_lines {
            assert!(
                !stderr.contains(&line[..20]),
                "a piece of the key: {stderr}"
            );
        }
    };
    let proxy = sim.proxy_addr().to_string();
    for key in ["identity-file", "identity", "proxy"] {
        let config = write_config(files.dir.path(), &format!("{key} = '''\n{identity}'''\n"));
        let (code, stdout, stderr) = run(command(
            &["ping", "--proxy", &proxy, "--config", path(&config)],
            &[],
        ))
        .await;
        check(code, &stdout, &stderr);
        assert!(stderr.contains("in the config file"), "{stderr}");
    }
    for var in [
        "TELEPORT_PROXY",
        "TELEPORT_IDENTITY_FILE",
        "TELEPORT_AUTH_SERVER",
    ] {
        let (code, stdout, stderr) = run(command(&["ping"], &[(var, &identity)])).await;
        check(code, &stdout, &stderr);
        assert!(stderr.contains(var), "{stderr}");
    }
}

#[tokio::test]
async fn exit_statuses_by_class() {
    let (sim_a, files_a) = sim("a.teleport.test", 50).await;
    let (sim_b, files_b) = sim("b.teleport.test", 50).await;
    let connect = |sim: &SimCluster, files: &ClientFiles| {
        vec![
            "--proxy".to_owned(),
            sim.proxy_addr().to_string(),
            "--identity-file".to_owned(),
            files.identity.display().to_string(),
            "--proxy-ca".to_owned(),
            files.proxy_ca.display().to_string(),
        ]
    };
    let cursor = files_a.dir.path().join("cursor.json");
    let tail = |connect: Vec<String>| {
        let mut args = vec!["tail".to_owned()];
        args.extend(connect);
        args.extend(
            [
                "--backfill-start",
                "3h",
                "--until-now",
                "--max-lateness",
                "200ms",
                "--cursor-file",
                path(&cursor),
            ]
            .map(str::to_owned),
        );
        args
    };
    let args = tail(connect(&sim_a, &files_a));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run(command(&args, &[])).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 50);

    // Data: the cursor of cluster a, against cluster b.
    let args = tail(connect(&sim_b, &files_b));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run(command(&args, &[])).await;
    assert_eq!(code, DATA, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("invalid_cursor"), "{stderr}");

    // Unavailable: nothing listens.
    let bad = refused_addr();
    let identity = path(&files_a.identity);
    let (code, _, stderr) = run(command(
        &[
            "ping",
            "--proxy",
            &bad,
            "--identity-file",
            identity,
            "--timeout",
            "3s",
        ],
        &[],
    ))
    .await;
    assert_eq!(code, UNAVAILABLE, "{stderr}");
    assert!(stderr.contains("connection_refused"), "{stderr}");

    // Permission: an expired identity.
    let expired = files_a.dir.path().join("expired");
    sim_a
        .write_identity_file(
            &IdentitySpec::default().roles(["auditor"]).expired(),
            &expired,
        )
        .unwrap();
    let mut args = connect(&sim_a, &files_a);
    args[3] = expired.display().to_string();
    let mut ping = vec!["ping".to_owned()];
    ping.extend(args);
    let ping: Vec<&str> = ping.iter().map(String::as_str).collect();
    let (code, _, stderr) = run(command(&ping, &[])).await;
    assert_eq!(code, PERMISSION, "{stderr}");
    assert!(stderr.contains("identity_expired"), "{stderr}");
}
