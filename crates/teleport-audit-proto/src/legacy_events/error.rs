//! [`OneOfError`]: why an `events.OneOf` could not be turned into JSON, or JSON into a `OneOf`.

/// Why [`oneof_to_struct`](super::oneof_to_struct) or [`json_to_oneof`](super::json_to_oneof)
/// failed. Every case is one where Teleport's own Go client fails too (its `Unmarshal`,
/// `FromOneOf` or `ToUnstructured` returns an error), except [`OneOfError::TooDeep`], our bound
/// on nesting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OneOfError {
    /// The message holds no event (no `OneOf` variant at all): Teleport's
    /// "failed to parse event, session record is corrupted".
    #[error("the session recording event holds no event")]
    Empty,
    /// The message's event is a `OneOf` variant this build does not know (a newer Teleport's
    /// event type): its field number.
    #[error("the session recording event is of an unknown kind (events.OneOf field {0})")]
    UnknownVariant(u32),
    /// The bytes are not a valid encoding of the event.
    #[error("the session recording event is not valid protobuf: {0}")]
    Malformed(Malformed),
    /// Messages or JSON values nest deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error(
        "the session recording event nests deeper than {} levels",
        super::MAX_DEPTH
    )]
    TooDeep,
    /// The event would make more JSON values than its size allows (one per two bytes, plus
    /// 4096): a hostile message of many empty nested messages, each of which Go writes as a
    /// whole object.
    #[error("the session recording event would make too large a JSON document")]
    TooLarge,
    /// The event decodes, but Go's `encoding/json` cannot write it (so `ToUnstructured` fails):
    /// a NaN or infinite number, or a `google.protobuf.Value` without a kind.
    #[error("the session recording event cannot be written as JSON: {0}")]
    Unrepresentable(&'static str),
    /// [`json_to_oneof`](super::json_to_oneof): the JSON has no string `event` (its type).
    #[error("the event has no \"event\" (type) string")]
    MissingType,
    /// [`json_to_oneof`](super::json_to_oneof): no `OneOf` variant is known for this type.
    #[error("no events.OneOf variant is known for event type {0:?}")]
    UnknownType(String),
    /// [`json_to_oneof`](super::json_to_oneof): a value of the wrong JSON type or out of range.
    #[error("JSON field {key:?} is not {expected}")]
    InvalidValue {
        /// The JSON key.
        key: String,
        /// What it should be, e.g. "an integer".
        expected: &'static str,
    },
}

/// What is wrong with the protobuf bytes of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The message ends inside a field.
    #[error("truncated")]
    Truncated,
    /// A varint longer than ten bytes.
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    /// Wire type 6 or 7.
    #[error("invalid wire type")]
    WireType,
    /// Field number 0 (or one too large).
    #[error("invalid field number")]
    FieldNumber,
    /// An end-group marker without its start.
    #[error("unbalanced group")]
    EndGroup,
    /// A known field with a wire type its type does not allow.
    #[error("a field has the wrong wire type")]
    FieldWireType,
    /// A timestamp outside years 1 to 9999, or with nanoseconds outside 0..1e9.
    #[error("timestamp out of range")]
    Timestamp,
}
