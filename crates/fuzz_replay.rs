//! The stable replay of a fuzz target's committed seed corpus, shared by the three crates that
//! have a fuzz target (`crates/<crate>/tests/fuzz_corpus.rs` include this file with `#[path]`,
//! next to their own oracle `crates/<crate>/fuzz/check.rs`). A shared file rather than a
//! dev-dependency: the three crates sit at the bottom of the tree (identity, types, client), so no
//! crate they could all dev-depend on exists without a cycle, and a crate of its own for one
//! loop would weigh more than the loop. See docs/fuzzing.md.

use std::path::Path;

/// Feeds every seed in `<crate>/fuzz/seeds/<target>/` to `check` (the target's oracle, which
/// panics on a property violation and returns whether the input was accepted). Seeds named
/// `ok-*` must be accepted, `bad-*` refused; any other seed (an input the fuzzer found) must only
/// not panic. `what` names what an accepted input is ("cursor"), for the failure message. Fails
/// the test when the directory holds fewer than five seeds (a corpus that went missing).
pub(crate) fn replay_seeds(crate_dir: &str, target: &str, what: &str, check: fn(&[u8]) -> bool) {
    let dir = Path::new(crate_dir).join("fuzz/seeds").join(target);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.map(|e| e.path()).unwrap_or_default();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let accepted = check(&data);
        if name.starts_with("ok-") {
            assert!(accepted, "{name}: refused, but named as a valid {what}");
        } else if name.starts_with("bad-") {
            assert!(
                !accepted,
                "{name}: accepted, but named as an invalid {what}"
            );
        }
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} seeds in {}", dir.display());
}
