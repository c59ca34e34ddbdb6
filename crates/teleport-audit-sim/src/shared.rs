//! [`Shared`]: the state every server task of one cluster reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::faults::Faults;
use crate::roles::Roles;
use crate::stats::Stats;
use crate::store::EventStore;

pub(crate) struct Shared {
    pub(crate) cluster_name: String,
    pub(crate) server_version: String,
    /// `server_version`, parsed: decides which RPCs exist.
    pub(crate) version: Version,
    /// Oldest client version the Auth Service accepts in the `version` metadata header
    /// (`<major-1>.0.0-aa`; announced by `/webapi/ping` whether or not it is enforced).
    pub(crate) min_client_version: Version,
    /// Whether the Auth Service disconnects older clients (see `auth::client_version`).
    pub(crate) reject_old_clients: bool,
    pub(crate) store: EventStore,
    pub(crate) faults: Faults,
    pub(crate) stats: Stats,
    pub(crate) roles: RwLock<Roles>,
    pub(crate) page_byte_cap: usize,
    pub(crate) ws_ping_interval: Duration,
    pub(crate) ws_pong_timeout: Option<Duration>,
    /// `/webapi/connectionupgrade` serves WebSocket (Teleport 15+) or only the legacy types.
    pub(crate) websocket_upgrade: bool,
    pub(crate) proxy_public_addr: String,
    pub(crate) load_balancer_mode: AtomicBool,
    /// Bumped by every stop of the servers: stalled calls and upgraded connections end.
    pub(crate) generation: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn roles(&self) -> std::sync::RwLockReadGuard<'_, Roles> {
        self.roles.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn load_balancer_mode(&self) -> bool {
        self.load_balancer_mode.load(Ordering::SeqCst)
    }

    /// Resolves when the servers stop (restart or shutdown) after this call.
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.generation.subscribe();
        async move {
            let _ = rx.changed().await;
        }
    }
}

/// A semantic version, as far as Teleport's client version check needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    core: (u64, u64, u64),
    pre: Option<String>,
}

impl Version {
    /// Parses `MAJOR.MINOR.PATCH[-PRE][+BUILD]` (an optional leading `v`).
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let text = text.split('+').next().unwrap_or(text);
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, Some(pre.to_string())),
            Some(_) => return None,
            None => (text, None),
        };
        let mut parts = core.split('.').map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u64>().ok())
                .flatten()
        });
        let version = (parts.next()??, parts.next()??, parts.next()??);
        if parts.next().is_some() {
            return None;
        }
        Some(Version { core: version, pre })
    }

    /// `MAJOR.MINOR.PATCH`.
    pub(crate) const fn new(major: u64, minor: u64, patch: u64) -> Version {
        Version {
            core: (major, minor, patch),
            pre: None,
        }
    }

    /// The major version.
    pub(crate) const fn major(&self) -> u64 {
        self.core.0
    }

    /// The oldest client a server of this version accepts: `<major-1>.0.0-aa`.
    pub(crate) fn min_client(&self) -> Version {
        Version {
            core: (self.core.0.saturating_sub(1), 0, 0),
            pre: Some("aa".to_string()),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        self.core
            .cmp(&other.core)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Equal,
                (None, Some(_)) => Greater,
                (Some(_), None) => Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.core.0, self.core.1, self.core.2)?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare_like_semver() {
        let v = |s: &str| Version::parse(s).unwrap();
        assert_eq!(v("18.2.0").min_client().to_string(), "17.0.0-aa");
        assert!(v("17.0.0") > v("17.0.0-aa"));
        assert!(v("16.4.9") < v("17.0.0-aa"));
        assert!(v("v17.1.0+build5") > v("17.0.0"));
        for bad in ["", "18", "18.2", "18.2.0.1", "a.b.c", "18.2.0-", "1..2"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }
}
