//! The upgrade check: does this proxy need the connection upgrade?
//!
//! As Teleport's client decides (`api/client/alpn_conn_upgrade.go`, `IsALPNConnUpgradeRequired`):
//! `TELEPORT_TLS_ROUTING_CONN_UPGRADE` if set (`true`, `false`, or `addr=bool` items separated
//! by `,` or `;`), else a test dial: TLS to the proxy offering only `teleport-reversetunnel`; if
//! the server negotiates no protocol (or refuses with `no_application_protocol`), something in
//! front of the proxy terminates TLS and the upgrade is needed. Unlike Teleport's client, the
//! test dial then closes with `close_notify` and waits for the proxy's end, so that the proxy's
//! SSH server does not log a failed handshake for it ([`close_test_dial`]).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::super::address::HostPort;
use super::super::proxy_tls::{ProxyTls, server_name};
use crate::error::{ConnectError, Error};

/// The ALPN value Teleport's client offers in its test dial.
const TEST_ALPN: &[u8] = b"teleport-reversetunnel";

/// `TELEPORT_TLS_ROUTING_CONN_UPGRADE`, read as Teleport reads it, for `addr` ("host:port" as
/// configured). `None` when unset or empty.
pub(crate) fn required_by_env(addr: &str) -> Option<bool> {
    let value = std::env::var("TELEPORT_TLS_ROUTING_CONN_UPGRADE").ok()?;
    required_by_env_value(addr, &value)
}

fn required_by_env_value(addr: &str, value: &str) -> Option<bool> {
    if value.trim().is_empty() {
        return None;
    }
    let mut for_all = false;
    for token in value
        .split([',', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        match token.split_once('=') {
            Some((target, flag)) => {
                if target == addr {
                    return Some(parse_bool(flag).unwrap_or(false));
                }
            }
            None => {
                if let Some(flag) = parse_bool(token) {
                    for_all = flag;
                }
            }
        }
    }
    Some(for_all)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "y" | "on" => Some(true),
        "0" | "f" | "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// How long the test dial waits for the proxy to close its side.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Ends the test dial's connection the way the proxy's reverse tunnel server takes without
/// complaint. A proxy that negotiated `teleport-reversetunnel` hands the connection to its SSH
/// server, which writes its version line and reads the client's; dropping the connection
/// makes that write fail (`broken pipe`, or a reset) and Teleport logs `Error occurred in
/// handshake for new SSH conn` for every test dial. So: send TLS `close_notify` (the server's read
/// then ends cleanly with EOF, which it ignores, as it does for load balancer health checks),
/// and read until the server closes, so that nothing it writes meanwhile meets a closed
/// socket. Best effort, bounded by `wait`.
async fn close_test_dial<S>(mut stream: S, wait: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let polite = async {
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        // The server's version line, then its end (a well-behaved server sends little).
        let mut read = 0usize;
        loop {
            let n = stream.read(&mut sink).await?;
            if n == 0 || read > 64 * 1024 {
                return Ok::<_, std::io::Error>(());
            }
            read += n;
        }
    };
    match tokio::time::timeout(wait, polite).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::debug!(%error, "closing the upgrade check's test dial"),
        Err(_) => tracing::debug!("the proxy kept the upgrade check's test dial open"),
    }
}

/// The test dial: does ALPN reach the proxy? `true` if not (the upgrade is needed). `io` is a
/// fresh connection to the proxy.
///
/// # Errors
///
/// [`ConnectError::Timeout`] when the proxy does not finish the TLS handshake in time.
pub(crate) async fn required<IO>(
    io: IO,
    proxy: &HostPort,
    tls: &ProxyTls,
    timeout: Duration,
) -> Result<bool, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(name) = server_name(proxy) else {
        return Ok(false);
    };
    let handshake = tls.connector(TEST_ALPN).connect(name, io);
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(stream)) => {
            let negotiated = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            tracing::debug!(
                proxy = %proxy,
                negotiated = ?negotiated.as_deref().map(String::from_utf8_lossy),
                "ALPN connection upgrade check"
            );
            close_test_dial(stream, timeout.min(CLOSE_WAIT)).await;
            Ok(negotiated.is_none())
        }
        Ok(Err(error)) => {
            let tls_error = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            let required = matches!(
                tls_error,
                Some(rustls::Error::AlertReceived(
                    rustls::AlertDescription::NoApplicationProtocol
                )) | Some(rustls::Error::PeerMisbehaved(
                    rustls::PeerMisbehaved::SelectedUnofferedApplicationProtocol
                ))
            );
            tracing::debug!(proxy = %proxy, %error, required, "ALPN connection upgrade check failed");
            Ok(required)
        }
        // A proxy that does not answer a TLS handshake in time will not answer the real dial
        // either: report it now rather than spend a second timeout on that dial.
        Err(_) => Err(Error::Connect(ConnectError::Timeout {
            addr: proxy.to_string(),
            step: "TLS handshake with the proxy at",
            after: timeout,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_override_is_read_like_teleport() {
        let addr = "teleport.example.com:443";
        assert_eq!(required_by_env_value(addr, ""), None);
        assert_eq!(required_by_env_value(addr, "true"), Some(true));
        assert_eq!(required_by_env_value(addr, "0"), Some(false));
        assert_eq!(required_by_env_value(addr, "yes"), Some(true));
        assert_eq!(
            required_by_env_value(addr, "other.example.com:443=yes"),
            Some(false)
        );
        assert_eq!(
            required_by_env_value(addr, "0,teleport.example.com:443=1"),
            Some(true)
        );
        assert_eq!(
            required_by_env_value(addr, "1;teleport.example.com:443=off"),
            Some(false)
        );
        assert_eq!(required_by_env_value(addr, "garbage"), Some(false));
    }
}
