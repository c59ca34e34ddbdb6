//! The binary never echoes a secret: every subcommand × every flag, positional argument and
//! environment variable clap reads, *generated from the command-line definition* (a new flag
//! or subcommand is covered without editing this test), with a real identity file's text as
//! the value: as `--flag value`, `--flag=value`, `-f value`, `-fvalue`, as a positional
//! argument (after `--` too) and where the subcommand's name belongs. Each run must exit with
//! the usage code 2, saying where the value was given, print no line of the identity and no
//! 20-character piece of its base64, and end promptly (commands that would connect get an
//! unreachable loopback proxy and a short timeout; anything left running is killed).

use std::collections::HashSet;
use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

use clap::{Arg, Command};
use teleport_audit_cli::secret_guard;
use teleport_audit_sim::ca::{ClusterCa, IdentitySpec, KeyEncoding, KeyType};
use tokio::process::Command as Process;

const BIN: &str = env!("CARGO_BIN_EXE_teleport-audit");

/// The shortest piece of a base64 line that must never be printed.
const WINDOW: usize = 20;

/// Generous: a refused command line ends in milliseconds; this only stops a hang.
const HANG: Duration = Duration::from_secs(60);

/// Values for the flags every run carries, so that a command that were to start anyway would
/// fail fast instead of connecting, waiting or running long.
const BASELINE: &[(&str, &str)] = &[
    ("proxy", "127.0.0.1:9"),
    ("timeout", "1s"),
    ("duration", "1s"),
    ("backlog", "0"),
];

/// What must never appear in the output: every line of the secret, and every
/// [`WINDOW`]-character piece of its base64 runs.
struct Secret {
    text: String,
    lines: Vec<String>,
    windows: HashSet<String>,
}

impl Secret {
    fn new(text: String) -> Self {
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let mut windows = HashSet::new();
        for line in &lines {
            for token in line.split(|c: char| !is_base64(c)) {
                if token.len() >= WINDOW {
                    for start in 0..=token.len() - WINDOW {
                        windows.insert(token[start..start + WINDOW].to_owned());
                    }
                }
            }
        }
        assert!(windows.len() > 100, "the secret has base64 to look for");
        Secret {
            text,
            lines,
            windows,
        }
    }

    /// What of the secret `output` holds, if anything.
    fn leaked_in(&self, output: &str) -> Option<String> {
        if let Some(line) = self.lines.iter().find(|l| output.contains(l.as_str())) {
            return Some(format!("the line {line:?}"));
        }
        let chars: Vec<char> = output.chars().collect();
        chars.windows(WINDOW).find_map(|w| {
            let piece: String = w.iter().collect();
            self.windows
                .contains(&piece)
                .then(|| format!("the base64 piece {piece:?}"))
        })
    }
}

fn is_base64(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')
}

/// One run of the binary.
#[derive(Debug)]
struct Case {
    what: String,
    args: Vec<OsString>,
    env: Option<(String, String)>,
}

/// Every command path in the definition: the root, each subcommand, theirs, and `help`.
fn commands(command: &Command) -> Vec<Vec<&Command>> {
    let mut out = vec![vec![command]];
    for sub in command.get_subcommands() {
        for mut path in commands(sub) {
            path.insert(0, command);
            out.push(path);
        }
    }
    out
}

fn baseline(command: &Command, except: Option<&Arg>) -> Vec<OsString> {
    let mut args = Vec::new();
    for (long, value) in BASELINE {
        if let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(long))
            && except.is_none_or(|e| e.get_id() != arg.get_id())
        {
            args.push(format!("--{long}").into());
            args.push((*value).into());
        }
    }
    args
}

/// The cases for one secret: generated from the definition.
fn cases(root: &Command, secret: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut env_cases = Vec::new();
    for path in commands(root) {
        let command = *path.last().unwrap();
        let names: Vec<OsString> = path[1..].iter().map(|c| c.get_name().into()).collect();
        let label = path
            .iter()
            .map(|c| c.get_name())
            .collect::<Vec<_>>()
            .join(" ");
        let mut add = |what: String, tail: Vec<OsString>, except: Option<&Arg>| {
            let mut args = names.clone();
            args.extend(baseline(command, except));
            args.extend(tail);
            cases.push(Case {
                what: format!("{label}: {what}"),
                args,
                env: None,
            });
        };
        for arg in command.get_arguments() {
            let takes_value = arg.get_action().takes_values();
            if let Some(long) = arg.get_long() {
                add(
                    format!("--{long} VALUE"),
                    vec![format!("--{long}").into(), secret.into()],
                    Some(arg),
                );
                add(
                    format!("--{long}=VALUE"),
                    vec![format!("--{long}={secret}").into()],
                    Some(arg),
                );
            }
            if let Some(short) = arg.get_short() {
                add(
                    format!("-{short} VALUE"),
                    vec![format!("-{short}").into(), secret.into()],
                    Some(arg),
                );
                if takes_value {
                    add(
                        format!("-{short}VALUE"),
                        vec![format!("-{short}{secret}").into()],
                        Some(arg),
                    );
                }
            }
            if arg.is_positional() {
                let earlier: Vec<OsString> = command
                    .get_positionals()
                    .take_while(|p| p.get_id() != arg.get_id())
                    .map(|_| "./x".into())
                    .collect();
                let mut tail = earlier;
                tail.push(secret.into());
                add(format!("positional {}", arg.get_id()), tail, None);
            }
            if let Some(var) = arg.get_env() {
                let mut args = names.clone();
                args.extend(baseline(command, Some(arg)));
                env_cases.push(Case {
                    what: format!("{label}: environment {}", var.to_string_lossy()),
                    args,
                    env: Some((var.to_string_lossy().into_owned(), secret.to_owned())),
                });
            }
        }
        // Where a positional argument or the subcommand's name goes, and after `--`.
        add("an argument".to_owned(), vec![secret.into()], None);
        add(
            "an argument after --".to_owned(),
            vec!["--".into(), secret.into()],
            None,
        );
    }
    cases.extend(env_cases);
    cases
}

async fn run(case: &Case) -> (Option<i32>, String, String) {
    let mut process = Process::new(BIN);
    process
        .args(&case.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("TELEPORT_") || name.to_ascii_lowercase().ends_with("_proxy") {
            process.env_remove(&*name);
        }
    }
    process.env("RUST_LOG", "trace");
    if let Some((name, value)) = &case.env {
        process.env(name, value);
    }
    let output = tokio::time::timeout(HANG, process.output())
        .await
        .unwrap_or_else(|_| panic!("{}: still running after {HANG:?}; killed", case.what))
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn identities() -> Vec<Secret> {
    let ca = ClusterCa::new("secrets.teleport.test").expect("a CA");
    let issue = |spec: IdentitySpec| {
        ca.issue_identity(&spec.username("auditor").roles(["auditor"]))
            .expect("an identity")
    };
    let rsa = issue(
        IdentitySpec::default()
            .key_type(KeyType::Rsa2048)
            .key_encoding(KeyEncoding::Pkcs1),
    );
    // The private key block alone, as someone might paste it.
    let end = rsa.find("-----END").expect("a PEM block");
    let line_end = rsa[end..].find('\n').map_or(rsa.len(), |i| end + i + 1);
    let key_block = rsa[..line_end].to_owned();
    vec![
        Secret::new(issue(IdentitySpec::default())),
        Secret::new(rsa),
        Secret::new(key_block),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subcommand_flag_or_variable_echoes_an_identity() {
    let root = secret_guard::prepare(teleport_audit_cli::command());
    let names: Vec<&str> = root.get_subcommands().map(Command::get_name).collect();
    for expected in ["tail", "identity", "ping", "demo", "help"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let mut failures = Vec::new();
    let mut runs = 0;
    for secret in identities() {
        let cases = cases(&root, &secret.text);
        assert!(cases.len() > 50, "{} cases", cases.len());
        for case in &cases {
            runs += 1;
            let (code, stdout, stderr) = run(case).await;
            let mut problems = Vec::new();
            for (stream, output) in [("stdout", &stdout), ("stderr", &stderr)] {
                if let Some(leak) = secret.leaked_in(output) {
                    problems.push(format!("{stream} holds {leak}"));
                }
            }
            if code != Some(2) {
                problems.push(format!("exit code {code:?}, not 2"));
            }
            if !stderr.contains("looks like the identity file's contents") {
                problems.push("stderr does not say what was wrong".to_owned());
            }
            if !stdout.is_empty() {
                problems.push("printed to stdout".to_owned());
            }
            if !problems.is_empty() {
                failures.push(format!("{}: {}", case.what, problems.join("; ")));
            }
        }
    }
    eprintln!("{runs} runs of the binary with identity text as a value");
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn help_and_version_still_work() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["tail", "--help"],
        &["help", "ping"],
    ] {
        let case = Case {
            what: args.join(" "),
            args: args.iter().map(OsString::from).collect(),
            env: None,
        };
        let (code, stdout, stderr) = run(&case).await;
        assert_eq!(code, Some(0), "{}: {stderr}", case.what);
        assert!(stdout.contains("teleport-audit"), "{}: {stdout}", case.what);
    }
}

#[tokio::test]
async fn usage_errors_still_exit_2_and_name_the_argument() {
    let case = Case {
        what: "tail --mode".to_owned(),
        args: ["tail", "--proxy", "127.0.0.1:9", "--mode", "sometimes"]
            .iter()
            .map(OsString::from)
            .collect(),
        env: None,
    };
    let (code, _, stderr) = run(&case).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("'--mode <MODE>'"), "{stderr}");
    assert!(stderr.contains("auto, search, export"), "{stderr}");
    assert!(!stderr.contains("sometimes"), "{stderr}");
}
