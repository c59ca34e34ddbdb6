//! Feeds arbitrary bytes to the `google.protobuf.Struct` decoder (`wire::struct_to_json` and
//! `AuditEvent::from_struct_bytes`): they must refuse or accept them, never panic; accepted bytes
//! must give JSON that encodes back to a Struct decoding to the same text, and both entry points
//! must agree. The oracle is `../check.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../check.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    check::check(data);
});
