//! Which HTTP proxy carries a dial, if any: the [`HttpProxy`] setting, `HTTPS_PROXY` /
//! `NO_PROXY` read with Go's rules, and the proxy's URL ([`ProxyUrl`]). The tunnel itself is
//! [`super::http_connect`].
//!
//! hyper-util's `Matcher` reads the same variables with curl's rules, which differ from Go's
//! (what `tsh` and Teleport's event handler follow) where our tests pin them: loopback and
//! `localhost` are proxied, `.example.com` also matches `example.com`, `*.example.com` and
//! entries with a port match nothing, `ALL_PROXY` is read, and a proxy URL it cannot use is
//! silently ignored (a direct dial) instead of refused with a clear error. So the rules stay here.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use http::HeaderValue;

use super::address::HostPort;
use crate::error::{Error, SettingError};

/// Which HTTP proxy, if any, carries the connection to the Teleport proxy. Its `Debug` output
/// hides credentials in a URL.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpProxy {
    /// Read `HTTPS_PROXY` / `https_proxy` and `NO_PROXY` / `no_proxy` at each dial, with Go's
    /// rules (the same as `tsh` and the official event handler): loopback and `localhost` are
    /// never proxied, `NO_PROXY` entries match a domain and its subdomains, an IP, a CIDR range,
    /// optionally with a port, and `*` disables the proxy.
    #[default]
    FromEnv,
    /// Never use an HTTP proxy.
    Disabled,
    /// Always tunnel through this proxy (`http://[user:password@]host:port`), whatever the
    /// environment says.
    Url(String),
}

impl fmt::Debug for HttpProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpProxy::FromEnv => f.write_str("FromEnv"),
            HttpProxy::Disabled => f.write_str("Disabled"),
            HttpProxy::Url(url) => {
                // `scheme://user:password@host` -> `scheme://<credentials>@host`.
                let shown = match url.rsplit_once('@') {
                    Some((before, host)) => {
                        let scheme = before.split_once("://").map_or("", |(s, _)| s);
                        if scheme.is_empty() {
                            format!("<credentials>@{host}")
                        } else {
                            format!("{scheme}://<credentials>@{host}")
                        }
                    }
                    None => url.clone(),
                };
                f.debug_tuple("Url").field(&shown).finish()
            }
        }
    }
}

/// A parsed `http://` proxy URL. Credentials are kept out of `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProxyUrl {
    addr: HostPort,
    /// `user:password`, percent-decoded, for `Proxy-Authorization: Basic`.
    credentials: Option<String>,
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyUrl")
            .field("addr", &self.addr)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.addr)
    }
}

impl ProxyUrl {
    /// Parses `[http://][user[:password]@]host[:port][/]`. Go assumes `http://` when the scheme
    /// is missing; so do we. Other schemes are refused with a clear error.
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::Setting(SettingError::config("http_proxy", reason));
        let trimmed = input.trim();
        let rest = match trimmed.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(invalid(format!(
                    "proxy scheme {scheme:?} is not supported; use an http:// proxy"
                )));
            }
            None => trimmed,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (credentials, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(percent_decode(userinfo)), hostport),
            None => (None, rest),
        };
        // Do not echo the input: it may carry a password.
        let addr = HostPort::parse(hostport, 80)
            .map_err(|_| invalid("the proxy address is not host:port".to_owned()))?;
        Ok(Self { addr, credentials })
    }

    pub(crate) fn addr(&self) -> &HostPort {
        &self.addr
    }

    /// `Proxy-Authorization: Basic ...` for the URL's credentials, if it has any (marked
    /// sensitive: hyper and `http` keep it out of their `Debug` output).
    pub(crate) fn basic_auth(&self) -> Option<HeaderValue> {
        let credentials = self.credentials.as_ref()?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut value = HeaderValue::try_from(format!("Basic {encoded}")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl HttpProxy {
    /// The proxy to use for `target`, if any.
    pub(crate) fn for_target(&self, target: &HostPort) -> Result<Option<ProxyUrl>, Error> {
        match self {
            HttpProxy::Disabled => Ok(None),
            HttpProxy::Url(url) => ProxyUrl::parse(url).map(Some),
            HttpProxy::FromEnv => {
                let proxy = env_var("HTTPS_PROXY", "https_proxy");
                let no_proxy = env_var("NO_PROXY", "no_proxy").unwrap_or_default();
                match proxy {
                    Some(proxy) if !proxy.trim().is_empty() && use_proxy(target, &no_proxy) => {
                        ProxyUrl::parse(&proxy).map(Some)
                    }
                    _ => Ok(None),
                }
            }
        }
    }
}

fn env_var(upper: &str, lower: &str) -> Option<String> {
    std::env::var(upper)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var(lower).ok())
}

/// Go's `httpproxy` rules: whether `target` should go through the proxy given `NO_PROXY`.
pub(crate) fn use_proxy(target: &HostPort, no_proxy: &str) -> bool {
    let host = target.host().trim_end_matches('.').to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return false;
    }
    for entry in no_proxy.split(',') {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            continue;
        }
        if entry == "*" {
            return false;
        }
        if let Some((net, bits)) = entry.split_once('/') {
            if let (Some(ip), Ok(net), Ok(bits)) = (ip, net.parse::<IpAddr>(), bits.parse::<u8>())
                && in_cidr(ip, net, bits)
            {
                return false;
            }
            continue;
        }
        // An entry may carry a port; it then matches only that port.
        let (entry_host, entry_port) = split_entry_port(&entry);
        if entry_port.is_some_and(|port| port != target.port()) {
            continue;
        }
        if let Ok(entry_ip) = entry_host.parse::<IpAddr>() {
            if ip == Some(entry_ip) {
                return false;
            }
            continue;
        }
        let entry_host = entry_host.strip_prefix('*').unwrap_or(entry_host);
        let matched = match entry_host.strip_prefix('.') {
            // ".example.com": subdomains only.
            Some(_) => host.ends_with(entry_host),
            // "example.com": the domain itself and its subdomains.
            None => host == entry_host || host.ends_with(&format!(".{entry_host}")),
        };
        if matched {
            return false;
        }
    }
    true
}

fn split_entry_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(inner) = entry.strip_prefix('[')
        && let Some((ip, rest)) = inner.split_once(']')
    {
        return (ip, rest.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16) -> HostPort {
        HostPort::new(host, port)
    }

    #[test]
    fn no_proxy_rules_match_go() {
        let t = target("teleport.example.com", 443);
        assert!(use_proxy(&t, ""));
        assert!(!use_proxy(&t, "*"));
        assert!(!use_proxy(&t, "example.com"));
        assert!(!use_proxy(&t, " other.org , example.com "));
        assert!(!use_proxy(&t, ".example.com"));
        assert!(!use_proxy(&t, "*.example.com"));
        assert!(!use_proxy(&t, "teleport.example.com:443"));
        assert!(use_proxy(&t, "teleport.example.com:3080"));
        assert!(use_proxy(&t, "ample.com"));
        // ".example.com" matches subdomains only, "example.com" the domain too.
        let apex = target("example.com", 443);
        assert!(use_proxy(&apex, ".example.com"));
        assert!(!use_proxy(&apex, "example.com"));
        // Loopback is never proxied.
        assert!(!use_proxy(&target("localhost", 443), ""));
        assert!(!use_proxy(&target("127.0.0.1", 443), ""));
        assert!(!use_proxy(&target("::1", 443), ""));
        // IPs and CIDRs.
        let ip = target("10.1.2.3", 443);
        assert!(!use_proxy(&ip, "10.1.2.3"));
        assert!(!use_proxy(&ip, "10.0.0.0/8"));
        assert!(use_proxy(&ip, "10.2.0.0/16"));
        assert!(!use_proxy(&target("fd00::5", 443), "fd00::/8"));
        assert!(!use_proxy(&target("fd00::5", 443), "[fd00::5]:443"));
    }

    #[test]
    fn proxy_url_parsing_keeps_credentials_out_of_display() {
        let proxy = ProxyUrl::parse("http://alice:s%40cret@proxy.corp:3128/").unwrap();
        assert_eq!(proxy.addr(), &HostPort::new("proxy.corp", 3128));
        assert_eq!(proxy.credentials.as_deref(), Some("alice:s@cret"));
        assert_eq!(proxy.to_string(), "http://proxy.corp:3128");
        let debug = format!("{proxy:?}");
        assert!(!debug.contains("cret"), "{debug}");
        assert!(debug.contains("<redacted>"));
        let header = proxy.basic_auth().unwrap();
        assert!(header.is_sensitive());
        assert_eq!(format!("{header:?}"), "Sensitive");

        let bare = ProxyUrl::parse("proxy.corp").unwrap();
        assert_eq!(bare.addr().port(), 80);
        assert!(bare.credentials.is_none());
    }

    #[test]
    fn the_setting_s_debug_hides_credentials() {
        let setting = HttpProxy::Url("http://alice:hunter2@proxy.corp:3128".into());
        assert_eq!(
            format!("{setting:?}"),
            r#"Url("http://<credentials>@proxy.corp:3128")"#
        );
        let plain = HttpProxy::Url("http://proxy.corp:3128".into());
        assert_eq!(format!("{plain:?}"), r#"Url("http://proxy.corp:3128")"#);
        assert_eq!(format!("{:?}", HttpProxy::FromEnv), "FromEnv");
    }

    #[test]
    fn unsupported_proxy_schemes_are_refused_without_echoing_secrets() {
        let error = ProxyUrl::parse("socks5://bob:hunter2@proxy:1080").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("socks5"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let error = ProxyUrl::parse("http://bob:hunter2@").unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }
}
