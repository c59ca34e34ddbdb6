//! Replays the committed seed corpus of the identity parser fuzz target (`fuzz/seeds/parse`)
//! through the fuzz target's own oracle on stable, so CI keeps the corpus and the oracle
//! meaningful without fuzzing. Seeds named `ok-*` must parse, `bad-*` must be refused; any other
//! seed (inputs the fuzzer found) must only not panic. See docs/fuzzing.md.

#[path = "../fuzz/check.rs"]
mod check;
#[path = "../../fuzz_replay.rs"]
mod fuzz_replay;

#[test]
fn every_identity_seed_replays() {
    fuzz_replay::replay_seeds(
        env!("CARGO_MANIFEST_DIR"),
        "parse",
        "identity file",
        check::check,
    );
}
