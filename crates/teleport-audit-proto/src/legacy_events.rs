//! PLACEHOLDER for helper "oneof"'s module (Teleport's legacy `events.OneOf` to and from the
//! `google.protobuf.Struct` `apievents.ToUnstructured` makes). Only the signature the client's
//! legacy session path calls is here; every call fails with [`OneOfError::Unsupported`]. The real
//! module replaces this file at merge.

use std::fmt;

/// Why an `events.OneOf` could not be converted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OneOfError {
    /// This build cannot convert `events.OneOf` (placeholder).
    Unsupported,
}

impl fmt::Display for OneOfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OneOfError::Unsupported => f.write_str("events.OneOf conversion is not built in"),
        }
    }
}

impl std::error::Error for OneOfError {}

/// The encoded `google.protobuf.Struct` Teleport's `ToUnstructured` makes of one encoded
/// `events.OneOf`.
///
/// # Errors
///
/// Always [`OneOfError::Unsupported`] (placeholder).
pub fn oneof_to_struct(bytes: &[u8]) -> Result<Vec<u8>, OneOfError> {
    let _ = bytes;
    Err(OneOfError::Unsupported)
}
