//! Reading and writing the protobuf wire format the way gogo's generated Go code reads it:
//! varints of up to ten bytes (extra high bits dropped), lengths checked against the input,
//! groups skipped in unknown fields, wire types 6 and 7 refused.

use super::error::{Malformed, OneOfError};

/// A field's wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    StartGroup,
    EndGroup,
    Fixed32,
}

/// A field's value as it was on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
    /// A group (skipped; only valid in fields we do not know).
    Group,
}

impl Raw<'_> {
    pub(crate) fn wire_type(&self) -> WireType {
        match self {
            Raw::Varint(_) => WireType::Varint,
            Raw::Fixed64(_) => WireType::Fixed64,
            Raw::Fixed32(_) => WireType::Fixed32,
            Raw::Len(_) => WireType::Len,
            Raw::Group => WireType::StartGroup,
        }
    }
}

/// Iterates over the fields of one message.
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Fields<'a> {
        Fields { rest: bytes }
    }

    /// The next field: its number and value, or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, Raw<'a>)>, OneOfError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        let wire = wire_type(key)?;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(OneOfError::Malformed(Malformed::FieldNumber));
        }
        let number = number as u32;
        let raw = match wire {
            WireType::Varint => Raw::Varint(self.varint()?),
            WireType::Fixed64 => Raw::Fixed64(u64::from_le_bytes(self.take_array()?)),
            WireType::Fixed32 => Raw::Fixed32(u32::from_le_bytes(self.take_array()?)),
            WireType::Len => Raw::Len(self.take_len()?),
            WireType::StartGroup => {
                self.skip_group(number)?;
                Raw::Group
            }
            WireType::EndGroup => return Err(OneOfError::Malformed(Malformed::EndGroup)),
        };
        Ok(Some((number, raw)))
    }

    fn varint(&mut self) -> Result<u64, OneOfError> {
        let (value, used) = read_varint(self.rest)?;
        self.rest = self.rest.get(used..).unwrap_or_default();
        Ok(value)
    }

    /// A length-delimited value: its length (checked against what is left), then its bytes.
    fn take_len(&mut self) -> Result<&'a [u8], OneOfError> {
        let len = self.varint()?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.rest.len())
            .ok_or(OneOfError::Malformed(Malformed::Truncated))?;
        let (value, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(value)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], OneOfError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(OneOfError::Malformed(Malformed::Truncated))?;
        self.rest = rest;
        Ok(*head)
    }

    /// Skips to the end of a group (nested groups included), as gogo's `skip` does.
    fn skip_group(&mut self, number: u32) -> Result<(), OneOfError> {
        let mut open = vec![number];
        while let Some(&top) = open.last() {
            if self.rest.is_empty() {
                return Err(OneOfError::Malformed(Malformed::Truncated));
            }
            if open.len() > super::MAX_DEPTH {
                return Err(OneOfError::TooDeep);
            }
            let key = self.varint()?;
            let field = (key >> 3) as u32;
            match wire_type(key)? {
                WireType::Varint => {
                    self.varint()?;
                }
                WireType::Fixed64 => {
                    self.take_array::<8>()?;
                }
                WireType::Fixed32 => {
                    self.take_array::<4>()?;
                }
                WireType::Len => {
                    self.take_len()?;
                }
                WireType::StartGroup => open.push(field),
                WireType::EndGroup => {
                    if field != top {
                        return Err(OneOfError::Malformed(Malformed::EndGroup));
                    }
                    open.pop();
                }
            }
        }
        Ok(())
    }
}

fn wire_type(key: u64) -> Result<WireType, OneOfError> {
    Ok(match key & 7 {
        0 => WireType::Varint,
        1 => WireType::Fixed64,
        2 => WireType::Len,
        3 => WireType::StartGroup,
        4 => WireType::EndGroup,
        5 => WireType::Fixed32,
        _ => return Err(OneOfError::Malformed(Malformed::WireType)),
    })
}

/// A varint as Go's generated code reads it: at most ten bytes, bits past 64 dropped.
pub(crate) fn read_varint(bytes: &[u8]) -> Result<(u64, usize), OneOfError> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).checked_shl(7 * i as u32).unwrap_or(0);
        if b < 0x80 {
            return Ok((value, i + 1));
        }
    }
    if bytes.len() >= 10 {
        Err(OneOfError::Malformed(Malformed::VarintOverflow))
    } else {
        Err(OneOfError::Malformed(Malformed::Truncated))
    }
}

/// Reads a packed repeated scalar: a run of varints or fixed-size values.
pub(crate) fn unpack<'a>(
    bytes: &'a [u8],
    wire: WireType,
) -> impl Iterator<Item = Result<Raw<'a>, OneOfError>> + 'a {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let item = match wire {
            WireType::Fixed64 => match rest.split_first_chunk::<8>() {
                Some((head, tail)) => {
                    rest = tail;
                    Ok(Raw::Fixed64(u64::from_le_bytes(*head)))
                }
                None => Err(OneOfError::Malformed(Malformed::Truncated)),
            },
            WireType::Fixed32 => match rest.split_first_chunk::<4>() {
                Some((head, tail)) => {
                    rest = tail;
                    Ok(Raw::Fixed32(u32::from_le_bytes(*head)))
                }
                None => Err(OneOfError::Malformed(Malformed::Truncated)),
            },
            _ => match read_varint(rest) {
                Ok((value, used)) => {
                    rest = rest.get(used..).unwrap_or_default();
                    Ok(Raw::Varint(value))
                }
                Err(error) => Err(error),
            },
        };
        if item.is_err() {
            rest = &[];
        }
        Some(item)
    })
}

/// Writes protobuf fields.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn varint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    pub(crate) fn key(&mut self, number: u32, wire: WireType) {
        let w = match wire {
            WireType::Varint => 0,
            WireType::Fixed64 => 1,
            WireType::Len => 2,
            WireType::StartGroup => 3,
            WireType::EndGroup => 4,
            WireType::Fixed32 => 5,
        };
        self.varint((u64::from(number) << 3) | w);
    }

    pub(crate) fn varint_field(&mut self, number: u32, value: u64) {
        self.key(number, WireType::Varint);
        self.varint(value);
    }

    pub(crate) fn fixed64_field(&mut self, number: u32, value: u64) {
        self.key(number, WireType::Fixed64);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn fixed32_field(&mut self, number: u32, value: u32) {
        self.key(number, WireType::Fixed32);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn bytes_field(&mut self, number: u32, value: &[u8]) {
        self.key(number, WireType::Len);
        self.varint(value.len() as u64);
        self.buf.extend_from_slice(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_follow_go() {
        assert_eq!(read_varint(&[0x01]).unwrap(), (1, 1));
        assert_eq!(read_varint(&[0x96, 0x01]).unwrap(), (150, 2));
        // Ten bytes with high bits past 64: Go keeps the low 64 bits.
        let ten = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(read_varint(&ten).unwrap(), (u64::MAX, 10));
        let eleven = [0xff; 11];
        assert_eq!(
            read_varint(&eleven),
            Err(OneOfError::Malformed(Malformed::VarintOverflow))
        );
        assert_eq!(
            read_varint(&[0x80]),
            Err(OneOfError::Malformed(Malformed::Truncated))
        );
    }

    #[test]
    fn groups_are_skipped_and_bad_wire_types_refused() {
        // field 5 start group, field 1 varint 1, field 5 end group, then field 2 varint 7.
        let bytes = [0x2b, 0x08, 0x01, 0x2c, 0x10, 0x07];
        let mut fields = Fields::new(&bytes);
        assert_eq!(fields.next_field().unwrap(), Some((5, Raw::Group)));
        assert_eq!(fields.next_field().unwrap(), Some((2, Raw::Varint(7))));
        assert_eq!(fields.next_field().unwrap(), None);
        let mut bad = Fields::new(&[0x0e]);
        assert_eq!(
            bad.next_field(),
            Err(OneOfError::Malformed(Malformed::WireType))
        );
        let mut unclosed = Fields::new(&[0x2b, 0x08, 0x01]);
        assert_eq!(
            unclosed.next_field(),
            Err(OneOfError::Malformed(Malformed::Truncated))
        );
        let mut long = Fields::new(&[0x0a, 0x05, 0x01]);
        assert_eq!(
            long.next_field(),
            Err(OneOfError::Malformed(Malformed::Truncated))
        );
    }
}
