//! HTTP proxies: `HTTPS_PROXY` / `NO_PROXY` as Go reads them, and the `CONNECT` tunnel.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::address::HostPort;
use crate::Error;

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
        let invalid = |reason: String| Error::Config {
            field: "http_proxy",
            reason,
        };
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

/// Asks `proxy` (already connected as `stream`) to open a tunnel to `target`.
pub(crate) async fn connect_tunnel(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    target: &HostPort,
    timeout: Duration,
) -> Result<(), Error> {
    let failed = |status: Option<u16>, reason: String| Error::HttpProxy {
        proxy: proxy.to_string(),
        target: target.to_string(),
        status,
        reason,
    };
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(credentials) = &proxy.credentials {
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        request.push_str(&format!("Proxy-Authorization: Basic {encoded}\r\n"));
    }
    request.push_str("\r\n");

    let exchange = async {
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| failed(None, format!("could not send CONNECT: {e}")))?;
        // Read the answer's head byte by byte: the tunnel's first bytes (the TLS handshake) must
        // stay in the socket for the TLS layer. The head is small and read once per dial.
        let mut head = Vec::with_capacity(256);
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= 16 * 1024 {
                return Err(failed(
                    None,
                    "the answer's header is over 16 KiB".to_owned(),
                ));
            }
            let n = stream
                .read(&mut byte)
                .await
                .map_err(|e| failed(None, format!("could not read the answer: {e}")))?;
            if n == 0 {
                return Err(failed(
                    None,
                    "it closed the connection without answering".to_owned(),
                ));
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        let status_line = head.lines().next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let status = parts.next().and_then(|code| code.parse::<u16>().ok());
        match status {
            Some(200..=299) if version.starts_with("HTTP/1.") => Ok(()),
            Some(status) => Err(failed(
                Some(status),
                format!("it answered {:?}", status_line.trim()),
            )),
            None => Err(failed(
                None,
                format!(
                    "it answered with something other than HTTP: {:?}",
                    truncate(status_line)
                ),
            )),
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(Error::ConnectTimeout {
                addr: proxy.to_string(),
                step: "waiting for the HTTP proxy's CONNECT answer from",
                after: timeout,
            })
        })
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
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

    async fn fake_proxy(answer: &'static str) -> (HostPort, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = HostPort::new("127.0.0.1", listener.local_addr().unwrap().port());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        (addr, task)
    }

    #[tokio::test]
    async fn connect_sends_credentials_and_accepts_200() {
        let (addr, task) = fake_proxy("HTTP/1.1 200 Connection established\r\n\r\n").await;
        let proxy = ProxyUrl::parse(&format!("http://alice:pw@{addr}")).unwrap();
        let mut stream = TcpStream::connect((addr.host(), addr.port()))
            .await
            .unwrap();
        let target = target("teleport.example.com", 443);
        connect_tunnel(&mut stream, &proxy, &target, Duration::from_secs(5))
            .await
            .unwrap();
        let request = task.await.unwrap();
        assert!(request.starts_with("CONNECT teleport.example.com:443 HTTP/1.1\r\n"));
        assert!(request.contains("Host: teleport.example.com:443\r\n"));
        // base64("alice:pw")
        assert!(request.contains("Proxy-Authorization: Basic YWxpY2U6cHc=\r\n"));
    }

    #[tokio::test]
    async fn connect_refusal_carries_the_status() {
        let (addr, _task) = fake_proxy("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        let proxy = ProxyUrl::parse(&format!("http://{addr}")).unwrap();
        let mut stream = TcpStream::connect((addr.host(), addr.port()))
            .await
            .unwrap();
        let error = connect_tunnel(
            &mut stream,
            &proxy,
            &target("teleport.example.com", 443),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                error,
                Error::HttpProxy {
                    status: Some(407),
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(!error.is_retryable());
    }
}
