//! teleport-audit-types (work in progress).
