//! Just enough DER to write an X.509 `TBSCertificate` by hand and to take apart the few
//! structures the CA needs to read (PKCS#8 wrappers, RSA public keys).
//!
//! rcgen cannot write a subject with several values of one attribute type (Teleport puts every
//! role in one multi-valued `O` RDN), so identity leaves are assembled here.

use time::OffsetDateTime;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_UTF8_STRING: u8 = 0x0c;
pub(crate) const TAG_PRINTABLE_STRING: u8 = 0x13;
pub(crate) const TAG_UTC_TIME: u8 = 0x17;
pub(crate) const TAG_GENERALIZED_TIME: u8 = 0x18;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_SET: u8 = 0x31;

/// One TLV.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

pub(crate) fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &parts.concat())
}

/// A SET OF: DER sorts the encoded elements.
pub(crate) fn set_of(mut parts: Vec<Vec<u8>>) -> Vec<u8> {
    parts.sort();
    tlv(TAG_SET, &parts.concat())
}

/// `[n] EXPLICIT`.
pub(crate) fn explicit(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xa0 | n, content)
}

pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        [a] => (a * 40, &[][..]),
        [] => (0, &[][..]),
    };
    for arc in std::iter::once(first).chain(rest.iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut value = arc >> 7;
        while value > 0 {
            groups.push(0x80 | (value & 0x7f) as u8);
            value >>= 7;
        }
        body.extend(groups.iter().rev());
    }
    tlv(TAG_OID, &body)
}

/// A non-negative INTEGER from big-endian magnitude bytes.
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
    let mut body = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend(trimmed);
    tlv(TAG_INTEGER, &body)
}

pub(crate) fn bit_string(bytes: &[u8], unused_bits: u8) -> Vec<u8> {
    let mut body = Vec::with_capacity(bytes.len() + 1);
    body.push(unused_bits);
    body.extend_from_slice(bytes);
    tlv(TAG_BIT_STRING, &body)
}

/// A directory string the way Go's `encoding/asn1` writes one: PrintableString when every
/// character allows it, UTF8String otherwise.
pub(crate) fn directory_string(value: &str) -> Vec<u8> {
    let printable = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let tag = if printable {
        TAG_PRINTABLE_STRING
    } else {
        TAG_UTF8_STRING
    };
    tlv(tag, value.as_bytes())
}

/// X.509 `Time`: UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5).
pub(crate) fn time(at: OffsetDateTime) -> Vec<u8> {
    let at = at.to_offset(time::UtcOffset::UTC);
    let (year, month, day) = (at.year(), u8::from(at.month()), at.day());
    let (hour, minute, second) = (at.hour(), at.minute(), at.second());
    if (1950..2050).contains(&year) {
        let text = format!(
            "{:02}{month:02}{day:02}{hour:02}{minute:02}{second:02}Z",
            year % 100
        );
        tlv(TAG_UTC_TIME, text.as_bytes())
    } else {
        let text = format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}Z");
        tlv(TAG_GENERALIZED_TIME, text.as_bytes())
    }
}

/// Reads one TLV off the front of `input`: `(tag, content, rest)`. Definite lengths only.
pub(crate) fn read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > std::mem::size_of::<usize>() || rest.len() < count {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(count);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// Reads one TLV that must carry `tag`.
pub(crate) fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match read(input)? {
        (found, content, rest) if found == tag => Some((content, rest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_known_values() {
        // 1.2.840.10045.4.3.2 (ecdsa-with-SHA256), as printed by `openssl asn1parse`.
        assert_eq!(
            oid(&[1, 2, 840, 10045, 4, 3, 2]),
            [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
        );
        assert_eq!(unsigned_integer(&[0x00, 0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned_integer(&[]), [0x02, 0x01, 0x00]);
        let long = tlv(TAG_OCTET_STRING, &[7u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(directory_string("alice")[0], TAG_PRINTABLE_STRING);
        assert_eq!(directory_string("a*b")[0], TAG_UTF8_STRING);
        assert_eq!(directory_string("{\"k\":[]}")[0], TAG_UTF8_STRING);
    }

    #[test]
    fn reads_what_it_writes() {
        let encoded = sequence(&[unsigned_integer(&[5]), tlv(0x05, &[])]);
        let (content, rest) = expect(&encoded, TAG_SEQUENCE).unwrap();
        assert!(rest.is_empty());
        let (five, content) = expect(content, TAG_INTEGER).unwrap();
        assert_eq!(five, [5]);
        assert_eq!(expect(content, 0x05).unwrap().0, [] as [u8; 0]);
        assert!(read(&[0x30, 0x05, 0x00]).is_none(), "truncated");
    }

    #[test]
    fn times_switch_encoding_in_2050() {
        let at = time::macros::datetime!(2049-12-31 23:59:59 UTC);
        assert_eq!(time(at), tlv(TAG_UTC_TIME, b"491231235959Z"));
        let at = time::macros::datetime!(2050-01-01 00:00:00 UTC);
        assert_eq!(time(at), tlv(TAG_GENERALIZED_TIME, b"20500101000000Z"));
    }
}
