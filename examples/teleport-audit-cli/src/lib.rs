//! The `teleport-audit` binary's command-line definition and its [secret guard](secret_guard),
//! as a library: tests walk the definition ([`command`]) to try every subcommand and every flag,
//! and the guard is unit-tested here.
//!
//! The binary (`main.rs`) compiles the same `args.rs` for its own use; `args.rs` may refer to
//! `crate::duration` only (keep its other dependencies in the library crates).

// The binary reads the fields; here only the definition is used.
#[allow(dead_code)]
#[path = "args.rs"]
mod args;
#[allow(dead_code)]
#[path = "duration.rs"]
mod duration;
pub mod secret_guard;

/// The command-line definition of `teleport-audit` (every subcommand, flag and environment
/// variable), as clap builds it from the binary's arguments.
pub fn command() -> clap::Command {
    <args::Cli as clap::CommandFactory>::command()
}
