//! Recognising text that may be a secret (an identity file's contents, a PEM block, key
//! material) where a short value belongs: a path, an address, a command-line flag. Such text is
//! never repeated in an error, a log line or a usage message; its length is shown instead.
//!
//! The identity file's *text* is the secret (it holds the private key), and it is often handed
//! over in an environment variable, so it easily lands in the wrong setting: pasted as a path,
//! given as the proxy address, or as a stray command-line argument.
//!
//! The rules are deliberately simple and err on the side of hiding:
//!
//! - any control character (a line break, a tab, an escape): a path, an address or a flag
//!   value is one line; an identity file or a PEM block is many;
//! - a PEM boundary (`-----BEGIN`, `-----END`) or the words `PRIVATE KEY`;
//! - a long base64 run: at least [`MIN_BASE64_RUN`] characters of the base64 alphabet without a
//!   `/`, mixing upper case and lower case letters, and digits unless it is twice that long.
//!   (Paths and host names do not: their parts are short, or separated by `-`, `_` or `.`, or
//!   hex digits in one case.)

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The shortest base64 run (between `/` or non-base64 characters) taken for key material.
pub const MIN_BASE64_RUN: usize = 24;

/// Whether `text` may be a secret: an identity file's contents, a PEM block, one of its lines,
/// or other base64 key material. See the [module documentation](self) for the rules.
pub fn looks_like_secret(text: &str) -> bool {
    text.chars().any(char::is_control)
        || text.contains("-----BEGIN")
        || text.contains("-----END")
        || text.to_ascii_uppercase().contains("PRIVATE KEY")
        || base64_runs(text).next().is_some()
}

/// `text` as given, or `<N bytes, not shown>` when it [looks like a secret](looks_like_secret).
pub fn shown(text: &str) -> Cow<'_, str> {
    if looks_like_secret(text) {
        Cow::Owned(not_shown(text.len()))
    } else {
        Cow::Borrowed(text)
    }
}

/// `path` as given, or `<N bytes, not shown>` when it [looks like a secret](looks_like_secret)
/// (the identity file's text given where its path belongs). For errors that carry a path.
pub fn shown_path(path: &Path) -> PathBuf {
    let text = path.as_os_str().to_string_lossy();
    if looks_like_secret(&text) {
        PathBuf::from(not_shown(path.as_os_str().len()))
    } else {
        path.to_path_buf()
    }
}

/// `text` with every PEM block and every long base64 run replaced by `<redacted>`; for whole
/// log lines, which hold line breaks of their own.
pub fn redact_secrets(text: &str) -> Cow<'_, str> {
    let mut spans = pem_blocks(text);
    spans.extend(base64_runs(text));
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        if start >= at {
            out.push_str(&text[at..start]);
            out.push_str("<redacted>");
        }
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

fn not_shown(len: usize) -> String {
    format!("<{len} bytes, not shown>")
}

/// Byte spans of PEM blocks: from `-----BEGIN` to the end of the closing `-----END ...-----`
/// (or of the text, when the block is not closed).
fn pem_blocks(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find("-----BEGIN") {
        let start = from + offset;
        let end = match text[start..].find("-----END") {
            Some(end) => {
                let label = start + end + "-----END".len();
                match text[label..].find("-----") {
                    Some(close) => label + close + "-----".len(),
                    None => text.len(),
                }
            }
            None => text.len(),
        };
        spans.push((start, end));
        from = end;
    }
    spans
}

/// Byte spans of base64 runs (the alphabet with `/`) holding at least one part (between `/`)
/// that looks like key material.
fn base64_runs(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            let start = at;
            while at < bytes.len() && is_base64(bytes[at]) {
                at += 1;
            }
            let end = at;
            if end == start {
                at += 1;
                continue;
            }
            if text[start..end].split('/').any(is_key_material) {
                return Some((start, end));
            }
        }
        None
    })
}

fn is_base64(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=')
}

/// A `/`-free base64 part long and mixed enough to be key material, not a word or a hex id.
fn is_key_material(part: &str) -> bool {
    let has = |f: fn(&u8) -> bool| part.as_bytes().iter().any(f);
    part.len() >= MIN_BASE64_RUN
        && has(u8::is_ascii_uppercase)
        && has(u8::is_ascii_lowercase)
        && (has(u8::is_ascii_digit) || part.len() >= 2 * MIN_BASE64_RUN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
        MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n\
        VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n\
        -----END RSA PRIVATE KEY-----\n";

    #[test]
    fn ordinary_values_are_not_secrets() {
        for value in [
            "",
            "teleport.example.com:443",
            "127.0.0.1:9",
            "[::1]:3080",
            "https://teleport.example.com/",
            "/var/lib/teleport/bot/identity",
            "./identity",
            "/home/alice/Documents/Teleport2024/identity",
            "/nix/store/9fhs0v1xj3mi4gvs4f0b4y0bm2k1z1ra-teleport-17.0.1/identity",
            "/var/lib/teleport/bot-0123456789abcdef0123456789abcdef/identity",
            "/run/user/1000/teleport/4f9a2c1e-7b3d-4e8a-9c6f-2d1b0a9e8f7c.json",
            "C:\\Users\\Alice\\AppData\\Local\\Teleport\\identity",
            "2025-12-01T00:00:00Z",
            "30s",
            "user.login,access_request.create,session.start",
            "export",
            "--identity-file",
            "ApplicationSupportTeleport",
        ] {
            assert!(!looks_like_secret(value), "{value:?}");
            assert_eq!(shown(value), value);
            assert_eq!(redact_secrets(value), value);
        }
    }

    #[test]
    fn pem_text_and_its_lines_are_secrets() {
        assert!(looks_like_secret(PEM));
        // One line of it, as a value: a boundary, or a base64 run.
        for line in PEM.lines() {
            assert!(looks_like_secret(line), "{line:?}");
        }
        assert!(looks_like_secret("BEGIN RSA private key"));
        assert!(looks_like_secret("-----END CERTIFICATE-----"));
    }

    #[test]
    fn control_characters_make_a_secret() {
        assert!(looks_like_secret("two\nlines"));
        assert!(looks_like_secret("carriage\rreturn"));
        assert!(looks_like_secret("tab\there"));
        assert!(looks_like_secret("nul\0"));
        assert!(looks_like_secret("\u{1b}[31m"));
    }

    #[test]
    fn base64_runs_edge_by_edge() {
        // 24 characters, upper + lower + digit: key material; 23: not.
        assert!(looks_like_secret("Abcdefghijklmnopqrstuvw1"));
        assert!(!looks_like_secret("Abcdefghijklmnopqrstuv1"));
        // Without a digit: only from 48 characters.
        assert!(!looks_like_secret(&format!("A{}", "b".repeat(46))));
        assert!(looks_like_secret(&format!("A{}", "b".repeat(47))));
        // One case only (hex ids, words): never.
        assert!(!looks_like_secret(&"0123456789abcdef".repeat(8)));
        assert!(!looks_like_secret(&"0123456789ABCDEF".repeat(8)));
        // A `/` splits runs (paths); `+` and `=` do not.
        assert!(!looks_like_secret("Abcdefghijkl1/Abcdefghijkl1"));
        assert!(looks_like_secret("Abcdefghijkl1+Abcdefghijkl1"));
        assert!(looks_like_secret("Abcdefghijklmnopqrstuvw1=="));
        // Inside other text, e.g. a flag's `--name=value` form or an SSH certificate line.
        assert!(looks_like_secret("--proxy=Abcdefghijklmnopqrstuvw1"));
        assert!(looks_like_secret(
            "ssh-rsa-cert-v01@openssh.com AAAAHHNzaC1yc2EtY2VydC12MDFAb3BlbnNzaC5jb20AAAAg"
        ));
    }

    #[test]
    fn shown_hides_secrets_by_length() {
        assert_eq!(shown(PEM), format!("<{} bytes, not shown>", PEM.len()));
        assert_eq!(
            shown_path(Path::new(PEM)),
            PathBuf::from(format!("<{} bytes, not shown>", PEM.len()))
        );
        assert_eq!(
            shown_path(Path::new("/etc/teleport/identity")),
            Path::new("/etc/teleport/identity")
        );
    }

    #[test]
    fn redaction_removes_pem_blocks_and_base64_runs() {
        let line = format!("could not use {PEM} as the address; next Abcdefghijklmnopqrstuvw1 ok");
        let redacted = redact_secrets(&line);
        assert_eq!(
            redacted,
            "could not use <redacted>\n as the address; next <redacted> ok"
        );
        // An unterminated block is redacted to the end.
        let cut = &PEM[..PEM.len() / 2];
        assert_eq!(redact_secrets(&format!("x {cut}")), "x <redacted>");
        // Two blocks, back to back.
        assert_eq!(
            redact_secrets(&format!("{PEM}{PEM}")),
            "<redacted>\n<redacted>\n"
        );
        // A line of base64 among log text, with a `/` in it.
        assert_eq!(
            redact_secrets(
                "key VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK end"
            ),
            "key <redacted> end"
        );
    }
}
