//! The rustls crypto provider every TLS configuration of this workspace is built with.
//!
//! The choice follows rustls' own rules for a default provider, with one difference so that
//! cargo's additive features do what they say:
//!
//! 1. a provider the application installed for the whole process
//!    ([`rustls::crypto::CryptoProvider::install_default`], e.g. a FIPS build of aws-lc-rs) is
//!    used whatever the features;
//! 2. otherwise the `aws-lc-rs` feature's provider, when that feature is on (also when `ring`,
//!    the default, is on too: `features = ["aws-lc-rs"]` without `default-features = false`
//!    still means aws-lc-rs; rustls itself would refuse to pick between the two);
//! 3. otherwise the `ring` feature's provider (the default);
//! 4. with neither feature and nothing installed there is no provider: parsing an identity or
//!    building a TLS configuration fails with [`IdentityError::NoCryptoProvider`] (never a
//!    panic, unlike `rustls::ClientConfig::builder()`).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;

use crate::IdentityError;

/// Where the provider comes from; [`choose`] decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The process-wide default the application installed.
    Installed,
    /// The `aws-lc-rs` feature.
    AwsLcRs,
    /// The `ring` feature.
    Ring,
}

/// The rule of the module documentation, over plain facts.
fn choose(installed: bool, aws_lc_rs: bool, ring: bool) -> Option<Source> {
    if installed {
        Some(Source::Installed)
    } else if aws_lc_rs {
        Some(Source::AwsLcRs)
    } else if ring {
        Some(Source::Ring)
    } else {
        None
    }
}

/// The rustls crypto provider to build TLS configurations with (see the module documentation
/// for the rule): the process default if the application installed one, else the provider of
/// the `aws-lc-rs` or `ring` feature.
///
/// # Errors
/// [`IdentityError::NoCryptoProvider`] when this crate was built without the `ring` and
/// `aws-lc-rs` features and no process-wide provider is installed.
pub fn crypto_provider() -> Result<Arc<CryptoProvider>, IdentityError> {
    Chosen::now().map(|chosen| chosen.provider)
}

/// The provider chosen, and where it came from.
pub(crate) struct Chosen {
    source: Source,
    provider: Arc<CryptoProvider>,
}

impl Chosen {
    /// Applies the rule to this process and build.
    pub(crate) fn now() -> Result<Self, IdentityError> {
        let installed = CryptoProvider::get_default();
        let source = choose(
            installed.is_some(),
            cfg!(feature = "aws-lc-rs"),
            cfg!(feature = "ring"),
        )
        .ok_or(IdentityError::NoCryptoProvider)?;
        let provider = match (source, installed) {
            (Source::Installed, Some(installed)) => Arc::clone(installed),
            #[cfg(feature = "aws-lc-rs")]
            (Source::AwsLcRs, _) => Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            #[cfg(feature = "ring")]
            (Source::Ring, _) => Arc::new(rustls::crypto::ring::default_provider()),
            _ => return Err(IdentityError::NoCryptoProvider),
        };
        Ok(Self { source, provider })
    }

    /// The provider.
    pub(crate) fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }

    /// Loads `key` for signing. The features' providers borrow it (no copy of the key bytes
    /// outlives this call unzeroized); an installed provider's key loader takes ownership, as
    /// rustls' `KeyProvider` requires, so it gets a copy that it is responsible for.
    pub(crate) fn load_key(
        &self,
        key: &PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        match self.source {
            #[cfg(feature = "aws-lc-rs")]
            Source::AwsLcRs => rustls::crypto::aws_lc_rs::sign::any_supported_type(key),
            #[cfg(feature = "ring")]
            Source::Ring => rustls::crypto::ring::sign::any_supported_type(key),
            _ => self.provider.key_provider.load_private_key(key.clone_key()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_provider_wins_over_every_feature() {
        for aws in [false, true] {
            for ring in [false, true] {
                assert_eq!(choose(true, aws, ring), Some(Source::Installed));
            }
        }
    }

    #[test]
    fn aws_lc_rs_wins_over_ring_when_both_features_are_on() {
        assert_eq!(choose(false, true, true), Some(Source::AwsLcRs));
        assert_eq!(choose(false, true, false), Some(Source::AwsLcRs));
    }

    #[test]
    fn ring_alone_is_ring() {
        assert_eq!(choose(false, false, true), Some(Source::Ring));
    }

    #[test]
    fn neither_feature_nor_an_installed_provider_is_none() {
        assert_eq!(choose(false, false, false), None);
    }

    /// Unit tests never install a process default, so this is the feature's provider (told
    /// apart by the key exchange groups: aws-lc-rs offers post-quantum X25519MLKEM768, ring not).
    #[test]
    fn the_built_provider_is_the_features_one() {
        let provider = crypto_provider();
        #[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
        {
            let groups =
                |p: &CryptoProvider| p.kx_groups.iter().map(|g| g.name()).collect::<Vec<_>>();
            #[cfg(feature = "aws-lc-rs")]
            let expected = rustls::crypto::aws_lc_rs::default_provider();
            #[cfg(not(feature = "aws-lc-rs"))]
            let expected = rustls::crypto::ring::default_provider();
            assert_eq!(groups(&provider.unwrap()), groups(&expected));
        }
        #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
        assert!(matches!(provider, Err(IdentityError::NoCryptoProvider)));
    }
}
