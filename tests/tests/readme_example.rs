//! The README's library example is `examples/library-quickstart` (a workspace member, so CI
//! builds and lints it): its Rust block must be that crate's `src/main.rs` byte for byte, and its
//! dependency block that crate's `[dependencies]`, with teleport-audit from git instead of this
//! tree.

const README: &str = include_str!("../../README.md");
const MAIN_RS: &str = include_str!("../../examples/library-quickstart/src/main.rs");
const CARGO_TOML: &str = include_str!("../../examples/library-quickstart/Cargo.toml");
const WORKSPACE_TOML: &str = include_str!("../../Cargo.toml");

/// The body of the first fenced block whose info string starts with `lang`, in the section
/// headed `heading`.
fn block(heading: &str, lang: &str) -> String {
    let section = README
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("README has no section {heading:?}"));
    let section = section.split("\n## ").next().unwrap();
    let fence = format!("```{lang}");
    let start = section
        .lines()
        .position(|line| line.starts_with(&fence))
        .unwrap_or_else(|| panic!("no {fence} block in {heading:?}"));
    let body: Vec<&str> = section
        .lines()
        .skip(start + 1)
        .take_while(|line| *line != "```")
        .collect();
    body.iter().map(|line| format!("{line}\n")).collect()
}

/// The lines of `[dependencies]` in `toml`, up to the next blank line or section.
fn dependencies(toml: &str) -> Vec<&str> {
    toml.split("\n[dependencies]\n")
        .nth(1)
        .expect("a [dependencies] section")
        .lines()
        .take_while(|line| !line.is_empty() && !line.starts_with('['))
        .collect()
}

#[test]
fn the_readme_rust_block_is_the_example_crate() {
    let readme = block("## Use it as a library", "rust");
    if readme != MAIN_RS {
        let first = readme
            .lines()
            .zip(MAIN_RS.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(readme.lines().count().min(MAIN_RS.lines().count()));
        panic!(
            "README's example differs from examples/library-quickstart/src/main.rs from line {} on \
             (README {} lines, main.rs {} lines): copy main.rs into README.md",
            first + 1,
            readme.lines().count(),
            MAIN_RS.lines().count()
        );
    }
}

#[test]
fn the_readme_dependencies_are_the_example_crates() {
    let readme = block("## Use it as a library", "toml");
    let mut readme_lines = readme.lines();
    assert_eq!(readme_lines.next(), Some("[dependencies]"), "{readme}");
    let readme_deps: Vec<&str> = readme_lines.collect();

    let repository = WORKSPACE_TOML
        .lines()
        .find_map(|line| line.strip_prefix("repository = "))
        .expect("workspace.package.repository");
    let expected: Vec<String> = dependencies(CARGO_TOML)
        .iter()
        .map(|line| {
            if line.starts_with("teleport-audit ") {
                // From git with the default features, as a user adds it.
                assert_eq!(
                    *line, r#"teleport-audit = { path = "../../crates/teleport-audit" }"#,
                    "the example must take teleport-audit as a user does: default features"
                );
                format!("teleport-audit = {{ git = {repository} }}")
            } else {
                (*line).to_owned()
            }
        })
        .collect();
    assert_eq!(readme_deps, expected, "README's [dependencies] block");
}

/// The example uses only what the README tells a user to add (and std).
#[test]
fn the_example_uses_only_its_dependencies() {
    let names: Vec<String> = dependencies(CARGO_TOML)
        .iter()
        .map(|line| line.split(' ').next().unwrap().replace('-', "_"))
        .collect();
    for line in MAIN_RS.lines().filter(|l| l.starts_with("use ")) {
        let root = line["use ".len()..].split("::").next().unwrap();
        assert!(
            root == "std" || names.iter().any(|n| n == root),
            "{line}: {root} is not among {names:?}"
        );
    }
    // `time` is not a dependency: its paths go through teleport_audit's re-export.
    for (number, line) in MAIN_RS.lines().enumerate() {
        let bare = line.match_indices("time::").any(|(at, _)| {
            let before = &line[..at];
            !before.ends_with("::") && !before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
        });
        assert!(
            !bare,
            "line {}: {line}: reach time through teleport_audit::time (a re-export)",
            number + 1
        );
    }
}
