//! The identity parser fuzz target's oracle, shared with the stable replay test
//! (`crates/teleport-identity/tests/fuzz_corpus.rs`), which feeds it the committed seeds.

use teleport_identity::{AuthRoute, Identity};

/// Feeds `data` to [`Identity::from_identity_bytes`]: it must return an error or an identity,
/// never panic, and everything it returns must format without panicking. Neither the identity's
/// `Debug` nor the error's text may quote the private key: no line of the first PEM block's body
/// that looks like key material (see [`key_body_lines`]) may appear in them. Returns whether
/// `data` parsed.
pub(crate) fn check(data: &[u8]) -> bool {
    let secrets = key_body_lines(data);
    let assert_no_secret = |what: &str, text: &str| {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{what} quotes the private key's line {secret:?}: {text}"
            );
        }
    };
    match Identity::from_identity_bytes(data) {
        Ok(identity) => {
            assert_no_secret("the identity's Debug", &format!("{identity:?}"));
            let _ = identity.summary().key_algorithm.to_string();
            let _ = identity.check_validity();
            if let Err(error) = identity.tls_client_config(AuthRoute::ThroughProxy) {
                assert_no_secret("a TLS configuration error", &error.to_string());
            }
            true
        }
        Err(error) => {
            assert_no_secret("the error's text", &error.to_string());
            assert_no_secret("the error's Debug", &format!("{error:?}"));
            let _ = (error.code(), error.is_auth(), error.is_retryable());
            false
        }
    }
}

/// The trimmed body lines of the first PEM block (the private key's place) that look like key
/// material (20 base64 characters or more, with a digit, an upper- and a lower-case letter: no
/// fixed text of a message, such as a variant name, looks like that) and appear nowhere else in
/// the input (so an error quoting another part of the file is not taken for a leak).
fn key_body_lines(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').map(str::trim).collect();
    let Some(begin) = lines.iter().position(|l| l.starts_with("-----BEGIN")) else {
        return Vec::new();
    };
    let end = lines[begin + 1..]
        .iter()
        .position(|l| l.starts_with("-----"))
        .map_or(lines.len(), |offset| begin + 1 + offset);
    let body = &lines[begin + 1..end];
    let elsewhere: Vec<&str> = lines[..=begin]
        .iter()
        .chain(&lines[end..])
        .copied()
        .collect();
    body.iter()
        .filter(|line| looks_like_key_material(line))
        .filter(|line| !elsewhere.iter().any(|other| other.contains(**line)))
        .map(|line| (*line).to_owned())
        .collect()
}

fn looks_like_key_material(line: &str) -> bool {
    line.len() >= 20
        && line
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        && line.bytes().any(|b| b.is_ascii_digit())
        && line.bytes().any(|b| b.is_ascii_uppercase())
        && line.bytes().any(|b| b.is_ascii_lowercase())
}
