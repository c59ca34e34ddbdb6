//! Writing JSON string literals.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// For each byte: `0` when it is plain ASCII needing no escape, [`NON_ASCII`] for bytes of
/// multi-byte UTF-8 sequences, else the letter of its short escape (`n` for `\n`), or `u` for
/// the `\u00XX` form.
static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    let mut byte = 0x80;
    while byte < 0x100 {
        table[byte] = NON_ASCII;
        byte += 1;
    }
    table
};

const NON_ASCII: u8 = 0xff;

/// Appends `bytes`, which should be UTF-8 text, as a JSON string literal, escaping only what JSON
/// requires: `"`, `\` and the control characters below U+0020 (as `\n`, `\r`, `\t`, `\b`, `\f`
/// or `\u00XX`). Validates the UTF-8 in the same pass (ASCII, the common case, needs no
/// separate check).
///
/// Go's `encoding/json` additionally writes `<`, `>`, `&`, U+2028 and U+2029 as `\u003c` and the
/// like; both spellings denote the same JSON string, and we keep the shorter one.
///
/// # Errors
///
/// The offset in `bytes` of the first byte that is not valid UTF-8; `out` may then hold part of
/// the literal.
pub(crate) fn write_json_string(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), usize> {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut clean_from = 0;
    let mut checked_to = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let class = CLASSES[usize::from(byte)];
        if class == 0 {
            continue;
        }
        if class == NON_ASCII {
            if index >= checked_to {
                // Check the rest at once; it needs no more UTF-8 checks after that.
                std::str::from_utf8(&bytes[index..])
                    .map_err(|error| index + error.valid_up_to())?;
                checked_to = bytes.len();
            }
            continue;
        }
        out.extend_from_slice(&bytes[clean_from..index]);
        if class == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0x0f)]);
        } else {
            out.push(b'\\');
            out.push(class);
        }
        clean_from = index + 1;
    }
    out.extend_from_slice(&bytes[clean_from..]);
    out.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> String {
        let mut out = Vec::new();
        assert_eq!(write_json_string(text.as_bytes(), &mut out), Ok(()));
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn escapes_what_json_requires_and_nothing_else() {
        assert_eq!(quoted("plain"), "\"plain\"");
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quoted("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
        assert_eq!(quoted("\u{0}\u{1f}\u{8}\u{c}"), "\"\\u0000\\u001f\\b\\f\"");
        assert_eq!(quoted("<a&b> é ✓ \u{2028}"), "\"<a&b> é ✓ \u{2028}\"");
    }

    #[test]
    fn invalid_utf8_is_reported_at_its_offset() {
        let mut out = Vec::new();
        assert_eq!(write_json_string(b"ok\xff", &mut out), Err(2));
        assert_eq!(write_json_string("é\n".as_bytes(), &mut Vec::new()), Ok(()));
        assert_eq!(write_json_string(b"\xc3\xa9\xc3", &mut Vec::new()), Err(2));
        assert_eq!(write_json_string(b"a\"\xe2\x82", &mut Vec::new()), Err(2));
    }

    #[test]
    fn output_parses_back_to_the_same_string() {
        for text in ["", "x", "\"\"", "tab\there", "\u{7f}\u{1}", "日本語 🎉"] {
            let parsed: String = serde_json::from_str(&quoted(text)).unwrap_or_default();
            assert_eq!(parsed, text);
        }
    }
}
