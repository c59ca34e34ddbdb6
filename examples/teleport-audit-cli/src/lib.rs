//! The `teleport-audit` binary's command-line definition and its [secret guard](secret_guard),
//! as a library: tests walk the definition ([`command`]) to try every subcommand and every flag,
//! and the guard is unit-tested here.
//!
//! The binary (`main.rs`) compiles the same `args.rs` for its own use; `args.rs` refers to no
//! other module of this crate (its value parsers are the library's, e.g.
//! `teleport_audit::parse_duration`).

// The binary reads the fields; here only the definition is used.
#[allow(dead_code)]
#[path = "args.rs"]
mod args;
pub mod exit;
pub mod secret_guard;
pub mod settings;

/// The command-line definition of `teleport-audit` (every subcommand, flag and environment
/// variable), as clap builds it from the binary's arguments, with the [settings](settings)
/// layer (`--config`, a `TELEPORT_AUDIT_<FLAG>` variable on every flag).
pub fn command() -> clap::Command {
    settings::define(<args::Cli as clap::CommandFactory>::command())
}
