//! The one address type of a dial: the user's address setting (`teleport.example.com:443`)
//! parsed into host and port ([`HostPort`]), and how it reaches the Auth Service ([`Route`]).

use std::fmt;

use crate::error::{Error, SettingError};

/// Default port of a Teleport proxy's HTTPS/TLS-routing listener.
pub const DEFAULT_PROXY_PORT: u16 = 443;
/// Default port of a Teleport Auth Service.
pub const DEFAULT_AUTH_PORT: u16 = 3025;

/// A host name (or IP address) and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    host: String,
    port: u16,
}

/// Longest refused address an error repeats; anything longer is not an address.
const MAX_SHOWN: usize = 255;

/// How a refused address appears in its error: as given, unless it may carry a secret. User
/// information (`user:password@host`) is hidden, and text that cannot be an address at all (over
/// 255 bytes, or [looking like a secret](teleport_identity::secret_text::looks_like_secret): an
/// identity file, a PEM line or key material pasted into the address setting) is replaced by its
/// length.
fn shown(input: &str) -> String {
    let trimmed = input.trim();
    if trimmed.len() > MAX_SHOWN || teleport_identity::secret_text::looks_like_secret(trimmed) {
        format!("<{} bytes, not shown>", input.len())
    } else if let Some((_, host)) = trimmed.rsplit_once('@') {
        format!("<user information hidden>@{host}")
    } else {
        input.to_owned()
    }
}

impl HostPort {
    /// Parses `host:port`, `host` (then `default_port`), `[v6]:port`, with an optional `https://`
    /// prefix and trailing `/`, the forms users copy from `tsh status` or a browser.
    ///
    /// # Errors
    ///
    /// [`SettingError::InvalidAddress`] naming what is wrong: empty, an `http://` scheme (Teleport's proxy
    /// only speaks TLS), a path, a bad port, an unclosed IPv6 bracket.
    pub fn parse(input: &str, default_port: u16) -> Result<Self, Error> {
        let invalid = |reason: &'static str| {
            Error::Setting(SettingError::InvalidAddress {
                input: shown(input),
                reason,
            })
        };
        let mut rest = input.trim();
        if let Some(scheme_end) = rest.find("://") {
            let scheme = &rest[..scheme_end];
            if scheme.eq_ignore_ascii_case("https") {
                rest = &rest[scheme_end + 3..];
            } else {
                return Err(invalid(
                    "only `https://` may prefix the address; Teleport's proxy speaks TLS",
                ));
            }
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(invalid("the address is empty"));
        }
        if rest.contains('/') {
            return Err(invalid(
                "the address must be host:port, without a path (e.g. teleport.example.com:443)",
            ));
        }
        if rest.contains('@') {
            return Err(invalid("the address must not contain user information"));
        }
        let (host, port) = if let Some(after_bracket) = rest.strip_prefix('[') {
            let close = after_bracket
                .find(']')
                .ok_or_else(|| invalid("an IPv6 address is missing its closing `]`"))?;
            let host = &after_bracket[..close];
            let tail = &after_bracket[close + 1..];
            let port = match tail.strip_prefix(':') {
                Some(port) => Some(port),
                None if tail.is_empty() => None,
                None => return Err(invalid("unexpected text after the IPv6 address")),
            };
            (host, port)
        } else {
            match rest.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => {
                    return Err(invalid(
                        "an IPv6 address must be written in brackets, e.g. [::1]:443",
                    ));
                }
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("the host is empty"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("the host contains whitespace"));
        }
        let port = match port {
            None => default_port,
            Some(text) => match text.parse::<u16>() {
                Ok(0) | Err(_) => return Err(invalid("the port must be a number from 1 to 65535")),
                Ok(port) => port,
            },
        };
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Builds a `HostPort` from parts (the host is not validated).
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }

    /// The host name or IP address, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How the Auth Service is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Through a proxy's TLS routing port (the common case, `:443`).
    Proxy(HostPort),
    /// Straight to an Auth Service (`auth.example.com:3025`).
    Direct(HostPort),
}

impl Route {
    /// The address dialed.
    pub(crate) fn addr(&self) -> &HostPort {
        match self {
            Route::Proxy(addr) | Route::Direct(addr) => addr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> (String, u16) {
        let hp = HostPort::parse(input, DEFAULT_PROXY_PORT).unwrap();
        (hp.host().to_owned(), hp.port())
    }

    /// The reason and the echoed input of a refused address.
    fn refused(input: &str) -> (&'static str, String) {
        match HostPort::parse(input, DEFAULT_PROXY_PORT) {
            Err(Error::Setting(SettingError::InvalidAddress {
                reason,
                input: echoed,
            })) => (reason, echoed),
            other => panic!("expected InvalidAddress for {input:?}, got {other:?}"),
        }
    }

    /// The reason a refused address gives; the error repeats the input as it was given.
    fn reason(input: &str) -> &'static str {
        let (reason, echoed) = refused(input);
        assert_eq!(echoed, input);
        reason
    }

    #[test]
    fn accepts_the_forms_users_paste() {
        assert_eq!(
            ok("teleport.example.com:443"),
            ("teleport.example.com".into(), 443)
        );
        assert_eq!(
            ok("teleport.example.com"),
            ("teleport.example.com".into(), 443)
        );
        assert_eq!(
            ok("https://teleport.example.com"),
            ("teleport.example.com".into(), 443)
        );
        assert_eq!(
            ok("HTTPS://Tele.Example.com:3080/"),
            ("tele.example.com".into(), 3080)
        );
        assert_eq!(
            ok("  teleport.example.com:8443 \n"),
            ("teleport.example.com".into(), 8443)
        );
        assert_eq!(ok("127.0.0.1:3025"), ("127.0.0.1".into(), 3025));
        assert_eq!(ok("[::1]:3080"), ("::1".into(), 3080));
        assert_eq!(ok("[::1]"), ("::1".into(), 443));
    }

    #[test]
    fn default_port_depends_on_the_target() {
        let hp = HostPort::parse("auth.internal", DEFAULT_AUTH_PORT).unwrap();
        assert_eq!(hp.port(), 3025);
    }

    #[test]
    fn refuses_bad_addresses_with_a_reason() {
        assert!(reason("").contains("empty"));
        assert!(reason("https://").contains("empty"));
        assert!(reason("http://teleport.example.com").contains("https://"));
        assert!(reason("teleport.example.com:443/web").contains("path"));
        assert!(reason("teleport.example.com:0").contains("1 to 65535"));
        assert!(reason("teleport.example.com:99999").contains("1 to 65535"));
        assert!(reason("teleport.example.com:https").contains("1 to 65535"));
        assert!(reason("::1:443").contains("brackets"));
        assert!(reason("[::1:443").contains("closing"));
        assert!(reason(":443").contains("host is empty"));
        assert!(reason("tele port:443").contains("whitespace"));
    }

    #[test]
    fn refused_addresses_that_may_hold_a_secret_are_not_repeated() {
        let (reason, echoed) = refused("audit:hunter2@teleport.example.com:443");
        assert!(reason.contains("user information"));
        assert_eq!(echoed, "<user information hidden>@teleport.example.com:443");

        // The identity secret given where the address belongs (the two settings swapped).
        let identity = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAsecretsecret\n-----END RSA PRIVATE KEY-----\n";
        let (_, echoed) = refused(identity);
        assert_eq!(echoed, format!("<{} bytes, not shown>", identity.len()));
        let error = HostPort::parse(identity, DEFAULT_PROXY_PORT).unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
        assert!(!format!("{error:?}").contains("secret"), "{error:?}");

        // One line of a PEM block (no line break): key material.
        let line = "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK";
        assert_eq!(refused(line).1, "<64 bytes, not shown>");

        let long = "a".repeat(300);
        assert_eq!(refused(&format!("{long}/x")).1, "<302 bytes, not shown>");
    }

    #[test]
    fn display_round_trips() {
        for input in ["teleport.example.com:443", "[::1]:3080", "10.0.0.1:3025"] {
            let hp = HostPort::parse(input, 1).unwrap();
            assert_eq!(hp.to_string(), input);
            assert_eq!(HostPort::parse(&hp.to_string(), 1).unwrap(), hp);
        }
    }
}
