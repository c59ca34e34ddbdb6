//! The table `build.rs` generates from the vendored `events.proto`: for every message that
//! Teleport's `events.OneOf` reaches, how Go's `encoding/json` writes each field of the
//! gogo-generated struct (JSON key, `omitempty`, flattening of embedded structs, and the special
//! Go types behind gogoproto options).

use super::error::OneOfError;

/// One message (the generated file names each in a comment).
#[derive(Debug)]
pub(crate) struct Msg {
    /// Its fields, sorted by number.
    pub(crate) fields: &'static [Field],
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    /// The protobuf field number.
    pub(crate) number: u32,
    /// The JSON key; `""` for an embedded struct whose fields Go writes into the parent object;
    /// `"-"` for a field Go does not write.
    pub(crate) json: &'static str,
    /// The json tag names the field (`json` is not the Go field name): a tagged field wins a
    /// name conflict against an untagged one at the same depth of embedding.
    pub(crate) tagged: bool,
    /// The json tag's `omitempty`: Go leaves out `false`, `0`, `""`, nil pointers and empty
    /// slices and maps (never a struct value).
    pub(crate) omit_empty: bool,
    /// A `repeated` field (a Go slice).
    pub(crate) repeated: bool,
    /// What the field holds.
    pub(crate) kind: Kind,
}

/// What a field holds, on the wire and as a Go type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    #[allow(
        dead_code,
        reason = "no field of events.proto has this type today; build.rs emits it when one does"
    )]
    Sint64,
    Fixed32,
    Fixed64,
    #[allow(
        dead_code,
        reason = "no field of events.proto has this type today; build.rs emits it when one does"
    )]
    Sfixed32,
    #[allow(
        dead_code,
        reason = "no field of events.proto has this type today; build.rs emits it when one does"
    )]
    Sfixed64,
    Float,
    #[allow(
        dead_code,
        reason = "no field of events.proto has this type today; build.rs emits it when one does"
    )]
    Double,
    String,
    /// `[]byte`: standard base64 in JSON.
    Bytes,
    /// A Go `int32` enum type without a `MarshalJSON`: a number.
    Enum,
    /// A nested message: a struct value (`nullable: false`) or a pointer.
    Message {
        msg: u16,
        nullable: bool,
    },
    /// An embedded struct value with an empty json name: its fields go into the parent object
    /// (Go's rules for two fields with the same name apply: see `decode::resolve`).
    Embed {
        msg: u16,
    },
    /// `google.protobuf.Timestamp` with `stdtime`: Go's `time.Time` (or `*time.Time`).
    Time {
        nullable: bool,
    },
    /// `google.protobuf.Struct` with casttype `Struct`: a JSON object.
    Struct {
        nullable: bool,
    },
    /// `wrappers.LabelValues` with customtype `wrappers.Traits`: `map[string][]string`.
    Traits,
    /// `google.protobuf.UInt32Value` with `wktpointer`: `*uint32`.
    U32Ptr,
    /// `google.protobuf.UInt64Value` with `wktpointer`: `*uint64`.
    U64Ptr,
    /// `map<string, string>`.
    StringMap,
}

/// One variant of `events.OneOf`.
#[derive(Debug)]
pub(crate) struct Variant {
    /// Its field number in `OneOf`.
    pub(crate) number: u32,
    /// Its field name (the Go struct's name), e.g. `SessionPrint`.
    pub(crate) name: &'static str,
    /// Its message, an index into [`MESSAGES`].
    pub(crate) msg: u16,
}

impl Msg {
    /// The message at `index` in [`MESSAGES`]. The generated indexes are valid; a miss would be
    /// a bug of `build.rs`, reported as an error rather than a panic.
    pub(crate) fn at(index: u16) -> Result<&'static Msg, OneOfError> {
        MESSAGES
            .get(usize::from(index))
            .ok_or(OneOfError::Unrepresentable(
                "a message missing from the generated table",
            ))
    }
}

include!(concat!(env!("OUT_DIR"), "/oneof_table.rs"));
