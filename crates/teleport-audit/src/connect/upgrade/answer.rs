//! The proxy's answer to the upgrade request: what the connection became. Teleport 15 and later
//! switch to WebSocket (sub-protocol `alpn-ping`, accept key checked); 13 and 14 to a legacy
//! type, `alpn-ping` (the stream framed as `pingconn`) or `alpn` (the raw stream).

use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::{LEGACY_ALPN, UPGRADE_PROTOCOL, WEBSOCKET};

/// What the proxy switched the connection to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Switched {
    /// WebSocket with sub-protocol `alpn-ping` (Teleport 15 and later).
    WebSocket,
    /// The legacy `alpn-ping`: the raw stream framed as Teleport's `pingconn` (13 and 14).
    AlpnPing,
    /// The legacy `alpn`: the raw stream.
    Alpn,
}

/// Decides from the proxy's answer what the connection became, as Teleport's client does: a
/// `101` whose `Upgrade` is `websocket` is a WebSocket (its accept key and sub-protocol
/// checked); any other `101` is the legacy type the proxy names (`alpn-ping` or `alpn`), or
/// the one asked for if it names none. `Err` carries the status (if any) and the reason.
pub(crate) fn switched_to(
    status: u16,
    headers: &[(&str, &[u8])],
    websocket_key: &str,
) -> Result<Switched, (Option<u16>, String)> {
    if status != 101 {
        let reason = if status == 404 {
            "the proxy has no /webapi/connectionupgrade for the offered types websocket and \
             alpn-ping (Teleport older than 13?)"
                .to_owned()
        } else {
            format!("the proxy answered HTTP {status} instead of switching protocols")
        };
        return Err((Some(status), reason));
    }
    let values = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    };
    let upgrade = values("upgrade");
    if upgrade.iter().any(|t| t == WEBSOCKET) {
        let accept = values("sec-websocket-accept");
        let expected = derive_accept_key(websocket_key.as_bytes()).to_ascii_lowercase();
        if accept.first() != Some(&expected) {
            return Err((
                Some(status),
                "the proxy's WebSocket accept key does not match the request".to_owned(),
            ));
        }
        let protocol = values("sec-websocket-protocol");
        if protocol.first().map(String::as_str) != Some(UPGRADE_PROTOCOL) {
            return Err((
                Some(status),
                format!(
                    "the proxy switched to WebSocket sub-protocol {:?}, not {UPGRADE_PROTOCOL:?}",
                    protocol.first()
                ),
            ));
        }
        return Ok(Switched::WebSocket);
    }
    let named: Vec<String> = upgrade
        .into_iter()
        .chain(values("x-teleport-upgrade"))
        .collect();
    match named.first().map(String::as_str) {
        // Teleport's client takes any non-WebSocket 101 as the type it asked for.
        None | Some(UPGRADE_PROTOCOL) => Ok(Switched::AlpnPing),
        Some(LEGACY_ALPN) => Ok(Switched::Alpn),
        Some(other) => Err((
            Some(status),
            format!("the proxy switched to the unknown upgrade type {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    /// RFC 6455's example: the accept key of `KEY`.
    const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[test]
    fn the_answer_decides_the_tunnel() {
        let ws = |protocol: &'static [u8], accept: &'static [u8]| {
            vec![
                ("Upgrade", &b"websocket"[..]),
                ("Connection", b"Upgrade"),
                ("Sec-WebSocket-Accept", accept),
                ("Sec-WebSocket-Protocol", protocol),
            ]
        };
        // Teleport 15 and later: WebSocket.
        assert_eq!(
            switched_to(101, &ws(b"alpn-ping", ACCEPT), KEY),
            Ok(Switched::WebSocket)
        );
        // Teleport 13 and 14 (lib/web/conn_upgrade.go writeUpgradeResponse).
        let legacy = |kind: &'static [u8]| {
            vec![
                ("Upgrade", kind),
                ("X-Teleport-Upgrade", kind),
                ("Connection", &b"Upgrade"[..]),
            ]
        };
        assert_eq!(
            switched_to(101, &legacy(b"alpn-ping"), KEY),
            Ok(Switched::AlpnPing)
        );
        assert_eq!(switched_to(101, &legacy(b"alpn"), KEY), Ok(Switched::Alpn));
        // Header names and values in any case; a load balancer that dropped Upgrade leaves
        // X-Teleport-Upgrade; nothing named: the type asked for.
        assert_eq!(
            switched_to(101, &[("x-teleport-upgrade", &b"ALPN"[..])], KEY),
            Ok(Switched::Alpn)
        );
        assert_eq!(switched_to(101, &[], KEY), Ok(Switched::AlpnPing));
        // Refusals.
        let (status, reason) = switched_to(101, &legacy(b"h2c"), KEY).unwrap_err();
        assert_eq!(status, Some(101));
        assert!(reason.contains("\"h2c\""), "{reason}");
        let (status, reason) = switched_to(404, &[], KEY).unwrap_err();
        assert_eq!(status, Some(404));
        assert!(reason.contains("/webapi/connectionupgrade"), "{reason}");
        let (status, reason) = switched_to(502, &[], KEY).unwrap_err();
        assert_eq!(status, Some(502));
        assert!(reason.contains("HTTP 502"), "{reason}");
        let (_, reason) = switched_to(101, &ws(b"alpn-ping", b"wrong"), KEY).unwrap_err();
        assert!(reason.contains("accept key"), "{reason}");
        let (_, reason) = switched_to(101, &ws(b"alpn", ACCEPT), KEY).unwrap_err();
        assert!(reason.contains("sub-protocol"), "{reason}");
    }
}
