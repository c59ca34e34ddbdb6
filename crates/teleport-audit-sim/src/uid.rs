//! [`Uid`]: an event id (a UUID), kept as 16 bytes.

use std::fmt;

/// A UUID, as 16 bytes in their textual order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Uid(pub(crate) [u8; 16]);

impl Uid {
    /// A version-4 shaped UUID from 16 random bytes.
    pub(crate) fn v4(mut bytes: [u8; 16]) -> Uid {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uid(bytes)
    }

    /// Parses the canonical `8-4-4-4-12` hex form (either case).
    pub(crate) fn parse(text: &str) -> Option<Uid> {
        let raw = text.as_bytes();
        if raw.len() != 36 {
            return None;
        }
        let mut out = [0u8; 16];
        let mut nibbles = 0usize;
        for (pos, &c) in raw.iter().enumerate() {
            if matches!(pos, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return None,
            };
            out[nibbles / 2] |= if nibbles.is_multiple_of(2) { v << 4 } else { v };
            nibbles += 1;
        }
        Some(Uid(out))
    }

    /// A 64-bit digest of the id (DynamoDB-like ordering within one second).
    pub(crate) fn digest(&self) -> u64 {
        let mut hi = [0u8; 8];
        let mut lo = [0u8; 8];
        hi.copy_from_slice(&self.0[..8]);
        lo.copy_from_slice(&self.0[8..]);
        crate::det::hash_words(&[u64::from_be_bytes(hi), u64::from_be_bytes(lo)])
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 36];
        let mut pos = 0;
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out[pos] = b'-';
                pos += 1;
            }
            out[pos] = HEX[usize::from(b >> 4)];
            out[pos + 1] = HEX[usize::from(b & 0x0f)];
            pos += 2;
        }
        // Only ASCII hex digits and dashes were written.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        let uid = Uid::v4([0xab; 16]);
        let text = uid.to_string();
        assert_eq!(text, "abababab-abab-4bab-abab-abababababab");
        assert_eq!(Uid::parse(&text), Some(uid));
        assert_eq!(Uid::parse(&text.to_uppercase()), Some(uid));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "abababab-abab-4bab-abab-ababababab",
            "abababab_abab-4bab-abab-abababababab",
            "gbababab-abab-4bab-abab-abababababab",
            "abababababab-4bab-abab-abababababab",
        ] {
            assert_eq!(Uid::parse(bad), None, "{bad}");
        }
    }
}
