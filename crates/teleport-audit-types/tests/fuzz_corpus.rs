//! Replays the committed seed corpus of the Struct decoder fuzz target
//! (`fuzz/seeds/struct_to_json`) through the fuzz target's own oracle on stable, so CI keeps the
//! corpus and the oracle meaningful without fuzzing. Seeds named `ok-*` must be accepted (and
//! round-trip), `bad-*` refused; any other seed (inputs the fuzzer found) must only not panic.
//! See docs/fuzzing.md.

#[path = "../fuzz/check.rs"]
mod check;

#[test]
fn every_struct_seed_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/struct_to_json");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.map(|e| e.path()).unwrap_or_default();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let accepted = check::check(&data);
        if name.starts_with("ok-") {
            assert!(accepted, "{name}: refused, but named as a valid Struct");
        } else if name.starts_with("bad-") {
            assert!(
                !accepted,
                "{name}: accepted, but named as an invalid Struct"
            );
        }
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} seeds in {}", dir.display());
}
