//! The `sim` feature decides whether the binary has the `demo` and `sim` subcommands: with it (the
//! default) they are listed and run; without it (a production build, `--no-default-features
//! --features ring`, which `.ci/run` tests) `--help` does not mention them and asking for one is
//! a usage error.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_teleport-audit");

/// The subcommand names listed under "Commands:" in `--help`.
fn listed_subcommands() -> Vec<String> {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8(output.stdout).unwrap();
    let commands = help
        .split("Commands:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no Commands: section in\n{help}"));
    commands
        .lines()
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn the_everyday_subcommands_are_always_there() {
    let listed = listed_subcommands();
    for name in ["tail", "identity", "ping"] {
        assert!(listed.iter().any(|l| l == name), "{name} not in {listed:?}");
    }
}

#[cfg(feature = "sim")]
#[test]
fn with_the_sim_feature_demo_and_sim_are_listed() {
    let listed = listed_subcommands();
    for name in ["demo", "sim"] {
        assert!(listed.iter().any(|l| l == name), "{name} not in {listed:?}");
    }
}

#[cfg(not(feature = "sim"))]
#[test]
fn without_the_sim_feature_demo_and_sim_are_not_mentioned() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    let listed = listed_subcommands();
    for name in ["demo", "sim"] {
        assert!(!listed.iter().any(|l| l == name), "{name} in {listed:?}");
    }
    assert!(!help.contains("simulated"), "{help}");

    for name in ["demo", "sim"] {
        let output = Command::new(BIN).arg(name).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("unrecognized subcommand"),
            "{name}: {stderr}"
        );
    }
}
