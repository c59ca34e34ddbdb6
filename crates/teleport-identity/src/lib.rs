//! teleport-identity (work in progress).
