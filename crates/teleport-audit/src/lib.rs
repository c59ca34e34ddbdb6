//! teleport-audit (work in progress).
