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

/// Eight copies of one byte.
const fn splat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

const LOW_BITS: u64 = splat(0x01);
const HIGH_BITS: u64 = splat(0x80);

/// The high bit of each byte of `word` that needs attention: a byte below 0x20, `"`, `\`, and
/// (when `non_ascii` is set) a byte of 0x80 or more. Only the lowest set bit is exact (a borrow
/// may flag bytes above a flagged one), which is all [`next_special`] uses.
#[inline(always)]
fn special_bits(word: u64, non_ascii: bool) -> u64 {
    let control = word.wrapping_sub(splat(0x20)) & !word;
    let quote = word ^ splat(b'"');
    let quote = quote.wrapping_sub(LOW_BITS) & !quote;
    let backslash = word ^ splat(b'\\');
    let backslash = backslash.wrapping_sub(LOW_BITS) & !backslash;
    let high = if non_ascii { word } else { 0 };
    (control | quote | backslash | high) & HIGH_BITS
}

/// The index of the first byte at or after `from` that needs attention (see [`special_bits`]),
/// eight bytes at a time.
#[inline(always)]
fn next_special(bytes: &[u8], from: usize, non_ascii: bool) -> Option<usize> {
    let mut index = from;
    while let Some(chunk) = bytes.get(index..index + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let bits = special_bits(u64::from_le_bytes(word), non_ascii);
        if bits != 0 {
            return Some(index + (bits.trailing_zeros() / 8) as usize);
        }
        index += 8;
    }
    bytes[index.min(bytes.len())..]
        .iter()
        .position(|&byte| CLASSES[usize::from(byte)] != 0 && (non_ascii || byte < 0x80))
        .map(|at| index + at)
}

/// Appends `bytes`, which should be UTF-8 text, as a JSON string literal, escaping only what JSON
/// requires: `"`, `\` and the control characters below U+0020 (as `\n`, `\r`, `\t`, `\b`, `\f`
/// or `\u00XX`). Validates the UTF-8 in the same pass: the text is scanned eight bytes at a
/// time for bytes to escape or outside ASCII; at the first byte outside ASCII the rest is
/// validated at once, and the scan goes on for escapes only. Runs of plain text are copied whole.
/// A string of plain ASCII with nothing to escape (nearly every key and value) is recognised
/// by one check per 8 bytes and copied in one piece; one shorter than 17 bytes as one or two
/// 8-byte words, without a call to `memcpy`.
///
/// Go's `encoding/json` additionally writes `<`, `>`, `&`, U+2028 and U+2029 as `\u003c` and the
/// like; both spellings denote the same JSON string, and we keep the shorter one.
///
/// # Errors
///
/// The offset in `bytes` of the first byte that is not valid UTF-8; `out` may then hold part of
/// the literal.
#[inline]
pub(crate) fn write_json_string(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), usize> {
    let len = bytes.len();
    if len < 8 {
        let word = short_word(bytes);
        if special_bits(word, true) == 0 {
            out.reserve(10);
            out.push(b'"');
            let start = out.len();
            out.extend_from_slice(&word.to_le_bytes());
            out.truncate(start + len);
            out.push(b'"');
            return Ok(());
        }
    } else if is_plain(bytes) {
        out.reserve(len + 2);
        out.push(b'"');
        match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
            (Some(first), Some(last)) if len <= 16 => {
                // The first 8 bytes, then the last 8 over the part of the first they overlap.
                let start = out.len();
                out.extend_from_slice(first);
                out.truncate(start + len - 8);
                out.extend_from_slice(last);
            }
            _ => out.extend_from_slice(bytes),
        }
        out.push(b'"');
        return Ok(());
    }
    write_escaped(bytes, out)
}

/// [`write_json_string`] of `input[start..end]`, then a `:` if `colon` (an object key). A string
/// of at most 32 bytes with enough of `input` after it to fill one, two or four 8-byte words
/// (nearly every key and value of an event: the rest of the Struct follows it) is read as those
/// whole words, the bytes past its end counted as plain ASCII, checked a word at a time, and
/// written with its quotes (and colon) as one fixed-size block, the output then cut back to its
/// length: no byte loop, no `memcpy` call, one check of the buffer's capacity. Anything else,
/// and any string with a byte to escape or outside ASCII, takes [`write_json_string`].
///
/// # Errors
///
/// As [`write_json_string`]: the offset in the string of the first byte that is not UTF-8.
#[inline(always)]
pub(crate) fn write_json_substring(
    input: &[u8],
    (start, end): (usize, usize),
    colon: bool,
    out: &mut Vec<u8>,
) -> Result<(), usize> {
    let len = end - start;
    let written = match len {
        0..=8 => plain_window::<8>(input, start, len, colon, out),
        9..=16 => plain_window::<16>(input, start, len, colon, out),
        17..=32 => plain_window::<32>(input, start, len, colon, out),
        _ => false,
    };
    if !written {
        write_json_string(&input[start..end], out)?;
        if colon {
            out.push(b':');
        }
    }
    Ok(())
}

/// For each count of bytes `0..=8`: a mask of that many low bytes of a little-endian word.
const LOW_BYTES: [u64; 9] = {
    let mut masks = [u64::MAX; 9];
    let mut count = 0;
    while count < 8 {
        masks[count] = (1 << (8 * count)) - 1;
        count += 1;
    }
    masks
};

/// What [`plain_window`] writes in one piece: a quote, up to 32 bytes, a quote and a colon.
const BLOCK: usize = 40;

/// Writes the `len` bytes at `input[start..]` as a JSON string literal (then a `:` if `colon`)
/// if they are plain ASCII with nothing to escape and `input` holds `WIDTH` bytes from `start`
/// (see [`write_json_substring`]); false, having written nothing, otherwise.
#[inline(always)]
fn plain_window<const WIDTH: usize>(
    input: &[u8],
    start: usize,
    len: usize,
    colon: bool,
    out: &mut Vec<u8>,
) -> bool {
    let Some(window) = input
        .get(start..)
        .and_then(|rest| rest.first_chunk::<WIDTH>())
    else {
        return false;
    };
    let mut special = 0;
    for (place, chunk) in window.chunks_exact(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mask = LOW_BYTES[len.saturating_sub(8 * place).min(8)];
        let word = u64::from_le_bytes(word) & mask | splat(b'A') & !mask;
        special |= special_bits(word, true);
    }
    if special != 0 {
        return false;
    }
    let mut block = [0u8; BLOCK];
    block[0] = b'"';
    block[1..=WIDTH].copy_from_slice(window);
    block[1 + len] = b'"';
    block[2 + len] = b':';
    let at = out.len();
    out.extend_from_slice(&block);
    out.truncate(at + len + 2 + usize::from(colon));
    true
}

/// A string shorter than 8 bytes as one little-endian word, padded with `A` (plain ASCII).
#[inline(always)]
fn short_word(bytes: &[u8]) -> u64 {
    let word = bytes
        .iter()
        .rev()
        .fold(0u64, |word, &byte| word << 8 | u64::from(byte));
    // `bytes` is shorter than 8, so the shift is below 64.
    let pad = splat(b'A').checked_shl(8 * bytes.len() as u32).unwrap_or(0);
    word | pad
}

/// Whether `bytes` (8 bytes or more) is plain ASCII with nothing to escape, a word at a time
/// (the last word overlapping the one before it when the length is not a multiple of 8).
#[inline(always)]
fn is_plain(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if special_bits(u64::from_le_bytes(word), true) != 0 {
            return false;
        }
    }
    chunks.remainder().is_empty()
        || bytes
            .last_chunk::<8>()
            .is_none_or(|last| special_bits(u64::from_le_bytes(*last), true) == 0)
}

/// The general case of [`write_json_string`]: escapes, or text outside ASCII.
#[inline(never)]
fn write_escaped(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), usize> {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut clean_from = 0;
    let mut validated = false;
    let mut from = 0;
    while let Some(index) = next_special(bytes, from, !validated) {
        let byte = bytes[index];
        from = index + 1;
        let class = CLASSES[usize::from(byte)];
        if class == NON_ASCII {
            // Check the rest at once; after that only escapes are looked for.
            std::str::from_utf8(&bytes[index..]).map_err(|error| index + error.valid_up_to())?;
            validated = true;
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
        clean_from = from;
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
    fn every_byte_to_escape_is_found_at_every_position_of_a_word() {
        // serde_json escapes exactly what we do (lowercase hex): an independent writer.
        for special in [
            '"', '\\', '\n', '\u{0}', '\u{1f}', ' ', '\u{7f}', 'é', '✓', '🎉',
        ] {
            for len in 0..20 {
                for at in 0..=len {
                    let text = format!("{}{special}{}", "a".repeat(at), "~".repeat(len - at));
                    let expected = serde_json::to_string(&text).unwrap_or_default();
                    assert_eq!(quoted(&text), expected, "{text:?}");
                    let twice = format!("{text}{special}");
                    let expected = serde_json::to_string(&twice).unwrap_or_default();
                    assert_eq!(quoted(&twice), expected, "{twice:?}");
                }
            }
        }
    }

    #[test]
    fn plain_strings_of_every_length_are_appended_whole() {
        // The quick paths: one word (under 8 bytes), two overlapping words (8 to 16), a copy.
        let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 ~!#$%&'()*+,-./:;<=>?@[]^_`{|}";
        let mut out = b"before,".to_vec();
        let mut expected = out.clone();
        for len in 0..=40 {
            let text: Vec<u8> = alphabet
                .iter()
                .cycle()
                .skip(len)
                .take(len)
                .copied()
                .collect();
            assert_eq!(write_json_string(&text, &mut out), Ok(()));
            expected.push(b'"');
            expected.extend_from_slice(&text);
            expected.push(b'"');
            assert_eq!(out, expected, "length {len}");
        }
    }

    #[test]
    fn a_substring_is_written_as_the_string_alone_whatever_follows_it() {
        // Every length across the one-, two- and four-word windows and past them; followed by
        // nothing, by bytes that would need escaping or are not ASCII, or by plain ones; with an
        // escape or a non-ASCII byte at every place of the string itself.
        let plain = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH";
        for len in 0..=40 {
            let mut strings = vec![plain[..len].to_vec()];
            for at in 0..len {
                for special in [b'"', b'\\', b'\n', 0x00, 0x7f, 0xc3, 0xff] {
                    let mut text = plain[..len].to_vec();
                    text[at] = special;
                    strings.push(text);
                }
            }
            for text in strings {
                let mut expected = b"x".to_vec();
                let expected_result = write_json_string(&text, &mut expected);
                for after in [&b""[..], b"\"\\\n\x00\xff\xc3", &[b'q'; 40]] {
                    for before in [0, 3] {
                        let mut input = vec![b'\\'; before];
                        input.extend_from_slice(&text);
                        input.extend_from_slice(after);
                        let span = (before, before + len);
                        let mut out = b"x".to_vec();
                        let result = write_json_substring(&input, span, false, &mut out);
                        assert_eq!(result, expected_result, "{text:?} then {after:?}");
                        let mut key = b"x".to_vec();
                        let key_result = write_json_substring(&input, span, true, &mut key);
                        assert_eq!(key_result, expected_result);
                        if result.is_ok() {
                            assert_eq!(out, expected, "{text:?} then {after:?}");
                            // The key is the same literal, then a colon.
                            assert_eq!(key.pop(), Some(b':'));
                            assert_eq!(key, expected, "key {text:?} then {after:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn invalid_utf8_is_reported_at_its_offset() {
        let mut out = Vec::new();
        assert_eq!(write_json_string(b"ok\xff", &mut out), Err(2));
        assert_eq!(write_json_string("é\n".as_bytes(), &mut Vec::new()), Ok(()));
        assert_eq!(write_json_string(b"\xc3\xa9\xc3", &mut Vec::new()), Err(2));
        assert_eq!(write_json_string(b"a\"\xe2\x82", &mut Vec::new()), Err(2));
        // Found by the word-at-a-time scan, after plain text and after valid non-ASCII text.
        assert_eq!(
            write_json_string(b"0123456789\xff", &mut Vec::new()),
            Err(10)
        );
        assert_eq!(
            write_json_string("é0123456789\n".as_bytes(), &mut Vec::new()),
            Ok(())
        );
        let mut bad = "é".repeat(9).into_bytes();
        bad.push(0x80);
        assert_eq!(write_json_string(&bad, &mut Vec::new()), Err(18));
    }

    #[test]
    fn output_parses_back_to_the_same_string() {
        for text in ["", "x", "\"\"", "tab\there", "\u{7f}\u{1}", "日本語 🎉"] {
            let parsed: String = serde_json::from_str(&quoted(text)).unwrap_or_default();
            assert_eq!(parsed, text);
        }
    }
}
