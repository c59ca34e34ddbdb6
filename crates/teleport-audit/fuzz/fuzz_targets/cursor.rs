//! Feeds arbitrary bytes to `Cursor::from_json` (search and export cursors): it must refuse or
//! accept them, never panic, and an accepted cursor must round-trip through `to_json`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../check.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    check::check(data);
});
