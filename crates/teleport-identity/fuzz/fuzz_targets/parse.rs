//! Feeds arbitrary bytes to the identity file parser: it must return an error or an identity,
//! never panic, and everything it returns must format without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teleport_identity::{AuthRoute, Identity};

fuzz_target!(|data: &[u8]| {
    match Identity::from_identity_bytes(data) {
        Ok(identity) => {
            let _ = format!("{identity:?}");
            let _ = identity.summary().key_algorithm.to_string();
            let _ = identity.check_validity();
            let _ = identity.tls_client_config(AuthRoute::ThroughProxy);
        }
        Err(err) => {
            let _ = (
                err.to_string(),
                format!("{err:?}"),
                err.code(),
                err.is_auth(),
            );
        }
    }
});
