//! [`RawStruct`]: a `google.protobuf.Struct` kept as its encoded bytes.

use bytes::{Buf, BufMut, Bytes};
use prost::DecodeError;
use prost::encoding::{DecodeContext, WireType, decode_varint, encode_key, encode_varint};

/// A `google.protobuf.Struct` message kept as its protobuf encoding.
///
/// Decoding copies the message's fields verbatim, without interpreting them; encoding writes the
/// bytes back unchanged. Whether the bytes form a valid `Struct` is checked later, by whoever
/// reads them (`teleport_audit_types::wire`), so one malformed event does not fail a whole page.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RawStruct {
    bytes: Vec<u8>,
}

/// An `events.OneOf` (one event of a session recording, from the legacy
/// `proto.AuthService/StreamSessionEvents`) kept as its protobuf encoding, like [`RawStruct`].
/// [`crate::legacy_events::oneof_to_struct`] turns the bytes into the event's JSON.
pub type RawOneOf = RawStruct;

impl RawStruct {
    /// Wraps bytes that are (or claim to be) an encoded `google.protobuf.Struct`.
    pub fn from_encoded(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
        }
    }

    /// The encoded `Struct` message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the wrapper, returning the encoded message.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.bytes)
    }
}

impl std::fmt::Debug for RawStruct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawStruct")
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl prost::Message for RawStruct {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.bytes);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        // Re-encode the field key, then copy its value through prost's own decoders (they do the
        // bounds checks). Groups are not valid in a Struct and are refused.
        let out = &mut self.bytes;
        match wire_type {
            WireType::Varint => {
                let value = decode_varint(buf)?;
                encode_key(tag, wire_type, out);
                encode_varint(value, out);
            }
            WireType::SixtyFourBit => {
                let mut value = 0u64;
                prost::encoding::fixed64::merge(wire_type, &mut value, buf, ctx)?;
                encode_key(tag, wire_type, out);
                out.put_u64_le(value);
            }
            WireType::ThirtyTwoBit => {
                let mut value = 0u32;
                prost::encoding::fixed32::merge(wire_type, &mut value, buf, ctx)?;
                encode_key(tag, wire_type, out);
                out.put_u32_le(value);
            }
            WireType::LengthDelimited | WireType::StartGroup | WireType::EndGroup => {
                let mut value = Bytes::new();
                prost::encoding::bytes::merge(wire_type, &mut value, buf, ctx)?;
                encode_key(tag, wire_type, out);
                encode_varint(value.len() as u64, out);
                out.put_slice(&value);
            }
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    fn clear(&mut self) {
        self.bytes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// A message with the same field 5 as `EventUnstructured`, but decoded with prost's own
    /// `Struct`, to check that the raw bytes survive a decode/encode round trip unchanged.
    #[derive(Clone, PartialEq, prost::Message)]
    struct WithStruct {
        #[prost(string, tag = "2")]
        id: String,
        #[prost(message, optional, tag = "5")]
        payload: Option<prost_types::Struct>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct WithRaw {
        #[prost(string, tag = "2")]
        id: String,
        #[prost(message, optional, tag = "5")]
        payload: Option<RawStruct>,
    }

    fn sample() -> WithStruct {
        use prost_types::{ListValue, Struct, Value, value::Kind};
        let mut fields = std::collections::BTreeMap::new();
        fields.insert(
            "event".to_owned(),
            Value {
                kind: Some(Kind::StringValue("user.login".into())),
            },
        );
        fields.insert(
            "ei".to_owned(),
            Value {
                kind: Some(Kind::NumberValue(0.0)),
            },
        );
        fields.insert(
            "roles".to_owned(),
            Value {
                kind: Some(Kind::ListValue(ListValue {
                    values: vec![Value {
                        kind: Some(Kind::BoolValue(true)),
                    }],
                })),
            },
        );
        WithStruct {
            id: "abc".into(),
            payload: Some(Struct { fields }),
        }
    }

    #[test]
    fn raw_bytes_are_the_struct_encoding_and_round_trip() {
        let original = sample();
        let wire = original.encode_to_vec();

        let raw = WithRaw::decode(wire.as_slice()).unwrap();
        assert_eq!(raw.id, "abc");
        let payload = raw.payload.clone().unwrap();
        assert_eq!(
            payload.as_bytes(),
            original
                .payload
                .as_ref()
                .unwrap()
                .encode_to_vec()
                .as_slice()
        );

        let re_encoded = raw.encode_to_vec();
        assert_eq!(WithStruct::decode(re_encoded.as_slice()).unwrap(), original);
    }

    #[test]
    fn truncated_payload_is_a_decode_error() {
        let wire = sample().encode_to_vec();
        let truncated = &wire[..wire.len() - 3];
        assert!(WithRaw::decode(truncated).is_err());
    }

    #[test]
    fn debug_shows_length_only() {
        let raw = RawStruct::from_encoded(vec![1u8, 2, 3]);
        assert_eq!(format!("{raw:?}"), "RawStruct { len: 3 }");
    }
}
