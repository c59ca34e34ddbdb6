//! What the binary's tests share: the binary with a clean environment, the files a client needs
//! for a simulated cluster, and SIGTERM.

#![allow(dead_code, unreachable_pub)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use teleport_audit_sim::SimCluster;
use teleport_audit_sim::ca::IdentitySpec;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_teleport-audit");

/// The binary with `args`, without the environment variables that would change what it does
/// (settings, HTTP proxies, log filters), and no stdin. For tokio: `tokio::process::Command::from`.
pub fn command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(BIN);
    // Every setting's variable: TELEPORT_AUDIT_<FLAG>, and Teleport's own names.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TELEPORT_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env_remove("TELEPORT_IDENTITY")
        .env_remove("TELEPORT_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// An auditor's identity file and the proxy's CA for a simulated cluster, in a temporary
/// directory (removed on drop).
pub struct ClientFiles {
    pub dir: tempfile::TempDir,
    pub identity: PathBuf,
    pub proxy_ca: PathBuf,
}

impl ClientFiles {
    pub fn for_sim(sim: &SimCluster) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let identity = dir.path().join("identity");
        let text = sim
            .issue_identity(
                &IdentitySpec::default()
                    .username("auditor")
                    .roles(["auditor"]),
            )
            .unwrap();
        std::fs::write(&identity, text).unwrap();
        let proxy_ca = dir.path().join("proxy-ca.pem");
        std::fs::write(&proxy_ca, sim.web_ca_pem()).unwrap();
        Self {
            dir,
            identity,
            proxy_ca,
        }
    }
}

/// Sends SIGTERM to `pid`.
pub fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM {pid}");
}

/// The seed of a randomised test: `CRASH_SEED` when set (to replay a run), else from the clock
/// and the process id.
pub fn seed() -> u64 {
    match std::env::var("CRASH_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("CRASH_SEED={text:?} is not a u64")),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            nanos ^ u64::from(std::process::id()).rotate_left(32)
        }
    }
}

/// splitmix64: a small generator whose runs a seed replays.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
