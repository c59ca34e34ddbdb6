//! teleport-audit-sim (work in progress).

pub mod ca;
