//! teleport-audit-sim (work in progress).
