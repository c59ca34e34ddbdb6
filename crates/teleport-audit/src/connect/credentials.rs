//! The credentials each dial uses: a fixed identity, an identity file re-read when it changes
//! (Machine ID / `tbot` renews it in place), or a ready rustls configuration.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use teleport_identity::secret_text::shown_path;
use teleport_identity::{AuthRoute, Identity};

use super::auth_tls::AuthTls;
use crate::error::{AuthError, Error, SettingError};

/// Where the identity comes from, as configured.
#[derive(Clone)]
pub(crate) enum IdentitySetting {
    /// Parsed once (from the secret's text, or given ready).
    Fixed(Arc<Identity>),
    /// A file, re-read at each dial if it changed. `initial` is set when it was already parsed.
    File {
        path: PathBuf,
        initial: Option<Arc<Identity>>,
    },
}

impl IdentitySetting {
    /// The username, for `Debug` output.
    pub(crate) fn describe(&self) -> String {
        match self {
            IdentitySetting::Fixed(identity) => identity.summary().username.clone(),
            IdentitySetting::File { path, .. } => {
                format!("file {}", shown_path(path).display())
            }
        }
    }
}

/// The credentials of a client, shared by all its dials.
pub(crate) struct Credentials {
    kind: Kind,
}

enum Kind {
    Fixed {
        identity: Arc<Identity>,
        tls: AuthTls,
    },
    File(IdentityFile),
    /// A ready rustls configuration; the identity, if one was also given, names the cluster to
    /// expect and is checked for validity.
    Custom {
        tls: AuthTls,
        identity: Option<Arc<Identity>>,
    },
}

/// An identity file, re-read when it changed.
struct IdentityFile {
    path: PathBuf,
    route: AuthRoute,
    cluster: String,
    loaded: Mutex<Loaded>,
}

impl IdentityFile {
    /// The identity loaded from the file, re-read first if the file changed (`None` if a
    /// panic poisoned the lock).
    fn current(&self) -> Option<MutexGuard<'_, Loaded>> {
        let mut loaded = self.loaded.lock().ok()?;
        refresh(&mut loaded, &self.path, self.route, &self.cluster);
        Some(loaded)
    }
}

struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    identity: Arc<Identity>,
    tls: AuthTls,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Fixed { tls, .. } => f.debug_tuple("Fixed").field(tls).finish(),
            Kind::File(file) => f
                .debug_struct("File")
                .field("path", &file.path)
                .field("cluster", &file.cluster)
                .finish_non_exhaustive(),
            Kind::Custom { tls, .. } => f.debug_tuple("Custom").field(tls).finish(),
        }
    }
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Credentials {
    /// Builds the credentials of a client.
    pub(crate) fn new(
        setting: Option<&IdentitySetting>,
        custom_tls: Option<Arc<rustls::ClientConfig>>,
        route: AuthRoute,
    ) -> Result<Self, Error> {
        let kind = match (custom_tls, setting) {
            (Some(config), setting) => Kind::Custom {
                tls: AuthTls::from_config(config),
                identity: match setting {
                    Some(IdentitySetting::Fixed(identity)) => Some(Arc::clone(identity)),
                    Some(IdentitySetting::File {
                        initial: Some(identity),
                        ..
                    }) => Some(Arc::clone(identity)),
                    Some(IdentitySetting::File {
                        path,
                        initial: None,
                    }) => Some(Arc::new(Identity::from_identity_file(path)?)),
                    None => None,
                },
            },
            (None, Some(IdentitySetting::Fixed(identity))) => Kind::Fixed {
                tls: AuthTls::from_identity(identity, route)?,
                identity: Arc::clone(identity),
            },
            (None, Some(IdentitySetting::File { path, initial })) => {
                let stamp = stamp(path);
                let identity = match initial {
                    Some(identity) => Arc::clone(identity),
                    None => Arc::new(Identity::from_identity_file(path)?),
                };
                Kind::File(IdentityFile {
                    path: path.clone(),
                    route,
                    cluster: identity.cluster_name().to_owned(),
                    loaded: Mutex::new(Loaded {
                        stamp,
                        tls: AuthTls::from_identity(&identity, route)?,
                        identity,
                    }),
                })
            }
            (None, None) => {
                return Err(Error::Setting(SettingError::config(
                    "identity",
                    "no identity (and no TLS configuration) given",
                )));
            }
        };
        Ok(Self { kind })
    }

    /// The identity the next dial will use: an identity file is re-read first if it changed
    /// (so a renewal shows at once, not only at the next dial). `None` with a custom TLS
    /// configuration and no identity.
    pub(crate) fn current_identity(&self) -> Option<Arc<Identity>> {
        match &self.kind {
            Kind::File(file) => file.current().map(|loaded| Arc::clone(&loaded.identity)),
            Kind::Fixed { .. } | Kind::Custom { .. } => self.identity(),
        }
    }

    /// The identity the client authenticates with now (none with a custom TLS configuration).
    pub(crate) fn identity(&self) -> Option<Arc<Identity>> {
        match &self.kind {
            Kind::Fixed { identity, .. } => Some(Arc::clone(identity)),
            Kind::File(file) => file
                .loaded
                .lock()
                .ok()
                .map(|loaded| Arc::clone(&loaded.identity)),
            Kind::Custom { identity, .. } => identity.clone(),
        }
    }

    /// The TLS settings for the next dial: the identity file is re-read first if it changed,
    /// then the identity's validity is checked (an expired certificate is reported as such
    /// rather than as whatever TLS alert the server would send).
    pub(crate) fn for_dial(&self) -> Result<AuthTls, Error> {
        match &self.kind {
            Kind::Custom { tls, identity } => {
                if let Some(identity) = identity {
                    check_before_dial(identity)?;
                }
                Ok(tls.clone())
            }
            Kind::Fixed { identity, tls } => {
                check_before_dial(identity)?;
                Ok(tls.clone())
            }
            Kind::File(file) => {
                let loaded = file.current().ok_or_else(|| {
                    Error::Setting(SettingError::config(
                        "identity",
                        "the identity lock was poisoned by a panic",
                    ))
                })?;
                check_before_dial(&loaded.identity)?;
                Ok(loaded.tls.clone())
            }
        }
    }
}

/// Re-reads the identity file if it changed since it was loaded.
fn refresh(loaded: &mut Loaded, path: &std::path::Path, route: AuthRoute, cluster: &str) {
    let now_stamp = stamp(path);
    if now_stamp.is_none() || now_stamp == loaded.stamp {
        return;
    }
    match reload(path, route, cluster) {
        Ok((identity, tls)) => {
            tracing::info!(
                path = %shown_path(path).display(),
                valid_until = %identity.summary().not_after,
                "identity file changed; using the new certificate"
            );
            *loaded = Loaded {
                stamp: now_stamp,
                identity,
                tls,
            };
        }
        Err(error) => {
            // Keep the previous identity (a renewal may be half-written); the next look (a
            // dial, a metrics scrape) tries again.
            tracing::warn!(
                path = %shown_path(path).display(),
                %error,
                "identity file changed but cannot be used; keeping the previous one"
            );
        }
    }
}

fn reload(
    path: &std::path::Path,
    route: AuthRoute,
    cluster: &str,
) -> Result<(Arc<Identity>, AuthTls), Error> {
    let identity = Identity::from_identity_file(path)?;
    if identity.cluster_name() != cluster {
        return Err(Error::Auth(AuthError::ClusterMismatch {
            identity: identity.cluster_name().to_owned(),
            server: cluster.to_owned(),
        }));
    }
    let tls = AuthTls::from_identity(&identity, route)?;
    Ok((Arc::new(identity), tls))
}

/// The identity's validity by this machine's clock, before a dial. An expired certificate is
/// refused here, with its times (a server would only send a TLS alert). A certificate that is
/// not valid *yet* by this clock is dialed anyway: Teleport signs certificates valid from a
/// minute before the server's now, so a fresh identity looks "not yet valid" on a machine whose
/// clock is behind the server's, while the server, which decides, accepts it.
fn check_before_dial(identity: &Identity) -> Result<(), Error> {
    match identity.check_validity() {
        Err(teleport_identity::IdentityError::NotYetValid { not_before, now }) => {
            tracing::warn!(
                %not_before,
                %now,
                "the identity's certificate is not valid yet by this machine's clock; dialing anyway (the server's clock decides): check this machine's clock"
            );
            Ok(())
        }
        other => other.map_err(Error::from),
    }
}
