//! Writing JSON string literals.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `text` as a JSON string literal, escaping only what JSON requires: `"`, `\` and the
/// control characters below U+0020 (as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`).
///
/// Go's `encoding/json` additionally writes `<`, `>`, `&`, U+2028 and U+2029 as `\u003c` and the
/// like; both spellings denote the same JSON string, and we keep the shorter one.
pub(crate) fn write_json_string(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut clean_from = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[clean_from..index]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0x0f)]);
                clean_from = index + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[clean_from..index]);
        out.extend_from_slice(escape);
        clean_from = index + 1;
    }
    out.extend_from_slice(&bytes[clean_from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> String {
        let mut out = Vec::new();
        write_json_string(text, &mut out);
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
    fn output_parses_back_to_the_same_string() {
        for text in ["", "x", "\"\"", "tab\there", "\u{7f}\u{1}", "日本語 🎉"] {
            let parsed: String = serde_json::from_str(&quoted(text)).unwrap_or_default();
            assert_eq!(parsed, text);
        }
    }
}
