//! Feeds arbitrary bytes to the identity file parser: it must return an error or an identity,
//! never panic, everything it returns must format without panicking, and nothing it formats may
//! quote the private key. The oracle is `../check.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../check.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    check::check(data);
});
