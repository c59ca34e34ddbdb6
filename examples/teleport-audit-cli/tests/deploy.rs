//! `docs/deploy.md` and the files in `docs/deploy/`: the systemd unit passes
//! `systemd-analyze verify` with this binary as its `ExecStart=` and keeps a low
//! `systemd-analyze security` exposure, its command line and settings (and the Kubernetes
//! container's) are ones the binary accepts, and the page shows each file exactly as it is.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_teleport-audit");
/// Where the unit says the binary is installed.
const INSTALLED: &str = "/usr/local/bin/teleport-audit";
/// systemd-analyze on this machine and on CI (the same image). Missing is a failure, not a skip.
const SYSTEMD_ANALYZE: &str = "/usr/bin/systemd-analyze";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy")
}

fn read(name: &str) -> String {
    let path = deploy_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `systemd-analyze verify` on `unit_text` saved as `teleport-audit.service` in a temporary
/// directory: (success, combined output).
fn verify(unit_text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("teleport-audit.service");
    std::fs::write(&unit, unit_text).unwrap();
    let output = Command::new(SYSTEMD_ANALYZE)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap_or_else(|e| panic!("{SYSTEMD_ANALYZE} is needed for this test: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The unit with this build's binary in place of the installed one.
fn unit_for_this_build() -> String {
    let unit = read("teleport-audit.service");
    assert!(unit.contains(INSTALLED), "the unit runs {INSTALLED}");
    unit.replace(INSTALLED, BIN)
}

#[test]
fn the_systemd_unit_verifies_without_a_warning() {
    let (ok, output) = verify(&unit_for_this_build());
    let about_the_unit: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("teleport-audit"))
        .collect();
    assert!(ok, "systemd-analyze verify failed:\n{output}");
    assert!(
        about_the_unit.is_empty(),
        "systemd-analyze verify warns about the unit:\n{output}"
    );
}

/// The check above can fail: a misspelt setting and a missing binary are reported.
#[test]
fn systemd_analyze_reports_a_broken_unit() {
    let unit = unit_for_this_build();
    let (_, output) = verify(&unit.replace("ProtectSystem=strict", "ProtectSystm=strict"));
    assert!(output.contains("ProtectSystm"), "{output}");

    let (ok, output) = verify(&unit.replace(BIN, "/nonexistent/teleport-audit"));
    assert!(!ok, "{output}");
    assert!(output.contains("/nonexistent/teleport-audit"), "{output}");
}

/// `systemd-analyze security --offline=true --threshold=20`: whether the unit's exposure score
/// is at most 2.0 ("OK"; 10 is "UNSAFE"), and the score line.
fn exposure_at_most_2(unit_text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("teleport-audit.service");
    std::fs::write(&unit, unit_text).unwrap();
    let output = Command::new(SYSTEMD_ANALYZE)
        .args(["security", "--offline=true", "--threshold=20"])
        .arg(&unit)
        .output()
        .unwrap_or_else(|e| panic!("{SYSTEMD_ANALYZE} is needed for this test: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let score = stdout
        .lines()
        .find(|line| line.contains("Overall exposure level"))
        .unwrap_or_default()
        .to_owned();
    (
        output.status.success(),
        format!("{score}\n{}", String::from_utf8_lossy(&output.stderr)),
    )
}

/// The hardening holds: `systemd-analyze security` rates the unit 2.0 or better (it is 1.4), and
/// the same unit without its hardening section fails the check.
#[test]
fn the_systemd_unit_is_hardened() {
    let unit = unit_for_this_build();
    let (ok, score) = exposure_at_most_2(&unit);
    assert!(ok, "exposure above 2.0: {score}");

    let hardening = unit.find("# Hardening").expect("a hardening section");
    let end = hardening + unit[hardening..].find("\n\n").unwrap();
    let bare = format!("{}{}", &unit[..hardening], &unit[end..]);
    let (ok, score) = exposure_at_most_2(&bare);
    assert!(!ok, "without hardening: {score}");
}

/// The words of `ExecStart=` (continuation lines joined), with systemd's `${NAME}` variables
/// replaced as systemd would for this unit.
fn exec_start(unit: &str) -> Vec<String> {
    let joined = unit.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("an ExecStart= line");
    line.split_whitespace()
        .map(|word| {
            word.replace(
                "${CREDENTIALS_DIRECTORY}",
                "/run/credentials/teleport-audit.service",
            )
            .replace("${STATE_DIRECTORY}", "/var/lib/teleport-audit")
        })
        .collect()
}

/// `--flag=value` arguments for the `TELEPORT_AUDIT_<FLAG>=value` lines of an environment file.
fn env_file_as_flags(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, value) = line.split_once('=').expect("NAME=value");
            let flag = name
                .strip_prefix("TELEPORT_AUDIT_")
                .unwrap_or_else(|| panic!("{name} is not a TELEPORT_AUDIT_ variable"))
                .to_ascii_lowercase()
                .replace('_', "-");
            format!("--{flag}={value}")
        })
        .collect()
}

#[test]
fn the_units_command_line_and_settings_are_the_binarys() {
    let unit = read("teleport-audit.service");
    let mut args = exec_start(&unit);
    assert_eq!(args[0], INSTALLED);
    assert_eq!(args[1], "tail");
    assert!(
        args.iter()
            .any(|a| a == "/run/credentials/teleport-audit.service/identity"),
        "{args:?}"
    );
    args.extend(env_file_as_flags(&read("teleport-audit.env")));
    let parsed = teleport_audit_cli::command().try_get_matches_from(&args);
    assert!(parsed.is_ok(), "{args:?}: {}", parsed.unwrap_err());
}

#[test]
fn the_kubernetes_command_line_and_settings_are_the_binarys() {
    let manifest = read("kubernetes.yaml");
    let container = manifest
        .split("- name: teleport-audit\n")
        .nth(1)
        .expect("the teleport-audit container");
    let list = |key: &str| -> Vec<String> {
        let section = container
            .split(&format!("\n          {key}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {key}: in the container"));
        section
            .lines()
            .take_while(|line| line.starts_with("            "))
            .map(|line| line.trim().to_owned())
            .collect()
    };
    let mut args = vec![INSTALLED.to_owned()];
    args.extend(
        list("args")
            .iter()
            .map(|a| a.trim_start_matches("- ").to_owned()),
    );
    let env = list("env");
    let mut env_lines = Vec::new();
    for pair in env.chunks(2) {
        let name = pair[0].strip_prefix("- name: ").expect("- name:");
        let value = pair[1].strip_prefix("value: ").expect("value:");
        env_lines.push(format!("{name}={value}"));
    }
    args.extend(env_file_as_flags(&env_lines.join("\n")));
    assert!(
        args.iter().any(|a| a == "--metrics-addr=0.0.0.0:9464"),
        "{args:?}"
    );
    let parsed = teleport_audit_cli::command().try_get_matches_from(&args);
    assert!(parsed.is_ok(), "{args:?}: {}", parsed.unwrap_err());
}

/// The tbot configuration in the Kubernetes ConfigMap is `tbot.yaml` (without its comments).
#[test]
fn the_configmap_holds_tbot_yaml() {
    let tbot: String = read("tbot.yaml")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| format!("    {line}\n"))
        .collect();
    let manifest = read("kubernetes.yaml");
    assert!(
        manifest.contains(&format!("  tbot.yaml: |\n{tbot}---\n")),
        "{tbot}"
    );
}

/// `docs/deploy.md` shows each file of `docs/deploy/` whole, in a fenced block.
#[test]
fn the_page_shows_every_file_as_it_is() {
    let page = std::fs::read_to_string(deploy_dir().join("../deploy.md")).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let text = read(&name);
        // A block "```lang\n<text>```": between two "\n```", the info string, then the text
        // without its last newline.
        let body = text.strip_suffix('\n').unwrap_or(&text);
        let shown = page
            .split("\n```")
            .any(|block| block.split_once('\n').is_some_and(|(_lang, b)| b == body));
        assert!(
            shown,
            "docs/deploy.md does not show docs/deploy/{name} as it is"
        );
    }
}
